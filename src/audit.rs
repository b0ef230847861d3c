//! The audit log (revisjonslogg): every staff action and every authorization
//! decision, granted or refused, with who, when, which school and why.
//!
//! Input: an [`Actor`], a stable action verb (`archive.retry`, `sms.send`, …), the
//! target (an event id, a school id) and the outcome. Output: one row in
//! `audit_log`. Callers that change data write the audit row in the same
//! transaction as the change ([`record_in`]), so an action is never done without
//! its record nor recorded without being done. Failure: the database error is
//! returned; the caller refuses the action rather than act unaudited.
//!
//! No personal data goes here beyond the user id: targets are ids, reasons are what
//! the user typed as the reason for the action.

use serde::Serialize;
use sqlx::{PgExecutor, PgPool};

use crate::access::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Granted,
    Refused,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Granted => "granted",
            Verdict::Refused => "refused",
        }
    }
}

/// One entry to write.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor: &'a Actor,
    pub school_id: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub outcome: Verdict,
    pub reason: Option<&'a str>,
    pub details: serde_json::Value,
}

/// Writes `entry` with `executor` (a transaction, to commit it with the change).
pub async fn record_in<'e, E: PgExecutor<'e>>(executor: E, entry: &Entry<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO audit_log (actor, role, school_id, action, target, outcome, reason, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&entry.actor.user)
    .bind(entry.actor.role.as_str())
    .bind(entry.school_id)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.outcome.as_str())
    .bind(entry.reason)
    .bind(&entry.details)
    .fetch_one(executor)
    .await
}

/// Writes `entry` on its own (for refusals and read-only decisions).
pub async fn record(pool: &PgPool, entry: &Entry<'_>) -> sqlx::Result<i64> {
    record_in(pool, entry).await
}

/// A refusal before there is an acting user: the caller is a registered client
/// (`klient:<name>`, role `klient`) or nobody known (`ukjent`, role `ingen`).
pub struct ClientRefusal<'a> {
    /// `(actor, role)`: `("klient:<name>", "klient")` or `("ukjent", "ingen")`.
    pub who: (&'a str, &'a str),
    pub school_id: Option<&'a str>,
    pub action: &'a str,
    pub target: &'a str,
    pub reason: &'a str,
    pub details: serde_json::Value,
}

/// Writes a [`ClientRefusal`] (outcome `refused`).
pub async fn record_client_refusal(pool: &PgPool, r: ClientRefusal<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor, role, school_id, action, target, outcome, reason, details)
         VALUES ($1, $2, $3, $4, $5, 'refused', $6, $7)",
    )
    .bind(r.who.0)
    .bind(r.who.1)
    .bind(r.school_id)
    .bind(r.action)
    .bind(r.target)
    .bind(r.reason)
    .bind(r.details)
    .execute(pool)
    .await?;
    Ok(())
}

/// An audit row as the API and the dashboard show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub role: String,
    pub school_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub details: serde_json::Value,
}

/// Filters for [`list`]; `None` means any. Newest first, keyset-paged by `before_id`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub school_id: Option<String>,
    /// Entries of any of these schools (the dashboard's scope for school roles).
    pub schools: Option<Vec<String>>,
    pub action_prefix: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub async fn list(pool: &PgPool, f: &Filter) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(
        "SELECT id, at, actor, role, school_id, action, target, outcome, reason, details
           FROM audit_log
          WHERE ($1::text IS NULL OR school_id = $1)
            AND ($2::text IS NULL OR action LIKE $2 || '%')
            AND ($3::text IS NULL OR actor = $3)
            AND ($4::text IS NULL OR target = $4)
            AND ($5::bigint IS NULL OR id < $5)
            AND ($7::text[] IS NULL OR school_id = ANY($7))
          ORDER BY id DESC
          LIMIT $6",
    )
    .bind(&f.school_id)
    .bind(&f.action_prefix)
    .bind(&f.actor)
    .bind(&f.target)
    .bind(f.before_id)
    .bind(if f.limit <= 0 { 100 } else { f.limit.min(1000) })
    .bind(&f.schools)
    .fetch_all(pool)
    .await
}
