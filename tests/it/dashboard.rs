//! The staff dashboard on a running dokflyt: who may open and do what (role ×
//! own/other school × read/act × the session's assurance level, on every route),
//! CSRF on every form, sign-in required, idle timeout, CSP, no personal data in
//! URLs; step-up sign-in through the demo provider (a form kept in the session,
//! a too-weak answer explained, no loop); and, in headless Chromium, a school
//! team member signing in through a real OpenID Connect provider
//! (`oidc-provider` from npm, `tests/e2e/oidc-provider.mjs`) at substantial,
//! retrying a failed document and seeing it archived after a transfer, while a
//! member of another school gets 403; a school administrator at substantial
//! previewing a UO document; a principal at substantial sent to step up when
//! pressing Send on an emergency SMS, coming back to the same confirmation, and
//! sending.
//!
//! Sessions for the matrix are created with the product's own session store (the
//! sign-in itself is covered by the demo-provider and browser tests).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::archive_standin::Action;
use common::flow::{queue, status_of, transfer};
use common::{spawn_app, spawn_app_with, Spawn, TestApp};
use dokflyt::access::{Actor, Role};
use dokflyt::assurance::Level;
use dokflyt::dashboard::session;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

const OWN: &str = "fjellvik-ungdomsskole";
const OTHER: &str = "bakken-skole";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

struct User {
    cookie: String,
    csrf: String,
}

/// A session at level high (the tests that are not about levels).
async fn sign_in(app: &TestApp, role: Role, schools: &[&str]) -> User {
    sign_in_at(app, role, schools, Level::High).await
}

/// A session whose sign-in proved `level` just now.
async fn sign_in_at(app: &TestApp, role: Role, schools: &[&str], level: Level) -> User {
    let actor = Actor::new(
        &format!("test:{role}:{level}"),
        role,
        schools.iter().map(|s| s.to_string()).collect(),
    )
    .expect("actor");
    let (cookie, csrf) = common::dashboard_session(&app.pool, &actor, level).await;
    User { cookie, csrf }
}

async fn get(app: &TestApp, user: Option<&User>, path: &str) -> (u16, String) {
    let mut r = client().get(format!("http://{}{path}", app.http));
    if let Some(u) = user {
        r = r.header("cookie", &u.cookie);
    }
    let resp = r.send().await.expect("GET");
    let code = resp.status().as_u16();
    (code, resp.text().await.unwrap_or_default())
}

async fn post(app: &TestApp, user: Option<&User>, path: &str, form: &[(&str, &str)]) -> u16 {
    post_full(app, user, path, form).await.0
}

/// Status, `Location` and body of a form post.
async fn post_full(
    app: &TestApp,
    user: Option<&User>,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    let mut r = client()
        .post(format!("http://{}{path}", app.http))
        .form(form);
    if let Some(u) = user {
        r = r.header("cookie", &u.cookie);
    }
    let resp = r.send().await.expect("POST");
    let code = resp.status().as_u16();
    let location = location(&resp);
    (code, location, resp.text().await.unwrap_or_default())
}

/// Status, `Location` and body of a GET.
async fn get_full(app: &TestApp, user: Option<&User>, path: &str) -> (u16, String, String) {
    let mut r = client().get(format!("http://{}{path}", app.http));
    if let Some(u) = user {
        r = r.header("cookie", &u.cookie);
    }
    let resp = r.send().await.expect("GET");
    let code = resp.status().as_u16();
    let location = location(&resp);
    (code, location, resp.text().await.unwrap_or_default())
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The step-up link on a page (`id="steg-opp"`), HTML entities undone.
fn step_up_link(body: &str) -> Option<String> {
    let start = body.find("id=\"steg-opp\" href=\"")? + "id=\"steg-opp\" href=\"".len();
    let end = body[start..].find('"')? + start;
    Some(
        body[start..end]
            .replace("&amp;", "&")
            .replace("&#x2F;", "/")
            .replace("&#x3D;", "="),
    )
}

/// What the server answered, classified.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Got {
    /// Let through (not 401/403, not a step-up, not a server error).
    Through,
    /// 403 (or 401) without a way up: the role or school may not.
    Refused,
    /// Sent to a stronger sign-in for this level.
    StepUp(Level),
    Other(u16),
}

fn classify(method: &str, code: u16, location: &str, body: &str) -> Got {
    let wanted = |href: &str| {
        Level::ALL
            .into_iter()
            .find(|l| href.contains(&format!("niva={}", l.as_str())))
    };
    if method == "GET" && code == 303 && location.starts_with("/dashboard/logg-inn?") {
        return wanted(location)
            .map(Got::StepUp)
            .unwrap_or(Got::Other(code));
    }
    if code == 403 {
        return match step_up_link(body) {
            Some(href) => wanted(&href).map(Got::StepUp).unwrap_or(Got::Other(code)),
            None => Got::Refused,
        };
    }
    if code == 401 {
        return Got::Refused;
    }
    if code < 500 {
        Got::Through
    } else {
        Got::Other(code)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Read,
    Act,
}

/// Every dashboard route, for a document of `school` (`doc`).
fn routes(doc: Uuid, school: &str) -> Vec<(Kind, &'static str, String)> {
    let msg = Uuid::new_v4();
    vec![
        (
            Kind::Read,
            "GET",
            format!("/dashboard/arkivlogg?school={school}"),
        ),
        (
            Kind::Read,
            "GET",
            format!("/dashboard/arkivlogg?status=arkivert&school={school}"),
        ),
        (
            Kind::Read,
            "GET",
            format!("/dashboard/arkivlogg/antall?school={school}"),
        ),
        (Kind::Read, "GET", format!("/dashboard/dokument/{doc}")),
        (Kind::Read, "GET", format!("/dashboard/dokument/{doc}/pdf")),
        (
            Kind::Read,
            "GET",
            format!("/dashboard/dokument/{doc}/bekreft/prov-igjen"),
        ),
        (
            Kind::Read,
            "GET",
            format!("/dashboard/frister?school={school}"),
        ),
        (
            Kind::Read,
            "GET",
            format!("/dashboard/utsendinger?school={school}"),
        ),
        (
            Kind::Read,
            "GET",
            format!("/dashboard/ikke-nadd?school={school}"),
        ),
        (
            Kind::Read,
            "GET",
            format!("/dashboard/revisjonslogg?school={school}"),
        ),
        (Kind::Read, "GET", format!("/dashboard/sms?school={school}")),
        (
            Kind::Read,
            "GET",
            format!("/dashboard/sms/melding/{msg}?school={school}"),
        ),
        (
            Kind::Read,
            "GET",
            format!("/dashboard/sms/melding/{msg}/status?school={school}"),
        ),
        (
            Kind::Act,
            "POST",
            format!("/dashboard/dokument/{doc}/prov-igjen"),
        ),
        (
            Kind::Act,
            "POST",
            format!("/dashboard/dokument/{doc}/produser-pa-nytt"),
        ),
        (
            Kind::Act,
            "POST",
            format!("/dashboard/dokument/{doc}/fjern"),
        ),
        (
            Kind::Act,
            "POST",
            format!("/dashboard/sms/forhandsvis?school={school}"),
        ),
        (
            Kind::Act,
            "POST",
            format!("/dashboard/sms/send?school={school}"),
        ),
        // «Kjør overføring nå»: every school's klar documents at once.
        (
            Kind::Act,
            "POST",
            "/dashboard/arkivlogg/overfor".to_string(),
        ),
    ]
}

/// The level a route needs (with the default `[assurance.required]`):
/// previewing a UO (`protected`) document and every action on one need
/// substantial; sending an emergency SMS needs high; everything else, lists.
fn needs(method: &str, path: &str, protected: bool) -> Level {
    if path.contains("/sms/send") {
        Level::High
    } else if protected
        && (path.ends_with("/pdf")
            || path.contains("/bekreft/")
            || (method == "POST" && path.contains("/dashboard/dokument/")))
    {
        Level::Substantial
    } else {
        Level::Low
    }
}

/// What the server must decide for `role` at `level` on `path`: the role and
/// school decide first (a refusal is a refusal at any level); then a level below
/// what the route needs is a step-up to that level.
fn expected_at(role: Role, own: bool, method: &str, path: &str, level: Level) -> Got {
    if !expected(role, own, path) {
        return Got::Refused;
    }
    // The own school's document is UO (conduct_warning), the other's public
    // (leave_decision).
    let need = needs(method, path, own);
    if level < need {
        Got::StepUp(need)
    } else {
        Got::Through
    }
}

/// What the server must decide: may `role` (member of `OWN`) use `path` on a
/// document of the own school (`own`) or of another?
fn expected(role: Role, own: bool, path: &str) -> bool {
    let watch = matches!(
        role,
        Role::Kommuneadmin | Role::Skoleadmin | Role::Team | Role::Rektor
    );
    if !watch {
        return false;
    }
    let covered = own || role == Role::Kommuneadmin;
    if path.ends_with("/arkivlogg/overfor") {
        // A transfer sends every school's documents: the municipal administrator
        // only, as `POST /api/archive/run-now` (one rule: `staff::may_run_now`).
        return role == Role::Kommuneadmin;
    }
    if path.contains("/sms") {
        // The SMS page: the school's principal; the municipal admin reads ledgers
        // but cannot send (sms::authz refuses it).
        return match role {
            Role::Rektor => own,
            Role::Kommuneadmin => !path.contains("forhandsvis") && !path.contains("/send"),
            _ => false,
        };
    }
    if path.ends_with("/pdf") {
        // The own school's document is UO: school teams see the log, not the content.
        return covered && role != Role::Team;
    }
    covered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_role_school_and_level_on_the_server() {
    let app = spawn_app().await;
    let own = queue(&app, "conduct_warning").await;
    let other = queue(&app, "leave_decision").await;
    transfer(&app, vec![Action::Ugyldig, Action::Ugyldig]).await;
    assert_eq!(status_of(&app, own).await, "feilet");
    assert_eq!(status_of(&app, other).await, "feilet");
    for (doc, access) in [(own, "UO"), (other, "public")] {
        let got: String = sqlx::query_scalar("SELECT access FROM documents WHERE event_id = $1")
            .bind(doc)
            .fetch_one(&app.pool)
            .await
            .expect("access");
        assert_eq!(got, access, "the matrix's documents");
    }

    let roles = [
        Role::Kommuneadmin,
        Role::Skoleadmin,
        Role::Team,
        Role::Rektor,
        Role::Laerer,
        Role::Skoleadmin2,
        Role::Foresatt,
        Role::Skoleeier,
    ];
    let mut checked = 0;
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for level in Level::ALL {
        for role in roles {
            let schools: &[&str] = if role.is_municipal() { &[] } else { &[OWN] };
            let user = sign_in_at(&app, role, schools, level).await;
            for (own_school, doc, school) in [(true, own, OWN), (false, other, OTHER)] {
                for (kind, method, path) in routes(doc, school) {
                    let (code, location, body) = if method == "GET" {
                        get_full(&app, Some(&user), &path).await
                    } else {
                        let school_field = ("school", school);
                        post_full(
                            &app,
                            Some(&user),
                            &path,
                            &[
                                ("_csrf", user.csrf.as_str()),
                                school_field,
                                ("begrunnelse", "Feilregistrert, rettes i fagsystemet"),
                                ("tekst", "Skolen er stengt i dag."),
                                ("token", &Uuid::new_v4().to_string()),
                            ],
                        )
                        .await
                    };
                    // A document of another school answers like a missing one (404),
                    // its PDF too (issue 16).
                    let document = path.starts_with("/dashboard/dokument/");
                    let mut got = classify(method, code, &location, &body);
                    if document && code == 404 {
                        got = Got::Refused;
                    }
                    let want = expected_at(role, own_school, method, &path, level);
                    assert_eq!(
                        got, want,
                        "{role} at {level} ({kind:?}, own school: {own_school}) {method} {path}: got {code} {location}"
                    );
                    let watcher = matches!(
                        role,
                        Role::Kommuneadmin | Role::Skoleadmin | Role::Team | Role::Rektor
                    );
                    if want == Got::Refused && document && !own_school && watcher {
                        assert_eq!(
                            code, 404,
                            "{role} at {level}: another school's document must answer like a missing one: {method} {path}"
                        );
                    }
                    *seen.entry(format!("{want:?}")).or_default() += 1;
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3 * roles.len() * 2 * 19);
    // Every outcome occurs (the matrix does not only test refusals).
    for outcome in ["Through", "Refused", "StepUp(Substantial)", "StepUp(High)"] {
        assert!(
            seen.get(outcome).copied().unwrap_or(0) > 0,
            "{outcome}: {seen:?}"
        );
    }
    // «Kjør overføring nå»: run by kommuneadmin at every level (for both schools'
    // rounds), refused and audited for the other dashboard roles (skoleadmin, team,
    // rektor); roles without dashboard access never reach it (`dashboard.access`).
    let runs = |outcome: &'static str| {
        format!("SELECT count(*) FROM audit_log WHERE action = 'archive.run_now' AND outcome = '{outcome}'")
    };
    assert_eq!(app.count(&runs("granted")).await, 3 * 2, "runs are audited");
    assert_eq!(
        app.count(&runs("refused")).await,
        3 * 3 * 2,
        "refused runs are audited"
    );
    // Refusals are in the audit log, step-ups with the level that was missing.
    let refused = app
        .count("SELECT count(*) FROM audit_log WHERE outcome = 'refused'")
        .await;
    assert!(refused > 50, "refusals are audited ({refused})");
    let sms_step_up = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.send' AND outcome = 'refused'
                AND details ->> 'required_level' = 'high'
                AND details ->> 'session_level' = 'substantial'",
        )
        .await;
    assert_eq!(
        sms_step_up, 1,
        "the principal at substantial pressing Send is audited"
    );
    let preview_step_ups = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'archive.preview' AND outcome = 'refused'
                AND details ->> 'missing_level' = 'substantial' AND details ->> 'session_level' = 'low'",
        )
        .await;
    // kommuneadmin, skoleadmin and rektor at low, on the own school's UO document.
    assert_eq!(
        preview_step_ups, 3,
        "previews at low are audited with the missing level"
    );
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let app = spawn_app().await;
    let doc = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Ugyldig]).await;
    let team = sign_in(&app, Role::Team, &[OWN]).await;
    let other = sign_in(&app, Role::Team, &[OWN]).await;
    let path = format!("/dashboard/dokument/{doc}/prov-igjen");

    assert_eq!(post(&app, Some(&team), &path, &[]).await, 403, "no token");
    assert_eq!(
        post(&app, Some(&team), &path, &[("_csrf", "gjett")]).await,
        403,
        "a wrong token"
    );
    assert_eq!(
        post(&app, Some(&team), &path, &[("_csrf", other.csrf.as_str())]).await,
        403,
        "another session's token"
    );
    assert_eq!(status_of(&app, doc).await, "feilet", "nothing happened");
    for form_path in [
        "/dashboard/arkivlogg/sok".to_string(),
        "/dashboard/logg-ut".to_string(),
        format!("/dashboard/dokument/{doc}/fjern"),
        "/dashboard/sms/forhandsvis".to_string(),
        "/dashboard/sms/send".to_string(),
        "/dashboard/arkivlogg/overfor".to_string(),
    ] {
        let code = post(
            &app,
            Some(&team),
            &form_path,
            &[
                ("school", OWN),
                ("tekst", "x"),
                ("begrunnelse", "x"),
                ("token", &Uuid::new_v4().to_string()),
            ],
        )
        .await;
        assert_eq!(code, 403, "{form_path} without a token");
    }

    assert_eq!(
        post(&app, Some(&team), &path, &[("_csrf", team.csrf.as_str())]).await,
        303,
        "with the session's token"
    );
    assert_eq!(status_of(&app, doc).await, "klar");
    let granted = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'archive.retry' AND outcome = 'granted'",
        )
        .await;
    assert_eq!(granted, 1, "the action is in the audit log");
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_pages_redirect_to_sign_in_and_forms_are_401() {
    let app = spawn_app().await;
    let (code, _) = get(&app, None, "/dashboard/arkivlogg").await;
    assert_eq!(code, 303);
    let resp = client()
        .get(format!("http://{}/dashboard/frister", app.http))
        .send()
        .await
        .expect("GET");
    let to = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(to.starts_with("/dashboard/logg-inn?til="), "{to}");
    let fake = User {
        cookie: format!("{}=ikke-en-okt", session::SESSION_COOKIE),
        csrf: String::new(),
    };
    assert_eq!(get(&app, Some(&fake), "/dashboard/arkivlogg").await.0, 303);
    assert_eq!(
        post(
            &app,
            None,
            &format!("/dashboard/dokument/{}/prov-igjen", Uuid::new_v4()),
            &[]
        )
        .await,
        401
    );
    // Sign-in is not configured in this app: a clear page, not a crash.
    let (code, body) = get(&app, None, "/dashboard/logg-inn").await;
    assert_eq!(code, 503);
    assert!(body.contains("Innlogging er ikke satt opp"));
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_text_stays_out_of_urls_and_pages_show_initials_only() {
    let app = spawn_app().await;
    let doc = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Ugyldig]).await;
    let pupil: String =
        sqlx::query_scalar("SELECT payload #>> '{pupil,name}' FROM events WHERE event_id = $1")
            .bind(doc)
            .fetch_one(&app.pool)
            .await
            .expect("pupil name");
    let team = sign_in(&app, Role::Team, &[OWN]).await;
    // Utsendinger names recipients by initials only.
    let guardians: Vec<String> = sqlx::query_scalar(
        "SELECT r ->> 'name' FROM events e, jsonb_array_elements(e.payload -> 'recipients') r
          WHERE e.event_id = $1",
    )
    .bind(doc)
    .fetch_all(&app.pool)
    .await
    .expect("recipients");
    let (code, sent) = get(&app, Some(&team), "/dashboard/utsendinger").await;
    assert_eq!(code, 200);
    assert!(!guardians.is_empty());
    for g in &guardians {
        assert!(
            !sent.contains(g.as_str()),
            "a recipient's name on Utsendinger"
        );
    }
    assert!(
        sent.contains(&dokflyt::archive::staff::initials(&guardians[0])),
        "the recipient's initials are shown"
    );
    // The search is posted; the redirect carries no text.
    let resp = client()
        .post(format!("http://{}/dashboard/arkivlogg/sok", app.http))
        .header("cookie", &team.cookie)
        .form(&[
            ("_csrf", team.csrf.as_str()),
            ("tekst", pupil.as_str()),
            ("tilbake", "/dashboard/arkivlogg?status=feilet"),
        ])
        .send()
        .await
        .expect("search");
    assert_eq!(resp.status().as_u16(), 303);
    let to = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(to, "/dashboard/arkivlogg?status=feilet");
    let (code, list) = get(&app, Some(&team), &to).await;
    assert_eq!(code, 200);
    for page in [
        list,
        get(&app, Some(&team), &format!("/dashboard/dokument/{doc}"))
            .await
            .1,
    ] {
        for part in pupil.split_whitespace() {
            // The search box echoes what the user typed; everything else shows initials.
            let outside_search = page.replace(&format!("value=\"{pupil}\""), "");
            assert!(
                !outside_search.contains(part),
                "a part of the pupil's name is on a page"
            );
        }
    }
    app.stop_and_clean().await;
}

/// Books one SMS message of `school` at the instant `at` (RFC 3339).
async fn book_sms(app: &TestApp, school: &str, at: &str) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO sms_messages (message_id, school_id, source, requested_by, role, reason, text,
                                   encoding, segments, numbers, price_ore, price_valid_from,
                                   cost_ore, status)
         VALUES ($1, $2, 'api', 'test', 'rektor', 'Test', 'Test', 'gsm7', 1, 3, 69, '2020-01-01',
                 207, 'completed')",
    )
    .bind(id)
    .bind(school)
    .execute(&app.pool)
    .await
    .expect("message");
    sqlx::query(
        "INSERT INTO sms_cost_ledger (school_id, message_id, booked_at, sms_count, price_ore,
                                      price_valid_from, cost_ore)
         VALUES ($1, $2, $3::timestamptz, 3, 69, '2020-01-01', 207)",
    )
    .bind(school)
    .bind(id)
    .bind(at)
    .execute(&app.pool)
    .await
    .expect("ledger row");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_ledger_and_the_date_filters_use_oslo_days() {
    let app = spawn_app().await;
    // 01.12.2026 00:01 Oslo time is 30.11 23:01 UTC; 30.11 23:59 Oslo is 22:59 UTC.
    let december = book_sms(&app, OWN, "2026-11-30T23:01:00Z").await;
    let november = book_sms(&app, OWN, "2026-11-30T22:59:00Z").await;
    let rektor = sign_in(&app, Role::Rektor, &[OWN]).await;
    let (code, dec) = get(
        &app,
        Some(&rektor),
        &format!("/dashboard/sms?school={OWN}&month=2026-12"),
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        dec.contains(&december.to_string()),
        "00:01 on 1 December is December"
    );
    assert!(
        dec.contains("01.12.2026 00:01"),
        "booked shown in Oslo time"
    );
    assert!(!dec.contains(&november.to_string()));
    let (_, nov) = get(
        &app,
        Some(&rektor),
        &format!("/dashboard/sms?school={OWN}&month=2026-11"),
    )
    .await;
    assert!(
        nov.contains(&november.to_string()),
        "23:59 on 30 November is November"
    );
    assert!(!nov.contains(&december.to_string()));

    // The archive log's day filter, on the day the clocks go forward (23 hours).
    let doc = queue(&app, "conduct_warning").await;
    let team = sign_in(&app, Role::Team, &[OWN]).await;
    let list = |from: &'static str, to: &'static str| {
        let (app, team) = (&app, &team);
        async move {
            get(
                app,
                Some(team),
                &format!("/dashboard/arkivlogg?status=klar&from={from}&to={to}"),
            )
            .await
            .1
        }
    };
    for (queued, day, other) in [
        // 00:30 Oslo (CET) on 29 March.
        ("2026-03-28T23:30:00Z", "2026-03-29", "2026-03-28"),
        // 23:59 Oslo (CEST) on 29 March.
        ("2026-03-29T21:59:00Z", "2026-03-29", "2026-03-30"),
        // 00:30 Oslo (CEST) on 25 October, and 23:30 (CET) the same, 25-hour day.
        ("2026-10-24T22:30:00Z", "2026-10-25", "2026-10-24"),
        ("2026-10-25T22:30:00Z", "2026-10-25", "2026-10-26"),
    ] {
        sqlx::query("UPDATE archive_queue SET queued_at = $2::timestamptz WHERE event_id = $1")
            .bind(doc)
            .bind(queued)
            .execute(&app.pool)
            .await
            .expect("queued_at");
        assert!(
            list(day, day).await.contains(&doc.to_string()),
            "{queued} is on {day}"
        );
        assert!(
            !list(other, other).await.contains(&doc.to_string()),
            "{queued} is not on {other}"
        );
    }
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_picks_every_school_in_scope_by_name() {
    let app = spawn_app().await;
    for (id, name) in [(OWN, "Fjellvik ungdomsskole"), (OTHER, "Bakken skole")] {
        sqlx::query("INSERT INTO roster_schools (school_id, name, version) VALUES ($1, $2, 1)")
            .bind(id)
            .bind(name)
            .execute(&app.pool)
            .await
            .expect("roster school");
    }
    let doc = queue(&app, "conduct_warning").await;
    let option = |id: &str, name: &str, selected: bool| {
        format!(
            "<option value=\"{id}\" {}>{name}</option>",
            if selected { "selected" } else { "" }
        )
    };
    let admin = sign_in(&app, Role::Kommuneadmin, &[]).await;
    for page in [
        "/dashboard/arkivlogg",
        "/dashboard/frister",
        "/dashboard/utsendinger",
        "/dashboard/ikke-nadd",
        "/dashboard/revisjonslogg",
        "/dashboard/sms",
    ] {
        let (code, body) = get(&app, Some(&admin), page).await;
        assert_eq!(code, 200, "{page}");
        for (id, name) in [(OWN, "Fjellvik ungdomsskole"), (OTHER, "Bakken skole")] {
            assert!(
                body.contains(&option(id, name, false)),
                "{page}: {name} to pick"
            );
        }
        let sep = if page.contains('?') { '&' } else { '?' };
        let (code, body) = get(&app, Some(&admin), &format!("{page}{sep}school={OTHER}")).await;
        assert_eq!(code, 200, "{page}?school=");
        assert!(
            body.contains(&option(OTHER, "Bakken skole", true)),
            "{page}: the choice shows"
        );
    }
    // The ledger is reachable from the page, and names the school.
    let (_, sms) = get(&app, Some(&admin), &format!("/dashboard/sms?school={OWN}")).await;
    assert!(
        sms.contains("for Fjellvik ungdomsskole"),
        "the ledger names the school"
    );
    // A school's own team: their school by name, one word for "all".
    let team = sign_in(&app, Role::Team, &[OWN]).await;
    for page in [
        "/dashboard/arkivlogg?status=klar",
        "/dashboard/frister",
        "/dashboard/utsendinger",
        "/dashboard/ikke-nadd",
    ] {
        let (_, body) = get(&app, Some(&team), page).await;
        assert!(
            body.contains(&option(OWN, "Fjellvik ungdomsskole", false)),
            "{page}"
        );
        assert!(
            body.contains(">Alle mine skoler<"),
            "{page}: one word for all of mine"
        );
        assert!(!body.contains(">Mine skoler<"));
        assert!(!body.contains(OTHER), "{page}: no other school offered");
        // The slug appears only inside URLs and form values, never as text.
        assert!(
            !body.contains(&format!(">{OWN}<")),
            "{page}: a slug as text"
        );
        assert!(
            !body.contains(&format!(": {OWN}")),
            "{page}: a slug in the header"
        );
    }
    let (_, d) = get(&app, Some(&team), &format!("/dashboard/dokument/{doc}")).await;
    assert!(
        d.contains("<dd>Fjellvik ungdomsskole</dd>"),
        "the document names its school"
    );
    app.stop_and_clean().await;
}

/// `body` without the support details: every `<span class="raw" …>…</span>`
/// (the raw value's detail line) and `<pre>…</pre>` (the archive's answer verbatim).
fn without_raw(body: &str) -> String {
    let mut out = body.to_string();
    for (open, close) in [("<span class=\"raw\"", "</span>"), ("<pre>", "</pre>")] {
        let mut kept = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(open) {
            kept.push_str(&rest[..i]);
            match rest[i..].find(close) {
                Some(j) => rest = &rest[i + j + close.len()..],
                None => {
                    rest = "";
                    break;
                }
            }
        }
        kept.push_str(rest);
        out = kept;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_read_norwegian_with_the_raw_value_on_a_detail_line() {
    let app = spawn_app().await;
    let failed = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Ugyldig]).await;
    let archived = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Normal]).await;
    assert_eq!(status_of(&app, archived).await, "arkivert");
    let admin = sign_in(&app, Role::Kommuneadmin, &[]).await;
    let (code, doc) = get(
        &app,
        Some(&admin),
        &format!("/dashboard/dokument/{archived}"),
    )
    .await;
    assert_eq!(code, 200);
    let shown = without_raw(&doc);
    assert!(
        shown.contains(">Arkivert</span>"),
        "the status in Norwegian"
    );
    assert!(
        shown.contains("Elevmappe") || shown.contains("Skolemappe"),
        "the folder"
    );
    assert!(!shown.contains("<dd>pupil") && !shown.contains("<dd>school"));
    assert!(shown.contains("<dt>Journalår"), "receipt fields translated");
    assert!(!shown.contains("<dt>journalaar"));
    assert!(
        doc.contains("<span class=\"raw\" title=\"Verdien i systemet\">journalaar</span>"),
        "raw on a detail line"
    );
    assert!(
        shown.contains("Arkivet (Fiks Arkiv over HTTP)"),
        "the target in Norwegian"
    );
    let (_, doc) = get(&app, Some(&admin), &format!("/dashboard/dokument/{failed}")).await;
    let shown = without_raw(&doc);
    assert!(
        shown.contains("Arkivet avviste meldingen"),
        "the error class in Norwegian"
    );
    assert!(!shown.contains("ugyldigforespoersel"));
    // The audit log: actions and roles in Norwegian.
    // The actions the issue saw in English, as the dashboard and API record them.
    let rektor = Actor::new("test:rektor", Role::Rektor, vec![OWN.into()]).expect("actor");
    for action in [
        "archive.preview",
        "dashboard.sign_in",
        "sms.send",
        "archive.retry",
    ] {
        dokflyt::audit::record(
            &app.pool,
            &dokflyt::audit::Entry {
                actor: &rektor,
                school_id: Some(OWN),
                action,
                target: None,
                outcome: dokflyt::audit::Verdict::Granted,
                reason: None,
                details: serde_json::json!({}),
            },
        )
        .await
        .expect("audit entry");
    }
    let (_, log) = get(&app, Some(&admin), "/dashboard/revisjonslogg").await;
    let shown = without_raw(&log);
    let actions: Vec<String> = sqlx::query_scalar("SELECT DISTINCT action FROM audit_log")
        .fetch_all(&app.pool)
        .await
        .expect("actions");
    assert!(!actions.is_empty());
    for raw in &actions {
        let nb = dokflyt::dashboard::words::action(raw);
        assert_ne!(nb, raw, "{raw} has a Norwegian name");
        assert!(shown.contains(nb), "{raw} as «{nb}»");
        assert!(!shown.contains(raw.as_str()), "{raw} shown to a person");
        assert!(
            log.contains(&format!(">{raw}</span>")),
            "{raw} on the detail line"
        );
    }
    assert!(!shown.contains(">kommuneadmin<"));
    assert!(shown.contains("kommuneadministrator"));
    // Deliveries: statuses in Norwegian.
    sqlx::query("UPDATE deliveries SET status = 'delivered'")
        .execute(&app.pool)
        .await
        .expect("delivered");
    let (_, sent) = get(&app, Some(&admin), "/dashboard/utsendinger").await;
    let shown = without_raw(&sent);
    assert!(shown.contains("<td>Levert"), "delivered in Norwegian");
    assert!(
        !shown.contains(">delivered<"),
        "no English status outside the detail line"
    );
    // Amounts the Norwegian way.
    book_sms(&app, OWN, "2026-12-01T10:00:00Z").await;
    let (_, sms) = get(
        &app,
        Some(&admin),
        &format!("/dashboard/sms?school={OWN}&month=2026-12"),
    )
    .await;
    assert!(sms.contains("2,07\u{a0}kr"), "0,69 × 3 as 2,07 kr");
    assert!(sms.contains("0,69\u{a0}kr"));
    assert!(!sms.contains("0.69") && !sms.contains("2.07"));
    assert!(sms.contains("Kostnader desember 2026"), "the month by name");
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_titles_mask_every_part_of_every_name_in_the_event() {
    let app = spawn_app().await;
    let mut names: Vec<String> = Vec::new();
    for example in ["meeting_invitation", "leave_decision"] {
        let id = queue(&app, example).await;
        let n: Vec<String> = sqlx::query_scalar(
            "SELECT payload #>> '{pupil,name}' FROM events WHERE event_id = $1
             UNION ALL
             SELECT r ->> 'name' FROM events e, jsonb_array_elements(e.payload -> 'recipients') r
              WHERE e.event_id = $1",
        )
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .expect("names");
        names.extend(n);
    }
    assert!(names.iter().any(|n| n == "Jonas Berg Nilsen"));
    assert!(names.iter().any(|n| n == "Marianne Berg"));
    let parts: Vec<String> = names
        .iter()
        .flat_map(|n| {
            n.split(|c: char| !c.is_alphanumeric())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .filter(|p| p.chars().count() > 1)
        .collect();
    // A school system's title with the guardians' names, one in the genitive.
    sqlx::query(
        "UPDATE documents d SET title = 'Samtale med Marianne om Kristoffers ønske'
           FROM events e WHERE e.event_id = d.event_id
            AND e.payload ->> 'document_type' = 'meeting_invitation'",
    )
    .execute(&app.pool)
    .await
    .expect("title");
    let admin = sign_in(&app, Role::Kommuneadmin, &[]).await;
    let (_, list) = get(&app, Some(&admin), "/dashboard/arkivlogg?status=klar").await;
    assert!(
        list.contains("Samtale med M. om K. ønske"),
        "guardians' names masked"
    );
    assert!(
        list.contains("Svar på søknad om permisjon – S.L."),
        "the title, masked"
    );
    let (_, sent) = get(&app, Some(&admin), "/dashboard/utsendinger").await;
    // A search by a guardian's surname finds the document, and shows it masked.
    let code = post(
        &app,
        Some(&admin),
        "/dashboard/arkivlogg/sok",
        &[("_csrf", &admin.csrf), ("tekst", "Kristoffer")],
    )
    .await;
    assert_eq!(code, 303);
    let (_, found) = get(&app, Some(&admin), "/dashboard/arkivlogg?status=klar").await;
    assert!(
        found.contains("Samtale med M. om K. ønske"),
        "found, masked"
    );
    // The search box echoes what the person typed; nothing else names anyone.
    let found = found.replace("value=\"Kristoffer\"", "");
    for (what, page) in [
        ("Arkivlogg", &list),
        ("Utsendinger", &sent),
        ("søk", &found),
    ] {
        let words: Vec<String> = page
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .collect();
        for p in &parts {
            assert!(
                !words
                    .iter()
                    .any(|w| w == p || w.strip_suffix('s') == Some(p.as_str())),
                "{what}: a part of a name ({p}) is shown"
            );
        }
    }
    app.stop_and_clean().await;
}

/// An error page a person can leave: the menu, «Logg ut», a Norwegian text.
fn assert_error_page(body: &str, what: &str) {
    assert!(
        body.contains("aria-label=\"Hovedmeny\""),
        "{what}: the menu"
    );
    assert!(body.contains(">Logg ut</button>"), "{what}: sign-out");
    assert!(
        body.contains("class=\"problem\""),
        "{what}: the explanation"
    );
    assert!(
        body.contains("<html lang=\"nb\">"),
        "{what}: a Norwegian page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_dead_ends_actions_error_pages_search_and_return_paths() {
    let app = spawn_app().await;
    let failed = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Ugyldig]).await;
    let archived = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Normal]).await;
    let ready = queue(&app, "conduct_warning").await;
    let admin = sign_in(&app, Role::Kommuneadmin, &[]).await;

    // Only the actions that can apply are offered; the others explain why.
    let (_, doc) = get(
        &app,
        Some(&admin),
        &format!("/dashboard/dokument/{archived}"),
    )
    .await;
    assert!(
        !doc.contains("Handlinger"),
        "no empty Handlinger on an archived document"
    );
    let (_, doc) = get(&app, Some(&admin), &format!("/dashboard/dokument/{ready}")).await;
    assert!(
        !doc.contains("bekreft/prov-igjen"),
        "no «Prøv igjen» on a klar document"
    );
    let (_, doc) = get(&app, Some(&admin), &format!("/dashboard/dokument/{failed}")).await;
    assert!(doc.contains("bekreft/prov-igjen"));
    let (code, _) = get(
        &app,
        Some(&admin),
        &format!("/dashboard/dokument/{failed}/bekreft/prov-igjen"),
    )
    .await;
    assert_eq!(code, 200);
    for (doc, action) in [
        (archived, "prov-igjen"),
        (archived, "produser-pa-nytt"),
        (archived, "fjern"),
        (ready, "prov-igjen"),
        (ready, "fjern"),
    ] {
        let (code, body) = get(
            &app,
            Some(&admin),
            &format!("/dashboard/dokument/{doc}/bekreft/{action}"),
        )
        .await;
        assert_eq!(code, 409, "{action} on {doc}");
        assert!(
            !body.contains("id=\"bekreft\""),
            "no confirm button for {action}"
        );
        assert!(body.contains("kan ikke brukes nå"), "why, for {action}");
        assert_error_page(&body, action);
    }

    // Error pages have the menu, a Norwegian text and a way back.
    let (code, body) = get(&app, Some(&admin), "/dashboard/finnes-ikke").await;
    assert_eq!(code, 404);
    assert_error_page(&body, "404");
    let (code, body) = get(&app, Some(&admin), "/dashboard/revisjonslogg?before=tja").await;
    assert_eq!(code, 400);
    assert_error_page(&body, "400");
    let (code, body) = get(&app, Some(&admin), "/dashboard/logg-ut").await;
    assert_eq!(code, 405);
    assert_error_page(&body, "405");
    let team = sign_in(&app, Role::Team, &[OWN]).await;
    let (code, body) = get(&app, Some(&team), "/dashboard/sms").await;
    assert_eq!(code, 403);
    assert_error_page(&body, "403");
    let (code, body) = get(
        &app,
        Some(&admin),
        &format!("/dashboard/dokument/{}", Uuid::new_v4()),
    )
    .await;
    assert_eq!(code, 404);
    assert_error_page(&body, "404 document");
    // Without a session: a way to sign in.
    let (code, _, body) =
        post_full(&app, None, "/dashboard/arkivlogg/sok", &[("tekst", "x")]).await;
    assert_eq!(code, 401);
    assert!(
        body.contains("href=\"/dashboard/logg-inn\""),
        "401: a way to sign in"
    );

    // GET after POST lands on a page.
    for (path, to) in [
        (
            "/dashboard/arkivlogg/sok",
            "/dashboard/arkivlogg".to_string(),
        ),
        (
            &format!("/dashboard/dokument/{failed}/prov-igjen") as &str,
            format!("/dashboard/dokument/{failed}"),
        ),
    ] {
        let (code, location, _) = get_full(&app, Some(&admin), path).await;
        assert_eq!((code, location), (303, to), "GET {path}");
    }

    // A long search is refused with a message, not cut.
    let long = "a".repeat(201);
    let (code, _, body) = post_full(
        &app,
        Some(&admin),
        "/dashboard/arkivlogg/sok",
        &[("_csrf", &admin.csrf), ("tekst", &long)],
    )
    .await;
    assert_eq!(code, 422);
    assert!(body.contains("Søket er for langt"));
    assert_error_page(&body, "422");
    let ok = "a".repeat(200);
    let (code, _, _) = post_full(
        &app,
        Some(&admin),
        "/dashboard/arkivlogg/sok",
        &[("_csrf", &admin.csrf), ("tekst", &ok)],
    )
    .await;
    assert_eq!(code, 303, "200 characters are a search");

    // tilbake= is normalised before it is checked.
    for (back, to) in [
        (
            "/dashboard/arkivlogg/../../../api/status",
            "/dashboard/arkivlogg",
        ),
        (
            "/dashboard/arkivlogg/%2e%2e/%2e%2e/api/status",
            "/dashboard/arkivlogg",
        ),
        (
            "/dashboard/arkivlogg?status=klar",
            "/dashboard/arkivlogg?status=klar",
        ),
    ] {
        let (code, location, _) = post_full(
            &app,
            Some(&admin),
            "/dashboard/arkivlogg/sok",
            &[("_csrf", &admin.csrf), ("tekst", ""), ("tilbake", back)],
        )
        .await;
        assert_eq!((code, location.as_str()), (303, to), "tilbake={back}");
    }
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_page_counts_segments_and_cost_as_sms_count_does() {
    use common::sms_gateway::{generate_school, load_roster, spawn_sms_app, GatewayStandIn};
    use dokflyt::sms::segments::count;
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |_| {}).await;
    load_roster(&app.pool, &generate_school(OWN, "4601", 3, 4, 2).events).await;
    let numbers = dokflyt::sms::recipients::for_school(&app.pool, OWN)
        .await
        .expect("recipients")
        .numbers
        .len() as i64;
    assert!(numbers > 0);
    let rektor = sign_in(&app, Role::Rektor, &[OWN]).await;
    let (code, page) = get(&app, Some(&rektor), &format!("/dashboard/sms?school={OWN}")).await;
    assert_eq!(code, 200);
    assert!(
        page.contains("data-count=\"/dashboard/sms/telling\""),
        "the page's script counts"
    );
    let ask = |text: String| {
        let (app, rektor) = (&app, &rektor);
        async move {
            let resp = client()
                .post(format!("http://{}/dashboard/sms/telling", app.http))
                .header("cookie", &rektor.cookie)
                .form(&[
                    ("_csrf", rektor.csrf.as_str()),
                    ("school", OWN),
                    ("tekst", text.as_str()),
                ])
                .send()
                .await
                .expect("count");
            assert_eq!(resp.status().as_u16(), 200);
            resp.json::<serde_json::Value>().await.expect("json")
        }
    };
    for text in [
        "Hei alle".to_string(),
        "a".repeat(160),
        "a".repeat(161),
        format!("{}–", "a".repeat(69)),
        format!("{}–", "a".repeat(70)),
        "Møte – i dag «her»".to_string(),
    ] {
        let c = ask(text.clone()).await;
        let expected = count(&text);
        assert_eq!(
            c["segments"],
            serde_json::json!(expected.segments),
            "{text}"
        );
        assert_eq!(
            c["characters"],
            serde_json::json!(expected.characters),
            "{text}"
        );
        assert_eq!(
            c["encoding"],
            serde_json::json!(expected.encoding.as_str()),
            "{text}"
        );
        assert_eq!(c["numbers"], serde_json::json!(numbers));
        let cost = dokflyt::dashboard::words::kroner(&dokflyt::sms::cost::nok(
            numbers * expected.segments as i64 * 69,
        ));
        assert_eq!(c["cost"], serde_json::json!(cost), "{text}");
    }
    // One «–» makes 160 GSM characters two UCS-2 SMS; it is named, with its stand-in.
    let c = ask(format!("{}–", "a".repeat(70))).await;
    assert_eq!(c["segments"], 2);
    assert_eq!(
        c["ucs2"],
        serde_json::json!([{ "char": "–", "replacement": "-" }])
    );
    assert_eq!(ask("a".repeat(71)).await["segments"], 1);
    // Another school's principal, a school team and a missing token are refused.
    let team = sign_in(&app, Role::Team, &[OWN]).await;
    let code = post(
        &app,
        Some(&team),
        "/dashboard/sms/telling",
        &[("_csrf", &team.csrf), ("school", OWN), ("tekst", "x")],
    )
    .await;
    assert_eq!(code, 403);
    let code = post(
        &app,
        Some(&rektor),
        "/dashboard/sms/telling",
        &[("school", OWN), ("tekst", "x")],
    )
    .await;
    assert_eq!(code, 403);
    let elsewhere = sign_in_at(&app, Role::Rektor, &[OTHER], Level::Substantial).await;
    let code = post(
        &app,
        Some(&elsewhere),
        "/dashboard/sms/telling",
        &[("_csrf", &elsewhere.csrf), ("school", OWN), ("tekst", "x")],
    )
    .await;
    assert_eq!(code, 403);
    app.stop_and_clean().await;
}

/// A school in a municipality with a Sámi setting: the compose page has the Sámi
/// field and names the fixed phrase; the live count and the preview count the
/// whole text (Norwegian + Sámi) in UCS-2 with the higher cost. A school without
/// the setting has no field and its count is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sami_area_school_s_compose_page_counts_the_whole_text() {
    use common::sms_gateway::{generate_school, load_roster, spawn_sms_app, GatewayStandIn};
    use dokflyt::sms::segments::count;
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| {
        s.letters.municipalities.insert(
            "5430".into(),
            dokflyt::config::letters::Override {
                sami: Some(dokflyt::config::letters::Sami::North),
                ..Default::default()
            },
        );
    })
    .await;
    load_roster(&app.pool, &generate_school(OWN, "5430", 3, 4, 2).events).await;
    load_roster(&app.pool, &generate_school(OTHER, "4601", 3, 4, 2).events).await;
    let numbers = dokflyt::sms::recipients::for_school(&app.pool, OWN)
        .await
        .expect("recipients")
        .numbers
        .len() as i64;
    let rektor = sign_in(&app, Role::Rektor, &[OWN]).await;
    let (code, page) = get(&app, Some(&rektor), &format!("/dashboard/sms?school={OWN}")).await;
    assert_eq!(code, 200);
    assert!(page.contains("name=\"samisk\""), "the Sámi field");
    assert!(page.contains("Samisk tekst (nordsamisk)"));
    assert!(
        page.contains("Dehálaš dieđáhus skuvllas"),
        "the fixed phrase is named"
    );
    let ask = |school: &'static str, text: &'static str, sami: &'static str| {
        let app = &app;
        let rektor = &rektor;
        async move {
            let resp = client()
                .post(format!("http://{}/dashboard/sms/telling", app.http))
                .header("cookie", &rektor.cookie)
                .form(&[
                    ("_csrf", rektor.csrf.as_str()),
                    ("school", school),
                    ("tekst", text),
                    ("samisk", sami),
                ])
                .send()
                .await
                .expect("count");
            assert_eq!(resp.status().as_u16(), 200);
            resp.json::<serde_json::Value>().await.expect("json")
        }
    };
    const NB: &str = "Skolen er stengt i dag.";
    const SE: &str = "Skuvla lea giddejuvvon odne. Dieđut boahtá.";
    // The principal's Sámi text.
    let c = ask(OWN, NB, SE).await;
    let whole = count(&format!("{NB}\n\n{SE}"));
    assert_eq!(c["encoding"], "ucs2");
    assert_eq!(c["segments"], serde_json::json!(whole.segments));
    assert_eq!(c["characters"], serde_json::json!(whole.characters));
    assert_eq!(c["sami"]["source"], "event");
    assert_eq!(c["sami_forces_ucs2"], true);
    assert_eq!(c["ucs2"], serde_json::json!([]));
    // Left empty: the fixed phrase, three SMS for a one-SMS Norwegian text.
    let c = ask(OWN, NB, "").await;
    assert_eq!(c["sami"]["source"], "fixed");
    let fixed = c["sami"]["fixed_phrase"]
        .as_str()
        .expect("phrase")
        .to_string();
    let whole = count(&format!("{NB}\n\n{fixed}"));
    assert_eq!(c["segments"], serde_json::json!(whole.segments));
    assert!(whole.segments > 1);
    let cost = dokflyt::dashboard::words::kroner(&dokflyt::sms::cost::nok(
        numbers * whole.segments as i64 * 69,
    ));
    assert_eq!(c["cost"], serde_json::json!(cost));

    // The preview shows the whole text and the same count and cost.
    let (code, _, preview) = post_full(
        &app,
        Some(&rektor),
        "/dashboard/sms/forhandsvis",
        &[
            ("_csrf", &rektor.csrf),
            ("school", OWN),
            ("tekst", NB),
            ("samisk", SE),
            ("begrunnelse", "Strømbrudd"),
        ],
    )
    .await;
    assert_eq!(code, 200, "{preview}");
    let whole = count(&format!("{NB}\n\n{SE}"));
    assert!(preview.contains(SE), "the Sámi text is shown");
    assert!(preview.contains(&format!(
        "{} tegn, {} SMS per mottaker",
        whole.characters, whole.segments
    )));
    assert!(preview.contains("Din tekst på nordsamisk står etter den norske"));

    // The other school (no Sámi setting): no field, the count as before.
    let other = sign_in(&app, Role::Rektor, &[OTHER]).await;
    let (_, page) = get(
        &app,
        Some(&other),
        &format!("/dashboard/sms?school={OTHER}"),
    )
    .await;
    assert!(!page.contains("name=\"samisk\""));
    let resp = client()
        .post(format!("http://{}/dashboard/sms/telling", app.http))
        .header("cookie", &other.cookie)
        .form(&[
            ("_csrf", other.csrf.as_str()),
            ("school", OTHER),
            ("tekst", NB),
            ("samisk", SE),
        ])
        .send()
        .await
        .expect("count");
    let c: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(c["encoding"], "gsm7");
    assert_eq!(c["segments"], 1);
    assert_eq!(c["sami"], serde_json::Value::Null);
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_flow_refuses_nobody_uses_a_preview_once_and_lands_on_pages() {
    use common::sms_gateway::{generate_school, load_roster, spawn_sms_app, GatewayStandIn};
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |_| {}).await;
    load_roster(&app.pool, &generate_school(OWN, "4601", 3, 4, 2).events).await;
    load_roster(&app.pool, &generate_school(OTHER, "4601", 0, 0, 0).events).await;
    let messages = |school: &'static str| {
        let app = &app;
        async move {
            app.count(&format!(
                "SELECT count(*) FROM sms_messages WHERE school_id = '{school}'"
            ))
            .await
        }
    };

    // Nobody to reach: the preview says so and offers no Send; a send is refused.
    let empty = sign_in(&app, Role::Rektor, &[OTHER]).await;
    let (code, _, body) = post_full(
        &app,
        Some(&empty),
        "/dashboard/sms/forhandsvis",
        &[
            ("_csrf", &empty.csrf),
            ("school", OTHER),
            ("tekst", "Skolen er stengt i dag."),
            ("begrunnelse", "Stenging"),
        ],
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        body.contains("id=\"ingen-mottakere\""),
        "the reason on the preview"
    );
    assert!(!body.contains("id=\"send\""), "no Send to 0 numbers");
    let token = form_value(&body, "token");
    let (code, _, body) = post_full(
        &app,
        Some(&empty),
        "/dashboard/sms/send",
        &[("_csrf", &empty.csrf), ("school", OTHER), ("token", &token)],
    )
    .await;
    assert_eq!(code, 422, "sending to nobody is refused");
    assert!(body.contains("ville ikke nådd noen"));
    assert_eq!(messages(OTHER).await, 0);

    // A preview token sends once.
    let rektor = sign_in(&app, Role::Rektor, &[OWN]).await;
    let (_, _, body) = post_full(
        &app,
        Some(&rektor),
        "/dashboard/sms/forhandsvis",
        &[
            ("_csrf", &rektor.csrf),
            ("school", OWN),
            ("tekst", "Skolen er stengt i dag."),
            ("begrunnelse", "Stenging"),
        ],
    )
    .await;
    assert!(body.contains("id=\"send\""));
    let token = form_value(&body, "token");
    // A reload of the preview: the kept confirmation, not a bare 405.
    let (code, location, _) = get_full(&app, Some(&rektor), "/dashboard/sms/forhandsvis").await;
    assert_eq!((code, location.as_str()), (303, "/dashboard/fortsett"));
    let (code, again) = get(&app, Some(&rektor), "/dashboard/fortsett").await;
    assert_eq!(code, 200);
    assert!(again.contains(&token), "the same confirmation");
    let send = [
        ("_csrf", rektor.csrf.as_str()),
        ("school", OWN),
        ("token", token.as_str()),
    ];
    let (code, first, _) = post_full(&app, Some(&rektor), "/dashboard/sms/send", &send).await;
    assert_eq!(code, 303);
    assert!(first.starts_with("/dashboard/sms/melding/"));
    let (code, second, _) = post_full(&app, Some(&rektor), "/dashboard/sms/send", &send).await;
    assert_eq!(
        (code, second.as_str()),
        (303, first.as_str()),
        "the same token shows the same message"
    );
    assert_eq!(messages(OWN).await, 1, "one message for one preview token");
    // Another person, even the school's other principal, cannot use the token.
    let other_person =
        Actor::new("test:rektor-2", Role::Rektor, vec![OWN.to_string()]).expect("actor");
    let (cookie, csrf) = common::dashboard_session(&app.pool, &other_person, Level::High).await;
    let other_person = User { cookie, csrf };
    let (code, _, body) = post_full(
        &app,
        Some(&other_person),
        "/dashboard/sms/send",
        &[
            ("_csrf", other_person.csrf.as_str()),
            ("school", OWN),
            ("token", token.as_str()),
        ],
    )
    .await;
    assert_eq!(code, 409, "another person's preview token is refused");
    assert!(body.contains("annen skole eller bruker"), "{body}");
    assert_eq!(messages(OWN).await, 1, "still one message");
    let used: Option<Uuid> =
        sqlx::query_scalar("SELECT used_by FROM sms_previews WHERE token = $1::uuid")
            .bind(&token)
            .fetch_one(&app.pool)
            .await
            .expect("preview");
    assert!(used.is_some(), "the token is marked used");
    // After the send, a reload of the preview or the send lands on the SMS page.
    let (code, location, _) = get_full(&app, Some(&rektor), "/dashboard/sms/forhandsvis").await;
    assert_eq!((code, location.as_str()), (303, "/dashboard/sms"));
    let (code, location, _) = get_full(&app, Some(&rektor), "/dashboard/sms/send").await;
    assert_eq!((code, location.as_str()), (303, "/dashboard/sms"));
    let (code, _) = get(&app, Some(&rektor), "/dashboard/sms").await;
    assert_eq!(code, 200);
    // The message page without ?school= finds its school (or answers 404).
    let id = first
        .trim_start_matches("/dashboard/sms/melding/")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let (code, location, _) =
        get_full(&app, Some(&rektor), &format!("/dashboard/sms/melding/{id}")).await;
    assert_eq!((code, location), (303, first.clone()));
    let (code, body) = get(&app, Some(&empty), &format!("/dashboard/sms/melding/{id}")).await;
    assert_eq!(code, 404, "another school's message");
    assert_error_page(&body, "sms 404");
    app.stop_and_clean().await;
}

// ---------------------------------------------------------------- browser test

pub(crate) fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// `npm ci` once when the test's node modules are missing (shared with the
/// OpenAPI validator's test: `common::ensure_node_modules`).
pub(crate) fn ensure_node_modules() {
    common::ensure_node_modules();
}

pub(crate) fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "the browser tests need Chromium at {path} (Debian: apt-get install chromium; .ci/run installs it)"
    );
    path
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs `dashboard.mjs <step>`; panics with its output when it fails.
async fn browser(step: &str, base: &str, doc: Uuid, artifacts: &Path, chromium: &str) {
    browser_as(step, base, doc, artifacts, chromium, "").await
}

async fn browser_as(
    step: &str,
    base: &str,
    doc: Uuid,
    artifacts: &Path,
    chromium: &str,
    login: &str,
) {
    let out = tokio::process::Command::new("node")
        .arg(e2e_dir().join("dashboard.mjs"))
        .arg(step)
        .env("BASE", base)
        .env("DOC_ID", doc.to_string())
        .env("ARTIFACTS", artifacts)
        .env("CHROMIUM", chromium)
        .env("SCHOOL", OWN)
        .env("LOGIN", login)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
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

/// The archive officer's day in one continuous browser run (`dashboard.mjs day`):
/// the municipal archive administrator signs in, opens Feilet, reads why the
/// archive refused the document, presses «Prøv igjen», runs the transfer from the
/// dashboard («Kjør overføring nå»), finds the document under Arkivert and ends on
/// Frister. Then other people's runs: another school's team gets 404, a school
/// administrator previews the UO document at substantial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_officers_day_runs_in_one_browser_session() {
    ensure_node_modules();
    let chromium = chromium();
    let port = free_port();
    let public_url = format!("http://localhost:{port}");
    let secret = format!("e2e-{}", Uuid::new_v4().simple());
    let accounts = serde_json::json!({
        "arkiv.kommune": { "name": "Kari Arkivar", "role": "kommuneadmin", "schools": [] },
        "team.bakken": { "name": "Bjørn Bakken", "role": "team", "schools": [OTHER] },
        "admin.fjellvik": { "name": "Siri Skoleadmin", "role": "skoleadmin", "schools": [OWN] },
    });
    let (provider, issuer) = start_provider(&public_url, &secret, &accounts).await;
    // The archive the dashboard's «Kjør overføring nå» sends to: it registers.
    let archive = common::archive_standin::StandIn::start(vec![], Duration::ZERO).await;

    let app = spawn_app_with(Spawn {
        http_addr: Some(format!("127.0.0.1:{port}")),
        dashboard: Some(e2e_dashboard(&issuer, &secret, &public_url)),
        archive_url: Some(archive.url()),
        ..Spawn::default()
    })
    .await;
    let doc = queue(&app, "conduct_warning").await;
    // The morning's failure: the archive refused it (ugyldigforespoersel).
    transfer(&app, vec![Action::Ugyldig]).await;
    assert_eq!(status_of(&app, doc).await, "feilet");

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    browser("day", &public_url, doc, &artifacts, &chromium).await;
    assert_eq!(status_of(&app, doc).await, "arkivert");
    let journal_posts = archive.state.lock().expect("lock").posts.len();
    assert_eq!(
        journal_posts, 1,
        "the dashboard's transfer reached the archive once"
    );
    for (action, n) in [("archive.retry", 1), ("archive.run_now", 1)] {
        let granted = app
            .count(&format!(
                "SELECT count(*) FROM audit_log WHERE action = '{action}' AND outcome = 'granted'
                    AND role = 'kommuneadmin'"
            ))
            .await;
        assert_eq!(granted, n, "{action} is audited with the officer");
    }
    // A team member of another school is refused by the server.
    browser("other-school", &public_url, doc, &artifacts, &chromium).await;
    // The school administrator previews the UO document at substantial (school
    // teams never see UO content; see `may_preview`), and at low is offered a step-up.
    browser("preview-uo", &public_url, doc, &artifacts, &chromium).await;

    let signins = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'dashboard.sign_in'")
        .await;
    assert!(signins >= 4, "sign-ins are audited");
    let substantial = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'dashboard.sign_in'
                AND details ->> 'level' = 'substantial'",
        )
        .await;
    assert_eq!(
        substantial, 2,
        "the provider's acr is read from the ID token"
    );
    let refused = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'archive.show' AND outcome = 'refused' AND target = '{doc}'"
        ))
        .await;
    assert!(refused >= 1, "the other school's attempt is audited");
    let previewed = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'archive.preview' AND outcome = 'granted' AND target = '{doc}'"
        ))
        .await;
    assert!(previewed >= 1, "the preview is audited");
    drop(provider);
    app.stop_and_clean().await;
}

/// The dashboard's settings against the test provider.
pub(crate) fn e2e_dashboard(
    issuer: &str,
    secret: &str,
    public_url: &str,
) -> dokflyt::config::DashboardSettings {
    dokflyt::config::DashboardSettings {
        oidc_issuer: issuer.to_string(),
        oidc_client_id: "dokflyt-e2e".into(),
        oidc_client_secret: dokflyt::config::Secret::new(secret),
        public_url: public_url.to_string(),
        ..Default::default()
    }
}

/// Starts `tests/e2e/oidc-provider.mjs` for `accounts`; returns it and its issuer.
pub(crate) async fn start_provider(
    public_url: &str,
    secret: &str,
    accounts: &serde_json::Value,
) -> (tokio::process::Child, String) {
    let mut provider = tokio::process::Command::new("node")
        .arg(e2e_dir().join("oidc-provider.mjs"))
        .env("OIDC_PORT", "0")
        .env("OIDC_CLIENT_ID", "dokflyt-e2e")
        .env("OIDC_CLIENT_SECRET", secret)
        .env(
            "OIDC_REDIRECT_URIS",
            format!("{public_url}/dashboard/callback"),
        )
        .env("OIDC_ACCOUNTS", accounts.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the OIDC provider starts");
    let stdout = provider.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let issuer = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the provider announces itself")
        .expect("read")
        .and_then(|l| l.strip_prefix("OIDC_ISSUER=").map(str::to_string))
        .expect("OIDC_ISSUER=… on stdout");
    // Keep reading its stdout so the pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (provider, issuer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_at_substantial_steps_up_to_send_an_emergency_sms() {
    use common::sms_gateway::{generate_school, load_roster, spawn_sms_app, GatewayStandIn};
    ensure_node_modules();
    let chromium = chromium();
    let port = free_port();
    let public_url = format!("http://localhost:{port}");
    let secret = format!("e2e-{}", Uuid::new_v4().simple());
    let accounts = serde_json::json!({
        "rektor.fjellvik": { "name": "Rita Rektor", "role": "rektor", "schools": [OWN] },
    });
    let (provider, issuer) = start_provider(&public_url, &secret, &accounts).await;
    let gw = GatewayStandIn::start().await;
    let dashboard = e2e_dashboard(&issuer, &secret, &public_url);
    let app = spawn_sms_app(&gw, |s| {
        s.http.addr = format!("127.0.0.1:{port}");
        s.dashboard = dashboard;
    })
    .await;
    let school = generate_school(OWN, "4601", 12, 20, 4);
    load_roster(&app.pool, &school.events).await;

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    // One browser run from compose to «Levert»: while it waits on the message page,
    // the gateway reports every SMS it accepted as delivered (as a real gateway
    // posts its delivery reports), once it has them all.
    let numbers = school.expected_numbers.len();
    let gateway_reports = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while gw.received().len() < numbers {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the gateway received {} of {numbers} SMS",
                gw.received().len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        gw.report_all_delivered(app.http, common::sms_gateway::DLR_TOKEN)
            .await;
    };
    tokio::join!(
        browser(
            "sms-step-up",
            &public_url,
            Uuid::nil(),
            &artifacts,
            &chromium,
        ),
        gateway_reports
    );
    let delivered = app
        .count("SELECT count(*) FROM sms_recipients WHERE status = 'delivered'")
        .await;
    assert_eq!(delivered, numbers as i64, "every number delivered");

    let sent = app
        .count(&format!(
            "SELECT count(*) FROM sms_messages WHERE school_id = '{OWN}'"
        ))
        .await;
    assert_eq!(sent, 1, "one emergency SMS, sent after the step-up");
    let stepped = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.send' AND outcome = 'refused'
                AND details ->> 'required_level' = 'high' AND details ->> 'session_level' = 'substantial'",
        )
        .await;
    assert_eq!(
        stepped, 1,
        "the Send at substantial is audited with the missing level"
    );
    let levels: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT details ->> 'level' FROM audit_log WHERE action = 'dashboard.sign_in' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("sign-ins");
    assert_eq!(
        levels,
        vec![Some("substantial".into()), Some("high".into())]
    );
    drop(provider);
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_reflows_at_phone_width() {
    use common::sms_gateway::{generate_school, load_roster, spawn_sms_app, GatewayStandIn};
    ensure_node_modules();
    let chromium = chromium();
    let port = free_port();
    let public_url = format!("http://localhost:{port}");
    let secret = format!("e2e-{}", Uuid::new_v4().simple());
    let accounts = serde_json::json!({
        "rektor.fjellvik": { "name": "Rita Rektor", "role": "rektor", "schools": [OWN] },
        "admin.kommune": { "name": "Kari Kommuneadministrator", "role": "kommuneadmin", "schools": [] },
        "team.fjellvik": { "name": "Tone Team", "role": "team", "schools": [OWN] },
    });
    let (provider, issuer) = start_provider(&public_url, &secret, &accounts).await;
    let gw = GatewayStandIn::start().await;
    let dashboard = e2e_dashboard(&issuer, &secret, &public_url);
    let app = spawn_sms_app(&gw, |s| {
        s.http.addr = format!("127.0.0.1:{port}");
        s.dashboard = dashboard;
    })
    .await;
    load_roster(&app.pool, &generate_school(OWN, "4601", 12, 20, 4).events).await;
    // One document in each tab, the failed one with the archive's refusal.
    let doc = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Ugyldig]).await;
    queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Normal]).await;
    queue(&app, "conduct_warning").await;
    assert_eq!(status_of(&app, doc).await, "feilet");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    for login in ["rektor.fjellvik", "admin.kommune", "team.fjellvik"] {
        browser_as("reflow", &public_url, doc, &artifacts, &chromium, login).await;
    }
    drop(provider);
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_rate_limited_per_user() {
    let app = spawn_app().await;
    let busy = sign_in(&app, Role::Team, &[OWN]).await;
    let calm = sign_in(&app, Role::Skoleadmin, &[OWN]).await;
    let limit = app.settings.dashboard.actions_per_minute as usize;
    let form = |u: &User| {
        vec![
            ("_csrf".to_string(), u.csrf.clone()),
            ("tekst".to_string(), "varsel".to_string()),
        ]
    };
    // The limiter is a GCRA (governor): a burst of `limit`, then one more every
    // minute / `limit`. So the first `limit` pass, and past them a 429 comes once
    // the requests outrun the refill; how many extra passed is bounded by the
    // time the loop took.
    let started = std::time::Instant::now();
    let mut codes = Vec::new();
    while codes.len() < 3 * limit && codes.last() != Some(&429) {
        let f = form(&busy);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        codes.push(post(&app, Some(&busy), "/dashboard/arkivlogg/sok", &f).await);
    }
    let took = started.elapsed().as_secs_f64();
    assert!(codes[..limit].iter().all(|c| *c == 303), "{codes:?}");
    assert_eq!(codes.last(), Some(&429), "over the limit: {codes:?}");
    let refilled = (took * limit as f64 / 60.0).ceil() as usize;
    let passed = codes.iter().filter(|c| **c == 303).count();
    assert!(
        passed <= limit + refilled,
        "{passed} passed in {took:.1} s with a limit of {limit} per minute"
    );
    // Another user is not affected.
    let f = form(&calm);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        post(&app, Some(&calm), "/dashboard/arkivlogg/sok", &f).await,
        303
    );
    app.stop_and_clean().await;
}

// ------------------------------------------------- levels, idle timeout, CSP

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proven_level_is_remembered_only_for_its_max_age() {
    let app = spawn_app().await;
    let doc = queue(&app, "conduct_warning").await;
    let rektor = sign_in_at(&app, Role::Rektor, &[OWN], Level::High).await;
    let pdf = format!("/dashboard/dokument/{doc}/pdf");
    let send = [
        ("_csrf", rektor.csrf.as_str()),
        ("school", OWN),
        ("token", &Uuid::new_v4().to_string()),
    ];
    let (code, ..) = get_full(&app, Some(&rektor), &pdf).await;
    assert_eq!(code, 200, "high: the preview shows");
    let (code, loc, body) = post_full(&app, Some(&rektor), "/dashboard/sms/send", &send).await;
    assert_eq!(
        classify("POST", code, &loc, &body),
        Got::Through,
        "high: Send goes through to the SMS rules"
    );

    // 16 minutes after the sign-in, high (15 min) has lapsed; substantial (8 h) holds.
    sqlx::query("UPDATE dashboard_sessions SET assurance_at = now() - interval '16 minutes'")
        .execute(&app.pool)
        .await
        .expect("age the sign-in");
    let (code, ..) = get_full(&app, Some(&rektor), &pdf).await;
    assert_eq!(code, 200, "substantial still holds for the preview");
    let (code, loc, body) = post_full(&app, Some(&rektor), "/dashboard/sms/send", &send).await;
    assert_eq!(
        classify("POST", code, &loc, &body),
        Got::StepUp(Level::High)
    );
    assert!(
        body.contains("betydelig") && body.contains("høy"),
        "the page names both levels"
    );

    // Nine hours on, only low is left: the preview asks for substantial again.
    sqlx::query("UPDATE dashboard_sessions SET assurance_at = now() - interval '9 hours'")
        .execute(&app.pool)
        .await
        .expect("age the sign-in");
    let (code, loc, body) = get_full(&app, Some(&rektor), &pdf).await;
    assert_eq!(
        classify("GET", code, &loc, &body),
        Got::StepUp(Level::Substantial)
    );
    let (_, page) = get(&app, Some(&rektor), &format!("/dashboard/dokument/{doc}")).await;
    assert!(
        !page.contains("<iframe") && page.contains("id=\"steg-opp\""),
        "the document page offers a stronger sign-in instead of the preview"
    );
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_the_idle_timeout() {
    let app = spawn_app().await;
    let team = sign_in_at(&app, Role::Team, &[OWN], Level::Low).await;
    let busy = sign_in_at(&app, Role::Skoleadmin, &[OWN], Level::Low).await;
    assert_eq!(get(&app, Some(&team), "/dashboard/arkivlogg").await.0, 200);
    // The clock is the database's: both sessions were last used 29 or 31 minutes
    // ago (the idle timeout of these sessions is 30 minutes).
    sqlx::query(
        "UPDATE dashboard_sessions SET last_seen_at = now() - interval '31 minutes'
          WHERE user_id = 'test:team:low'",
    )
    .execute(&app.pool)
    .await
    .expect("idle");
    sqlx::query(
        "UPDATE dashboard_sessions SET last_seen_at = now() - interval '29 minutes'
          WHERE user_id = 'test:skoleadmin:low'",
    )
    .execute(&app.pool)
    .await
    .expect("nearly idle");
    let (code, loc, _) = get_full(&app, Some(&team), "/dashboard/arkivlogg").await;
    assert_eq!(code, 303, "an idle session is signed out");
    assert!(loc.starts_with("/dashboard/logg-inn?til="), "{loc}");
    assert_eq!(
        post(
            &app,
            Some(&team),
            "/dashboard/arkivlogg/sok",
            &[("_csrf", team.csrf.as_str())]
        )
        .await,
        401,
        "and cannot post"
    );
    // Using a session keeps it alive.
    assert_eq!(get(&app, Some(&busy), "/dashboard/arkivlogg").await.0, 200);
    let idle_for: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - last_seen_at)::float8 FROM dashboard_sessions
          WHERE user_id = 'test:skoleadmin:low'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("last seen");
    assert!(idle_for < 60.0, "a request counts as use ({idle_for} s)");
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_may_post_only_to_dokflyt() {
    let app = spawn_app().await;
    let team = sign_in(&app, Role::Team, &[OWN]).await;
    for user in [None, Some(&team)] {
        let resp = client()
            .get(format!("http://{}/dashboard/arkivlogg", app.http))
            .header("cookie", user.map(|u| u.cookie.as_str()).unwrap_or(""))
            .send()
            .await
            .expect("GET");
        let csp = resp
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let form_action: Vec<&str> = csp
            .split(';')
            .map(str::trim)
            .filter(|d| d.starts_with("form-action"))
            .collect();
        assert_eq!(form_action, vec!["form-action 'self'"], "{csp}");
        assert!(csp.contains("frame-ancestors 'self'") && csp.contains("script-src 'self'"));
    }
    app.stop_and_clean().await;
}

// ------------------------------------------------ step-up via the demo provider

/// A browser's cookies for dokflyt, by hand (the demo provider sets none).
#[derive(Default)]
struct Jar(std::collections::BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, resp: &reqwest::Response) {
        for c in resp.headers().get_all("set-cookie") {
            let Some((kv, attrs)) = c
                .to_str()
                .ok()
                .map(|c| c.split_once(';').unwrap_or((c, "")))
            else {
                continue;
            };
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            if attrs.contains("Max-Age=0") || v.is_empty() {
                self.0.remove(k.trim());
            } else {
                self.0.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }

    fn user(&self) -> User {
        User {
            cookie: self.header(),
            csrf: String::new(),
        }
    }
}

/// Follows a dokflyt sign-in link through the demo provider, pressing the button
/// `<login>:<level>`; returns the authorize URL's query and the callback's answer.
async fn demo_sign_in(
    app: &TestApp,
    jar: &mut Jar,
    link: &str,
    button: &str,
) -> (Vec<(String, String)>, (u16, String, String)) {
    let c = client();
    let resp = c
        .get(format!("http://{}{link}", app.http))
        .header("cookie", jar.header())
        .send()
        .await
        .expect("sign-in");
    assert_eq!(resp.status().as_u16(), 303, "to the provider");
    jar.take(&resp);
    let authorize = url::Url::parse(&location(&resp)).expect("authorize URL");
    let params: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    // The demo provider's page has one button per user and level.
    let page = c
        .get(authorize.as_str())
        .send()
        .await
        .expect("provider page")
        .text()
        .await
        .expect("page");
    assert!(
        page.contains(&format!("value=\"{button}\"")),
        "the demo page offers {button}"
    );
    // Asked for a level, the demo page says so.
    assert_eq!(
        page.contains("id=\"krav\""),
        params.iter().any(|(k, _)| k == "acr_values"),
        "the demo page shows the level asked for"
    );
    let mut form = params.clone();
    form.push(("login".into(), button.into()));
    let mut submit = authorize.clone();
    submit.set_query(None);
    let resp = c.post(submit).form(&form).send().await.expect("choose");
    assert_eq!(resp.status().as_u16(), 303, "back to dokflyt");
    let callback = url::Url::parse(&location(&resp)).expect("callback URL");
    let resp = c
        .get(format!(
            "http://{}{}?{}",
            app.http,
            callback.path(),
            callback.query().unwrap_or("")
        ))
        .header("cookie", jar.header())
        .send()
        .await
        .expect("callback");
    jar.take(&resp);
    let code = resp.status().as_u16();
    let loc = location(&resp);
    (params, (code, loc, resp.text().await.unwrap_or_default()))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn form_value(body: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    body.find(&key)
        .map(|i| &body[i + key.len()..])
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_up_keeps_the_form_and_a_too_weak_answer_is_explained_without_a_loop() {
    let port = free_port();
    let public_url = format!("http://localhost:{port}");
    let idp = dokflyt_dev::standins::idp::DemoIdp::start(
        "127.0.0.1:0",
        &format!("{public_url}/dashboard/callback"),
    )
    .await
    .expect("demo provider");
    let app = spawn_app_with(Spawn {
        http_addr: Some(format!("127.0.0.1:{port}")),
        dashboard: Some(dokflyt::config::DashboardSettings {
            oidc_issuer: idp.issuer.clone(),
            oidc_client_id: idp.client_id.clone(),
            oidc_client_secret: dokflyt::config::Secret::new(idp.client_secret.clone()),
            public_url: public_url.clone(),
            idle_minutes: 7,
            ..Default::default()
        }),
        ..Spawn::default()
    })
    .await;
    let doc = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Ugyldig]).await;
    assert_eq!(status_of(&app, doc).await, "feilet");

    // Ingrid (rektor) signs in with a password: low.
    let mut jar = Jar::default();
    let (params, (code, loc, _)) = demo_sign_in(
        &app,
        &mut jar,
        "/dashboard/logg-inn?til=%2Fdashboard%2Farkivlogg",
        "ingrid:low",
    )
    .await;
    assert_eq!((code, loc.as_str()), (303, "/dashboard/arkivlogg"));
    assert_eq!(
        param(&params, "acr_values"),
        None,
        "an ordinary sign-in asks for no level"
    );
    assert_eq!(param(&params, "prompt"), None);
    let (level, idle): (String, i32) = sqlx::query_as(
        "SELECT assurance_level, idle_secs FROM dashboard_sessions WHERE user_id = 'oidc:ingrid'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("session");
    assert_eq!(
        (level.as_str(), idle),
        ("low", 7 * 60),
        "level and idle timeout from the sign-in"
    );

    // She removes the failed UO document from the list, with a reason: too low.
    let (_, confirm) = get(
        &app,
        Some(&jar.user()),
        &format!("/dashboard/dokument/{doc}"),
    )
    .await;
    assert!(confirm.contains("Fjern fra feilet-listen"));
    let (_, _, page) = get_full(&app, Some(&jar.user()), "/dashboard/arkivlogg").await;
    let csrf = form_value(&page, "_csrf");
    let reason = "Feilført i fagsystemet, rettet der";
    let (code, loc, body) = post_full(
        &app,
        Some(&jar.user()),
        &format!("/dashboard/dokument/{doc}/fjern"),
        &[("_csrf", csrf.as_str()), ("begrunnelse", reason)],
    )
    .await;
    assert_eq!(
        classify("POST", code, &loc, &body),
        Got::StepUp(Level::Substantial)
    );
    assert!(
        !body.contains(reason),
        "the reason is not echoed into a link"
    );
    let link = step_up_link(&body).expect("a step-up link");
    assert!(
        !link.contains("Feilf"),
        "the form's values stay out of the URL: {link}"
    );
    assert_eq!(status_of(&app, doc).await, "feilet", "nothing happened");
    let audited = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'archive.remove_failed'
                AND outcome = 'refused' AND details ->> 'missing_level' = 'substantial'",
        )
        .await;
    assert_eq!(audited, 1, "the refusal is audited with the missing level");

    // At the provider she picks a password again: signed in, but told why not, no loop.
    let (params, (code, loc, body)) = demo_sign_in(&app, &mut jar, &link, "ingrid:low").await;
    assert_eq!(
        param(&params, "acr_values"),
        Some("idporten-loa-substantial")
    );
    assert_eq!(
        param(&params, "prompt"),
        Some("login"),
        "she is signed in: authenticate again"
    );
    assert_eq!(code, 403);
    assert_eq!(loc, "", "no redirect: no loop");
    assert!(
        body.contains("ikke sterk nok") && body.contains("betydelig"),
        "{body}"
    );
    let too_weak = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'dashboard.step_up' AND outcome = 'refused'
                AND details ->> 'missing_level' = 'substantial' AND details ->> 'session_level' = 'low'",
        )
        .await;
    assert_eq!(
        too_weak, 1,
        "a too-weak step-up is audited with the missing level"
    );

    // Now MinID: back on the same confirmation, with her reason kept server-side.
    let (_, (code, loc, _)) = demo_sign_in(&app, &mut jar, &link, "ingrid:substantial").await;
    assert_eq!(code, 303);
    assert_eq!(loc, format!("/dashboard/dokument/{doc}/bekreft/fjern"));
    let sessions: Vec<String> = sqlx::query_scalar(
        "SELECT assurance_level FROM dashboard_sessions WHERE user_id = 'oidc:ingrid'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("sessions");
    assert_eq!(
        sessions,
        vec!["substantial".to_string()],
        "one session, replaced at each sign-in"
    );
    let (code, _, page) = get_full(&app, Some(&jar.user()), &loc).await;
    assert_eq!(code, 200);
    assert!(
        page.contains(&format!(">{reason}</textarea>")),
        "the reason is kept"
    );
    let csrf = form_value(&page, "_csrf");
    let code = post(
        &app,
        Some(&jar.user()),
        &format!("/dashboard/dokument/{doc}/fjern"),
        &[("_csrf", csrf.as_str()), ("begrunnelse", reason)],
    )
    .await;
    assert_eq!(code, 303, "done at substantial");
    let done = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action = 'archive.remove_failed' AND outcome = 'granted'",
        )
        .await;
    assert_eq!(done, 1);
    let pending: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT pending FROM dashboard_sessions WHERE user_id = 'oidc:ingrid'")
            .fetch_one(&app.pool)
            .await
            .expect("pending");
    assert_eq!(pending, None, "the kept form is forgotten once used");
    let signins: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT details ->> 'level', details ->> 'wanted_level' FROM audit_log
          WHERE action = 'dashboard.sign_in' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("sign-ins");
    assert_eq!(
        signins,
        vec![
            (Some("low".into()), None),
            (Some("low".into()), Some("substantial".into())),
            (Some("substantial".into()), Some("substantial".into())),
        ]
    );
    drop(idp);
    app.stop_and_clean().await;
}

/// A municipal role is bound to the municipality its sign-in names
/// (`dokflyt_municipality`, or `[dashboard.claims] default_municipality`): a
/// kommuneadmin of another municipality neither opens nor lists this one's
/// documents (issue 16: municipal roles are scoped to their own municipality).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn municipal_roles_see_only_their_own_municipality() {
    let app = spawn_app().await;
    let doc = queue(&app, "leave_decision").await; // an example of municipality 4699
    for (muni, own) in [("4699", true), ("4602", false)] {
        let actor = Actor::new(
            &format!("test:kommuneadmin:{muni}"),
            Role::Kommuneadmin,
            vec![],
        )
        .expect("actor")
        .in_municipality(muni);
        let (cookie, csrf) = common::dashboard_session(&app.pool, &actor, Level::High).await;
        let s = session::load(&app.pool, cookie.split('=').nth(1).expect("token"))
            .await
            .expect("load")
            .expect("live session");
        assert_eq!(s.actor.municipality_number.as_deref(), Some(muni));
        let user = User { cookie, csrf };
        let (code, _) = get(&app, Some(&user), &format!("/dashboard/dokument/{doc}")).await;
        assert_eq!(code, if own { 200 } else { 404 }, "kommuneadmin of {muni}");
        let (code, html) = get(&app, Some(&user), "/dashboard/arkivlogg?status=klar").await;
        assert_eq!(code, 200);
        assert_eq!(
            html.contains(&doc.to_string()),
            own,
            "the list of the kommuneadmin of {muni}"
        );
    }
    app.stop_and_clean().await;
}
