//! Nobody silently unreachable (issue 21, item 3), end to end on a running
//! dokflyt with the SvarUt and contact-register stand-ins over HTTP: a guardian
//! no channel can reach becomes one task for the school (initials, document,
//! reason), the school's staff see it on «Ikke nådd» and mark it resolved (CSRF,
//! audited), another school's staff neither see nor resolve it, and the
//! reachability report counts open and resolved tasks per school and reason.
//! Every test ends with the personal-data scan of the worker's log.

use crate::common;

use common::maskinporten::{Maskinporten, AUDIENCE, CLIENT_ID};
use common::svarut::{
    channels, publish_and_commit, spawn_delivery_app, StandInAuth, SvarUtStandIn,
};
use common::{conduct_warning, TestApp};
use dokflyt::access::{Actor, Role};
use dokflyt::assurance::Level;
use dokflyt::channels::unreachable::{self, Reason, ReportRow};
use dokflyt::config::{ContactRegisterSettings, MaskinportenSettings, Secret};
use dokflyt::document::Channel;
use dokflyt_dev::standins::krr::{self, KrrPerson, KrrStandIn};
use uuid::Uuid;

const SCHOOL: &str = "skole-42";
const OTHER: &str = "bakken-skole";

struct User {
    cookie: String,
    csrf: String,
    name: String,
}

async fn sign_in(app: &TestApp, role: Role, school: &str) -> User {
    let name = format!("test:{role}:{school}");
    let actor = Actor::new(&name, role, vec![school.to_string()]).expect("actor");
    let (cookie, csrf) = common::dashboard_session(&app.pool, &actor, Level::High).await;
    User { cookie, csrf, name }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(app: &TestApp, user: &User, path: &str) -> (u16, String) {
    let resp = client()
        .get(format!("http://{}{path}", app.http))
        .header("cookie", &user.cookie)
        .send()
        .await
        .expect("GET");
    let code = resp.status().as_u16();
    (code, resp.text().await.unwrap_or_default())
}

async fn post(app: &TestApp, user: &User, path: &str, csrf: &str) -> u16 {
    client()
        .post(format!("http://{}{path}", app.http))
        .header("cookie", &user.cookie)
        .form(&[("_csrf", csrf)])
        .send()
        .await
        .expect("POST")
        .status()
        .as_u16()
}

/// (id, recipient, initials, reason, reason text, resolved_by) of the event's tasks.
async fn tasks_of(
    app: &TestApp,
    event: Uuid,
) -> Vec<(i64, String, String, String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT id, recipient_id, initials, reason, reason_nb, resolved_by
           FROM unreachable_tasks WHERE event_id = $1 ORDER BY recipient_id",
    )
    .bind(event)
    .fetch_all(&app.pool)
    .await
    .expect("tasks")
}

async fn svarut() -> SvarUtStandIn {
    SvarUtStandIn::start("127.0.0.1:0", StandInAuth::default())
        .await
        .expect("stand-in starts")
}

/// A guardian reserved in the contact register whose address is protected can
/// get the letter neither digitally nor on paper: one task for the school, by
/// initials, with the reason. The school's team sees and resolves it (audited);
/// another school's team sees nothing and gets 404 on the task; the report
/// counts it open, then resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_guardian_with_a_protected_address_is_a_task_the_school_resolves() {
    let _wide = common::capture_everything();
    let s = svarut().await;
    let k = KrrStandIn::start("127.0.0.1:0", krr::TOKEN)
        .await
        .expect("the register stand-in starts");
    let mp = Maskinporten::start_with_scopes(&[(krr::SCOPES, krr::TOKEN)]).await;
    let ev = conduct_warning(Uuid::new_v4());
    let fnr = |i: usize| {
        ev["recipients"][i]["national_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    k.put(KrrPerson {
        mailbox: Some("ase.odegard#1".into()),
        ..KrrPerson::active(&fnr(0))
    });
    k.put(KrrPerson {
        reserved: true,
        ..KrrPerson::active(&fnr(1))
    });
    let reg = ContactRegisterSettings {
        enabled: true,
        url: k.url(),
        maskinporten: MaskinportenSettings {
            token_endpoint: mp.token_endpoint(),
            audience: AUDIENCE.into(),
            client_id: CLIENT_ID.into(),
            scope: krr::SCOPES.into(),
            private_key: Secret::new(dokflyt_dev::standins::svarut::DEMO_KEY),
            certificate: dokflyt_dev::standins::svarut::DEMO_CERT.into(),
            kid: String::new(),
        },
        ..ContactRegisterSettings::default()
    };
    let app = spawn_delivery_app(|st| {
        st.delivery.svarut = s.client_settings();
        st.delivery.contact_register = reg;
    })
    .await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &ev).await;
    let sum = ch.run_once(Channel::Svarut).await.expect("dispatch");
    assert_eq!((sum.sent, sum.held), (1, 1), "{sum:?}");

    let tasks = tasks_of(&app, id).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let (task, recipient, initials, reason, text, resolved) = tasks[0].clone();
    assert_eq!(recipient, "fors-2");
    assert_eq!(initials, "P.Æ.");
    assert_eq!(reason, Reason::ReservedProtectedAddress.code());
    assert_eq!(text, Reason::ReservedProtectedAddress.text_nb());
    assert_eq!(resolved, None);
    // One task per (document, guardian), however often it is recorded.
    let delivery: i64 = sqlx::query_scalar(
        "SELECT id FROM deliveries WHERE event_id = $1 AND recipient_id = 'fors-2'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        !unreachable::record(&app.pool, delivery, Reason::ProtectedAddress)
            .await
            .unwrap()
    );
    assert_eq!(tasks_of(&app, id).await.len(), 1);

    // The school's team sees it by initials, never by name.
    let team = sign_in(&app, Role::Team, SCHOOL).await;
    let (code, body) = get(&app, &team, "/dashboard/ikke-nadd").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("P.Æ."), "{body}");
    assert!(body.contains(Reason::ReservedProtectedAddress.text_nb()));
    assert!(body.contains(&format!("/dashboard/ikke-nadd/{task}/lost")));
    assert!(
        !body.contains("Per Æsøy") && !body.contains("Æsøy"),
        "{body}"
    );
    assert_eq!(
        unreachable::report(&app.pool, Some(vec![SCHOOL.into()]))
            .await
            .unwrap(),
        vec![ReportRow {
            school_id: SCHOOL.into(),
            reason: "reserved_protected_address".into(),
            open: 1,
            resolved: 0,
        }]
    );

    // Another school's team: not in the list, 403 for the school, 404 for the task.
    let other = sign_in(&app, Role::Team, OTHER).await;
    let (code, body) = get(&app, &other, "/dashboard/ikke-nadd").await;
    assert_eq!(code, 200);
    assert!(
        !body.contains("P.Æ.") && body.contains("Ingen åpne oppgaver"),
        "{body}"
    );
    let (code, _) = get(
        &app,
        &other,
        &format!("/dashboard/ikke-nadd?school={SCHOOL}"),
    )
    .await;
    assert_eq!(code, 403);
    let path = format!("/dashboard/ikke-nadd/{task}/lost");
    assert_eq!(post(&app, &other, &path, &other.csrf).await, 404);
    // Without the session's CSRF token: refused.
    assert_eq!(post(&app, &team, &path, "feil").await, 403);
    assert_eq!(tasks_of(&app, id).await[0].5, None, "still open");

    // «Merk som løst»: resolved by the team member, in the audit log.
    assert_eq!(post(&app, &team, &path, &team.csrf).await, 303);
    assert_eq!(
        tasks_of(&app, id).await[0].5.as_deref(),
        Some(team.name.as_str())
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'unreachable.resolve'
               AND outcome = 'granted' AND target = '{task}' AND actor = '{}'",
            team.name
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'unreachable.resolve'
               AND outcome = 'refused'"
        )
        .await,
        1
    );
    let (_, body) = get(&app, &team, "/dashboard/ikke-nadd").await;
    assert!(body.contains("Ingen åpne oppgaver"), "{body}");
    assert_eq!(
        unreachable::report(&app.pool, Some(vec![SCHOOL.into()]))
            .await
            .unwrap()[0],
        ReportRow {
            school_id: SCHOOL.into(),
            reason: "reserved_protected_address".into(),
            open: 0,
            resolved: 1,
        }
    );
    app.stop_and_clean().await;
}

/// SvarUt's IKKE_LEVERT (neither digital nor paper) is a task; with the register
/// off, the protected guardian without a mailbox is one too. The report counts
/// each reason for the school, and the municipal administrator sees both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svarut_ikke_levert_and_a_protected_address_are_counted_per_school() {
    let s = svarut().await;
    let app = spawn_delivery_app(|st| st.delivery.svarut = s.client_settings()).await;
    let ch = channels(&app);
    let id = publish_and_commit(&app, &conduct_warning(Uuid::new_v4())).await;
    s.script_next(&["MOTTATT", "IKKE_LEVERT"]);
    let sum = ch.run_once(Channel::Svarut).await.expect("dispatch");
    assert_eq!((sum.sent, sum.held), (1, 1), "{sum:?}");
    assert_eq!(
        tasks_of(&app, id).await.len(),
        1,
        "the held one only, so far"
    );
    ch.poll_svarut_now().await.expect("poll");
    ch.poll_svarut_now().await.expect("poll");
    let tasks = tasks_of(&app, id).await;
    let got: Vec<(&str, &str, &str)> = tasks
        .iter()
        .map(|t| (t.1.as_str(), t.2.as_str(), t.3.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("fors-1", "Å.Ø.", "svarut_not_delivered"),
            ("fors-2", "P.Æ.", "protected_address"),
        ]
    );
    // Polled again: no second task.
    ch.poll_svarut_now().await.expect("poll");
    assert_eq!(tasks_of(&app, id).await.len(), 2);
    let report = unreachable::report(&app.pool, None).await.unwrap();
    let counts: Vec<(&str, &str, i64, i64)> = report
        .iter()
        .map(|r| (r.school_id.as_str(), r.reason.as_str(), r.open, r.resolved))
        .collect();
    assert_eq!(
        counts,
        vec![
            (SCHOOL, "protected_address", 1, 0),
            (SCHOOL, "svarut_not_delivered", 1, 0),
        ]
    );
    let admin = sign_in(&app, Role::Kommuneadmin, SCHOOL).await;
    let (code, body) = get(&app, &admin, "/dashboard/ikke-nadd").await;
    assert_eq!(code, 200);
    assert!(body.contains("Å.Ø.") && body.contains("P.Æ."), "{body}");
    assert!(body.contains("SvarUt: ikke levert"), "{body}");
    assert!(!body.contains("Åse Ødegård"), "{body}");

    // The API twin: the school's principal through a client with contacts:read.
    let secret = common::register(&app.pool, "rapport", "4601", &["contacts:read"], None).await;
    let api = |school: &'static str| {
        let url = format!("http://{}/api/schools/{school}/unreachable", app.http);
        let secret = secret.clone();
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(secret)
                .header("X-Dokflyt-User", "rektor.test")
                .header("X-Dokflyt-Role", "rektor")
                .header("X-Dokflyt-Schools", SCHOOL)
                .send()
                .await
                .expect("GET");
            let code = r.status().as_u16();
            (
                code,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let (code, json) = api(SCHOOL).await;
    assert_eq!(code, 200, "{json}");
    let initials: Vec<&str> = json["open"]
        .as_array()
        .expect("open tasks")
        .iter()
        .filter_map(|t| t["initials"].as_str())
        .collect();
    assert_eq!(initials, vec!["P.Æ.", "Å.Ø."], "{json}");
    assert_eq!(json["report"].as_array().map(Vec::len), Some(2), "{json}");
    assert!(!json.to_string().contains("Ødegård"), "{json}");
    assert_eq!(api(OTHER).await.0, 403);

    // Nothing personal is stored with the tasks: every row scanned for national
    // ids, phone numbers and the event's names.
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(t)::text FROM unreachable_tasks t")
            .fetch_all(&app.pool)
            .await
            .expect("rows");
    assert_eq!(stored.len(), 2);
    let mut names = common::scan::fixture_names();
    names.extend(["Åse", "Ødegård", "Per", "Æsøy"].map(String::from));
    for row in &stored {
        let found = common::scan::scan("unreachable_tasks", row, &names);
        assert!(found.is_empty(), "{found:?}");
    }
    app.stop_and_clean().await;
}
