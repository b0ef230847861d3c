//! The command line: `dokflyt <command>`, one file per command group.
//!
//! Stage: none — the door for operators and staff beside `serve`. Input: the
//! arguments (clap; every one documented, env names shown) and the settings
//! (defaults, file, `DOKFLYT_SECTION__KEY`). Output: text for people on stdout in
//! bokmål, `--json` for machines, and an exit code from [`exit::Code`] — one
//! table, shown in `--help` and README. Failure: a command returns an `anyhow`
//! error (exit 1) or an [`exit::Exit`] with its own code; [`main`] prints it.
//!
//! Thin: each file builds what its command needs from [`Settings`] and calls
//! into the library. Commands that write migrate the database; read-only ones
//! refuse one that is not migrated ([`database`]). `publish` is a developer tool,
//! runnable but hidden from `--help`; the demo and the benchmarks are not here
//! but in `dokflyt-dev` (`dev/`).

mod archive;
mod broker;
pub mod clients;
mod contacts;
mod database;
mod docs;
pub mod exit;
pub mod help;
mod migrate;
mod person_assertion;
mod progress;
mod publish;
mod render;
mod roster;
mod rules;
mod schools;
mod serve;
mod sms;
mod status;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use exit::{Code, Exit};

#[derive(Debug, Parser)]
#[command(
    name = "dokflyt",
    version,
    about = "Routes and archives school documents",
    after_help = help::after_help()
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./dokflyt.toml if present.
    #[arg(long, global = true, env = "DOKFLYT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker and the HTTP server until SIGTERM or Ctrl-C.
    Serve(serve::ServeArgs),
    /// Create the database if missing and apply the migrations; print what was applied.
    Migrate(migrate::MigrateArgs),
    /// Counts per pipeline stage and per archive status (klar, arkivert, feilet).
    Status(status::StatusArgs),
    /// The transfer to the archive, the school-year rollover, the deadlines.
    #[command(subcommand)]
    Archive(archive::ArchiveCommand),
    /// The roster (schools, pupils, guardians, staff).
    #[command(subcommand)]
    Roster(roster::RosterCommand),
    /// Contact information: who cannot be reached on which channel.
    #[command(subcommand)]
    Contacts(contacts::ContactsCommand),
    /// Schools: principals (case owners of the school folders).
    #[command(subcommand)]
    Schools(schools::SchoolsCommand),
    /// Emergency SMS: segment counter and cost ledger.
    #[command(subcommand)]
    Sms(sms::SmsCommand),
    /// Check, print or try out the routing table.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Render one event to a PDF (no broker, no database): the template author's preview.
    ///
    /// Validate, route with the table, render; prints pages and SHA-256.
    /// Exit 0 rendered, 1 template or render error, 2 malformed event, 3 rejected.
    Render(render::RenderArgs),
    /// Registered API clients: add, list, rotate, revoke.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Broker accounts: the producer and worker users and their permissions.
    #[command(subcommand)]
    Broker(broker::BrokerCommand),
    /// Person assertions: the key a registered client signs them with.
    #[command(subcommand)]
    PersonAssertion(person_assertion::PersonAssertionCommand),
    /// Print the man page (roff), or write one page per command into a directory.
    Man(docs::ManArgs),
    /// Print a shell completion script.
    ///
    /// For example `dokflyt completions bash > /etc/bash_completion.d/dokflyt`.
    Completions(docs::CompletionsArgs),
    /// Developer tool: publish event files to the events exchange, with publisher confirms.
    #[command(hide = true)]
    Publish(publish::PublishArgs),
}

/// The binary's `main`: parse, run, print any error, exit with its [`Code`].
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
            return Code::Error.into();
        }
    };
    let result = runtime.block_on(run(cli));
    // The spans still queued go out before the process ends (outside the runtime).
    crate::telemetry::shutdown();
    match result {
        Ok(code) => code.into(),
        Err(e) => match e.downcast_ref::<Exit>() {
            Some(exit) => {
                eprintln!("{}", exit.message);
                exit.code.into()
            }
            None => {
                eprintln!("feil: {e:#}");
                Code::Error.into()
            }
        },
    }
}

fn init_tracing() {
    // Logs and spans: crate::telemetry (the span export starts with the settings).
    let _ = crate::telemetry::init(progress::Stderr, std::io::stderr().is_terminal());
}

/// The settings, and with them what every TLS connection trusts and where spans
/// go: a bad `[tls]` or `[tracing]` stops the command here.
fn load_settings(file: Option<&Path>) -> anyhow::Result<Settings> {
    let settings = Settings::load(file)?;
    let trust = crate::tls::install(&settings.tls)?;
    crate::telemetry::export(&settings.tracing, &trust)?;
    Ok(settings)
}

/// One command, one line: the settings are loaded only by the commands that use them.
async fn run(cli: Cli) -> anyhow::Result<Code> {
    let settings = || load_settings(cli.config.as_deref());
    match cli.command {
        Command::Serve(a) => serve::run(settings()?, a).await,
        Command::Migrate(a) => migrate::run(&settings()?, a).await,
        Command::Status(a) => status::run(&settings()?, a).await,
        Command::Archive(c) => archive::run(&settings()?, c).await,
        Command::Roster(c) => roster::run(&settings()?, c).await,
        Command::Contacts(c) => contacts::run(&settings()?, c).await,
        Command::Schools(c) => schools::run(&settings()?, c).await,
        Command::Sms(c) => sms::run(&settings()?, c).await,
        Command::Rules(c) => Ok(rules::run(&settings()?, c)),
        Command::Render(a) => Ok(render::run(&settings()?, a)),
        Command::Clients(c) => clients::command(&settings()?, c).await,
        Command::Broker(c) => broker::run(&settings()?, c),
        Command::PersonAssertion(c) => person_assertion::run(&settings()?, c).await,
        Command::Man(a) => docs::man(a),
        Command::Completions(a) => docs::completions(a),
        Command::Publish(a) => publish::run(&settings()?, a).await,
    }
}

/// A file's name without its directory, for lines about files.
fn display_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
