//! When the transfer runs: two windows a day in the municipality's time zone
//! (by default 15:00 and 02:00 Europe/Oslo), plus run-now, plus catch-up.
//!
//! Stage: archive transfer, the trigger. Input: the [`Clock`] (injected: real time in
//! production, a hand-moved clock in tests), [`ScheduleSettings`] and the
//! `transfer_runs` log. Output: transfer runs ([`transfer::run_now`], which drains
//! the `klar` queue), each logged in `transfer_runs`. Failure: bad settings are
//! refused at start ([`ScheduleError`]); a database error during a tick is logged
//! and the tick is tried again at the next poll — nothing is lost, the rows stay `klar`.
//!
//! A window `w` is *due* at `now` when `w ≤ now < w + window_minutes` and no run
//! for `w` has finished without stopping for an outage. So: a worker that was down
//! at 15:00 and starts at 16:10 catches up (kind `catch_up`); a run stopped because
//! the archive is down is tried again every `outage_retry_minutes` inside the
//! window; outside every window nothing is sent except by `run-now`. Several
//! workers may tick at once: the row claims in [`transfer`] make that harmless.
//!
//! Daylight saving: a start time that does not exist on a spring-forward day (02:30
//! on the last Sunday of March) runs at the first instant after the gap; one that
//! exists twice (autumn) runs at the first.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::client::ArchiveClient;
use super::transfer::{self, RunSummary, TransferOptions, TransferRunError};
use crate::config::ScheduleSettings;

pub use crate::calendar::{Clock, ManualClock, SystemClock};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("unknown time zone `{0}` (expected an IANA name such as Europe/Oslo)")]
    TimeZone(String),
    #[error("window `{0}` is not a time of day HH:MM")]
    Window(String),
    #[error("the schedule is enabled but has no windows")]
    NoWindows,
}

/// The windows, parsed.
#[derive(Debug, Clone)]
pub struct Schedule {
    tz: Tz,
    starts: Vec<NaiveTime>,
    window: chrono::Duration,
    outage_retry: chrono::Duration,
}

impl Schedule {
    pub fn from_settings(s: &ScheduleSettings) -> Result<Schedule, ScheduleError> {
        let tz: Tz = s
            .timezone
            .parse()
            .map_err(|_| ScheduleError::TimeZone(s.timezone.clone()))?;
        let mut starts = s
            .windows
            .iter()
            .map(|w| {
                NaiveTime::parse_from_str(w.trim(), "%H:%M")
                    .map_err(|_| ScheduleError::Window(w.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if starts.is_empty() && s.enabled {
            return Err(ScheduleError::NoWindows);
        }
        starts.sort();
        starts.dedup();
        Ok(Schedule {
            tz,
            starts,
            window: chrono::Duration::minutes(i64::from(s.window_minutes.max(1))),
            outage_retry: chrono::Duration::minutes(i64::from(s.outage_retry_minutes.max(1))),
        })
    }

    /// The instant a local start time falls on, on a local date (DST-aware).
    fn instant(&self, date: chrono::NaiveDate, t: NaiveTime) -> Option<DateTime<Utc>> {
        let local = date.and_time(t);
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(x) => Some(x.with_timezone(&Utc)),
            chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            // In a spring-forward gap: the first instant after it (gaps are ≤ 1 h here).
            chrono::LocalResult::None => (1..=120).find_map(|m| {
                self.tz
                    .from_local_datetime(&(local + chrono::Duration::minutes(m)))
                    .earliest()
                    .map(|x| x.with_timezone(&Utc))
            }),
        }
    }

    /// Window starts on the local dates around `now` (yesterday, today, tomorrow).
    fn starts_around(&self, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let today = now.with_timezone(&self.tz).date_naive();
        let mut out: Vec<DateTime<Utc>> = [today - Days::new(1), today, today + Days::new(1)]
            .into_iter()
            .flat_map(|d| self.starts.iter().filter_map(move |t| self.instant(d, *t)))
            .collect();
        out.sort();
        out
    }

    /// The latest window start at or before `now`, if `now` is inside that window.
    pub fn current_window(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.starts_around(now)
            .into_iter()
            .rev()
            .find(|s| *s <= now)
            .filter(|s| now < *s + self.window)
    }

    /// The first window start after `now`.
    pub fn next_window(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.starts_around(now).into_iter().find(|s| *s > now)
    }
}

/// Why a run was started (`transfer_runs.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Window,
    RunNow,
    CatchUp,
}

impl RunKind {
    fn as_str(self) -> &'static str {
        match self {
            RunKind::Window => "window",
            RunKind::RunNow => "run_now",
            RunKind::CatchUp => "catch_up",
        }
    }
}

/// Runs a transfer and logs it in `transfer_runs` (start and result, in `clock` time).
pub async fn run_and_log(
    pool: &PgPool,
    client: Arc<dyn ArchiveClient>,
    opts: &TransferOptions,
    kind: RunKind,
    window_start: Option<DateTime<Utc>>,
    clock: &dyn Clock,
) -> Result<RunSummary, TransferRunError> {
    let run_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO transfer_runs (run_id, kind, window_start, started_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(run_id)
    .bind(kind.as_str())
    .bind(window_start)
    .bind(clock.now())
    .execute(pool)
    .await?;
    let summary = transfer::run_now(pool, client, opts).await;
    crate::metrics::transfer_run(
        kind.as_str(),
        summary.as_ref().ok().map(|s| crate::metrics::RunCounts {
            arkivert: s.arkivert,
            feilet: s.feilet,
            attempts: s.attempts,
            stopped_for_outage: s.stopped_for_outage,
        }),
    );
    let summary = summary?;
    sqlx::query(
        "UPDATE transfer_runs SET finished_at = $5, arkivert = $2, feilet = $3,
                stopped_for_outage = $4
          WHERE run_id = $1",
    )
    .bind(run_id)
    .bind(summary.arkivert as i32)
    .bind(summary.feilet as i32)
    .bind(summary.stopped_for_outage)
    .bind(clock.now())
    .execute(pool)
    .await?;
    Ok(summary)
}

/// The scheduler: ticks on the clock and starts window runs.
pub struct Scheduler {
    pub pool: PgPool,
    pub client: Arc<dyn ArchiveClient>,
    pub opts: TransferOptions,
    pub schedule: Schedule,
    pub clock: Arc<dyn Clock>,
    pub poll: Duration,
    /// Looks at the clock completed so far (tests wait on it instead of sleeping).
    pub ticks: Arc<std::sync::atomic::AtomicU64>,
}

impl Scheduler {
    /// One look at the clock: runs the current window if it is due. Returns the run's
    /// summary when one ran.
    pub async fn tick(&self) -> Result<Option<RunSummary>, TransferRunError> {
        let now = self.clock.now();
        self.rollover_if_due(now).await?;
        let Some(window) = self.schedule.current_window(now) else {
            return Ok(None);
        };
        // (finished and not stopped by an outage, started, last finish of an outage stop)
        let (done, any, last_outage): (bool, bool, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT coalesce(bool_or(finished_at IS NOT NULL AND NOT stopped_for_outage), false),
                    count(*) > 0,
                    max(finished_at) FILTER (WHERE stopped_for_outage)
               FROM transfer_runs WHERE window_start = $1",
        )
        .bind(window)
        .fetch_one(&self.pool)
        .await?;
        if done {
            return Ok(None);
        }
        if let Some(t) = last_outage {
            if now < t + self.schedule.outage_retry {
                return Ok(None);
            }
        }
        // A run of this window that started and never finished (a crashed worker, or
        // another worker right now) is not waited for: claims keep the rows apart.
        let kind = if any || now >= window + chrono::Duration::minutes(5) {
            RunKind::CatchUp
        } else {
            RunKind::Window
        };
        tracing::info!(window = %window, kind = kind.as_str(), "archive transfer window is due");
        let s = run_and_log(
            &self.pool,
            self.client.clone(),
            &self.opts,
            kind,
            Some(window),
            self.clock.as_ref(),
        )
        .await?;
        Ok(Some(s))
    }

    /// On 30 June (or in July, if the worker was down) the school folders of the
    /// coming school year are created once.
    async fn rollover_if_due(&self, now: DateTime<Utc>) -> Result<(), TransferRunError> {
        let today = now.with_timezone(&self.schedule.tz).date_naive();
        let Some(year) = super::folders::rollover_due(&self.pool, today).await? else {
            return Ok(());
        };
        let actor = crate::access::Actor {
            user: "dokflyt:planlagt".into(),
            role: crate::access::Role::System,
            schools: Vec::new(),
            municipality_number: None,
        };
        match super::folders::rollover(
            &self.pool,
            self.client.as_ref(),
            &self.opts.build,
            &actor,
            year,
        )
        .await
        {
            Ok(r) => tracing::info!(
                new_year = %r.new_year,
                not_archived = r.not_archived.len(),
                folders = r.folders.len(),
                "school-year rollover done"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "school-year rollover failed; tried again at the next tick")
            }
        }
        Ok(())
    }

    /// Ticks every `poll` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        if let Some(next) = self.schedule.next_window(self.clock.now()) {
            tracing::info!(next_window = %next, "archive transfer scheduler started");
        }
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "archive transfer tick failed; trying again at the next poll");
            }
            self.ticks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oslo(s: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time");
        chrono_tz::Europe::Oslo
            .from_local_datetime(&naive)
            .earliest()
            .expect("exists")
            .with_timezone(&Utc)
    }

    fn default_schedule() -> Schedule {
        Schedule::from_settings(&ScheduleSettings::default()).expect("valid")
    }

    #[test]
    fn windows_are_in_oslo_time_winter_and_summer() {
        let s = default_schedule();
        // Winter (UTC+1): 15:00 Oslo = 14:00 UTC.
        assert_eq!(
            s.current_window(oslo("2026-11-23 15:30")),
            Some(oslo("2026-11-23 15:00"))
        );
        assert_eq!(
            oslo("2026-11-23 15:00").to_rfc3339(),
            "2026-11-23T14:00:00+00:00"
        );
        // Summer (UTC+2): 15:00 Oslo = 13:00 UTC.
        assert_eq!(
            oslo("2026-06-10 15:00").to_rfc3339(),
            "2026-06-10T13:00:00+00:00"
        );
        assert_eq!(
            s.current_window(oslo("2026-06-10 15:01")),
            Some(oslo("2026-06-10 15:00"))
        );
    }

    #[test]
    fn outside_windows_nothing_is_due() {
        let s = default_schedule();
        assert_eq!(s.current_window(oslo("2026-11-23 14:59")), None);
        assert_eq!(s.current_window(oslo("2026-11-23 19:00")), None);
        assert_eq!(s.current_window(oslo("2026-11-24 06:00")), None);
        // The night window belongs to the new date.
        assert_eq!(
            s.current_window(oslo("2026-11-24 02:10")),
            Some(oslo("2026-11-24 02:00"))
        );
        assert_eq!(
            s.next_window(oslo("2026-11-23 15:30")),
            Some(oslo("2026-11-24 02:00"))
        );
        assert_eq!(
            s.next_window(oslo("2026-11-24 02:30")),
            Some(oslo("2026-11-24 15:00"))
        );
    }

    #[test]
    fn spring_forward_gap_and_autumn_repeat() {
        let set = ScheduleSettings {
            windows: vec!["02:30".into()],
            ..ScheduleSettings::default()
        };
        let s = Schedule::from_settings(&set).expect("valid");
        // 29 March 2026: 02:00 → 03:00; 02:30 does not exist → runs at 03:00 (01:00 UTC).
        let t = DateTime::parse_from_rfc3339("2026-03-29T01:10:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(
            s.current_window(t).map(|w| w.to_rfc3339()),
            Some("2026-03-29T01:00:00+00:00".into())
        );
        // 25 October 2026: 02:30 happens twice → the first (00:30 UTC).
        let t = DateTime::parse_from_rfc3339("2026-10-25T01:15:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(
            s.current_window(t).map(|w| w.to_rfc3339()),
            Some("2026-10-25T00:30:00+00:00".into())
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let set = ScheduleSettings {
            timezone: "Europe/Atlantis".into(),
            ..ScheduleSettings::default()
        };
        assert!(matches!(
            Schedule::from_settings(&set),
            Err(ScheduleError::TimeZone(_))
        ));
        let set = ScheduleSettings {
            windows: vec!["25:00".into()],
            ..ScheduleSettings::default()
        };
        assert!(matches!(
            Schedule::from_settings(&set),
            Err(ScheduleError::Window(_))
        ));
        let mut set = ScheduleSettings::default();
        set.windows.clear();
        assert_eq!(
            Schedule::from_settings(&set).err(),
            Some(ScheduleError::NoWindows)
        );
    }
}
