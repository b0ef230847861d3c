//! HTTP handlers for emergency SMS (the school system calls these on behalf of a
//! signed-in user) and the gateway's delivery-report callback.
//!
//! - `POST /api/schools/{school}/emergency-sms/preview` — counts, segments, cost, token.
//! - `POST /api/schools/{school}/emergency-sms` — send, quoting `preview_token`.
//! - `POST /api/schools/{school}/emergency-sms/{message}/approve` — second person
//!   approves a message over the daily cost cap.
//! - `GET  /api/schools/{school}/emergency-sms/{message}` — status per recipient state.
//! - `GET  /api/schools/{school}/sms-costs?month=YYYY-MM` — the cost ledger.
//! - `POST /api/sms/dlr?token=…` — delivery reports from the gateway.
//!
//! Input: JSON bodies (see `crate::sms::request`) from a registered client with
//! `sms:request` covering the school (401/403 otherwise; the delivery-report
//! callback has its own token). Output: JSON; errors are
//! `{"error": "<Norwegian text>"}` with 400/403/404/409/422/429, or 503 when the
//! database is unavailable. Nothing personal is logged.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::auth::{same, with_scope, ApiAuth};
use crate::clients::Scope;
use crate::sms::request::{self, ApproveRequest, PreviewRequest, SendRequest};
use crate::sms::{cost, dlr, SmsContext, SmsError};

/// The routes; all but the gateway's callback need a registered client with
/// `sms:request` that covers the school in the path (`http::auth::with_scope`);
/// who the acting person may be is decided in `sms::request`.
pub fn routes<S: Clone + Send + Sync + 'static>(ctx: SmsContext, auth: &ApiAuth) -> Router<S> {
    let guarded = Router::new()
        .route("/api/schools/{school}/emergency-sms/preview", post(preview))
        .route("/api/schools/{school}/emergency-sms", post(send))
        .route(
            "/api/schools/{school}/emergency-sms/{message}/approve",
            post(approve),
        )
        .route("/api/schools/{school}/emergency-sms/{message}", get(status))
        .route("/api/schools/{school}/sms-costs", get(costs));
    with_scope(guarded, auth, Scope::SmsRequest)
        .route("/api/sms/dlr", post(delivery_report))
        .with_state(ctx)
}

fn error(e: SmsError) -> Response {
    let code = match &e {
        SmsError::Forbidden(_) => StatusCode::FORBIDDEN,
        SmsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SmsError::Conflict(_) => StatusCode::CONFLICT,
        SmsError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        SmsError::NotFound => StatusCode::NOT_FOUND,
        SmsError::Cost(_) => StatusCode::INTERNAL_SERVER_ERROR,
        SmsError::Db(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let text = match &e {
        SmsError::Db(err) => {
            tracing::warn!(error = %err, "emergency SMS request: database error");
            "Databasen er utilgjengelig; prøv igjen".to_string()
        }
        SmsError::Cost(err) => {
            tracing::error!(error = %err, "emergency SMS request: no price");
            "Prisen for SMS er ikke satt opp; kontakt driften".to_string()
        }
        other => other.to_string(),
    };
    (code, Json(json!({ "error": text }))).into_response()
}

fn bad_body(r: JsonRejection) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": format!("Ugyldig forespørsel: {}", r.body_text()) })),
    )
        .into_response()
}

async fn preview(
    State(ctx): State<SmsContext>,
    Path(school): Path<String>,
    body: Result<Json<PreviewRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    match request::preview(&ctx, &school, &req).await {
        Ok(p) => (StatusCode::OK, Json(p)).into_response(),
        Err(e) => error(e),
    }
}

async fn send(
    State(ctx): State<SmsContext>,
    Path(school): Path<String>,
    body: Result<Json<SendRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    match request::send(&ctx, &school, &req).await {
        Ok(s) => (StatusCode::ACCEPTED, Json(s)).into_response(),
        Err(e) => error(e),
    }
}

async fn approve(
    State(ctx): State<SmsContext>,
    Path((school, message)): Path<(String, Uuid)>,
    body: Result<Json<ApproveRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    match request::approve(&ctx, &school, message, &req).await {
        Ok(s) => (StatusCode::OK, Json(s)).into_response(),
        Err(e) => error(e),
    }
}

async fn status(
    State(ctx): State<SmsContext>,
    Path((school, message)): Path<(String, Uuid)>,
) -> Response {
    match request::message_status(&ctx, &school, message).await {
        Ok(s) => (StatusCode::OK, Json(s)).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
struct MonthQuery {
    month: String,
}

async fn costs(
    State(ctx): State<SmsContext>,
    Path(school): Path<String>,
    Query(q): Query<MonthQuery>,
) -> Response {
    match cost::month_report(&ctx.pool, &school, &q.month).await {
        Ok(r) => (StatusCode::OK, Json(r)).into_response(),
        Err(SmsError::Cost(e)) => error(SmsError::Invalid(e.to_string())),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
struct DlrQuery {
    #[serde(default)]
    token: Option<String>,
}

async fn delivery_report(
    State(ctx): State<SmsContext>,
    Query(q): Query<DlrQuery>,
    body: Result<Json<dlr::DeliveryReport>, JsonRejection>,
) -> Response {
    let expected = ctx.settings.dlr_token.expose();
    // Fail closed: without a configured token nobody may post delivery reports
    // (a forged report would mark an emergency SMS delivered).
    let given = q.token.as_deref().unwrap_or("");
    if expected.is_empty() || !same(given.as_bytes(), expected.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "unauthorized" })),
        )
            .into_response();
    }
    let Json(report) = match body {
        Ok(b) => b,
        Err(r) => return bad_body(r),
    };
    match dlr::apply(&ctx.pool, &report).await {
        Ok(dlr::DlrOutcome::Unknown) => {
            tracing::info!("delivery report for an unknown or already delivered SMS");
            StatusCode::OK.into_response()
        }
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => error(SmsError::Db(e)),
    }
}
