//! HTTP API of delivery: in-app messages and delivery statuses.
//!
//! - `GET /api/messages?recipient=<person id>` — the recipient's in-app messages,
//!   newest first (what the school system shows in the app).
//! - `GET /api/deliveries?event_id=<uuid>` — each delivery of an event with its
//!   status, SvarUt status, reason and history (what the school sees).
//!
//! Input: query parameters, and the school system's API token (checked by
//! `http::auth::require_token` around these routes: 401 without it). Output: JSON. Failure: 400 with a Norwegian message
//! for a missing or bad parameter, 503 when the database does not answer.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

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

async fn messages(State(pool): State<PgPool>, Query(q): Query<MessagesQuery>) -> Response {
    let Some(recipient) = q.recipient.filter(|r| !r.trim().is_empty()) else {
        return bad_request("Oppgi mottakeren: ?recipient=<person-id>");
    };
    let rows: Result<Vec<MessageRow>, _> = sqlx::query_as(
        "SELECT id, event_id, school_id, kind, subject, body, has_document, created_at
         FROM messages WHERE recipient_id = $1 ORDER BY created_at DESC, id LIMIT 500",
    )
    .bind(&recipient)
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

async fn deliveries(State(pool): State<PgPool>, Query(q): Query<DeliveriesQuery>) -> Response {
    let Some(event_id) = q.event_id.and_then(|e| e.parse::<Uuid>().ok()) else {
        return bad_request("Oppgi hendelsen: ?event_id=<uuid>");
    };
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
