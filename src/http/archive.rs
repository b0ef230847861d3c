//! The archive staff's JSON API (the dashboard's pages are built on the same calls).
//!
//! - `GET  /api/archive/documents?status=&school=&type=&from=&to=&q=&cursor=&limit=&include_dismissed=`
//!   — the archive log, newest first, keyset-paged (`next` → `cursor`).
//! - `GET  /api/archive/counts?school=` — rows per status (the tabs).
//! - `GET  /api/archive/documents/{event_id}` — one document, every attempt, the receipts.
//! - `POST /api/archive/documents/{event_id}/retry` — «Prøv igjen» (feilet → klar).
//! - `POST /api/archive/documents/{event_id}/reproduce` — «Produser på nytt».
//! - `POST /api/archive/documents/{event_id}/remove-from-failed` `{"reason": "…"}`.
//! - `GET  /api/audit?school=&action=&actor=&target=&before=&limit=` — the audit log.
//! - `POST /api/archive/run-now` — transfer everything `klar` now (kommuneadmin).
//! - `GET  /api/archive/deadlines?school=&school_year=2026/2027` — «Frister».
//!
//! Input: an [`ApiActor`] (see `http::auth`) and the request. Output: JSON. Failure:
//! 401/400 from the extractor, 403 (audited), 404, 409, 422 with a Norwegian
//! `message` (`http::error::ApiError`), 503 when the database is down. Access is decided in `archive::staff`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::{ApiActor, ApiAuth};
use super::error::{error_response, ApiError};
use super::openapi::{behind, ActorHeaders, Door};
use super::HttpState;
use crate::archive::staff::{self, Cursor, ListQuery, StaffError};
use crate::archive::ArchiveStatus;
use crate::clients::Scope;

/// The routes: reading needs a client with `archive:read`, acting `archive:act`.
pub fn routes(auth: &ApiAuth) -> OpenApiRouter<HttpState> {
    let read = OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(counts))
        .routes(routes!(show))
        .routes(routes!(deadlines))
        .routes(routes!(audit_log));
    let act = OpenApiRouter::new()
        .routes(routes!(retry))
        .routes(routes!(reproduce))
        .routes(routes!(remove_from_failed))
        .routes(routes!(run_now));
    behind(Door::Client(Scope::ArchiveRead), read, auth).merge(behind(
        Door::Client(Scope::ArchiveAct),
        act,
        auth,
    ))
}

impl IntoResponse for StaffError {
    fn into_response(self) -> Response {
        let code = match &self {
            StaffError::Forbidden(_) => StatusCode::FORBIDDEN,
            StaffError::NotFound => StatusCode::NOT_FOUND,
            StaffError::Conflict(_) => StatusCode::CONFLICT,
            StaffError::Invalid(_) | StaffError::Reproduce(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StaffError::Db(e) => {
                tracing::warn!(error = %e, "archive API: database error");
                return error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Databasen svarer ikke akkurat nå. Prøv igjen om litt.",
                );
            }
        };
        error_response(code, self.to_string())
    }
}

fn invalid(msg: &str) -> StaffError {
    StaffError::Invalid(msg.to_string())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// klar, arkivert or feilet; all when absent.
    status: Option<String>,
    /// One school's id; the actor's schools (or all, for a municipal role) when absent.
    school: Option<String>,
    /// A document type key (docs/domain.md §8).
    #[serde(rename = "type")]
    document_type: Option<String>,
    /// First day, YYYY-MM-DD (Oslo), inclusive.
    from: Option<String>,
    /// Last day, YYYY-MM-DD (Oslo), inclusive.
    to: Option<String>,
    /// Free text: title, pupil (matched, never echoed) or event id.
    q: Option<String>,
    /// The `next` of the previous page.
    cursor: Option<String>,
    /// Rows per page, 1–500 (default 50).
    limit: Option<i64>,
    /// Include documents removed from Feilet.
    include_dismissed: Option<bool>,
}

fn parse_status(s: Option<&str>) -> Result<Option<ArchiveStatus>, StaffError> {
    match s.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(w) => ArchiveStatus::parse(w)
            .map(Some)
            .ok_or_else(|| invalid("Status er klar, arkivert eller feilet.")),
    }
}

/// `GET /api/archive/documents`.
#[utoipa::path(get, path = "/api/archive/documents", tag = "arkiv",
    params(ListParams, ActorHeaders),
    responses(
        (status = 200, description = "Arkivloggen, nyeste først, side for side.", body = staff::Page),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
        (status = 422, description = "Ugyldig filter (status, dato, markør).", body = ApiError),
    ))]
async fn list(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Query(p): Query<ListParams>,
) -> Result<Json<staff::Page>, StaffError> {
    let q = ListQuery {
        status: parse_status(p.status.as_deref())?,
        school_id: p.school.filter(|s| !s.is_empty()),
        document_type: p.document_type.filter(|s| !s.is_empty()),
        from: staff::parse_day(p.from.as_deref())?,
        to: staff::parse_day(p.to.as_deref())?,
        text: p.q,
        include_dismissed: p.include_dismissed.unwrap_or(false),
        cursor: p.cursor.as_deref().map(Cursor::decode).transpose()?,
        limit: p.limit.unwrap_or(50),
    };
    Ok(Json(staff::list(&s.ctx.pool, &actor, &q).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SchoolParam {
    /// One school's id; all the actor may see when absent.
    school: Option<String>,
}

/// Documents per archive status (the tabs).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub klar: i64,
    pub arkivert: i64,
    pub feilet: i64,
}

/// `GET /api/archive/counts`.
#[utoipa::path(get, path = "/api/archive/counts", tag = "arkiv",
    params(SchoolParam, ActorHeaders),
    responses(
        (status = 200, description = "Antall per status (fanene).", body = Counts),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
    ))]
async fn counts(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Query(p): Query<SchoolParam>,
) -> Result<Json<Counts>, StaffError> {
    let school = p.school.filter(|s| !s.is_empty());
    let c = staff::counts(&s.ctx.pool, &actor, school.as_deref()).await?;
    let n = |k: &str| c[k].as_i64().unwrap_or(0);
    Ok(Json(Counts {
        klar: n("klar"),
        arkivert: n("arkivert"),
        feilet: n("feilet"),
    }))
}

/// `GET /api/archive/documents/{event_id}`.
#[utoipa::path(get, path = "/api/archive/documents/{event_id}", tag = "arkiv",
    params(("event_id" = Uuid, Path, description = "The document's event id."), ActorHeaders),
    responses(
        (status = 200, description = "Ett dokument med alle forsøk og kvitteringer.", body = staff::Detail),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
        (status = 404, description = "Fant ikke dokumentet.", body = ApiError),
        (status = 422, description = "Ugyldig hendelses-id.", body = ApiError),
    ))]
async fn show(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(id): Path<String>,
) -> Result<Json<staff::Detail>, StaffError> {
    Ok(Json(
        staff::show(&s.ctx.pool, &actor, staff::parse_event_id(&id)?).await?,
    ))
}

/// A document back in the queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Requeued {
    pub event_id: Uuid,
    /// Always `klar`.
    pub status: &'static str,
}

/// `POST /api/archive/documents/{event_id}/retry` — «Prøv igjen».
#[utoipa::path(post, path = "/api/archive/documents/{event_id}/retry", tag = "arkiv",
    params(("event_id" = Uuid, Path, description = "The document's event id."), ActorHeaders),
    responses(
        (status = 200, description = "Dokumentet er klar igjen (feilet → klar).", body = Requeued),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
        (status = 404, description = "Fant ikke dokumentet.", body = ApiError),
        (status = 409, description = "Dokumentet er ikke feilet.", body = ApiError),
        (status = 422, description = "Ugyldig hendelses-id.", body = ApiError),
    ))]
async fn retry(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Requeued>, StaffError> {
    let id = staff::parse_event_id(&id)?;
    staff::retry(&s.ctx.pool, &actor, id).await?;
    Ok(Json(Requeued {
        event_id: id,
        status: "klar",
    }))
}

/// `POST /api/archive/documents/{event_id}/reproduce` — «Produser på nytt».
#[utoipa::path(post, path = "/api/archive/documents/{event_id}/reproduce", tag = "arkiv",
    params(("event_id" = Uuid, Path, description = "The document's event id."), ActorHeaders),
    responses(
        (status = 200, description = "Dokumentet er produsert på nytt med dagens regler og maler og er klar.", body = Requeued),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
        (status = 404, description = "Fant ikke dokumentet.", body = ApiError),
        (status = 409, description = "Dokumentet er ikke feilet.", body = ApiError),
        (status = 422, description = "Ugyldig hendelses-id, eller hendelsen kan ikke produseres på nytt.", body = ApiError),
    ))]
async fn reproduce(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Requeued>, StaffError> {
    let id = staff::parse_event_id(&id)?;
    staff::reproduce(&s.ctx, &actor, id).await?;
    Ok(Json(Requeued {
        event_id: id,
        status: "klar",
    }))
}

/// Why a document is taken out of Feilet.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
struct RemoveBody {
    /// The reason, for the audit log (required by some roles; see README).
    reason: Option<String>,
}

/// A document taken out of Feilet.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemovedFromFailed {
    pub event_id: Uuid,
    /// Always true.
    pub removed_from_failed: bool,
}

/// `POST /api/archive/documents/{event_id}/remove-from-failed`.
#[utoipa::path(post, path = "/api/archive/documents/{event_id}/remove-from-failed", tag = "arkiv",
    params(("event_id" = Uuid, Path, description = "The document's event id."), ActorHeaders),
    request_body(content = Option<RemoveBody>, description = "The reason (optional body).", content_type = "application/json"),
    responses(
        (status = 200, description = "Dokumentet er fjernet fra Feilet.", body = RemovedFromFailed),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
        (status = 404, description = "Fant ikke dokumentet.", body = ApiError),
        (status = 409, description = "Dokumentet er ikke feilet.", body = ApiError),
        (status = 422, description = "Ugyldig hendelses-id eller begrunnelse.", body = ApiError),
    ))]
async fn remove_from_failed(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(id): Path<String>,
    body: Option<Json<RemoveBody>>,
) -> Result<Json<RemovedFromFailed>, StaffError> {
    let id = staff::parse_event_id(&id)?;
    let reason = body.and_then(|Json(b)| b.reason);
    staff::remove_from_failed(&s.ctx.pool, &actor, id, reason.as_deref()).await?;
    Ok(Json(RemovedFromFailed {
        event_id: id,
        removed_from_failed: true,
    }))
}

/// `POST /api/archive/run-now`.
#[utoipa::path(post, path = "/api/archive/run-now", tag = "arkiv",
    params(ActorHeaders),
    responses(
        (status = 200, description = "Overføringen er kjørt; hva den gjorde.", body = crate::archive::transfer::RunSummary),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
    ))]
async fn run_now(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
) -> Result<Json<crate::archive::transfer::RunSummary>, StaffError> {
    let summary = staff::run_now(
        &s.ctx.pool,
        &s.archive_pool,
        s.archive.clone(),
        &s.transfer,
        &actor,
    )
    .await?;
    Ok(Json(summary))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// One school's id (required unless the actor has a municipal role).
    school: Option<String>,
    /// Actions starting with this (e.g. `archive.`).
    action: Option<String>,
    /// One acting user.
    actor: Option<String>,
    /// One target (an event id, a school).
    target: Option<String>,
    /// Entries before this id (paging, newest first).
    before: Option<i64>,
    /// Entries per page (default 100).
    limit: Option<i64>,
}

/// `GET /api/audit`.
#[utoipa::path(get, path = "/api/audit", tag = "arkiv",
    params(AuditParams, ActorHeaders),
    responses(
        (status = 200, description = "Revisjonsloggen, nyeste først.", body = Vec<crate::audit::AuditRow>),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
    ))]
async fn audit_log(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Query(p): Query<AuditParams>,
) -> Result<Json<Vec<crate::audit::AuditRow>>, StaffError> {
    // The audit log: kommuneadmin sees all; school roles that watch the archive see
    // their schools' entries (a school must be named unless municipal).
    let school = p.school.filter(|s| !s.is_empty());
    let schools = read_scope(
        &s,
        &actor,
        school.as_deref(),
        "audit.list",
        "Du har ikke tilgang til denne delen av revisjonsloggen.",
    )
    .await?;
    let rows = crate::audit::list(
        &s.ctx.pool,
        &crate::audit::Filter {
            school_id: school,
            schools,
            action_prefix: p.action,
            actor: p.actor,
            target: p.target,
            before_id: p.before,
            limit: p.limit.unwrap_or(100),
        },
    )
    .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeadlineParams {
    /// One school's id (required unless the actor has a municipal role).
    school: Option<String>,
    /// `2026/2027`; the current school year when absent.
    school_year: Option<String>,
}

/// `GET /api/archive/deadlines` — «Frister».
#[utoipa::path(get, path = "/api/archive/deadlines", tag = "arkiv",
    params(DeadlineParams, ActorHeaders),
    responses(
        (status = 200, description = "Per skole, frist og dokumenttype: klar, arkivert, feilet og elever som mangler.", body = Vec<crate::archive::deadlines::DeadlineRow>),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
        (status = 422, description = "Ugyldig skoleår.", body = ApiError),
    ))]
async fn deadlines(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Query(p): Query<DeadlineParams>,
) -> Result<Json<Vec<crate::archive::deadlines::DeadlineRow>>, StaffError> {
    let school = p.school.filter(|s| !s.is_empty());
    let schools = read_scope(
        &s,
        &actor,
        school.as_deref(),
        "archive.deadlines",
        "Du har ikke tilgang til fristene for denne skolen.",
    )
    .await?;
    let today = crate::calendar::today_in_oslo();
    let year = crate::archive::folders::school_year_or_current(
        p.school_year.as_deref().filter(|y| !y.is_empty()),
        today,
    )
    .map_err(|e| StaffError::Invalid(e.to_string()))?;
    let mut rows =
        crate::archive::deadlines::report(&s.ctx.pool, year, school.as_deref(), today).await?;
    if let Some(schools) = schools {
        rows.retain(|r| schools.contains(&r.school_id));
    }
    Ok(Json(rows))
}

/// Whether `actor` may read a report of `school` (or of all its schools), audited
/// when not. `Ok(Some(list))`: a report across schools, limited to these (the
/// schools of the actor's municipality); `Ok(None)`: no further limit.
async fn read_scope(
    s: &HttpState,
    actor: &crate::access::Actor,
    school: Option<&str>,
    action: &str,
    refusal: &str,
) -> Result<Option<Vec<String>>, StaffError> {
    let pool = &s.ctx.pool;
    let ok = staff::may_read(actor, school)
        && match school {
            Some(sch) => crate::access::covers_in_db(pool, actor, sch).await?,
            None => true,
        };
    if !ok {
        crate::audit::record(
            pool,
            &crate::audit::Entry {
                actor,
                school_id: school,
                action,
                target: school,
                outcome: crate::audit::Verdict::Refused,
                reason: Some(refusal),
                details: json!({}),
            },
        )
        .await?;
        return Err(StaffError::Forbidden(refusal.into()));
    }
    Ok(match (school, actor.municipality_number.as_deref()) {
        (None, Some(m)) => Some(crate::access::schools_of_municipality(pool, m).await?),
        _ => None,
    })
}
