//! Rate limits with bounded memory (issue 16, item 7): one keyed limiter type for
//! the API (per client, per acting user, per address for failed sign-ins to the
//! API) and the dashboard (per address for sign-in, per user for actions).
//!
//! Input: a key (a client id, a user, an address) and, for addresses, the request's
//! socket address and `X-Forwarded-For`. Output: allowed or not. The limiter is
//! `governor`'s GCRA (a burst of `max`, refilled evenly over the window); it keeps
//! one small state per key, and when it holds `max_keys` keys it first forgets the
//! keys that are back at full allowance and then, if still full, refuses new
//! requests until some are — so a flood of distinct keys costs bounded memory.
//! Failure: none; a refusal is the caller's 429.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys a limiter keeps at most (a few hundred bytes each) unless told otherwise.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

pub struct KeyedLimiter {
    inner: DefaultKeyedRateLimiter<String>,
    max_keys: usize,
}

impl KeyedLimiter {
    /// `max` requests per `window` per key (a burst of `max`, then one per
    /// `window / max`); `max` 0 is treated as 1.
    pub fn new(max: u32, window: Duration, max_keys: usize) -> KeyedLimiter {
        let max = NonZeroU32::new(max).unwrap_or(NonZeroU32::MIN);
        let period = (window / max.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(max))
            .allow_burst(max);
        KeyedLimiter {
            inner: RateLimiter::keyed(quota),
            max_keys: max_keys.max(1),
        }
    }

    /// Counts one request by `key`; false when it is over its limit (or the
    /// limiter is full of keys that are all still limited).
    pub fn allow(&self, key: &str) -> bool {
        if self.inner.len() >= self.max_keys {
            self.inner.retain_recent();
            self.inner.shrink_to_fit();
            if self.inner.len() >= self.max_keys {
                return false;
            }
        }
        self.inner.check_key(&key.to_string()).is_ok()
    }

    /// Keys held now (for tests of the bound).
    pub fn keys(&self) -> usize {
        self.inner.len()
    }
}

/// The address a request comes from. Behind a trusted reverse proxy
/// (`trust_proxy_headers`) that is the right-most `X-Forwarded-For` entry — the one
/// our own proxy appended; every entry left of it is the client's own claim.
/// Otherwise the header is ignored and the socket address counts.
pub fn client_address(headers: &HeaderMap, addr: Option<SocketAddr>, trust_proxy: bool) -> String {
    let forwarded = trust_proxy
        .then(|| headers.get_all("x-forwarded-for").iter().next_back())
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    forwarded
        .or_else(|| addr.map(|a| a.ip().to_string()))
        .unwrap_or_else(|| "ukjent".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key() {
        let l = KeyedLimiter::new(2, Duration::from_secs(60), 100);
        assert!(l.allow("a") && l.allow("a"));
        assert!(!l.allow("a"));
        assert!(l.allow("b"));
    }

    #[test]
    fn memory_is_bounded_by_max_keys() {
        let l = KeyedLimiter::new(1, Duration::from_secs(3600), 50);
        for i in 0..50 {
            assert!(l.allow(&format!("k{i}")));
        }
        // Full of keys that are all still limited: new keys wait, memory stays put.
        assert!(!l.allow("new"));
        for i in 0..1000 {
            l.allow(&format!("flood{i}"));
        }
        assert!(l.keys() <= 50, "held {} keys", l.keys());
    }

    #[test]
    fn full_limiter_forgets_keys_back_at_full_allowance() {
        let l = KeyedLimiter::new(1000, Duration::from_millis(10), 10);
        for i in 0..10 {
            assert!(l.allow(&format!("k{i}")));
        }
        std::thread::sleep(Duration::from_millis(30));
        assert!(l.allow("new"), "recovered keys are forgotten to make room");
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy_and_right_most() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 10.0.0.7".parse().expect("header"),
        );
        let sock: SocketAddr = "192.0.2.1:4000".parse().expect("addr");
        assert_eq!(client_address(&h, Some(sock), true), "10.0.0.7");
        assert_eq!(client_address(&h, Some(sock), false), "192.0.2.1");
        assert_eq!(
            client_address(&HeaderMap::new(), Some(sock), true),
            "192.0.2.1"
        );
    }
}
