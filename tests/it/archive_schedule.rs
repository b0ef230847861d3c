//! The transfer schedule with an injected clock: nothing is sent outside the
//! windows (15:00 and 02:00 Europe/Oslo) except by run-now; a window drains the
//! queue once; a worker that missed a window catches up inside it; a run stopped
//! by an archive outage is tried again inside the window; and the scheduler wired
//! into a running dokflyt archives what the pipeline queued when its window comes.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::archive_standin::{Action, Db, StandIn};
use common::{spawn_app_with, Spawn};
use dokflyt::archive::schedule::{run_and_log, ManualClock, RunKind, Schedule, Scheduler};
use dokflyt::archive::TransferOptions;
use dokflyt::archive::{ArchiveClient, HttpArchiveClient};
use dokflyt::config::{ArchiveSettings, ScheduleSettings};
use uuid::Uuid;

fn oslo(s: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time");
    chrono_tz::Europe::Oslo
        .from_local_datetime(&naive)
        .earliest()
        .expect("exists")
        .with_timezone(&Utc)
}

fn scheduler(db: &Db, archive: &StandIn, clock: Arc<ManualClock>) -> Scheduler {
    let settings = ArchiveSettings {
        concurrency: 1,
        max_attempts: 2,
        backoff_initial_ms: 10,
        backoff_max_ms: 20,
        outage_after: 2,
        ..ArchiveSettings::default()
    };
    let client: Arc<dyn ArchiveClient> =
        Arc::new(HttpArchiveClient::new(&archive.url(), Duration::from_secs(5)).expect("client"));
    Scheduler {
        pool: db.pool().clone(),
        client,
        opts: TransferOptions::from_settings(&settings),
        schedule: Schedule::from_settings(&ScheduleSettings::default()).expect("schedule"),
        clock,
        poll: Duration::from_secs(1),
        ticks: Default::default(),
    }
}

async fn klar(db: &Db) -> i64 {
    db.count("SELECT count(*) FROM archive_queue WHERE status = 'klar'")
        .await
}

fn sent(archive: &StandIn) -> u32 {
    archive.with(|a| a.requests.values().sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_leaves_outside_the_windows_and_each_window_drains_the_queue_once() {
    let db = Db::new().await;
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let clock = Arc::new(ManualClock::new(oslo("2026-11-23 14:59")));
    let s = scheduler(&db, &archive, clock.clone());
    for t in ["conduct_warning", "grade_warning", "leave_decision"] {
        db.queue(t).await;
    }

    for outside in ["2026-11-23 14:59", "2026-11-23 19:01", "2026-11-24 01:59"] {
        clock.set(oslo(outside));
        assert_eq!(s.tick().await.expect("tick"), None, "{outside}");
    }
    assert_eq!(sent(&archive), 0, "nothing is sent outside the windows");
    assert_eq!(klar(&db).await, 3);

    clock.set(oslo("2026-11-23 15:00") + chrono::Duration::seconds(20));
    let run = s.tick().await.expect("tick").expect("the window runs");
    assert_eq!(run.arkivert, 3);
    assert_eq!(klar(&db).await, 0);

    // Later in the same window: the window has run; new documents wait for the next.
    db.queue("sfo_decision").await;
    clock.set(oslo("2026-11-23 15:30"));
    assert_eq!(s.tick().await.expect("tick"), None);
    assert_eq!(klar(&db).await, 1);

    // run-now sends outside the windows.
    clock.set(oslo("2026-11-23 20:00"));
    let now = run_and_log(
        db.pool(),
        s.client.clone(),
        &s.opts,
        RunKind::RunNow,
        None,
        clock.as_ref(),
    )
    .await
    .expect("run-now");
    assert_eq!(now.arkivert, 1);

    db.queue("school_transport_decision").await;
    clock.set(oslo("2026-11-24 02:00") + chrono::Duration::seconds(5));
    let night = s
        .tick()
        .await
        .expect("tick")
        .expect("the night window runs");
    assert_eq!(night.arkivert, 1);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM transfer_runs ORDER BY started_at")
            .fetch_all(db.pool())
            .await
            .expect("runs");
    assert_eq!(kinds, vec!["window", "run_now", "window"]);
    assert_eq!(archive.with(|a| a.created.values().sum::<u32>()), 5);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_down_at_15_catches_up_inside_the_window_and_an_outage_is_retried() {
    let db = Db::new().await;
    // The archive is down for the first run: every attempt gets a 500.
    let archive = StandIn::start(vec![Action::Status500; 4], Duration::ZERO).await;
    let clock = Arc::new(ManualClock::new(oslo("2026-11-23 16:10")));
    let s = scheduler(&db, &archive, clock.clone());
    let mut ids = Vec::new();
    for t in [
        "conduct_warning",
        "grade_warning",
        "leave_decision",
        "sfo_decision",
    ] {
        ids.push(db.queue(t).await);
    }

    // Started at 16:10, after the 15:00 window began: it catches up.
    let first = s.tick().await.expect("tick").expect("catch-up runs");
    assert!(first.stopped_for_outage, "{first:?}");
    assert!(klar(&db).await >= 2, "an outage leaves the rest klar");

    // Within the retry interval nothing happens; after it the window tries again.
    clock.set(oslo("2026-11-23 16:15"));
    assert_eq!(s.tick().await.expect("tick"), None);
    clock.set(oslo("2026-11-23 16:21"));
    let second = s
        .tick()
        .await
        .expect("tick")
        .expect("retried after the outage");
    assert!(!second.stopped_for_outage);
    assert_eq!(klar(&db).await, 0);
    // The documents that failed on the outage are feilet; the rest archived once.
    let archived = db
        .count("SELECT count(*) FROM archive_queue WHERE status = 'arkivert'")
        .await;
    assert_eq!(archived as u64, second.arkivert);
    assert!(archive.with(|a| a.created.values().all(|n| *n == 1)));
    // After the window (15:00 + 4 h) nothing more runs until 02:00.
    clock.set(oslo("2026-11-23 19:30"));
    assert_eq!(s.tick().await.expect("tick"), None);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM transfer_runs ORDER BY started_at")
            .fetch_all(db.pool())
            .await
            .expect("runs");
    assert_eq!(kinds, vec!["catch_up", "catch_up"]);
    assert_eq!(ids.len(), 4);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_worker_archives_what_the_pipeline_queued_when_the_window_comes() {
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let clock = Arc::new(ManualClock::new(oslo("2026-11-23 13:00")));
    let app = spawn_app_with(Spawn {
        archive_url: Some(archive.url()),
        schedule_clock: Some(clock.clone()),
        ..Spawn::default()
    })
    .await;
    let id = Uuid::new_v4();
    app.publish(&common::conduct_warning(id)).await;
    let status =
        format!("SELECT count(*) FROM archive_queue WHERE event_id = '{id}' AND status = 'klar'");
    app.wait_until("klar", Duration::from_secs(30), || async {
        app.count(&status).await == 1
    })
    .await;
    // Several looks at the clock outside the window: still klar.
    app.wait_passes("three scheduler ticks", &app.schedule_ticks, 3)
        .await;
    assert_eq!(app.count(&status).await, 1);
    assert_eq!(sent(&archive), 0);

    clock.set(oslo("2026-11-23 15:00"));
    let archived = format!(
        "SELECT count(*) FROM archive_queue WHERE event_id = '{id}' AND status = 'arkivert'"
    );
    app.wait_until(
        "arkivert in the window",
        Duration::from_secs(30),
        || async { app.count(&archived).await == 1 },
    )
    .await;
    app.stop_and_clean().await;
}
