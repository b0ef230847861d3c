//! The API of delivery: in-app messages and delivery statuses.
//!
//! - `GET /api/messages?recipient=<person id>` — the recipient's in-app messages,
//!   newest first (what the school system shows in the app).
//! - `GET /api/deliveries?event_id=<uuid>` — each delivery of an event with its
//!   status, SvarUt status, reason and history (what the school sees).
//!
//! Input: query parameters, from a registered client with `documents:read`
//! (`http::openapi::behind` around these routes: 401/403 otherwise). Only what
//! belongs to the client's schools (and municipality) is shown: messages of other
//! schools are left out, and another school's event answers exactly like a
//! missing one (404). Output: JSON. Failure: 400 with a Norwegian message for a
//! missing or bad parameter, 503 when the database does not answer. The rows come
//! from their owners (`channels::status`, `db::events`); this module decides who
//! sees them and shapes the JSON.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::{ApiAuth, ApiClient};
use super::error::{error_response, ApiError};
use super::openapi::{behind, Door};
use super::HttpState;
use crate::clients::{Client, SchoolScope, Scope};

/// The client's schools as a query filter: `None` = every school of its municipality.
fn school_filter(client: &Client) -> Option<Vec<String>> {
    match &client.schools {
        SchoolScope::All => None,
        SchoolScope::Only(list) => Some(list.clone()),
    }
}

/// The routes, behind a client with `documents:read`.
pub fn routes(auth: &ApiAuth) -> OpenApiRouter<HttpState> {
    behind(
        Door::Client(Scope::DocumentsRead),
        OpenApiRouter::new()
            .routes(routes!(messages))
            .routes(routes!(deliveries)),
        auth,
    )
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MessagesQuery {
    /// The recipient's person id in the school system (required).
    recipient: Option<String>,
}

fn bad_request(msg: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, msg)
}

fn unavailable(e: sqlx::Error) -> Response {
    tracing::warn!(error = %e, "delivery API query failed");
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "Databasen svarer ikke. Prøv igjen om litt.",
    )
}

/// One in-app message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub event_id: Uuid,
    pub school_id: String,
    /// message, notification, …
    pub kind: String,
    pub subject: String,
    pub body: String,
    /// Whether the document can be opened from the message.
    pub has_document: bool,
    pub created_at: DateTime<Utc>,
}

/// A recipient's in-app messages, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Messages {
    pub recipient: String,
    pub messages: Vec<Message>,
}

/// `GET /api/messages`.
#[utoipa::path(get, path = "/api/messages", tag = "utsending",
    params(MessagesQuery),
    responses(
        (status = 200, description = "Mottakerens meldinger i appen, nyeste først (bare klientens skoler).", body = Messages),
        (status = 400, description = "Mangler mottaker.", body = ApiError),
    ))]
async fn messages(
    State(s): State<HttpState>,
    ApiClient(client): ApiClient,
    Query(q): Query<MessagesQuery>,
) -> Response {
    let Some(recipient) = q.recipient.filter(|r| !r.trim().is_empty()) else {
        return bad_request("Oppgi mottakeren: ?recipient=<person-id>");
    };
    let rows = crate::channels::status::messages_of(
        &s.ctx.pool,
        &recipient,
        school_filter(&client),
        &client.municipality_number,
    )
    .await;
    match rows {
        Ok(rows) => {
            let messages = rows
                .into_iter()
                .map(
                    |(id, event_id, school_id, kind, subject, body, has_document, created_at)| {
                        Message {
                            id,
                            event_id,
                            school_id,
                            kind,
                            subject,
                            body,
                            has_document,
                            created_at,
                        }
                    },
                )
                .collect();
            Json(Messages {
                recipient,
                messages,
            })
            .into_response()
        }
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveriesQuery {
    /// The event's id (required).
    event_id: Option<String>,
}

/// One change of a delivery's status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusChange {
    pub status: String,
    /// The provider's status verbatim (SvarUt: MOTTATT … LEST).
    pub provider_status: Option<String>,
    pub error_class: Option<String>,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

/// One delivery of an event to one recipient on one channel.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub recipient_id: String,
    /// svarut, message_email, notification, internal, …
    pub channel: String,
    /// planned, sent, delivered, failed, held.
    pub status: String,
    /// The provider's id (SvarUt forsendelseId, Message-ID).
    pub provider_ref: Option<String>,
    pub provider_status: Option<String>,
    pub error_class: Option<String>,
    /// In Norwegian, for the school's staff.
    pub reason: Option<String>,
    pub attempts: i32,
    pub history: Vec<StatusChange>,
}

/// Every delivery of an event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deliveries {
    pub event_id: Uuid,
    pub deliveries: Vec<Delivery>,
}

/// `GET /api/deliveries`.
#[utoipa::path(get, path = "/api/deliveries", tag = "utsending",
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "Hver utsending av hendelsen med status og historikk.", body = Deliveries),
        (status = 400, description = "Mangler eller ugyldig hendelses-id.", body = ApiError),
        (status = 404, description = "Fant ikke hendelsen (eller den hører til en annen skole).", body = ApiError),
    ))]
async fn deliveries(
    State(s): State<HttpState>,
    ApiClient(client): ApiClient,
    Query(q): Query<DeliveriesQuery>,
) -> Response {
    let pool: &PgPool = &s.ctx.pool;
    let Some(event_id) = q.event_id.and_then(|e| e.parse::<Uuid>().ok()) else {
        return bad_request("Oppgi hendelsen: ?event_id=<uuid>");
    };
    let owner = crate::db::events::owner(pool, event_id).await;
    let missing = || error_response(StatusCode::NOT_FOUND, "Fant ikke hendelsen.");
    match owner {
        Err(e) => return unavailable(e),
        Ok(None) => return missing(),
        Ok(Some((school, muni))) if !client.covers_school(&school, muni.as_deref()) => {
            // Another school's event answers like a missing one; the refusal is audited.
            let who = format!("klient:{}", client.name);
            let target = event_id.to_string();
            let r = crate::audit::record_client_refusal(
                pool,
                crate::audit::ClientRefusal {
                    who: (who.as_str(), "klient"),
                    school_id: Some(&school),
                    action: "deliveries.read",
                    target: &target,
                    reason: "Hendelsen hører til en skole klienten ikke har tilgang til.",
                    details: json!({ "client_id": client.id }),
                },
            )
            .await;
            if let Err(e) = r {
                return unavailable(e);
            }
            return missing();
        }
        Ok(Some(_)) => {}
    }
    let (rows, history) = match crate::channels::status::deliveries_of(pool, event_id).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let deliveries = rows
        .into_iter()
        .map(
            |(
                id,
                recipient_id,
                channel,
                status,
                provider_ref,
                provider_status,
                error_class,
                reason,
                attempts,
            )| Delivery {
                history: history
                    .iter()
                    .filter(|x| x.0 == id)
                    .map(|(_, s, ps, c, d, at)| StatusChange {
                        status: s.clone(),
                        provider_status: ps.clone(),
                        error_class: c.clone(),
                        detail: d.clone(),
                        at: *at,
                    })
                    .collect(),
                id,
                recipient_id,
                channel,
                status,
                provider_ref,
                provider_status,
                error_class,
                reason,
                attempts,
            },
        )
        .collect();
    Json(Deliveries {
        event_id,
        deliveries,
    })
    .into_response()
}
