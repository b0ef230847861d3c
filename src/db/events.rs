//! Queries on `events`: every accepted document event, verbatim.
//! The primary key `event_id` is the idempotency check of the whole pipeline.

use chrono::{DateTime, FixedOffset};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The stored payload hash of an event, if it was accepted before.
pub async fn payload_hash(pool: &PgPool, event_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT payload_sha256 FROM events WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(pool)
        .await
}

/// A new event row. Returns false when the event was already there (a concurrent
/// duplicate won the race): the caller rolls back and treats it as a duplicate.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    conn: &mut PgConnection,
    event_id: Uuid,
    document_type: &str,
    school_id: &str,
    occurred_at: DateTime<FixedOffset>,
    payload_sha256: &str,
    payload: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO events (event_id, document_type, school_id, occurred_at, payload_sha256, payload)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(document_type)
    .bind(school_id)
    .bind(occurred_at)
    .bind(payload_sha256)
    .bind(payload)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
