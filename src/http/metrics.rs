//! `GET /metrics`: the Prometheus text format, for the municipality's Prometheus.
//!
//! Input: a scrape (no credentials: see «Who may read it» below). Output: the
//! process's counters and histograms (`crate::metrics`, counted by the stages as
//! they work) followed by this service's gauges: what the database holds (documents
//! by channel, the archive queue by school and status, `feilet` by error class,
//! the deadline types not yet `arkivert`, the oldest `klar`, the SMS cost ledger),
//! the schedule (next window, next deadline) and the connection pools. Failure: a
//! database refresh that fails or takes longer than [`REFRESH_TIMEOUT`] keeps the
//! last values read (counted in `dokflyt_metrics_refresh_failures_total`); the
//! scrape still answers 200.
//!
//! Why read at scrape time, and how that stays cheap: the archive queue changes in
//! other processes too (`dokflyt archive run-now`, a second worker, the staff's
//! «Prøv igjen»), so a counter kept by this process could not say how many
//! documents *are* `feilet`; the database can. A refresh runs at most once per
//! `http.metrics_refresh_secs` (default 15 s, about one Prometheus scrape interval):
//! scrapes in between, and concurrent scrapes from several Prometheus servers, get
//! the cached text. Each query is an index scan over a small set (the per-school
//! counts use the dashboard's `archive_queue_counts` index; `feilet`, `klar` and the
//! deadline types read only rows not yet `arkivert`) except documents by channel,
//! which counts `documents` once per refresh. The pool gauges are read from memory
//! on every scrape.
//!
//! Who may read it: anyone who reaches the HTTP port, as Prometheus expects of a
//! `/metrics` endpoint. It carries counts, codes and school ids — never personal
//! data, event ids or document text (labels are the bounded enumerations listed in
//! `crate::metrics::FAMILIES`). A municipality that does not want the counts
//! visible restricts the path at its ingress, as it does for `/readyz`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use metrics::{counter, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::archive::schedule::{Clock, Schedule};
use crate::metrics::Kind;

/// A refresh that has not finished by then is abandoned; the scrape shows the
/// previous values.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(5);

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a scrape reads, and the cache of the database gauges.
pub struct Scrape {
    /// The worker's pool (documents, archive queue, ledger) — also reported.
    pub pool: PgPool,
    /// The archive transfer's pool (only reported).
    pub transfer_pool: PgPool,
    /// The transfer schedule, when the scheduler runs (next window).
    pub schedule: Option<Schedule>,
    pub clock: Arc<dyn Clock>,
    /// Refresh the database gauges at most this often.
    pub min_interval: Duration,
    cache: Mutex<Option<(Instant, String)>>,
    failures: AtomicU64,
    last_refresh: Mutex<Duration>,
}

impl Scrape {
    pub fn new(
        pool: PgPool,
        transfer_pool: PgPool,
        schedule: Option<Schedule>,
        clock: Arc<dyn Clock>,
        min_interval: Duration,
    ) -> Scrape {
        Scrape {
            pool,
            transfer_pool,
            schedule,
            clock,
            min_interval,
            cache: Mutex::new(None),
            failures: AtomicU64::new(0),
            last_refresh: Mutex::new(Duration::ZERO),
        }
    }

    /// The whole `/metrics` text.
    pub async fn render(&self) -> String {
        let process = crate::metrics::install();
        process.run_upkeep();
        let mut out = process.render();
        out.push_str(&self.database_gauges().await);
        out.push_str(&self.pool_gauges().await);
        out
    }

    /// The cached database gauges, refreshed first when older than `min_interval`.
    /// Concurrent scrapes wait for one refresh instead of each running their own.
    async fn database_gauges(&self) -> String {
        let mut cache = self.cache.lock().await;
        if let Some((at, text)) = cache.as_ref() {
            if at.elapsed() < self.min_interval {
                return text.clone();
            }
        }
        let started = Instant::now();
        match tokio::time::timeout(REFRESH_TIMEOUT, read_gauges(&self.pool)).await {
            Ok(Ok(g)) => {
                *self.last_refresh.lock().await = started.elapsed();
                let text = g.render(self.clock.now(), self.schedule.as_ref());
                *cache = Some((Instant::now(), text.clone()));
                text
            }
            Ok(Err(e)) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "metrics: the database gauges could not be read; serving the last values");
                cache.as_ref().map(|c| c.1.clone()).unwrap_or_default()
            }
            Err(_) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    timeout_s = REFRESH_TIMEOUT.as_secs(),
                    "metrics: reading the database gauges timed out; serving the last values"
                );
                cache.as_ref().map(|c| c.1.clone()).unwrap_or_default()
            }
        }
    }

    /// The pools (from memory) and the refresh's own numbers: every scrape.
    async fn pool_gauges(&self) -> String {
        let refresh = *self.last_refresh.lock().await;
        let failures = self.failures.load(Ordering::Relaxed);
        rendered(|| {
            for (name, pool) in [("main", &self.pool), ("transfer", &self.transfer_pool)] {
                let size = pool.size() as f64;
                let idle = pool.num_idle() as f64;
                gauge!("dokflyt_db_pool_connections", "pool" => name, "state" => "idle").set(idle);
                gauge!("dokflyt_db_pool_connections", "pool" => name, "state" => "in_use")
                    .set((size - idle).max(0.0));
                gauge!("dokflyt_db_pool_max_connections", "pool" => name)
                    .set(pool.options().get_max_connections() as f64);
            }
            gauge!("dokflyt_metrics_refresh_seconds").set(refresh.as_secs_f64());
            counter!("dokflyt_metrics_refresh_failures_total").absolute(failures);
        })
    }
}

/// Renders what `set` records, with each family's `# HELP` from
/// `crate::metrics::FAMILIES`, through a recorder of its own (not the process's:
/// these values belong to this service's database, and a test process runs many).
fn rendered(set: impl FnOnce()) -> String {
    let recorder: PrometheusRecorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        for f in crate::metrics::FAMILIES {
            match f.kind {
                Kind::Gauge => metrics::describe_gauge!(f.name, f.help),
                Kind::Counter => metrics::describe_counter!(f.name, f.help),
                Kind::Histogram => {}
            }
        }
        set();
    });
    let handle = recorder.handle();
    handle.run_upkeep();
    handle.render()
}

/// The rows behind the database gauges.
struct Gauges {
    by_channel: Vec<(String, i64)>,
    archive: Vec<(String, String, i64)>,
    failed: Vec<(String, String, i64)>,
    due: Vec<(String, String, i64)>,
    oldest_klar: Option<DateTime<Utc>>,
    sms: Vec<(String, i64, i64)>,
}

async fn read_gauges(pool: &PgPool) -> Result<Gauges, sqlx::Error> {
    let due_types: Vec<&str> = crate::archive::deadlines::DUE.iter().map(|d| d.0).collect();
    Ok(Gauges {
        by_channel: sqlx::query_as("SELECT channel, count(*) FROM documents GROUP BY 1")
            .fetch_all(pool)
            .await?,
        archive: sqlx::query_as(
            "SELECT school_id, status::text, count(*) FROM archive_queue
              WHERE dismissed_at IS NULL GROUP BY 1, 2",
        )
        .fetch_all(pool)
        .await?,
        failed: sqlx::query_as(
            "SELECT school_id, coalesce(error_class, 'ukjent'), count(*) FROM archive_queue
              WHERE status = 'feilet' AND dismissed_at IS NULL GROUP BY 1, 2",
        )
        .fetch_all(pool)
        .await?,
        due: sqlx::query_as(
            "SELECT document_type, status::text, count(*) FROM archive_queue
              WHERE status IN ('klar', 'feilet') AND dismissed_at IS NULL
                AND document_type = ANY($1)
              GROUP BY 1, 2",
        )
        .bind(&due_types)
        .fetch_all(pool)
        .await?,
        oldest_klar: sqlx::query_scalar(
            "SELECT min(queued_at) FROM archive_queue WHERE status = 'klar'",
        )
        .fetch_one(pool)
        .await?,
        sms: sqlx::query_as(
            "SELECT school_id, coalesce(sum(sms_count), 0)::bigint,
                    coalesce(sum(cost_ore), 0)::bigint
               FROM sms_cost_ledger GROUP BY 1",
        )
        .fetch_all(pool)
        .await?,
    })
}

/// The next archive deadline on or after `today` (25 January or 25 June).
pub fn next_deadline(today: chrono::NaiveDate) -> chrono::NaiveDate {
    let year = crate::archive::arkivmelding::school_year(today);
    let [january, june] = crate::archive::deadlines::deadlines_of(year);
    if today <= january {
        january
    } else if today <= june {
        june
    } else {
        crate::archive::deadlines::deadlines_of((year.0 + 1, year.1 + 1))[0]
    }
}

impl Gauges {
    fn render(&self, now: DateTime<Utc>, schedule: Option<&Schedule>) -> String {
        rendered(|| {
            // Every status and the known channels appear, at 0 when empty, so a
            // panel shows 0 instead of «no data».
            use crate::document::Channel as C;
            for c in [
                C::Svarut,
                C::SvarutArchive,
                C::MessageEmail,
                C::Notification,
                C::Internal,
                C::Sms,
                C::None,
            ] {
                gauge!("dokflyt_documents", "channel" => c.as_str()).set(0.0);
            }
            for (channel, n) in &self.by_channel {
                gauge!("dokflyt_documents", "channel" => channel.clone()).set(*n as f64);
            }
            for (school, status, n) in &self.archive {
                gauge!("dokflyt_archive_documents", "school_id" => school.clone(), "status" => status.clone())
                    .set(*n as f64);
            }
            for (school, class, n) in &self.failed {
                gauge!("dokflyt_archive_failed_documents", "school_id" => school.clone(), "error_class" => class.clone())
                    .set(*n as f64);
            }
            for (t, status, n) in &self.due {
                gauge!("dokflyt_archive_due_documents", "document_type" => t.clone(), "status" => status.clone())
                    .set(*n as f64);
            }
            if let Some(t) = self.oldest_klar {
                gauge!("dokflyt_archive_oldest_klar_timestamp_seconds").set(t.timestamp() as f64);
            }
            if let Some(next) = schedule.and_then(|s| s.next_window(now)) {
                gauge!("dokflyt_archive_next_window_timestamp_seconds")
                    .set(next.timestamp() as f64);
            }
            let today = now.with_timezone(&chrono_tz::Europe::Oslo).date_naive();
            let deadline = next_deadline(today);
            gauge!("dokflyt_archive_next_deadline_timestamp_seconds")
                .set(crate::calendar::oslo_midnight(deadline).timestamp() as f64);
            gauge!("dokflyt_archive_next_deadline_days").set((deadline - today).num_days() as f64);
            for (school, segments, ore) in &self.sms {
                gauge!("dokflyt_sms_booked_segments", "school_id" => school.clone())
                    .set(*segments as f64);
                gauge!("dokflyt_sms_booked_cost_nok", "school_id" => school.clone())
                    .set(*ore as f64 / 100.0);
            }
        })
    }
}

/// `GET /metrics`.
pub async fn serve(State(scrape): State<Arc<Scrape>>) -> impl IntoResponse {
    let text = scrape.render().await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn the_next_deadline_is_25_january_or_25_june() {
        assert_eq!(next_deadline(d("2026-11-23")), d("2027-01-25"));
        assert_eq!(next_deadline(d("2027-01-25")), d("2027-01-25"));
        assert_eq!(next_deadline(d("2027-01-26")), d("2027-06-25"));
        assert_eq!(next_deadline(d("2027-06-25")), d("2027-06-25"));
        // Summer: the next school year's January.
        assert_eq!(next_deadline(d("2027-06-26")), d("2028-01-25"));
        assert_eq!(next_deadline(d("2027-08-01")), d("2028-01-25"));
    }

    #[test]
    fn rendered_gauges_carry_their_help_and_type() {
        let text = rendered(|| {
            gauge!("dokflyt_archive_next_deadline_days").set(3.0);
        });
        assert!(
            text.contains("# TYPE dokflyt_archive_next_deadline_days gauge"),
            "{text}"
        );
        assert!(
            text.contains("# HELP dokflyt_archive_next_deadline_days "),
            "{text}"
        );
        assert!(
            text.contains("dokflyt_archive_next_deadline_days 3"),
            "{text}"
        );
    }
}
