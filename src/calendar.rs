//! Days as Norway counts them: today in Europe/Oslo, and where an Oslo day
//! begins and ends in UTC.
//!
//! Concept: a leaf (it imports nothing of the crate) shared by the archive
//! (school years, principals, deadlines), the SMS cost ledger (a school's day)
//! and the staff's date filters. Input: the clock or a date. Output: a
//! [`NaiveDate`] or UTC instants; the injectable [`Clock`]. No failure: midnight always exists in Oslo.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

/// Where time comes from: the system clock, or a test's (the archive
/// schedule, grants' expiry).
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests, simulations).
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(at))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = at;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }
}

/// Today's date in Norway (school years, principals and deadlines are local dates).
pub fn today_in_oslo() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Oslo)
        .date_naive()
}

/// The instant a day begins in Norway (midnight Oslo time, as UTC). Midnight
/// always exists in Europe/Oslo (the DST changes are at 02:00 and 03:00), so a
/// day is 23, 24 or 25 hours long between two of these.
pub fn oslo_midnight(day: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let local = day.and_time(chrono::NaiveTime::MIN);
    chrono_tz::Europe::Oslo
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        // Unreachable for Oslo; a plain UTC midnight is the least surprising fallback.
        .unwrap_or_else(|| local.and_utc())
}

/// `[start, end)` of the Oslo days `from ..= to` as UTC instants (either open).
pub fn oslo_day_range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> (
    Option<chrono::DateTime<chrono::Utc>>,
    Option<chrono::DateTime<chrono::Utc>>,
) {
    (
        from.map(oslo_midnight),
        to.and_then(|d| d.succ_opt()).map(oslo_midnight),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oslo_days_begin_at_local_midnight_across_the_dst_changes() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let utc = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("instant")
                .with_timezone(&chrono::Utc)
        };
        // Winter (CET, UTC+1) and summer (CEST, UTC+2).
        assert_eq!(oslo_midnight(d("2026-12-01")), utc("2026-11-30T23:00:00Z"));
        assert_eq!(oslo_midnight(d("2026-07-01")), utc("2026-06-30T22:00:00Z"));
        // 29 March 2026 (clocks forward at 02:00) is 23 hours long.
        let (a, b) = oslo_day_range(Some(d("2026-03-29")), Some(d("2026-03-29")));
        assert_eq!(a, Some(utc("2026-03-28T23:00:00Z")));
        assert_eq!(b, Some(utc("2026-03-29T22:00:00Z")));
        // 25 October 2026 (clocks back at 03:00) is 25 hours long.
        let (a, b) = oslo_day_range(Some(d("2026-10-25")), Some(d("2026-10-25")));
        assert_eq!(a, Some(utc("2026-10-24T22:00:00Z")));
        assert_eq!(b, Some(utc("2026-10-25T23:00:00Z")));
        assert_eq!(oslo_day_range(None, None), (None, None));
    }
}
