//! The archive transfer against a stand-in archive: a real HTTP server in the test
//! that speaks Fiks Arkiv — it validates every request's arkivmelding against the
//! vendored opprett schema with xmllint, keeps journal posts and folders by their
//! external keys (so a resend gets «Eksisterende», like a real archive), and answers
//! per a script (500, ugyldigforespoersel, serverfeil, malformed, a receipt for
//! another document, a slow answer after the journal post was created).
//!
//! Documents are put in status `klar` by the real pipeline (`pipeline::process`,
//! validate → route → render → commit) on a fresh database per test.

use crate::common;

use common::archive_standin::*;
use dokflyt::archive::run_now;
use dokflyt::archive::DirectoryArchive;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

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

/// The real binary (`dokflyt archive run-now`) killed with SIGKILL mid-transfer, then
/// run again: every document is archived, and the stand-in archive holds exactly one
/// journal post per external key — the journal posts the killed run created but
/// never recorded are found again («Eksisterende»), not created twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_killed_mid_transfer_and_run_again_archives_every_document_once() {
    let db = Db::new().await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        for t in [
            "conduct_warning",
            "grade_warning",
            "leave_decision",
            "sfo_decision",
        ] {
            ids.push(db.queue(t).await);
        }
    }
    // Every journal post is registered at once but answered only after 2 s: the kill
    // lands between the archive's commit and dokflyt's.
    let archive = StandIn::start(
        vec![Action::SlowAfterCommit(Duration::from_secs(2)); ids.len()],
        Duration::ZERO,
    )
    .await;
    let run = || {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"));
        c.args(["archive", "run-now"])
            .env("DOKFLYT_CONFIG", "/dev/null")
            .env("DOKFLYT_DATABASE_URL", format!("{PG}/{}", db.name))
            .env("DOKFLYT_ARCHIVE_TARGET", "http")
            .env("DOKFLYT_ARCHIVE_URL", archive.url())
            .env("DOKFLYT_ARCHIVE_CLAIM_TTL_SECS", "3")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        c
    };
    let mut first = run().spawn().expect("the binary starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while archive.with(|a| a.created.len()) < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never reached the archive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().await.expect("SIGKILL");
    let created_at_kill = archive.with(|a| a.created.len());
    let archived_at_kill = db
        .count("SELECT count(*) FROM archive_queue WHERE status = 'arkivert'")
        .await;
    assert!(
        created_at_kill > archived_at_kill as usize,
        "the kill landed mid-transfer"
    );
    assert!(archived_at_kill < ids.len() as i64);

    // The dead run's claims hold until they expire; then a new run takes over.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while db
        .count("SELECT count(*) FROM archive_queue WHERE claimed_until > now()")
        .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the dead run's claims never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = run().status().await.expect("the second run");
    assert!(out.success());
    assert_eq!(
        db.count("SELECT count(*) FROM archive_queue WHERE status = 'arkivert'")
            .await,
        ids.len() as i64
    );
    archive.with(|a| {
        assert_eq!(a.created.len(), ids.len());
        assert!(a.created.values().all(|n| *n == 1), "{:?}", a.created);
        assert!(a.invalid.is_empty(), "{:?}", a.invalid);
    });
    let found_again = db
        .count("SELECT count(*) FROM archive_queue WHERE receipt_existing")
        .await;
    assert!(
        found_again >= 1,
        "the resend after the crash found existing journal posts"
    );
    db.drop_db().await;
}
