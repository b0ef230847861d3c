//! The fault-injection suite at its reduced size (issue 18): each built scenario of
//! `dokflyt-dev faults` runs the real `dokflyt` binary against the real broker and
//! database with the stand-ins, and its line must show lost = duplicated =
//! unexpected = 0 (and the scenario's own condition). A scenario that cannot run —
//! a crash point never reached, a worker that does not start, events that never
//! settle — fails the test with its error; nothing is skipped.
//!
//! The seed is fixed per scenario so a red run replays with
//! `dokflyt-dev faults --scenario <id> --seed <seed>`.

use std::path::PathBuf;

use dokflyt::Settings;

use crate::common;

fn settings() -> Settings {
    let mut s = Settings::default();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    s.paths.rules_dir = manifest.join("routing-rules");
    s.paths.templates_dir = manifest.join("templates");
    s.paths.examples_dir = manifest.join("examples/events");
    s.amqp.url = dokflyt::Secret::new(common::AMQP_URL);
    s.database.url = dokflyt::Secret::new(format!(
        "postgres://postgres@{}/postgres",
        common::PG_HOST_PORT
    ));
    s
}

async fn reduced(id: u32, seed: u64) {
    let bin = PathBuf::from(common::dokflyt_bin());
    let report = dokflyt_dev::faults::run_scenario(&settings(), &bin, id, seed, false)
        .await
        .unwrap_or_else(|e| panic!("scenario {id} (seed {seed}) could not run: {e:#}"));
    let line = report.line();
    println!("{line}");
    assert!(report.counts.events > 0, "{line}");
    assert_eq!(report.counts.lost, 0, "{line}");
    assert_eq!(report.counts.duplicated, 0, "{line}");
    assert_eq!(report.counts.unexpected, 0, "{line}");
    assert!(report.own_ok, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_2_kill_at_every_named_crash_point() {
    reduced(2, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_8_two_transfer_runs_at_once() {
    reduced(8, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_1_worker_killed_at_random() {
    reduced(1, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_6_malformed_input_dead_lettered_once_valid_flows() {
    reduced(6, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_5_archive_misbehaving_and_corrupted_pdfs() {
    reduced(5, 5).await;
}
