//! What the service counts for Prometheus: one function per thing counted, called
//! by the stages in one line each, and the process's recorder.
//!
//! Stage: every stage (operations). Input: the stages' calls — [`timed`] /
//! [`timed_async`] around a stage, [`event`], [`dead_letter`], [`transfer_run`],
//! [`delivery`], [`svarut_status`], [`sms_recipients`], [`broker_reconnect`].
//! Output: counters and histograms in the process's Prometheus recorder
//! ([`install`]), rendered by `GET /metrics` (`http::metrics`, which adds the
//! gauges it reads from the database at scrape time). Failure: none; counting
//! never fails and never blocks (atomics in the recorder).
//!
//! Labels are bounded enumerations only: stage, outcome, channel, status, reason
//! code, error class, session, transfer run kind — never an event id, a name, a
//! number or text from an event ([`FAMILIES`] lists every family and its labels;
//! a test scrapes `/metrics` and checks every label value against the personal-data
//! scanner). A label value that comes from outside (a SvarUt status) is mapped to
//! a fixed list first.
//!
//! The recorder is the `metrics` facade's global one, installed once per process
//! by [`install`] (`App::build` calls it; a second call returns the same handle).
//! Durations are in seconds, histograms with the buckets of [`BUCKETS`].

use std::future::Future;
use std::sync::OnceLock;
use std::time::Instant;

use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets in seconds: 1 ms (a validation) to 2 minutes (an archive
/// transfer with its retries).
pub const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// A Prometheus metric type, as the `# TYPE` line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family the service exports: name, type, labels, help.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn family(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind,
        labels,
        help,
    }
}

/// Every family `GET /metrics` exports: the counters and histograms of this
/// module, then the gauges `http::metrics` reads at scrape time. README's
/// «Metrics» and `docs/grafana-dashboard.json` use these names; a test checks
/// that every one of them is scraped and that the dashboard asks for no other.
pub const FAMILIES: &[Family] = &[
    family(
        "dokflyt_stage_duration_seconds",
        Kind::Histogram,
        &["stage"],
        "Time spent in one pass of a stage (consume: a message from delivery to ack or dead letter; send: one delivery to its channel; transfer: one document to the archive, with its retries).",
    ),
    family(
        "dokflyt_stage_runs_total",
        Kind::Counter,
        &["stage", "outcome"],
        "Passes through a stage, by its result (ok, error).",
    ),
    family(
        "dokflyt_events_total",
        Kind::Counter,
        &["outcome"],
        "Document events consumed, by what became of them (completed, duplicate, dead_lettered, retry).",
    ),
    family(
        "dokflyt_dead_letters_total",
        Kind::Counter,
        &["queue", "reason_code"],
        "Messages dead-lettered, by queue (documents, roster) and reason code.",
    ),
    family(
        "dokflyt_archive_transfer_runs_total",
        Kind::Counter,
        &["kind", "outcome"],
        "Archive transfer runs (window, run_now, catch_up) by outcome (completed, stopped_for_outage, failed).",
    ),
    family(
        "dokflyt_archive_transfer_documents_total",
        Kind::Counter,
        &["status"],
        "Documents a transfer ended, by the status it set (arkivert, feilet).",
    ),
    family(
        "dokflyt_archive_transfer_attempts_total",
        Kind::Counter,
        &[],
        "Attempts to send a document to the archive (retries included).",
    ),
    family(
        "dokflyt_deliveries_total",
        Kind::Counter,
        &["channel", "outcome"],
        "Send attempts of planned deliveries, by channel (svarut, email, …) and outcome (sent, retry, failed, held).",
    ),
    family(
        "dokflyt_svarut_statuses_total",
        Kind::Counter,
        &["status"],
        "SvarUt status changes seen when polling, by SvarUt status (unknown ones as ukjent).",
    ),
    family(
        "dokflyt_sms_recipients_total",
        Kind::Counter,
        &["status"],
        "Emergency SMS recipients whose status changed, by status (sent, failed from the gateway's answer; delivered, failed from delivery reports).",
    ),
    family(
        "dokflyt_broker_reconnects_total",
        Kind::Counter,
        &["session"],
        "Broker sessions lost and reconnected, by session (documents, roster, sms dispatcher, sms sender).",
    ),
    // Read from the database (or the pools) at scrape time: http::metrics.
    family(
        "dokflyt_documents",
        Kind::Gauge,
        &["channel"],
        "Documents in the database by the channel the routing table chose.",
    ),
    family(
        "dokflyt_archive_documents",
        Kind::Gauge,
        &["school_id", "status"],
        "Archive queue by school and status (klar, arkivert, feilet); rows removed from Feilet by the staff left out.",
    ),
    family(
        "dokflyt_archive_failed_documents",
        Kind::Gauge,
        &["school_id", "error_class"],
        "Documents in feilet by school and error class (why).",
    ),
    family(
        "dokflyt_archive_due_documents",
        Kind::Gauge,
        &["document_type", "status"],
        "Documents of the types with an archive deadline (25 January / 25 June) not yet arkivert, by type and status (klar, feilet).",
    ),
    family(
        "dokflyt_archive_oldest_klar_timestamp_seconds",
        Kind::Gauge,
        &[],
        "When the oldest document still klar was queued (Unix time); absent when none is klar.",
    ),
    family(
        "dokflyt_archive_next_window_timestamp_seconds",
        Kind::Gauge,
        &[],
        "Start of the next scheduled transfer window (Unix time); absent when the scheduler is off.",
    ),
    family(
        "dokflyt_archive_next_deadline_timestamp_seconds",
        Kind::Gauge,
        &[],
        "The next archive deadline (25 January or 25 June, 00:00 Europe/Oslo, Unix time).",
    ),
    family(
        "dokflyt_archive_next_deadline_days",
        Kind::Gauge,
        &[],
        "Whole days from today (Europe/Oslo) to the next archive deadline; 0 on the day itself.",
    ),
    family(
        "dokflyt_sms_booked_segments",
        Kind::Gauge,
        &["school_id"],
        "Emergency SMS parts booked in the cost ledger (recipients × segments), all time, by school.",
    ),
    family(
        "dokflyt_sms_booked_cost_nok",
        Kind::Gauge,
        &["school_id"],
        "Emergency SMS cost booked in the cost ledger, all time, by school, in NOK.",
    ),
    family(
        "dokflyt_db_pool_connections",
        Kind::Gauge,
        &["pool", "state"],
        "Open database connections by pool (main, transfer) and state (idle, in_use).",
    ),
    family(
        "dokflyt_db_pool_max_connections",
        Kind::Gauge,
        &["pool"],
        "The most connections a pool opens; in_use at this number means callers wait.",
    ),
    family(
        "dokflyt_metrics_refresh_seconds",
        Kind::Gauge,
        &[],
        "How long the last refresh of the database gauges took.",
    ),
    family(
        "dokflyt_metrics_refresh_failures_total",
        Kind::Counter,
        &[],
        "Refreshes of the database gauges that failed (the scrape then shows the last values read).",
    ),
];

/// The family named `name`, if the service exports it.
pub fn family_named(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

/// The process's recorder: installed on the first call, the same handle after.
/// When another global recorder was installed first (an embedding program), the
/// counters go there and this handle renders only what it was given.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("BUCKETS is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "another metrics recorder is installed; /metrics shows only the database gauges"
            );
        }
        for f in FAMILIES {
            match f.kind {
                Kind::Counter => metrics::describe_counter!(f.name, f.help),
                Kind::Histogram => metrics::describe_histogram!(f.name, f.help),
                Kind::Gauge => {}
            }
        }
        register_known_series();
        handle
    })
}

/// The channels that have a delivery worker (`channels::WORKER_CHANNELS`, whose
/// test checks the two lists agree).
pub(crate) const WORKER_CHANNELS: [&str; 4] =
    ["svarut", "message_email", "notification", "internal"];
/// The broker sessions (`broker::session::Session::new`'s names).
const SESSIONS: [&str; 4] = ["documents", "roster", "sms dispatcher", "sms sender"];

/// Every counter series whose labels are known in advance, at 0: a dashboard or
/// an alert on `rate(…)` sees 0 instead of no series until the first event.
fn register_known_series() {
    for s in Stage::ALL {
        for o in ["ok", "error"] {
            counter!("dokflyt_stage_runs_total", "stage" => s.as_str(), "outcome" => o)
                .increment(0);
        }
    }
    for o in ["completed", "duplicate", "dead_lettered", "retry"] {
        counter!("dokflyt_events_total", "outcome" => o).increment(0);
    }
    for k in ["window", "run_now", "catch_up"] {
        for o in ["completed", "stopped_for_outage", "failed"] {
            counter!("dokflyt_archive_transfer_runs_total", "kind" => k, "outcome" => o)
                .increment(0);
        }
    }
    for s in ["arkivert", "feilet"] {
        counter!("dokflyt_archive_transfer_documents_total", "status" => s).increment(0);
    }
    counter!("dokflyt_archive_transfer_attempts_total").increment(0);
    for c in WORKER_CHANNELS {
        for o in ["sent", "retry", "failed", "held"] {
            counter!("dokflyt_deliveries_total", "channel" => c, "outcome" => o).increment(0);
        }
    }
    for s in SVARUT_STATUSES.iter().copied().chain(["ukjent"]) {
        counter!("dokflyt_svarut_statuses_total", "status" => s).increment(0);
    }
    for s in ["sent", "failed", "delivered"] {
        counter!("dokflyt_sms_recipients_total", "status" => s).increment(0);
    }
    for s in SESSIONS {
        counter!("dokflyt_broker_reconnects_total", "session" => s).increment(0);
    }
}

/// A stage measured by [`timed`] / [`timed_async`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// One message, from delivery to ack or dead letter (`pipeline::consume`).
    Consume,
    Validate,
    Route,
    Render,
    /// The delivery plan (`pipeline::deliver`).
    Deliver,
    /// The one commit of event, document, deliveries and archive row `klar`
    /// (`pipeline::enqueue_archive`).
    EnqueueArchive,
    /// One planned delivery sent to its channel (`channels::dispatch`).
    Send,
    /// One document transferred to the archive, retries included (`archive::transfer`).
    Transfer,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Consume,
        Stage::Validate,
        Stage::Route,
        Stage::Render,
        Stage::Deliver,
        Stage::EnqueueArchive,
        Stage::Send,
        Stage::Transfer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Consume => "consume",
            Stage::Validate => "validate",
            Stage::Route => "route",
            Stage::Render => "render",
            Stage::Deliver => "deliver",
            Stage::EnqueueArchive => "enqueue_archive",
            Stage::Send => "send",
            Stage::Transfer => "transfer",
        }
    }
}

fn stage_done(stage: Stage, ok: bool, started: Instant) {
    let outcome = if ok { "ok" } else { "error" };
    counter!("dokflyt_stage_runs_total", "stage" => stage.as_str(), "outcome" => outcome)
        .increment(1);
    histogram!("dokflyt_stage_duration_seconds", "stage" => stage.as_str())
        .record(started.elapsed().as_secs_f64());
}

/// Runs a synchronous stage step, counting it and its duration.
pub fn timed<T, E>(stage: Stage, step: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let started = Instant::now();
    let r = step();
    stage_done(stage, r.is_ok(), started);
    r
}

/// Awaits an asynchronous stage step, counting it and its duration.
pub async fn timed_async<T, E>(
    stage: Stage,
    step: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let r = step.await;
    stage_done(stage, r.is_ok(), started);
    r
}

/// What became of one consumed document event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    Completed,
    Duplicate,
    DeadLettered,
    /// A transient failure: the message stays queued and is tried again.
    Retry,
}

/// Counts a consumed event's outcome; a final one (not `Retry`) also ends its
/// `consume` pass, timed from `started` (the delivery's arrival).
pub fn event(outcome: EventOutcome, started: Instant) {
    let word = match outcome {
        EventOutcome::Completed => "completed",
        EventOutcome::Duplicate => "duplicate",
        EventOutcome::DeadLettered => "dead_lettered",
        EventOutcome::Retry => "retry",
    };
    counter!("dokflyt_events_total", "outcome" => word).increment(1);
    if outcome != EventOutcome::Retry {
        stage_done(Stage::Consume, true, started);
    }
}

/// A message of `queue` (documents, roster) dead-lettered with `reason_code` (a
/// static code, never the reason text).
pub fn dead_letter(queue: &'static str, reason_code: &'static str) {
    counter!("dokflyt_dead_letters_total", "queue" => queue, "reason_code" => reason_code)
        .increment(1);
}

/// What [`transfer_run`] counts of a run (plain numbers, so this module needs
/// nothing of `archive`, which counts through it).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunCounts {
    pub arkivert: u64,
    pub feilet: u64,
    pub attempts: u64,
    pub stopped_for_outage: bool,
}

/// The end of one transfer run (`archive::schedule::run_and_log`): `kind` is
/// `transfer_runs.kind`, `None` a run that failed on the database. Also counts
/// the documents and attempts the run ended.
pub fn transfer_run(kind: &'static str, result: Option<RunCounts>) {
    let outcome = match result {
        Some(c) if c.stopped_for_outage => "stopped_for_outage",
        Some(_) => "completed",
        None => "failed",
    };
    counter!("dokflyt_archive_transfer_runs_total", "kind" => kind, "outcome" => outcome)
        .increment(1);
    if let Some(c) = result {
        counter!("dokflyt_archive_transfer_documents_total", "status" => "arkivert")
            .increment(c.arkivert);
        counter!("dokflyt_archive_transfer_documents_total", "status" => "feilet")
            .increment(c.feilet);
        counter!("dokflyt_archive_transfer_attempts_total").increment(c.attempts);
    }
}

/// One send attempt of a planned delivery: `channel` as the router names it,
/// `outcome` one of sent, retry, failed, held.
pub fn delivery(channel: &'static str, outcome: &'static str) {
    counter!("dokflyt_deliveries_total", "channel" => channel, "outcome" => outcome).increment(1);
}

/// The SvarUt statuses dokflyt knows; anything else is counted as `ukjent`.
pub const SVARUT_STATUSES: [&str; 13] = [
    "MOTTATT",
    "AKSEPTERT",
    "AVVIST",
    "VARSLET",
    "LEST",
    "SENDT_PRINT",
    "PRINTET",
    "MANUELT_HANDTERT",
    "SENDT_DIGITALT",
    "SENDT_SDP",
    "LEVERT_SDP",
    "KLAR_FOR_MOTTAK",
    "IKKE_LEVERT",
];

/// `n` deliveries moved to SvarUt status `status` (verbatim from SvarUt).
pub fn svarut_status(status: &str, n: u64) {
    if n == 0 {
        return;
    }
    let label = SVARUT_STATUSES
        .iter()
        .find(|s| **s == status)
        .copied()
        .unwrap_or("ukjent");
    counter!("dokflyt_svarut_statuses_total", "status" => label).increment(n);
}

/// Emergency SMS recipients recorded with these statuses (each one of the
/// static words sent, failed, delivered).
pub fn sms_recipients(statuses: &[&'static str]) {
    for s in statuses {
        counter!("dokflyt_sms_recipients_total", "status" => *s).increment(1);
    }
}

/// A broker session (`broker::session`'s name) was lost and will reconnect.
pub fn broker_reconnect(session: &'static str) {
    counter!("dokflyt_broker_reconnects_total", "session" => session).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_follow_the_prometheus_conventions() {
        let mut seen = std::collections::BTreeSet::new();
        for f in FAMILIES {
            assert!(seen.insert(f.name), "{} twice", f.name);
            assert!(f.name.starts_with("dokflyt_"), "{}", f.name);
            assert!(
                f.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                f.name
            );
            match f.kind {
                Kind::Counter => assert!(f.name.ends_with("_total"), "{}", f.name),
                Kind::Gauge | Kind::Histogram => {
                    assert!(!f.name.ends_with("_total"), "{}", f.name)
                }
            }
            if f.kind == Kind::Histogram {
                assert!(
                    f.name.ends_with("_seconds"),
                    "{}: durations in seconds",
                    f.name
                );
            }
            // Milliseconds, bytes-as-kilobytes and the like are not base units.
            for bad in ["_ms", "_millis", "_kb", "_minutes", "_hours"] {
                assert!(!f.name.contains(bad), "{}", f.name);
            }
        }
    }

    #[test]
    fn the_known_series_name_every_session_there_is() {
        // Every broker session's name in the source is pre-registered. (That they
        // name every delivery channel is `channels`' own test: this module sits
        // below `channels` and does not import it.)
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut names = Vec::new();
        for dir in ["pipeline", "roster", "sms", "channels"] {
            for e in std::fs::read_dir(root.join(dir))
                .expect("src dir")
                .flatten()
            {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                for piece in text.split("Session::new(\"").skip(1) {
                    names.push(piece.split('"').next().unwrap_or("").to_string());
                }
            }
        }
        assert!(names.len() >= 4, "{names:?}");
        for n in names {
            assert!(
                SESSIONS.contains(&n.as_str()),
                "session {n} is not in SESSIONS"
            );
        }
    }

    #[test]
    fn an_unknown_svarut_status_is_not_a_label() {
        assert!(SVARUT_STATUSES.contains(&"LEST"));
        // Nothing panics and nothing outside the list becomes a label value.
        svarut_status("Kari Nordmann", 1);
        svarut_status("LEST", 0);
    }
}
