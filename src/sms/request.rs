//! The API path: preview, send (quoting the preview's token), approve, status.
//!
//! Input: the requests of `POST /api/schools/{id}/emergency-sms/preview`,
//! `POST /api/schools/{id}/emergency-sms`, `POST …/emergency-sms/{message}/approve`.
//! Output: a [`Preview`] (recipient counts by group, unreachable, segments, exact
//! cost, token), a [`Sent`] (message id and status), or an [`SmsError`].
//! Every authorization decision, granted or refused, is written to the audit log —
//! granted ones in the same transaction as the change they allow.
//! Rules: only the school's principal or its owner (see [`super::authz`]); the
//! send must quote an unexpired, unused preview of the same user, school and text,
//! and the recipients and cost must still be what the preview showed; at most
//! `max_messages_per_hour` per school; over the daily cost cap, or to more than
//! `approval_over_recipients` numbers, the message waits for a second authorised
//! person's approval before anything is sent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::authz::{self, Route};
use super::message::{self, NewMessage, Status};
use super::recipients::{self, GroupCount};
use super::{cost, segments, SmsContext, SmsError};
use crate::access::Actor;
use crate::audit::{self, Entry, Verdict};
use crate::render::sami::{self, Resolution};

/// The body of a preview. Who asks is the caller's: the dashboard session, or the
/// API client's acting user (`http::auth::ApiActor`) — never a body field.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub text: String,
    /// Why an emergency SMS (logged in the audit log).
    pub reason: String,
    /// A principal's message: sent on the school owner's instruction.
    #[serde(default)]
    pub on_owner_instruction: bool,
    /// The Sámi text, for a school with a Sámi setting (`[letters]`); without it
    /// the fixed standard phrase is sent after the Norwegian (see
    /// `render::sami`). Ignored for a school without a Sámi setting.
    #[serde(default)]
    pub sami_text: Option<String>,
}

/// The body of a send. The person who sends is proven by the caller: the
/// dashboard session, or a person assertion (`crate::assertion`) over the API.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub preview_token: Uuid,
}

/// The body of an approval; the approver is proven as for a send.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Who made a preview and through what, so that only the same caller can send it:
/// a preview made through an API client is sent through the same client (by any
/// person the client proves); one made in the dashboard, by the same person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Dashboard,
    Client(Uuid),
}

impl Channel {
    fn client_id(self) -> Option<Uuid> {
        match self {
            Channel::Dashboard => None,
            Channel::Client(id) => Some(id),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Groups {
    pub pupils: GroupCount,
    pub guardians: GroupCount,
    pub staff: GroupCount,
}

/// Why a message with no reachable recipient is not sent (a message to nobody
/// would end «completed» and tell the principal nothing).
pub const NO_RECIPIENTS: &str = "Ingen elever, foresatte eller ansatte ved skolen har mobilnummer i \
     elevregisteret, så meldingen ville ikke nådd noen. Oppdater kontaktinformasjonen og forhåndsvis på nytt";

/// The Sámi part of an emergency SMS, as the preview and the live count show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SamiPart {
    /// `se`, `smj` or `sma`.
    pub language: &'static str,
    /// «nordsamisk».
    pub language_nb: &'static str,
    /// `event` (written by the sender), `fixed` (the standard phrase) or `missing`
    /// (no text and no phrase: the SMS goes out in Norwegian only).
    pub source: &'static str,
    /// The fixed phrase when there is one (shown beside the Sámi field).
    pub fixed_phrase: Option<String>,
}

/// The whole SMS of `school` as it will be sent (the Norwegian, then the Sámi
/// where the school has a Sámi setting) and what the Sámi part is.
pub async fn whole_text(
    ctx: &SmsContext,
    school_id: &str,
    text: &str,
    sami_given: Option<&str>,
) -> Result<(String, Option<SamiPart>), sqlx::Error> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT municipality_number, name FROM roster_schools WHERE school_id = $1 AND NOT deleted",
    )
    .bind(school_id)
    .fetch_optional(&ctx.pool)
    .await?;
    let (muni, name) = row.unwrap_or_default();
    let name = name.unwrap_or_default();
    let muni = muni.unwrap_or_default();
    let resolution = ctx.sami.for_sms(&muni, school_id, &name, sami_given);
    Ok((
        sami::sms_text(text, &resolution),
        sami_part(ctx, &muni, school_id, &name, &resolution),
    ))
}

/// What [`SamiPart`] says about `resolution`.
pub fn sami_part(
    ctx: &SmsContext,
    municipality: &str,
    school_id: &str,
    school_name: &str,
    resolution: &Resolution,
) -> Option<SamiPart> {
    let (language, source) = match resolution {
        Resolution::NotRequired => return None,
        Resolution::Missing(l) => (*l, "missing"),
        Resolution::Text(t) => (
            t.language,
            match t.source {
                sami::Source::Event => "event",
                sami::Source::Fixed => "fixed",
            },
        ),
    };
    let fixed_phrase = ctx
        .sami
        .for_sms(municipality, school_id, school_name, None)
        .text()
        .filter(|t| t.source == sami::Source::Fixed)
        .map(|t| t.body.join("\n"));
    Some(SamiPart {
        language: language.code(),
        language_nb: sami::name_nb(language),
        source,
        fixed_phrase,
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub token: Uuid,
    pub school_id: String,
    /// The whole SMS as it will be sent (the Norwegian, then any Sámi text).
    pub message: String,
    /// The Sámi part, for a school with a Sámi setting.
    pub sami: Option<SamiPart>,
    pub groups: Groups,
    /// Distinct numbers: the SMS that will be sent (per segment).
    pub numbers: i64,
    pub unreachable: i64,
    pub text: segments::SegmentCount,
    pub price_nok: String,
    pub cost_ore: i64,
    pub cost_nok: String,
    /// True when this message would exceed today's cost cap or goes to more than
    /// `approval_over_recipients` numbers: a second authorised person must approve
    /// it before it is sent.
    pub needs_approval: bool,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sent {
    pub message_id: Uuid,
    pub status: String,
    pub numbers: i64,
    pub cost_nok: String,
}

async fn school_municipality(
    ctx: &SmsContext,
    school_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT municipality_number FROM roster_schools WHERE school_id = $1 AND NOT deleted",
    )
    .bind(school_id)
    .fetch_optional(&ctx.pool)
    .await?
    .flatten())
}

/// Checks authorization; a refusal is audited and returned as `Forbidden`.
pub async fn authorize(
    ctx: &SmsContext,
    who: &Actor,
    school_id: &str,
    action: &str,
    target: Option<&str>,
) -> Result<Route, SmsError> {
    let muni = school_municipality(ctx, school_id).await?;
    match authz::decide(who, school_id, muni.as_deref()) {
        Ok(route) => Ok(route),
        Err(refusal) => {
            audit::record(
                &ctx.pool,
                &Entry {
                    actor: who,
                    school_id: Some(school_id),
                    action,
                    target,
                    outcome: Verdict::Refused,
                    reason: Some(refusal.0),
                    details: json!({}),
                },
            )
            .await?;
            Err(SmsError::Forbidden(refusal.0.to_string()))
        }
    }
}

/// The checks on the text itself (shared with the event path). Norwegian reasons.
pub fn check_text(ctx: &SmsContext, text: &str) -> Result<segments::SegmentCount, String> {
    if text.trim().is_empty() {
        return Err("Meldingsteksten er tom".into());
    }
    let count = segments::count(text);
    if count.segments > ctx.settings.max_segments {
        return Err(format!(
            "Meldingen er {} SMS-er lang; høyst {} er tillatt",
            count.segments, ctx.settings.max_segments
        ));
    }
    Ok(count)
}

fn cap_ore(ctx: &SmsContext) -> i64 {
    (ctx.settings.daily_cost_cap_nok * 100.0).round() as i64
}

/// Why a message waits for a second person's approval (recorded as its
/// `status_reason`), or `None` when it may be sent at once.
pub fn approval_reason(
    ctx: &SmsContext,
    booked_ore: i64,
    cost_ore: i64,
    numbers: i64,
) -> Option<&'static str> {
    if numbers > ctx.settings.approval_over_recipients {
        Some("over the recipient limit for sending without approval")
    } else if booked_ore + cost_ore > cap_ore(ctx) {
        Some("over the daily cost cap")
    } else {
        None
    }
}

/// Serialises sends per school and applies the rate limit; returns why a second
/// approval is needed (the cost cap, or more than `approval_over_recipients`
/// numbers), if it is. Refusals are Norwegian `RateLimited`.
pub async fn limits(
    ctx: &SmsContext,
    tx: &mut Transaction<'_, Postgres>,
    school_id: &str,
    cost_ore: i64,
    numbers: i64,
) -> Result<Option<&'static str>, SmsError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('dokflyt.sms:' || $1))")
        .bind(school_id)
        .execute(&mut **tx)
        .await?;
    let last_hour: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sms_messages
          WHERE school_id = $1 AND status <> 'refused' AND created_at > now() - interval '1 hour'",
    )
    .bind(school_id)
    .fetch_one(&mut **tx)
    .await?;
    if last_hour >= ctx.settings.max_messages_per_hour {
        return Err(SmsError::RateLimited(format!(
            "Skolen har allerede sendt {last_hour} beredskapsmeldinger siste time (grensen er {})",
            ctx.settings.max_messages_per_hour
        )));
    }
    let booked = cost::booked_today(&mut **tx, school_id).await?;
    Ok(approval_reason(ctx, booked, cost_ore, numbers))
}

pub async fn preview(
    ctx: &SmsContext,
    school_id: &str,
    who: &Actor,
    channel: Channel,
    req: &PreviewRequest,
) -> Result<Preview, SmsError> {
    authorize(ctx, who, school_id, "sms.preview", Some(school_id)).await?;
    if req.text.trim().is_empty() {
        return Err(SmsError::Invalid("Meldingsteksten er tom".into()));
    }
    let (message, sami) = whole_text(ctx, school_id, &req.text, req.sami_text.as_deref()).await?;
    if let Some(SamiPart {
        source: "missing",
        language,
        ..
    }) = &sami
    {
        tracing::warn!(
            school_id,
            sami = *language,
            "an emergency SMS preview without Sámi text: no fixed phrase for the language; it would be sent in Norwegian only"
        );
    }
    let count = check_text(ctx, &message).map_err(SmsError::Invalid)?;
    if req.reason.trim().is_empty() {
        return Err(SmsError::Invalid(
            "Oppgi hvorfor beredskapsmeldingen sendes".into(),
        ));
    }
    let set = recipients::for_school(&ctx.pool, school_id).await?;
    let price = cost::price_on(&ctx.settings.prices, crate::calendar::today_in_oslo())?;
    let numbers = set.numbers.len() as i64;
    let cost_ore = cost::cost_ore(numbers, count.segments as i64, price);
    let booked = cost::booked_today(&ctx.pool, school_id).await?;
    let token = Uuid::new_v4();
    let expires_at = Utc::now() + chrono::Duration::seconds(ctx.settings.preview_ttl_secs as i64);
    let mut tx = ctx.pool.begin().await?;
    sqlx::query(
        "INSERT INTO sms_previews (token, school_id, actor, role, text, reason, on_owner_instruction,
            encoding, segments, numbers, price_ore, cost_ore, expires_at, client_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(token)
    .bind(school_id)
    .bind(&who.user)
    .bind(who.role.as_str())
    .bind(&message)
    .bind(&req.reason)
    .bind(req.on_owner_instruction)
    .bind(count.encoding.as_str())
    .bind(count.segments as i32)
    .bind(numbers as i32)
    .bind(price.ore)
    .bind(cost_ore)
    .bind(expires_at)
    .bind(channel.client_id())
    .execute(&mut *tx)
    .await?;
    let token_text = token.to_string();
    audit::record_in(
        &mut *tx,
        &Entry {
            actor: who,
            school_id: Some(school_id),
            action: "sms.preview",
            target: Some(&token_text),
            outcome: Verdict::Granted,
            reason: Some(&req.reason),
            details: json!({ "numbers": numbers, "segments": count.segments, "cost_ore": cost_ore }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Preview {
        token,
        school_id: school_id.to_string(),
        message,
        sami,
        groups: Groups {
            pupils: set.pupils,
            guardians: set.guardians,
            staff: set.staff,
        },
        numbers,
        unreachable: set.unreachable(),
        text: count,
        price_nok: cost::nok(price.ore),
        cost_ore,
        cost_nok: cost::nok(cost_ore),
        needs_approval: approval_reason(ctx, booked, cost_ore, numbers).is_some(),
        expires_at,
    })
}

#[derive(sqlx::FromRow)]
struct PreviewRow {
    school_id: String,
    actor: String,
    text: String,
    reason: String,
    on_owner_instruction: bool,
    numbers: i32,
    cost_ore: i64,
    expires_at: DateTime<Utc>,
    used_by: Option<Uuid>,
    client_id: Option<Uuid>,
}

/// Sends a previewed message. `who` is a PROVEN person (a dashboard session or a
/// person assertion); the caller has checked their assurance level.
pub async fn send(
    ctx: &SmsContext,
    school_id: &str,
    who: &Actor,
    channel: Channel,
    req: &SendRequest,
) -> Result<Sent, SmsError> {
    let token_text = req.preview_token.to_string();
    let route = authorize(ctx, who, school_id, "sms.send", Some(&token_text)).await?;
    let mut tx = ctx.pool.begin().await?;
    let p: Option<PreviewRow> = sqlx::query_as(
        "SELECT school_id, actor, text, reason, on_owner_instruction, numbers, cost_ore, expires_at,
                used_by, client_id
           FROM sms_previews WHERE token = $1 FOR UPDATE",
    )
    .bind(req.preview_token)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(p) = p else {
        return Err(SmsError::Conflict(
            "Ukjent forhåndsvisning: forhåndsvis meldingen før den sendes".into(),
        ));
    };
    let same_caller = match channel {
        Channel::Dashboard => p.client_id.is_none() && p.actor == who.user,
        Channel::Client(id) => p.client_id == Some(id),
    };
    if p.school_id != school_id || !same_caller {
        return Err(SmsError::Conflict(
            "Forhåndsvisningen gjelder en annen skole eller bruker".into(),
        ));
    }
    if let Some(existing) = p.used_by {
        // The same send repeated (a retried HTTP call): answer with the same message.
        tx.rollback().await?;
        return status(ctx, school_id, existing).await;
    }
    if p.expires_at < Utc::now() {
        return Err(SmsError::Conflict(
            "Forhåndsvisningen er utløpt: forhåndsvis på nytt".into(),
        ));
    }
    let count = check_text(ctx, &p.text).map_err(SmsError::Invalid)?;
    let set = recipients::for_school(&mut *tx, school_id).await?;
    let price = cost::price_on(&ctx.settings.prices, crate::calendar::today_in_oslo())?;
    let numbers = set.numbers.len() as i64;
    if numbers == 0 {
        return Err(SmsError::Invalid(NO_RECIPIENTS.into()));
    }
    let cost_ore = cost::cost_ore(numbers, count.segments as i64, price);
    if numbers != i64::from(p.numbers) || cost_ore != p.cost_ore {
        return Err(SmsError::Conflict(
            "Mottakerlisten eller prisen er endret siden forhåndsvisningen: forhåndsvis på nytt"
                .into(),
        ));
    }
    let approval = match limits(ctx, &mut tx, school_id, cost_ore, numbers).await {
        Ok(n) => n,
        Err(SmsError::RateLimited(why)) => {
            tx.rollback().await?;
            audit::record(
                &ctx.pool,
                &Entry {
                    actor: who,
                    school_id: Some(school_id),
                    action: "sms.send",
                    target: Some(&token_text),
                    outcome: Verdict::Refused,
                    reason: Some(&why),
                    details: json!({ "limit": "messages_per_hour" }),
                },
            )
            .await?;
            return Err(SmsError::RateLimited(why));
        }
        Err(e) => return Err(e),
    };
    let message_id = Uuid::new_v4();
    let status = if approval.is_some() {
        Status::AwaitingApproval
    } else {
        Status::Approved
    };
    message::commit(
        &mut tx,
        &NewMessage {
            message_id,
            school_id,
            source: "api",
            event_id: None,
            preview_token: Some(req.preview_token),
            requested_by: &who.user,
            role: who.role.as_str(),
            on_owner_instruction: p.on_owner_instruction,
            reason: &p.reason,
            text: &p.text,
            encoding: count.encoding.as_str(),
            segments: count.segments as i64,
            price,
            status,
            status_reason: approval,
        },
        &set,
    )
    .await?;
    sqlx::query("UPDATE sms_previews SET used_by = $2 WHERE token = $1")
        .bind(req.preview_token)
        .bind(message_id)
        .execute(&mut *tx)
        .await?;
    let message_text = message_id.to_string();
    audit::record_in(
        &mut *tx,
        &Entry {
            actor: who,
            school_id: Some(school_id),
            action: "sms.send",
            target: Some(&message_text),
            outcome: Verdict::Granted,
            reason: Some(&p.reason),
            details: json!({
                "route": route,
                "on_owner_instruction": p.on_owner_instruction,
                "status": status.as_str(),
                "numbers": numbers,
                "segments": count.segments,
                "cost_ore": cost_ore,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    ctx.wake.notify_one();
    tracing::info!(%message_id, numbers, status = status.as_str(), "emergency SMS committed");
    Ok(Sent {
        message_id,
        status: status.as_str().to_string(),
        numbers,
        cost_nok: cost::nok(cost_ore),
    })
}

/// Approves a message waiting for a second person. `who` is a PROVEN person (as
/// for [`send`]) and must not be the person who requested it.
pub async fn approve(
    ctx: &SmsContext,
    school_id: &str,
    message_id: Uuid,
    who: &Actor,
    req: &ApproveRequest,
) -> Result<Sent, SmsError> {
    let target = message_id.to_string();
    authorize(ctx, who, school_id, "sms.approve", Some(&target)).await?;
    let mut tx = ctx.pool.begin().await?;
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT school_id, requested_by, status FROM sms_messages WHERE message_id = $1 FOR UPDATE",
    )
    .bind(message_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((school, requested_by, status_now)) = row else {
        return Err(SmsError::NotFound);
    };
    if school != school_id {
        return Err(SmsError::NotFound);
    }
    if status_now != "awaiting_approval" {
        return Err(SmsError::Conflict(
            "Meldingen venter ikke på godkjenning".into(),
        ));
    }
    if requested_by == who.user {
        tx.rollback().await?;
        let why = "En annen person enn den som sendte må godkjenne";
        audit::record(
            &ctx.pool,
            &Entry {
                actor: who,
                school_id: Some(school_id),
                action: "sms.approve",
                target: Some(&target),
                outcome: Verdict::Refused,
                reason: Some(why),
                details: json!({}),
            },
        )
        .await?;
        return Err(SmsError::Forbidden(why.into()));
    }
    sqlx::query(
        "UPDATE sms_messages SET status = 'approved', approved_by = $2, updated_at = now()
          WHERE message_id = $1",
    )
    .bind(message_id)
    .bind(&who.user)
    .execute(&mut *tx)
    .await?;
    message::book(&mut tx, message_id).await?;
    audit::record_in(
        &mut *tx,
        &Entry {
            actor: who,
            school_id: Some(school_id),
            action: "sms.approve",
            target: Some(&target),
            outcome: Verdict::Granted,
            reason: req.reason.as_deref(),
            details: json!({ "second_person_for": requested_by }),
        },
    )
    .await?;
    tx.commit().await?;
    ctx.wake.notify_one();
    status(ctx, school_id, message_id).await
}

/// The message's status and per-recipient status counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageStatus {
    pub message_id: Uuid,
    pub status: String,
    pub status_reason: Option<String>,
    pub numbers: i64,
    pub cost_nok: String,
    pub recipients: serde_json::Map<String, serde_json::Value>,
}

pub async fn message_status(
    ctx: &SmsContext,
    school_id: &str,
    message_id: Uuid,
) -> Result<MessageStatus, SmsError> {
    let row: Option<(String, Option<String>, i32, i64)> = sqlx::query_as(
        "SELECT status, status_reason, numbers, cost_ore FROM sms_messages
          WHERE message_id = $1 AND school_id = $2",
    )
    .bind(message_id)
    .bind(school_id)
    .fetch_optional(&ctx.pool)
    .await?;
    let Some((status, status_reason, numbers, cost_ore)) = row else {
        return Err(SmsError::NotFound);
    };
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM sms_recipients WHERE message_id = $1 GROUP BY status",
    )
    .bind(message_id)
    .fetch_all(&ctx.pool)
    .await?;
    Ok(MessageStatus {
        message_id,
        status,
        status_reason,
        numbers: i64::from(numbers),
        cost_nok: cost::nok(cost_ore),
        recipients: counts.into_iter().map(|(s, n)| (s, json!(n))).collect(),
    })
}

async fn status(ctx: &SmsContext, school_id: &str, message_id: Uuid) -> Result<Sent, SmsError> {
    let s = message_status(ctx, school_id, message_id).await?;
    Ok(Sent {
        message_id,
        status: s.status,
        numbers: s.numbers,
        cost_nok: s.cost_nok,
    })
}

/// A message waiting for a second person's approval, as the approval page shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Awaiting {
    pub message_id: Uuid,
    pub school_id: String,
    pub text: String,
    pub reason: String,
    pub numbers: i64,
    pub cost_nok: String,
    /// Why it waits, in Norwegian.
    pub why: &'static str,
    pub created_at: DateTime<Utc>,
    pub requested_by: String,
}

/// The Norwegian words for a message's `status_reason` while it waits.
pub fn approval_reason_nb(reason: Option<&str>) -> &'static str {
    match reason {
        Some("over the recipient limit for sending without approval") => {
            "Går til flere mottakere enn det som kan sendes uten godkjenning"
        }
        Some("over the daily cost cap") => "Går over dagens kostnadstak",
        _ => "Må godkjennes av en person til",
    }
}

type AwaitingRow = (
    Uuid,
    String,
    String,
    String,
    i32,
    i64,
    Option<String>,
    DateTime<Utc>,
    String,
);

fn awaiting(r: AwaitingRow) -> Awaiting {
    let (message_id, school_id, text, reason, numbers, cost_ore, why, created_at, requested_by) = r;
    Awaiting {
        message_id,
        school_id,
        text,
        reason,
        numbers: i64::from(numbers),
        cost_nok: cost::nok(cost_ore),
        why: approval_reason_nb(why.as_deref()),
        created_at,
        requested_by,
    }
}

/// Messages of `schools` waiting for approval, oldest first.
pub async fn awaiting_approval(
    pool: &sqlx::PgPool,
    schools: &[String],
) -> Result<Vec<Awaiting>, SmsError> {
    let rows: Vec<AwaitingRow> = sqlx::query_as(
        "SELECT message_id, school_id, text, reason, numbers, cost_ore, status_reason, created_at,
                requested_by
           FROM sms_messages
          WHERE status = 'awaiting_approval' AND school_id = ANY($1)
          ORDER BY created_at LIMIT 200",
    )
    .bind(schools)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(awaiting).collect())
}

/// One message of `school` waiting for approval (`NotFound` otherwise).
pub async fn awaiting_one(
    pool: &sqlx::PgPool,
    school: &str,
    message_id: Uuid,
) -> Result<Awaiting, SmsError> {
    let row: Option<AwaitingRow> = sqlx::query_as(
        "SELECT message_id, school_id, text, reason, numbers, cost_ore, status_reason, created_at,
                requested_by
           FROM sms_messages
          WHERE status = 'awaiting_approval' AND school_id = $1 AND message_id = $2",
    )
    .bind(school)
    .bind(message_id)
    .fetch_optional(pool)
    .await?;
    row.map(awaiting).ok_or(SmsError::NotFound)
}

/// Who may see a school's messages and costs ([`authz::may_read`]: its principal,
/// the school owner and the municipal administrator of its municipality); a
/// refusal is audited and answered `Forbidden`.
pub async fn check_read(
    ctx: &SmsContext,
    who: &Actor,
    school_id: &str,
    action: &str,
) -> Result<(), SmsError> {
    let muni = school_municipality(ctx, school_id).await?;
    match authz::may_read(who, school_id, muni.as_deref()) {
        Ok(()) => Ok(()),
        Err(refusal) => {
            audit::record(
                &ctx.pool,
                &Entry {
                    actor: who,
                    school_id: Some(school_id),
                    action,
                    target: Some(school_id),
                    outcome: Verdict::Refused,
                    reason: Some(refusal.0),
                    details: json!({}),
                },
            )
            .await?;
            Err(SmsError::Forbidden(refusal.0.to_string()))
        }
    }
}
