//! Backoff with jitter, written once: how long to wait before trying again.
//!
//! Concept: one retry policy type, [`Backoff`], that every caller which waits
//! before a retry states its numbers in: the broker sessions and the delivery
//! retries of the three consumers (`broker::session`), the SMS gateway sends and
//! outcome writes (`sms::fanout`), the delivery channels' next attempt
//! (`channels::dispatch`, stored as `next_attempt_at`) and the archive transfer.
//! Input: the first and the largest delay, the growth factor, jitter on or off,
//! and at most how many attempts. Output: the delays, computed by the maintained
//! `backon` crate's exponential backoff.
//!
//! With jitter (the default) each delay is drawn from `[d/2, d]`, where `d` is the
//! un-jittered delay (`min`, `min·factor`, … capped at `max`): many workers that
//! lost the same broker or database spread their retries instead of arriving
//! together, and no delay exceeds `max`, the number the caller states.
//! Failure: none; a policy whose `max` is below `min` waits `min` every time.

use std::time::Duration;

use backon::BackoffBuilder;
use tokio_util::sync::CancellationToken;

/// A retry policy: exponential delays from `min` to `max`, with jitter, for at
/// most `max_attempts` attempts (the first one included) or without end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The (un-jittered) delay before the second attempt.
    pub min: Duration,
    /// The largest delay; growth stops here.
    pub max: Duration,
    /// Each delay is the previous one times this.
    pub factor: f32,
    /// Draw each delay from `[d/2, d]` instead of waiting exactly `d`.
    pub jitter: bool,
    /// Attempts in all, the first included; `None`: retry for ever.
    pub max_attempts: Option<u32>,
}

impl Backoff {
    /// Doubling from `min` to `max`, with jitter, without an attempt limit.
    pub const fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            factor: 2.0,
            jitter: true,
            max_attempts: None,
        }
    }

    /// From settings given in milliseconds.
    pub const fn from_millis(min_ms: u64, max_ms: u64) -> Backoff {
        Backoff::new(Duration::from_millis(min_ms), Duration::from_millis(max_ms))
    }

    /// At most `n` attempts in all (at least one): `delays()` yields `n - 1` delays.
    pub const fn with_max_attempts(mut self, n: u32) -> Backoff {
        self.max_attempts = Some(if n == 0 { 1 } else { n });
        self
    }

    /// Exact delays (for a test that must know them).
    pub const fn without_jitter(mut self) -> Backoff {
        self.jitter = false;
        self
    }

    /// The delays between attempts, in order; it ends when the attempts are used up.
    pub fn delays(&self) -> Delays {
        let max = self.max.max(self.min);
        // backon's jitter adds up to one more delay (`[d', 2d')`): asking it for
        // half the delays gives `[d/2, d)`, never above `max`.
        let (min, max) = if self.jitter {
            (self.min / 2, max / 2)
        } else {
            (self.min, max)
        };
        let mut builder = backon::ExponentialBuilder::new()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_factor(self.factor.max(1.0));
        builder = match self.max_attempts {
            Some(n) => builder.with_max_times(n.saturating_sub(1) as usize),
            None => builder.without_max_times(),
        };
        if self.jitter {
            builder = builder.with_jitter();
        }
        Delays(builder.build())
    }

    /// The delay before the next attempt after `failed` failed attempts (≥ 1),
    /// for a retry whose count is stored (a delivery's `attempts`, the archive's
    /// attempt number). Ignores `max_attempts`: the caller decides when to stop.
    pub fn delay_after(&self, failed: u32) -> Duration {
        // Past 64 doublings every policy is at its maximum.
        let n = failed.clamp(1, 64) as usize;
        let unlimited = Backoff {
            max_attempts: None,
            ..*self
        };
        unlimited.delays().nth(n - 1).unwrap_or(self.max)
    }
}

/// The delays of one retry sequence (see [`Backoff::delays`]).
#[derive(Debug)]
pub struct Delays(backon::ExponentialBackoff);

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.0.next()
    }
}

/// Waits `delay` unless `shutdown` comes first: true when the wait ran out.
pub async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole milliseconds: backon computes in `f32` seconds, a few ns off.
    fn ms(d: Duration) -> u64 {
        (d.as_secs_f64() * 1_000.0).round() as u64
    }

    fn within(d: Duration, lo_ms: u64, hi_ms: u64) -> bool {
        let x = d.as_secs_f64() * 1_000.0;
        x >= lo_ms as f64 - 0.001 && x <= hi_ms as f64 + 0.001
    }

    #[test]
    fn without_jitter_it_doubles_from_min_and_stops_at_max() {
        let b = Backoff::from_millis(100, 1_000).without_jitter();
        let got: Vec<u64> = b.delays().take(6).map(ms).collect();
        assert_eq!(got, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(ms(b.delay_after(1)), 100);
        assert_eq!(ms(b.delay_after(3)), 400);
        assert_eq!(ms(b.delay_after(60)), 1_000);
        assert_eq!(ms(b.delay_after(u32::MAX)), 1_000);
    }

    #[test]
    fn jitter_stays_within_half_to_the_full_delay_and_varies() {
        let b = Backoff::from_millis(100, 1_000);
        let nominal = [100, 200, 400, 800, 1_000, 1_000];
        let mut first = Vec::new();
        for _ in 0..200 {
            let got: Vec<Duration> = b.delays().take(nominal.len()).collect();
            assert_eq!(got.len(), nominal.len());
            for (d, n) in got.iter().zip(nominal) {
                assert!(within(*d, n / 2, n), "{d:?} outside [{n}/2, {n}] ms");
            }
            first.push(got[0]);
        }
        first.sort();
        first.dedup();
        assert!(first.len() > 1, "jitter draws different delays");
        assert!(within(b.delay_after(4), 400, 800));
        // At the cap the delay still varies, and never passes the maximum.
        for _ in 0..200 {
            assert!(b
                .delays()
                .nth(20)
                .is_some_and(|d| d <= Duration::from_secs(1)));
        }
    }

    #[test]
    fn max_attempts_counts_the_first_attempt() {
        let b = Backoff::from_millis(10, 100).with_max_attempts(4);
        assert_eq!(b.delays().count(), 3);
        let once = Backoff::from_millis(10, 100).with_max_attempts(1);
        assert_eq!(once.delays().count(), 0);
        let zero = Backoff::from_millis(10, 100).with_max_attempts(0);
        assert_eq!(zero.delays().count(), 0);
        // Without a limit the delays never run out.
        assert_eq!(
            Backoff::from_millis(10, 100).delays().take(1_000).count(),
            1_000
        );
    }

    #[test]
    fn a_max_below_min_waits_min() {
        let b = Backoff::from_millis(500, 100).without_jitter();
        let got: Vec<u64> = b.delays().take(3).map(ms).collect();
        assert_eq!(got, [500, 500, 500]);
    }

    #[tokio::test]
    async fn pause_returns_at_shutdown() {
        let stop = CancellationToken::new();
        stop.cancel();
        assert!(!pause(Duration::from_secs(3600), &stop).await);
        assert!(pause(Duration::ZERO, &CancellationToken::new()).await);
    }
}
