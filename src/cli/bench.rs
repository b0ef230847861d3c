//! `dokflyt bench …` (developer tool, hidden from `--help`; `dokflyt bench
//! --help` lists them): throughput benchmarks that print a ratio against a
//! baseline measured in the same run.
//!
//! Input: the settings (each benchmark creates and drops its own database and
//! queue prefix, or uses none). Output: figures on stdout. Failure: an error
//! (exit 1). Hidden because they start local stand-ins and `python3`, and create
//! and drop databases — nothing for the staff.

use std::path::PathBuf;

use clap::Subcommand;

use super::exit::Code;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Seconds from the send call to every SMS accepted by a local gateway stand-in,
    /// against direct posts to the same stand-in (no database, no broker).
    Sms {
        /// Recipients of the one emergency SMS.
        #[arg(long, default_value_t = 5000)]
        recipients: usize,
    },
    /// Documents/s through consume → route → render → commit → ack, against the
    /// bare broker rate (consume + ack of the same messages) in the same run.
    Pipeline {
        /// Events published and processed.
        #[arg(long, default_value_t = 5000)]
        events: usize,
    },
    /// Documents/s moved klar → arkivert to a local archive stand-in, against the
    /// bare HTTP round trips to the same stand-in in the same run.
    Archive {
        /// Documents queued klar and transferred.
        #[arg(long, default_value_t = 100_000)]
        documents: usize,
    },
    /// ms/page for a one-page letter and a 20-page report, and the ratio against
    /// typst (if its Python module is installed) on the same letter.
    Render {
        /// Renders of each document.
        #[arg(long, default_value_t = 200)]
        n: usize,
        /// Templates directory. Default: the configured one (`paths.templates_dir`).
        #[arg(long, value_name = "DIR", env = "DOKFLYT_PATHS__TEMPLATES_DIR")]
        templates: Option<PathBuf>,
        /// Routing rules directory. Default: the configured one (`paths.rules_dir`).
        #[arg(long, value_name = "DIR", env = "DOKFLYT_PATHS__RULES_DIR")]
        rules: Option<PathBuf>,
    },
}

pub async fn run(settings: Settings, cmd: BenchCommand) -> anyhow::Result<Code> {
    match cmd {
        BenchCommand::Sms { recipients } => crate::sms::bench::run(settings, recipients).await?,
        BenchCommand::Pipeline { events } => crate::bench::pipeline(settings, events).await?,
        BenchCommand::Archive { documents } => {
            crate::bench_archive::archive(settings, documents).await?
        }
        BenchCommand::Render {
            n,
            templates,
            rules,
        } => {
            let templates = templates.unwrap_or_else(|| settings.paths.templates_dir.clone());
            let rules = rules.unwrap_or_else(|| settings.paths.rules_dir.clone());
            // CPU-bound and synchronous: off the async runtime.
            tokio::task::spawn_blocking(move || crate::bench_render::run(&templates, &rules, n))
                .await??;
        }
    }
    Ok(Code::Ok)
}
