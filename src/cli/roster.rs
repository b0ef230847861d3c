//! `dokflyt roster import FILE.jsonl`: the first load of a municipality's roster.
//!
//! Input: a JSON Lines file of roster events; the database (migrated: this
//! writes). Output: progress on stderr ([`super::progress`]), every rejected line
//! as `FILE:LINE: reason` on stderr (never its content), and the summary as one
//! JSON object on stdout (`lines`, `applied`, `stale`, `rejected`, `errors`).
//! Failure: any rejected line is exit 1 (the rest is applied); a database error
//! stops the import (what was applied stays; a rerun resumes harmlessly).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::exit::Code;
use super::{database, progress};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Load roster events from a JSON Lines file (one roster event per line).
    ///
    /// Shows progress on stderr. Exit 0 when every line applied (or was stale), 1
    /// otherwise.
    Import {
        /// The JSON Lines file (one roster event v1 per line; blank lines skipped).
        #[arg(value_name = "FILE.jsonl")]
        file: PathBuf,
        /// Changes applied at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
}

pub async fn run(settings: &Settings, cmd: RosterCommand) -> anyhow::Result<Code> {
    let RosterCommand::Import { file, concurrency } = cmd;
    let pool = database::migrated(settings).await?;
    let shown = progress::start("roster import", "importerer");
    let summary =
        crate::roster::import::import_file(&pool, &file, concurrency, shown.as_ref()).await;
    shown.finish();
    let summary = summary.with_context(|| format!("import av {}", file.display()))?;
    for (line, reason) in &summary.errors {
        eprintln!("{}:{line}: {reason}", file.display());
    }
    println!("{}", serde_json::to_string(&summary)?);
    Ok(if summary.rejected == 0 {
        Code::Ok
    } else {
        Code::Error
    })
}
