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
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::auth::ApiActor;
use super::HttpState;
use crate::access::Role;
use crate::audit::{self, Entry, Outcome};

pub fn routes() -> Router<HttpState> {
    Router::new().route("/api/schools/{school_id}/contact-gaps", get(gaps))
}

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
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "Databasen svarer ikke akkurat nå." })),
            )
                .into_response();
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
                outcome: Outcome::Refused,
                reason: Some(reason),
                details: json!({}),
            },
        )
        .await;
        return (StatusCode::FORBIDDEN, Json(json!({ "error": reason }))).into_response();
    }
    match crate::roster::gaps::report(&s.ctx.pool, &school_id).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "contact gaps: database error");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "Databasen svarer ikke akkurat nå." })),
            )
                .into_response()
        }
    }
}
