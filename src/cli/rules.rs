//! `dokflyt rules check | table | explain | diff`: the routing table, for whoever
//! maintains it.
//!
//! Input: a rules directory (default `paths.rules_dir`), events as JSON files; no
//! database, no broker. Output: on stdout a summary, the Markdown table, one
//! decision as JSON, or the decisions a change would alter. Failure: an invalid
//! table is exit 1 with every error (file:line: rule); for `explain`, an event
//! that is not valid exit 2, one the table rejects exit 3.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::display_name;
use super::exit::Code;
use crate::config::Settings;
use crate::rules::explain::{self, Explained};
use crate::rules::RoutingTable;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate a routing-rules directory; exit 1 with every error (file:line: rule).
    Check {
        /// The rules directory. Default: the configured one (`paths.rules_dir`).
        #[arg(value_name = "DIR", env = "DOKFLYT_PATHS__RULES_DIR")]
        dir: Option<PathBuf>,
    },
    /// Print the whole table as Markdown, to compare with docs/domain.md §8.
    Table {
        /// The rules directory. Default: the configured one (`paths.rules_dir`).
        #[arg(value_name = "DIR", env = "DOKFLYT_PATHS__RULES_DIR")]
        dir: Option<PathBuf>,
    },
    /// Print the decision for one event as JSON. Exit 0 routed, 3 rejected, 2 malformed.
    Explain {
        /// The event (JSON).
        #[arg(value_name = "EVENT.json")]
        event: PathBuf,
        /// The rules directory. Default: the configured one (`paths.rules_dir`).
        #[arg(long, value_name = "DIR", env = "DOKFLYT_PATHS__RULES_DIR")]
        rules: Option<PathBuf>,
    },
    /// Replay events through two tables and list every decision that changes.
    Diff {
        /// The rules directory as it is.
        #[arg(value_name = "OLD_DIR")]
        old: PathBuf,
        /// The rules directory as it would be.
        #[arg(value_name = "NEW_DIR")]
        new: PathBuf,
        /// A directory of events (JSON files) to replay through both.
        #[arg(long, value_name = "DIR")]
        events: PathBuf,
    },
}

/// Loads the table in `dir`, printing every error when it does not load.
pub fn load_table(dir: &Path) -> Option<RoutingTable> {
    match RoutingTable::load_dir(dir) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("the routing table in {} is invalid", dir.display());
            None
        }
    }
}

pub fn run(settings: &Settings, cmd: RulesCommand) -> Code {
    let default_dir = || settings.paths.rules_dir.clone();
    match cmd {
        RulesCommand::Check { dir } => {
            let dir = dir.unwrap_or_else(default_dir);
            let Some(table) = load_table(&dir) else {
                return Code::Error;
            };
            let n: usize = crate::event::DocumentType::ALL
                .iter()
                .map(|t| table.rules_for(*t).len())
                .sum();
            println!(
                "{}: {n} rules, every document type covered, version {}",
                dir.display(),
                table.version()
            );
            Code::Ok
        }
        RulesCommand::Table { dir } => {
            let Some(table) = load_table(&dir.unwrap_or_else(default_dir)) else {
                return Code::Error;
            };
            print!("{}", crate::rules::markdown_table(&table));
            Code::Ok
        }
        RulesCommand::Explain { event, rules } => {
            let Some(table) = load_table(&rules.unwrap_or_else(default_dir)) else {
                return Code::Error;
            };
            explain_one(&table, &event)
        }
        RulesCommand::Diff { old, new, events } => {
            let (Some(a), Some(b)) = (load_table(&old), load_table(&new)) else {
                return Code::Error;
            };
            diff(&a, &b, &events)
        }
    }
}

fn explain_one(table: &RoutingTable, event: &Path) -> Code {
    let body = match std::fs::read(event) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {}: {e}", event.display());
            return Code::Invalid;
        }
    };
    match explain::explain(table, &body) {
        Ok(x) => {
            let text = serde_json::to_string_pretty(&x.to_json())
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            println!("{text}");
            match x {
                Explained::Routed(_) => Code::Ok,
                Explained::Rejected { rejection, .. } => {
                    eprintln!("rejected: {}", rejection.code);
                    Code::Refused
                }
            }
        }
        Err(e) => {
            eprintln!("{}: {e} ({})", event.display(), e.code());
            Code::Invalid
        }
    }
}

fn diff(a: &RoutingTable, b: &RoutingTable, events: &Path) -> Code {
    match explain::diff(a, b, events) {
        Ok(explain::DiffReport {
            changes,
            compared,
            malformed,
        }) => {
            for c in &changes {
                println!("{}", display_name(&c.file));
                for d in &c.differences {
                    println!("  {d}");
                }
            }
            for (f, e) in &malformed {
                eprintln!("{}: skipped, not a valid event: {e}", display_name(f));
            }
            println!(
                "{} of {compared} events would be routed differently",
                changes.len()
            );
            Code::Ok
        }
        Err(e) => {
            eprintln!("cannot read {}: {e}", events.display());
            Code::Error
        }
    }
}
