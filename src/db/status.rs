//! Read-only counts for `dokflyt status`, `/api/status` and the demo.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// Counts per pipeline stage and per archive status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StatusCounts {
    /// Events accepted (validated, routed and committed).
    pub events: i64,
    /// Documents with a rendered PDF.
    pub rendered: i64,
    /// Deliveries planned per channel, not yet sent.
    pub deliveries_planned: i64,
    /// Archive queue per status.
    pub klar: i64,
    pub arkivert: i64,
    pub feilet: i64,
    /// Dead-lettered messages per reason code.
    pub dead_lettered: Vec<(String, i64)>,
}

pub async fn counts(pool: &PgPool) -> Result<StatusCounts, sqlx::Error> {
    let (events, rendered, deliveries_planned): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events),
                (SELECT count(*) FROM documents WHERE pdf_sha256 IS NOT NULL),
                (SELECT count(*) FROM deliveries WHERE status = 'planned')",
    )
    .fetch_one(pool)
    .await?;
    let mut c = StatusCounts {
        events,
        rendered,
        deliveries_planned,
        ..StatusCounts::default()
    };
    let per_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status::text, count(*) FROM archive_queue GROUP BY status")
            .fetch_all(pool)
            .await?;
    for (status, n) in per_status {
        match status.as_str() {
            "klar" => c.klar = n,
            "arkivert" => c.arkivert = n,
            "feilet" => c.feilet = n,
            _ => {}
        }
    }
    c.dead_lettered = sqlx::query_as(
        "SELECT reason_code, count(*) FROM dead_letters GROUP BY reason_code ORDER BY reason_code",
    )
    .fetch_all(pool)
    .await?;
    Ok(c)
}

/// What happened to one event, for the demo and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFate {
    /// Committed: the decision's channel, whether archived (and the archive status).
    Processed {
        channel: String,
        archive_status: Option<String>,
        pdf_pages: Option<i32>,
    },
    DeadLettered {
        reason_code: String,
        reason: String,
    },
    Unknown,
}

pub async fn fate(pool: &PgPool, event_id: Uuid) -> Result<EventFate, sqlx::Error> {
    let processed: Option<(String, Option<String>, Option<i32>)> = sqlx::query_as(
        "SELECT d.channel, a.status::text, d.pdf_pages
           FROM documents d LEFT JOIN archive_queue a USING (event_id)
          WHERE d.event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(pool)
    .await?;
    if let Some((channel, archive_status, pdf_pages)) = processed {
        return Ok(EventFate::Processed {
            channel,
            archive_status,
            pdf_pages,
        });
    }
    let dead: Option<(String, String)> = sqlx::query_as(
        "SELECT reason_code, reason FROM dead_letters WHERE event_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(event_id)
    .fetch_optional(pool)
    .await?;
    Ok(match dead {
        Some((reason_code, reason)) => EventFate::DeadLettered {
            reason_code,
            reason,
        },
        None => EventFate::Unknown,
    })
}
