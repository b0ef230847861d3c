//! What the school sees of its deliveries: each delivery of an event with its
//! status history, and a recipient's in-app messages (read by `http::deliveries`).
//!
//! Input: an event id, or a recipient id with the calling client's schools and
//! municipality. Output: rows as stored (`deliveries`, `delivery_status_history`,
//! `messages`, which this module's channels write). Failure: `sqlx::Error`; the
//! caller answers 503.

use sqlx::PgPool;
use uuid::Uuid;

/// One in-app message: id, event id, school, kind, subject, body, whether a
/// document is attached, created at.
pub type MessageRow = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    bool,
    chrono::DateTime<chrono::Utc>,
);

/// One delivery: id, recipient id, channel, status, provider reference, provider
/// status, error class, explanation, attempts.
pub type DeliveryRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i32,
);

/// One status change: delivery id, status, provider status, error class, detail, at.
pub type HistoryRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    chrono::DateTime<chrono::Utc>,
);

/// The recipient's newest in-app messages (at most 500) in `municipality`,
/// of `schools` (`None`: every school).
pub async fn messages_of(
    pool: &PgPool,
    recipient: &str,
    schools: Option<Vec<String>>,
    municipality: &str,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.id, m.event_id, m.school_id, m.kind, m.subject, m.body, m.has_document,
                m.created_at
           FROM messages m JOIN events e ON e.event_id = m.event_id
          WHERE m.recipient_id = $1
            AND ($2::text[] IS NULL OR m.school_id = ANY($2))
            AND e.payload #>> '{municipality,number}' = $3
          ORDER BY m.created_at DESC, m.id LIMIT 500",
    )
    .bind(recipient)
    .bind(schools)
    .bind(municipality)
    .fetch_all(pool)
    .await
}

/// Every delivery of an event, and their status histories (oldest first).
pub async fn deliveries_of(
    pool: &PgPool,
    event_id: Uuid,
) -> Result<(Vec<DeliveryRow>, Vec<HistoryRow>), sqlx::Error> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT id, recipient_id, channel, status, provider_ref, provider_status, error_class,
                error_explanation, attempts
         FROM deliveries WHERE event_id = $1 ORDER BY id",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let history: Vec<HistoryRow> = sqlx::query_as(
        "SELECT delivery_id, status, provider_status, error_class, detail, at
         FROM delivery_status_history WHERE delivery_id = ANY($1) ORDER BY id",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok((rows, history))
}
