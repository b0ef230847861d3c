//! Named crash points: the process aborts at a chosen instant between an external
//! effect and the record of it, so the fault-injection suite (`dokflyt-dev faults`,
//! scenario 2) can prove that a crash there neither loses nor repeats anything.
//!
//! Input: `DOKFLYT_CRASH_AT=<point>` or `<point>@<n>` (abort on the n-th time the
//! point is reached; default 1), read once, on the first [`hit`]. Output: nothing
//! while it is unset (one initialised-once read and a compare per call), else
//! `std::process::abort()` at the chosen hit — no unwinding, no destructors, no
//! graceful shutdown: what a `kill -9` or a power cut does at that instant. An
//! unknown point name is ignored (the variable is read by nothing else).
//!
//! Hand-written rather than the `fail` crate: `fail`'s actions are panic, return,
//! sleep, pause and print — a panic inside a tokio task is caught by the runtime
//! and the process lives on, which is not a crash — and its points are compiled
//! in only with a cargo feature, so the binary tested would not be the one shipped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The places a crash can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Delivery: the provider (SvarUt, SMTP) accepted the send; its outcome is not
    /// yet recorded (`deliveries` still claimed, `in_doubt`).
    DeliveryAccepted,
    /// Document consumer: the event's effects are committed; the message is not acked.
    ConsumerCommitted,
    /// Archive transfer: the archive answered with a receipt; `archive_queue` is
    /// not yet `arkivert`.
    ArchivePosted,
    /// SMS fan-out: the gateway accepted one number's SMS; it is not yet recorded.
    SmsAccepted,
}

impl Point {
    /// The name in `DOKFLYT_CRASH_AT`.
    pub fn name(self) -> &'static str {
        match self {
            Point::DeliveryAccepted => "delivery_accepted",
            Point::ConsumerCommitted => "consumer_committed",
            Point::ArchivePosted => "archive_posted",
            Point::SmsAccepted => "sms_accepted",
        }
    }

    /// Every point, in the order of the pipeline.
    pub const ALL: [Point; 4] = [
        Point::ConsumerCommitted,
        Point::DeliveryAccepted,
        Point::ArchivePosted,
        Point::SmsAccepted,
    ];
}

struct Armed {
    point: Point,
    nth: u64,
    seen: AtomicU64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

/// Parses `<point>[@<n>]`; `None` for anything else.
fn parse(spec: &str) -> Option<(Point, u64)> {
    let (name, nth) = match spec.split_once('@') {
        Some((name, n)) => (name, n.trim().parse::<u64>().ok().filter(|n| *n > 0)?),
        None => (spec, 1),
    };
    let point = Point::ALL.into_iter().find(|p| p.name() == name.trim())?;
    Some((point, nth))
}

/// Marks that `point` was reached; aborts the process if it is the armed one and
/// this is its n-th time.
pub fn hit(point: Point) {
    let armed = ARMED.get_or_init(|| {
        let spec = std::env::var("DOKFLYT_CRASH_AT").ok()?;
        let (point, nth) = parse(&spec)?;
        Some(Armed {
            point,
            nth,
            seen: AtomicU64::new(0),
        })
    });
    if let Some(a) = armed {
        if a.point == point && a.seen.fetch_add(1, Ordering::SeqCst) + 1 == a.nth {
            // Written straight to stderr (no logger: it may buffer); the harness
            // waits for this line to know the crash was the injected one.
            eprintln!("dokflyt: crash point {} reached; aborting", point.name());
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_point_and_count() {
        assert_eq!(parse("archive_posted@3"), Some((Point::ArchivePosted, 3)));
        assert_eq!(parse("sms_accepted"), Some((Point::SmsAccepted, 1)));
        assert_eq!(parse("sms_accepted@0"), None);
        assert_eq!(parse("nowhere"), None);
        assert_eq!(parse("consumer_committed@x"), None);
    }
}
