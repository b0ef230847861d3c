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
//! `error`, 503 when the database is down. Access is decided in `archive::staff`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::auth::{with_scope, ApiActor, ApiAuth};
use super::HttpState;
use crate::archive::staff::{self, Cursor, ListQuery, StaffError};
use crate::archive::ArchiveStatus;
use crate::clients::Scope;

/// The routes: reading needs a client with `archive:read`, acting `archive:act`.
pub fn routes(auth: &ApiAuth) -> Router<HttpState> {
    let read = Router::new()
        .route("/api/archive/documents", get(list))
        .route("/api/archive/counts", get(counts))
        .route("/api/archive/documents/{event_id}", get(show))
        .route("/api/archive/deadlines", get(deadlines))
        .route("/api/audit", get(audit_log));
    let act = Router::new()
        .route("/api/archive/documents/{event_id}/retry", post(retry))
        .route(
            "/api/archive/documents/{event_id}/reproduce",
            post(reproduce),
        )
        .route(
            "/api/archive/documents/{event_id}/remove-from-failed",
            post(remove_from_failed),
        )
        .route("/api/archive/run-now", post(run_now));
    with_scope(read, auth, Scope::ArchiveRead).merge(with_scope(act, auth, Scope::ArchiveAct))
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
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(
                        json!({ "error": "Databasen svarer ikke akkurat nå. Prøv igjen om litt." }),
                    ),
                )
                    .into_response();
            }
        };
        (code, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

fn invalid(msg: &str) -> StaffError {
    StaffError::Invalid(msg.to_string())
}

#[derive(Debug, Deserialize)]
struct ListParams {
    status: Option<String>,
    school: Option<String>,
    #[serde(rename = "type")]
    document_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
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

#[derive(Debug, Deserialize)]
struct SchoolParam {
    school: Option<String>,
}

async fn counts(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Query(p): Query<SchoolParam>,
) -> Result<Json<serde_json::Value>, StaffError> {
    let school = p.school.filter(|s| !s.is_empty());
    Ok(Json(
        staff::counts(&s.ctx.pool, &actor, school.as_deref()).await?,
    ))
}

async fn show(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(id): Path<String>,
) -> Result<Json<staff::Detail>, StaffError> {
    Ok(Json(
        staff::show(&s.ctx.pool, &actor, staff::parse_event_id(&id)?).await?,
    ))
}

async fn retry(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, StaffError> {
    let id = staff::parse_event_id(&id)?;
    staff::retry(&s.ctx.pool, &actor, id).await?;
    Ok(Json(json!({ "event_id": id, "status": "klar" })))
}

async fn reproduce(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, StaffError> {
    let id = staff::parse_event_id(&id)?;
    staff::reproduce(&s.ctx, &actor, id).await?;
    Ok(Json(json!({ "event_id": id, "status": "klar" })))
}

#[derive(Debug, Deserialize, Default)]
struct RemoveBody {
    reason: Option<String>,
}

async fn remove_from_failed(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(id): Path<String>,
    body: Option<Json<RemoveBody>>,
) -> Result<Json<serde_json::Value>, StaffError> {
    let id = staff::parse_event_id(&id)?;
    let reason = body.and_then(|Json(b)| b.reason);
    staff::remove_from_failed(&s.ctx.pool, &actor, id, reason.as_deref()).await?;
    Ok(Json(json!({ "event_id": id, "removed_from_failed": true })))
}

async fn run_now(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
) -> Result<Json<serde_json::Value>, StaffError> {
    let summary = staff::run_now(
        &s.ctx.pool,
        &s.archive_pool,
        s.archive.clone(),
        &s.transfer,
        &actor,
    )
    .await?;
    Ok(Json(json!(summary)))
}

#[derive(Debug, Deserialize)]
struct AuditParams {
    school: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

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

#[derive(Debug, Deserialize)]
struct DeadlineParams {
    school: Option<String>,
    school_year: Option<String>,
}

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
                outcome: crate::audit::Outcome::Refused,
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
