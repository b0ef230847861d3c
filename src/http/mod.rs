//! The HTTP server: health, readiness and the JSON API.
//!
//! - `GET /healthz` — the process is alive (always 200).
//! - `GET /readyz` — 200 when the database answers and a consumer is attached to
//!   the broker, 503 with what is missing otherwise.
//! - `GET /api/status` — counts per stage and per archive status (`dokflyt status`);
//!   a client with `status:read`.
//! - `POST /api/admin/rules/reload` — loads `routing-rules/` again; a bad table is
//!   refused (422 with the errors) and the old one keeps serving; a client with `admin`.
//! - `/api/archive/*`, `/api/audit` — the archive staff's API ([`archive`]), called
//!   by a registered client on behalf of a user ([`auth`]).
//! - `/api/messages`, `/api/deliveries` — in-app messages and delivery statuses
//!   ([`deliveries`]).
//!
//! Every request gets an `x-request-id` and the span `http_request` ([`request_id`]).
//!
//! Every `/api/*` route is behind [`auth::with_scope`]: a registered client with
//! the route's scope (see [`crate::clients`]); the one table of who may call what
//! is tested in `tests/it/authz_matrix.rs`.

pub mod archive;
pub mod auth;
pub mod contacts;
pub mod deliveries;
pub mod limit;
pub mod request_id;

pub mod sms;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::archive::client::ArchiveClient;
use crate::archive::transfer::TransferOptions;
use crate::clients::Scope;
use crate::pipeline::consume::ConsumerStats;
use crate::pipeline::PipelineContext;

#[derive(Clone)]
pub struct HttpState {
    pub ctx: PipelineContext,
    pub stats: Arc<ConsumerStats>,
    /// The API's doors: registered clients, the development token, rate limits.
    pub auth: auth::ApiAuth,
    /// The configured archive, for `POST /api/archive/run-now`.
    pub archive: Arc<dyn ArchiveClient>,
    /// The transfer's connections (`db::transfer_pool`).
    pub archive_pool: sqlx::PgPool,
    pub transfer: TransferOptions,
}

impl auth::HasApiAuth for HttpState {
    fn api_auth(&self) -> &auth::ApiAuth {
        &self.auth
    }
}

pub fn router(state: HttpState) -> Router {
    let a = &state.auth;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(auth::with_scope(
            Router::new().route("/api/status", get(status)),
            a,
            Scope::StatusRead,
        ))
        .merge(auth::with_scope(
            Router::new().route("/api/admin/rules/reload", post(reload_rules)),
            a,
            Scope::Admin,
        ))
        .merge(archive::routes(a))
        .merge(auth::with_scope(contacts::routes(), a, Scope::ContactsRead))
        .merge(auth::with_scope(
            deliveries::routes(state.ctx.pool.clone()),
            a,
            Scope::DocumentsRead,
        ))
        .with_state(state)
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    let db_ok = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&s.ctx.pool),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let broker_ok = s.stats.connected.load(Ordering::SeqCst);
    let code = if db_ok && broker_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    (
        code,
        Json(json!({ "database": word(db_ok), "broker": word(broker_ok) })),
    )
}

async fn status(State(s): State<HttpState>) -> impl IntoResponse {
    match crate::db::status::counts(&s.ctx.pool).await {
        Ok(c) => (StatusCode::OK, Json(json!(c))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "status query failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "the database is unavailable" })),
            )
                .into_response()
        }
    }
}

async fn reload_rules(State(s): State<HttpState>) -> impl IntoResponse {
    match s.ctx.rules.reload() {
        Ok(t) => (
            StatusCode::OK,
            Json(json!({ "rules_version": t.version() })),
        ),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": e.to_string(),
                "rules_version_in_force": s.ctx.rules.current().version(),
            })),
        ),
    }
}
