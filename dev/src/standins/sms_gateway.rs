//! The SMS gateway stand-in: a local server speaking the LINK Mobility-style
//! protocol of `sms::gateway` (`POST /sms/send`, `GET /sms/ref/{refId}`, HTTP
//! basic auth), one copy for the tests, the demo and `dokflyt-dev bench sms`.
//!
//! Input: send and lookup requests from dokflyt's SMS worker. Output: 202 with a
//! message id; every accepted send is kept ([`GatewayStandIn::received`]) and can
//! be looked up by `refId`. Failure: wrong credentials get 401 (counted), a
//! request without its fields 400 (the worker records a permanent failure).
//!
//! What differs between its users is an option ([`Options`]):
//! - the tests ([`Options::tests`], fixed credentials [`GATEWAY_USER`] /
//!   [`GATEWAY_PASSWORD`]): a second send of one `refId` is a second SMS, so the
//!   test sees it; faults are injected at run time ([`GatewayStandIn::ambiguous_left`]:
//!   accept but answer 500; [`GatewayStandIn::delay_ms`]: a slow gateway), and the
//!   test posts the delivery reports itself ([`GatewayStandIn::report_all_delivered`]);
//! - the demo ([`Options::demo`], fresh credentials): numbers outside
//!   [`FICTIONAL_RANGE`] are refused (resultCode 1106), a resend of a `refId` it
//!   has is the same message (no second SMS), and a delivery report (resultCode
//!   1001) is posted a moment after each send to dokflyt's `POST
//!   /api/sms/dlr?token=…` once the demo has told it where dokflyt listens
//!   ([`GatewayStandIn::report_to`]).
//!
//! The numbers: Nkom reserves no Norwegian mobile range for tests or fiction, and
//! every 4xx/9xx block may be allocated to a real subscriber. The demo roster
//! therefore uses Ofcom's range for TV and radio drama, +44 7700 900000–900999:
//! mobile numbers that are never allocated, so they reach no one even through a
//! real gateway. The demo's gateway accepts those and nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The tests' gateway account ([`Options::tests`]).
pub const GATEWAY_USER: &str = "dokflyt";
pub const GATEWAY_PASSWORD: &str = "hemmelig-passord";

/// Whether `e164` lies in [`FICTIONAL_RANGE`] (`+447700900000`–`+447700900999`).
pub fn is_fictional(e164: &str) -> bool {
    e164.strip_prefix(FICTIONAL_RANGE)
        .is_some_and(|rest| rest.len() == 3 && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// How the stand-in behaves (module doc).
#[derive(Debug, Clone)]
pub struct Options {
    pub username: String,
    pub password: String,
    /// The token dokflyt expects on delivery reports (sent by [`Options::report_deliveries`]).
    pub dlr_token: String,
    /// Refuse every number outside [`FICTIONAL_RANGE`] (resultCode 1106).
    pub fictional_only: bool,
    /// A resend of a `refId` already accepted answers with the same message, no second SMS.
    pub dedupe_by_ref: bool,
    /// Post a delivery report a moment after each accepted send ([`GatewayStandIn::report_to`]).
    pub report_deliveries: bool,
}

impl Options {
    /// The tests': fixed credentials, every send kept, no reports of its own.
    pub fn tests() -> Options {
        Options {
            username: GATEWAY_USER.into(),
            password: GATEWAY_PASSWORD.into(),
            dlr_token: String::new(),
            fictional_only: false,
            dedupe_by_ref: false,
            report_deliveries: false,
        }
    }

    /// The demo's: fresh credentials, fictional numbers only, a real gateway's
    /// idempotency and delivery reports.
    pub fn demo() -> Options {
        Options {
            username: "dokflyt-demo".into(),
            password: Uuid::new_v4().simple().to_string(),
            dlr_token: Uuid::new_v4().simple().to_string(),
            fictional_only: true,
            dedupe_by_ref: true,
            report_deliveries: true,
        }
    }
}

/// One accepted send.
#[derive(Debug, Clone)]
pub struct Received {
    pub destination: String,
    pub ref_id: String,
    pub text: String,
    pub message_id: String,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    by_ref: HashMap<String, String>,
}

#[derive(Clone)]
pub struct GatewayStandIn {
    pub addr: SocketAddr,
    options: Arc<Options>,
    inner: Arc<Mutex<Inner>>,
    /// Requests still to be accepted but answered 500 (ambiguous failures).
    pub ambiguous_left: Arc<AtomicU64>,
    /// Delay per send (to make a fan-out last long enough to be killed).
    pub delay_ms: Arc<AtomicU64>,
    pub lookups: Arc<AtomicU64>,
    /// Look-ups that found the message (an in-doubt send adopted, not resent).
    pub lookups_found: Arc<AtomicU64>,
    pub unauthorized: Arc<AtomicU64>,
    /// Where dokflyt listens (`http://host:port`), once the demo knows it.
    callback: watch::Sender<Option<String>>,
}

impl GatewayStandIn {
    /// The tests' stand-in ([`Options::tests`]) on a free loopback port.
    pub async fn start() -> GatewayStandIn {
        GatewayStandIn::start_with(Options::tests())
            .await
            .expect("the SMS gateway stand-in listens on a loopback port")
    }

    /// A stand-in with `options` on a free loopback port.
    pub async fn start_with(options: Options) -> std::io::Result<GatewayStandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let g = GatewayStandIn {
            addr: listener.local_addr()?,
            options: Arc::new(options),
            inner: Arc::default(),
            ambiguous_left: Arc::default(),
            delay_ms: Arc::default(),
            lookups: Arc::default(),
            lookups_found: Arc::default(),
            unauthorized: Arc::default(),
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

    /// Points dokflyt's SMS settings at the stand-in (URL, credentials, and the
    /// delivery-report token when it sends reports).
    pub fn configure(&self, s: &mut SmsSettings) {
        s.gateway_url = Secret::new(format!("http://{}", self.addr));
        s.username = self.options.username.clone();
        s.password = Secret::new(self.options.password.clone());
        if self.options.report_deliveries {
            s.dlr_token = Secret::new(self.options.dlr_token.clone());
        }
    }

    /// Delivery reports go to dokflyt at `addr` from now on (reports for sends
    /// accepted earlier wait for this).
    pub fn report_to(&self, addr: SocketAddr) {
        // `send_replace` stores the address even while no report waits for it.
        self.callback.send_replace(Some(format!("http://{addr}")));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many sends it accepted (cheaper than [`GatewayStandIn::received`]).
    pub fn accepted(&self) -> usize {
        self.lock().received.len()
    }

    /// Forgets every accepted send.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.received.clear();
        inner.by_ref.clear();
    }

    /// Accepted sends per `refId` (the idempotency key).
    pub fn per_ref(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in self.lock().received.iter() {
            *m.entry(r.ref_id.clone()).or_insert(0) += 1;
        }
        m
    }

    /// Accepted sends per destination number.
    pub fn per_number(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in self.received() {
            *m.entry(r.destination).or_insert(0) += 1;
        }
        m
    }

    /// Posts a delivery report for every received message to dokflyt's callback
    /// (the tests'; they assert that each is accepted).
    pub async fn report_all_delivered(&self, dokflyt: SocketAddr, token: &str) {
        dokflyt::tls::ensure_crypto_provider();
        let client = reqwest::Client::new();
        for r in self.received() {
            let resp = client
                .post(format!("http://{dokflyt}/api/sms/dlr?token={token}"))
                .json(
                    &json!({"id": r.message_id, "refId": r.ref_id, "resultCode": 1001,
                              "description": "Delivered", "operator": "no.telenor"}),
                )
                .send()
                .await
                .expect("dlr posted");
            assert_eq!(resp.status(), 200);
        }
    }

    fn authorized(&self, h: &HeaderMap) -> bool {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                self.options.username, self.options.password
            ))
        );
        h.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
    }

    /// Posts the delivery report for one accepted send, a moment after it (so the
    /// dashboard shows «Sendt» before «Levert»).
    fn deliver_later(&self, message_id: String, ref_id: String) {
        let mut callback = self.callback.subscribe();
        let token = self.options.dlr_token.clone();
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
            tracing::warn!("SMS gateway stand-in: a delivery report was not accepted");
        });
    }
}

fn field<'a>(body: &'a Value, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or("")
}

async fn send(
    State(g): State<GatewayStandIn>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !g.authorized(&headers) {
        g.unauthorized.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, Json(json!({"resultCode": 401}))).into_response();
    }
    let delay = g.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let (destination, ref_id, text) = (
        field(&body, "destination"),
        field(&body, "refId"),
        field(&body, "userData"),
    );
    if destination.is_empty()
        || ref_id.is_empty()
        || text.is_empty()
        || field(&body, "platformId").is_empty()
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"resultCode": 1102, "description": "Missing field"})),
        )
            .into_response();
    }
    if g.options.fictional_only && !is_fictional(destination) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"resultCode": 1106, "description": "Destination not allowed by the demo gateway"})),
        )
            .into_response();
    }
    let message_id = {
        let mut inner = g.lock();
        if g.options.dedupe_by_ref {
            if let Some(id) = inner.by_ref.get(ref_id) {
                // A resend of a key it already has: the same message, no second SMS.
                return Json(json!({"messageId": id, "refId": ref_id, "resultCode": 1005}))
                    .into_response();
            }
        }
        let id = Uuid::new_v4().to_string();
        inner.received.push(Received {
            destination: destination.to_string(),
            ref_id: ref_id.to_string(),
            text: text.to_string(),
            message_id: id.clone(),
        });
        inner.by_ref.insert(ref_id.to_string(), id.clone());
        id
    };
    let ambiguous = g
        .ambiguous_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if ambiguous {
        // Accepted, but the client is told otherwise.
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    if g.options.report_deliveries {
        g.deliver_later(message_id.clone(), ref_id.to_string());
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({"messageId": message_id, "refId": ref_id, "resultCode": 1005, "description": "Queued"})),
    )
        .into_response()
}

async fn lookup(
    State(g): State<GatewayStandIn>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    if !g.authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    g.lookups.fetch_add(1, Ordering::SeqCst);
    let found = g.lock().by_ref.get(&key).cloned();
    match found {
        Some(id) => {
            g.lookups_found.fetch_add(1, Ordering::SeqCst);
            Json(json!({"messageId": id, "refId": key})).into_response()
        }
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
        let n = dokflyt::sms::MobileNumber::parse("+44 7700 900123").expect("a mobile");
        assert!(is_fictional(n.as_str()));
    }
}
