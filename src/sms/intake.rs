//! The document-event path: a committed `emergency_sms` document (channel `sms`,
//! written by the pipeline) becomes an SMS message to the school's roster.
//!
//! Input: `documents` rows with channel `sms` that have no `sms_messages` row yet
//! (the worker polls for them, so a crash between the pipeline's commit and this
//! step loses nothing). Output: exactly one message per event — the message id IS
//! the event id, and `sms_messages.event_id` is unique — either `approved`,
//! `awaiting_approval` (over the daily cost cap) or `refused` with the reason, with
//! the same audit, rate limit and cost cap as the API path. Who may send is the
//! roster's answer for the event's sender at that school on the event's day
//! ([`super::sender`]: principal, deputy or school owner), never the role the
//! event claims. The text is `fields.text`, followed for a municipality or
//! school with a Sámi setting by `fields.sami_text.text`, else the fixed Sámi
//! phrase (`render::sami`; neither: Norwegian only, with a warning in the log);
//! the segments and cost are those of the whole text. The reason is
//! `fields.reason`, else the title; `fields.on_owner_instruction` is recorded.
//! There is no preview token on this path: the producing school system shows the
//! cost to the principal itself (see README).
//! Failure: a transient database error leaves the document for the next poll.

use serde_json::{json, Value};
use uuid::Uuid;

use super::message::{self, NewMessage, Status};
use super::sender::{self, SenderError};
use super::{cost, recipients, request, SmsContext, SmsError};
use crate::access::{Actor, Role};
use crate::audit::{self, Entry, Verdict};

/// Turns up to `limit` pending `emergency_sms` documents into messages.
pub async fn intake_pending(ctx: &SmsContext, limit: i64) -> Result<usize, SmsError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT d.event_id FROM documents d
          WHERE d.channel = 'sms'
            AND NOT EXISTS (SELECT 1 FROM sms_messages m WHERE m.event_id = d.event_id)
          ORDER BY d.created_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&ctx.pool)
    .await?;
    let n = ids.len();
    for id in ids {
        intake_one(ctx, id).await?;
    }
    Ok(n)
}

fn text_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

pub async fn intake_one(ctx: &SmsContext, event_id: Uuid) -> Result<(), SmsError> {
    let mut tx = ctx.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('dokflyt.sms.event:' || $1::text))")
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    let done: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sms_messages WHERE event_id = $1)")
            .bind(event_id)
            .fetch_one(&mut *tx)
            .await?;
    if done {
        return Ok(());
    }
    let (payload, school_id): (Value, String) =
        sqlx::query_as("SELECT payload, school_id FROM events WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&mut *tx)
            .await?;
    let user = text_at(&payload, &["sender", "user_id"]).unwrap_or("ukjent");
    let role_word = text_at(&payload, &["sender", "role"]).unwrap_or("");
    let norwegian = text_at(&payload, &["fields", "text"]).unwrap_or("");
    let sami = ctx.sami.for_sms(
        text_at(&payload, &["municipality", "number"]).unwrap_or(""),
        &school_id,
        text_at(&payload, &["school", "name"]).unwrap_or(""),
        text_at(&payload, &["fields", "sami_text", "text"]),
    );
    if let crate::render::sami::Resolution::Missing(language) = sami {
        tracing::warn!(
            %event_id,
            sami = language.code(),
            "no Sámi text in the emergency_sms event and no fixed phrase for the language: the SMS is sent in Norwegian only"
        );
    }
    let text = if norwegian.trim().is_empty() {
        // Refused below as empty; the Sámi phrase alone is no message.
        norwegian.to_string()
    } else {
        crate::render::sami::sms_text(norwegian, &sami)
    };
    let reason = text_at(&payload, &["fields", "reason"])
        .or_else(|| text_at(&payload, &["title"]))
        .unwrap_or("")
        .to_string();
    let on_owner_instruction = payload
        .get("fields")
        .and_then(|f| f.get("on_owner_instruction"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // The roster, not the event, decides who may send (see `sender`); the pipeline
    // dead-letters a refused sender, and this repeats the check for a document
    // committed before the roster changed.
    let day = text_at(&payload, &["occurred_at"])
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono_tz::Europe::Oslo).date_naive())
        .unwrap_or_else(crate::calendar::today_in_oslo);
    let (route, roster_municipality) = match sender::check(&mut *tx, &school_id, user, day).await {
        Ok((route, muni)) => (Some(route), muni),
        Err(SenderError::NotAuthorised) => (None, None),
        Err(SenderError::Db(e)) => return Err(e.into()),
    };

    // The actor as the audit log records it: the role the roster gives, else the
    // role the event claims (or `system` for a word that is no role).
    let role = match route {
        Some(r) => r.role(),
        None => role_word.parse::<Role>().unwrap_or(Role::System),
    };
    let actor = Actor {
        user: user.to_string(),
        role,
        schools: vec![school_id.clone()],
        municipality_number: roster_municipality,
    };
    let role_recorded = route.map(|r| r.role().to_string());
    let price = cost::price_on(&ctx.settings.prices, crate::calendar::today_in_oslo())?;
    let set = recipients::for_school(&mut *tx, &school_id).await?;

    // Each check in order; the first refusal ends it (a database error is not a refusal).
    let decided: Result<(super::segments::SegmentCount, Option<&'static str>), String> = match route
    {
        None => Err(sender::NOT_AUTHORISED_NB.to_string()),
        Some(_) => match request::check_text(ctx, &text) {
            Err(why) => Err(why),
            Ok(count) => {
                let cost_ore =
                    cost::cost_ore(set.numbers.len() as i64, count.segments as i64, price);
                let numbers = set.numbers.len() as i64;
                match request::limits(ctx, &mut tx, &school_id, cost_ore, numbers).await {
                    Ok(approval) => Ok((count, approval)),
                    Err(SmsError::RateLimited(why)) => Err(why),
                    Err(e) => return Err(e),
                }
            }
        },
    };
    let (status, count, status_reason) = match &decided {
        Ok((count, Some(why))) => (Status::AwaitingApproval, *count, Some(*why)),
        Ok((count, None)) => (Status::Approved, *count, None),
        Err(why) => (
            Status::Refused,
            super::segments::count(&text),
            Some(why.as_str()),
        ),
    };
    message::commit(
        &mut tx,
        &NewMessage {
            message_id: event_id,
            school_id: &school_id,
            source: "event",
            event_id: Some(event_id),
            preview_token: None,
            requested_by: user,
            role: role_recorded.as_deref().unwrap_or(role_word),
            on_owner_instruction,
            reason: &reason,
            text: &text,
            encoding: count.encoding.as_str(),
            segments: count.segments as i64,
            price,
            status,
            status_reason,
        },
        &set,
    )
    .await?;
    let target = event_id.to_string();
    audit::record_in(
        &mut *tx,
        &Entry {
            actor: &actor,
            school_id: Some(&school_id),
            action: "sms.send",
            target: Some(&target),
            outcome: if status == Status::Refused {
                Verdict::Refused
            } else {
                Verdict::Granted
            },
            reason: Some(if status == Status::Refused {
                status_reason.unwrap_or("")
            } else {
                &reason
            }),
            details: json!({
                "source": "event",
                "on_owner_instruction": on_owner_instruction,
                "status": status.as_str(),
                "numbers": if status == Status::Refused { 0 } else { set.numbers.len() },
            }),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%event_id, status = status.as_str(), "emergency_sms event taken in");
    Ok(())
}
