//! `dokflyt roster import FILE.jsonl`: the first load of a municipality's roster.
//!
//! Input: a JSON Lines file, one roster event v1 per line (the same contract as the
//! queue; blank lines are skipped). Output: every valid line applied through
//! [`store::apply`] (so versions decide, exactly as on the queue, and running the
//! import twice changes nothing), progress reported line by line, and an
//! [`ImportSummary`]. Failure: an invalid line is counted and reported by line
//! number and reason (never its content: it holds personal data) and the import
//! goes on; a database error stops the import (what was applied stays applied and
//! a rerun resumes harmlessly).

use std::path::Path;

use futures::StreamExt;
use serde::Serialize;

use super::{store, RosterChange};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("line {line}: {source}")]
    Store {
        line: usize,
        source: store::StoreError,
    },
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ImportSummary {
    pub lines: usize,
    pub applied: usize,
    pub stale: usize,
    pub rejected: usize,
    /// (line number, reason) of every rejected line, first 100.
    pub errors: Vec<(usize, String)>,
}

/// Imports `path` with `concurrency` changes in flight, telling `progress` of
/// every line done (`dokflyt roster import` shows it).
pub async fn import_file(
    pool: &sqlx::PgPool,
    path: &Path,
    concurrency: usize,
    progress: &dyn crate::progress::Progress,
) -> Result<ImportSummary, ImportError> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|source| ImportError::Read {
            path: path.display().to_string(),
            source,
        })?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    progress.set_total(lines.len() as u64);
    let mut summary = ImportSummary {
        lines: lines.len(),
        ..ImportSummary::default()
    };
    let mut results = futures::stream::iter(lines.into_iter().map(|(n, line)| async move {
        match RosterChange::parse(line.as_bytes()) {
            Err(e) => (n, Err(e.to_string())),
            Ok(change) => (n, Ok(store::apply(pool, &change).await)),
        }
    }))
    .buffer_unordered(concurrency.max(1));
    while let Some((n, r)) = results.next().await {
        progress.advance(1);
        match r {
            Err(reason) => {
                summary.rejected += 1;
                if summary.errors.len() < 100 {
                    summary.errors.push((n, reason));
                }
            }
            Ok(Ok(store::Applied::Applied)) => summary.applied += 1,
            Ok(Ok(store::Applied::Stale)) => summary.stale += 1,
            Ok(Err(source)) => {
                return Err(ImportError::Store { line: n, source });
            }
        }
    }
    summary.errors.sort();
    Ok(summary)
}
