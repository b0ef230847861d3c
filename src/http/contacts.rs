//! The reachability report over HTTP: `GET /api/schools/{school_id}/contact-gaps`
//! (who the roster has no way to reach), and `GET /api/schools/{school_id}/unreachable`
//! (the open tasks for guardians no channel reached with a document, and the
//! counts of open and resolved tasks per reason; the twin of the dashboard's
//! «Ikke nådd»).
//!
//! Input: an [`ApiActor`] and the school. Output: the [`crate::roster::gaps::GapReport`]
//! or [`crate::channels::unreachable::SchoolTasks`] as JSON (guardians by initials). Who may: kommuneadmin and skoleeier (the schools of their own
//! municipality); rektor, skoleadmin and skoleadmin2 (contact information) of that
//! school. The client must hold `contacts:read` and cover the school. Failure: 403 (audited), 503
//! when the database does not answer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{ApiActor, ApiAuth};
use super::error::{error_response, ApiError};
use super::openapi::{behind, ActorHeaders, Door};
use super::HttpState;
use crate::access::Role;
use crate::audit::{self, Entry, Verdict};
use crate::clients::Scope;

/// The route, behind a client with `contacts:read` covering the school.
pub fn routes(auth: &ApiAuth) -> OpenApiRouter<HttpState> {
    behind(
        Door::Client(Scope::ContactsRead),
        OpenApiRouter::new()
            .routes(routes!(gaps))
            .routes(routes!(unreachable_tasks)),
        auth,
    )
}

/// `GET /api/schools/{school_id}/contact-gaps`.
#[utoipa::path(get, path = "/api/schools/{school_id}/contact-gaps", tag = "kontakt",
    params(("school_id" = String, Path, description = "The school's id."), ActorHeaders),
    responses(
        (status = 200, description = "Hvem skolen ikke når, per gruppe og klasse (id-er, aldri navn).", body = crate::roster::gaps::GapReport),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
    ))]
async fn gaps(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(school_id): Path<String>,
) -> Response {
    if let Some(refused) = refuse(&s, &actor, &school_id, "contacts.gaps").await {
        return refused;
    }
    match crate::roster::gaps::report(&s.ctx.pool, &school_id).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "contact gaps: database error");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Databasen svarer ikke akkurat nå.",
            )
        }
    }
}

/// The shared rule of both routes; `Some` is the refusal (audited) or a 503.
async fn refuse(
    s: &HttpState,
    actor: &crate::access::Actor,
    school_id: &str,
    action: &str,
) -> Option<Response> {
    let role_ok = matches!(
        actor.role,
        Role::Kommuneadmin | Role::Skoleeier | Role::Rektor | Role::Skoleadmin | Role::Skoleadmin2
    );
    let covered = match crate::access::covers_in_db(&s.ctx.pool, actor, school_id).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "contact gaps: database error");
            return Some(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Databasen svarer ikke akkurat nå.",
            ));
        }
    };
    if !role_ok || !covered {
        let reason = "Du har ikke tilgang til kontaktinformasjonen ved denne skolen.";
        let _ = audit::record(
            &s.ctx.pool,
            &Entry {
                actor,
                school_id: Some(school_id),
                action,
                target: Some(school_id),
                outcome: Verdict::Refused,
                reason: Some(reason),
                details: json!({}),
            },
        )
        .await;
        return Some(error_response(StatusCode::FORBIDDEN, reason));
    }
    None
}

/// `GET /api/schools/{school_id}/unreachable`.
#[utoipa::path(get, path = "/api/schools/{school_id}/unreachable", tag = "kontakt",
    params(("school_id" = String, Path, description = "The school's id."), ActorHeaders),
    responses(
        (status = 200, description = "Åpne oppgaver for foresatte ingen kanal nådde (initialer, aldri navn), og antall åpne og løste per årsak.", body = crate::channels::unreachable::SchoolTasks),
        (status = 400, description = "Manglende eller ugyldige brukerhoder.", body = ApiError),
    ))]
async fn unreachable_tasks(
    State(s): State<HttpState>,
    ApiActor { actor, .. }: ApiActor,
    Path(school_id): Path<String>,
) -> Response {
    if let Some(refused) = refuse(&s, &actor, &school_id, "unreachable.list").await {
        return refused;
    }
    use crate::channels::unreachable;
    let scope = Some(vec![school_id.clone()]);
    let open = unreachable::open_tasks(&s.ctx.pool, scope.clone()).await;
    let report = unreachable::report(&s.ctx.pool, scope).await;
    match (open, report) {
        (Ok(open), Ok(report)) => Json(unreachable::SchoolTasks {
            school_id,
            open,
            report,
        })
        .into_response(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "unreachable tasks: database error");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Databasen svarer ikke akkurat nå.",
            )
        }
    }
}
