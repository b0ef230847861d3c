//! HTTP API of delivery: in-app messages and delivery statuses.
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
//! missing or bad parameter, 503 when the database does not answer.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::clients::{Client, SchoolScope};
use crate::http::auth::ApiClient;

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

type MessageRow = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    bool,
    chrono::DateTime<chrono::Utc>,
);

async fn messages(
    State(pool): State<PgPool>,
    ApiClient(client): ApiClient,
    Query(q): Query<MessagesQuery>,
) -> Response {
    let Some(recipient) = q.recipient.filter(|r| !r.trim().is_empty()) else {
        return bad_request("Oppgi mottakeren: ?recipient=<person-id>");
    };
    let rows: Result<Vec<MessageRow>, _> = sqlx::query_as(
        "SELECT m.id, m.event_id, m.school_id, m.kind, m.subject, m.body, m.has_document,
                m.created_at
           FROM messages m JOIN events e ON e.event_id = m.event_id
          WHERE m.recipient_id = $1
            AND ($2::text[] IS NULL OR m.school_id = ANY($2))
            AND e.payload #>> '{municipality,number}' = $3
          ORDER BY m.created_at DESC, m.id LIMIT 500",
    )
    .bind(&recipient)
    .bind(school_filter(&client))
    .bind(&client.municipality_number)
    .fetch_all(&pool)
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

type DeliveryRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i32,
);

type HistoryRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    chrono::DateTime<chrono::Utc>,
);

async fn deliveries(
    State(pool): State<PgPool>,
    ApiClient(client): ApiClient,
    Query(q): Query<DeliveriesQuery>,
) -> Response {
    let Some(event_id) = q.event_id.and_then(|e| e.parse::<Uuid>().ok()) else {
        return bad_request("Oppgi hendelsen: ?event_id=<uuid>");
    };
    let owner: Result<Option<(String, Option<String>)>, _> = sqlx::query_as(
        "SELECT school_id, payload #>> '{municipality,number}' FROM events WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(&pool)
    .await;
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
            let r = sqlx::query(
                "INSERT INTO audit_log (actor, role, school_id, action, target, outcome, reason, details)
                 VALUES ($1, 'klient', $2, 'deliveries.read', $3, 'refused', $4, $5)",
            )
            .bind(format!("klient:{}", client.name))
            .bind(&school)
            .bind(event_id.to_string())
            .bind("Hendelsen hører til en skole klienten ikke har tilgang til.")
            .bind(json!({ "client_id": client.id }))
            .execute(&pool)
            .await;
            if let Err(e) = r {
                return unavailable(e);
            }
            return missing();
        }
        Ok(Some(_)) => {}
    }
    let rows: Result<Vec<DeliveryRow>, _> = sqlx::query_as(
        "SELECT id, recipient_id, channel, status, provider_ref, provider_status, error_class,
                error_explanation, attempts
         FROM deliveries WHERE event_id = $1 ORDER BY id",
    )
    .bind(event_id)
    .fetch_all(&pool)
    .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let history: Result<Vec<HistoryRow>, _> = sqlx::query_as(
        "SELECT delivery_id, status, provider_status, error_class, detail, at
         FROM delivery_status_history WHERE delivery_id = ANY($1) ORDER BY id",
    )
    .bind(&ids)
    .fetch_all(&pool)
    .await;
    let history = match history {
        Ok(h) => h,
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
