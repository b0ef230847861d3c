//! Issue 16, item 7 (two parts): size limits before any parsing, and the archive
//! transport outside loopback.
//!
//! - Document and roster events over their limit are dead-lettered `oversize`
//!   with an empty body (not parsed, not copied).
//! - HTTP bodies over the per-router limit are refused with 413.
//! - Answers of the archive and of SvarUt are read with a cap: reading stops past
//!   it (an endless answer returns), a 2xx that is too large is its own error, a
//!   4xx/5xx is classified by its status.
//! - The archive transport: a Maskinporten bearer reaches the archive stand-in,
//!   the app refuses to start with a plain-http or unauthenticated remote archive.

use crate::common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use common::archive_standin::*;
use common::sms_gateway::{spawn_sms_app, GatewayStandIn};
use common::{conduct_warning, spawn_app};
use dokflyt::archive::run_now;
use dokflyt::archive::{ArchiveClient, HttpArchiveClient, Outgoing, TransferError};
use dokflyt::channels::svarut::{SvarUtClient, SvarUtError};
use dokflyt::config::{ArchiveSettings, Secret};
use lapin::options::BasicGetOptions;
use lapin::types::AMQPValue;
use serde_json::json;
use uuid::Uuid;

const T: Duration = Duration::from_secs(60);

async fn dead_letters(
    app: &common::TestApp,
    queue: &str,
) -> Vec<(String, Option<String>, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(m) = app
        .channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("get")
    {
        let h = m.delivery.properties.headers().clone().unwrap_or_default();
        let get = |k: &str| match h.inner().get(k) {
            Some(AMQPValue::LongString(s)) => Some(s.to_string()),
            _ => None,
        };
        out.push((
            get("x-dokflyt-reason-code").unwrap_or_default(),
            get("x-dokflyt-original-size"),
            m.delivery.data.clone(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_document_and_roster_events_are_dead_lettered_without_content() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| {
        s.archive.schedule.enabled = false;
        s.limits.roster_message_bytes = 2_000;
    })
    .await;
    let mut big = conduct_warning(Uuid::new_v4());
    big["fields"]["padding"] = json!("x".repeat(1_100_000));
    let big = serde_json::to_vec(&big).expect("json");
    app.publish_raw("document.conduct_warning", &big).await;
    let roster = json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": "pupil",
        "id": "p1", "version": 1, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "upsert",
        "pupil": { "school_id": "s1", "name": "Kari Nordmann", "class": "x".repeat(3_000),
                   "grade_level": 10, "birth_date": "2011-02-03" }
    });
    let roster = serde_json::to_vec(&roster).expect("json");
    app.publish_raw("roster.pupil", &roster).await;
    // Just under the roster limit: processed as usual.
    let small = json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": "pupil",
        "id": "p2", "version": 1, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "upsert",
        "pupil": { "school_id": "s1", "name": "Kari Nordmann", "grade_level": 10, "birth_date": "2011-02-03" }
    });
    app.publish_raw("roster.pupil", &serde_json::to_vec(&small).expect("json"))
        .await;
    app.wait_until(
        "both are dead-lettered, the small one applied",
        T,
        || async {
            app.count("SELECT count(*) FROM dead_letters").await == 2
                && app.count("SELECT count(*) FROM roster_events").await == 1
        },
    )
    .await;
    let rows: Vec<(String, Option<Uuid>, String)> =
        sqlx::query_as("SELECT reason_code, event_id, reason FROM dead_letters")
            .fetch_all(&app.pool)
            .await
            .expect("rows");
    for (code, id, reason) in &rows {
        assert_eq!(code, "oversize");
        assert_eq!(
            *id, None,
            "an oversized body is not parsed for its event id"
        );
        assert!(!reason.contains("Kari"), "{reason}");
    }
    let docs = dead_letters(&app, &app.topology.dead_letter_queue).await;
    let rost = dead_letters(&app, &app.topology.roster_dead_letter_queue).await;
    assert_eq!(docs.len(), 1);
    assert_eq!(rost.len(), 1);
    for ((code, size, body), sent) in [(&docs[0], big.len()), (&rost[0], roster.len())] {
        assert_eq!(code, "oversize");
        assert_eq!(size.as_deref(), Some(sent.to_string().as_str()));
        assert!(body.is_empty(), "the dead letter carries no content");
    }
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bodies_over_the_limit_are_refused_before_parsing() {
    let app = spawn_app().await;
    // No connection reuse: the server closes a connection after a 413.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let api = app.settings.limits.api_body_bytes;
    // The JSON API: the SMS preview (any auth answer is after the body limit).
    let url = format!("http://{}/api/schools/s1/emergency-sms/preview", app.http);
    let big = format!("{{\"text\": \"{}\"}}", "x".repeat(api + 10));
    let r = client
        .post(&url)
        .bearer_auth(&app.api_secret)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let small = client
        .post(&url)
        .bearer_auth(&app.api_secret)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_ne!(small.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The dashboard's forms have their own, smaller limit.
    let form = format!(
        "grunn={}",
        "x".repeat(app.settings.limits.dashboard_body_bytes + 10)
    );
    let r = client
        .post(format!("http://{}/dashboard/logg-ut", app.http))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop_and_clean().await;
}

// ---- capped answers --------------------------------------------------------------

/// An HTTP server answering every request with `status` and `len` bytes (or an
/// endless body when `len` is None, without Content-Length).
async fn answering(status: u16, len: Option<usize>) -> SocketAddr {
    let handler = move || async move {
        let body = match len {
            Some(n) => Body::from(vec![b'a'; n]),
            None => Body::from_stream(futures::stream::repeat_with(|| {
                Ok::<_, Infallible>(Bytes::from(vec![b'a'; 64 * 1024]))
            })),
        };
        Response::builder()
            .status(status)
            .body(body)
            .expect("response")
    };
    let app = axum::Router::new().route("/{*p}", post(handler).get(handler));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    addr
}

fn outgoing() -> Outgoing {
    Outgoing {
        event_id: Uuid::new_v4(),
        xml: "<arkivmelding/>".into(),
        file_name: "brev.pdf".into(),
        pdf: b"%PDF".to_vec(),
    }
}

fn archive_client(addr: SocketAddr, cap: usize) -> HttpArchiveClient {
    HttpArchiveClient::from_settings(&ArchiveSettings {
        url: Secret::new(format!("http://{addr}/arkivmelding")),
        max_response_bytes: cap,
        timeout_ms: 20_000,
        ..ArchiveSettings::default()
    })
    .expect("loopback client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_answers_are_read_with_a_cap_and_classified() {
    // An endless 200: reading stops at the cap; not a receipt: permanent.
    let endless = answering(200, None).await;
    let e = tokio::time::timeout(
        Duration::from_secs(20),
        archive_client(endless, 100_000).send(&outgoing()),
    )
    .await
    .expect("returns although the answer never ends")
    .expect_err("too large");
    assert!(
        matches!(
            e,
            TransferError::TooLarge {
                status: 200,
                limit: 100_000
            }
        ),
        "{e}"
    );
    assert!(!e.is_transient());
    assert_eq!(e.class(), "too_large");
    // A large 200 with Content-Length: refused before reading.
    let declared = answering(200, Some(200_000)).await;
    let e = archive_client(declared, 100_000)
        .send(&outgoing())
        .await
        .expect_err("too large");
    assert!(matches!(e, TransferError::TooLarge { .. }), "{e}");
    // A large 503: the status decides, transient.
    let busy = answering(503, Some(200_000)).await;
    let e = archive_client(busy, 100_000)
        .send(&outgoing())
        .await
        .expect_err("5xx");
    assert!(
        matches!(e, TransferError::Http5xx { status: 503, .. }),
        "{e}"
    );
    assert!(e.is_transient());
    // A large 400: the status decides, permanent.
    let refused = answering(400, Some(200_000)).await;
    let e = archive_client(refused, 100_000)
        .send(&outgoing())
        .await
        .expect_err("4xx");
    assert!(
        matches!(e, TransferError::Http4xx { status: 400, .. }),
        "{e}"
    );
    assert!(!e.is_transient());
    // Under the cap the answer is read as before (a malformed receipt here).
    let small = answering(200, Some(100)).await;
    let e = archive_client(small, 100_000)
        .send(&outgoing())
        .await
        .expect_err("not a receipt");
    assert_eq!(e.class(), "malformed_receipt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svarut_answers_are_read_with_a_cap_and_classified() {
    let client = |addr: SocketAddr| {
        SvarUtClient::new(&dokflyt::config::SvarUtSettings {
            base_url: format!("http://{addr}/api"),
            max_response_bytes: 50_000,
            timeout_ms: 20_000,
            ..Default::default()
        })
        .expect("client")
    };
    let endless = answering(200, None).await;
    let e = tokio::time::timeout(Duration::from_secs(20), client(endless).lookup("ref"))
        .await
        .expect("returns although the answer never ends")
        .expect_err("too large");
    assert!(
        matches!(
            e,
            SvarUtError::TooLarge {
                status: 200,
                limit: 50_000
            }
        ),
        "{e}"
    );
    assert_eq!(e.class(), "svarut_too_large");
    let refused = answering(400, Some(80_000)).await;
    let e = client(refused).lookup("ref").await.expect_err("400");
    assert!(matches!(e, SvarUtError::Http { status: 400, .. }), "{e}");
    assert_eq!(e.class(), "svarut_rejected");
    let busy = answering(502, Some(80_000)).await;
    let e = client(busy).lookup("ref").await.expect_err("502");
    assert_eq!(e.class(), "svarut_5xx");
}

// ---- the archive transport -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maskinporten_bearer_reaches_the_archive() {
    use common::maskinporten::{Maskinporten, AUDIENCE, CLIENT_ID, SCOPE};
    let db = Db::new().await;
    let id = db.queue("conduct_warning").await;
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    archive.require_bearer("arkiv-token-123");
    let mp = Maskinporten::start("arkiv-token-123").await;
    let (opts, _) = options(Duration::from_secs(10));

    // Without the bearer the stand-in refuses (so the check below means something).
    let other = Db::new().await;
    other.queue("conduct_warning").await;
    let plain = http(&archive.url(), Duration::from_secs(10));
    let summary = run_now(other.pool(), plain, &opts).await.expect("run");
    assert_eq!(summary.arkivert, 0, "{summary:?}");
    assert!(*archive.unauthorised.lock().expect("lock") > 0);
    other.drop_db().await;

    let mut s = ArchiveSettings {
        url: Secret::new(archive.url()),
        timeout_ms: 10_000,
        ..ArchiveSettings::default()
    };
    s.auth.maskinporten = dokflyt::config::MaskinportenSettings {
        token_endpoint: mp.token_endpoint(),
        audience: AUDIENCE.into(),
        client_id: CLIENT_ID.into(),
        scope: SCOPE.into(),
        private_key: Secret::new(dokflyt_dev::standins::svarut::DEMO_KEY),
        certificate: dokflyt_dev::standins::svarut::DEMO_CERT.into(),
        kid: String::new(),
    };
    let client: std::sync::Arc<dyn ArchiveClient> =
        std::sync::Arc::new(HttpArchiveClient::from_settings(&s).expect("client"));
    let summary = run_now(db.pool(), client, &opts).await.expect("run");
    assert_eq!(summary.arkivert, 1, "{summary:?}");
    assert!(mp.refusals().is_empty(), "{:?}", mp.refusals());
    assert_eq!(mp.grants(), 1, "one token, reused for folder and post");
    assert_eq!(db.row(id).await.status, "arkivert");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_refuses_an_insecure_remote_archive() {
    for url in [
        "http://archive.example.no/arkivmelding",
        "https://archive.example.no/arkivmelding",
    ] {
        let mut settings = dokflyt::config::Settings::default();
        settings.archive.url = Secret::new(url);
        let e = match HttpArchiveClient::from_settings(&settings.archive) {
            Err(e) => e,
            Ok(_) => panic!("{url} must be refused"),
        };
        assert_eq!(e.class(), "insecure_transport", "{url}: {e}");
        let e = match dokflyt::archive::client_from_settings(&settings.archive, None) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{url} must be refused at start-up"),
        };
        assert!(e.contains("archive.example.no"), "{e}");
    }
    // The offline package is not a transport: allowed.
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = dokflyt::config::Settings::default();
    settings.archive.url = Secret::new("http://archive.example.no/arkivmelding");
    assert!(dokflyt::archive::client_from_settings(&settings.archive, Some(dir.path())).is_ok());
}

/// mTLS: a remote https archive with a client certificate and key builds (the
/// identity is loaded into rustls); a key that is not one stops start-up.
#[test]
fn an_https_archive_with_a_client_certificate_is_accepted() {
    let mut s = ArchiveSettings {
        url: Secret::new("https://archive.example.no/arkivmelding"),
        ..ArchiveSettings::default()
    };
    s.auth.client_certificate = dokflyt_dev::standins::svarut::DEMO_CERT.into();
    s.auth.client_key = Secret::new(dokflyt_dev::standins::svarut::DEMO_KEY);
    assert!(HttpArchiveClient::from_settings(&s).is_ok());
    s.auth.client_key =
        Secret::new("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    match HttpArchiveClient::from_settings(&s) {
        Err(e) => assert_eq!(e.class(), "config", "{e}"),
        Ok(_) => panic!("a broken key must stop start-up"),
    }
}
