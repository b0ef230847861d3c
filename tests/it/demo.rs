//! `dokflyt-dev demo` shows every state the dashboard has, and can be run again:
//! the demo (its stand-ins and `demo::run`, as `demo::serve` wires them) on a fresh
//! database leaves documents under Feilet with the archive's refusal explained in
//! Norwegian; «Prøv igjen» and a transfer archive them; the roster's fictional
//! numbers give the SMS preview real counts and cost; the demo's own emergency SMS
//! is delivered through the demo gateway without using up the principal's hourly
//! limit; and a second run on the same database doubles nothing.

use crate::common;

use std::time::Duration;

use common::TestApp;
use dokflyt::access::{Actor, Role};
use dokflyt::App;
use dokflyt::{Secret, Settings};
use uuid::Uuid;

const FJELLVIK: &str = "fjellvik-ungdomsskole";

/// The demo's settings on a private database, prefix and archive directory.
async fn spawn_demo(
    archive_dir: &std::path::Path,
) -> (TestApp, Settings, dokflyt_dev::demo::DemoServices) {
    common::init_test_logging();
    let id = Uuid::new_v4().simple().to_string();
    let database = format!("dokflyt_test_{id}");
    let mut settings = Settings::default();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    settings.paths.rules_dir = manifest.join("routing-rules");
    settings.paths.templates_dir = manifest.join("templates");
    settings.paths.examples_dir = manifest.join("examples/events");
    settings.amqp.prefix = format!("dokflyt_test_{id}");
    settings.amqp.heartbeat_secs = 5;
    settings.database.url = Secret::new(format!(
        "postgres://postgres@{}/{database}",
        common::PG_HOST_PORT
    ));
    settings.http.addr = "127.0.0.1:0".into();
    settings.http.demo_mode = true;
    settings.archive.schedule.enabled = false;
    // As `dokflyt-dev demo`: the offline package, here in a temporary directory.
    settings.archive.target = dokflyt::config::ArchiveTarget::Directory;
    settings.archive.directory = archive_dir.to_path_buf();
    let (settings, services) = dokflyt_dev::demo::prepare(settings)
        .await
        .expect("the demo's stand-ins start");
    let mut app = App::build(settings.clone()).await.expect("the app builds");
    app.archive = dokflyt_dev::demo::archive_target(&app.settings, app.ctx.pool.clone());
    services.sms.report_to(app.http_addr().expect("bound"));
    let settings = app.settings.clone();
    let app = common::start(app, settings.clone(), database, true).await;
    (app, settings, services)
}

/// Rows in the tables a demo run writes to.
async fn table_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut v = Vec::new();
    for table in [
        "events",
        "documents",
        "archive_queue",
        "deliveries",
        "sms_messages",
        "dead_letters",
    ] {
        v.push((
            table,
            app.count(&format!("SELECT count(*) FROM {table}")).await,
        ));
    }
    v
}

async fn run_demo(app: &TestApp, settings: &Settings) {
    let archive = dokflyt_dev::demo::archive_target(settings, app.pool.clone());
    dokflyt_dev::demo::run(settings, &app.pool, app.http, archive)
        .await
        .expect("the demo runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_every_state_and_runs_again_without_doubling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive_dir = dir.path().join("arkiv");
    // The stand-ins (`services`) live as long as the test.
    let (app, settings, services) = spawn_demo(&archive_dir).await;
    run_demo(&app, &settings).await;

    // The contact register: the one reserved guardian's letters went on paper
    // (no digitalId), every other letter was addressed digitally as before, and
    // no delivery waited for the register.
    let reserved_letters: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT event_id FROM deliveries WHERE recipient_id = $1 AND channel = 'svarut'
            AND provider_ref IS NOT NULL",
    )
    .bind(dokflyt_dev::demo::DEMO_RESERVED_GUARDIAN)
    .fetch_all(&app.pool)
    .await
    .expect("the reserved guardian's letters");
    assert!(!reserved_letters.is_empty());
    let paper: Vec<String> = reserved_letters
        .iter()
        .map(|(id,)| {
            dokflyt::channels::idempotency_key(
                *id,
                dokflyt_dev::demo::DEMO_RESERVED_GUARDIAN,
                dokflyt::document::Channel::Svarut,
            )
        })
        .collect();
    let received = services.svarut.received();
    for r in &received {
        let on_paper = r.ekstern_ref.as_ref().is_some_and(|k| paper.contains(k));
        assert_eq!(
            r.forsendelse["mottaker"].get("digitalId").is_none(),
            on_paper,
            "{:?}",
            r.ekstern_ref
        );
    }
    assert!(!services.krr.calls().is_empty());
    assert_eq!(
        app.count("SELECT count(*) FROM deliveries WHERE error_class = 'register_unavailable'")
            .await,
        0
    );

    // Feilet: the refused examples, each with the archive's answer and its
    // Norwegian explanation quoting the archive's message.
    let failed: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT event_id, error_class, error_explanation, receipt FROM archive_queue
          WHERE status = 'feilet' ORDER BY event_id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("failed rows");
    let refused = dokflyt_dev::standins::archive::REFUSED;
    assert_eq!(failed.len(), refused.len(), "{failed:?}");
    for (label, how, message) in refused {
        let id = dokflyt_dev::demo::demo_event_id(label);
        let (_, class, explanation, receipt) = failed
            .iter()
            .find(|f| f.0 == id)
            .unwrap_or_else(|| panic!("{label} is under Feilet"));
        let want = match how {
            dokflyt_dev::standins::archive::Refusal::RegistrationFailed => "registrering_feilet",
            dokflyt_dev::standins::archive::Refusal::Invalid => "ugyldigforespoersel",
        };
        assert_eq!(class, want, "{label}");
        assert!(explanation.contains(message), "{label}: {explanation}");
        assert!(explanation.starts_with("Arkivet"), "{label}: {explanation}");
        assert!(
            receipt.contains("feilmelding"),
            "{label}: the answer is kept"
        );
    }
    let archived = app
        .count("SELECT count(*) FROM archive_queue WHERE status = 'arkivert'")
        .await;
    assert!(archived > 10, "the rest is archived ({archived})");

    // «Prøv igjen» on one of them, then a transfer: archived.
    let officer =
        Actor::new("demo:kari", Role::Kommuneadmin, vec![]).expect("the municipal administrator");
    let retried = dokflyt_dev::demo::demo_event_id(refused[0].0);
    dokflyt::archive::staff::retry(&app.pool, &officer, retried)
        .await
        .expect("«Prøv igjen»");
    let summary = dokflyt::archive::staff::run_now(
        &app.pool,
        &app.pool,
        dokflyt_dev::demo::archive_target(&settings, app.pool.clone()),
        &dokflyt::archive::TransferOptions::from_settings(&settings.archive),
        &officer,
    )
    .await
    .expect("the transfer runs");
    assert_eq!((summary.arkivert, summary.feilet), (1, 0));
    assert!(archive_dir
        .join(retried.to_string())
        .join("arkivmelding.xml")
        .is_file());

    // The SMS preview's counts: Fjellvik's roster has 15 distinct fictional numbers
    // (a principal who is also a guardian is one), each in Ofcom's drama range.
    let set = dokflyt::sms::recipients::for_school(&app.pool, FJELLVIK)
        .await
        .expect("recipients");
    assert_eq!(set.numbers.len(), 15);
    assert_eq!(
        set.unreachable(),
        2,
        "a pupil and a guardian without a number"
    );
    for n in set.numbers.keys() {
        assert!(
            dokflyt_dev::standins::sms_gateway::is_fictional(n.as_str()),
            "every demo number is fictional"
        );
    }
    // The demo's own emergency SMS is delivered through the demo gateway ...
    app.wait_until(
        "the example emergency SMS is delivered to every number",
        Duration::from_secs(60),
        || async {
            app.count(
                "SELECT count(*) FROM sms_recipients r JOIN sms_messages m USING (message_id)
                  WHERE m.source = 'event' AND r.status = 'delivered'",
            )
            .await
                == 15
        },
    )
    .await;
    // ... and the principal still has the whole hourly limit for her own.
    let last_hour = app
        .count(&format!(
            "SELECT count(*) FROM sms_messages WHERE school_id = '{FJELLVIK}'
                AND status <> 'refused' AND created_at > now() - interval '1 hour'"
        ))
        .await;
    assert_eq!(last_hour, 1, "the demo sent one");
    assert_eq!(
        settings.sms.max_messages_per_hour - last_hour,
        dokflyt::config::SmsSettings::default().max_messages_per_hour,
        "the principal's limit is untouched by the demo's own SMS"
    );

    // A second run on the same database keeps everything and doubles nothing.
    let invalid = std::fs::read_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/invalid"),
    )
    .expect("invalid examples")
    .count() as i64;
    app.wait_until(
        "the invalid examples are dead-lettered",
        Duration::from_secs(30),
        || async { app.count("SELECT count(*) FROM dead_letters").await == invalid },
    )
    .await;
    let before = table_counts(&app).await;
    run_demo(&app, &settings).await;
    assert_eq!(
        table_counts(&app).await,
        before,
        "a second demo run doubles nothing"
    );
    let still_failed = app
        .count("SELECT count(*) FROM archive_queue WHERE status = 'feilet'")
        .await;
    assert_eq!(
        still_failed,
        refused.len() as i64 - 1,
        "kept: the ones not retried are still under Feilet"
    );
    app.stop_and_clean().await;
}
