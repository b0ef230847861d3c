//! The SMS tests' harness: a dokflyt spawned with SMS settings against a gateway,
//! a generated school roster, and API helpers. The gateway itself is the one
//! stand-in of `dokflyt_dev::standins::sms_gateway` (a real HTTP server speaking
//! the LINK Mobility-style protocol), re-exported here with its tests' options:
//! it records every accepted send (it does NOT deduplicate by refId, so a second
//! send of one key is visible to the test) and can be told to accept a request
//! but answer 500 (an ambiguous failure) for the first N requests.

pub use dokflyt_dev::standins::sms_gateway::{GatewayStandIn, GATEWAY_PASSWORD, GATEWAY_USER};

use std::net::SocketAddr;

use dokflyt::App;
use dokflyt::{Secret, Settings};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{TestApp, PG_HOST_PORT};

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
        dokflyt::roster::apply(pool, &change)
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
