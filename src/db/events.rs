//! Queries on `events`: every accepted document event, verbatim.
//! The primary key `event_id` is the idempotency check of the whole pipeline.

use sqlx::PgPool;
use uuid::Uuid;

/// The stored payload hash of an event, if it was accepted before.
pub async fn payload_hash(pool: &PgPool, event_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT payload_sha256 FROM events WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(pool)
        .await
}
