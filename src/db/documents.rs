//! Queries on `documents` (the routed, rendered document of an event) and
//! `deliveries` (who is to receive it on which channel).

use sqlx::PgConnection;
use uuid::Uuid;

use crate::render::RenderedPdf;
use crate::rules::RoutingDecision;

/// Stores the document with its decision and, when rendered, its PDF and SHA-256.
pub async fn insert(
    conn: &mut PgConnection,
    event_id: Uuid,
    school_id: &str,
    title: &str,
    decision: &RoutingDecision,
    pdf: Option<&RenderedPdf>,
) -> Result<(), sqlx::Error> {
    let decision_json = serde_json::to_value(decision).unwrap_or(serde_json::Value::Null);
    sqlx::query(
        "INSERT INTO documents (event_id, document_type, school_id, title, rule_id, rules_version,
            channel, archive_policy, archived, folder, access, legal_basis, journal_post_type,
            journal_status, decision, pdf, pdf_sha256, pdf_pages)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
    )
    .bind(event_id)
    .bind(decision.document_type.key())
    .bind(school_id)
    .bind(title)
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
    .execute(conn)
    .await?;
    Ok(())
}

/// Records one planned delivery (sent by the channel workers of later stages).
pub async fn insert_delivery(
    conn: &mut PgConnection,
    event_id: Uuid,
    recipient_id: &str,
    channel: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO deliveries (event_id, recipient_id, channel) VALUES ($1, $2, $3)
         ON CONFLICT (event_id, recipient_id, channel) DO NOTHING",
    )
    .bind(event_id)
    .bind(recipient_id)
    .bind(channel)
    .execute(conn)
    .await?;
    Ok(())
}
