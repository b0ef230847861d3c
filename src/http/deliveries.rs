//! The API of delivery: in-app messages and delivery statuses.
//!
//! - `GET /api/messages?recipient=<person id>` — the recipient's in-app messages,
//!   newest first (what the school system shows in the app).
//! - `GET /api/deliveries?event_id=<uuid>` — each delivery of an event with its
//!   status, SvarUt status, reason and history (what the school sees).
//!
//! Input: query parameters, from a registered client with `documents:read`
//! (`http::auth::with_scope` around these routes: 401/403 otherwise). Only what
//! belongs to the client's schools (and municipality) is shown: messages of other
//! schools are left out, and another school's event answers exactly like a
//! missing one (404). Output: JSON. Failure: 400 with a Norwegian message for a
//! missing or bad parameter, 503 when the database does not answer. The rows come
//! from their owners (`channels::status`, `db::events`); this module decides who
//! sees them and shapes the JSON.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::auth::ApiClient;
use crate::clients::{Client, SchoolScope};

/// The client's schools as a query filter: `None` = every school of its municipality.
fn school_filter(client: &Client) -> Option<Vec<String>> {
    match &client.schools {
        SchoolScope::All => None,
        SchoolScope::Only(list) => Some(list.clone()),
    }
}

/// The routes, with their own state, ready to merge into the main router.
pub fn routes<S: Clone + Send + Sync + 'static>(pool: PgPool) -> Router<S> {
    Router::new()
        .route("/api/messages", get(messages))
        .route("/api/deliveries", get(deliveries))
        .with_state(pool)
}

#[derive(Deserialize)]
struct MessagesQuery {
    recipient: Option<String>,
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()
}

fn unavailable(e: sqlx::Error) -> Response {
    tracing::warn!(error = %e, "delivery API query failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": "Databasen svarer ikke. Prøv igjen om litt." })),
    )
        .into_response()
}

async fn messages(
    State(pool): State<PgPool>,
    ApiClient(client): ApiClient,
    Query(q): Query<MessagesQuery>,
) -> Response {
    let Some(recipient) = q.recipient.filter(|r| !r.trim().is_empty()) else {
        return bad_request("Oppgi mottakeren: ?recipient=<person-id>");
    };
    let rows = crate::channels::status::messages_of(
        &pool,
        &recipient,
        school_filter(&client),
        &client.municipality_number,
    )
    .await;
    match rows {
        Ok(rows) => {
            let list: Vec<_> = rows
                .into_iter()
                .map(
                    |(id, event_id, school_id, kind, subject, body, has_document, created_at)| {
                        json!({
                            "id": id, "event_id": event_id, "school_id": school_id, "kind": kind,
                            "subject": subject, "body": body, "has_document": has_document,
                            "created_at": created_at,
                        })
                    },
                )
                .collect();
            Json(json!({ "recipient": recipient, "messages": list })).into_response()
        }
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    event_id: Option<String>,
}

async fn deliveries(
    State(pool): State<PgPool>,
    ApiClient(client): ApiClient,
    Query(q): Query<DeliveriesQuery>,
) -> Response {
    let Some(event_id) = q.event_id.and_then(|e| e.parse::<Uuid>().ok()) else {
        return bad_request("Oppgi hendelsen: ?event_id=<uuid>");
    };
    let owner = crate::db::events::owner(&pool, event_id).await;
    let missing = || {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "Fant ikke hendelsen." })),
        )
            .into_response()
    };
    match owner {
        Err(e) => return unavailable(e),
        Ok(None) => return missing(),
        Ok(Some((school, muni))) if !client.covers_school(&school, muni.as_deref()) => {
            // Another school's event answers like a missing one; the refusal is audited.
            let who = format!("klient:{}", client.name);
            let target = event_id.to_string();
            let r = crate::audit::record_client_refusal(
                &pool,
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
    let (rows, history) = match crate::channels::status::deliveries_of(&pool, event_id).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let list: Vec<_> = rows
        .into_iter()
        .map(|(id, recipient_id, channel, status, provider_ref, provider_status, class, explanation, attempts)| {
            let h: Vec<_> = history
                .iter()
                .filter(|x| x.0 == id)
                .map(|(_, s, ps, c, d, at)| {
                    json!({ "status": s, "provider_status": ps, "error_class": c, "detail": d, "at": at })
                })
                .collect();
            json!({
                "id": id, "recipient_id": recipient_id, "channel": channel, "status": status,
                "provider_ref": provider_ref, "provider_status": provider_status,
                "error_class": class, "reason": explanation, "attempts": attempts, "history": h,
            })
        })
        .collect();
    Json(json!({ "event_id": event_id, "deliveries": list })).into_response()
}
