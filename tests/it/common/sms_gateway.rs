//! A real HTTP SMS gateway in the test, speaking the LINK Mobility-style protocol
//! dokflyt uses (`POST /sms/send`, `GET /sms/ref/{refId}`, basic auth), plus a
//! dokflyt spawner with SMS settings and a generated school roster.
//!
//! The stand-in records every accepted send (it does NOT deduplicate by refId, so a
//! second send of one key is visible to the test) and can be told to accept a
//! request but answer 500 (an ambiguous failure) for the first N requests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use dokflyt::app::App;
use dokflyt::config::{Secret, Settings};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{TestApp, PG_HOST_PORT};

pub const GATEWAY_USER: &str = "dokflyt";
pub const GATEWAY_PASSWORD: &str = "hemmelig-passord";

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
    inner: Arc<Mutex<Inner>>,
    /// Requests still to be accepted but answered 500 (ambiguous failures).
    pub ambiguous_left: Arc<AtomicU64>,
    /// Delay per send (to make a fan-out last long enough to be killed).
    pub delay_ms: Arc<AtomicU64>,
    pub lookups: Arc<AtomicU64>,
    pub unauthorized: Arc<AtomicU64>,
}

fn authorized(h: &HeaderMap) -> bool {
    use base64_like::encode;
    let expected = format!(
        "Basic {}",
        encode(&format!("{GATEWAY_USER}:{GATEWAY_PASSWORD}"))
    );
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

/// A tiny base64 encoder (the test crate has no base64 dependency).
mod base64_like {
    pub fn encode(s: &str) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut out = String::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

async fn send(
    State(g): State<GatewayStandIn>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    if !authorized(&headers) {
        g.unauthorized.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, Json(json!({"resultCode": 401}))).into_response();
    }
    let delay = g.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (destination, ref_id, text) = (s("destination"), s("refId"), s("userData"));
    if destination.is_empty() || ref_id.is_empty() || s("platformId").is_empty() {
        return (StatusCode::BAD_REQUEST, Json(json!({"resultCode": 400}))).into_response();
    }
    let message_id = Uuid::new_v4().to_string();
    {
        let mut inner = g.inner.lock().expect("lock");
        inner.received.push(Received {
            destination,
            ref_id: ref_id.clone(),
            text,
            message_id: message_id.clone(),
        });
        inner.by_ref.insert(ref_id.clone(), message_id.clone());
    }
    let ambiguous = g
        .ambiguous_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if ambiguous {
        // Accepted, but the client is told otherwise.
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
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
) -> impl IntoResponse {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    g.lookups.fetch_add(1, Ordering::SeqCst);
    let found = g.inner.lock().expect("lock").by_ref.get(&key).cloned();
    match found {
        Some(id) => Json(json!({"messageId": id, "refId": key})).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl GatewayStandIn {
    pub async fn start() -> GatewayStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let g = GatewayStandIn {
            addr: listener.local_addr().expect("addr"),
            inner: Arc::default(),
            ambiguous_left: Arc::default(),
            delay_ms: Arc::default(),
            lookups: Arc::default(),
            unauthorized: Arc::default(),
        };
        let app = Router::new()
            .route("/sms/send", post(send))
            .route("/sms/ref/{key}", get(lookup))
            .with_state(g.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        g
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("lock").received.clone()
    }

    /// Accepted sends per destination number.
    pub fn per_number(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in self.received() {
            *m.entry(r.destination).or_insert(0) += 1;
        }
        m
    }

    /// Posts a delivery report for every received message to dokflyt's callback.
    pub async fn report_all_delivered(&self, dokflyt: SocketAddr, token: &str) {
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
}

/// dokflyt configured against `gateway`, then `tweak`ed; otherwise as `spawn_app`.
pub async fn spawn_sms_app(gateway: &GatewayStandIn, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    super::init_test_logging();
    let id = Uuid::new_v4().simple().to_string();
    let database = format!("dokflyt_test_{id}");
    let mut settings = test_settings(&id, gateway);
    tweak(&mut settings);
    let app = App::build(settings.clone()).await.expect("the app builds");
    super::start(app, settings, database, true).await
}

pub const DLR_TOKEN: &str = "dlr-token-for-tests";

/// Settings for a private database and prefix named by `id`, against `gateway`.
pub fn test_settings(id: &str, gateway: &GatewayStandIn) -> Settings {
    let mut settings = Settings::default();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    settings.paths.rules_dir = manifest.join("routing-rules");
    settings.paths.templates_dir = manifest.join("templates");
    settings.paths.examples_dir = manifest.join("examples/events");
    settings.amqp.prefix = format!("dokflyt_test_{id}");
    settings.amqp.heartbeat_secs = 5;
    settings.database.url = Secret::new(format!(
        "postgres://postgres@{PG_HOST_PORT}/dokflyt_test_{id}"
    ));
    settings.database.acquire_timeout_ms = 2_000;
    settings.http.addr = "127.0.0.1:0".into();
    settings.sms.gateway_url = Secret::new(format!("http://{}", gateway.addr));
    settings.sms.username = GATEWAY_USER.into();
    settings.sms.password = Secret::new(GATEWAY_PASSWORD);
    settings.sms.dlr_token = Secret::new(DLR_TOKEN);
    settings.sms.rate_per_second = 5_000;
    settings.sms.poll_interval_ms = 100;
    settings.sms.backoff_initial_ms = 20;
    settings.sms.backoff_max_ms = 200;
    settings
}

/// A generated school roster as roster events, and the E.164 numbers expected to
/// receive the emergency SMS.
pub struct GeneratedSchool {
    pub events: Vec<Value>,
    pub expected_numbers: std::collections::BTreeSet<String>,
    pub pupils_reachable: i64,
    pub guardians_reachable: i64,
    pub staff_reachable: i64,
    pub unreachable: i64,
}

fn event(entity: &str, id: &str, record: Value) -> Value {
    let mut e = json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1,
        "entity": entity, "id": id, "version": 1,
        "occurred_at": "2026-11-20T08:00:00+01:00", "op": "upsert",
    });
    e[entity] = record;
    e
}

/// `digits` (8, Norwegian mobile) written in one of the ways school systems do.
fn written(digits: &str, i: usize) -> String {
    match i % 4 {
        0 => digits.to_string(),
        1 => format!("+47 {} {} {}", &digits[..3], &digits[3..5], &digits[5..]),
        2 => format!("0047{digits}"),
        _ => format!("+47{digits}"),
    }
}

/// A school of `pupils` pupils, `guardians` guardians (shared between siblings) and
/// `staff` staff, some of whom are also guardians (same person, same number).
/// Every 50th person has no mobile, every 97th a landline (both unreachable).
pub fn generate_school(
    school: &str,
    muni: &str,
    pupils: usize,
    guardians: usize,
    staff: usize,
) -> GeneratedSchool {
    let mut g = GeneratedSchool {
        events: vec![event(
            "school",
            school,
            json!({"name": "Fjellvik skole", "municipality_number": muni, "principal_staff_id": format!("{school}-st-0")}),
        )],
        expected_numbers: Default::default(),
        pupils_reachable: 0,
        guardians_reachable: 0,
        staff_reachable: 0,
        unreachable: 0,
    };
    // person n of a group gets a number unless it is one of the unreachable ones.
    let number = |base: u32,
                  n: usize,
                  counter: &mut i64,
                  unreachable: &mut i64,
                  expected: &mut std::collections::BTreeSet<String>|
     -> Option<String> {
        if n % 50 == 7 {
            *unreachable += 1;
            return None;
        }
        if n % 97 == 3 {
            *unreachable += 1;
            return Some(format!("22{:06}", n)); // landline
        }
        let digits = format!("{}", base + n as u32);
        *counter += 1;
        expected.insert(format!("+47{digits}"));
        Some(written(&digits, n))
    };
    for p in 0..pupils {
        let m = number(
            40_000_000,
            p,
            &mut g.pupils_reachable,
            &mut g.unreachable,
            &mut g.expected_numbers,
        );
        g.events.push(event("pupil", &format!("{school}-p-{p}"), json!({
            "school_id": school, "name": format!("Elev {p}"), "class": format!("{}A", 1 + p % 10),
            "grade_level": 1 + p % 10, "birth_date": "2014-05-06", "mobile": m,
            "protected_address": p % 200 == 0
        })));
    }
    // Staff who are also guardians: guardian k < staff_guardians has the number of staff k.
    let staff_guardians = staff / 3;
    for k in 0..guardians {
        // Every guardian has 1–3 children (siblings share guardians).
        let children: Vec<Value> = (0..1 + k % 3)
            .map(|c| json!({"pupil_id": format!("{school}-p-{}", (k * 5 + c * 7) % pupils), "parental_responsibility": (k + c) % 9 != 0}))
            .collect();
        let m = if k < staff_guardians {
            // Same person as staff k: same number, counted once.
            let n = k;
            if n % 50 == 7 || n % 97 == 3 {
                g.unreachable += 1;
                None
            } else {
                g.guardians_reachable += 1;
                Some(written(&format!("{}", 99_000_000 + n as u32), n + 1))
            }
        } else {
            number(
                90_000_000,
                k,
                &mut g.guardians_reachable,
                &mut g.unreachable,
                &mut g.expected_numbers,
            )
        };
        g.events.push(event(
            "guardian",
            &format!("{school}-g-{k}"),
            json!({
                "name": format!("Foresatt {k}"), "mobile": m, "children": children
            }),
        ));
    }
    for s in 0..staff {
        let m = number(
            99_000_000,
            s,
            &mut g.staff_reachable,
            &mut g.unreachable,
            &mut g.expected_numbers,
        );
        g.events.push(event(
            "staff",
            &format!("{school}-st-{s}"),
            json!({
                "name": format!("Ansatt {s}"), "mobile": m,
                "schools": [{"school_id": school, "role": if s == 0 { "rektor" } else { "laerer" }}]
            }),
        ));
    }
    g
}

/// Applies roster events straight to the store (as `roster import` does).
pub async fn load_roster(pool: &sqlx::PgPool, events: &[Value]) {
    for e in events {
        let change = dokflyt::roster::RosterChange::parse(&serde_json::to_vec(e).expect("json"))
            .expect("valid roster event");
        dokflyt::roster::store::apply(pool, &change)
            .await
            .expect("applied");
    }
}

/// The `requested_by` of a request.
pub fn who(user: &str, role: &str, schools: &[&str], muni: Option<&str>) -> Value {
    json!({"user_id": user, "role": role, "schools": schools, "municipality_number": muni})
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .bearer_auth(dokflyt::config::DEV_API_TOKEN)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
