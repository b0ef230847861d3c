//! Proof of the person for emergency SMS (issue 16 item 2, issue 22 item 3), on a
//! running dokflyt with real PostgreSQL, RabbitMQ, an SMS gateway stand-in and a
//! local identity provider (JWKS over HTTP):
//! - send and approve over the API need a person assertion (`X-Dokflyt-Person`):
//!   a JWT signed by the client's registered key, or an ID token from the
//!   municipality's identity provider; headers and body claims are not enough;
//! - the assertion is single-use, at most 5 minutes long, unexpired, correctly
//!   signed, for this audience, and its `acr` must reach the required level;
//! - the approver is another person (`sub`) than the requester;
//! - a large send needs approval even under the cost cap;
//! - status and cost calls check the acting user;
//! - the dashboard's approval page (the session is the proof there).

use crate::common;

use std::time::Duration;

use common::person::{claims, ApiCaller, LocalIdp, Signer};
use common::sms_gateway::*;
use common::TestApp;
use dokflyt::access::{Actor, Role};
use dokflyt::assurance::Level;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(120);
const HIGH: &str = "idporten-loa-high";
const TEXT: &str = "Skolen er stengt i dag. Ny info i appen kl. 12.";

async fn messages(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM sms_messages").await
}

/// The school-system style of before: headers and a `requested_by` body, the
/// shared development token or a registered client's secret, no assertion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_in_headers_or_bodies_never_send_or_approve() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |_| {}).await;
    load_roster(&app.pool, &generate_school("s-1", "4699", 5, 5, 2).events).await;
    let c = ApiCaller::register(&app.pool, app.http, "4699", None).await;
    let (code, p) = c.preview("s-1", "rektor-1", "rektor", TEXT).await;
    assert_eq!(code, 200, "{p}");
    let requested_by = who("rektor-1", "rektor", &["s-1"], Some("4699"));
    // The registered client, acting-user headers and a body claim.
    let (code, body) = c
        .call(
            reqwest::Method::POST,
            "/api/schools/s-1/emergency-sms",
            &ApiCaller::as_user("rektor-1", "rektor", &["s-1"]),
            Some(&json!({"requested_by": requested_by, "preview_token": p["token"]})),
        )
        .await;
    assert_eq!(code, 401, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or("")
        .contains("X-Dokflyt-Person"));
    // The shared development token, the same way.
    let (code, _) = post_json(
        app.http,
        "/api/schools/s-1/emergency-sms",
        &json!({"requested_by": requested_by, "preview_token": p["token"]}),
    )
    .await;
    assert_eq!(code, 401);
    // Approve likewise.
    let (code, _) = c
        .call(
            reqwest::Method::POST,
            &format!(
                "/api/schools/s-1/emergency-sms/{}/approve",
                uuid::Uuid::new_v4()
            ),
            &ApiCaller::as_user("rektor-2", "rektor", &["s-1"]),
            Some(&json!({"requested_by": who("rektor-2", "rektor", &["s-1"], None)})),
        )
        .await;
    assert_eq!(code, 401);
    assert_eq!(messages(&app).await, 0, "nothing was sent");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action IN ('sms.send', 'sms.approve')
                AND outcome = 'refused' AND reason = 'assertion_missing'"
        )
        .await,
        3
    );
    app.stop_and_clean().await;
}

/// Every way an assertion can be wrong is refused without using up the preview;
/// then a good one sends it, and the same assertion again is a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertions_are_single_use_short_lived_signed_and_strong_enough() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| s.sms.max_messages_per_hour = 100).await;
    load_roster(&app.pool, &generate_school("s-1", "4699", 5, 5, 2).events).await;
    load_roster(&app.pool, &generate_school("s-2", "4699", 5, 5, 2).events).await;
    let c = ApiCaller::register(&app.pool, app.http, "4699", Some(&["s-1"])).await;
    let other = ApiCaller::register(&app.pool, app.http, "4699", None).await;
    let (code, p) = c.preview("s-1", "rektor-1", "rektor", TEXT).await;
    assert_eq!(code, 200, "{p}");
    let token = p["token"].clone();
    let iss = c.client_id.to_string();
    let now = chrono::Utc::now().timestamp();
    let base = claims(&iss, "dokflyt", "rektor-1", "rektor", &["s-1"], HIGH, 120);
    let with = |k: &str, v: Value| {
        let mut x = base.clone();
        x[k] = v;
        x["jti"] = json!(uuid::Uuid::new_v4().to_string());
        x
    };
    let mut expired = with("iat", json!(now - 600));
    expired["exp"] = json!(now - 400);
    let mut too_long = with("iat", json!(now));
    too_long["exp"] = json!(now + 600);
    let mut no_jti = with("sub", json!("rektor-1"));
    no_jti.as_object_mut().expect("map").remove("jti");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("expired", c.signer.sign(&expired), 401, "ugyldig"),
        (
            "longer than 5 minutes",
            c.signer.sign(&too_long),
            401,
            "300 sekunder",
        ),
        (
            "wrong key",
            Signer::new().sign(&with("sub", json!("rektor-1"))),
            401,
            "ugyldig",
        ),
        ("no jti", c.signer.sign(&no_jti), 401, "ugyldig"),
        (
            "other audience",
            c.signer.sign(&with("aud", json!("noe-annet"))),
            401,
            "ugyldig",
        ),
        (
            "another client's issuer",
            c.signer
                .sign(&with("iss", json!(other.client_id.to_string()))),
            401,
            "ugyldig",
        ),
        ("not a JWT", "abc.def".to_string(), 401, "ugyldig"),
        (
            "level too low",
            c.signer
                .sign(&with("acr", json!("idporten-loa-substantial"))),
            403,
            "«høy»",
        ),
        (
            "a school outside the client",
            c.signer
                .sign(&with("dokflyt_schools", json!(["s-1", "s-2"]))),
            403,
            "skolene",
        ),
    ];
    for (what, assertion, code, words) in &cases {
        let (got, body) = c.send("s-1", &token, assertion).await;
        assert_eq!(got, *code, "{what}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(words),
            "{what}: {body}"
        );
    }
    assert_eq!(messages(&app).await, 0);
    // The level refusal is audited with the missing level.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.send' AND outcome = 'refused'
                AND details->>'missing_level' = 'high' AND details->>'proven_level' = 'substantial'"
        )
        .await,
        1
    );
    // The preview is still there: a good assertion sends it.
    let good = c.assertion("rektor-1", "rektor", &["s-1"], HIGH);
    let (code, body) = c.send("s-1", &token, &good).await;
    assert_eq!(code, 202, "{body}");
    // The same assertion once more (a replay), even for a new preview.
    let (_, p2) = c.preview("s-1", "rektor-1", "rektor", TEXT).await;
    let (code, body) = c.send("s-1", &p2["token"], &good).await;
    assert_eq!(code, 401, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or("")
        .contains("allerede brukt"));
    // The message is the proven person's.
    let by: String = sqlx::query_scalar("SELECT requested_by FROM sms_messages")
        .fetch_one(&app.pool)
        .await
        .expect("requested_by");
    assert_eq!(by, c.person_id("rektor-1"));
    // A preview made through one client cannot be sent through another.
    let (code, body) = other
        .send(
            "s-1",
            &p2["token"],
            &other.assertion("rektor-1", "rektor", &["s-1"], HIGH),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    app.stop_and_clean().await;
}

/// A message to more numbers than `approval_over_recipients` waits for a second
/// person even though it is far under the cost cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_send_needs_approval_even_under_the_cost_cap() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| {
        s.sms.approval_over_recipients = 10;
        s.sms.daily_cost_cap_nok = 1_000_000.0;
    })
    .await;
    let school = generate_school("s-1", "4699", 12, 10, 3);
    assert!(school.expected_numbers.len() > 10);
    load_roster(&app.pool, &school.events).await;
    let c = ApiCaller::register(&app.pool, app.http, "4699", None).await;
    let (code, p) = c.preview("s-1", "rektor-1", "rektor", TEXT).await;
    assert_eq!(code, 200);
    assert_eq!(p["needs_approval"], true, "{p}");
    let (code, sent) = c
        .send(
            "s-1",
            &p["token"],
            &c.assertion("rektor-1", "rektor", &["s-1"], HIGH),
        )
        .await;
    assert_eq!(code, 202);
    assert_eq!(sent["status"], "awaiting_approval");
    let reason: String = sqlx::query_scalar("SELECT status_reason FROM sms_messages")
        .fetch_one(&app.pool)
        .await
        .expect("reason");
    assert!(reason.contains("recipient limit"), "{reason}");
    // Two full dispatcher passes after the message exists: it was looked at and left.
    app.wait_two_dispatcher_passes().await;
    assert!(gw.received().is_empty(), "nothing is sent before approval");
    let id = sent["message_id"].as_str().expect("id");
    let (code, _) = c
        .approve(
            "s-1",
            id,
            &c.assertion("rektor-2", "rektor", &["s-1"], HIGH),
        )
        .await;
    assert_eq!(code, 200);
    app.wait_until("sent after approval", T, || async {
        gw.received().len() == school.expected_numbers.len()
    })
    .await;
    app.stop_and_clean().await;
}

/// An ID token from the municipality's identity provider (verified against its
/// JWKS, fetched over HTTP) proves the person; the approver must be another
/// `sub` of the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_from_the_identity_provider_proves_the_person() {
    let gw = GatewayStandIn::start().await;
    let idp = LocalIdp::start().await;
    let issuer = idp.issuer.clone();
    let app = spawn_sms_app(&gw, |s| {
        s.sms.daily_cost_cap_nok = 1.0;
        s.dashboard.oidc_issuer = issuer.clone();
        s.dashboard.oidc_client_id = "dokflyt-dashboard".into();
        s.person_assertion.idp_audiences = vec!["skolesystem-app".into()];
    })
    .await;
    load_roster(&app.pool, &generate_school("s-1", "4699", 5, 5, 2).events).await;
    let c = ApiCaller::register(&app.pool, app.http, "4699", None).await;
    let id_token = |sub: &str, aud: &str, signer: &Signer| {
        signer.sign(&claims(&issuer, aud, sub, "rektor", &["s-1"], HIGH, 300))
    };
    let (_, p) = c.preview("s-1", "oidc:feide-a", "rektor", TEXT).await;
    // For another audience, or signed by a key the provider does not publish: refused.
    let (code, _) = c
        .send(
            "s-1",
            &p["token"],
            &id_token("feide-a", "noen-andre", &idp.signer),
        )
        .await;
    assert_eq!(code, 401);
    let (code, _) = c
        .send(
            "s-1",
            &p["token"],
            &id_token("feide-a", "skolesystem-app", &Signer::new()),
        )
        .await;
    assert_eq!(code, 401);
    let (code, sent) = c
        .send(
            "s-1",
            &p["token"],
            &id_token("feide-a", "skolesystem-app", &idp.signer),
        )
        .await;
    assert_eq!(code, 202, "{sent}");
    assert_eq!(sent["status"], "awaiting_approval");
    let id = sent["message_id"].as_str().expect("id").to_string();
    let by: String = sqlx::query_scalar("SELECT requested_by FROM sms_messages")
        .fetch_one(&app.pool)
        .await
        .expect("by");
    assert_eq!(
        by, "oidc:feide-a",
        "the same id the dashboard gives the person"
    );
    let (code, body) = c
        .approve(
            "s-1",
            &id,
            &id_token("feide-a", "skolesystem-app", &idp.signer),
        )
        .await;
    assert_eq!(code, 403, "approver == requester: {body}");
    let (code, body) = c
        .approve(
            "s-1",
            &id,
            &id_token("feide-b", "skolesystem-app", &idp.signer),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    app.stop_and_clean().await;
}

/// Status and costs: a client with `sms:request` covering the school, and an
/// acting user who may see the school's SMS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_cost_calls_check_the_acting_user() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |_| {}).await;
    load_roster(&app.pool, &generate_school("s-1", "4699", 5, 5, 2).events).await;
    load_roster(&app.pool, &generate_school("s-2", "4699", 5, 5, 2).events).await;
    let c = ApiCaller::register(&app.pool, app.http, "4699", None).await;
    let (_, p) = c.preview("s-1", "rektor-1", "rektor", TEXT).await;
    let (_, sent) = c
        .send(
            "s-1",
            &p["token"],
            &c.assertion("rektor-1", "rektor", &["s-1"], HIGH),
        )
        .await;
    let id = sent["message_id"].as_str().expect("id").to_string();
    let get = |school: &str, what: String, user: &str, role: &str, schools: &[&str]| {
        let headers = ApiCaller::as_user(user, role, schools);
        let c = &c;
        let path = format!("/api/schools/{school}/{what}");
        async move { c.call(reqwest::Method::GET, &path, &headers, None).await.0 }
    };
    let status = || format!("emergency-sms/{id}");
    let costs = || "sms-costs?month=2026-11".to_string();
    for what in [status(), costs()] {
        assert_eq!(
            get("s-1", what.clone(), "rektor-1", "rektor", &["s-1"]).await,
            200,
            "{what}"
        );
        assert_eq!(
            get("s-1", what.clone(), "kom", "kommuneadmin", &[]).await,
            200,
            "{what}"
        );
        assert_eq!(
            get("s-1", what.clone(), "eier", "skoleeier", &[]).await,
            200,
            "{what}"
        );
        assert_eq!(
            get("s-1", what.clone(), "l", "laerer", &["s-1"]).await,
            403,
            "{what}"
        );
        assert_eq!(
            get("s-1", what.clone(), "t", "team", &["s-1"]).await,
            403,
            "{what}"
        );
        assert_eq!(
            get("s-1", what.clone(), "r2", "rektor", &["s-2"]).await,
            403,
            "{what}"
        );
    }
    // The message id under another school answers like a missing one.
    assert_eq!(get("s-2", status(), "r2", "rektor", &["s-2"]).await, 404);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action IN ('sms.status', 'sms.costs')
                AND outcome = 'refused'"
        )
        .await,
        6
    );
    app.stop_and_clean().await;
}

struct Browser {
    cookie: String,
    csrf: String,
}

/// A dashboard session signed in at `high` (what sending and approving need).
async fn signed_in(app: &TestApp, user: &str, role: Role, schools: &[&str]) -> Browser {
    signed_in_at(app, user, role, schools, Level::High).await
}

async fn signed_in_at(
    app: &TestApp,
    user: &str,
    role: Role,
    schools: &[&str],
    level: Level,
) -> Browser {
    let actor =
        Actor::new(user, role, schools.iter().map(|s| s.to_string()).collect()).expect("actor");
    let (cookie, csrf) = common::dashboard_session(&app.pool, &actor, level).await;
    Browser { cookie, csrf }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn page(app: &TestApp, b: &Browser, path: &str) -> (u16, String) {
    let r = browser()
        .get(format!("http://{}{path}", app.http))
        .header("cookie", &b.cookie)
        .send()
        .await
        .expect("GET");
    let code = r.status().as_u16();
    (code, r.text().await.unwrap_or_default())
}

async fn form(app: &TestApp, b: &Browser, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = browser()
        .post(format!("http://{}{path}", app.http))
        .header("cookie", &b.cookie)
        .form(fields)
        .send()
        .await
        .expect("POST");
    let code = r.status().as_u16();
    let to = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (code, to)
}

/// The dashboard: a principal's message over the cost cap waits; the approval
/// page lists it, the requester cannot approve it, a teacher cannot open the
/// page, another principal approves it (CSRF and the confirmation required) and
/// it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_approval_page_needs_another_person() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| s.sms.daily_cost_cap_nok = 1.0).await;
    let school = generate_school("s-1", "4699", 5, 5, 2);
    load_roster(&app.pool, &school.events).await;
    let a = signed_in(&app, "oidc:rektor-a", Role::Rektor, &["s-1"]).await;
    let b = signed_in(&app, "oidc:rektor-b", Role::Rektor, &["s-1"]).await;
    let other = signed_in(&app, "oidc:rektor-x", Role::Rektor, &["s-2"]).await;
    let teacher = signed_in(&app, "oidc:laerer", Role::Laerer, &["s-1"]).await;

    // A composes and sends in the dashboard (the session is the proof).
    let r = browser()
        .post(format!("http://{}/dashboard/sms/forhandsvis", app.http))
        .header("cookie", &a.cookie)
        .form(&[
            ("_csrf", a.csrf.as_str()),
            ("school", "s-1"),
            ("tekst", TEXT),
            ("begrunnelse", "Strømbrudd"),
        ])
        .send()
        .await
        .expect("preview");
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.expect("html");
    let token = html
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("preview token in the page")
        .to_string();
    let (code, _) = form(
        &app,
        &a,
        "/dashboard/sms/send",
        &[("_csrf", &a.csrf), ("school", "s-1"), ("token", &token)],
    )
    .await;
    assert_eq!(code, 303);
    let id: uuid::Uuid = sqlx::query_scalar(
        "SELECT message_id FROM sms_messages WHERE status = 'awaiting_approval'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("waiting");
    let approve_path = format!("/dashboard/sms/godkjenning/{id}");

    // A sees it as their own and cannot approve it.
    let (code, html) = page(&app, &a, "/dashboard/sms/godkjenning").await;
    assert_eq!(code, 200);
    assert!(html.contains("Din egen"), "{html}");
    let (code, _) = page(&app, &a, &format!("{approve_path}?school=s-1")).await;
    assert_eq!(code, 403);
    let (code, _) = form(
        &app,
        &a,
        &approve_path,
        &[("_csrf", &a.csrf), ("school", "s-1"), ("bekreft", "ja")],
    )
    .await;
    assert_eq!(code, 403);
    // A teacher cannot open the page; another school's principal does not see it.
    let (code, _) = page(&app, &teacher, "/dashboard/sms/godkjenning").await;
    assert_eq!(code, 403);
    let (code, html) = page(&app, &other, "/dashboard/sms/godkjenning").await;
    assert_eq!(code, 200);
    assert!(!html.contains(&id.to_string()));
    let (code, _) = form(
        &app,
        &other,
        &approve_path,
        &[("_csrf", &other.csrf), ("school", "s-1"), ("bekreft", "ja")],
    )
    .await;
    assert_eq!(code, 403);

    // B signed in at substantial is sent to a stronger sign-in, page and form
    // alike, and nothing is approved.
    let weak = signed_in_at(
        &app,
        "oidc:rektor-b",
        Role::Rektor,
        &["s-1"],
        Level::Substantial,
    )
    .await;
    let r = browser()
        .get(format!("http://{}{approve_path}?school=s-1", app.http))
        .header("cookie", &weak.cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 303);
    let to = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(to.starts_with("/dashboard/logg-inn?niva=high"), "{to}");
    let (code, _) = form(
        &app,
        &weak,
        &approve_path,
        &[("_csrf", &weak.csrf), ("school", "s-1"), ("bekreft", "ja")],
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.approve' AND outcome = 'refused'
                AND details ->> 'missing_level' = 'high'"
        )
        .await,
        2,
        "both step-ups are audited with the missing level"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE status = 'awaiting_approval'")
            .await,
        1
    );

    // B: the list links to the confirmation page.
    let (code, html) = page(&app, &b, "/dashboard/sms/godkjenning").await;
    assert_eq!(code, 200);
    assert!(html.contains(&approve_path), "{html}");
    let (code, html) = page(&app, &b, &format!("{approve_path}?school=s-1")).await;
    assert_eq!(code, 200);
    assert!(html.contains("Godkjenn og send"));
    // Without the CSRF token, or without confirming: refused, still waiting.
    let (code, _) = form(
        &app,
        &b,
        &approve_path,
        &[("school", "s-1"), ("bekreft", "ja")],
    )
    .await;
    assert_eq!(code, 403);
    let (code, _) = form(
        &app,
        &b,
        &approve_path,
        &[("_csrf", &b.csrf), ("school", "s-1")],
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE status = 'awaiting_approval'")
            .await,
        1
    );
    let (code, to) = form(
        &app,
        &b,
        &approve_path,
        &[("_csrf", &b.csrf), ("school", "s-1"), ("bekreft", "ja")],
    )
    .await;
    assert_eq!(code, 303);
    assert!(
        to.starts_with(&format!("/dashboard/sms/melding/{id}")),
        "{to}"
    );
    app.wait_until("sent after approval", T, || async {
        gw.received().len() == school.expected_numbers.len()
    })
    .await;
    let approved_by: String = sqlx::query_scalar("SELECT approved_by FROM sms_messages")
        .fetch_one(&app.pool)
        .await
        .expect("approved_by");
    assert_eq!(approved_by, "oidc:rektor-b");
    assert!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.approve' AND outcome = 'refused'"
        )
        .await
            >= 2
    );
    app.stop_and_clean().await;
}

/// The person dimension of the API matrix for send and approve: proof (none,
/// expired, replayed, too weak, valid) × every role × own school, a neighbour
/// school of the client's municipality, another municipality's school. Every
/// cell has its answer; every denial is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_person_dimension_of_send_and_approve() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| {
        s.http.requests_per_minute_per_client = 1_000_000;
        s.http.requests_per_minute_per_user = 1_000_000;
    })
    .await;
    for (school, muni) in [("s-own", "4699"), ("s-nabo", "4699"), ("s-annen", "5001")] {
        load_roster(&app.pool, &generate_school(school, muni, 2, 2, 1).events).await;
    }
    let c = ApiCaller::register(&app.pool, app.http, "4699", None).await;
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| *r != Role::System)
        .collect();
    let mut failures = Vec::new();
    let mut cells = 0;
    for action in ["send", "approve"] {
        for role in &roles {
            let municipal = role.is_municipal();
            let schools: &[&str] = if municipal { &[] } else { &["s-own"] };
            for (school, place) in [
                ("s-own", "own"),
                ("s-nabo", "neighbour"),
                ("s-annen", "foreign"),
            ] {
                for proof in ["none", "expired", "replayed", "low", "valid"] {
                    cells += 1;
                    let sub = format!("{role}-{place}-{proof}-{action}");
                    let now = chrono::Utc::now().timestamp();
                    let mut cl = claims(
                        &c.client_id.to_string(),
                        "dokflyt",
                        &sub,
                        role.as_str(),
                        schools,
                        HIGH,
                        120,
                    );
                    let assertion = match proof {
                        "none" => None,
                        "expired" => {
                            cl["iat"] = json!(now - 600);
                            cl["exp"] = json!(now - 400);
                            Some(c.signer.sign(&cl))
                        }
                        "low" => {
                            cl["acr"] = json!("idporten-loa-substantial");
                            Some(c.signer.sign(&cl))
                        }
                        _ => Some(c.signer.sign(&cl)),
                    };
                    let headers: Vec<(&str, String)> = assertion
                        .iter()
                        .map(|a| ("x-dokflyt-person", a.clone()))
                        .collect();
                    let (path, body) = match action {
                        "send" => (
                            format!("/api/schools/{school}/emergency-sms"),
                            json!({"preview_token": uuid::Uuid::new_v4()}),
                        ),
                        _ => (
                            format!(
                                "/api/schools/{school}/emergency-sms/{}/approve",
                                uuid::Uuid::new_v4()
                            ),
                            json!({}),
                        ),
                    };
                    if proof == "replayed" {
                        c.call(reqwest::Method::POST, &path, &headers, Some(&body))
                            .await;
                    }
                    let before = app
                        .count("SELECT count(*) FROM audit_log WHERE outcome = 'refused'")
                        .await;
                    let (code, answer) = c
                        .call(reqwest::Method::POST, &path, &headers, Some(&body))
                        .await;
                    let audited = app
                        .count("SELECT count(*) FROM audit_log WHERE outcome = 'refused'")
                        .await
                        > before;
                    let may = match role {
                        Role::Rektor => place == "own",
                        Role::Skoleeier => place != "foreign",
                        _ => false,
                    };
                    // (status, audited)
                    let want = match (place, proof) {
                        ("foreign", _) => (403, true),
                        (_, "none" | "expired" | "replayed") => (401, true),
                        (_, "low") => (403, true),
                        _ if !may => (403, true),
                        // Allowed and proven: the request reaches the message itself.
                        _ if action == "send" => (409, false),
                        _ => (404, false),
                    };
                    if (code, audited) != want {
                        failures.push(format!(
                            "{action} × {role} × {place} × {proof}: want {want:?}, got ({code}, {audited}) {answer}"
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(cells, 2 * 13 * 3 * 5);
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    app.stop_and_clean().await;
}

/// `dokflyt person-assertion set-key` registers a client's public key; a private
/// key or an unknown client is refused; assertions signed with the key then work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_registers_a_clients_assertion_key() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |_| {}).await;
    load_roster(&app.pool, &generate_school("s-1", "4699", 3, 3, 1).events).await;
    let c = ApiCaller::register(&app.pool, app.http, "4699", None).await;
    let fresh = Signer::new();
    let dir = tempfile::tempdir().expect("tmp");
    let public = dir.path().join("public.pem");
    std::fs::write(&public, fresh.public_pem()).expect("write");
    let private = dir.path().join("private.pem");
    std::fs::write(
        &private,
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let run = |client: &str, key: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
            .args(["person-assertion", "set-key", "--client", client, "--key"])
            .arg(key)
            .env_remove("DOKFLYT_CONFIG")
            .env("DOKFLYT_DATABASE_URL", app.settings.database.url.expose())
            .output()
            .expect("runs")
    };
    assert!(
        !run(&c.name, &private).status.success(),
        "a private key is refused"
    );
    assert!(!run("ukjent-klient", &public).status.success());
    let out = run(&c.name, &public);
    assert!(out.status.success(), "{out:?}");
    // The old key no longer works; the new one does.
    let (_, p) = c.preview("s-1", "rektor-1", "rektor", TEXT).await;
    let (code, _) = c
        .send(
            "s-1",
            &p["token"],
            &c.assertion("rektor-1", "rektor", &["s-1"], HIGH),
        )
        .await;
    assert_eq!(code, 401);
    let token = fresh.sign(&claims(
        &c.client_id.to_string(),
        "dokflyt",
        "rektor-1",
        "rektor",
        &["s-1"],
        HIGH,
        120,
    ));
    let (code, body) = c.send("s-1", &p["token"], &token).await;
    assert_eq!(code, 202, "{body}");
    app.stop_and_clean().await;
}
