//! Queries that write a document: the event, its routed and rendered document, its
//! planned deliveries and (when archived) its archive-queue row, in ONE statement.
//!
//! One statement instead of a transaction of six: one round trip and one commit per
//! event, and atomic all the same (a statement is its own transaction). The event's
//! primary key makes it idempotent: when the event row exists already, nothing else
//! is written and `false` is returned.

use chrono::{DateTime, FixedOffset};
use sqlx::PgPool;
use uuid::Uuid;

use crate::render::RenderedPdf;
use crate::rules::RoutingDecision;

/// Everything one event writes.
pub struct NewDocument<'a> {
    pub event_id: Uuid,
    pub school_id: &'a str,
    pub occurred_at: DateTime<FixedOffset>,
    pub payload_sha256: &'a str,
    pub payload: &'a serde_json::Value,
    pub title: &'a str,
    pub decision: &'a RoutingDecision,
    pub pdf: Option<&'a RenderedPdf>,
    /// (recipient id, channel) per planned delivery.
    pub deliveries: Vec<(String, String)>,
}

/// Writes it all; `Ok(false)` when the event was committed before (a duplicate).
pub async fn insert(pool: &PgPool, d: NewDocument<'_>) -> Result<bool, sqlx::Error> {
    let decision = d.decision;
    let decision_json = serde_json::to_value(decision).unwrap_or(serde_json::Value::Null);
    let (recipients, channels): (Vec<String>, Vec<String>) = d.deliveries.into_iter().unzip();
    let inserted: i64 = sqlx::query_scalar(
        "WITH e AS (
            INSERT INTO events (event_id, document_type, school_id, occurred_at, payload_sha256, payload)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id
         ), d AS (
            INSERT INTO documents (event_id, document_type, school_id, title, rule_id, rules_version,
                channel, archive_policy, archived, folder, access, legal_basis, journal_post_type,
                journal_status, decision, pdf, pdf_sha256, pdf_pages)
            SELECT event_id, $2, $3, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21
            FROM e
            RETURNING event_id
         ), dl AS (
            INSERT INTO deliveries (event_id, recipient_id, channel)
            SELECT d.event_id, r.recipient_id, r.channel
            FROM d, unnest($22::text[], $23::text[]) AS r(recipient_id, channel)
            ON CONFLICT (event_id, recipient_id, channel) DO NOTHING
         ), a AS (
            INSERT INTO archive_queue (event_id, status, folder, school_id, document_type)
            SELECT event_id, 'klar', COALESCE($13, 'pupil'), $3, $2 FROM d WHERE $12
         )
         SELECT count(*) FROM e",
    )
    .bind(d.event_id)
    .bind(decision.document_type.key())
    .bind(d.school_id)
    .bind(d.occurred_at)
    .bind(d.payload_sha256)
    .bind(d.payload)
    .bind(d.title)
    .bind(&decision.rule)
    .bind(&decision.rules_version)
    .bind(decision.channel.as_str())
    .bind(decision.archive.as_str())
    .bind(decision.archived)
    .bind(decision.folder.map(|f| f.as_str()))
    .bind(decision.access.as_str())
    .bind(&decision.legal_basis)
    .bind(format!("{:?}", decision.journal_post_type))
    .bind(format!("{:?}", decision.journal_status))
    .bind(decision_json)
    .bind(d.pdf.map(|p| p.bytes.as_slice()))
    .bind(d.pdf.map(|p| p.sha256.as_str()))
    .bind(d.pdf.map(|p| p.pages as i32))
    .bind(recipients)
    .bind(channels)
    .fetch_one(pool)
    .await?;
    Ok(inserted == 1)
}
