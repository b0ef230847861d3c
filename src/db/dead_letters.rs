//! Queries on `dead_letters`: a counted record of every dead-lettered message.
//! The message itself, with its reason headers, is in the dead-letter queue.

use sqlx::PgPool;
use uuid::Uuid;

pub async fn record(
    pool: &PgPool,
    event_id: Option<Uuid>,
    reason_code: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO dead_letters (event_id, reason_code, reason) VALUES ($1, $2, $3)")
        .bind(event_id)
        .bind(reason_code)
        .bind(reason)
        .execute(pool)
        .await?;
    Ok(())
}
