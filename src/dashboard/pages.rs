//! The dashboard's archive pages: Arkivlogg (tabs Klar / Arkivert / Feilet with
//! counts, filters, keyset paging, and for kommuneadmin «Kjør overføring nå»),
//! one document (attempts, receipts, actions), the PDF preview, Frister,
//! Utsendinger and Revisjonslogg.
//!
//! Input: a [`SignedIn`] user and the request's filters (ids, dates, statuses —
//! never personal data: the free-text search is posted and kept in the session).
//! Output: HTML pages and 303 redirects after actions. Failure: 403/404/409/422
//! pages from `archive::staff`'s decisions (refusals are audited there), 503 when
//! the database is down. Every action needs the session's CSRF token and a
//! confirmation step (`…/bekreft/{handling}`), and lands in the audit log.
//! Previewing a UO/sensitive document, and acting on one, also needs the
//! assurance level `[assurance.required]` names (preview_protected,
//! act_on_protected); below it the person is sent to a step-up sign-in
//! ([`super::stepup`]) and comes back to the page or confirmation they started.

use axum::extract::{Path, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Oslo;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::session::Pending;
use super::stepup::{require_level, signin_href, step_up};
use super::{guard_action, page, problem, refuse, unavailable, DashboardState, SignedIn};
use crate::access::{Actor, Role};
use crate::archive::staff::{self, Cursor, ListQuery, StaffError};
use crate::archive::ArchiveStatus;
use crate::assurance::Action;
use crate::audit::{self, Entry, Verdict};
use crate::event::DocumentType;

pub fn routes() -> Router<DashboardState> {
    Router::new()
        .route("/dashboard/arkivlogg", get(archive_log))
        .route("/dashboard/arkivlogg/sok", post(search).get(back_to_log))
        .route("/dashboard/arkivlogg/antall", get(live_counts))
        .route(
            "/dashboard/arkivlogg/overfor",
            post(run_transfer).get(back_to_log),
        )
        .route("/dashboard/dokument/{id}", get(document))
        .route("/dashboard/dokument/{id}/pdf", get(pdf))
        .route("/dashboard/dokument/{id}/bekreft/{action}", get(confirm))
        .route(
            "/dashboard/dokument/{id}/{action}",
            post(act).get(back_to_document),
        )
        .route("/dashboard/frister", get(deadlines))
        .route("/dashboard/utsendinger", get(deliveries))
        .route("/dashboard/revisjonslogg", get(audit_log))
}

/// A time as staff read it: Oslo time, `dd.mm.åååå tt:mm`.
pub fn oslo(t: DateTime<Utc>) -> String {
    t.with_timezone(&Oslo).format("%d.%m.%Y %H:%M").to_string()
}

/// `2026-12` → `desember 2026` (the input itself when it is not a month).
pub fn month_nb(month: &str) -> String {
    const NAMES: [&str; 12] = crate::text::MONTHS_NB;
    month
        .split_once('-')
        .and_then(|(y, m)| {
            let i: usize = m.parse().ok()?;
            Some(format!("{} {y}", NAMES.get(i.checked_sub(1)?)?))
        })
        .unwrap_or_else(|| month.to_string())
}

/// The response for a refused or failed staff call.
fn staff_error(state: &DashboardState, e: StaffError) -> Response {
    match e {
        StaffError::Forbidden(m) => problem(state, StatusCode::FORBIDDEN, "Ingen tilgang", &m),
        StaffError::NotFound => problem(
            state,
            StatusCode::NOT_FOUND,
            "Fant ikke dokumentet",
            "Dokumentet finnes ikke i arkivloggen.",
        ),
        StaffError::Conflict(m) => problem(state, StatusCode::CONFLICT, "Kan ikke gjøres nå", &m),
        StaffError::Invalid(m) | StaffError::Reproduce(m) => problem(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Kan ikke gjøres",
            &m,
        ),
        StaffError::Db(e) => {
            tracing::warn!(error = %e, "dashboard: database error");
            unavailable(state)
        }
    }
}

fn type_name(key: &str) -> String {
    key.parse::<DocumentType>()
        .map(|t| t.name_nb().to_string())
        .unwrap_or_else(|_| key.to_string())
}

/// The schools a user can pick in a filter, by name: their own, or for municipal
/// roles every school the roster or the archive log knows. `selected` (a school
/// in the user's scope) is always among them, so the dropdown shows the choice.
pub(crate) async fn school_choices(
    state: &DashboardState,
    actor: &Actor,
    selected: Option<&str>,
) -> Vec<(String, String)> {
    let mut ids: Vec<String> = if actor.role.is_municipal() {
        sqlx::query_scalar(
            "SELECT school_id FROM roster_schools WHERE NOT deleted
             UNION SELECT DISTINCT school_id FROM archive_queue
             UNION SELECT DISTINCT school_id FROM sms_messages",
        )
        .fetch_all(state.pool())
        .await
        .unwrap_or_default()
    } else {
        actor.schools.clone()
    };
    if let Some(s) = selected.filter(|s| !s.is_empty() && actor.covers_school(s)) {
        if !ids.iter().any(|i| i == s) {
            ids.push(s.to_string());
        }
    }
    let mut choices: Vec<(String, String)> = ids
        .into_iter()
        .map(|id| {
            let name = super::school_name(&state.school_names, &id);
            (id, name)
        })
        .collect();
    choices.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    choices.dedup_by(|a, b| a.0 == b.0);
    choices
}

#[derive(Debug, Deserialize, Default, Serialize, Clone)]
struct LogQuery {
    status: Option<String>,
    school: Option<String>,
    #[serde(rename = "type")]
    document_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

impl LogQuery {
    fn cleaned(self) -> LogQuery {
        let keep = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        LogQuery {
            status: keep(self.status),
            school: keep(self.school),
            document_type: keep(self.document_type),
            from: keep(self.from),
            to: keep(self.to),
            cursor: keep(self.cursor),
        }
    }

    fn to_query_string(&self) -> String {
        serde_urlencoded_pairs(&[
            ("status", self.status.as_deref()),
            ("school", self.school.as_deref()),
            ("type", self.document_type.as_deref()),
            ("from", self.from.as_deref()),
            ("to", self.to.as_deref()),
            ("cursor", self.cursor.as_deref()),
        ])
    }
}

fn serde_urlencoded_pairs(pairs: &[(&str, Option<&str>)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

#[derive(Serialize)]
struct Row {
    id: String,
    title: String,
    type_name: String,
    school_id: String,
    queued: String,
    updated: String,
    attempts: i32,
    status: String,
    journal: Option<String>,
    explanation: Option<String>,
}

/// The outcome of «Kjør overføring nå», shown once on the page it lands on.
#[derive(Debug, Deserialize, Default)]
struct RunFlash {
    overfort: Option<u64>,
    feilet_na: Option<u64>,
    stoppet: Option<u8>,
}

impl RunFlash {
    fn text(&self) -> Option<String> {
        let arkivert = self.overfort?;
        let feilet = self.feilet_na.unwrap_or(0);
        let mut t = format!("Overføringen er ferdig: {arkivert} arkivert, {feilet} feilet.");
        if self.stoppet == Some(1) {
            t.push_str(" Arkivet svarte ikke, så overføringen stoppet; resten står fortsatt som Klar og sendes ved neste overføring.");
        }
        Some(t)
    }
}

async fn archive_log(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Query(q): Query<LogQuery>,
    Query(ran): Query<RunFlash>,
) -> Response {
    let q = q.cleaned();
    let status_key = q.status.clone().unwrap_or_else(|| "feilet".into());
    let Some(status) = ArchiveStatus::parse(&status_key) else {
        return staff_error(&state, StaffError::Invalid("Ukjent fane.".into()));
    };
    let run = async {
        let list_q = ListQuery {
            status: Some(status),
            school_id: q.school.clone(),
            document_type: q.document_type.clone(),
            from: staff::parse_day(q.from.as_deref())?,
            to: staff::parse_day(q.to.as_deref())?,
            text: session.search_text.clone(),
            include_dismissed: false,
            cursor: q.cursor.as_deref().map(Cursor::decode).transpose()?,
            limit: 50,
        };
        let counts = staff::counts(state.pool(), &session.actor, q.school.as_deref()).await?;
        let page = staff::list(state.pool(), &session.actor, &list_q).await?;
        // «Kjør overføring nå» is offered to whoever may start one, when anything
        // (at any school: one transfer sends them all) is Klar.
        let klar_everywhere = if staff::may_run_now(session.actor.role) {
            staff::counts(state.pool(), &session.actor, None).await?["klar"]
                .as_i64()
                .unwrap_or(0)
        } else {
            0
        };
        Ok::<_, StaffError>((counts, page, klar_everywhere))
    };
    let (counts, list, klar_everywhere) = match run.await {
        Ok(x) => x,
        Err(e) => return staff_error(&state, e),
    };
    let rows: Vec<Row> = list
        .items
        .into_iter()
        .map(|i| Row {
            id: i.event_id.to_string(),
            type_name: type_name(&i.document_type),
            title: i.title,
            school_id: i.school_id,
            queued: oslo(i.queued_at),
            updated: oslo(i.updated_at),
            attempts: i.attempts,
            status: i.status.as_str().to_string(),
            journal: i
                .journal_year
                .zip(i.journal_sequence)
                .map(|(y, s)| format!("{y}/{s}")),
            explanation: i.error_explanation,
        })
        .collect();
    let next = list.next.map(|c| {
        let mut nq = q.clone();
        nq.status = Some(status_key.clone());
        nq.cursor = Some(c);
        format!("/dashboard/arkivlogg?{}", nq.to_query_string())
    });
    let tab = |s: &str| {
        let mut tq = q.clone();
        tq.status = Some(s.to_string());
        tq.cursor = None;
        format!("/dashboard/arkivlogg?{}", tq.to_query_string())
    };
    let first_page = q.cursor.as_ref().map(|_| tab(&status_key));
    let mut ctx = tera::Context::new();
    ctx.insert("status", &status_key);
    ctx.insert("counts", &counts);
    ctx.insert(
        "tabs",
        &[
            json!({"key": "klar", "label": "Klar", "href": tab("klar")}),
            json!({"key": "arkivert", "label": "Arkivert", "href": tab("arkivert")}),
            json!({"key": "feilet", "label": "Feilet", "href": tab("feilet")}),
        ],
    );
    ctx.insert("rows", &rows);
    ctx.insert("next", &next);
    ctx.insert("first_page", &first_page);
    ctx.insert("q", &q);
    ctx.insert("search_text", &session.search_text);
    ctx.insert("school", &q.school);
    ctx.insert(
        "schools",
        &school_choices(&state, &session.actor, q.school.as_deref()).await,
    );
    let types: Vec<(&str, &str)> = DocumentType::ALL
        .iter()
        .map(|t| (t.key(), t.name_nb()))
        .collect();
    ctx.insert("types", &types);
    ctx.insert("run_now_klar", &klar_everywhere);
    ctx.insert("run_flash", &ran.text());
    page(&state, &session, "arkivlogg", "arkivlogg.html", ctx)
}

#[derive(Deserialize)]
struct RunForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

/// «Kjør overføring nå»: every `klar` document goes to the archive now, as
/// `POST /api/archive/run-now` does (the same decision, `staff::run_now`: only
/// kommuneadmin; granted and refused both audited). Lands on Arkivert with the counts.
async fn run_transfer(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Form(f): Form<RunForm>,
) -> Response {
    if let Some(r) = guard_action(&state, &session, f.csrf.as_deref()) {
        return r;
    }
    let http = &state.http;
    match staff::run_now(
        state.pool(),
        &http.archive_pool,
        http.archive.clone(),
        &http.transfer,
        &session.actor,
    )
    .await
    {
        Ok(s) => Redirect::to(&format!(
            "/dashboard/arkivlogg?status=arkivert&overfort={}&feilet_na={}{}",
            s.arkivert,
            s.feilet,
            if s.stopped_for_outage {
                "&stoppet=1"
            } else {
                ""
            }
        ))
        .into_response(),
        Err(e) => staff_error(&state, e),
    }
}

/// The longest free-text search, in characters.
pub const SEARCH_MAX: usize = 200;

/// A GET on the search's form address (a reload, the back button): the log.
async fn back_to_log() -> Response {
    Redirect::to("/dashboard/arkivlogg").into_response()
}

/// A GET on an action's form address: the document, where the action is offered.
async fn back_to_document(Path((id, _)): Path<(String, String)>) -> Response {
    match staff::parse_event_id(&id) {
        Ok(id) => Redirect::to(&format!("/dashboard/dokument/{id}")).into_response(),
        Err(_) => Redirect::to("/dashboard/arkivlogg").into_response(),
    }
}

/// The actions that can apply to a document with `status` (`dismissed`: taken
/// off the failed list): only these are offered and linked, and a confirmation
/// page for another one explains why instead of showing a form.
pub fn applicable_actions(status: ArchiveStatus, dismissed: bool) -> Vec<&'static str> {
    match status {
        ArchiveStatus::Feilet if dismissed => vec!["prov-igjen", "produser-pa-nytt"],
        ArchiveStatus::Feilet => vec!["prov-igjen", "produser-pa-nytt", "fjern"],
        ArchiveStatus::Klar => vec!["produser-pa-nytt"],
        ArchiveStatus::Arkivert => Vec::new(),
    }
}

/// Why `action` cannot apply to a document with `status`.
fn not_applicable(action: &str, status: ArchiveStatus, dismissed: bool) -> String {
    let label = action_text(action).map(|a| a.0).unwrap_or(action);
    let why = match (status, dismissed) {
        (ArchiveStatus::Arkivert, _) => "Dokumentet er arkivert, og det er ingenting å rette.",
        (ArchiveStatus::Klar, _) => {
            "Dokumentet står allerede i kø (Klar) og sendes ved neste overføring."
        }
        (ArchiveStatus::Feilet, true) => "Dokumentet er allerede fjernet fra feilet-listen.",
        (ArchiveStatus::Feilet, false) => "Handlingen gjelder ikke dette dokumentet.",
    };
    format!("«{label}» kan ikke brukes nå. {why}")
}

#[derive(Deserialize)]
struct SearchForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    tekst: Option<String>,
    /// The filters in force, to come back to (no personal data).
    tilbake: Option<String>,
}

/// The free-text filter: posted, kept in the session, never put in a URL.
async fn search(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Form(f): Form<SearchForm>,
) -> Response {
    if let Some(r) = guard_action(&state, &session, f.csrf.as_deref()) {
        return r;
    }
    // A search longer than the limit is refused with a message, never cut silently.
    if f.tekst
        .as_deref()
        .is_some_and(|t| t.chars().count() > SEARCH_MAX)
    {
        return problem(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Søket er for langt",
            &format!(
                "Søketeksten kan være på høyst {SEARCH_MAX} tegn. Søk på et kortere stykke av tittelen."
            ),
        );
    }
    let text = f.tekst.clone();
    if let Err(e) = super::session::set_search_text(state.pool(), &session, text.as_deref()).await {
        tracing::warn!(error = %e, "dashboard: cannot store the search text");
        return unavailable(&state);
    }
    // Normalised before it is checked (`…/arkivlogg/../../api` stays out).
    let back = f
        .tilbake
        .as_deref()
        .and_then(|b| super::inside(b, "/dashboard/arkivlogg"))
        .unwrap_or_else(|| "/dashboard/arkivlogg".into());
    Redirect::to(&back).into_response()
}

#[derive(Deserialize)]
struct SchoolQuery {
    school: Option<String>,
}

/// Live tab counts (`app.js` refreshes them).
async fn live_counts(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Query(q): Query<SchoolQuery>,
) -> Response {
    let school = q.school.filter(|s| !s.is_empty());
    match staff::counts(state.pool(), &session.actor, school.as_deref()).await {
        Ok(c) => axum::Json(c).into_response(),
        Err(e) => staff_error(&state, e),
    }
}

/// Whether `actor` may see the PDF of a document with `access` at `school`:
/// UO documents only for kommuneadmin, skoleadmin and rektor (school teams see
/// the log, not exempt content).
pub fn may_preview(actor: &Actor, school: &str, access: &str) -> bool {
    super::may_use(actor.role)
        && actor.covers_school(school)
        && (access != "UO"
            || matches!(
                actor.role,
                Role::Kommuneadmin | Role::Skoleadmin | Role::Rektor
            ))
}

/// Whether a document with `access` is protected (UO, which sensitive documents
/// always are): previewing it or acting on it needs a stronger sign-in.
pub fn is_protected(access: &str) -> bool {
    access != "public"
}

/// An archive answer made readable: its leaf elements as name → value.
fn readable_receipt(raw: &str) -> Vec<(String, String)> {
    let Ok(doc) = roxmltree::Document::parse(raw) else {
        return Vec::new();
    };
    doc.descendants()
        .filter(|n| n.is_element() && !n.children().any(|c| c.is_element()))
        .filter_map(|n| {
            let text = n.text().map(str::trim).unwrap_or("");
            (!text.is_empty()).then(|| (n.tag_name().name().to_string(), text.to_string()))
        })
        .take(60)
        .collect()
}

fn explain_outcome(o: &str) -> &'static str {
    match o {
        "arkivert" => "Arkivert",
        "permanent" => "Feilet (må rettes)",
        "transient" => "Midlertidig feil (prøves igjen)",
        _ => "Forsøk",
    }
}

#[derive(Deserialize)]
struct DocQuery {
    melding: Option<String>,
}

async fn document(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Query(q): Query<DocQuery>,
) -> Response {
    let d = match staff::parse_event_id(&id) {
        Ok(id) => staff::show(state.pool(), &session.actor, id).await,
        Err(e) => Err(e),
    };
    let d = match d {
        Ok(d) => d,
        Err(e) => return staff_error(&state, e),
    };
    let attempts: Vec<serde_json::Value> = d
        .attempts_log
        .iter()
        .map(|a| {
            json!({
                "attempt": a.attempt,
                "started": oslo(a.started_at),
                "outcome": explain_outcome(&a.outcome),
                "outcome_raw": a.outcome,
                "error_class": a.error_class,
                "target": a.target,
                "readable": a.answer.as_deref().map(readable_receipt).unwrap_or_default(),
                "raw": a.answer,
            })
        })
        .collect();
    let flash = match q.melding.as_deref() {
        Some("prov-igjen") => Some("Dokumentet er satt til Klar og sendes ved neste overføring."),
        Some("produser-pa-nytt") => Some("Dokumentet er produsert på nytt og satt til Klar."),
        Some("fjern") => Some("Dokumentet er fjernet fra feilet-listen."),
        _ => None,
    };
    let mut ctx = tera::Context::new();
    ctx.insert("id", &d.item.event_id.to_string());
    ctx.insert("title", &d.item.title);
    ctx.insert("type_name", &type_name(&d.item.document_type));
    ctx.insert("type_key", &d.item.document_type);
    ctx.insert("school_id", &d.item.school_id);
    ctx.insert("status", d.item.status.as_str());
    ctx.insert("queued", &oslo(d.item.queued_at));
    ctx.insert("updated", &oslo(d.item.updated_at));
    ctx.insert("pupil_initials", &d.pupil_initials);
    ctx.insert("access", &d.access);
    ctx.insert("legal_basis", &d.legal_basis);
    ctx.insert("folder", &d.folder);
    ctx.insert(
        "journal",
        &d.item
            .journal_year
            .zip(d.item.journal_sequence)
            .map(|(y, s)| format!("{y}/{s}")),
    );
    ctx.insert("journal_post_number", &d.journal_post_number);
    ctx.insert("error_explanation", &d.item.error_explanation);
    ctx.insert("error_class", &d.item.error_class);
    ctx.insert(
        "receipt_readable",
        &d.receipt
            .as_deref()
            .map(readable_receipt)
            .unwrap_or_default(),
    );
    ctx.insert("receipt", &d.receipt);
    ctx.insert("dismissed", &d.item.dismissed_at.map(oslo));
    ctx.insert("dismissed_reason", &d.dismissed_reason);
    ctx.insert("reproduced", &d.reproduced);
    ctx.insert("attempts", &attempts);
    ctx.insert("flash", &flash);
    ctx.insert(
        "actions",
        &applicable_actions(d.item.status, d.item.dismissed_at.is_some()),
    );
    let may = may_preview(&session.actor, &d.item.school_id, &d.access);
    // A role that may see the content, but signed in too weakly: a link to a
    // stronger sign-in instead of the embedded preview.
    let step_up_href = (may && is_protected(&d.access))
        .then(|| require_level(&state, &session, Action::PreviewProtected).err())
        .flatten()
        .map(|need| {
            (
                signin_href(
                    need.required,
                    &format!("/dashboard/dokument/{}", d.item.event_id),
                ),
                need.required.norwegian(),
            )
        });
    ctx.insert("may_preview", &(may && step_up_href.is_none()));
    ctx.insert("preview_step_up", &step_up_href);
    page(&state, &session, "arkivlogg", "dokument.html", ctx)
}

/// School, access and the PDF of a document.
type PdfRow = (String, String, Option<Vec<u8>>);

/// The PDF inline, for users allowed to see it (audited either way).
async fn pdf(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = staff::parse_event_id(&id) else {
        return staff_error(&state, StaffError::NotFound);
    };
    let row: Result<Option<PdfRow>, _> = crate::db::documents::pdf(state.pool(), id).await;
    let (school, access, pdf) = match row {
        Ok(Some(r)) => r,
        Ok(None) => return staff_error(&state, StaffError::NotFound),
        Err(e) => return staff_error(&state, StaffError::Db(e)),
    };
    let target = id.to_string();
    // Another school's document answers exactly like a missing one (issue 16);
    // the refusal is audited below like every other.
    let covered = match crate::access::covers_in_db(state.pool(), &session.actor, &school).await {
        Ok(c) => c,
        Err(e) => return staff_error(&state, StaffError::Db(e)),
    };
    let allowed = covered && may_preview(&session.actor, &school, &access);
    if allowed && is_protected(&access) {
        if let Err(need) = require_level(&state, &session, Action::PreviewProtected) {
            return step_up(
                &state,
                &session,
                &Method::GET,
                need,
                &super::stepup::Refused {
                    audit_action: "archive.preview",
                    school: Some(&school),
                    target: Some(&target),
                    return_to: &format!("/dashboard/dokument/{id}"),
                    pending: None,
                },
            )
            .await;
        }
    }
    let reason = (!allowed).then(|| {
        if covered {
            "Dokumentet er unntatt offentlighet; rollen din kan ikke se innholdet.".to_string()
        } else {
            format!("Du har ikke tilgang til skolen «{school}».")
        }
    });
    if let Err(e) = audit::record(
        state.pool(),
        &Entry {
            actor: &session.actor,
            school_id: Some(&school),
            action: "archive.preview",
            target: Some(&target),
            outcome: if allowed {
                Verdict::Granted
            } else {
                Verdict::Refused
            },
            reason: reason.as_deref(),
            details: json!({}),
        },
    )
    .await
    {
        return staff_error(&state, StaffError::Db(e));
    }
    if !covered {
        return staff_error(&state, StaffError::NotFound);
    }
    if let Some(reason) = reason {
        return problem(&state, StatusCode::FORBIDDEN, "Ingen tilgang", &reason);
    }
    match pdf {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, "application/pdf"),
                (
                    header::CONTENT_DISPOSITION,
                    "inline; filename=\"dokument.pdf\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        None => problem(
            &state,
            StatusCode::NOT_FOUND,
            "Ingen PDF",
            "Dette dokumentet har ingen PDF (det sendes ikke som brev og arkiveres ikke).",
        ),
    }
}

/// What each action does, for the confirmation page.
fn action_text(action: &str) -> Option<(&'static str, &'static str, bool)> {
    match action {
        "prov-igjen" => Some((
            "Prøv igjen",
            "Dokumentet settes til Klar og sendes til arkivet ved neste overføring (kl. 15 eller kl. 02).",
            false,
        )),
        "produser-pa-nytt" => Some((
            "Produser på nytt",
            "PDF-en lages på nytt fra den lagrede hendelsen med dagens maler, og dokumentet settes til Klar.",
            false,
        )),
        "fjern" => Some((
            "Fjern fra feilet-listen",
            "Dokumentet fjernes fra feilet-listen. Er det ikke arkivert, må du skrive hvorfor; begrunnelsen lagres i revisjonsloggen.",
            true,
        )),
        _ => None,
    }
}

/// The audit-log name of an action (`archive.<name>`, as `archive::staff` writes it).
fn audit_name(action: &str) -> &'static str {
    match action {
        "prov-igjen" => "retry",
        "produser-pa-nytt" => "reproduce",
        "fjern" => "remove_failed",
        _ => "action",
    }
}

async fn confirm(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let Some((label, what, needs_reason)) = action_text(&action) else {
        return staff_error(&state, StaffError::NotFound);
    };
    let d = match staff::parse_event_id(&id) {
        Ok(id) => staff::show(state.pool(), &session.actor, id).await,
        Err(e) => Err(e),
    };
    let d = match d {
        Ok(d) => d,
        Err(e) => return staff_error(&state, e),
    };
    let dismissed = d.item.dismissed_at.is_some();
    if !applicable_actions(d.item.status, dismissed).contains(&action.as_str()) {
        return problem(
            &state,
            StatusCode::CONFLICT,
            "Kan ikke gjøres nå",
            &not_applicable(&action, d.item.status, dismissed),
        );
    }
    let here = format!("/dashboard/dokument/{}/bekreft/{action}", d.item.event_id);
    if is_protected(&d.access) {
        if let Err(need) = require_level(&state, &session, Action::ActOnProtected) {
            let target = d.item.event_id.to_string();
            return step_up(
                &state,
                &session,
                &Method::GET,
                need,
                &super::stepup::Refused {
                    audit_action: &format!("archive.{}", audit_name(&action)),
                    school: Some(&d.item.school_id),
                    target: Some(&target),
                    return_to: &here,
                    pending: None,
                },
            )
            .await;
        }
    }
    // Back from a step-up: the reason typed before it, kept in the session.
    let kept_reason = session
        .pending
        .as_ref()
        .filter(|p| p.return_to == here)
        .and_then(|p| p.context.get("begrunnelse"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let mut ctx = tera::Context::new();
    ctx.insert("begrunnelse", kept_reason);
    ctx.insert("id", &d.item.event_id.to_string());
    ctx.insert("title", &d.item.title);
    ctx.insert("action", &action);
    ctx.insert("label", label);
    ctx.insert("what", what);
    ctx.insert("needs_reason", &needs_reason);
    page(&state, &session, "arkivlogg", "bekreft.html", ctx)
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    begrunnelse: Option<String>,
}

async fn act(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Some(r) = guard_action(&state, &session, f.csrf.as_deref()) {
        return r;
    }
    let Ok(id) = staff::parse_event_id(&id) else {
        return staff_error(&state, StaffError::NotFound);
    };
    if action_text(&action).is_none() {
        return staff_error(&state, StaffError::NotFound);
    }
    // Acting on a protected document needs the level; the school and role are
    // decided (and refusals audited) by `archive::staff` as before.
    let doc = crate::db::documents::school_and_access(state.pool(), id).await;
    let doc = match doc {
        Ok(d) => d,
        Err(e) => return staff_error(&state, StaffError::Db(e)),
    };
    let here = format!("/dashboard/dokument/{id}/bekreft/{action}");
    if let Some((school, access)) = &doc {
        let may_act = super::may_use(session.actor.role) && session.actor.covers_school(school);
        if may_act && is_protected(access) {
            if let Err(need) = require_level(&state, &session, Action::ActOnProtected) {
                let mut context = serde_json::Map::new();
                if let Some(r) = f.begrunnelse.as_deref().filter(|r| !r.trim().is_empty()) {
                    context.insert("begrunnelse".into(), json!(r));
                }
                let pending = Pending {
                    return_to: here.clone(),
                    template: None,
                    nav: "arkivlogg".into(),
                    context,
                };
                let target = id.to_string();
                return step_up(
                    &state,
                    &session,
                    &Method::POST,
                    need,
                    &super::stepup::Refused {
                        audit_action: &format!("archive.{}", audit_name(&action)),
                        school: Some(school),
                        target: Some(&target),
                        return_to: &here,
                        pending: Some(&pending),
                    },
                )
                .await;
            }
        }
    }
    let done = match action.as_str() {
        "prov-igjen" => staff::retry(state.pool(), &session.actor, id).await,
        "produser-pa-nytt" => staff::reproduce(&state.http.ctx, &session.actor, id).await,
        "fjern" => {
            let reason = f
                .begrunnelse
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty());
            staff::remove_from_failed(state.pool(), &session.actor, id, reason).await
        }
        _ => Err(StaffError::NotFound),
    };
    match done {
        Ok(()) => {
            if session
                .pending
                .as_ref()
                .is_some_and(|p| p.return_to == here)
            {
                // Done: the kept confirmation is not needed any more.
                let _ = super::session::set_pending(state.pool(), &session, None).await;
            }
            Redirect::to(&format!("/dashboard/dokument/{id}?melding={action}")).into_response()
        }
        Err(e) => staff_error(&state, e),
    }
}

#[derive(Deserialize)]
struct DeadlineQuery {
    school: Option<String>,
    skolear: Option<String>,
}

async fn deadlines(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Query(q): Query<DeadlineQuery>,
) -> Response {
    let actor = &session.actor;
    let school = q.school.filter(|s| !s.is_empty());
    // One report per school in scope, or one across all schools (municipal roles).
    let schools: Vec<Option<String>> = match staff::school_scope(actor, school.as_deref()) {
        Some(list) => list.into_iter().map(Some).collect(),
        None => vec![None],
    };
    for s in &schools {
        if !staff::may_read(actor, s.as_deref()) {
            let reason = "Du har ikke tilgang til fristene for denne skolen.";
            return refuse(&state, actor, s.as_deref(), "archive.deadlines", reason).await;
        }
    }
    let today = crate::calendar::today_in_oslo();
    let year = match crate::archive::folders::school_year_or_current(
        q.skolear.as_deref().filter(|y| !y.is_empty()),
        today,
    ) {
        Ok(y) => y,
        Err(e) => return staff_error(&state, StaffError::Invalid(e.to_string())),
    };
    let mut rows = Vec::new();
    for s in &schools {
        match crate::archive::deadlines::report(state.pool(), year, s.as_deref(), today).await {
            Ok(r) => rows.extend(r),
            Err(e) => return staff_error(&state, StaffError::Db(e)),
        }
    }
    let view: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "school_id": r.school_id,
                "deadline": r.deadline.format("%d.%m.%Y").to_string(),
                "type_name": type_name(&r.document_type),
                "note": r.note,
                "klar": r.klar, "arkivert": r.arkivert, "feilet": r.feilet,
                "passed": r.passed,
                "listed": r.missing.is_some(),
                "missing": r.missing.unwrap_or_default(),
            })
        })
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("rows", &view);
    ctx.insert("school_year", &format!("{}/{}", year.0, year.1));
    ctx.insert("school", &school);
    ctx.insert(
        "schools",
        &school_choices(&state, actor, school.as_deref()).await,
    );
    page(&state, &session, "frister", "frister.html", ctx)
}

#[derive(Deserialize)]
struct DeliveryQuery {
    school: Option<String>,
    status: Option<String>,
    before: Option<i64>,
}

type DeliveryRow = (
    i64,
    Uuid,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    Option<Vec<String>>,
);

/// Utsendinger: SvarUt and email deliveries with their latest status.
async fn deliveries(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Query(q): Query<DeliveryQuery>,
) -> Response {
    let actor = &session.actor;
    let school = q.school.filter(|s| !s.is_empty());
    if let Some(s) = &school {
        if !actor.covers_school(s) {
            let reason = format!("Du har ikke tilgang til skolen «{s}».");
            return refuse(&state, actor, Some(s), "delivery.list", &reason).await;
        }
    }
    let scope = staff::school_scope(actor, school.as_deref());
    let status = q.status.filter(|s| !s.is_empty());
    let rows: Result<Vec<DeliveryRow>, _> = sqlx::query_as(
        "SELECT dl.id, dl.event_id, d.school_id, d.document_type, d.title, dl.channel, dl.status,
                dl.provider_status, dl.provider_status_at, dl.error_explanation, dl.updated_at,
                e.payload #>> '{pupil,name}',
                (SELECT r ->> 'name' FROM jsonb_array_elements(e.payload -> 'recipients') r
                  WHERE r ->> 'id' = dl.recipient_id LIMIT 1),
                (SELECT array_agg(r ->> 'name') FILTER (WHERE r ->> 'name' IS NOT NULL)
                   FROM jsonb_array_elements(CASE jsonb_typeof(e.payload -> 'recipients')
                        WHEN 'array' THEN e.payload -> 'recipients' ELSE '[]'::jsonb END) r)
           FROM deliveries dl JOIN documents d ON d.event_id = dl.event_id
           JOIN events e ON e.event_id = dl.event_id
          WHERE dl.channel IN ('svarut', 'svarut_archive', 'message_email')
            AND ($1::text[] IS NULL OR d.school_id = ANY($1))
            AND ($2::text IS NULL OR dl.status = $2 OR dl.provider_status = $2)
            AND ($3::bigint IS NULL OR dl.id < $3)
          ORDER BY dl.id DESC LIMIT 51",
    )
    .bind(scope)
    .bind(&status)
    .bind(q.before)
    .fetch_all(state.pool())
    .await;
    let mut rows = match rows {
        Ok(r) => r,
        Err(e) => return staff_error(&state, StaffError::Db(e)),
    };
    let next = (rows.len() > 50).then(|| {
        rows.truncate(50);
        rows.last().map(|r| r.0)
    });
    let view: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            // Every part of every name in the event: the pupil's and the guardians'.
            let mut names: Vec<String> = r.11.clone().into_iter().collect();
            names.extend(r.13.clone().unwrap_or_default());
            let title = staff::mask_names(r.4, &names);
            let provider = r.7.clone().unwrap_or_default();
            json!({
                "id": r.0,
                "event_id": r.1.to_string(),
                "school_id": r.2,
                "type_name": type_name(&r.3),
                "title": title,
                // The recipient by initials, like the pupil (two guardians, two rows).
                "recipient": r.12.as_deref().map(staff::initials),
                "channel": match r.5.as_str() { "message_email" => "E-post/melding", _ => "SvarUt" },
                "status": r.6,
                "provider_status": r.7,
                "provider_status_at": r.8.map(oslo),
                "explanation": r.9,
                "updated": oslo(r.10),
                "alarm": matches!(provider.as_str(), "AVVIST" | "IKKE_LEVERT") || r.6 == "failed",
            })
        })
        .collect();
    let next = next.flatten().map(|id| {
        format!(
            "/dashboard/utsendinger?{}",
            serde_urlencoded_pairs(&[
                ("school", school.as_deref()),
                ("status", status.as_deref()),
                ("before", Some(&id.to_string())),
            ])
        )
    });
    let mut ctx = tera::Context::new();
    ctx.insert("rows", &view);
    ctx.insert("next", &next);
    ctx.insert("school", &school);
    ctx.insert("status", &status);
    ctx.insert(
        "schools",
        &school_choices(&state, actor, school.as_deref()).await,
    );
    page(&state, &session, "utsendinger", "utsendinger.html", ctx)
}

#[derive(Deserialize)]
struct AuditQuery {
    school: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    before: Option<i64>,
}

/// Revisjonslogg: kommuneadmin sees all; school roles their schools' entries.
async fn audit_log(
    State(state): State<DashboardState>,
    SignedIn(session): SignedIn,
    Query(q): Query<AuditQuery>,
) -> Response {
    let actor = &session.actor;
    let school = q.school.filter(|s| !s.is_empty());
    let allowed = match &school {
        Some(s) => staff::may_read(actor, Some(s)),
        None => staff::may_watch(actor.role),
    };
    if !allowed {
        let reason = "Du har ikke tilgang til denne delen av revisjonsloggen.";
        return refuse(&state, actor, school.as_deref(), "audit.list", reason).await;
    }
    let schools = staff::school_scope(actor, school.as_deref());
    let rows = audit::list(
        state.pool(),
        &audit::Filter {
            schools,
            action_prefix: q.action.clone().filter(|s| !s.is_empty()),
            actor: q.actor.clone().filter(|s| !s.is_empty()),
            before_id: q.before,
            limit: 51,
            ..audit::Filter::default()
        },
    )
    .await;
    let mut rows = match rows {
        Ok(r) => r,
        Err(e) => return staff_error(&state, StaffError::Db(e)),
    };
    let next = (rows.len() > 50).then(|| {
        rows.truncate(50);
        rows.last().map(|r| r.id)
    });
    let view: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "at": oslo(r.at), "actor": r.actor, "role": r.role, "school_id": r.school_id,
                "action": r.action, "target": r.target, "outcome": r.outcome,
                "refused": r.outcome == "refused", "reason": r.reason,
            })
        })
        .collect();
    let next = next.flatten().map(|id| {
        format!(
            "/dashboard/revisjonslogg?{}",
            serde_urlencoded_pairs(&[
                ("school", school.as_deref()),
                ("action", q.action.as_deref()),
                ("actor", q.actor.as_deref()),
                ("before", Some(&id.to_string())),
            ])
        )
    });
    let mut ctx = tera::Context::new();
    ctx.insert("rows", &view);
    ctx.insert("next", &next);
    ctx.insert("school", &school);
    ctx.insert("action", &q.action);
    ctx.insert("actor", &q.actor);
    ctx.insert(
        "schools",
        &school_choices(&state, actor, school.as_deref()).await,
    );
    page(&state, &session, "revisjonslogg", "revisjonslogg.html", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uo_previews_only_for_roles_that_may() {
        let team = Actor::new("t", Role::Team, vec!["s1".into()]).expect("actor");
        let rektor = Actor::new("r", Role::Rektor, vec!["s1".into()]).expect("actor");
        let admin = Actor::new("k", Role::Kommuneadmin, vec![]).expect("actor");
        assert!(may_preview(&team, "s1", "public"));
        assert!(!may_preview(&team, "s1", "UO"));
        assert!(!may_preview(&team, "s2", "public"));
        assert!(may_preview(&rektor, "s1", "UO"));
        assert!(!may_preview(&rektor, "s2", "UO"));
        assert!(may_preview(&admin, "s9", "UO"));
    }

    #[test]
    fn receipts_read_as_leaf_values() {
        let r = readable_receipt(
            "<arkivmeldingKvittering><journalpostKvittering><journalaar>2026</journalaar>\
             <journalsekvensnummer>12</journalsekvensnummer></journalpostKvittering></arkivmeldingKvittering>",
        );
        assert_eq!(
            r,
            vec![
                ("journalaar".to_string(), "2026".to_string()),
                ("journalsekvensnummer".to_string(), "12".to_string())
            ]
        );
        assert!(readable_receipt("not xml").is_empty());
    }
}
