//! Progress of the long commands (`archive run-now`, `archive rollover`, `roster
//! import`): a bar when stderr is a terminal, plain log lines otherwise.
//!
//! Input: the library's reports through [`crate::progress::Progress`]. Output: on
//! a terminal an indicatif bar on stderr (log lines printed meanwhile go above it,
//! through [`Stderr`]); in a pipe, a file or a journal an `info` log line
//! `progress` with `task`, `done`, `total` and `percent` every tenth of the work,
//! at least every [`LOG_EVERY`] while work moves, and once at the end. No
//! failure: drawing cannot stop the work. Counts only, never personal data.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::progress::Progress;

/// The longest a log-line run stays quiet while documents keep finishing.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The bars on the terminal, created with the first one; log lines suspend them.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// The progress of one command.
#[derive(Debug)]
pub struct Shown(Kind);

#[derive(Debug)]
enum Kind {
    Bar(ProgressBar),
    Lines(Lines),
}

/// Starts showing the progress of `task` (the command, as the logs name it),
/// labelled `label` (bokmål) on the bar.
pub fn start(task: &'static str, label: &'static str) -> Arc<Shown> {
    Arc::new(if std::io::stderr().is_terminal() {
        Shown(Kind::Bar(bar(label)))
    } else {
        Shown(Kind::Lines(Lines::new(task)))
    })
}

fn bar(label: &'static str) -> ProgressBar {
    let b = BARS
        .get_or_init(MultiProgress::new)
        .add(ProgressBar::new(0));
    b.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{bar:40}] {pos}/{len} ({rate}/s, ca. {eta} igjen)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}", s.per_sec());
            },
        )
        .progress_chars("=> "),
    );
    b.set_prefix(label);
    b.enable_steady_tick(Duration::from_millis(200));
    b
}

impl Shown {
    /// The work is over: clears the bar, or writes the last line.
    pub fn finish(&self) {
        match &self.0 {
            Kind::Bar(b) => b.finish_and_clear(),
            Kind::Lines(l) => l.log(l.done.load(Ordering::SeqCst)),
        }
    }
}

impl Progress for Shown {
    fn set_total(&self, total: u64) {
        match &self.0 {
            Kind::Bar(b) => b.set_length(total),
            Kind::Lines(l) => l.total.store(total, Ordering::SeqCst),
        }
    }

    fn advance(&self, n: u64) {
        match &self.0 {
            Kind::Bar(b) => {
                b.inc(n);
                // More than counted at the start (documents queued meanwhile).
                if b.length().is_some_and(|len| b.position() > len) {
                    b.set_length(b.position());
                }
            }
            Kind::Lines(l) => l.advance(n),
        }
    }
}

#[derive(Debug)]
struct Lines {
    task: &'static str,
    total: AtomicU64,
    done: AtomicU64,
    /// When and at what count the last line was written.
    last: Mutex<(Instant, u64)>,
}

impl Lines {
    fn new(task: &'static str) -> Lines {
        Lines {
            task,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            last: Mutex::new((Instant::now(), 0)),
        }
    }

    fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::SeqCst) + n;
        let total = self.total.load(Ordering::SeqCst);
        // A tenth of the work; 1,000 units while the amount is unknown.
        let step = if total == 0 {
            1000
        } else {
            (total / 10).max(1)
        };
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if done >= last.1 + step || last.0.elapsed() >= LOG_EVERY {
            *last = (Instant::now(), done);
            drop(last);
            self.log(done);
        }
    }

    fn log(&self, done: u64) {
        let total = self.total.load(Ordering::SeqCst).max(done);
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        tracing::info!(task = self.task, done, total, percent, "progress");
    }
}

/// The log's writer: stderr, with any bar lifted while a line is written so the
/// two do not tear each other.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;
    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BARS.get() {
            Some(bars) => bars.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
