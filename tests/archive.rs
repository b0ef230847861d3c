//! The archive transfer against a stand-in archive: a real HTTP server in the test
//! that speaks Fiks Arkiv — it validates every request's arkivmelding against the
//! vendored opprett schema with xmllint, keeps journal posts and folders by their
//! external keys (so a resend gets «Eksisterende», like a real archive), and answers
//! per a script (500, ugyldigforespoersel, serverfeil, malformed, a receipt for
//! another document, a slow answer after the journal post was created).
//!
//! Documents are put in status `klar` by the real pipeline (`pipeline::process`,
//! validate → route → render → commit) on a fresh database per test.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use dokflyt::archive::client::{ArchiveClient, DirectoryArchive, HttpArchiveClient};
use dokflyt::archive::receipt::{write_fault, write_receipt, Fault, Receipt};
use dokflyt::archive::transfer::{run_now, TransferOptions};
use dokflyt::config::{ArchiveSettings, DatabaseSettings, Secret};
use dokflyt::pipeline::{process, Outcome, PipelineContext};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

const PG: &str = "postgres://postgres@127.0.0.1:5432";
const NS_OPPRETT: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/arkivmelding/opprett/v2";
const NS_MDK: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/metadatakatalog/v2";

// ---------------------------------------------------------------------------
// A database with documents in status klar, produced by the real pipeline.

struct Db {
    ctx: PipelineContext,
    name: String,
}

impl Db {
    async fn new() -> Db {
        let name = format!("dokflyt_test_{}", Uuid::new_v4().simple());
        let settings = DatabaseSettings {
            url: Secret::new(format!("{PG}/{name}")),
            ..DatabaseSettings::default()
        };
        let pool = dokflyt::db::connect_and_migrate(&settings)
            .await
            .expect("database created and migrated");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let ctx = PipelineContext {
            pool,
            rules: dokflyt::rules::SharedRules::load(&root.join("routing-rules")).expect("rules"),
            renderer: Arc::new(
                dokflyt::render::Renderer::load(&root.join("templates")).expect("templates"),
            ),
            max_message_bytes: 1 << 20,
        };
        Db { ctx, name }
    }

    fn pool(&self) -> &PgPool {
        &self.ctx.pool
    }

    /// Runs an example event (with a fresh event id) through the pipeline; it must be archived.
    async fn queue(&self, example: &str) -> Uuid {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(root.join("examples/events").join(format!("{example}.json")))
                .expect("example");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        let id = Uuid::new_v4();
        v["event_id"] = serde_json::Value::String(id.to_string());
        let body = serde_json::to_vec(&v).expect("json");
        match process(&self.ctx, &body).await {
            Outcome::Completed { archived: true, .. } => id,
            other => panic!("{example}: not queued for the archive: {other:?}"),
        }
    }

    async fn row(&self, id: Uuid) -> Row {
        sqlx::query_as(
            "SELECT status::text, error_class, error_explanation, receipt, journal_year,
                    journal_sequence, receipt_existing, attempts
             FROM archive_queue WHERE event_id = $1",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await
        .expect("archive row")
    }

    /// (attempt, outcome, error class) per logged attempt, in order.
    async fn attempts(&self, id: Uuid) -> Vec<(i32, String, Option<String>)> {
        sqlx::query_as(
            "SELECT attempt, outcome, error_class FROM transfer_attempts WHERE event_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .expect("attempts")
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.pool())
            .await
            .expect("count")
    }

    async fn drop_db(self) {
        self.ctx.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&format!("{PG}/postgres")).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    status: String,
    error_class: Option<String>,
    error_explanation: Option<String>,
    receipt: Option<String>,
    journal_year: Option<i32>,
    journal_sequence: Option<i32>,
    receipt_existing: Option<bool>,
    attempts: i32,
}

// ---------------------------------------------------------------------------
// The stand-in archive.

#[derive(Debug, Clone)]
enum Action {
    /// Register (or find) the journal post and answer with its receipt.
    Normal,
    Status500,
    ServerFeil,
    Ugyldig,
    Malformed,
    /// A well-formed receipt, but for another external key.
    WrongKey,
    /// Register the journal post, then answer only after this delay.
    SlowAfterCommit(Duration),
}

#[derive(Default)]
struct Archive {
    script: VecDeque<Action>,
    /// journal post by external key: (systemID, sequence number)
    posts: HashMap<String, (String, i32)>,
    /// journal posts created per external key (must never exceed 1)
    created: HashMap<String, u32>,
    /// requests received per external key
    requests: HashMap<String, u32>,
    folders: HashMap<String, String>,
    folders_created: HashMap<String, u32>,
    /// schema violations and malformed requests
    invalid: Vec<String>,
    next_seq: i32,
}

#[derive(Clone)]
struct StandIn {
    addr: SocketAddr,
    state: Arc<Mutex<Archive>>,
    /// Added to every answer, to make concurrent runs overlap.
    delay: Duration,
    /// Validate every request with xmllint (off only for the throughput measurement).
    validate: bool,
}

impl StandIn {
    async fn start(script: Vec<Action>, delay: Duration) -> StandIn {
        StandIn::start_with(script, delay, true).await
    }

    async fn start_with(script: Vec<Action>, delay: Duration, validate: bool) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(Archive {
            script: script.into(),
            next_seq: 1000,
            ..Archive::default()
        }));
        let s = StandIn {
            addr,
            state,
            delay,
            validate,
        };
        let app = axum::Router::new()
            .route("/arkivmelding", post(handle))
            .with_state(s.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        s
    }

    fn url(&self) -> String {
        format!("http://{}/arkivmelding", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&Archive) -> T) -> T {
        f(&self.state.lock().expect("lock"))
    }
}

/// The parts of a multipart body: (name, content).
fn multipart(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .ok_or("no content-type")?;
    let boundary = ct
        .split("boundary=")
        .nth(1)
        .ok_or("not multipart")?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(start) = find(rest, &delim) {
        rest = &rest[start + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").ok_or("part without headers")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let content_start = head_end + 4;
        let next = find(&rest[content_start..], &delim).ok_or("unterminated part")?;
        let mut content = &rest[content_start..content_start + next];
        if content.ends_with(b"\r\n") {
            content = &content[..content.len() - 2];
        }
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .ok_or("part without name")?
            .to_string();
        parts.push((name, content.to_vec()));
        rest = &rest[content_start + next..];
    }
    Ok(parts)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn xmllint_opprett(xml: &[u8]) -> Result<(), String> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("specs/fiks-arkiv-v2/no.ks.fiks.arkiv.v2.arkivering.arkivmelding.opprett.xsd");
    let mut f = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut f, xml).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(f.path())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn el<'a, 'i>(n: roxmltree::Node<'a, 'i>, ns: &str, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.tag_name().name() == name && c.tag_name().namespace() == Some(ns))
}

/// (folder key, journal post key) of an arkivmelding.
fn keys(xml: &str) -> Option<(String, String)> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    let key_of = |n: roxmltree::Node<'_, '_>| {
        let k = el(n, NS_OPPRETT, "referanseEksternNoekkel")?;
        el(k, NS_MDK, "noekkel")?.text().map(str::to_string)
    };
    let folder = key_of(el(root, NS_OPPRETT, "mappe")?)?;
    let post = key_of(el(root, NS_OPPRETT, "registrering")?)?;
    Some((folder, post))
}

async fn handle(State(s): State<StandIn>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let fault = |m: &str| Fault {
        id: Uuid::new_v4().to_string(),
        message: m.to_string(),
    };
    let parts = match multipart(&headers, &body) {
        Ok(p) => p,
        Err(e) => {
            s.state.lock().expect("lock").invalid.push(e.to_string());
            return (StatusCode::BAD_REQUEST, write_fault(false, &fault(&e)));
        }
    };
    let Some((_, xml)) = parts.iter().find(|(n, _)| n == "arkivmelding") else {
        s.state
            .lock()
            .expect("lock")
            .invalid
            .push("no arkivmelding part".into());
        return (
            StatusCode::BAD_REQUEST,
            write_fault(false, &fault("mangler arkivmelding")),
        );
    };
    let xml_for_lint = xml.clone();
    let lint = if s.validate {
        tokio::task::spawn_blocking(move || xmllint_opprett(&xml_for_lint))
            .await
            .expect("xmllint task")
    } else {
        Ok(())
    };
    let xml = String::from_utf8_lossy(xml).into_owned();
    let Some((folder_key, post_key)) = keys(&xml) else {
        s.state
            .lock()
            .expect("lock")
            .invalid
            .push("no external keys".into());
        return (
            StatusCode::BAD_REQUEST,
            write_fault(false, &fault("mangler nøkler")),
        );
    };
    if let Err(e) = lint {
        s.state.lock().expect("lock").invalid.push(e.clone());
        return (StatusCode::BAD_REQUEST, write_fault(false, &fault(&e)));
    }
    // The file the message references must be in the request.
    let has_pdf = parts
        .iter()
        .any(|(n, c)| n != "arkivmelding" && c.starts_with(b"%PDF-") && xml.contains(n.as_str()));
    if !has_pdf {
        s.state
            .lock()
            .expect("lock")
            .invalid
            .push("no PDF part".into());
        return (
            StatusCode::BAD_REQUEST,
            write_fault(false, &fault("mangler dokumentfil")),
        );
    }
    let action = {
        let mut a = s.state.lock().expect("lock");
        *a.requests.entry(post_key.clone()).or_default() += 1;
        a.script.pop_front().unwrap_or(Action::Normal)
    };
    tokio::time::sleep(s.delay).await;
    match action {
        Action::Status500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<html>Internal Server Error</html>".into(),
        ),
        Action::ServerFeil => (
            StatusCode::INTERNAL_SERVER_ERROR,
            write_fault(true, &fault("Databasen er utilgjengelig")),
        ),
        Action::Ugyldig => (
            StatusCode::BAD_REQUEST,
            write_fault(false, &fault("Ukjent arkivdel for elevmapper")),
        ),
        Action::Malformed => (StatusCode::OK, "<kvittering>ok".into()),
        Action::WrongKey => {
            let r = Receipt {
                system_id: Uuid::new_v4().to_string(),
                external_key: Some(Uuid::new_v4().to_string()),
                ..Receipt::default()
            };
            (StatusCode::OK, write_receipt(&r, "dokflyt"))
        }
        Action::Normal => (StatusCode::OK, register(&s, &folder_key, &post_key)),
        Action::SlowAfterCommit(d) => {
            let answer = register(&s, &folder_key, &post_key);
            tokio::time::sleep(d).await;
            (StatusCode::OK, answer)
        }
    }
}

/// Creates the folder and journal post unless their external keys exist; the receipt.
fn register(s: &StandIn, folder_key: &str, post_key: &str) -> String {
    let mut a = s.state.lock().expect("lock");
    let folder_existing = a.folders.contains_key(folder_key);
    let folder_id = a
        .folders
        .entry(folder_key.to_string())
        .or_insert_with(|| Uuid::new_v4().to_string())
        .clone();
    if !folder_existing {
        *a.folders_created.entry(folder_key.to_string()).or_default() += 1;
    }
    let existing = a.posts.contains_key(post_key);
    if !existing {
        a.next_seq += 1;
        let seq = a.next_seq;
        a.posts
            .insert(post_key.to_string(), (Uuid::new_v4().to_string(), seq));
        *a.created.entry(post_key.to_string()).or_default() += 1;
    }
    let (system_id, seq) = a.posts[post_key].clone();
    write_receipt(
        &Receipt {
            system_id,
            journal_year: Some(2026),
            journal_sequence: Some(seq),
            journal_post_number: Some(1),
            journal_status: Some("J".into()),
            existing,
            external_key: Some(post_key.to_string()),
            folder_system_id: Some(folder_id),
            folder_existing: Some(folder_existing),
        },
        "dokflyt",
    )
}

fn options(timeout: Duration) -> (TransferOptions, Duration) {
    let s = ArchiveSettings {
        max_attempts: 3,
        backoff_initial_ms: 20,
        backoff_max_ms: 100,
        batch_size: 5,
        concurrency: 4,
        timeout_ms: timeout.as_millis() as u64,
        ..ArchiveSettings::default()
    };
    (TransferOptions::from_settings(&s), timeout)
}

fn http(url: &str, timeout: Duration) -> Arc<dyn ArchiveClient> {
    Arc::new(HttpArchiveClient::new(url, timeout).expect("client"))
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_several_types_is_archived_with_journal_numbers() {
    let db = Db::new().await;
    let types = [
        "conduct_warning",
        "leave_application",
        "sfo_decision",
        "moving_notice",
        "group_overview",
        "absence_notice",
        "pupil_message_sensitive",
        "term_grades",
    ];
    let mut ids = Vec::new();
    for t in types {
        ids.push((t, db.queue(t).await));
    }
    // A second document for the same pupil: the folder is created once.
    let again = db.queue("conduct_warning").await;
    ids.push(("conduct_warning", again));

    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let (opts, t) = options(Duration::from_secs(10));
    let summary = run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    assert_eq!(summary.arkivert, ids.len() as u64, "{summary:?}");
    assert_eq!(summary.feilet, 0);

    archive.with(|a| {
        assert!(a.invalid.is_empty(), "schema violations: {:?}", a.invalid);
        assert_eq!(a.created.len(), ids.len());
        assert!(a.created.values().all(|n| *n == 1));
        assert!(
            a.folders_created.values().all(|n| *n == 1),
            "each folder created once"
        );
        assert!(
            a.folders.len() < ids.len(),
            "the same pupil's folder is shared"
        );
    });
    let mut seqs = std::collections::BTreeSet::new();
    for (t, id) in &ids {
        let r = db.row(*id).await;
        assert_eq!(r.status, "arkivert", "{t}: {r:?}");
        assert_eq!(r.journal_year, Some(2026), "{t}");
        let seq = r.journal_sequence.expect("journal sequence stored");
        assert_eq!(archive.with(|a| a.posts[&id.to_string()].1), seq, "{t}");
        seqs.insert(seq);
        assert!(r
            .receipt
            .expect("receipt kept")
            .contains("arkivmeldingKvittering"));
        assert_eq!(r.attempts, 1);
        assert_eq!(db.attempts(*id).await.len(), 1);
    }
    assert_eq!(seqs.len(), ids.len(), "one journal post each");
    // Nothing left: a second run sends nothing.
    let again = run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    assert_eq!(again.attempts, 0);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_then_success_is_archived_with_two_attempts_logged() {
    let db = Db::new().await;
    let id = db.queue("sfo_decision").await;
    let archive = StandIn::start(vec![Action::Status500], Duration::ZERO).await;
    let (opts, t) = options(Duration::from_secs(10));
    run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    let r = db.row(id).await;
    assert_eq!(r.status, "arkivert");
    assert_eq!(r.attempts, 2);
    assert_eq!(
        db.attempts(id).await,
        vec![
            (1, "transient".into(), Some("http_5xx".into())),
            (2, "arkivert".into(), None)
        ]
    );
    archive.with(|a| assert_eq!(a.created[&id.to_string()], 1));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serverfeil_is_retried_and_ends_feilet_when_it_persists() {
    let db = Db::new().await;
    let id = db.queue("leave_decision").await;
    let archive = StandIn::start(vec![Action::ServerFeil; 3], Duration::ZERO).await;
    let (opts, t) = options(Duration::from_secs(10));
    let s = run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    assert_eq!((s.arkivert, s.feilet, s.attempts), (0, 1, 3));
    let r = db.row(id).await;
    assert_eq!(r.status, "feilet");
    assert_eq!(r.error_class.as_deref(), Some("serverfeil"));
    assert!(r
        .receipt
        .expect("answer kept")
        .contains("Databasen er utilgjengelig"));
    assert!(r
        .error_explanation
        .expect("explained")
        .contains("intern feil"));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ugyldigforespoersel_goes_straight_to_feilet_with_the_receipt_kept() {
    let db = Db::new().await;
    let id = db.queue("conduct_warning").await;
    let archive = StandIn::start(vec![Action::Ugyldig], Duration::ZERO).await;
    let (opts, t) = options(Duration::from_secs(10));
    run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    let r = db.row(id).await;
    assert_eq!(r.status, "feilet");
    assert_eq!(r.error_class.as_deref(), Some("ugyldigforespoersel"));
    let receipt = r.receipt.expect("the archive's answer is kept");
    assert!(receipt.contains("<ugyldigforespoersel"), "{receipt}");
    let explanation = r.error_explanation.expect("explanation");
    assert!(
        explanation.contains("Arkivet avviste dokumentet"),
        "{explanation}"
    );
    assert!(
        explanation.contains("Ukjent arkivdel for elevmapper"),
        "{explanation}"
    );
    assert_eq!(db.attempts(id).await.len(), 1, "a refusal is not retried");
    archive.with(|a| assert!(a.created.is_empty()));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_or_foreign_receipt_ends_feilet() {
    let db = Db::new().await;
    let malformed = db.queue("school_place_decision").await;
    let archive = StandIn::start(vec![Action::Malformed], Duration::ZERO).await;
    let (mut opts, t) = options(Duration::from_secs(10));
    opts.concurrency = 1;
    run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    let r = db.row(malformed).await;
    assert_eq!(r.status, "feilet");
    assert_eq!(r.error_class.as_deref(), Some("malformed_receipt"));
    assert_eq!(r.receipt.as_deref(), Some("<kvittering>ok"));
    assert_eq!(db.attempts(malformed).await.len(), 1);

    let foreign = db.queue("school_place_decision").await;
    archive
        .state
        .lock()
        .expect("lock")
        .script
        .push_back(Action::WrongKey);
    run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    let r = db.row(foreign).await;
    assert_eq!(r.status, "feilet");
    assert_eq!(r.error_class.as_deref(), Some("wrong_document"));
    assert!(r.receipt.expect("kept").contains("arkivmeldingKvittering"));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_retried_then_feilet_as_transient() {
    let db = Db::new().await;
    let id = db.queue("sfo_change_decision").await;
    // A port nobody listens on.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let (opts, t) = options(Duration::from_secs(2));
    let s = run_now(
        db.pool(),
        http(&format!("http://{addr}/arkivmelding"), t),
        &opts,
    )
    .await
    .expect("run");
    assert_eq!((s.feilet, s.attempts), (1, 3));
    let r = db.row(id).await;
    assert_eq!(r.status, "feilet");
    assert_eq!(r.error_class.as_deref(), Some("connect"));
    assert!(r.receipt.is_none(), "no answer to keep");
    assert!(r
        .error_explanation
        .expect("explained")
        .contains("Fikk ikke kontakt med arkivet"));
    let log = db.attempts(id).await;
    assert_eq!(log.len(), 3);
    assert!(log
        .iter()
        .all(|(_, o, c)| o == "transient" && c.as_deref() == Some("connect")));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_send_every_document_exactly_once() {
    let db = Db::new().await;
    let examples = [
        "conduct_warning",
        "sfo_decision",
        "leave_application",
        "grade_warning",
    ];
    let mut ids = Vec::new();
    for i in 0..24 {
        ids.push(db.queue(examples[i % examples.len()]).await);
    }
    let archive = StandIn::start(vec![], Duration::from_millis(30)).await;
    let (mut opts, t) = options(Duration::from_secs(10));
    opts.batch_size = 3;
    opts.concurrency = 3;
    let (a, b) = tokio::join!(
        run_now(db.pool(), http(&archive.url(), t), &opts),
        run_now(db.pool(), http(&archive.url(), t), &opts)
    );
    let (a, b) = (a.expect("run a"), b.expect("run b"));
    assert_eq!(a.arkivert + b.arkivert, ids.len() as u64, "{a:?} {b:?}");
    assert!(
        a.arkivert > 0 && b.arkivert > 0,
        "both runs worked: {a:?} {b:?}"
    );
    archive.with(|s| {
        assert!(s.invalid.is_empty(), "{:?}", s.invalid);
        assert_eq!(s.requests.len(), ids.len());
        assert!(
            s.requests.values().all(|n| *n == 1),
            "sent once each: {:?}",
            s.requests
        );
        assert!(s.created.values().all(|n| *n == 1));
    });
    assert_eq!(
        db.count("SELECT count(*) FROM archive_queue WHERE status = 'arkivert'")
            .await,
        ids.len() as i64
    );
    assert_eq!(
        db.count("SELECT count(*) FROM transfer_attempts").await,
        ids.len() as i64
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_client_timeout_finds_the_existing_journal_post() {
    let db = Db::new().await;
    let id = db.queue("conduct_warning").await;
    // The archive registers the post, then answers after the client gave up.
    let archive = StandIn::start(
        vec![Action::SlowAfterCommit(Duration::from_millis(1500))],
        Duration::ZERO,
    )
    .await;
    let (opts, t) = options(Duration::from_millis(400));
    run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    let r = db.row(id).await;
    assert_eq!(r.status, "arkivert");
    assert_eq!(
        r.receipt_existing,
        Some(true),
        "the resend found the existing post"
    );
    assert_eq!(
        db.attempts(id).await,
        vec![
            (1, "transient".into(), Some("timeout".into())),
            (2, "arkivert".into(), None)
        ]
    );
    archive.with(|a| {
        assert_eq!(a.requests[&id.to_string()], 2, "sent twice");
        assert_eq!(a.created[&id.to_string()], 1, "still one journal post");
        assert_eq!(r.journal_sequence, Some(a.posts[&id.to_string()].1));
    });
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_target_writes_the_offline_package() {
    let db = Db::new().await;
    let a = db.queue("conduct_warning").await;
    let b = db.queue("group_overview").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (opts, _) = options(Duration::from_secs(10));
    let s = run_now(
        db.pool(),
        Arc::new(DirectoryArchive::new(dir.path(), "dokflyt")),
        &opts,
    )
    .await
    .expect("run");
    assert_eq!(s.arkivert, 2);
    for (id, pdf) in [(a, "conduct_warning.pdf"), (b, "group_overview.pdf")] {
        let pkg = dir.path().join(id.to_string());
        let xml = std::fs::read(pkg.join("arkivmelding.xml")).expect("arkivmelding.xml");
        xmllint_opprett(&xml).expect("the package's message validates");
        assert!(std::fs::read(pkg.join(pdf))
            .expect("pdf")
            .starts_with(b"%PDF-"));
        assert_eq!(db.row(id).await.status, "arkivert");
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_runs_claims_are_left_alone_until_they_expire() {
    let db = Db::new().await;
    let held = db.queue("sfo_decision").await;
    let expired = db.queue("sfo_decision").await;
    // Two claims by a run that died: one still valid, one expired.
    let dead_run = Uuid::new_v4();
    sqlx::query(
        "UPDATE archive_queue SET claimed_by = $2,
            claimed_until = CASE WHEN event_id = $1 THEN now() + interval '1 hour'
                                 ELSE now() - interval '1 second' END",
    )
    .bind(held)
    .bind(dead_run)
    .execute(db.pool())
    .await
    .expect("claim");
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let (opts, t) = options(Duration::from_secs(10));
    let s = run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    assert_eq!(s.arkivert, 1);
    assert_eq!(
        db.row(held).await.status,
        "klar",
        "a live claim is not stolen"
    );
    assert_eq!(
        db.row(expired).await.status,
        "arkivert",
        "an expired claim is picked up"
    );
    archive.with(|a| assert!(!a.requests.contains_key(&held.to_string())));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_run_now_writes_an_offline_package() {
    let db = Db::new().await;
    let id = db.queue("conduct_warning").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
        .args(["archive", "run-now", "--to-directory"])
        .arg(dir.path())
        .env("DOKFLYT_DATABASE_URL", format!("{PG}/{}", db.name))
        .env("DOKFLYT_CONFIG", "/dev/null")
        .output()
        .await
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("arkivert        1"), "{stdout}");
    assert!(dir
        .path()
        .join(id.to_string())
        .join("arkivmelding.xml")
        .exists());
    assert_eq!(db.row(id).await.status, "arkivert");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_stops_the_run_and_leaves_the_rest_klar_for_the_next() {
    let db = Db::new().await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(db.queue("leave_decision").await);
    }
    // Nobody listens: the archive is down.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let (mut opts, t) = options(Duration::from_secs(2));
    opts.concurrency = 1;
    opts.batch_size = 3;
    opts.outage_after = 2;
    let down = run_now(
        db.pool(),
        http(&format!("http://{addr}/arkivmelding"), t),
        &opts,
    )
    .await
    .expect("run");
    assert!(down.stopped_for_outage, "{down:?}");
    assert_eq!((down.arkivert, down.feilet), (0, 2), "{down:?}");
    assert_eq!(
        db.count("SELECT count(*) FROM archive_queue WHERE status = 'klar' AND claimed_by IS NULL")
            .await,
        6,
        "the rest is klar and unclaimed"
    );
    // The archive is back: the next run sends what piled up.
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let up = run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    assert_eq!(
        (up.arkivert, up.feilet, up.stopped_for_outage),
        (6, 0, false)
    );
    db.drop_db().await;
}

/// Throughput of the transfer to a local stand-in (no schema check) and to the
/// directory target. `DOKFLYT_BENCH_DOCS` documents (default 5000), cloned in SQL
/// from one rendered `conduct_warning`. Run with
/// `cargo test --release --test archive -- --ignored --nocapture transfer_throughput`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn transfer_throughput() {
    let n: i64 = std::env::var("DOKFLYT_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let db = Db::new().await;
    let seed = db.queue("conduct_warning").await;
    let clone = |n: i64| {
        let pool = db.pool().clone();
        async move {
            sqlx::query("DELETE FROM transfer_attempts")
                .execute(&pool)
                .await
                .expect("clear");
            sqlx::query("DELETE FROM archive_queue WHERE event_id <> $1")
                .bind(seed)
                .execute(&pool)
                .await
                .expect("clear");
            sqlx::query("DELETE FROM deliveries")
                .execute(&pool)
                .await
                .expect("clear");
            sqlx::query("DELETE FROM documents WHERE event_id <> $1")
                .bind(seed)
                .execute(&pool)
                .await
                .expect("clear");
            sqlx::query("DELETE FROM events WHERE event_id <> $1")
                .bind(seed)
                .execute(&pool)
                .await
                .expect("clear");
            sqlx::query("UPDATE archive_queue SET status = 'arkivert' WHERE event_id = $1")
                .bind(seed)
                .execute(&pool)
                .await
                .expect("seed");
            sqlx::query(
                "WITH ids AS (SELECT gen_random_uuid() AS id FROM generate_series(1, $2)),
                 e AS (
                    INSERT INTO events (event_id, document_type, school_id, occurred_at, payload_sha256, payload)
                    SELECT ids.id, document_type, school_id, occurred_at, payload_sha256,
                           jsonb_set(payload, '{event_id}', to_jsonb(ids.id::text))
                    FROM events, ids WHERE event_id = $1
                    RETURNING event_id),
                 d AS (
                    INSERT INTO documents (event_id, document_type, school_id, title, rule_id, rules_version,
                        channel, archive_policy, archived, folder, access, legal_basis, journal_post_type,
                        journal_status, decision, pdf, pdf_sha256, pdf_pages)
                    SELECT e.event_id, document_type, school_id, title, rule_id, rules_version, channel,
                        archive_policy, archived, folder, access, legal_basis, journal_post_type,
                        journal_status, decision, pdf, pdf_sha256, pdf_pages
                    FROM documents, e WHERE documents.event_id = $1
                    RETURNING event_id)
                 INSERT INTO archive_queue (event_id, status, folder, school_id, document_type)
                 SELECT d.event_id, 'klar', 'pupil', 'x', 'conduct_warning' FROM d",
            )
            .bind(seed)
            .bind(n as i32)
            .execute(&pool)
            .await
            .expect("clone");
        }
    };
    let mut s = ArchiveSettings {
        concurrency: 32,
        batch_size: 200,
        ..ArchiveSettings::default()
    };
    s.max_attempts = 1;
    let opts = TransferOptions::from_settings(&s);

    clone(n).await;
    let archive = StandIn::start_with(vec![], Duration::ZERO, false).await;
    let t0 = std::time::Instant::now();
    let r = run_now(
        db.pool(),
        http(&archive.url(), Duration::from_secs(30)),
        &opts,
    )
    .await
    .expect("run");
    let http_secs = t0.elapsed().as_secs_f64();
    assert_eq!(r.arkivert, n as u64, "{r:?}");

    clone(n).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = std::time::Instant::now();
    let r = run_now(
        db.pool(),
        Arc::new(DirectoryArchive::new(dir.path(), "dokflyt")),
        &opts,
    )
    .await
    .expect("run");
    let dir_secs = t0.elapsed().as_secs_f64();
    assert_eq!(r.arkivert, n as u64, "{r:?}");
    println!(
        "archive transfer, {n} documents: HTTP stand-in {:.0}/s, directory target {:.0}/s",
        n as f64 / http_secs,
        n as f64 / dir_secs
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_cannot_be_described_ends_feilet_without_being_sent() {
    let db = Db::new().await;
    let id = db.queue("conduct_warning").await;
    // UO without a legal basis (a stored decision edited by hand): no valid skjerming.
    sqlx::query(
        "UPDATE documents SET decision = jsonb_set(decision, '{legal_basis}', 'null') WHERE event_id = $1",
    )
    .bind(id)
    .execute(db.pool())
    .await
    .expect("edit");
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let (opts, t) = options(Duration::from_secs(10));
    let s = run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    assert_eq!((s.feilet, s.attempts), (1, 0));
    let r = db.row(id).await;
    assert_eq!(r.status, "feilet");
    assert_eq!(r.error_class.as_deref(), Some("build"));
    assert!(r
        .error_explanation
        .expect("explained")
        .contains("mangler hjemmel"));
    assert!(db.attempts(id).await.is_empty());
    archive.with(|a| assert!(a.requests.is_empty(), "nothing sent"));
    db.drop_db().await;
}

#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The transfer's own logs (every level) carry event ids and classes, never the
/// names or national ids of the people in the document, even when it fails.
#[tokio::test(flavor = "current_thread")]
async fn transfer_logs_carry_no_personal_data() {
    let buf = LogBuf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("dokflyt=trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let db = Db::new().await;
    let ok = db.queue("conduct_warning").await;
    let refused = db.queue("conduct_warning").await;
    let archive = StandIn::start(vec![Action::Normal, Action::Ugyldig], Duration::ZERO).await;
    let (mut opts, t) = options(Duration::from_secs(10));
    opts.concurrency = 1;
    run_now(db.pool(), http(&archive.url(), t), &opts)
        .await
        .expect("run");
    let logs = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(
        logs.contains(&refused.to_string()) && logs.contains("ugyldigforespoersel"),
        "the capture works: {logs}"
    );
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events/conduct_warning.json"),
        )
        .expect("example"),
    )
    .expect("json");
    let mut personal = vec![example["pupil"]["name"]
        .as_str()
        .expect("pupil")
        .to_string()];
    for r in example["recipients"].as_array().expect("recipients") {
        personal.push(r["name"].as_str().expect("name").to_string());
        personal.push(r["national_id"].as_str().expect("fnr").to_string());
    }
    for p in &personal {
        assert!(!logs.contains(p.as_str()), "personal data in the logs: {p}");
    }
    assert_eq!(db.row(ok).await.status, "arkivert");
    db.drop_db().await;
}
