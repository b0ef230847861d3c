//! How far a long operation has come: the sink the archive transfer, the
//! school-year rollover and the roster import report to.
//!
//! Concept: a leaf (it imports nothing of the crate), so the library reports
//! progress without knowing who shows it. Input: the amount of work when it is
//! known, then units done (documents, schools, lines). Output: whatever the sink
//! does — the command line draws a bar on a terminal or writes a log line now and
//! then (`cli::progress`); everywhere else it is [`Silent`]. No failure: a sink
//! cannot refuse, and reports carry counts only, never personal data.

use std::fmt::Debug;
use std::sync::Arc;

/// Where a long operation reports its progress.
pub trait Progress: Send + Sync + Debug {
    /// The whole job is `total` units (called again when it turns out larger).
    fn set_total(&self, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
}

/// Reports nowhere: the default of every operation that takes a sink.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn set_total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A [`Silent`] sink to hold in a struct field.
pub fn silent() -> Arc<dyn Progress> {
    Arc::new(Silent)
}
