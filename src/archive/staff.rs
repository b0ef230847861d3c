//! What archive staff do with the archive log: list, look at one document, retry
//! a failed transfer, re-produce a document, remove a row from the failed list.
//!
//! Stage: after the transfer (`klar` / `arkivert` / `feilet` rows exist). Input: an
//! [`Actor`] and the action's arguments. Output: rows read or changed; every change
//! is committed in ONE transaction together with its audit entry, and every refusal
//! (wrong role, other school) is audited too. Failure: [`StaffError`] — `Forbidden`
//! (403), `NotFound`, `Conflict` (the row is not in a state the action applies to),
//! `Invalid` (a missing reason), `Reproduce` (the stored event no longer routes or
//! renders: the message says why, in Norwegian), `Db`.
//!
//! Who may: `kommuneadmin` (all schools of its municipality), `skoleadmin`, `team`
//! and `rektor` (their schools), `system` (commands on the server). Everyone else:
//! nothing here. A document of a school outside the actor's answers like a
//! missing one (404), so ids of other schools' documents reveal nothing.
//! The HTTP API (`http::archive`) and the dashboard call these functions; access
//! is checked here, on the server, whatever the caller shows.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::ArchiveStatus;
use crate::access::{Actor, Role};
use crate::audit::{self, Entry, Verdict};
use crate::pipeline::{PipelineContext, ReproduceError};

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("{0}")]
    Forbidden(String),
    #[error("fant ikke dokumentet")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Reproduce(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Who may start a transfer outside the windows (`POST /api/archive/run-now`, the
/// dashboard's «Kjør overføring nå»): the municipal administrator only, since one
/// transfer sends the `klar` documents of every school.
pub fn may_run_now(role: Role) -> bool {
    matches!(role, Role::Kommuneadmin)
}

/// Starts a transfer now for `actor` (see [`may_run_now`]), through `client`, on
/// the transfer's connections `transfer_pool`. The refusal and the run (with its
/// counts) are written to the audit log on `pool`; the run to `transfer_runs`.
pub async fn run_now(
    pool: &PgPool,
    transfer_pool: &PgPool,
    client: std::sync::Arc<dyn super::client::ArchiveClient>,
    opts: &super::transfer::TransferOptions,
    actor: &Actor,
) -> Result<super::transfer::RunSummary, StaffError> {
    if !may_run_now(actor.role) {
        let reason = "Bare kommuneadmin kan starte en overføring utenom tidsvinduene.";
        audit::record(
            pool,
            &Entry {
                actor,
                school_id: None,
                action: "archive.run_now",
                target: None,
                outcome: Verdict::Refused,
                reason: Some(reason),
                details: serde_json::json!({}),
            },
        )
        .await?;
        return Err(StaffError::Forbidden(reason.into()));
    }
    let summary = super::schedule::run_and_log(
        transfer_pool,
        client,
        opts,
        super::schedule::RunKind::RunNow,
        None,
        &super::schedule::SystemClock,
    )
    .await
    .map_err(|e| match e {
        super::transfer::TransferRunError::Db(e) => StaffError::Db(e),
    })?;
    audit::record(
        pool,
        &Entry {
            actor,
            school_id: None,
            action: "archive.run_now",
            target: None,
            outcome: Verdict::Granted,
            reason: None,
            details: serde_json::json!(summary),
        },
    )
    .await?;
    Ok(summary)
}

/// A date filter as staff type it (`ÅÅÅÅ-MM-DD`; empty means none).
pub fn parse_day(s: Option<&str>) -> Result<Option<NaiveDate>, StaffError> {
    s.filter(|s| !s.is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| StaffError::Invalid("Datoer skrives ÅÅÅÅ-MM-DD.".into()))
        })
        .transpose()
}

/// A document's id from a path; anything else is a document that does not exist.
pub fn parse_event_id(raw: &str) -> Result<Uuid, StaffError> {
    raw.parse().map_err(|_| StaffError::NotFound)
}

/// Whether `role` may see and act on the archive log at all.
pub fn may_watch(role: Role) -> bool {
    matches!(
        role,
        Role::Kommuneadmin | Role::Skoleadmin | Role::Team | Role::Rektor | Role::System
    )
}

/// Whether `actor` may read the archive log's reports (deadlines, audit log) of
/// `school_id`, or of all schools when `None` (municipal roles only).
pub fn may_read(actor: &Actor, school_id: Option<&str>) -> bool {
    may_watch(actor.role)
        && match school_id {
            Some(s) => actor.covers_school(s),
            None => actor.role.is_municipal(),
        }
}

/// Checks `actor` against `school_id` (None: a listing across the actor's schools)
/// and audits a refusal.
async fn authorize(
    pool: &PgPool,
    actor: &Actor,
    school_id: Option<&str>,
    action: &str,
    target: Option<&str>,
) -> Result<(), StaffError> {
    let why = if !may_watch(actor.role) {
        Some(format!(
            "Rollen «{}» har ikke tilgang til arkivloggen.",
            actor.role
        ))
    } else {
        match school_id {
            Some(s) if !crate::access::covers_in_db(pool, actor, s).await? => {
                Some(format!("Du har ikke tilgang til skolen «{s}»."))
            }
            _ => None,
        }
    };
    match why {
        None => Ok(()),
        Some(reason) => {
            audit::record(
                pool,
                &Entry {
                    actor,
                    school_id,
                    action,
                    target,
                    outcome: Verdict::Refused,
                    reason: Some(&reason),
                    details: serde_json::json!({}),
                },
            )
            .await?;
            Err(StaffError::Forbidden(reason))
        }
    }
}

/// Filters of the list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<ArchiveStatus>,
    pub school_id: Option<String>,
    pub document_type: Option<String>,
    /// Queued on or after this date (UTC).
    pub from: Option<NaiveDate>,
    /// Queued on or before this date (UTC).
    pub to: Option<NaiveDate>,
    /// Free text on the title (case-insensitive).
    pub text: Option<String>,
    /// Include rows removed from the failed list (default: hidden).
    pub include_dismissed: bool,
    /// The `next` of the previous page.
    pub cursor: Option<Cursor>,
    /// Page size, 1–500 (default 50).
    pub limit: i64,
}

/// A keyset position: the last row's (queued_at, event_id). Pages are stable under
/// inserts and cost the same at row 1,000,000 as at row 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub queued_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.queued_at.timestamp_micros(), self.event_id)
    }
    pub fn decode(s: &str) -> Result<Cursor, StaffError> {
        let bad = || StaffError::Invalid("ugyldig sidemarkør (cursor)".into());
        let (micros, id) = s.split_once('_').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        Ok(Cursor {
            queued_at: DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
            event_id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// The columns of a [`ListItem`] and the joins they need (a macro, so the queries
/// stay `&'static str` through `concat!`).
macro_rules! list_item_select {
    () => {
        "SELECT q.event_id, q.status, q.school_id, q.document_type, d.title, q.queued_at,
                q.updated_at, q.attempts, q.journal_year, q.journal_sequence, q.error_class,
                q.error_explanation, q.dismissed_at, e.payload #>> '{pupil,name}' AS pupil_name,
                (SELECT array_agg(r ->> 'name') FILTER (WHERE r ->> 'name' IS NOT NULL)
                   FROM jsonb_array_elements(CASE jsonb_typeof(e.payload -> 'recipients')
                        WHEN 'array' THEN e.payload -> 'recipients' ELSE '[]'::jsonb END) r)
                  AS recipient_names,
                e.payload #>> '{municipality,number}' AS municipality_number
           FROM archive_queue q JOIN documents d ON d.event_id = q.event_id
           JOIN events e ON e.event_id = q.event_id"
    };
}

/// One row of the archive log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ListItem {
    pub event_id: Uuid,
    pub status: ArchiveStatus,
    pub school_id: String,
    pub document_type: String,
    pub title: String,
    pub queued_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attempts: i32,
    pub journal_year: Option<i32>,
    pub journal_sequence: Option<i32>,
    pub error_class: Option<String>,
    pub error_explanation: Option<String>,
    pub dismissed_at: Option<DateTime<Utc>>,
    /// Only to mask the title: never serialised.
    #[serde(skip)]
    pub pupil_name: Option<String>,
    /// The recipients' (guardians') names, also only to mask the title.
    #[serde(skip)]
    pub recipient_names: Option<Vec<String>>,
    /// The event's municipality: whose the document is (never serialised).
    #[serde(skip)]
    pub municipality_number: Option<String>,
}

impl ListItem {
    /// School systems put the pupil's name in titles; staff lists show initials.
    fn masked(mut self) -> ListItem {
        let mut names: Vec<String> = self.pupil_name.take().into_iter().collect();
        names.extend(self.recipient_names.take().unwrap_or_default());
        self.title = mask_names(self.title, &names);
        self
    }
}

/// `title` with the pupil's `name` replaced by initials (school systems put the
/// name in titles; staff pages show initials). Every part of the name is masked,
/// wherever it stands: the whole name becomes its initials ("Kari Anne Nordmann
/// Berg" → "K.A.N.B."), and any part on its own ("Berg", "Anne" of "Anne-Lise",
/// in any case) becomes its initial, as a whole word only.
/// `title` with every part of every one of `names` (the pupil's and the
/// guardians' in the event) masked as [`mask_name`] does, also in the genitive
/// ("Sofies", "Jonas’").
pub fn mask_names<S: AsRef<str>>(title: String, names: &[S]) -> String {
    names
        .iter()
        .fold(title, |t, n| mask_name(t, Some(n.as_ref())))
}

pub fn mask_name(title: String, name: Option<&str>) -> String {
    let Some(n) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return title;
    };
    let whole = n.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = title.replace(&whole, &initials(&whole));
    // Parts of two letters or more (a single letter already is an initial).
    let parts: Vec<String> = crate::text::name_parts(n).collect();
    crate::text::map_words(&title, |word| {
        let lower = word.to_lowercase();
        // The genitive: «Sofies», «Bergs».
        let genitive = lower
            .strip_suffix('s')
            .is_some_and(|stem| parts.iter().any(|p| p == stem));
        (parts.contains(&lower) || genitive).then(|| initials(word))
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub items: Vec<ListItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// The schools a listing may cover: `None` = all (municipal roles).
pub fn school_scope(actor: &Actor, requested: Option<&str>) -> Option<Vec<String>> {
    match requested {
        Some(s) => Some(vec![s.to_string()]),
        None if actor.role.is_municipal() => None,
        None => Some(actor.schools.clone()),
    }
}

pub async fn list(pool: &PgPool, actor: &Actor, q: &ListQuery) -> Result<Page, StaffError> {
    authorize(pool, actor, q.school_id.as_deref(), "archive.list", None).await?;
    let limit = if q.limit <= 0 { 50 } else { q.limit.min(500) };
    let schools = school_scope(actor, q.school_id.as_deref());
    // The days staff type are Oslo days (DOMAIN: dates are local).
    let (from, to) = crate::calendar::oslo_day_range(q.from, q.to);
    let text = q
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| format!("%{}%", t.replace('\\', "\\\\").replace(['%', '_'], "\\$0")));
    let mut items: Vec<ListItem> = sqlx::query_as(concat!(
        list_item_select!(),
        "
          WHERE ($1::archive_status IS NULL OR q.status = $1)
            AND ($2::text[] IS NULL OR q.school_id = ANY($2))
            AND ($3::text IS NULL OR q.document_type = $3)
            AND ($4::timestamptz IS NULL OR q.queued_at >= $4)
            AND ($5::timestamptz IS NULL OR q.queued_at < $5)
            AND ($6::text IS NULL OR d.title ILIKE $6)
            AND ($7 OR q.dismissed_at IS NULL)
            AND ($8::timestamptz IS NULL OR (q.queued_at, q.event_id) < ($8, $9))
            AND ($11::text IS NULL OR e.payload #>> '{municipality,number}' = $11)
          ORDER BY q.queued_at DESC, q.event_id DESC
          LIMIT $10"
    ))
    .bind(q.status)
    .bind(schools)
    .bind(&q.document_type)
    .bind(from)
    .bind(to)
    .bind(text)
    .bind(q.include_dismissed)
    .bind(q.cursor.map(|c| c.queued_at))
    .bind(q.cursor.map(|c| c.event_id))
    .bind(limit + 1)
    .bind(&actor.municipality_number)
    .fetch_all(pool)
    .await?;
    let next = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|l| {
            Cursor {
                queued_at: l.queued_at,
                event_id: l.event_id,
            }
            .encode()
        })
    } else {
        None
    };
    let items = items.into_iter().map(ListItem::masked).collect();
    Ok(Page { items, next })
}

/// Rows per status within the actor's schools (the tab counts), dismissed excluded.
pub async fn counts(
    pool: &PgPool,
    actor: &Actor,
    school_id: Option<&str>,
) -> Result<serde_json::Value, StaffError> {
    authorize(pool, actor, school_id, "archive.counts", None).await?;
    let rows: Vec<(ArchiveStatus, i64)> = sqlx::query_as(
        "SELECT q.status, count(*) FROM archive_queue q JOIN events e ON e.event_id = q.event_id
          WHERE ($1::text[] IS NULL OR q.school_id = ANY($1)) AND q.dismissed_at IS NULL
            AND ($2::text IS NULL OR e.payload #>> '{municipality,number}' = $2)
          GROUP BY q.status",
    )
    .bind(school_scope(actor, school_id))
    .bind(&actor.municipality_number)
    .fetch_all(pool)
    .await?;
    let mut out = serde_json::json!({ "klar": 0, "arkivert": 0, "feilet": 0 });
    for (s, n) in rows {
        out[s.as_str()] = n.into();
    }
    Ok(out)
}

/// One transfer attempt as staff see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Attempt {
    pub run_id: Uuid,
    pub attempt: i32,
    pub target: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: String,
    pub error_class: Option<String>,
    /// The archive's answer verbatim (receipt or error message).
    pub answer: Option<String>,
}

/// Everything about one archive row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Detail {
    #[serde(flatten)]
    pub item: ListItem,
    /// The pupil's initials only (the dashboard never shows the full name in lists).
    pub pupil_initials: Option<String>,
    pub access: String,
    pub legal_basis: Option<String>,
    pub folder: String,
    pub journal_post_number: Option<i32>,
    pub archive_journal_status: Option<String>,
    pub receipt_existing: Option<bool>,
    /// The archive's last answer, verbatim.
    pub receipt: Option<String>,
    pub dismissed_by: Option<String>,
    pub dismissed_reason: Option<String>,
    pub reproduced: i32,
    pub attempts_log: Vec<Attempt>,
}

/// Initials of a name: "Kari Nordmann Ødegård" → "K.N.Ø.".
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .flat_map(|c| c.to_uppercase().chain(std::iter::once('.')))
        .collect()
}

type DetailRow = (
    Option<String>,
    String,
    Option<String>,
    String,
    Option<i32>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<String>,
    i32,
);

pub async fn show(pool: &PgPool, actor: &Actor, event_id: Uuid) -> Result<Detail, StaffError> {
    let item = load_authorized(pool, actor, event_id, "archive.show").await?;
    let row: DetailRow = sqlx::query_as(
        "SELECT e.payload #>> '{pupil,name}', d.access, d.legal_basis, q.folder,
                q.journal_post_number, q.archive_journal_status, q.receipt_existing, q.receipt,
                q.dismissed_by, q.dismissed_reason, q.reproduced
           FROM archive_queue q JOIN documents d ON d.event_id = q.event_id
           JOIN events e ON e.event_id = q.event_id
          WHERE q.event_id = $1",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await?;
    let attempts_log: Vec<Attempt> = sqlx::query_as(
        "SELECT run_id, attempt, target, started_at, finished_at, outcome, error_class, answer
           FROM transfer_attempts WHERE event_id = $1 ORDER BY id",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await?;
    Ok(Detail {
        item: item.masked(),
        pupil_initials: row.0.as_deref().map(initials),
        access: row.1,
        legal_basis: row.2,
        folder: row.3,
        journal_post_number: row.4,
        archive_journal_status: row.5,
        receipt_existing: row.6,
        receipt: row.7,
        dismissed_by: row.8,
        dismissed_reason: row.9,
        reproduced: row.10,
        attempts_log,
    })
}

/// The document `event_id` if `actor` may act on it. A role without access is
/// refused (403) before anything is read; a document of a school (or
/// municipality) outside the actor's answers exactly like a missing one (404),
/// and that refusal is audited.
async fn load_authorized(
    pool: &PgPool,
    actor: &Actor,
    event_id: Uuid,
    action: &str,
) -> Result<ListItem, StaffError> {
    let target = event_id.to_string();
    authorize(pool, actor, None, action, Some(&target)).await?;
    let item = load_item(pool, event_id).await?;
    if !actor.covers(&item.school_id, item.municipality_number.as_deref()) {
        audit::record(
            pool,
            &Entry {
                actor,
                school_id: Some(&item.school_id),
                action,
                target: Some(&target),
                outcome: Verdict::Refused,
                reason: Some("Dokumentet hører til en skole brukeren ikke har tilgang til."),
                details: serde_json::json!({}),
            },
        )
        .await?;
        return Err(StaffError::NotFound);
    }
    Ok(item)
}

async fn load_item(pool: &PgPool, event_id: Uuid) -> Result<ListItem, StaffError> {
    sqlx::query_as(concat!(list_item_select!(), " WHERE q.event_id = $1"))
        .bind(event_id)
        .fetch_optional(pool)
        .await?
        .ok_or(StaffError::NotFound)
}

/// «Prøv igjen»: a `feilet` row back to `klar` for the next transfer.
pub async fn retry(pool: &PgPool, actor: &Actor, event_id: Uuid) -> Result<(), StaffError> {
    let item = load_authorized(pool, actor, event_id, "archive.retry").await?;
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE archive_queue SET status = 'klar', claimed_by = NULL, claimed_until = NULL,
                error_class = NULL, error_explanation = NULL, dismissed_at = NULL,
                dismissed_by = NULL, dismissed_reason = NULL, updated_at = now()
          WHERE event_id = $1 AND status = 'feilet'",
    )
    .bind(event_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StaffError::Conflict(format!(
            "Dokumentet har status «{}»; bare dokumenter med status «feilet» kan prøves igjen.",
            item.status.as_str()
        )));
    }
    granted(
        &mut tx,
        actor,
        &item,
        "archive.retry",
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// «Fjern fra feilet-listen»: allowed once the document is archived, or for a
/// `feilet` row with a written reason. The row and its history stay.
pub async fn remove_from_failed(
    pool: &PgPool,
    actor: &Actor,
    event_id: Uuid,
    reason: Option<&str>,
) -> Result<(), StaffError> {
    let item = load_authorized(pool, actor, event_id, "archive.remove_failed").await?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match (item.status, reason) {
        (ArchiveStatus::Klar, _) => {
            return Err(StaffError::Conflict(
                "Dokumentet står i kø (klar) og er ikke på feilet-listen.".into(),
            ))
        }
        (ArchiveStatus::Feilet, None) => return Err(StaffError::Invalid(
            "Dokumentet er ikke arkivert. Skriv en begrunnelse for å fjerne det fra feilet-listen."
                .into(),
        )),
        _ => {}
    }
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE archive_queue SET dismissed_at = now(), dismissed_by = $2, dismissed_reason = $3,
                updated_at = now()
          WHERE event_id = $1 AND status = $4",
    )
    .bind(event_id)
    .bind(&actor.user)
    .bind(reason)
    .bind(item.status)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StaffError::Conflict(
            "Dokumentet ble endret samtidig; last siden på nytt.".into(),
        ));
    }
    granted(
        &mut tx,
        actor,
        &item,
        "archive.remove_failed",
        reason,
        serde_json::json!({ "status": item.status.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// «Produser på nytt»: routes and renders the stored event again with today's
/// routing table and templates (after a fix), replaces the stored document and
/// sets the row `klar`. The event id is the same, so the archive still sees one
/// journal post. Not for an `arkivert` document (the archive has it).
pub async fn reproduce(
    ctx: &PipelineContext,
    actor: &Actor,
    event_id: Uuid,
) -> Result<(), StaffError> {
    let pool = &ctx.pool;
    let item = load_authorized(pool, actor, event_id, "archive.reproduce").await?;
    if item.status == ArchiveStatus::Arkivert {
        return Err(StaffError::Conflict(
            "Dokumentet er allerede arkivert og kan ikke produseres på nytt her.".into(),
        ));
    }
    let payload = crate::db::events::payload(pool, event_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let body = serde_json::to_vec(&payload).map_err(|e| StaffError::Reproduce(e.to_string()))?;
    let table = ctx.rules.current();
    let renderer = ctx.renderer.clone();
    let reproduced =
        tokio::task::spawn_blocking(move || crate::pipeline::reproduce(&body, &table, &renderer))
            .await
            // A panic message can quote the text being laid out: never passed on.
            .map_err(|_| StaffError::Reproduce("Dokumentet kunne ikke produseres.".into()))?
            .map_err(|e| {
                StaffError::Reproduce(match e {
                    ReproduceError::Invalid(e) => {
                        format!("Den lagrede hendelsen er ikke gyldig lenger: {e}")
                    }
                    ReproduceError::Rejected(r) => {
                        format!("Rutingstabellen avviser dokumentet: {r}")
                    }
                    ReproduceError::Render(e) => format!("Dokumentet kunne ikke produseres: {e}"),
                })
            })?;
    let decision = reproduced.routed.decision();
    if !decision.archived {
        return Err(StaffError::Reproduce(
            "Etter dagens rutingstabell skal dokumentet ikke arkiveres; det er ikke endret.".into(),
        ));
    }
    // Archived, so the pipeline makes its PDF too (`RoutedDocument::needs_pdf`).
    let pdf = Some(&reproduced.pdf);
    let mut tx = pool.begin().await?;
    crate::db::documents::replace(&mut tx, event_id, decision, pdf).await?;
    let changed = sqlx::query(
        "UPDATE archive_queue SET status = 'klar', claimed_by = NULL, claimed_until = NULL,
                folder = COALESCE($2, folder), error_class = NULL, error_explanation = NULL,
                dismissed_at = NULL, dismissed_by = NULL, dismissed_reason = NULL,
                reproduced = reproduced + 1, updated_at = now()
          WHERE event_id = $1 AND status <> 'arkivert'",
    )
    .bind(event_id)
    .bind(decision.folder.map(|f| f.as_str()))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StaffError::Conflict(
            "Dokumentet ble arkivert samtidig; det er ikke endret.".into(),
        ));
    }
    granted(
        &mut tx,
        actor,
        &item,
        "archive.reproduce",
        None,
        serde_json::json!({
            "rules_version": decision.rules_version,
            "pdf_sha256": pdf.map(|p| p.sha256.clone()),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn granted(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    item: &ListItem,
    action: &str,
    reason: Option<&str>,
    details: serde_json::Value,
) -> Result<(), StaffError> {
    let target = item.event_id.to_string();
    audit::record_in(
        &mut *tx,
        &Entry {
            actor,
            school_id: Some(&item.school_id),
            action,
            target: Some(&target),
            outcome: Verdict::Granted,
            reason,
            details,
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let c = Cursor {
            queued_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).expect("time"),
            event_id: Uuid::nil(),
        };
        assert_eq!(Cursor::decode(&c.encode()).expect("decodes"), c);
        assert!(Cursor::decode("x_y").is_err());
        assert!(Cursor::decode("123").is_err());
    }

    #[test]
    fn every_part_of_a_name_is_masked() {
        let name = "Kari Anne Nordmann Berg";
        for (title, want) in [
            (
                "Varsel om fare for nedsatt orden – Kari Anne Nordmann Berg",
                "Varsel om fare for nedsatt orden – K.A.N.B.",
            ),
            // Parts on their own, in another order or case.
            ("Fravær for Kari Berg (8B)", "Fravær for K. B. (8B)"),
            ("Melding til NORDMANN BERG, Anne", "Melding til N. B., A."),
            ("Bergen kommune – vurdering", "Bergen kommune – vurdering"),
        ] {
            let masked = mask_name(title.to_string(), Some(name));
            assert_eq!(masked, want);
            for part in name.split_whitespace() {
                assert!(
                    !masked
                        .to_lowercase()
                        .split(|c: char| !c.is_alphanumeric())
                        .any(|w| w == part.to_lowercase()),
                    "{part} left in {masked}"
                );
            }
        }
        assert_eq!(
            mask_name("Til Anne-Lise Øvre".into(), Some("Anne-Lise  Øvre")),
            "Til A.Ø."
        );
        assert_eq!(
            mask_name("Brev om Lise".into(), Some("Anne-Lise Øvre")),
            "Brev om L."
        );
        assert_eq!(mask_name("Uten navn".into(), None), "Uten navn");
        // The example events' names: the pupil's and the guardians', any part,
        // in the genitive too.
        let names = ["Jonas Berg Nilsen", "Marianne Berg", "Kristoffer Nilsen"];
        for (title, want) in [
            (
                "Innkalling til møte om Jonas’ skolehverdag",
                "Innkalling til møte om J.’ skolehverdag",
            ),
            ("Samtale med Marianne om Jonas", "Samtale med M. om J."),
            ("Kristoffers søknad", "K. søknad"),
            ("Bergen kommune", "Bergen kommune"),
        ] {
            assert_eq!(mask_names(title.to_string(), &names), want);
        }
        assert_eq!(
            mask_names(
                "Glemt gymtøy – Sofie".to_string(),
                &["Sofie Lie", "Silje Lie"]
            ),
            "Glemt gymtøy – S."
        );
    }

    #[test]
    fn initials_of_names() {
        assert_eq!(initials("Kari Nordmann Ødegård"), "K.N.Ø.");
        assert_eq!(initials("  ánne  "), "Á.");
        assert_eq!(initials(""), "");
    }

    #[test]
    fn only_archive_roles_watch() {
        assert!(may_watch(Role::Team));
        assert!(may_watch(Role::Kommuneadmin));
        assert!(!may_watch(Role::Laerer));
        assert!(!may_watch(Role::Foresatt));
        assert!(!may_watch(Role::Skoleeier));
    }
}
