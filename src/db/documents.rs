//! The one writer of `documents`: the event, its routed and rendered document, its
//! planned deliveries and (when archived) its archive-queue row, in ONE statement
//! ([`insert`]); and a document reproduced by the archive staff ([`replace`]). Both
//! write the decision's and the PDF's columns through [`bind_decision`], so the
//! column list and its binds exist once. Readers of one document for the
//! dashboard: [`school_and_access`], [`pdf`].
//!
//! One statement instead of a transaction of six: one round trip and one commit per
//! event, and atomic all the same (a statement is its own transaction). The event's
//! primary key makes it idempotent: when the event row exists already, nothing else
//! is written and `false` is returned.

use chrono::{DateTime, FixedOffset};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres};
use uuid::Uuid;

use crate::document::RenderedPdf;
use crate::document::RoutingDecision;

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
    let (recipients, channels): (Vec<String>, Vec<String>) = d.deliveries.into_iter().unzip();
    let query = sqlx::query(
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
    .bind(d.title);
    // $8 … $21: the decision and the PDF.
    let inserted: i64 = bind_decision(query, decision, d.pdf)
        .bind(recipients)
        .bind(channels)
        .fetch_one(pool)
        .await
        .and_then(|row| sqlx::Row::try_get(&row, 0))?;
    Ok(inserted == 1)
}

/// The decision's and the PDF's 14 columns of `documents`, bound in this order
/// after the parameters already bound: `rule_id, rules_version, channel,
/// archive_policy, archived, folder, access, legal_basis, journal_post_type,
/// journal_status, decision, pdf, pdf_sha256, pdf_pages`.
fn bind_decision<'q>(
    query: Query<'q, Postgres, PgArguments>,
    decision: &'q RoutingDecision,
    pdf: Option<&'q RenderedPdf>,
) -> Query<'q, Postgres, PgArguments> {
    let decision_json = serde_json::to_value(decision).unwrap_or(serde_json::Value::Null);
    query
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
        .bind(pdf.map(|p| p.bytes.as_slice()))
        .bind(pdf.map(|p| p.sha256.as_str()))
        .bind(pdf.map(|p| p.pages as i32))
}

/// Replaces the stored document of `event_id` with a reproduced one (same event,
/// today's decision and PDF), inside the caller's transaction. `Ok(false)` when
/// there is no such document.
pub async fn replace(
    conn: &mut PgConnection,
    event_id: Uuid,
    decision: &RoutingDecision,
    pdf: Option<&RenderedPdf>,
) -> Result<bool, sqlx::Error> {
    let query = sqlx::query(
        "UPDATE documents SET rule_id = $2, rules_version = $3, channel = $4, archive_policy = $5,
                archived = $6, folder = $7, access = $8, legal_basis = $9, journal_post_type = $10,
                journal_status = $11, decision = $12, pdf = $13, pdf_sha256 = $14, pdf_pages = $15
          WHERE event_id = $1",
    )
    .bind(event_id);
    let done = bind_decision(query, decision, pdf).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// The school and access (`public` / `UO`) of a stored document.
pub async fn school_and_access(
    pool: &PgPool,
    event_id: Uuid,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT school_id, access FROM documents WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(pool)
        .await
}

/// The school, access and PDF (if one was rendered) of a stored document.
pub async fn pdf(
    pool: &PgPool,
    event_id: Uuid,
) -> Result<Option<(String, String, Option<Vec<u8>>)>, sqlx::Error> {
    sqlx::query_as("SELECT school_id, access, pdf FROM documents WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(pool)
        .await
}
