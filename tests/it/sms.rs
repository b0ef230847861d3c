//! Emergency SMS end to end: a real dokflyt on the real PostgreSQL and RabbitMQ,
//! sending to a real HTTP gateway stand-in (tests/common/sms_gateway.rs).

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::person::ApiCaller;
use common::sms_gateway::*;
use common::TestApp;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(120);
const HIGH: &str = "idporten-loa-high";
const TEXT: &str =
    "Skolen er STENGT i dag pga. strømbrudd. Ny info i appen innen kl. 12. Hilsen rektor";

async fn open_recipients(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM sms_recipients WHERE status IN ('queued','sending')")
        .await
}

async fn finish(app: TestApp) {
    app.stop_and_clean().await;
}

/// A registered school-system client of municipality 4699 with an assertion key.
async fn caller(app: &TestApp) -> ApiCaller {
    ApiCaller::register(&app.pool, app.http, "4699", None).await
}

/// The principal `user` of `school` previews (as the client's acting user) and
/// sends (proven by a high-level assertion from the client's key).
async fn preview_and_send(c: &ApiCaller, school: &str, user: &str) -> (Value, Value) {
    let (code, preview) = c.preview(school, user, "rektor", TEXT).await;
    assert_eq!(code, 200, "{preview}");
    let proof = c.assertion(user, "rektor", &[school], HIGH);
    let (code, sent) = c.send(school, &preview["token"], &proof).await;
    assert_eq!(code, 202, "{sent}");
    (preview, sent)
}

/// 1,500 pupils, 2,400 guardians (shared), 150 staff (a third also guardians):
/// the preview's counts and cost are right, and every reachable number gets exactly
/// one SMS through the gateway; delivery reports mark them delivered; the ledger
/// has the cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_big_school_gets_exactly_one_sms_per_number() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| s.sms.approval_over_recipients = 100_000).await;
    let school = generate_school("s-big", "4699", 1500, 2400, 150);
    load_roster(&app.pool, &school.events).await;
    let c = caller(&app).await;
    let (preview, sent) = preview_and_send(&c, "s-big", "rektor-1").await;

    let numbers = school.expected_numbers.len() as i64;
    assert_eq!(
        preview["groups"]["pupils"]["reachable"],
        school.pupils_reachable
    );
    assert_eq!(
        preview["groups"]["guardians"]["reachable"],
        school.guardians_reachable
    );
    assert_eq!(
        preview["groups"]["staff"]["reachable"],
        school.staff_reachable
    );
    assert_eq!(preview["unreachable"], school.unreachable);
    assert_eq!(preview["numbers"], numbers);
    // Fewer numbers than reachable persons: shared guardians and staff who are guardians.
    assert!(
        numbers < school.pupils_reachable + school.guardians_reachable + school.staff_reachable
    );
    assert_eq!(preview["text"]["encoding"], "gsm7");
    assert_eq!(preview["text"]["segments"], 1);
    assert_eq!(preview["cost_ore"], numbers * 69);
    assert_eq!(sent["status"], "approved");

    app.wait_until("every number is sent", T, || async {
        open_recipients(&app).await == 0 && gw.received().len() as i64 >= numbers
    })
    .await;
    let per_number = gw.per_number();
    let got: BTreeSet<String> = per_number.keys().cloned().collect();
    assert_eq!(
        got, school.expected_numbers,
        "exactly the reachable numbers"
    );
    assert!(per_number.values().all(|n| *n == 1), "a number got two SMS");
    assert!(
        gw.received().iter().all(|r| r.text == TEXT),
        "the text is what the principal wrote"
    );

    gw.report_all_delivered(app.http, DLR_TOKEN).await;
    assert_eq!(
        app.count("SELECT count(*) FROM sms_recipients WHERE status = 'delivered'")
            .await,
        numbers
    );
    app.wait_until("the message is completed", T, || async {
        app.count("SELECT count(*) FROM sms_messages WHERE status = 'completed'")
            .await
            == 1
    })
    .await;
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let (code, costs) = c
        .call(
            reqwest::Method::GET,
            &format!("/api/schools/s-big/sms-costs?month={month}"),
            &ApiCaller::as_user("rektor-1", "rektor", &["s-big"]),
            None,
        )
        .await;
    assert_eq!(code, 200, "{costs}");
    assert_eq!(costs["messages"], 1);
    assert_eq!(costs["sms_count"], numbers);
    assert_eq!(costs["cost_ore"], numbers * 69);
    // The same ledger through the command line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
        .args([
            "sms", "costs", "--school", "s-big", "--month", &month, "--json",
        ])
        .env("DOKFLYT_DATABASE_URL", app.settings.database.url.expose())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(cli["cost_ore"], numbers * 69);
    assert_eq!(cli["rows"][0]["price_ore"], 69);
    assert_eq!(cli["rows"][0]["price_valid_from"], "2020-01-01");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.send' AND outcome = 'granted'"
        )
        .await,
        1
    );
    finish(app).await;
}

/// Every role × own school / other school × preview / send: only the school's
/// rektor and the skoleeier of its municipality get through; every refusal is a 403
/// with an audit entry. The sender is always proven (a high-level assertion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| s.sms.max_messages_per_hour = 1000).await;
    let own = generate_school("s-own", "4699", 5, 5, 2);
    let other = generate_school("s-other", "4602", 5, 5, 2);
    load_roster(&app.pool, &own.events).await;
    load_roster(&app.pool, &other.events).await;
    let c = caller(&app).await;
    // A valid token from the real principal, for the send attempts of those who cannot preview.
    let (code, p) = c.preview("s-own", "rektor-own", "rektor", "Test").await;
    assert_eq!(code, 200, "{p}");
    let rektor_token = p["token"].clone();

    let mut refusals = 0;
    for role in dokflyt::access::Role::ALL {
        if role == dokflyt::access::Role::System {
            continue; // never over the API (tests/authz_matrix.rs)
        }
        let role = role.as_str();
        for (school, mine) in [("s-own", true), ("s-other", false)] {
            let user = format!("u-{role}-{school}");
            // The user belongs to s-own (a skoleeier acts in the client's 4699).
            let allowed = mine && (role == "rektor" || role == "skoleeier");
            let (code, body) = c
                .call(
                    reqwest::Method::POST,
                    &format!("/api/schools/{school}/emergency-sms/preview"),
                    &ApiCaller::as_user(&user, role, &["s-own"]),
                    Some(&json!({"text": "Test", "reason": "Øvelse"})),
                )
                .await;
            assert_eq!(
                code,
                if allowed { 200 } else { 403 },
                "preview {role} {school}: {body}"
            );
            let token = if allowed {
                body["token"].clone()
            } else {
                rektor_token.clone()
            };
            let proof = c.assertion(&user, role, &["s-own"], HIGH);
            let (code, body) = c.send(school, &token, &proof).await;
            assert_eq!(
                code,
                if allowed { 202 } else { 403 },
                "send {role} {school}: {body}"
            );
            if !allowed {
                refusals += 2;
                // Another municipality's school is refused at the client door already.
                let text = body["message"].as_str().unwrap_or("");
                assert!(
                    text.contains("kan") || text.contains("tilgang"),
                    "Norwegian reason: {body}"
                );
            }
        }
    }
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE outcome = 'refused' AND action IN ('sms.preview','sms.send','api.school')").await,
        refusals
    );
    // Granted: 2 previews + 2 sends, plus the principal's first preview.
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE outcome = 'granted'")
            .await,
        5
    );
    finish(app).await;
}

/// Over the daily cost cap the message waits; the sender cannot approve it
/// themselves (the same `sub`, proven); a teacher cannot; another rektor of the
/// school can, and then it is sent and booked. The per-school rate limit refuses
/// (429, audited) the next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_cap_needs_a_second_person_and_the_rate_limit_holds() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| {
        s.sms.daily_cost_cap_nok = 1.0;
        s.sms.max_messages_per_hour = 1;
    })
    .await;
    let school = generate_school("s-cap", "4699", 10, 10, 3);
    load_roster(&app.pool, &school.events).await;
    let c = caller(&app).await;
    let (preview, sent) = preview_and_send(&c, "s-cap", "rektor-a").await;
    assert_eq!(preview["needs_approval"], true);
    assert_eq!(sent["status"], "awaiting_approval");
    let id = sent["message_id"].as_str().expect("id").to_string();
    // Two full dispatcher passes after the message exists: it was looked at and left.
    app.wait_two_dispatcher_passes().await;
    assert!(gw.received().is_empty(), "nothing is sent before approval");
    assert_eq!(app.count("SELECT count(*) FROM sms_cost_ledger").await, 0);

    let own = c.assertion("rektor-a", "rektor", &["s-cap"], HIGH);
    let (code, body) = c.approve("s-cap", &id, &own).await;
    assert_eq!(
        code, 403,
        "the sender cannot approve their own message: {body}"
    );
    let teacher = c.assertion("laerer-b", "laerer", &["s-cap"], HIGH);
    let (code, _) = c.approve("s-cap", &id, &teacher).await;
    assert_eq!(code, 403);
    let second = c.assertion("rektor-b", "rektor", &["s-cap"], HIGH);
    let (code, body) = c.approve("s-cap", &id, &second).await;
    assert_eq!(code, 200, "{body}");
    app.wait_until("sent after approval", T, || async {
        gw.received().len() == school.expected_numbers.len()
    })
    .await;
    assert_eq!(app.count("SELECT count(*) FROM sms_cost_ledger").await, 1);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.approve' AND outcome = 'refused'"
        )
        .await,
        2
    );
    let approved_by: String =
        sqlx::query_scalar("SELECT approved_by FROM sms_messages WHERE message_id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .expect("approved_by");
    assert_eq!(approved_by, c.person_id("rektor-b"));

    // One message per hour: the next is refused before anything is written.
    let (code, p) = c.preview("s-cap", "rektor-b", "rektor", "Igjen").await;
    assert_eq!(code, 200);
    let proof = c.assertion("rektor-b", "rektor", &["s-cap"], HIGH);
    let (code, body) = c.send("s-cap", &p["token"], &proof).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.send' AND outcome = 'refused'"
        )
        .await,
        1
    );
    // A send without a preview token that exists is refused.
    let proof = c.assertion("rektor-b", "rektor", &["s-cap"], HIGH);
    let (code, _) = c.send("s-cap", &json!(uuid::Uuid::new_v4()), &proof).await;
    assert_eq!(code, 409);
    finish(app).await;
}

/// The gateway accepts but answers 500 (an ambiguous failure) for the first 20
/// requests: the worker looks the key up before resending, so nobody gets two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_gateway_failures_are_looked_up_not_resent() {
    let gw = GatewayStandIn::start().await;
    gw.ambiguous_left
        .store(20, std::sync::atomic::Ordering::SeqCst);
    let app = spawn_sms_app(&gw, |_| {}).await;
    let school = generate_school("s-amb", "4699", 40, 30, 5);
    load_roster(&app.pool, &school.events).await;
    preview_and_send(&caller(&app).await, "s-amb", "r").await;
    app.wait_until("all settled", T, || async {
        open_recipients(&app).await == 0
    })
    .await;
    let per_number = gw.per_number();
    assert_eq!(per_number.len(), school.expected_numbers.len());
    assert!(per_number.values().all(|n| *n == 1), "a number got two SMS");
    assert!(gw.lookups.load(std::sync::atomic::Ordering::SeqCst) >= 20);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_recipients WHERE status = 'sent'")
            .await,
        school.expected_numbers.len() as i64
    );
    finish(app).await;
}

/// An `emergency_sms` document event (the example, from the school's principal
/// in the roster) goes to the school's roster; one from a teacher is dead-lettered
/// by the routing table (`not_authorised`); one that claims `skoleeier` of another
/// municipality passes the table but not the roster check, and is dead-lettered
/// `not_authorised` too (and audited), never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_sms_events_are_sent_to_the_roster_with_the_same_rules() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |_| {}).await;
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut example: Value = serde_json::from_slice(
        &std::fs::read(manifest.join("examples/events/emergency_sms.json")).expect("example"),
    )
    .expect("json");
    let school_id = example["school"]["id"]
        .as_str()
        .expect("school")
        .to_string();
    let muni = example["municipality"]["number"]
        .as_str()
        .expect("muni")
        .to_string();
    let school = generate_school(&school_id, &muni, 20, 15, 4);
    load_roster(&app.pool, &school.events).await;
    // The generated roster's principal is staff 0.
    example["sender"]["user_id"] = json!(format!("{school_id}-st-0"));
    app.publish(&example).await;
    let mut teacher = example.clone();
    teacher["event_id"] = json!(uuid::Uuid::new_v4().to_string());
    teacher["sender"]["role"] = json!("laerer");
    app.publish(&teacher).await;
    let mut owner = example.clone();
    owner["event_id"] = json!(uuid::Uuid::new_v4().to_string());
    owner["sender"]["role"] = json!("skoleeier");
    owner["sender"]["user_id"] = json!(format!("{school_id}-st-1"));
    owner["municipality"]["number"] = json!("9999");
    app.publish(&owner).await;

    app.wait_until("the event taken in and the roster sent", T, || async {
        app.count("SELECT count(*) FROM sms_messages").await == 1
            && open_recipients(&app).await == 0
            && gw.received().len() == school.expected_numbers.len()
            && app.count("SELECT count(*) FROM dead_letters").await == 2
    })
    .await;
    let text = example["fields"]["text"].as_str().expect("text");
    assert!(gw.received().iter().all(|r| r.text == text));
    let per_number = gw.per_number();
    assert!(per_number.values().all(|n| *n == 1));
    let mut dead = app.drain_dead_letters().await;
    dead.sort_by(|a, b| a.1.cmp(&b.1));
    let mut expected = vec![
        teacher["event_id"].as_str().map(str::to_string),
        owner["event_id"].as_str().map(str::to_string),
    ];
    expected.sort();
    assert_eq!(
        dead.iter().map(|d| d.1.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(dead.iter().all(|d| d.0 == "not_authorised"));
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.send' AND outcome = 'refused'"
        )
        .await,
        1,
        "the roster refusal is audited (the routing table's is a plain dead letter)"
    );
    // Redelivering the event changes nothing: once the consumer has handled it and
    // the dispatcher has made two full passes since, nothing more exists or went out.
    let handled = app.handled();
    app.publish(&example).await;
    app.wait_until(
        "the redelivery is handled",
        Duration::from_secs(30),
        || async { app.handled() > handled },
    )
    .await;
    app.wait_two_dispatcher_passes().await;
    assert_eq!(app.count("SELECT count(*) FROM sms_messages").await, 1);
    assert_eq!(gw.received().len(), school.expected_numbers.len());
    finish(app).await;
}

/// `dokflyt serve` killed (SIGKILL) in the middle of a fan-out and started again:
/// no number gets two SMS, none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_fan_out_no_number_twice_none_lost() {
    use tokio::io::AsyncBufReadExt;
    let gw = GatewayStandIn::start().await;
    gw.delay_ms.store(5, std::sync::atomic::Ordering::SeqCst);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let settings = test_settings(&id, &gw);
    let config = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(
        config.path(),
        format!(
            "[amqp]\nprefix = \"{}\"\n[database]\nurl = \"{}\"\n[http]\naddr = \"127.0.0.1:{port}\"\n\
             [sms]\ngateway_url = \"http://{}\"\nusername = \"{GATEWAY_USER}\"\npassword = \"{GATEWAY_PASSWORD}\"\n\
             rate_per_second = 400\nconcurrency = 8\nbatch_size = 20\nclaim_ttl_secs = 2\npoll_interval_ms = 100\n\
             approval_over_recipients = 100000\n",
            settings.amqp.prefix,
            settings.database.url.expose(),
            gw.addr
        ),
    )
    .expect("config");
    let start = || {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
            .args(["serve", "--config"])
            .arg(config.path())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DOKFLYT_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("dokflyt starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("sending emergency SMS") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        (child, rx)
    };
    let (mut child, ready) = start();
    tokio::time::timeout(T, ready)
        .await
        .expect("started")
        .expect("ready");
    let pool = sqlx::PgPool::connect(settings.database.url.expose())
        .await
        .expect("pool");
    let school = generate_school("s-kill", "4699", 600, 500, 40);
    load_roster(&pool, &school.events).await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let c = ApiCaller::register(&pool, addr, "4699", None).await;
    preview_and_send(&c, "s-kill", "rektor-k").await;
    let total = school.expected_numbers.len();
    let deadline = std::time::Instant::now() + T;
    while gw.received().len() < total / 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fan-out did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    let at_kill = gw.received().len();
    assert!(at_kill < total, "killed mid fan-out ({at_kill} of {total})");

    let (mut child, ready) = start();
    tokio::time::timeout(T, ready)
        .await
        .expect("restarted")
        .expect("ready");
    let deadline = std::time::Instant::now() + T;
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sms_recipients WHERE status IN ('queued','sending')",
        )
        .fetch_one(&pool)
        .await
        .expect("count");
        if open == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{open} numbers never settled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.start_kill().expect("kill");
    let _ = child.wait().await;
    let per_number = gw.per_number();
    let got: BTreeSet<String> = per_number.keys().cloned().collect();
    assert_eq!(got, school.expected_numbers, "none lost");
    let twice: Vec<_> = per_number.values().filter(|n| **n > 1).collect();
    assert!(twice.is_empty(), "{} numbers got two SMS", twice.len());
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM sms_recipients WHERE status = 'sent'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(sent as usize, total);
    pool.close().await;

    let conn = dokflyt::broker::connect(common::AMQP_URL, 10)
        .await
        .expect("amqp");
    let ch = conn.create_channel().await.expect("channel");
    let t = dokflyt::broker::Topology::new(&settings.amqp.prefix, 5);
    t.remove(&ch).await;
    common::drop_database(&format!("dokflyt_test_{id}")).await;
}

/// `dokflyt sms count` prints one JSON object.
#[test]
fn sms_count_cli() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
        .args(["sms", "count", "Skuvla lea giddejuvvon 🚨"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v,
        json!({"encoding": "ucs2", "characters": 24, "segments": 1})
    );
}

/// Delivery reports are refused without the configured token — and refused
/// altogether while none is configured (fail closed), so nobody can mark an
/// emergency SMS delivered by posting a forged report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_reports_need_the_configured_token() {
    let gw = GatewayStandIn::start().await;
    let report = json!({ "refId": "x", "resultCode": 1001 });
    let post = |app: &TestApp, token: &str| {
        let url = format!("http://{}/api/sms/dlr?token={token}", app.http);
        let body = report.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("posted")
                .status()
                .as_u16()
        }
    };
    let app = spawn_sms_app(&gw, |_| {}).await;
    assert_eq!(post(&app, "gjettet").await, 401);
    assert_ne!(post(&app, DLR_TOKEN).await, 401);
    // The school system's calls need the API token: nobody else can claim to be
    // a principal, read a school's ledger or a message's progress.
    let base = format!("http://{}/api/schools/s1", app.http);
    let c = reqwest::Client::new();
    for req in [
        c.post(format!("{base}/emergency-sms/preview"))
            .json(&json!({})),
        c.post(format!("{base}/emergency-sms")).json(&json!({})),
        c.get(format!("{base}/emergency-sms/{}", uuid::Uuid::new_v4())),
        c.get(format!("{base}/sms-costs?month=2026-11")),
    ] {
        let code = req.send().await.expect("sent").status().as_u16();
        assert_eq!(code, 401, "without the API token");
    }
    app.stop_and_clean().await;

    let unconfigured =
        spawn_sms_app(&gw, |s| s.sms.dlr_token = dokflyt::config::Secret::new("")).await;
    assert_eq!(post(&unconfigured, "").await, 401);
    unconfigured.stop_and_clean().await;
}

/// Settings where municipality 5430 (Kautokeino) writes North Sámi beside the
/// Norwegian (`[letters.municipalities."5430"] sami = "se"`).
fn north_sami(s: &mut dokflyt::config::Settings) {
    s.letters.municipalities.insert(
        "5430".into(),
        dokflyt::config::letters::Override {
            sami: Some(dokflyt::config::letters::Sami::North),
            ..Default::default()
        },
    );
}

/// A school in a municipality with a Sámi setting: the preview counts the whole
/// text (the Norwegian, then the principal's Sámi text or the fixed phrase) in
/// UCS-2 and shows the higher cost; a school without the setting is unchanged;
/// the gateway receives both texts. The `emergency_sms_sami` example (its own
/// `fields.sami_text.text`) reaches the gateway with both texts too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sami_area_school_sends_both_texts_and_the_preview_counts_ucs2() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, north_sami).await;
    let sami_school = generate_school("s-sami", "5430", 6, 4, 2);
    let plain_school = generate_school("s-plain", "4699", 6, 4, 2);
    load_roster(&app.pool, &sami_school.events).await;
    load_roster(&app.pool, &plain_school.events).await;
    let plain = caller(&app).await;
    let sami = ApiCaller::register(&app.pool, app.http, "5430", None).await;

    // Without the setting: GSM 7-bit, one SMS, the text as written.
    let (code, p) = plain.preview("s-plain", "rektor-1", "rektor", TEXT).await;
    assert_eq!(code, 200, "{p}");
    assert_eq!(p["text"]["encoding"], "gsm7");
    assert_eq!(p["text"]["segments"], 1);
    assert_eq!(p["message"], TEXT);
    assert_eq!(p["sami"], Value::Null);
    let plain_numbers = p["numbers"].as_i64().expect("numbers");
    assert_eq!(p["cost_ore"], plain_numbers * 69);

    // With it, no Sámi text given: the fixed North Sámi phrase follows.
    let (code, p) = sami.preview("s-sami", "rektor-1", "rektor", TEXT).await;
    assert_eq!(code, 200, "{p}");
    assert_eq!(p["sami"]["language"], "se");
    assert_eq!(p["sami"]["source"], "fixed");
    let message = p["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!("{TEXT}\n\nDehálaš dieđáhus")),
        "{message}"
    );
    let count = dokflyt::sms::segments::count(message);
    assert_eq!(p["text"]["encoding"], "ucs2");
    assert_eq!(p["text"]["segments"], count.segments);
    assert!(count.segments >= 3, "{count:?}");
    let numbers = p["numbers"].as_i64().expect("numbers");
    assert_eq!(p["cost_ore"], numbers * count.segments as i64 * 69);

    // With the principal's own Sámi text: that is sent, after the Norwegian.
    const SAMI: &str = "Skuvla lea giddejuvvon odne. Ođđa dieđut appas ovdal dii. 12.";
    let as_principal = ApiCaller::as_user("rektor-1", "rektor", &["s-sami"]);
    let (code, p) = sami
        .call(
            reqwest::Method::POST,
            "/api/schools/s-sami/emergency-sms/preview",
            &as_principal,
            Some(&json!({"text": TEXT, "reason": "Strømbrudd", "sami_text": SAMI})),
        )
        .await;
    assert_eq!(code, 200, "{p}");
    assert_eq!(p["sami"]["source"], "event");
    let whole = format!("{TEXT}\n\n{SAMI}");
    assert_eq!(p["message"], whole.as_str());
    assert_eq!(p["text"]["encoding"], "ucs2");
    let segments = dokflyt::sms::segments::count(&whole).segments as i64;
    assert_eq!(p["text"]["segments"], segments);
    assert!(p["cost_ore"].as_i64().expect("cost") > numbers * 69);
    let proof = sami.assertion("rektor-1", "rektor", &["s-sami"], HIGH);
    let (code, sent) = sami.send("s-sami", &p["token"], &proof).await;
    assert_eq!(code, 202, "{sent}");
    app.wait_until("the Sámi school's numbers are sent", T, || async {
        open_recipients(&app).await == 0
            && gw.received().len() == sami_school.expected_numbers.len()
    })
    .await;
    assert!(
        gw.received().iter().all(|r| r.text == whole),
        "every SMS carries the Norwegian and the Sámi text"
    );

    // The event path: the Sámi-area example with its own Sámi text.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut example: Value = serde_json::from_slice(
        &std::fs::read(manifest.join("examples/events/emergency_sms_sami.json")).expect("example"),
    )
    .expect("json");
    let school_id = example["school"]["id"].as_str().expect("id").to_string();
    let area_school = generate_school(&school_id, "5430", 3, 2, 1);
    load_roster(&app.pool, &area_school.events).await;
    example["sender"]["user_id"] = json!(format!("{school_id}-st-0"));
    app.publish(&example).await;
    let before = gw.received().len();
    app.wait_until("the event's SMS is sent", T, || async {
        open_recipients(&app).await == 0
            && gw.received().len() == before + area_school.expected_numbers.len()
    })
    .await;
    let expected = format!(
        "{}\n\n{}",
        example["fields"]["text"].as_str().expect("text"),
        example["fields"]["sami_text"]["text"]
            .as_str()
            .expect("sami")
    );
    let from_event: Vec<_> = gw.received().into_iter().skip(before).collect();
    assert!(from_event.iter().all(|r| r.text == expected));
    let (encoding, segments): (String, i64) =
        sqlx::query_as("SELECT encoding, segments::bigint FROM sms_messages WHERE event_id = $1")
            .bind(uuid::Uuid::parse_str(example["event_id"].as_str().expect("id")).expect("uuid"))
            .fetch_one(&app.pool)
            .await
            .expect("the message");
    assert_eq!(
        (encoding.as_str(), segments),
        (
            "ucs2",
            dokflyt::sms::segments::count(&expected).segments as i64
        )
    );
    finish(app).await;
}
