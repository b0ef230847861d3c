//! The SMS gateway stand-in: a local server speaking the LINK Mobility-style
//! protocol of `sms::gateway` (`POST /sms/send`, `GET /sms/ref/{refId}`, HTTP basic
//! auth), so the demo's emergency SMS really goes out over HTTP and its statuses
//! move (Sendt → Levert) while nothing leaves the machine. Not for production.
//!
//! Input: send and lookup requests from dokflyt's SMS worker. Output: 202 with a
//! message id for a number in [`FICTIONAL_RANGE`], and a delivery report (resultCode
//! 1001) posted a moment later to dokflyt's `POST /api/sms/dlr?token=…` once the
//! demo has told it where dokflyt listens ([`SmsGatewayStandIn::report_to`]).
//! Failure: a number outside the range, or a request without its fields, is
//! refused 400 (the worker records a permanent failure); wrong credentials 401.
//! Sends are kept by `refId`, so a lookup after an ambiguous failure finds them.
//!
//! The numbers: Nkom reserves no Norwegian mobile range for tests or fiction, and
//! every 4xx/9xx block may be allocated to a real subscriber. The demo roster
//! therefore uses Ofcom's range for TV and radio drama, +44 7700 900000–900999:
//! mobile numbers that are never allocated, so they reach no one even through a
//! real gateway. This stand-in accepts those and nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::watch;
use uuid::Uuid;

use dokflyt::config::{Secret, SmsSettings};

/// Ofcom's drama range (E.164 prefix + the three digits that vary).
pub const FICTIONAL_RANGE: &str = "+447700900";

/// Whether `e164` lies in [`FICTIONAL_RANGE`] (`+447700900000`–`+447700900999`).
pub fn is_fictional(e164: &str) -> bool {
    e164.strip_prefix(FICTIONAL_RANGE)
        .is_some_and(|rest| rest.len() == 3 && rest.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Clone)]
pub struct SmsGatewayStandIn {
    pub addr: SocketAddr,
    username: String,
    password: String,
    /// The token dokflyt expects on delivery reports.
    dlr_token: String,
    /// refId → message id of every accepted send.
    sent: Arc<Mutex<HashMap<String, String>>>,
    /// Where dokflyt listens (`http://host:port`), once the demo knows it.
    callback: watch::Sender<Option<String>>,
}

impl SmsGatewayStandIn {
    /// Starts the stand-in on a free loopback port with fresh credentials.
    pub async fn start() -> std::io::Result<SmsGatewayStandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let g = SmsGatewayStandIn {
            addr: listener.local_addr()?,
            username: "dokflyt-demo".into(),
            password: Uuid::new_v4().simple().to_string(),
            dlr_token: Uuid::new_v4().simple().to_string(),
            sent: Arc::default(),
            callback: watch::channel(None).0,
        };
        let app = Router::new()
            .route("/sms/send", post(send))
            .route("/sms/ref/{key}", get(lookup))
            .with_state(g.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(g)
    }

    /// Points dokflyt's SMS settings at the stand-in.
    pub fn configure(&self, s: &mut SmsSettings) {
        s.gateway_url = Secret::new(format!("http://{}", self.addr));
        s.username = self.username.clone();
        s.password = Secret::new(self.password.clone());
        s.dlr_token = Secret::new(self.dlr_token.clone());
    }

    /// Delivery reports go to dokflyt at `addr` from now on (reports for sends
    /// accepted earlier wait for this).
    pub fn report_to(&self, addr: SocketAddr) {
        // `send_replace` stores the address even while no report waits for it.
        self.callback.send_replace(Some(format!("http://{addr}")));
    }

    fn authorized(&self, h: &HeaderMap) -> bool {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.username, self.password))
        );
        h.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
    }

    /// Posts the delivery report for one accepted send, a moment after it (so the
    /// dashboard shows «Sendt» before «Levert»).
    fn deliver_later(&self, message_id: String, ref_id: String) {
        let mut callback = self.callback.subscribe();
        let token = self.dlr_token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let base = match callback.wait_for(Option::is_some).await {
                Ok(b) => b.clone(),
                Err(_) => return,
            };
            let Some(base) = base else { return };
            // Plain HTTP to the local dokflyt; reqwest still wants a TLS provider.
            dokflyt::tls::ensure_crypto_provider();
            let client = reqwest::Client::new();
            let report = json!({"id": message_id, "refId": ref_id, "resultCode": 1001,
                                "description": "Delivered", "operator": "demo"});
            // A few tries, as a gateway retries its callback.
            for _ in 0..5 {
                let ok = client
                    .post(format!("{base}/api/sms/dlr?token={token}"))
                    .json(&report)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            tracing::warn!("demo SMS gateway: a delivery report was not accepted");
        });
    }
}

fn field<'a>(body: &'a Value, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or("")
}

async fn send(
    State(g): State<SmsGatewayStandIn>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !g.authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"resultCode": 401}))).into_response();
    }
    let (destination, ref_id) = (field(&body, "destination"), field(&body, "refId"));
    if ref_id.is_empty() || field(&body, "userData").is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"resultCode": 1102, "description": "Missing field"})),
        )
            .into_response();
    }
    if !is_fictional(destination) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"resultCode": 1106, "description": "Destination not allowed by the demo gateway"})),
        )
            .into_response();
    }
    let message_id = {
        let Ok(mut sent) = g.sent.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        match sent.get(ref_id) {
            // A resend of a key it already has: the same message, no second SMS.
            Some(id) => {
                return Json(json!({"messageId": id, "refId": ref_id, "resultCode": 1005}))
                    .into_response()
            }
            None => {
                let id = Uuid::new_v4().to_string();
                sent.insert(ref_id.to_string(), id.clone());
                id
            }
        }
    };
    g.deliver_later(message_id.clone(), ref_id.to_string());
    (
        StatusCode::ACCEPTED,
        Json(json!({"messageId": message_id, "refId": ref_id, "resultCode": 1005, "description": "Queued"})),
    )
        .into_response()
}

async fn lookup(
    State(g): State<SmsGatewayStandIn>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    if !g.authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let found = g.sent.lock().ok().and_then(|s| s.get(&key).cloned());
    match found {
        Some(id) => Json(json!({"messageId": id, "refId": key})).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_drama_range_is_fictional() {
        assert!(is_fictional("+447700900000"));
        assert!(is_fictional("+447700900999"));
        assert!(!is_fictional("+447700901000"));
        assert!(!is_fictional("+44770090012"));
        assert!(!is_fictional("+4791234567"));
        assert!(!is_fictional("+4741234567"));
    }

    #[test]
    fn the_roster_writes_them_as_the_parser_reads_them() {
        let n = dokflyt::sms::number::MobileNumber::parse("+44 7700 900123").expect("a mobile");
        assert!(is_fictional(n.as_str()));
    }
}
