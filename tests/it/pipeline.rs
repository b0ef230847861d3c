//! The pipeline end to end on the real RabbitMQ and PostgreSQL of this machine:
//! event in → validated → routed → rendered → committed (archive row `klar`) → ack,
//! duplicates, dead-lettering with reasons, a cut broker connection, an unreachable
//! database, a consumer cancelled by the server, and graceful shutdown.

use crate::common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conduct_warning_is_rendered_stored_and_queued_klar() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(&conduct_warning(id)).await;
    app.wait_until("the archive row exists", T, || async {
        app.count("SELECT count(*) FROM archive_queue").await == 1
    })
    .await;

    let (status, folder): (String, String) =
        sqlx::query_as("SELECT status::text, folder FROM archive_queue WHERE event_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("row");
    assert_eq!(status, "klar");
    assert_eq!(folder, "pupil");

    let (rule, version, channel, access, basis, pdf, sha, pages): (
        String,
        String,
        String,
        String,
        Option<String>,
        Vec<u8>,
        String,
        i32,
    ) = sqlx::query_as(
        "SELECT rule_id, rules_version, channel, access, legal_basis, pdf, pdf_sha256, pdf_pages
         FROM documents WHERE event_id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("document");
    assert_eq!(rule, "conduct_warning");
    assert_eq!(version.len(), 64, "the table's content hash is stored");
    assert_eq!(channel, "svarut");
    assert_eq!(access, "UO");
    assert_eq!(
        basis.as_deref(),
        Some("Offl. § 13 jf. fvl. § 13 første ledd nr. 1")
    );
    assert_eq!(pages, 1);
    use sha2::Digest;
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(&pdf)));

    // The letter itself, read back by poppler's pdftotext.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, &pdf).expect("write pdf");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    assert!(out.status.success(), "pdftotext reads the PDF");
    let text = String::from_utf8(out.stdout).expect("utf-8 text");
    for needle in [
        "Kåre Ødegård Æsøy",
        "orden og oppførsel",
        "Øystein Bråthen",
        "Åsbø ungdomsskole",
        "Unntatt offentlighet",
        "Åse Ødegård",
        "Bjørkeveien 12",
        "Per Æsøy",
    ] {
        assert!(
            text.contains(needle),
            "the letter shows {needle:?}:\n{text}"
        );
    }
    // Protected address and national ids never printed.
    assert!(!text.contains("Hemmeligveien"), "protected address printed");
    let event = conduct_warning(id);
    for r in event["recipients"].as_array().expect("recipients") {
        let fnr = r["national_id"].as_str().expect("fnr");
        assert!(!text.contains(fnr), "a national id was printed");
    }

    // Two guardians with parental responsibility: two planned SvarUt deliveries.
    assert_eq!(
        app.count("SELECT count(*) FROM deliveries WHERE channel = 'svarut'")
            .await,
        2
    );
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_has_its_effects_once() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let ev = conduct_warning(id);
    app.publish(&ev).await;
    app.publish(&ev).await;
    app.wait_until("both deliveries are handled", T, || async {
        let s = &app.stats;
        s.completed.load(std::sync::atomic::Ordering::SeqCst)
            + s.duplicates.load(std::sync::atomic::Ordering::SeqCst)
            == 2
    })
    .await;
    assert_eq!(app.count("SELECT count(*) FROM documents").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM archive_queue").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM dead_letters").await, 0);
    assert!(app.drain_dead_letters().await.is_empty());

    // The same id with other content is not a duplicate: it is refused loudly.
    let mut other = ev.clone();
    other["title"] = "Et annet dokument".into();
    app.publish(&other).await;
    app.wait_until("the conflict is dead-lettered", T, || async {
        app.count("SELECT count(*) FROM dead_letters").await == 1
    })
    .await;
    let dl = app.drain_dead_letters().await;
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].0, "event_id_conflict");
    assert_eq!(app.count("SELECT count(*) FROM documents").await, 1);
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_class_of_invalid_input_is_dead_lettered_with_its_reason() {
    let app = spawn_app().await;
    let good = conduct_warning(Uuid::new_v4());

    let mut wrong_version = conduct_warning(Uuid::new_v4());
    wrong_version["schema_version"] = 2.into();
    let mut missing_field = conduct_warning(Uuid::new_v4());
    missing_field
        .as_object_mut()
        .expect("object")
        .remove("school");
    let mut unknown_type = conduct_warning(Uuid::new_v4());
    unknown_type["document_type"] = "homework_excuse".into();
    let mut oversize = conduct_warning(Uuid::new_v4());
    oversize["fields"]["padding"] = "x".repeat(1_100_000).into();
    let mut sensitive_sms = conduct_warning(Uuid::new_v4());
    sensitive_sms["document_type"] = "absence_notice".into();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not_json", b"this is not json {".to_vec()),
        ("not_utf8", vec![0x7b, 0xff, 0xfe, 0x7d]),
        (
            "unsupported_schema_version",
            serde_json::to_vec(&wrong_version).expect("json"),
        ),
        (
            "schema_violation",
            serde_json::to_vec(&missing_field).expect("json"),
        ),
        (
            "unknown_document_type",
            serde_json::to_vec(&unknown_type).expect("json"),
        ),
        ("oversize", serde_json::to_vec(&oversize).expect("json")),
        (
            "sensitive_not_allowed",
            serde_json::to_vec(&sensitive_sms).expect("json"),
        ),
    ];
    for (_, body) in &cases {
        app.publish_raw("document.test", body).await;
    }
    app.wait_until("every invalid message is dead-lettered", T, || async {
        app.count("SELECT count(*) FROM dead_letters").await == cases.len() as i64
    })
    .await;

    let mut got: Vec<String> = app
        .drain_dead_letters()
        .await
        .into_iter()
        .map(|(code, _, _)| code)
        .collect();
    got.sort();
    let mut want: Vec<String> = cases.iter().map(|(c, _)| c.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "one dead letter per class, with its reason code");
    assert_eq!(
        app.stats
            .dead_lettered
            .load(std::sync::atomic::Ordering::SeqCst),
        cases.len() as u64
    );

    // Still consuming: a good event goes through afterwards.
    app.publish(&good).await;
    app.wait_until("the good event is committed", T, || async {
        app.count("SELECT count(*) FROM archive_queue").await == 1
    })
    .await;
    assert_eq!(app.count("SELECT count(*) FROM events").await, 1);
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_broker_connection_loses_nothing_and_duplicates_nothing() {
    let proxy = TcpProxy::start(AMQP_HOST_PORT).await;
    let app = spawn_app_with(Spawn {
        amqp_via: Some(proxy.addr),
        ..Spawn::default()
    })
    .await;
    // Queue the whole batch while the worker is cut off, so the cuts land mid-stream.
    proxy.set_down(true);
    let n: i64 = 600;
    for _ in 0..n {
        app.publish(&conduct_warning(Uuid::new_v4())).await;
    }
    proxy.set_down(false);
    let mut cuts_mid_stream = 0;
    for threshold in [50, 200, 350] {
        app.wait_until(
            "the worker is past the threshold",
            Duration::from_secs(120),
            || async { app.count("SELECT count(*) FROM archive_queue").await >= threshold },
        )
        .await;
        proxy.cut();
        if app.count("SELECT count(*) FROM archive_queue").await < n {
            cuts_mid_stream += 1;
        }
    }
    assert!(cuts_mid_stream >= 1, "at least one cut landed mid-stream");
    app.wait_until(
        "every event is committed",
        Duration::from_secs(120),
        || async { app.count("SELECT count(*) FROM archive_queue").await == n },
    )
    .await;
    assert!(
        app.stats
            .reconnects
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 3,
        "the worker reconnected after every cut"
    );
    assert_eq!(app.count("SELECT count(*) FROM events").await, n);
    assert_eq!(app.count("SELECT count(*) FROM documents").await, n);
    assert_eq!(
        app.count("SELECT count(*) FROM deliveries").await,
        2 * n,
        "no delivery planned twice"
    );
    assert_eq!(app.count("SELECT count(*) FROM dead_letters").await, 0);
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_means_retry_not_ack_nor_dead_letter() {
    let proxy = TcpProxy::start(PG_HOST_PORT).await;
    let app = spawn_app_with(Spawn {
        db_via: Some(proxy.addr),
        ..Spawn::default()
    })
    .await;
    proxy.set_down(true);
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        app.publish(&conduct_warning(*id)).await;
    }
    app.wait_until("the worker has retried", T, || async {
        app.stats.retries.load(std::sync::atomic::Ordering::SeqCst) >= 5
    })
    .await;
    // The test's own pool bypasses the proxy: nothing committed, nothing dead-lettered.
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM dead_letters").await, 0);
    assert!(app.drain_dead_letters().await.is_empty());
    assert_eq!(
        app.stats
            .completed
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    proxy.set_down(false);
    app.wait_until(
        "every event is committed after the database returns",
        T,
        || async { app.count("SELECT count(*) FROM archive_queue").await == ids.len() as i64 },
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM documents").await, 5);
    assert_eq!(app.count("SELECT count(*) FROM dead_letters").await, 0);
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_cancelled_by_the_server_is_re_established() {
    let app = spawn_app().await;
    app.publish(&conduct_warning(Uuid::new_v4())).await;
    app.wait_until("the first event is committed", T, || async {
        app.count("SELECT count(*) FROM archive_queue").await == 1
    })
    .await;
    // Deleting the queue cancels the consumer server-side (as a failover would).
    app.channel
        .queue_delete(
            app.topology.documents_queue.as_str().into(),
            Default::default(),
        )
        .await
        .expect("queue deleted");
    app.wait_until("the worker noticed", T, || async {
        app.stats
            .reconnects
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    })
    .await;
    app.wait_until("the worker consumes again", T, || async {
        app.stats
            .connected
            .load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    // RabbitMQ finishes deleting a quorum queue asynchronously: the worker's
    // redeclare can be answered before the deletion lands, and the worker then
    // sees a second cancel and declares again. Publish (mandatory) until the
    // broker routes the event; an unroutable attempt reaches no queue.
    let body = serde_json::to_vec(&conduct_warning(Uuid::new_v4())).expect("json");
    app.wait_until("the event is routed to the redeclared queue", T, || {
        let body = body.clone();
        let app = &app;
        async move {
            dokflyt::broker::publish_confirmed(
                &app.channel,
                &app.topology.events_exchange,
                "document.conduct_warning",
                &body,
                vec![],
                true,
            )
            .await
            .is_ok()
        }
    })
    .await;
    app.wait_until("the second event is committed", T, || async {
        app.count("SELECT count(*) FROM archive_queue").await == 2
    })
    .await;
    app.stop_and_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_broker_and_database() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://{}/readyz", app.http))
        .send()
        .await
        .expect("readyz answers");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["broker"], "ok");
    let h = client
        .get(format!("http://{}/healthz", app.http))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(h.status(), 200);
    app.stop_and_clean().await;
}

/// The binary itself: `dokflyt serve` on a private database and prefix, SIGTERM → exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exits_cleanly_on_sigterm() {
    let id = Uuid::new_v4().simple().to_string();
    let db = format!("dokflyt_test_{id}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "DOKFLYT_DATABASE_URL",
            format!("postgres://postgres@{PG_HOST_PORT}/{db}"),
        )
        .env("DOKFLYT_AMQP_PREFIX", format!("dokflyt_test_{id}"))
        .env("DOKFLYT_HTTP_ADDR", "127.0.0.1:0")
        .env("DOKFLYT_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dokflyt starts");
    let pid = child.id().expect("pid");
    // Wait until it consumes (signal handlers are installed before that), reading its log.
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let started = tokio::time::timeout(T, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("consuming document events") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(started, Ok(true), "dokflyt did not start consuming");
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("exits within 40 s")
        .expect("wait");
    assert!(status.success(), "exit status {status:?}");

    let ch_conn = dokflyt::broker::connect(AMQP_URL, 10).await.expect("amqp");
    let ch = ch_conn.create_channel().await.expect("channel");
    let t = dokflyt::broker::Topology::new(&format!("dokflyt_test_{id}"), 5);
    t.remove(&ch).await;
    common::drop_database(&db).await;
}

/// One event per §8 key (and the two conditional variants) through the real broker:
/// each lands with the decision `rules explain` gives for it, archived ones `klar`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_event_lands_with_its_decision() {
    let app = spawn_app().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = dokflyt::rules::RoutingTable::load_dir(&root.join("routing-rules")).expect("table");
    // The example school's roster (as the demo loads it): the emergency SMS
    // example's sender must be its principal there.
    for entry in std::fs::read_dir(root.join("examples/roster")).expect("roster examples") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let change = dokflyt::roster::RosterChange::parse(line.as_bytes()).expect("valid");
            dokflyt::roster::apply(&app.pool, &change)
                .await
                .expect("applied");
        }
    }
    let mut expected = Vec::new();
    for entry in std::fs::read_dir(root.join("examples/events")).expect("examples") {
        let path = entry.expect("entry").path();
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        let id = Uuid::new_v4();
        v["event_id"] = id.to_string().into();
        let body = serde_json::to_vec(&v).expect("json");
        let explained = dokflyt::rules::explain(&table, &body).expect("valid");
        expected.push((id, path, explained.to_json()));
        app.publish(&v).await;
    }
    let n = expected.len() as i64;
    app.wait_until("every example is committed", T, || async {
        app.count("SELECT count(*) FROM documents").await == n
    })
    .await;
    for (id, path, want) in &expected {
        let (decision, archived, status): (serde_json::Value, bool, Option<String>) =
            sqlx::query_as(
                "SELECT d.decision, d.archived, a.status::text
                 FROM documents d LEFT JOIN archive_queue a USING (event_id)
                 WHERE d.event_id = $1",
            )
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .expect("document");
        assert_eq!(&decision, want, "{}", path.display());
        assert_eq!(
            status.as_deref(),
            archived.then_some("klar"),
            "{}",
            path.display()
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM dead_letters").await, 0);
    app.stop_and_clean().await;
}

/// A bad table is refused by the reload endpoint while events flow; the old table
/// keeps routing; a good new table takes over and its version is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_reload_is_refused_while_traffic_flows_and_a_good_one_takes_over() {
    let rules = tempfile::tempdir().expect("tempdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    for entry in std::fs::read_dir(&src).expect("rules") {
        let p = entry.expect("entry").path();
        std::fs::copy(&p, rules.path().join(p.file_name().expect("name"))).expect("copy");
    }
    let app = spawn_app_with(Spawn {
        rules_dir: Some(rules.path().to_path_buf()),
        ..Spawn::default()
    })
    .await;
    let client = reqwest::Client::new();
    let reload = || async {
        client
            .post(format!("http://{}/api/admin/rules/reload", app.http))
            .bearer_auth(&app.api_secret)
            .send()
            .await
            .expect("reload answers")
    };
    let old_version: String = {
        let r = reload().await;
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.expect("json");
        v["rules_version"].as_str().expect("version").to_string()
    };

    // Traffic while a broken table is on disk: a rule sending sensitive letters by SMS.
    let letters = rules.path().join("letters.toml");
    let good = std::fs::read_to_string(&letters).expect("read");
    std::fs::write(
        &letters,
        good.replace(
            "id = \"conduct_warning\"\ndocument_type = \"conduct_warning\"\ndirection = \"out\"\nchannel = \"svarut\"",
            "id = \"conduct_warning\"\ndocument_type = \"conduct_warning\"\nwhen = { sensitive = true }\ndirection = \"out\"\nchannel = \"sms\"",
        ),
    )
    .expect("write");
    let publisher = async {
        for _ in 0..50 {
            app.publish(&conduct_warning(Uuid::new_v4())).await;
        }
    };
    let (_, refused) = tokio::join!(publisher, reload());
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .expect("error")
            .contains("letters.toml"),
        "{body}"
    );
    assert_eq!(body["rules_version_in_force"], old_version.as_str());
    app.wait_until("the batch is committed with the old table", T, || async {
        app.count("SELECT count(*) FROM documents").await == 50
    })
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM documents WHERE rules_version = '{old_version}' AND channel = 'svarut'"
        ))
        .await,
        50
    );

    // A good change (a new comment is a new version) takes over.
    std::fs::write(&letters, format!("# endret av kommuneadmin\n{good}")).expect("write");
    let r = reload().await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    let new_version = v["rules_version"].as_str().expect("version").to_string();
    assert_ne!(new_version, old_version);
    app.publish(&conduct_warning(Uuid::new_v4())).await;
    app.wait_until(
        "the new event is committed with the new table",
        T,
        || async {
            app.count(&format!(
                "SELECT count(*) FROM documents WHERE rules_version = '{new_version}'"
            ))
            .await
                == 1
        },
    )
    .await;
    app.stop_and_clean().await;
}

/// The worker refuses to start on an invalid routing table, naming file and line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_refuses_to_start_on_an_invalid_table() {
    let rules = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        rules.path().join("broken.toml"),
        "[[rule]]\nid = \"x\"\ndocument_type = \"conduct_warning\"\nchanel = \"svarut\"\n",
    )
    .expect("write");
    let mut settings = dokflyt::config::Settings::default();
    settings.paths.rules_dir = rules.path().to_path_buf();
    settings.paths.templates_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    settings.http.addr = "127.0.0.1:0".into();
    let err = match dokflyt::app::App::build(settings).await {
        Ok(_) => panic!("the worker started on a broken table"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("broken.toml:4"), "{err}");
    assert!(err.contains("chanel"), "{err}");
}

/// A redelivered event that a newer table would refuse is still a quiet duplicate:
/// its effects were committed under the table in force then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_event_redelivered_after_a_table_change_is_a_duplicate() {
    let rules = tempfile::tempdir().expect("tempdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    for entry in std::fs::read_dir(&src).expect("rules") {
        let p = entry.expect("entry").path();
        std::fs::copy(&p, rules.path().join(p.file_name().expect("name"))).expect("copy");
    }
    let app = spawn_app_with(Spawn {
        rules_dir: Some(rules.path().to_path_buf()),
        ..Spawn::default()
    })
    .await;
    let ev = conduct_warning(Uuid::new_v4());
    app.publish(&ev).await;
    app.wait_until("committed", T, || async {
        app.count("SELECT count(*) FROM documents").await == 1
    })
    .await;
    // The admin changes the rule so that this event would now be refused.
    let letters = rules.path().join("letters.toml");
    let text = std::fs::read_to_string(&letters).expect("read");
    std::fs::write(
        &letters,
        text.replace(
            "id = \"conduct_warning\"\ndocument_type = \"conduct_warning\"\ndirection = \"out\"",
            "id = \"conduct_warning\"\ndocument_type = \"conduct_warning\"\ndirection = \"in\"",
        ),
    )
    .expect("write");
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/admin/rules/reload", app.http))
        .bearer_auth(&app.api_secret)
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 200);
    app.publish(&ev).await;
    app.wait_until("the redelivery is handled", T, || async {
        app.stats
            .duplicates
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1
    })
    .await;
    assert_eq!(app.count("SELECT count(*) FROM dead_letters").await, 0);
    // A new event of that type is refused by the new table.
    app.publish(&conduct_warning(Uuid::new_v4())).await;
    app.wait_until("the new event is refused", T, || async {
        app.count("SELECT count(*) FROM dead_letters WHERE reason_code = 'direction_mismatch'")
            .await
            == 1
    })
    .await;
    app.stop_and_clean().await;
}

/// Issue 16, item 5 and the duplicate-id hole, end to end: a sensitive school
/// transport application is stored UO with the standard basis (so the dashboard's
/// preview follows the UO roles: a school team may not open it, the principal may),
/// a duplicate recipient id is dead-lettered `invalid_field`, and an outsider guardian
/// gets no deliveries row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_is_stored_uo_and_duplicate_recipients_are_refused() {
    let app = spawn_app().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |name: &str| -> serde_json::Value {
        let p = root.join("examples/events").join(format!("{name}.json"));
        serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json")
    };
    let sensitive_id = Uuid::new_v4();
    let mut sensitive = read("school_transport_application");
    sensitive["event_id"] = sensitive_id.to_string().into();
    sensitive["sensitive"] = true.into();
    app.publish(&sensitive).await;

    let outsider_id = Uuid::new_v4();
    let mut letter = read("grade_warning");
    letter["event_id"] = outsider_id.to_string().into();
    assert_eq!(letter["recipients"][1]["parental_responsibility"], false);
    let outsider = letter["recipients"][1]["id"].clone();
    app.publish(&letter).await;

    let mut duplicate = read("grade_warning");
    duplicate["event_id"] = Uuid::new_v4().to_string().into();
    duplicate["recipients"][1]["id"] = duplicate["recipients"][0]["id"].clone();
    duplicate["recipients"][1]["parental_responsibility"] = true.into();
    app.publish(&duplicate).await;

    app.wait_until("two documents and one dead letter", T, || async {
        app.count("SELECT count(*) FROM documents").await == 2
            && app.count("SELECT count(*) FROM dead_letters").await == 1
    })
    .await;
    let (access, basis, school): (String, Option<String>, String) =
        sqlx::query_as("SELECT access, legal_basis, school_id FROM documents WHERE event_id = $1")
            .bind(sensitive_id)
            .fetch_one(&app.pool)
            .await
            .expect("document");
    assert_eq!(access, "UO");
    assert_eq!(basis.as_deref(), Some(dokflyt::rules::DEFAULT_LEGAL_BASIS));
    use dokflyt::access::{Actor, Role};
    use dokflyt::dashboard::may_preview;
    let team = Actor::new("t", Role::Team, vec![school.clone()]).expect("actor");
    let rektor = Actor::new("r", Role::Rektor, vec![school.clone()]).expect("actor");
    assert!(!may_preview(&team, &school, &access));
    assert!(may_preview(&rektor, &school, &access));

    let rows: Vec<String> =
        sqlx::query_scalar("SELECT recipient_id FROM deliveries WHERE event_id = $1")
            .bind(outsider_id)
            .fetch_all(&app.pool)
            .await
            .expect("deliveries");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(!rows.iter().any(|r| Some(r.as_str()) == outsider.as_str()));

    let dead = app.drain_dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "invalid_field");
    let reason: String = sqlx::query_scalar("SELECT reason FROM dead_letters")
        .fetch_one(&app.pool)
        .await
        .expect("reason");
    assert!(reason.contains("recipients[1].id"), "{reason}");
    assert!(!reason.contains(duplicate["recipients"][0]["id"].as_str().expect("id")));
    app.stop_and_clean().await;
}
