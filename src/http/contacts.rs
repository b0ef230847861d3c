//! The reachability report over HTTP: `GET /api/schools/{school_id}/contact-gaps`.
//!
//! Input: an [`ApiActor`] and the school. Output: the [`crate::roster::gaps::GapReport`]
//! as JSON. Who may: kommuneadmin and skoleeier (the schools of their own
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
        OpenApiRouter::new().routes(routes!(gaps)),
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
    let role_ok = matches!(
        actor.role,
        Role::Kommuneadmin | Role::Skoleeier | Role::Rektor | Role::Skoleadmin | Role::Skoleadmin2
    );
    let covered = match crate::access::covers_in_db(&s.ctx.pool, &actor, &school_id).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "contact gaps: database error");
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Databasen svarer ikke akkurat nå.",
            );
        }
    };
    if !role_ok || !covered {
        let reason = "Du har ikke tilgang til kontaktinformasjonen ved denne skolen.";
        let _ = audit::record(
            &s.ctx.pool,
            &Entry {
                actor: &actor,
                school_id: Some(&school_id),
                action: "contacts.gaps",
                target: Some(&school_id),
                outcome: Verdict::Refused,
                reason: Some(reason),
                details: json!({}),
            },
        )
        .await;
        return error_response(StatusCode::FORBIDDEN, reason);
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
