//! Grants on a running dokflyt (issue 24, item 1): the grant matrix from both
//! sides over HTTP (what the «Tilganger» page lets each role give, and every
//! refusal audited with its Norwegian reason), expiry at the school-year
//! boundary on an injected clock (31 July 23:59 Oslo time still in force, 1
//! August expired and listed for renewal, one renewal per school), and a leaver:
//! the staff member's deletion arrives on the roster queue, and their very next
//! request is refused (every grant revoked, every session ended, audited).
//!
//! Sessions are made with the product's own session store carrying a staff id
//! (the sign-in itself is covered by the dashboard tests).

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::sms_gateway::load_roster;
use common::{spawn_app_with, Spawn, TestApp};
use dokflyt::access::{Actor, Role};
use dokflyt::assurance::{Level, Proven};
use dokflyt::dashboard::session;
use serde_json::{json, Value};
use uuid::Uuid;

const MUNI: &str = "4601";
const S1: &str = "nordby-skole";
const S2: &str = "sorby-skole";
const FAR: &str = "fjern-skole";

/// A clock the test moves.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn at(s: &str) -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(instant(s))))
    }
    fn set(&self, s: &str) {
        if let Ok(mut t) = self.0.lock() {
            *t = instant(s);
        }
    }
}

impl dokflyt::grants::Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_else(|_| Utc::now())
    }
}

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("instant")
        .with_timezone(&Utc)
}

fn roster_event(entity: &str, id: &str, version: i64, op: &str, record: Value) -> Value {
    let mut e = json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1,
        "entity": entity, "id": id, "version": version,
        "occurred_at": "2026-11-20T08:00:00+01:00", "op": op,
    });
    if op == "upsert" {
        e[entity] = record;
    }
    e
}

/// Two schools of the municipality, one of another, and five staff members.
async fn roster(app: &TestApp) {
    let mut events = vec![
        roster_event(
            "school",
            S1,
            1,
            "upsert",
            json!({"name": "Nordby skole", "municipality_number": MUNI}),
        ),
        roster_event(
            "school",
            S2,
            1,
            "upsert",
            json!({"name": "Sørby skole", "municipality_number": MUNI}),
        ),
        roster_event(
            "school",
            FAR,
            1,
            "upsert",
            json!({"name": "Fjern skole", "municipality_number": "0301"}),
        ),
    ];
    for (id, school) in [
        ("ansatt-admin", S1),
        ("ansatt-rektor", S1),
        ("ansatt-laerer", S1),
        ("ansatt-ny", S1),
        ("ansatt-sorby", S2),
    ] {
        events.push(roster_event(
            "staff",
            id,
            1,
            "upsert",
            json!({"name": "Testperson", "schools": [{"school_id": school, "role": "laerer"}]}),
        ));
    }
    load_roster(&app.pool, &events).await;
}

struct User {
    cookie: String,
    csrf: String,
}

/// A session at level high whose sign-in carried `staff_id` and the claims'
/// `role` and `schools`.
async fn sign_in(app: &TestApp, staff_id: &str, role: Role, schools: &[&str]) -> User {
    let actor = Actor::new(
        &format!("oidc:{staff_id}"),
        role,
        schools.iter().map(|s| s.to_string()).collect(),
    )
    .expect("actor")
    .in_municipality(MUNI);
    let token = session::create_with(
        &app.pool,
        &session::NewSession {
            actor: &actor,
            staff_id: Some(staff_id),
            display_name: "Test Testesen",
            ttl: Duration::from_secs(3600),
            idle: session::DEFAULT_IDLE,
            proven: Proven {
                level: Level::High,
                at: Utc::now(),
            },
            search_text: None,
            pending: None,
        },
    )
    .await
    .expect("session");
    let s = session::load(&app.pool, &token)
        .await
        .expect("load")
        .expect("live");
    User {
        cookie: format!("{}={token}", session::SESSION_COOKIE),
        csrf: s.csrf,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(app: &TestApp, u: &User, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("http://{}{path}", app.http))
        .header("cookie", &u.cookie)
        .send()
        .await
        .expect("GET");
    let code = r.status().as_u16();
    (code, r.text().await.unwrap_or_default())
}

async fn post(app: &TestApp, u: &User, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut f: Vec<(&str, &str)> = vec![("_csrf", &u.csrf)];
    f.extend_from_slice(form);
    let r = client()
        .post(format!("http://{}{path}", app.http))
        .header("cookie", &u.cookie)
        .form(&f)
        .send()
        .await
        .expect("POST");
    let code = r.status().as_u16();
    (code, r.text().await.unwrap_or_default())
}

async fn give(app: &TestApp, u: &User, grantee: &str, role: &str, school: &str) -> (u16, String) {
    post(
        app,
        u,
        "/dashboard/tilganger/gi",
        &[("ansatt", grantee), ("rolle", role), ("skole", school)],
    )
    .await
}

async fn live_grants(app: &TestApp, grantee: &str) -> Vec<(i64, String, String)> {
    sqlx::query_as(
        "SELECT id, role, school_id FROM access_grants
          WHERE grantee = $1 AND revoked_at IS NULL ORDER BY id",
    )
    .bind(grantee)
    .fetch_all(&app.pool)
    .await
    .expect("grants")
}

async fn audit_count(app: &TestApp, action: &str, outcome: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1 AND outcome = $2")
        .bind(action)
        .bind(outcome)
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

async fn app_at(clock: Arc<TestClock>) -> TestApp {
    let app = spawn_app_with(Spawn {
        grants_clock: Some(clock),
        ..Spawn::default()
    })
    .await;
    roster(&app).await;
    app
}

/// The matrix over HTTP: what each granter may give (a stored grant, audited) and
/// what each is refused (403 with the Norwegian reason, nothing stored, audited).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grant_matrix_from_both_sides() {
    let app = app_at(TestClock::at("2026-12-01T10:00:00Z")).await;
    let kommune = sign_in(&app, "ansatt-kommune", Role::Kommuneadmin, &[]).await;
    let rektor = sign_in(&app, "ansatt-rektor", Role::Rektor, &[S1]).await;
    let team = sign_in(&app, "ansatt-team", Role::Team, &[S1]).await;

    // Allowed: kommuneadmin gives a school leader and a staff role anywhere in
    // its municipality; the principal a staff role at their own school.
    for (who, grantee, role, school) in [
        (&kommune, "ansatt-admin", "skoleadmin", S1),
        (&kommune, "ansatt-sorby", "rektor", S2),
        (&kommune, "ansatt-laerer", "team", S2),
        (&rektor, "ansatt-laerer", "team", S1),
    ] {
        let (code, _) = give(&app, who, grantee, role, school).await;
        assert_eq!(code, 303, "{role} at {school} to {grantee}");
    }
    assert_eq!(audit_count(&app, "grant.create", "granted").await, 4);
    assert_eq!(
        live_grants(&app, "ansatt-laerer").await.len(),
        2,
        "team at both schools"
    );
    let ends: Vec<chrono::NaiveDate> =
        sqlx::query_scalar("SELECT DISTINCT expires_on FROM access_grants")
            .fetch_all(&app.pool)
            .await
            .expect("ends");
    assert_eq!(
        ends,
        vec![chrono::NaiveDate::from_ymd_opt(2027, 7, 31).expect("date")]
    );

    // Refused, each with its reason.
    for (who, grantee, role, school, status, reason) in [
        (
            &kommune,
            "ansatt-ny",
            "kommuneadmin",
            S1,
            403,
            "kan ikke gis i dokflyt",
        ),
        (
            &kommune,
            "ansatt-ny",
            "team",
            FAR,
            403,
            "utenfor det du administrerer",
        ),
        (&kommune, "ansatt-kommune", "team", S1, 403, "deg selv"),
        (
            &kommune,
            "finnes-ikke",
            "team",
            S1,
            422,
            "ikke registrert som ansatt",
        ),
        (
            &rektor,
            "ansatt-ny",
            "rektor",
            S1,
            403,
            "lavere enn din egen",
        ),
        (
            &rektor,
            "ansatt-ny",
            "skoleadmin",
            S1,
            403,
            "lavere enn din egen",
        ),
        (
            &rektor,
            "ansatt-ny",
            "team",
            S2,
            403,
            "utenfor det du administrerer",
        ),
        (&rektor, "ansatt-rektor", "laerer", S1, 403, "deg selv"),
        (
            &rektor,
            "ansatt-ny",
            "foresatt",
            S1,
            403,
            "kan ikke gis i dokflyt",
        ),
        (&team, "ansatt-ny", "laerer", S1, 403, "gir ikke rett"),
    ] {
        let (code, body) = give(&app, who, grantee, role, school).await;
        assert_eq!(code, status, "{role} at {school} to {grantee}");
        assert!(body.contains(reason), "{role} at {school}: {reason}");
    }
    assert!(live_grants(&app, "ansatt-ny").await.is_empty());
    assert_eq!(audit_count(&app, "grant.create", "refused").await, 10);

    // Every grant form without the session's CSRF token: 403, nothing changes.
    for path in [
        "/dashboard/tilganger/gi",
        "/dashboard/tilganger/forny",
        "/dashboard/tilganger/1/fjern",
    ] {
        let r = client()
            .post(format!("http://{}{path}", app.http))
            .header("cookie", &kommune.cookie)
            .form(&[("ansatt", "ansatt-ny"), ("rolle", "team"), ("skole", S1)])
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status().as_u16(), 403, "{path} without CSRF");
    }
    assert!(live_grants(&app, "ansatt-ny").await.is_empty());
    assert_eq!(live_grants(&app, "ansatt-admin").await.len(), 1);

    // The page: in scope only, and not for a team member.
    let (code, page) = get(&app, &rektor, "/dashboard/tilganger").await;
    assert_eq!(code, 200);
    assert!(page.contains("ansatt-laerer") && !page.contains("ansatt-sorby"));
    // The staff of the school to pick from, with their names.
    assert!(page.contains("<option value=\"ansatt-ny\">Testperson (Nordby skole)</option>"));
    assert!(page.contains("<td>ansatt-laerer</td><td>Testperson</td>"));
    let (code, _) = get(&app, &team, "/dashboard/tilganger").await;
    assert_eq!(code, 403);
    let (_, log) = get(&app, &kommune, "/dashboard/arkivlogg").await;
    assert!(log.contains("href=\"/dashboard/tilganger\""), "in the menu");

    // A granted role counts on the next request: the teacher, team by grant
    // only, now sees the archive log of both schools.
    let laerer = sign_in(&app, "ansatt-laerer", Role::Laerer, &[S1]).await;
    let (code, _) = get(&app, &laerer, &format!("/dashboard/arkivlogg?school={S2}")).await;
    assert_eq!(code, 200, "team by grant at Sørby");

    // Removal: the principal may not remove the kommuneadmin's grant at Sørby
    // (answers like a missing one), but removes their own school's.
    let ids = live_grants(&app, "ansatt-laerer").await;
    let at_s2 = ids.iter().find(|g| g.2 == S2).expect("at S2").0.to_string();
    let at_s1 = ids.iter().find(|g| g.2 == S1).expect("at S1").0.to_string();
    let (code, _) = post(
        &app,
        &rektor,
        &format!("/dashboard/tilganger/{at_s2}/fjern"),
        &[],
    )
    .await;
    assert_eq!(code, 404);
    let (code, _) = post(
        &app,
        &rektor,
        &format!("/dashboard/tilganger/{at_s1}/fjern"),
        &[],
    )
    .await;
    assert_eq!(code, 303);
    assert_eq!(live_grants(&app, "ansatt-laerer").await.len(), 1);
    assert_eq!(audit_count(&app, "grant.revoke", "granted").await, 1);
    assert_eq!(audit_count(&app, "grant.revoke", "refused").await, 1);
    // No names in the grants' audit rows: ids and roles only.
    let details: Vec<Value> =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action LIKE 'grant.%'")
            .fetch_all(&app.pool)
            .await
            .expect("details");
    assert!(details
        .iter()
        .all(|d| !d.to_string().contains("Testperson")));
    app.stop_and_clean().await;
}

/// 31 July 23:59 in Oslo the grant is in force; 1 August it has expired (the
/// teacher loses the role, the expiry is audited once), the page lists it for
/// renewal, and one action renews the school's grants to the next 31 July.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_expire_at_the_school_year_boundary_and_are_renewed_per_school() {
    let clock = TestClock::at("2026-10-01T10:00:00Z");
    let app = app_at(clock.clone()).await;
    let rektor = sign_in(&app, "ansatt-rektor", Role::Rektor, &[S1]).await;
    for grantee in ["ansatt-laerer", "ansatt-ny"] {
        let (code, _) = give(&app, &rektor, grantee, "team", S1).await;
        assert_eq!(code, 303);
    }
    // The teacher's claims carry no dashboard role: only the grant lets them in.
    let laerer = sign_in(&app, "ansatt-laerer", Role::Laerer, &[S1]).await;

    // 31 July 23:59 Oslo time (CEST): still in force.
    clock.set("2027-07-31T21:59:00Z");
    let (code, _) = get(&app, &laerer, "/dashboard/arkivlogg").await;
    assert_eq!(code, 200, "in force through 31 July");
    let (_, page) = get(&app, &rektor, "/dashboard/tilganger").await;
    assert!(page.contains("Ingen roller venter på fornyelse"));

    // 1 August 00:00 Oslo time: expired.
    clock.set("2027-07-31T22:00:00Z");
    let (code, _) = get(&app, &laerer, "/dashboard/arkivlogg").await;
    assert_eq!(code, 403, "expired on 1 August");
    let (code, page) = get(&app, &rektor, "/dashboard/tilganger").await;
    assert_eq!(code, 200);
    assert!(page.contains("Venter på fornyelse") && page.contains("2 utløpte"));
    assert!(page.contains("Forny alle ved Nordby skole til 2028-07-31"));
    // Each expiry is audited once, however often it is seen.
    let _ = get(&app, &rektor, "/dashboard/tilganger").await;
    assert_eq!(audit_count(&app, "grant.expire", "granted").await, 2);

    // Renewal: one action for the school.
    let (code, _) = post(
        &app,
        &rektor,
        "/dashboard/tilganger/forny",
        &[("skole", S1)],
    )
    .await;
    assert_eq!(code, 303);
    assert_eq!(audit_count(&app, "grant.renew", "granted").await, 2);
    let ends: Vec<chrono::NaiveDate> =
        sqlx::query_scalar("SELECT DISTINCT expires_on FROM access_grants")
            .fetch_all(&app.pool)
            .await
            .expect("ends");
    assert_eq!(
        ends,
        vec![chrono::NaiveDate::from_ymd_opt(2028, 7, 31).expect("date")]
    );
    let (code, _) = get(&app, &laerer, "/dashboard/arkivlogg").await;
    assert_eq!(code, 200, "renewed");
    // Another school's principal cannot renew this school's grants.
    let sorby = sign_in(&app, "ansatt-sorby", Role::Rektor, &[S2]).await;
    let (code, body) = post(&app, &sorby, "/dashboard/tilganger/forny", &[("skole", S1)]).await;
    assert_eq!(code, 403);
    assert!(body.contains("utenfor det du administrerer"));
    app.stop_and_clean().await;
}

/// A leaver: the staff member's deletion comes on the roster queue; at once every
/// grant is revoked and every session ended, so the next request goes to sign-in
/// (GET) or is refused (POST, 401); audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaver_loses_every_grant_and_session_at_once() {
    let app = app_at(TestClock::at("2026-12-01T10:00:00Z")).await;
    let rektor = sign_in(&app, "ansatt-rektor", Role::Rektor, &[S1]).await;
    let (code, _) = give(&app, &rektor, "ansatt-laerer", "team", S1).await;
    assert_eq!(code, 303);
    // Two open sessions (two browsers); the claims still say rektor-free laerer.
    let a = sign_in(&app, "ansatt-laerer", Role::Laerer, &[S1]).await;
    let b = sign_in(&app, "ansatt-laerer", Role::Laerer, &[S1]).await;
    for u in [&a, &b] {
        assert_eq!(get(&app, u, "/dashboard/arkivlogg").await.0, 200);
    }

    app.topology
        .declare_roster_and_sms(&app.channel)
        .await
        .expect("roster queue");
    let gone = roster_event("staff", "ansatt-laerer", 2, "delete", json!(null));
    app.publish_raw("roster.staff", &serde_json::to_vec(&gone).expect("json"))
        .await;
    app.wait_until(
        "the leaver's sessions are ended",
        Duration::from_secs(30),
        || async {
            app.count("SELECT count(*) FROM dashboard_sessions WHERE staff_id = 'ansatt-laerer'")
                .await
                == 0
        },
    )
    .await;

    let (code, _) = get(&app, &a, "/dashboard/arkivlogg").await;
    assert_eq!(code, 303, "GET goes to sign-in");
    let (code, _) = post(&app, &b, "/dashboard/arkivlogg/sok", &[("q", "x")]).await;
    assert_eq!(code, 401, "POST is refused");
    assert!(live_grants(&app, "ansatt-laerer").await.is_empty());
    let reasons: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT reason FROM audit_log WHERE action = 'grant.revoke' AND target IS NOT NULL",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].as_deref().is_some_and(|r| r.contains("Sluttet")));
    let ended: Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'dashboard.sessions_ended'
            AND target = 'ansatt-laerer'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("sessions ended audited");
    assert_eq!(ended["sessions"], 2);
    assert_eq!(ended["grants_revoked"], 1);
    // The principal, not a leaver, is still signed in.
    assert_eq!(get(&app, &rektor, "/dashboard/tilganger").await.0, 200);
    app.stop_and_clean().await;
}

/// Runs `dashboard.mjs <step>` as `login`; panics with its output when it fails.
fn browser_step(
    step: &str,
    base: &str,
    login: &str,
    artifacts: &std::path::Path,
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("node");
    c.arg(crate::dashboard::e2e_dir().join("dashboard.mjs"))
        .arg(step)
        .env("BASE", base)
        .env("DOC_ID", Uuid::nil().to_string())
        .env("ARTIFACTS", artifacts)
        .env("CHROMIUM", crate::dashboard::chromium())
        .env("SCHOOL", S1)
        .env("LOGIN", login)
        .env("GRANTEE", "ansatt-laerer")
        .kill_on_drop(true);
    c
}

fn succeeded(step: &str, out: std::process::Output) {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "browser step «{step}» failed:\n{text}"
    );
    eprintln!("{text}");
}

async fn expires_on(app: &TestApp) -> Vec<chrono::NaiveDate> {
    sqlx::query_scalar(
        "SELECT expires_on FROM access_grants WHERE grantee = 'ansatt-laerer' AND revoked_at IS NULL",
    )
    .fetch_all(&app.pool)
    .await
    .expect("grants")
}

/// In headless Chromium, signed in through a real OpenID Connect provider whose
/// tokens carry the staff id: a principal gives a teacher the team role; after 1
/// August (the injected clock) the principal renews the school's grants in one
/// action; the teacher, signed in, is removed from the roster and their next
/// request lands on the sign-in page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granting_renewal_and_a_leaver_in_the_browser() {
    use crate::dashboard::{e2e_dashboard, ensure_node_modules, free_port, start_provider};
    ensure_node_modules();
    let port = free_port();
    let public_url = format!("http://localhost:{port}");
    let secret = format!("e2e-{}", Uuid::new_v4().simple());
    let accounts = json!({
        "rektor.nordby": { "name": "Rita Rektor", "role": "rektor", "schools": [S1], "staff_id": "ansatt-rektor" },
        "laerer.nordby": { "name": "Lars Lærer", "role": "laerer", "schools": [S1], "staff_id": "ansatt-laerer" },
    });
    let (provider, issuer) = start_provider(&public_url, &secret, &accounts).await;
    let dashboard = e2e_dashboard(&issuer, &secret, &public_url);
    let clock = TestClock::at("2027-06-15T10:00:00Z");
    let app = spawn_app_with(Spawn {
        http_addr: Some(format!("127.0.0.1:{port}")),
        dashboard: Some(dashboard),
        grants_clock: Some(clock.clone()),
        ..Spawn::default()
    })
    .await;
    roster(&app).await;
    app.topology
        .declare_roster_and_sms(&app.channel)
        .await
        .expect("roster queue");
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-artifacts/grants");
    std::fs::create_dir_all(&artifacts).expect("artifacts");
    for f in ["leaver-signed-in", "leaver-gone"] {
        let _ = std::fs::remove_file(artifacts.join(f));
    }

    let out = browser_step("grant", &public_url, "rektor.nordby", &artifacts)
        .output()
        .await
        .expect("node runs");
    succeeded("grant", out);
    assert_eq!(
        expires_on(&app).await,
        vec![chrono::NaiveDate::from_ymd_opt(2027, 7, 31).expect("date")]
    );

    clock.set("2027-08-01T08:00:00Z");
    let out = browser_step("renew", &public_url, "rektor.nordby", &artifacts)
        .output()
        .await
        .expect("node runs");
    succeeded("renew", out);
    assert_eq!(
        expires_on(&app).await,
        vec![chrono::NaiveDate::from_ymd_opt(2028, 7, 31).expect("date")]
    );

    let child = browser_step("leaver", &public_url, "laerer.nordby", &artifacts)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let signed_in = artifacts.join("leaver-signed-in");
    common::wait_until("the teacher is signed in", Duration::from_secs(60), || {
        let p = signed_in.clone();
        async move { p.exists() }
    })
    .await;
    let gone = roster_event("staff", "ansatt-laerer", 2, "delete", json!(null));
    app.publish_raw("roster.staff", &serde_json::to_vec(&gone).expect("json"))
        .await;
    app.wait_until(
        "the leaver's sessions are ended",
        Duration::from_secs(30),
        || async {
            app.count("SELECT count(*) FROM dashboard_sessions WHERE staff_id = 'ansatt-laerer'")
                .await
                == 0
        },
    )
    .await;
    std::fs::write(artifacts.join("leaver-gone"), "ok").expect("signal");
    let out = child.wait_with_output().await.expect("node ends");
    succeeded("leaver", out);
    assert!(expires_on(&app).await.is_empty(), "every grant revoked");
    drop(provider);
    app.stop_and_clean().await;
}

/// `[access] role_source = "grants"` in headless Chromium: a person whose token
/// carries no role claim signs in by a grant alone; one without a grant gets
/// «Ingen tilgang».
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_grants_as_the_only_source_a_grant_alone_signs_a_person_in() {
    use crate::dashboard::{e2e_dashboard, ensure_node_modules, free_port, start_provider};
    ensure_node_modules();
    let port = free_port();
    let public_url = format!("http://localhost:{port}");
    let secret = format!("e2e-{}", Uuid::new_v4().simple());
    let accounts = json!({
        "ny.nordby": { "name": "Nora Ny", "role": "", "schools": [], "staff_id": "ansatt-ny" },
        "uten.tildeling": { "name": "Ulf Uten", "role": "", "schools": [], "staff_id": "ansatt-sorby" },
    });
    let (provider, issuer) = start_provider(&public_url, &secret, &accounts).await;
    let clock = TestClock::at("2026-12-01T10:00:00Z");
    let app = spawn_app_with(Spawn {
        http_addr: Some(format!("127.0.0.1:{port}")),
        dashboard: Some(e2e_dashboard(&issuer, &secret, &public_url)),
        grants_clock: Some(clock),
        tweak: Some(|s| s.access.role_source = dokflyt::config::RoleSource::Grants),
        ..Spawn::default()
    })
    .await;
    roster(&app).await;
    let rektor = Actor::new("oidc:ansatt-rektor", Role::Rektor, vec![S1.into()]).expect("actor");
    dokflyt::grants::store::create(
        &app.pool,
        &rektor,
        &dokflyt::grants::store::NewGrant {
            grantee: "ansatt-ny",
            role: Role::Team,
            school_id: S1,
            municipality_number: Some(MUNI),
            expires_on: chrono::NaiveDate::from_ymd_opt(2027, 7, 31).expect("date"),
        },
        instant("2026-12-01T10:00:00Z"),
    )
    .await
    .expect("grant");
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-artifacts/grants");
    std::fs::create_dir_all(&artifacts).expect("artifacts");
    let out = browser_step("grants-only", &public_url, "ny.nordby", &artifacts)
        .env("LOGIN_UNGRANTED", "uten.tildeling")
        .output()
        .await
        .expect("node runs");
    succeeded("grants-only", out);
    let (role, schools): (String, Vec<String>) =
        sqlx::query_as("SELECT role, schools FROM dashboard_sessions WHERE staff_id = 'ansatt-ny'")
            .fetch_one(&app.pool)
            .await
            .expect("the granted person's session");
    assert_eq!((role.as_str(), schools), ("team", vec![S1.to_string()]));
    assert_eq!(
        app.count("SELECT count(*) FROM dashboard_sessions WHERE staff_id = 'ansatt-sorby'")
            .await,
        0,
        "no session without a role"
    );
    drop(provider);
    app.stop_and_clean().await;
}
