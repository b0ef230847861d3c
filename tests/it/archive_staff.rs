//! The archive staff's JSON API on a running dokflyt: list, show with receipts,
//! «Prøv igjen», «Produser på nytt», «Fjern fra feilet-listen», the audit log, and
//! who may do what (token, role, school).
//!
//! Documents reach `klar` through the broker and the real pipeline; they reach
//! `feilet` through a real transfer to the stand-in archive answering
//! `ugyldigforespoersel`, and `arkivert` through one answering normally.

use crate::common;

use common::archive_standin::Action;
use common::flow::{example, queue, status_of, transfer};
use common::{spawn_app, TestApp};
use serde_json::{json, Value};

const SCHOOL: &str = "fjellvik-ungdomsskole";

/// A call as `user` with `role` at `schools`.
struct Caller {
    base: String,
    http: reqwest::Client,
    token: String,
    user: &'static str,
    role: &'static str,
    schools: &'static str,
}

impl Caller {
    fn new(app: &TestApp, user: &'static str, role: &'static str, schools: &'static str) -> Caller {
        Caller {
            base: format!("http://{}", app.http),
            http: reqwest::Client::new(),
            token: app.api_secret.clone(),
            user,
            role,
            schools,
        }
    }
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("X-Dokflyt-User", self.user)
            .header("X-Dokflyt-Role", self.role)
            .header("X-Dokflyt-Schools", self.schools)
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("POST");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_see_a_failed_document_with_its_receipt_retry_it_and_it_is_archived() {
    let app = spawn_app().await;
    let id = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Ugyldig]).await;
    assert_eq!(status_of(&app, id).await, "feilet");

    let team = Caller::new(&app, "t.hansen", "team", SCHOOL);
    let (code, counts) = team.get("/api/archive/counts").await;
    assert_eq!(code, 200);
    assert_eq!(counts["feilet"], 1);

    let (code, page) = team.get("/api/archive/documents?status=feilet").await;
    assert_eq!(code, 200, "{page}");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["event_id"], id.to_string());
    assert_eq!(items[0]["error_class"], "ugyldigforespoersel");
    assert!(items[0]["error_explanation"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));

    let (code, detail) = team.get(&format!("/api/archive/documents/{id}")).await;
    assert_eq!(code, 200, "{detail}");
    let attempts = detail["attempts_log"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["outcome"], "permanent");
    // The archive's answer verbatim, with the reason the stand-in gave.
    assert!(detail["receipt"]
        .as_str()
        .is_some_and(|r| r.contains("Ukjent arkivdel for elevmapper")));
    assert!(detail["pupil_initials"]
        .as_str()
        .is_some_and(|i| i.ends_with('.')));
    // No full name of the pupil in the detail.
    let pupil_name = example("conduct_warning", id)["pupil"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    assert!(!detail.to_string().contains(&pupil_name));

    let (code, body) = team
        .post(&format!("/api/archive/documents/{id}/retry"), json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(status_of(&app, id).await, "klar");
    // Retrying again is a conflict: it is not feilet any more.
    let (code, _) = team
        .post(&format!("/api/archive/documents/{id}/retry"), json!({}))
        .await;
    assert_eq!(code, 409);

    let archive = transfer(&app, vec![]).await;
    assert_eq!(status_of(&app, id).await, "arkivert");
    assert_eq!(archive.with(|a| a.created.values().sum::<u32>()), 1);

    let admin = Caller::new(&app, "k.admin", "kommuneadmin", "");
    let (code, log) = admin
        .get(&format!("/api/audit?target={id}&action=archive.retry"))
        .await;
    assert_eq!(code, 200, "{log}");
    let log = log.as_array().expect("rows");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["actor"], "t.hansen");
    assert_eq!(log[0]["role"], "team");
    assert_eq!(log[0]["outcome"], "granted");
    assert_eq!(log[0]["school_id"], SCHOOL);
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_from_failed_needs_a_reason_until_archived_and_reproduce_renders_the_same_pdf() {
    let app = spawn_app().await;
    let a = queue(&app, "conduct_warning").await;
    let b = queue(&app, "grade_warning").await;
    transfer(&app, vec![Action::Ugyldig, Action::Ugyldig]).await;
    assert_eq!(status_of(&app, a).await, "feilet");
    assert_eq!(status_of(&app, b).await, "feilet");
    let admin = Caller::new(&app, "k.admin", "kommuneadmin", "");

    let path = format!("/api/archive/documents/{a}/remove-from-failed");
    let (code, body) = admin.post(&path, json!({})).await;
    assert_eq!(code, 422, "{body}");
    assert!(body["message"]
        .as_str()
        .is_some_and(|e| e.contains("begrunnelse")));
    let (code, _) = admin
        .post(&path, json!({ "reason": "Arkivert manuelt i sak 26/1234" }))
        .await;
    assert_eq!(code, 200);
    let (_, page) = admin.get("/api/archive/documents?status=feilet").await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["event_id"].as_str())
        .collect();
    assert_eq!(ids, vec![b.to_string().as_str()]);
    let (_, page) = admin
        .get("/api/archive/documents?status=feilet&include_dismissed=true")
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));

    // «Produser på nytt»: same event, same PDF bytes (deterministic), back to klar.
    let before: String = sqlx::query_scalar("SELECT pdf_sha256 FROM documents WHERE event_id = $1")
        .bind(b)
        .fetch_one(&app.pool)
        .await
        .expect("sha");
    let (code, body) = admin
        .post(&format!("/api/archive/documents/{b}/reproduce"), json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(status_of(&app, b).await, "klar");
    let (after, reproduced): (String, i32) = sqlx::query_as(
        "SELECT d.pdf_sha256, q.reproduced FROM documents d JOIN archive_queue q USING (event_id)
          WHERE event_id = $1",
    )
    .bind(b)
    .fetch_one(&app.pool)
    .await
    .expect("row");
    assert_eq!(after, before);
    assert_eq!(reproduced, 1);
    transfer(&app, vec![]).await;
    assert_eq!(status_of(&app, b).await, "arkivert");
    // An archived document is not re-produced.
    let (code, _) = admin
        .post(&format!("/api/archive/documents/{b}/reproduce"), json!({}))
        .await;
    assert_eq!(code, 409);

    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT action, outcome FROM audit_log WHERE actor = 'k.admin' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .expect("audit");
    assert!(actions.contains(&("archive.remove_failed".into(), "granted".into())));
    assert!(actions.contains(&("archive.reproduce".into(), "granted".into())));
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_is_checked_on_the_server_and_refusals_are_audited() {
    let app = spawn_app().await;
    let id = queue(&app, "conduct_warning").await;
    transfer(&app, vec![Action::Ugyldig]).await;
    let detail = format!("/api/archive/documents/{id}");
    let retry = format!("{detail}/retry");

    // No token, a wrong token, an unknown role: refused before anything is read.
    let anon = reqwest::get(format!("http://{}/api/archive/documents", app.http))
        .await
        .expect("GET");
    assert_eq!(anon.status().as_u16(), 401);
    let mut wrong = Caller::new(&app, "x", "team", SCHOOL);
    wrong.token = "gjett".into();
    assert_eq!(wrong.get(&detail).await.0, 401);
    assert_eq!(
        Caller::new(&app, "x", "superbruker", SCHOOL)
            .get(&detail)
            .await
            .0,
        400
    );
    assert_eq!(
        Caller::new(&app, "x", "system", SCHOOL)
            .get(&detail)
            .await
            .0,
        400
    );

    // role × own/other school × read/act
    let cases: [(&str, &str, u16, u16); 8] = [
        ("team", SCHOOL, 200, 200),
        // Another school's document answers like a missing one.
        ("team", "annen-skole", 404, 404),
        ("skoleadmin", SCHOOL, 200, 409), // already retried by team: conflict, not refused
        ("rektor", "annen-skole", 404, 404),
        ("kommuneadmin", "", 200, 409),
        ("laerer", SCHOOL, 403, 403),
        ("foresatt", SCHOOL, 403, 403),
        ("skoleeier", "", 403, 403),
    ];
    for (role, schools, read, act) in cases {
        let c = Caller::new(&app, "u.test", role, schools);
        let (code, body) = c.get(&detail).await;
        assert_eq!(code, read, "{role}@{schools} read: {body}");
        let (code, body) = c.post(&retry, json!({})).await;
        assert_eq!(code, act, "{role}@{schools} act: {body}");
    }
    // Another school's list is refused; an own-school list does not leak others.
    let other = Caller::new(&app, "u.other", "team", "annen-skole");
    assert_eq!(
        other
            .get(&format!("/api/archive/documents?school={SCHOOL}"))
            .await
            .0,
        403
    );
    let (code, page) = other.get("/api/archive/documents").await;
    assert_eq!(code, 200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));

    let refused: i64 = app
        .count(
            "SELECT count(*) FROM audit_log WHERE outcome = 'refused' AND action = 'archive.retry'",
        )
        .await;
    assert_eq!(refused, 5, "every refused retry is in the audit log");
    app.stop_and_clean().await;
}
