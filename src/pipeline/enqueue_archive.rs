//! Stage 6 — enqueue_archive: [`DeliveryPlan`] → committed in PostgreSQL.
//!
//! Input: the planned document. Output: one atomic statement (its own transaction,
//! see `db::documents`) that writes the event, the document (decision, rule id,
//! table version, PDF and its SHA-256), the planned deliveries and — when the
//! decision says archived — an `archive_queue` row in status `klar`. Only after
//! this commit is the message acked.
//! Failure: a database error. Transient ones (connection lost, timeout) make the
//! pipeline retry later; the transaction is never held across a call to another
//! service (rendering happened before it began). If the event row already exists
//! (redelivery, republish, or a concurrent duplicate that won), nothing is written
//! and [`Committed::Duplicate`] says whether the stored content is the same.

use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::db;
use crate::document::DeliveryPlan;

/// What the commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Everything was written; `archived` tells whether an archive row was queued.
    New { archived: bool },
    /// The event was committed before (redelivery, republish or a concurrent
    /// duplicate); nothing was written. `same_content` is false when the stored
    /// event has other content under the same `event_id` (a producer bug).
    Duplicate { same_content: bool },
}

/// SHA-256 over the canonical serialisation of the event: the same event
/// republished (in any key order) hashes the same.
pub fn payload_hash(payload: &serde_json::Value) -> String {
    let canonical = serde_json::to_vec(payload).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

pub async fn commit(pool: &PgPool, plan: &DeliveryPlan) -> Result<Committed, sqlx::Error> {
    let rendered = plan.document();
    let routed = rendered.routed();
    let event = routed.event();
    let wire = event.event();
    let decision = routed.decision();
    let payload = serde_json::to_value(wire).unwrap_or(serde_json::Value::Null);
    let hash = payload_hash(&payload);
    let inserted = db::documents::insert(
        pool,
        db::documents::NewDocument {
            event_id: event.event_id(),
            school_id: &wire.school.id,
            occurred_at: wire.occurred_at,
            payload_sha256: &hash,
            payload: &payload,
            title: &wire.title,
            decision,
            pdf: rendered.pdf(),
            deliveries: plan
                .intents()
                .iter()
                .map(|i| (i.recipient_id.clone(), i.channel.as_str().to_string()))
                .collect(),
        },
    )
    .await?;
    if inserted {
        return Ok(Committed::New {
            archived: decision.archived,
        });
    }
    let stored = db::events::payload_hash(pool, event.event_id()).await?;
    Ok(Committed::Duplicate {
        same_content: stored.as_deref() == Some(hash.as_str()),
    })
}
