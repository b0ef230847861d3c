//! The dispatcher: claims planned deliveries of one channel, hands each to its
//! sender, records the outcome.
//!
//! Stage: delivery. Input: `planned` rows of one channel whose `next_attempt_at`
//! has come. Output: the rows' new status and one `delivery_status_history` row per
//! change. Failure: [`ChannelError`] when the database fails; a row that cannot be
//! read (stored event or decision unreadable) ends `failed` with class
//! `stored_document`. Claims, the in-doubt mark and outcomes are each one committed
//! statement; no transaction is open while a sender talks to its provider.
//!
//! The contact register (when `[delivery.contact_register]` is on): the guardians
//! of a claimed batch are looked up in one go (calls of at most 1,000, cached)
//! before any send, and each answer is applied through the recipient policy
//! (`recipient_policy::with_register`); the preferred language is recorded on the
//! delivery. When the register cannot answer, the batch's guardian deliveries
//! *wait* (`planned`, class `register_unavailable`, the attempt not counted) and
//! are asked again after `outage_retry_secs`; once a delivery has waited
//! `outage_wait_secs` the configured fallback applies (held for a person, or
//! paper only). Nothing is sent on an answer the register did not give.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sqlx::PgPool;
use uuid::Uuid;

use super::unreachable::Reason;
use super::{content_policy, ChannelError, ChannelSender, Job, JournalRef, SendResult};
use crate::backoff::Backoff;
use crate::config::{DeliverySettings, OutageFallback};
use crate::contact_register::ContactRegister;
use crate::document::{Channel, RoutingDecision};
use crate::event::IncomingEvent;
use crate::event::Recipient;
use crate::recipient_policy;
use crate::recipient_policy::{RegisterFacts, RegisterUse};

/// The knobs of the dispatcher (from [`DeliverySettings`]).
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    pub batch_size: i64,
    pub concurrency: usize,
    pub max_attempts: u32,
    /// The delay before a failed delivery's next attempt (`next_attempt_at`):
    /// `backoff_initial_ms` doubling to `backoff_max_ms`, jittered.
    pub backoff: Backoff,
    pub claim_ttl: Duration,
    /// The contact register's use and outage rules (None: the register is off).
    pub register: Option<RegisterRules>,
}

/// What the dispatcher needs of `[delivery.contact_register]`.
#[derive(Debug, Clone)]
pub struct RegisterRules {
    pub using: RegisterUse,
    pub outage_wait_secs: u64,
    pub outage_retry_secs: u64,
    pub outage_fallback: OutageFallback,
}

impl DispatchOptions {
    pub fn from_settings(s: &DeliverySettings) -> DispatchOptions {
        DispatchOptions {
            batch_size: s.batch_size.max(1),
            concurrency: s.concurrency.max(1),
            max_attempts: s.max_attempts.max(1),
            backoff: Backoff::from_millis(s.backoff_initial_ms, s.backoff_max_ms),
            claim_ttl: Duration::from_secs(s.claim_ttl_secs.max(1)),
            register: s.contact_register.enabled.then(|| RegisterRules {
                using: RegisterUse::from_settings(&s.contact_register),
                outage_wait_secs: s.contact_register.outage_wait_secs,
                outage_retry_secs: s.contact_register.outage_retry_secs,
                outage_fallback: s.contact_register.outage_fallback,
            }),
        }
    }
}

/// What one dispatch round did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DispatchSummary {
    pub claimed: u64,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub held: u64,
    /// Outcomes not recorded because another worker took the claim over.
    pub lost_claims: u64,
    /// Deliveries put back to wait for the contact register (not attempts).
    pub waiting: u64,
}

/// One claimed delivery's attempt: lets a sender commit the in-doubt mark.
pub struct Attempt {
    pool: PgPool,
    run_id: Uuid,
    delivery_id: i64,
}

impl Attempt {
    /// Commits `in_doubt = true` before a call the provider could complete without
    /// our knowing. False when the claim is no longer ours (then do not send).
    pub async fn mark_in_doubt(&self) -> Result<bool, ChannelError> {
        let n = sqlx::query(
            "UPDATE deliveries SET in_doubt = true, updated_at = now()
             WHERE id = $1 AND claimed_by = $2 AND status = 'planned'",
        )
        .bind(self.delivery_id)
        .bind(self.run_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// A database pool for senders that keep their own records (in-app messages).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Claims and sends up to one batch of `sender`'s channel; returns what happened.
pub async fn run_once(
    pool: &PgPool,
    sender: Arc<dyn ChannelSender>,
    opts: &DispatchOptions,
    register: Option<&ContactRegister>,
) -> Result<DispatchSummary, ChannelError> {
    let run_id = Uuid::new_v4();
    let channel = sender.channel();
    let claimed = claim(pool, run_id, channel, opts).await?;
    let mut summary = DispatchSummary {
        claimed: claimed.len() as u64,
        ..DispatchSummary::default()
    };
    if claimed.is_empty() {
        return Ok(summary);
    }
    tracing::debug!(channel = channel.as_str(), claimed = claimed.len(), %run_id, "deliveries claimed");
    let views = register_views(register, channel, &claimed).await;
    let results: Vec<Result<Recorded, ChannelError>> =
        futures::stream::iter(claimed.into_iter().zip(views))
            .map(|(row, view)| {
                let sender = sender.clone();
                async move {
                    crate::metrics::timed_async(
                        crate::metrics::Stage::Send,
                        deliver_one(pool, sender.as_ref(), run_id, row, opts, view),
                    )
                    .await
                }
            })
            .buffer_unordered(opts.concurrency)
            .collect()
            .await;
    for r in results {
        match r? {
            Recorded::Sent => summary.sent += 1,
            Recorded::Retried => summary.retried += 1,
            Recorded::Failed => summary.failed += 1,
            Recorded::Held => summary.held += 1,
            Recorded::Lost => summary.lost_claims += 1,
            Recorded::Waiting => summary.waiting += 1,
        }
    }
    tracing::info!(
        channel = channel.as_str(),
        claimed = summary.claimed,
        sent = summary.sent,
        retried = summary.retried,
        failed = summary.failed,
        held = summary.held,
        waiting = summary.waiting,
        "delivery batch done"
    );
    Ok(summary)
}

/// A claimed row as selected (with the stored document).
struct Claimed {
    id: i64,
    event_id: Uuid,
    recipient_id: String,
    attempts: i32,
    in_doubt: bool,
    payload: serde_json::Value,
    decision: serde_json::Value,
    title: String,
    pdf: Option<Vec<u8>>,
    journal: Option<JournalRef>,
    /// Seconds since the delivery was planned.
    waited_secs: f64,
}

/// What the contact register says for one claimed delivery.
enum RegisterView {
    /// Not asked: the register is off, or the recipient is no guardian with a
    /// valid national id (or not a person at all).
    NotAsked,
    Answer(RegisterFacts),
    /// The register could not answer (the error's class).
    Unavailable(&'static str),
}

/// The register-relevant person of a claimed row, read from the stored event.
fn claimed_person(row: &Claimed) -> Option<Recipient> {
    let r = row.payload["recipients"]
        .as_array()?
        .iter()
        .find(|r| r["id"].as_str() == Some(row.recipient_id.as_str()))?;
    serde_json::from_value::<Recipient>(r.clone())
        .ok()
        .filter(crate::recipient_policy::needs_register)
}

/// One look-up for the whole claimed batch (the client splits it into calls of
/// at most `batch_size` and serves what it has cached).
async fn register_views(
    register: Option<&ContactRegister>,
    channel: Channel,
    claimed: &[Claimed],
) -> Vec<RegisterView> {
    let ids: Vec<Option<String>> = claimed
        .iter()
        .map(|row| match (register, channel) {
            (None, _) | (_, Channel::Internal) => None,
            _ => claimed_person(row).and_then(|r| r.national_id),
        })
        .collect();
    let wanted: Vec<String> = ids.iter().flatten().cloned().collect();
    let (Some(register), false) = (register, wanted.is_empty()) else {
        return claimed.iter().map(|_| RegisterView::NotAsked).collect();
    };
    match register.lookup(&wanted).await {
        Ok(answers) => ids
            .into_iter()
            .map(|id| match id.and_then(|id| answers.get(&id).cloned()) {
                Some(f) => RegisterView::Answer(f),
                None => RegisterView::NotAsked,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(
                channel = channel.as_str(),
                persons = wanted.len(),
                class = e.class(),
                error = %e,
                "the contact register cannot answer; the guardians' deliveries wait"
            );
            ids.into_iter()
                .map(|id| match id {
                    Some(_) => RegisterView::Unavailable(e.class()),
                    None => RegisterView::NotAsked,
                })
                .collect()
        }
    }
}

type ClaimRow = (
    i64,
    Uuid,
    String,
    i32,
    bool,
    serde_json::Value,
    serde_json::Value,
    String,
    Option<Vec<u8>>,
    Option<String>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<String>,
    f64,
);

async fn claim(
    pool: &PgPool,
    run_id: Uuid,
    channel: Channel,
    opts: &DispatchOptions,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows: Vec<ClaimRow> = sqlx::query_as(
        "WITH c AS (
            SELECT id FROM deliveries
            WHERE channel = $1 AND status = 'planned' AND next_attempt_at <= now()
              AND (claimed_until IS NULL OR claimed_until < now())
            ORDER BY next_attempt_at, id
            LIMIT $2
            FOR UPDATE SKIP LOCKED
         ), u AS (
            UPDATE deliveries d
            SET claimed_by = $3, claimed_until = now() + make_interval(secs => $4),
                attempts = d.attempts + 1, updated_at = now()
            FROM c WHERE d.id = c.id
            RETURNING d.id, d.event_id, d.recipient_id, d.attempts, d.in_doubt,
                      EXTRACT(EPOCH FROM (now() - d.created_at))::float8 AS waited
         )
         SELECT u.id, u.event_id, u.recipient_id, u.attempts, u.in_doubt,
                e.payload, doc.decision, doc.title, doc.pdf,
                a.status::text, a.journal_year, a.journal_sequence, a.journal_post_number,
                a.archive_system_id, a.archive_journal_status, u.waited
         FROM u
         JOIN events e ON e.event_id = u.event_id
         JOIN documents doc ON doc.event_id = u.event_id
         LEFT JOIN archive_queue a ON a.event_id = u.event_id
         ORDER BY u.id",
    )
    .bind(channel.as_str())
    .bind(opts.batch_size)
    .bind(run_id)
    .bind(opts.claim_ttl.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                event_id,
                recipient_id,
                attempts,
                in_doubt,
                payload,
                decision,
                title,
                pdf,
                archive_status,
                year,
                sequence,
                post_number,
                system_id,
                jstatus,
                waited_secs,
            )| Claimed {
                id,
                event_id,
                recipient_id,
                attempts,
                in_doubt,
                payload,
                decision,
                title,
                pdf,
                journal: (archive_status.as_deref() == Some("arkivert")).then_some(JournalRef {
                    year,
                    sequence,
                    post_number,
                    system_id,
                    status: jstatus,
                }),
                waited_secs,
            },
        )
        .collect())
}

enum Recorded {
    Sent,
    Retried,
    Failed,
    Held,
    Lost,
    Waiting,
}

/// One delivery in the span `deliver` (`delivery_id`, `event_id`, `channel`,
/// `document_type`, `attempt`).
#[tracing::instrument(name = "deliver", skip_all, fields(
    delivery_id = row.id,
    event_id = %row.event_id,
    channel = sender.channel().as_str(),
    attempt = row.attempts,
    document_type = tracing::field::Empty,
))]
async fn deliver_one(
    pool: &PgPool,
    sender: &dyn ChannelSender,
    run_id: Uuid,
    row: Claimed,
    opts: &DispatchOptions,
    view: RegisterView,
) -> Result<Recorded, ChannelError> {
    let channel = sender.channel();
    let id = row.id;
    let event: Result<IncomingEvent, _> = serde_json::from_value(row.payload);
    let decision: Result<RoutingDecision, _> = serde_json::from_value(row.decision);
    let (Ok(event), Ok(decision)) = (event, decision) else {
        let o = SendResult::Failed {
            class: "stored_document",
            explanation: "Det lagrede dokumentet kan ikke leses. Meld fra til kommuneadmin.".into(),
            answer: None,
        };
        return record(pool, run_id, id, &o, row.attempts, None, opts).await;
    };
    tracing::Span::current().record(
        "document_type",
        crate::telemetry::document_type_key(&event.document_type),
    );
    let mut job = Job {
        register: None,
        delivery_id: id,
        event_id: row.event_id,
        recipient_id: row.recipient_id,
        channel,
        attempt: row.attempts,
        in_doubt: row.in_doubt,
        title: row.title,
        pdf: row.pdf,
        journal: row.journal,
        event,
        decision,
    };
    // The contact register's answer, applied by the recipient policy; or the wait
    // (or the fallback) when the register could not answer.
    let mut fallback_hold = None;
    // The register itself said reserved (not the outage fallback's paper-only rule).
    let register_reserved = matches!(&view, RegisterView::Answer(f) if f.reserved);
    if let Some(reg) = opts.register.as_ref() {
        let facts = match view {
            RegisterView::NotAsked => None,
            RegisterView::Answer(f) => {
                record_language(pool, id, f.language.as_deref()).await?;
                Some(f)
            }
            RegisterView::Unavailable(class) if row.waited_secs < reg.outage_wait_secs as f64 => {
                return postpone(pool, run_id, id, class, reg.outage_retry_secs).await;
            }
            RegisterView::Unavailable(_) => match reg.outage_fallback {
                OutageFallback::Hold => {
                    fallback_hold = Some(SendResult::Held {
                        class: "register_unavailable",
                        explanation: "Kontakt- og reservasjonsregisteret har ikke svart på lenge, så det er ukjent om mottakeren har reservert seg eller kan varsles. Sendingen er stoppet og må håndteres av skolen.".into(),
                    });
                    None
                }
                // Paper only, as for a reserved person: nothing digital on a guess.
                OutageFallback::Svarut => Some(RegisterFacts {
                    reserved: true,
                    ..RegisterFacts::default()
                }),
            },
        };
        if let Some(f) = facts {
            let using = reg.using;
            if let Some(r) = job
                .event
                .recipients
                .iter_mut()
                .find(|r| r.id == job.recipient_id)
            {
                *r = crate::recipient_policy::with_register(r, &f, using);
            }
            job.register = Some(f);
        }
    }
    // The recipient policy again, at the moment of sending: a row planned under an
    // older rule (or written by hand) never reaches someone the policy excludes.
    // Then, defence in depth: the channel refuses what the router should have refused.
    let outcome = match fallback_hold.or_else(|| recipient_gate(&job)) {
        Some(o) => o,
        None => match content_policy(
            channel,
            job.event.sensitive,
            job.decision.access,
            job.pdf.is_some(),
        ) {
            Err(refusal) => {
                tracing::error!(
                    delivery_id = id,
                    event_id = %job.event_id,
                    channel = channel.as_str(),
                    "a sensitive document reached a message channel; refused by the channel layer"
                );
                SendResult::Failed {
                    class: refusal.class,
                    explanation: refusal.explanation,
                    answer: None,
                }
            }
            Ok(content) => {
                let attempt = Attempt {
                    pool: pool.clone(),
                    run_id,
                    delivery_id: id,
                };
                sender.send(&job, content, &attempt).await?
            }
        },
    };
    match &outcome {
        SendResult::Sent { .. } => {
            tracing::debug!(delivery_id = id, event_id = %job.event_id, channel = channel.as_str(), "sent")
        }
        SendResult::Retry {
            class, in_doubt, ..
        } => tracing::warn!(
            delivery_id = id,
            event_id = %job.event_id,
            channel = channel.as_str(),
            class,
            in_doubt,
            attempt = job.attempt,
            "send failed; will retry"
        ),
        SendResult::Failed { class, .. } => tracing::warn!(
            delivery_id = id,
            event_id = %job.event_id,
            channel = channel.as_str(),
            class,
            "send failed permanently"
        ),
        SendResult::Held { class, .. } => tracing::warn!(
            delivery_id = id,
            event_id = %job.event_id,
            channel = channel.as_str(),
            class,
            "held for manual handling"
        ),
    }
    crate::metrics::delivery(
        channel.as_str(),
        match &outcome {
            SendResult::Sent { .. } => "sent",
            SendResult::Retry { .. } => "retry",
            SendResult::Failed { .. } => "failed",
            SendResult::Held { .. } => "held",
        },
    );
    if matches!(outcome, SendResult::Sent { .. }) {
        crate::crashpoint::hit(crate::crashpoint::Point::DeliveryAccepted);
    }
    let key = job.idempotency_key();
    let recorded = record(pool, run_id, id, &outcome, job.attempt, Some(&key), opts).await?;
    // Nobody silently unreachable: a guardian this channel cannot reach at all
    // becomes a task for the school.
    let final_class = match (&recorded, &outcome) {
        (Recorded::Held, SendResult::Held { class, .. })
        | (Recorded::Failed, SendResult::Failed { class, .. }) => Some(*class),
        _ => None,
    };
    if let Some(reason) = final_class.and_then(|c| Reason::of_class(c, register_reserved)) {
        super::unreachable::record(pool, id, reason).await?;
    }
    Ok(recorded)
}

/// Records the register's preferred language of the delivery's guardian.
async fn record_language(
    pool: &PgPool,
    id: i64,
    language: Option<&str>,
) -> Result<(), ChannelError> {
    sqlx::query(
        "UPDATE deliveries SET preferred_language = $2, register_checked_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(language)
    .execute(pool)
    .await?;
    Ok(())
}

/// Puts a claimed delivery back to wait for the contact register: still
/// `planned`, the attempt not counted, due again after `retry_secs`. The history
/// gets one `waiting` row when the wait begins, not one per retry.
async fn postpone(
    pool: &PgPool,
    run_id: Uuid,
    id: i64,
    class: &'static str,
    retry_secs: u64,
) -> Result<Recorded, ChannelError> {
    tracing::info!(delivery_id = id, class, "waiting for the contact register");
    let n: i64 = sqlx::query_scalar(
        "WITH old AS (SELECT error_class FROM deliveries WHERE id = $1), u AS (
            UPDATE deliveries SET
                attempts = GREATEST(attempts - 1, 0),
                error_class = 'register_unavailable',
                next_attempt_at = now() + make_interval(secs => $3),
                claimed_by = NULL, claimed_until = NULL, updated_at = now()
            WHERE id = $1 AND claimed_by = $2 AND status = 'planned'
            RETURNING id
         ), h AS (
            INSERT INTO delivery_status_history (delivery_id, status, error_class, detail)
            SELECT u.id, 'waiting', 'register_unavailable', $4 FROM u, old
            WHERE old.error_class IS DISTINCT FROM 'register_unavailable'
         )
         SELECT count(*) FROM u",
    )
    .bind(id)
    .bind(run_id)
    .bind(retry_secs as f64)
    .bind(class)
    .fetch_one(pool)
    .await?;
    Ok(if n == 1 {
        Recorded::Waiting
    } else {
        Recorded::Lost
    })
}

/// The recipient policy's verdict on a job's person, when it forbids the send.
fn recipient_gate(job: &Job) -> Option<SendResult> {
    if job.channel == Channel::Internal {
        return None; // the receiving school, not a person
    }
    match recipient_policy::decide(job.channel, job.recipient()?) {
        recipient_policy::Decision::Receive { .. } => None,
        recipient_policy::Decision::Held(hold) => Some(SendResult::Held {
            class: hold.code(),
            explanation: hold.explanation_nb().into(),
        }),
        recipient_policy::Decision::Excluded(why) => Some(SendResult::Failed {
            class: why.code(),
            explanation: why.explanation_nb().into(),
            answer: None,
        }),
    }
}

/// Records `outcome` for a claimed row, with its history row, in one statement.
#[allow(clippy::too_many_arguments)]
async fn record(
    pool: &PgPool,
    run_id: Uuid,
    id: i64,
    outcome: &SendResult,
    attempts: i32,
    key: Option<&str>,
    opts: &DispatchOptions,
) -> Result<Recorded, ChannelError> {
    // (status, provider_ref, error_class, explanation, history detail, in_doubt, retry delay)
    let (status, provider_ref, class, explanation, detail, in_doubt, delay, kind) = match outcome {
        SendResult::Sent {
            provider_ref,
            detail,
        } => (
            "sent",
            provider_ref.clone(),
            None,
            None,
            detail.clone(),
            false,
            None,
            Recorded::Sent,
        ),
        SendResult::Retry {
            class,
            in_doubt,
            detail,
        } if (attempts as u32) < opts.max_attempts => (
            "planned",
            None,
            Some(*class),
            None,
            Some(detail.clone()),
            *in_doubt,
            Some(opts.backoff.delay_after(attempts.max(1) as u32)),
            Recorded::Retried,
        ),
        SendResult::Retry {
            class,
            in_doubt,
            detail,
        } => (
            if *in_doubt { "held" } else { "failed" },
            None,
            Some(*class),
            Some(if *in_doubt {
                "Sendingen feilet gjentatte ganger, og det er uklart om mottakeren fikk den. Sjekk hos tjenesten før den sendes på nytt.".to_string()
            } else {
                "Sendingen feilet gjentatte ganger (tjenesten svarte ikke). Prøv igjen senere."
                    .to_string()
            }),
            Some(detail.clone()),
            *in_doubt,
            None,
            if *in_doubt {
                Recorded::Held
            } else {
                Recorded::Failed
            },
        ),
        SendResult::Failed {
            class,
            explanation,
            answer,
        } => (
            "failed",
            None,
            Some(*class),
            Some(explanation.clone()),
            answer.clone(),
            false,
            None,
            Recorded::Failed,
        ),
        SendResult::Held { class, explanation } => (
            "held",
            None,
            Some(*class),
            Some(explanation.clone()),
            None,
            false,
            None,
            Recorded::Held,
        ),
    };
    let n: i64 = sqlx::query_scalar(
        "WITH u AS (
            UPDATE deliveries SET
                status = $3,
                provider_ref = COALESCE($4, provider_ref),
                idempotency_key = COALESCE($10, idempotency_key),
                error_class = $5,
                error_explanation = $6,
                in_doubt = CASE WHEN $3 = 'sent' THEN false ELSE (in_doubt OR $7) END,
                next_attempt_at = CASE WHEN $8::float8 IS NULL THEN next_attempt_at
                                       ELSE now() + make_interval(secs => $8) END,
                sent_at = CASE WHEN $3 = 'sent' THEN now() ELSE sent_at END,
                claimed_by = NULL, claimed_until = NULL, updated_at = now()
            WHERE id = $1 AND claimed_by = $2 AND status = 'planned'
            RETURNING id
         ), h AS (
            INSERT INTO delivery_status_history (delivery_id, status, error_class, detail)
            SELECT id, CASE WHEN $8::float8 IS NULL THEN $3 ELSE 'retry' END, $5, $9 FROM u
         )
         SELECT count(*) FROM u",
    )
    .bind(id)
    .bind(run_id)
    .bind(status)
    .bind(provider_ref)
    .bind(class)
    .bind(explanation)
    .bind(in_doubt)
    .bind(delay.map(|d| d.as_secs_f64()))
    .bind(detail)
    .bind(key)
    .fetch_one(pool)
    .await?;
    Ok(if n == 1 { kind } else { Recorded::Lost })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_delay_takes_the_settings_numbers_with_jitter() {
        let s = DeliverySettings {
            backoff_initial_ms: 100,
            backoff_max_ms: 350,
            ..DeliverySettings::default()
        };
        let o = DispatchOptions::from_settings(&s);
        assert_eq!(o.backoff, Backoff::from_millis(100, 350));
        assert!(o.backoff.jitter);
        let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
        for (n, nominal) in [(1, 100.0), (2, 200.0), (3, 350.0), (40, 350.0)] {
            let d = ms(o.backoff.delay_after(n));
            assert!(
                d >= nominal / 2.0 - 0.001 && d <= nominal + 0.001,
                "attempt {n}: {d} ms"
            );
        }
    }
}
