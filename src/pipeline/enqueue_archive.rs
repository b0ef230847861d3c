//! Stage 6 — enqueue_archive: [`DeliveryPlan`] → committed in PostgreSQL.
//!
//! Input: the planned document. Output: one transaction that writes the event, the
//! document (decision, rule id, table version, PDF and its SHA-256), the planned
//! deliveries and — when the decision says archived — an `archive_queue` row in
//! status `klar`. Only after this commit is the message acked.
//! Failure: a database error. Transient ones (connection lost, timeout) make the
//! pipeline retry later; the transaction is never held across a call to another
//! service (rendering happened before it began). If the event row already exists
//! (a concurrent duplicate won), nothing is written and [`Committed::Duplicate`]
//! is returned.

use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::db;
use crate::pipeline::deliver::DeliveryPlan;

/// What the commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Everything was written; `archived` tells whether an archive row was queued.
    New { archived: bool },
    /// The event was already committed by someone else; nothing was written.
    Duplicate,
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

    let mut tx = pool.begin().await?;
    let inserted = db::events::insert(
        &mut tx,
        event.event_id(),
        event.document_type().key(),
        &wire.school.id,
        wire.occurred_at,
        &hash,
        &payload,
    )
    .await?;
    if !inserted {
        tx.rollback().await?;
        return Ok(Committed::Duplicate);
    }
    db::documents::insert(
        &mut tx,
        event.event_id(),
        &wire.school.id,
        &wire.title,
        decision,
        rendered.pdf(),
    )
    .await?;
    for intent in plan.intents() {
        db::documents::insert_delivery(
            &mut tx,
            event.event_id(),
            &intent.recipient_id,
            intent.channel.as_str(),
        )
        .await?;
    }
    let archived = decision.archived;
    if archived {
        let folder = decision.folder.map(|f| f.as_str()).unwrap_or("pupil");
        db::archive_queue::enqueue(
            &mut tx,
            event.event_id(),
            folder,
            &wire.school.id,
            event.document_type().key(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Committed::New { archived })
}
