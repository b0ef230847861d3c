//! The `dokflyt-dev` command line: `demo`, `bench …` and `faults`, developer tools beside
//! the product's `dokflyt` binary (which has neither).
//!
//! Input: the arguments and the same settings as `dokflyt` (defaults, then
//! `--config` / `DOKFLYT_CONFIG` or ./dokflyt.toml, then `DOKFLYT_SECTION__KEY`).
//! Output: the demo's report and a running dokflyt, or a benchmark's figures on
//! stdout. Failure: an error is printed and the exit code is 1.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dokflyt::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "dokflyt-dev",
    version,
    about = "dokflyt's developer tools: the demo, the benchmarks and the fault suite (never shipped)"
)]
pub struct Cli {
    /// Configuration file (TOML), as for `dokflyt`. Default: ./dokflyt.toml if present.
    #[arg(long, global = true, env = "DOKFLYT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The worker and the HTTP server (as `dokflyt serve`), fed with the example events.
    ///
    /// Publishes the examples against local stand-ins (archive, SvarUt, SMS gateway,
    /// sign-in), prints what happened to each, and keeps serving until Ctrl-C.
    /// Allows the development API token on any address.
    Demo,
    /// Benchmarks that print throughput and a ratio against a baseline.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The fault-injection suite: the real `dokflyt` binary under crashes and
    /// kills, one line of counts per scenario (lost, duplicated, unexpected,
    /// dead-lettered, recovered). Exits non-zero when a scenario does not hold.
    Faults {
        /// One scenario (2: crash points, 8: two transfer runs, 1: random kill -9,
        /// 6: malformed input, 5: the archive misbehaving).
        /// Default: every built scenario.
        #[arg(long)]
        scenario: Option<u32>,
        /// The seed of the random schedule (printed; replays a run). Default: the clock.
        #[arg(long)]
        seed: Option<u64>,
        /// The full sizes (20 fires per crash point, 10,000 events and 25 kills)
        /// instead of the reduced ones CI runs.
        #[arg(long)]
        full: bool,
        /// The `dokflyt` binary. Default: the one beside `dokflyt-dev`.
        #[arg(long, env = "DOKFLYT_FAULTS_BIN", value_name = "FILE")]
        bin: Option<PathBuf>,
    },
}

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

/// The binary's `main`: parse, run, print any error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("feil: kan ikke starte: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // The spans still queued go out before the process ends (outside the runtime).
    dokflyt::telemetry::shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feil: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The same logs and spans as `dokflyt` (`DOKFLYT_LOG`, `DOKFLYT_LOG_FORMAT=json`).
fn init_tracing() {
    let _ = dokflyt::telemetry::init(std::io::stderr, std::io::stderr().is_terminal());
}

/// The settings as `dokflyt` loads them: the TLS trust installed and the span
/// export started, as for any product command.
fn load_settings(file: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    let settings = Settings::load(file)?;
    let trust = dokflyt::tls::install(&settings.tls)?;
    dokflyt::telemetry::export(&settings.tracing, &trust)?;
    Ok(settings)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = load_settings(cli.config.as_deref())?;
    match cli.command {
        Command::Demo => crate::demo::serve(settings).await,
        Command::Faults {
            scenario,
            seed,
            full,
            bin,
        } => {
            let bin = match bin {
                Some(b) => b,
                None => std::env::current_exe()?.with_file_name("dokflyt"),
            };
            crate::faults::run(settings, scenario, seed, full, &bin).await
        }
        Command::Bench(BenchCommand::Sms { recipients }) => {
            crate::bench::sms::run(settings, recipients).await
        }
        Command::Bench(BenchCommand::Pipeline { events }) => {
            crate::bench::pipeline::pipeline(settings, events).await
        }
        Command::Bench(BenchCommand::Archive { documents }) => {
            crate::bench::archive::archive(settings, documents).await
        }
        Command::Bench(BenchCommand::Render {
            n,
            templates,
            rules,
        }) => {
            let templates = templates.unwrap_or_else(|| settings.paths.templates_dir.clone());
            let rules = rules.unwrap_or_else(|| settings.paths.rules_dir.clone());
            // CPU-bound and synchronous: off the async runtime.
            tokio::task::spawn_blocking(move || {
                crate::bench::render::run(&templates, &rules, n, &mut std::io::stdout())
            })
            .await?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_offers_the_demo_and_every_benchmark() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["dokflyt-dev", "demo"]).expect("demo");
        assert!(matches!(cli.command, Command::Demo));
        for b in ["pipeline", "archive", "render", "sms"] {
            let cli = Cli::try_parse_from(["dokflyt-dev", "bench", b]).expect(b);
            assert!(matches!(cli.command, Command::Bench(_)), "{b}");
        }
    }
}
