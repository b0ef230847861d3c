//! `dokflyt roster import FILE.jsonl`: the first load of a municipality's roster;
//! `dokflyt roster manual put|remove|unlink`: entries by hand for people not in the
//! register (a change to an entry the sync owns is refused, exit 3, with the
//! Norwegian reason on stderr).
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
    /// Entries by hand, for people the school system does not hold (principals,
    /// special-needs staff, people with foreign ids). Entries the sync owns are
    /// refused (exit 3).
    #[command(subcommand)]
    Manual(ManualCommand),
}

/// The entity of a manual entry.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ManualEntity {
    /// A pupil.
    Pupil,
    /// A guardian.
    Guardian,
    /// A staff member.
    Staff,
}

impl From<ManualEntity> for crate::roster::Entity {
    fn from(e: ManualEntity) -> Self {
        match e {
            ManualEntity::Pupil => crate::roster::Entity::Pupil,
            ManualEntity::Guardian => crate::roster::Entity::Guardian,
            ManualEntity::Staff => crate::roster::Entity::Staff,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ManualCommand {
    /// Add or edit a manual entry; the record is JSON as in a roster event's
    /// `pupil`, `guardian` or `staff` field.
    Put {
        /// What the entry is.
        #[arg(long, value_enum)]
        entity: ManualEntity,
        /// The entry's id (a person not in the register: any id the sync does not own).
        #[arg(long)]
        id: String,
        /// The record (a JSON file).
        #[arg(value_name = "RECORD.json")]
        record: PathBuf,
    },
    /// Remove a manual entry.
    Remove {
        /// What the entry is.
        #[arg(long, value_enum)]
        entity: ManualEntity,
        /// The entry's id.
        #[arg(long)]
        id: String,
    },
    /// Remove a guardian link entered by hand.
    Unlink {
        /// The guardian's id.
        #[arg(long)]
        guardian: String,
        /// The pupil's id.
        #[arg(long)]
        pupil: String,
    },
}

async fn manual(settings: &Settings, cmd: ManualCommand) -> anyhow::Result<Code> {
    use crate::roster::manual::{self, ManualError};
    let pool = database::migrated(settings).await?;
    let done = match cmd {
        ManualCommand::Put { entity, id, record } => {
            let text = tokio::fs::read_to_string(&record)
                .await
                .with_context(|| format!("kan ikke lese {}", record.display()))?;
            match serde_json::from_str(&text) {
                Ok(value) => manual::put(&pool, entity.into(), &id, value).await,
                Err(_) => Err(ManualError::Invalid("posten er ikke JSON".into())),
            }
        }
        ManualCommand::Remove { entity, id } => manual::remove(&pool, entity.into(), &id).await,
        ManualCommand::Unlink { guardian, pupil } => manual::unlink(&pool, &guardian, &pupil).await,
    };
    match done {
        Ok(()) => {
            println!("lagret");
            Ok(Code::Ok)
        }
        Err(e @ ManualError::Synced(_)) => {
            eprintln!("avvist: {e}");
            Ok(Code::Refused)
        }
        Err(e @ (ManualError::Invalid(_) | ManualError::NotFound)) => {
            eprintln!("ugyldig: {e}");
            Ok(Code::Invalid)
        }
        Err(ManualError::Db(e)) => Err(e.into()),
    }
}

pub async fn run(settings: &Settings, cmd: RosterCommand) -> anyhow::Result<Code> {
    let (file, concurrency) = match cmd {
        RosterCommand::Import { file, concurrency } => (file, concurrency),
        RosterCommand::Manual(m) => return manual(settings, m).await,
    };
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
