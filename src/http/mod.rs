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
//! - `GET /metrics` — Prometheus ([`metrics`]); `GET /api/openapi.json` — the
//!   OpenAPI 3.1 document of all of these ([`openapi`]).
//!
//! Every `/api/*` route but the document and the SMS gateway's callback is behind
//! a client's door ([`openapi::behind`] → [`auth::require_scope`]): a registered
//! client with the route's scope (see [`crate::clients`]); the one table of who
//! may call what is tested in `tests/it/authz_matrix.rs`, the document against
//! the route table in `tests/it/openapi.rs`. Every error answer is an
//! [`error::ApiError`].
//!
//! Every request gets an `x-request-id` and the span `http_request` ([`request_id`]).

mod archive;
pub mod auth;
mod contacts;
mod deliveries;
pub mod error;
pub mod limit;
pub mod metrics;
mod openapi;
pub mod request_id;
mod sms;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::Router;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    /// The emergency SMS routes' context.
    pub sms: crate::sms::SmsContext,
    /// `GET /metrics`: the database gauges' cache and what they read.
    pub metrics: Arc<metrics::Scrape>,
}

impl auth::HasApiAuth for HttpState {
    fn api_auth(&self) -> &auth::ApiAuth {
        &self.auth
    }
}

/// Every route of the HTTP server but the dashboard's, each documented: health,
/// readiness, metrics, this API's contract and the `/api` routes behind their
/// doors. The route table and the OpenAPI document come out of this one list
/// (`split_for_parts`); `tests/it/openapi.rs` checks they are the same.
pub fn api(auth: &auth::ApiAuth) -> OpenApiRouter<HttpState> {
    use openapi::{behind, Door};
    let open = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
        .routes(routes!(openapi::openapi_json));
    behind(Door::Open, open, auth)
        .merge(behind(
            Door::Client(Scope::StatusRead),
            OpenApiRouter::new().routes(routes!(status)),
            auth,
        ))
        .merge(behind(
            Door::Client(Scope::Admin),
            OpenApiRouter::new().routes(routes!(reload_rules)),
            auth,
        ))
        .merge(archive::routes(auth))
        .merge(contacts::routes(auth))
        .merge(deliveries::routes(auth))
        .merge(sms::routes(auth))
}

/// The HTTP server's routes with their state; `GET /api/openapi.json` serves the
/// document [`api`] produced with them.
pub fn router(state: HttpState) -> Router {
    let (router, paths) = api(&state.auth).split_for_parts();
    let doc = openapi::OpenApiJson::new(&openapi::finish(paths));
    router
        .fallback(|| async { error::error_response(StatusCode::NOT_FOUND, "Fant ikke adressen.") })
        .layer(axum::Extension(doc))
        .with_state(state)
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "drift",
    responses((status = 200, description = "Prosessen lever.", content_type = "text/plain", body = String, example = "ok")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database and the documents consumer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub database: &'static str,
    /// `ok` while a consumer is attached to the documents queue, else `unavailable`.
    pub broker: &'static str,
}

/// `GET /readyz`.
#[utoipa::path(get, path = "/readyz", tag = "drift", responses(
    (status = 200, description = "Databasen svarer og en konsument er koblet til køen.", body = Readiness),
    (status = 503, description = "Noe mangler (se feltene).", body = Readiness),
))]
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
        Json(Readiness {
            database: word(db_ok),
            broker: word(broker_ok),
        }),
    )
}

/// `GET /metrics` (see [`metrics`]).
#[utoipa::path(get, path = "/metrics", tag = "drift", responses(
    (status = 200, description = "Prometheus-tekstformatet: tellere, histogrammer og tall fra databasen (README «Metrics»).",
     content_type = "text/plain; version=0.0.4", body = String),
))]
async fn metrics_text(State(s): State<HttpState>) -> Response {
    metrics::serve(State(s.metrics.clone()))
        .await
        .into_response()
}

/// `GET /api/status`.
#[utoipa::path(get, path = "/api/status", tag = "drift", responses(
    (status = 200, description = "Antall per trinn og per arkivstatus (som `dokflyt status`).", body = crate::db::status::StatusCounts),
))]
async fn status(State(s): State<HttpState>) -> Response {
    match crate::db::status::counts(&s.ctx.pool).await {
        Ok(c) => (StatusCode::OK, Json(c)).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "status query failed");
            error::error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Databasen svarer ikke akkurat nå. Prøv igjen om litt.",
            )
        }
    }
}

/// The routing table now in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulesReloaded {
    pub rules_version: String,
}

/// `POST /api/admin/rules/reload`.
#[utoipa::path(post, path = "/api/admin/rules/reload", tag = "drift", responses(
    (status = 200, description = "Rutetabellen er lest inn på nytt.", body = RulesReloaded),
    (status = 422, description = "Den nye tabellen er ugyldig; den gamle gjelder fortsatt (`rules_version_in_force`).", body = error::ApiError),
))]
async fn reload_rules(State(s): State<HttpState>) -> Response {
    match s.ctx.rules.reload() {
        Ok(t) => Json(RulesReloaded {
            rules_version: t.version().to_string(),
        })
        .into_response(),
        Err(e) => {
            let mut body = error::ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Rutetabellen er ugyldig: {e}"),
            );
            body.rules_version_in_force = Some(s.ctx.rules.current().version().to_string());
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
    }
}
