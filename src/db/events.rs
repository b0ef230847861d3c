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

/// The stored event itself (to reproduce its document), if it was accepted.
pub async fn payload(
    pool: &PgPool,
    event_id: Uuid,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar("SELECT payload FROM events WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(pool)
        .await
}

/// The school and municipality number of an accepted event.
pub async fn owner(
    pool: &PgPool,
    event_id: Uuid,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT school_id, payload #>> '{municipality,number}' FROM events WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(pool)
    .await
}
