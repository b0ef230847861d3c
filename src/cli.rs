//! The command line: `dokflyt serve | publish | status | render | bench | clients ...`.
//!
//! Thin: each command builds what it needs from [`Settings`] and calls into the
//! library. Errors are reported with `anyhow` context at this top level only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::{install_signal_handlers, App};
use crate::broker::{self, Topology};
use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "dokflyt",
    version,
    about = "Routes and archives school documents"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: $DOKFLYT_CONFIG, or ./dokflyt.toml if present.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker and the HTTP server until SIGTERM or Ctrl-C.
    Serve {
        /// Publish the example events at start and print what happened to each.
        #[arg(long)]
        demo: bool,
    },
    /// Publish event files to the events exchange, with publisher confirms.
    Publish {
        /// Event files (JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Counts per pipeline stage and per archive status (klar, arkivert, feilet).
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Render one event to a PDF without the broker or the database: validate,
    /// route with the table, render. Prints pages and SHA-256.
    /// Exit 0 rendered, 1 template or render error, 2 malformed event, 3 rejected.
    Render {
        /// The event (JSON).
        event: PathBuf,
        /// Where to write the PDF.
        #[arg(short, long)]
        output: PathBuf,
        /// Routing rules directory. Default: the configured one.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Templates directory. Default: the configured one.
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Also print the letter markup (the template's output, before layout).
        #[arg(long)]
        markup: bool,
        /// The written standard, `nb` or `nn`, instead of the one configured
        /// for the event's municipality and school (`[letters]`).
        #[arg(long, value_parser = ["nb", "nn"])]
        language: Option<String>,
    },
    /// Benchmarks that print throughput and a ratio against a baseline.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Check or print the routing table.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The transfer to the archive.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Contact information: who cannot be reached on which channel.
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// Schools: principals (case owners of the school folders).
    #[command(subcommand)]
    Schools(SchoolsCommand),
    /// Emergency SMS: segment counter and cost ledger.
    #[command(subcommand)]
    Sms(SmsCommand),
    /// The roster (schools, pupils, guardians, staff).
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Broker accounts: the producer and worker users and their permissions.
    #[command(subcommand)]
    Broker(crate::cli_person::BrokerCommand),
    /// Person assertions: the key a registered client signs them with.
    #[command(subcommand)]
    PersonAssertion(crate::cli_person::PersonAssertionCommand),
    /// Registered API clients: add, list, rotate, revoke.
    #[command(subcommand)]
    Clients(crate::cli_clients::ClientsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Pupils, guardians and staff of a school with no mobile, no email or no
    /// digital mailbox, per class (check before a mass message).
    Gaps {
        #[arg(long)]
        school: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchoolsCommand {
    /// Record a school's principal from a date: the case owner (saksansvarlig) of its
    /// folders from then on. Change it the same day in the archive.
    SetPrincipal {
        school: String,
        /// The principal's initials, identical to their user in the archive.
        #[arg(long)]
        initials: String,
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: chrono::NaiveDate,
    },
}

#[derive(Debug, Subcommand)]
pub enum SmsCommand {
    /// Print {"encoding","characters","segments"} for TEXT as a GSM network counts it.
    Count { text: String },
    /// The cost ledger of one school for one month (JSON).
    Costs {
        #[arg(long)]
        school: String,
        /// YYYY-MM
        #[arg(long)]
        month: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Load roster events from a JSON Lines file (one roster event per line), with a
    /// progress bar. Exit 0 when every line applied (or was stale), 1 otherwise.
    Import {
        file: PathBuf,
        /// Changes applied at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Transfer every document in status klar now, to the configured archive.
    RunNow {
        /// Write an offline package into PATH instead (<PATH>/<event_id>/arkivmelding.xml + PDF).
        #[arg(long, value_name = "PATH")]
        to_directory: Option<PathBuf>,
    },
    /// The school-year rollover (also automatic on 30 June): report every document of
    /// the closing year that is not arkivert, close the old school folders, create
    /// the new ones in the archive and record their case numbers.
    Rollover {
        /// The new school year, e.g. 2026/2027.
        #[arg(long)]
        school_year: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The 25 January / 25 June deadlines of the optional types, per school.
    Deadlines {
        #[arg(long)]
        school: Option<String>,
        /// Default: the current school year.
        #[arg(long)]
        school_year: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate a routing-rules directory; exit 1 with every error (file:line: rule).
    Check {
        /// Default: the configured rules directory.
        dir: Option<PathBuf>,
    },
    /// Print the whole table as Markdown, to compare with docs/domain.md §8.
    Table { dir: Option<PathBuf> },
    /// Print the decision for one event as JSON. Exit 0 routed, 3 rejected, 2 malformed.
    Explain {
        event: PathBuf,
        /// Default: the configured rules directory.
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Replay events through two tables and list every decision that changes.
    Diff {
        old: PathBuf,
        new: PathBuf,
        #[arg(long)]
        events: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Seconds from the send call to every SMS accepted by a local gateway stand-in,
    /// against direct posts to the same stand-in (no database, no broker).
    Sms {
        #[arg(long, default_value_t = 5000)]
        recipients: usize,
    },
    /// Documents/s through consume → route → render → commit → ack, against the
    /// bare broker rate (consume + ack of the same messages) in the same run.
    Pipeline {
        #[arg(long, default_value_t = 5000)]
        events: usize,
    },
    /// Documents/s moved klar → arkivert to a local archive stand-in, against the
    /// bare HTTP round trips to the same stand-in in the same run.
    Archive {
        #[arg(long, default_value_t = 100_000)]
        documents: usize,
    },
    /// ms/page for a one-page letter and a 20-page report, and the ratio against
    /// typst (if its Python module is installed) on the same letter.
    Render {
        /// Renders of each document.
        #[arg(long, default_value_t = 200)]
        n: usize,
        /// Templates directory. Default: the configured one.
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Routing rules directory. Default: the configured one.
        #[arg(long)]
        rules: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    // Logs and spans (flushed when `_telemetry` drops, as `run` ends), and what
    // every TLS connection trusts: both refuse to start on a bad setting.
    let trust = crate::tls::install(&settings.tls)?;
    let _telemetry = crate::telemetry::init(&settings.tracing, &trust)?;
    match cli.command {
        Command::Rules(cmd) => Ok(rules(&settings, cmd)),
        Command::Render {
            event,
            output,
            rules,
            templates,
            markup,
            language,
        } => {
            let mut letters = settings.letters.clone();
            if let Some(code) = language {
                // Every municipality and school: this language.
                let language = if code == "nn" {
                    crate::config::letters::Language::Nynorsk
                } else {
                    crate::config::letters::Language::Bokmal
                };
                letters.language = language;
                for o in letters
                    .municipalities
                    .values_mut()
                    .chain(letters.schools.values_mut())
                {
                    o.language = None;
                }
            }
            Ok(render(
                &event,
                &output,
                &rules.unwrap_or_else(|| settings.paths.rules_dir.clone()),
                &templates.unwrap_or_else(|| settings.paths.templates_dir.clone()),
                markup,
                letters,
            ))
        }
        Command::Serve { demo } => serve(settings, demo).await,
        Command::Clients(cmd) => {
            let pool = crate::db::connect_and_migrate(&settings.database).await?;
            let overlap = std::time::Duration::from_secs(settings.http.rotation_overlap_secs);
            crate::cli_clients::run(&pool, overlap, cmd, &mut std::io::stdout()).await
        }
        Command::Publish { files } => publish(&settings, &files).await,
        Command::Status { json } => status(&settings, json).await,
        Command::Bench(BenchCommand::Render {
            n,
            templates,
            rules,
        }) => {
            let templates = templates.unwrap_or_else(|| settings.paths.templates_dir.clone());
            let rules = rules.unwrap_or_else(|| settings.paths.rules_dir.clone());
            // CPU-bound and synchronous: off the async runtime.
            tokio::task::spawn_blocking(move || crate::bench_render::run(&templates, &rules, n))
                .await??;
            Ok(ExitCode::SUCCESS)
        }
        Command::Archive(ArchiveCommand::RunNow { to_directory }) => {
            archive_run_now(&settings, to_directory.as_deref()).await
        }
        Command::Archive(ArchiveCommand::Rollover { school_year, json }) => {
            archive_rollover(&settings, &school_year, json).await
        }
        Command::Archive(ArchiveCommand::Deadlines {
            school,
            school_year,
            json,
        }) => archive_deadlines(&settings, school.as_deref(), school_year.as_deref(), json).await,
        Command::Contacts(ContactsCommand::Gaps { school, json }) => {
            let pool = crate::db::connect_and_migrate(&settings.database).await?;
            let r = crate::roster::gaps::report(&pool, &school).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("Kontaktinformasjon som mangler, {}", r.school_id);
                println!(
                    "  {:<14} {:>6} {:>9} {:>11} {:>10} {:>17}",
                    "klasse",
                    "elever",
                    "foresatte",
                    "uten mobil",
                    "uten epost",
                    "uten digital post"
                );
                for c in &r.classes {
                    println!(
                        "  {:<14} {:>6} {:>9} {:>11} {:>10} {:>17}",
                        c.class,
                        c.pupils,
                        c.guardians,
                        c.no_mobile,
                        c.no_email,
                        c.no_digital_mailbox
                    );
                }
                println!("  ansatte uten mobil: {}", r.staff_without_mobile);
                println!(
                    "  ({} personer med mangler; --json lister dem)",
                    r.gaps.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schools(SchoolsCommand::SetPrincipal {
            school,
            initials,
            from,
        }) => {
            use crate::archive::folders;
            let pool = crate::db::connect_and_migrate(&settings.database).await?;
            let today = crate::calendar::today_in_oslo();
            let actor = crate::access::Actor::cli();
            match folders::set_principal(&pool, &actor, &school, &initials, from, today).await {
                Ok(n) => {
                    println!(
                        "Rektor for {school} fra {from}: {}. Åpne skolemapper oppdatert: {n}.",
                        folders::normalise_initials(&initials)?
                    );
                    println!("Husk å endre saksansvarlig i arkivet samme dag.");
                    Ok(ExitCode::SUCCESS)
                }
                Err(folders::FolderError::Invalid(m)) => {
                    eprintln!("{m}");
                    Ok(ExitCode::from(2))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Bench(BenchCommand::Archive { documents }) => {
            crate::bench_archive::archive(settings, documents).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Broker(cmd) => crate::cli_person::run_broker(&settings, cmd),
        Command::PersonAssertion(cmd) => {
            crate::cli_person::run_person_assertion(&settings, cmd).await
        }
        Command::Sms(SmsCommand::Count { text }) => {
            println!(
                "{}",
                serde_json::to_string(&crate::sms::segments::count(&text))?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sms(SmsCommand::Costs { school, month }) => {
            let pool = crate::db::connect_and_migrate(&settings.database).await?;
            let report = crate::sms::cost::month_report(&pool, &school, &month)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Roster(RosterCommand::Import { file, concurrency }) => {
            let pool = crate::db::connect_and_migrate(&settings.database).await?;
            let summary = crate::roster::import::import_file(&pool, &file, concurrency, true)
                .await
                .with_context(|| format!("importing {}", file.display()))?;
            for (line, reason) in &summary.errors {
                eprintln!("{}:{line}: {reason}", file.display());
            }
            println!("{}", serde_json::to_string(&summary)?);
            Ok(if summary.rejected == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Bench(BenchCommand::Sms { recipients }) => {
            crate::sms::bench::run(settings, recipients).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Pipeline { events }) => {
            crate::bench::pipeline(settings, events).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(mut settings: Settings, demo: bool) -> anyhow::Result<ExitCode> {
    if demo {
        // The development token is allowed on any address only for the demo.
        settings.http.demo_mode = true;
        // No archive on this machine: the demo archives into an offline package.
        settings.archive.target = crate::config::ArchiveTarget::Directory;
        settings.archive.directory = PathBuf::from("out/demo/arkiv");
    }
    // The demo's local stand-ins (SvarUt) live as long as the server.
    let (settings, demo_services) = if demo {
        let (s, d) = crate::demo::prepare(settings).await?;
        (s, Some(d))
    } else {
        (settings, None)
    };
    tracing::info!(
        amqp = %settings.amqp.url.redacted_url(),
        database = %settings.database.url.redacted_url(),
        http = %settings.http.addr,
        "starting dokflyt"
    );
    let mut app = App::build(settings).await?;
    let addr = app.http_addr()?;
    tracing::info!(%addr, "HTTP server listening (/healthz, /readyz, /api/status)");
    let shutdown = CancellationToken::new();
    install_signal_handlers(shutdown.clone(), app.ctx.rules.clone());
    if let Some(services) = &demo_services {
        // The demo's archive refuses a few documents once (the scheduler, the API's
        // and the dashboard's run-now use it too); the SMS gateway reports deliveries here.
        app.archive = crate::demo::archive_target(&app.settings, app.ctx.pool.clone());
        services.sms.report_to(addr);
        let ctx = app.ctx.clone();
        let settings = app.settings.clone();
        let archive = app.archive.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::demo::run(&settings, &ctx.pool, addr, archive).await {
                eprintln!("demo failed: {e:#}");
            }
        });
    }
    app.run_until_stopped(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

fn load_table(dir: &Path) -> Option<crate::rules::RoutingTable> {
    match crate::rules::RoutingTable::load_dir(dir) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("the routing table in {} is invalid", dir.display());
            None
        }
    }
}

fn rules(settings: &Settings, cmd: RulesCommand) -> ExitCode {
    use crate::rules::explain::{self, Explained};
    let default_dir = || settings.paths.rules_dir.clone();
    match cmd {
        RulesCommand::Check { dir } => {
            let dir = dir.unwrap_or_else(default_dir);
            let Some(table) = load_table(&dir) else {
                return ExitCode::FAILURE;
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
            ExitCode::SUCCESS
        }
        RulesCommand::Table { dir } => {
            let Some(table) = load_table(&dir.unwrap_or_else(default_dir)) else {
                return ExitCode::FAILURE;
            };
            print!("{}", crate::rules::markdown_table(&table));
            ExitCode::SUCCESS
        }
        RulesCommand::Explain { event, rules } => {
            let Some(table) = load_table(&rules.unwrap_or_else(default_dir)) else {
                return ExitCode::FAILURE;
            };
            let body = match std::fs::read(&event) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("cannot read {}: {e}", event.display());
                    return ExitCode::from(2);
                }
            };
            match explain::explain(&table, &body) {
                Ok(x) => {
                    let text = serde_json::to_string_pretty(&x.to_json())
                        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
                    println!("{text}");
                    match x {
                        Explained::Routed(_) => ExitCode::SUCCESS,
                        Explained::Rejected { rejection, .. } => {
                            eprintln!("rejected: {}", rejection.code);
                            ExitCode::from(3)
                        }
                    }
                }
                Err(e) => {
                    eprintln!("{}: {e} ({})", event.display(), e.code());
                    ExitCode::from(2)
                }
            }
        }
        RulesCommand::Diff { old, new, events } => {
            let (Some(a), Some(b)) = (load_table(&old), load_table(&new)) else {
                return ExitCode::FAILURE;
            };
            match explain::diff(&a, &b, &events) {
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
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot read {}: {e}", events.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `dokflyt render`: the template author's loop.
fn render(
    event: &Path,
    output: &Path,
    rules_dir: &Path,
    templates_dir: &Path,
    show_markup: bool,
    letters: crate::config::letters::LetterSettings,
) -> ExitCode {
    let Some(table) = load_table(rules_dir) else {
        return ExitCode::FAILURE;
    };
    let renderer = match crate::render::Renderer::load_with(templates_dir, letters) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("the templates in {} do not load:", templates_dir.display());
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let body = match std::fs::read(event) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {}: {e}", event.display());
            return ExitCode::from(2);
        }
    };
    let crate::pipeline::Reproduced { routed, pdf } =
        match crate::pipeline::reproduce(&body, &table, &renderer) {
            Ok(r) => r,
            Err(crate::pipeline::ReproduceError::Invalid(e)) => {
                eprintln!("{}: {e} ({})", event.display(), e.code());
                return ExitCode::from(2);
            }
            Err(crate::pipeline::ReproduceError::Rejected(rejection)) => {
                eprintln!(
                    "{}: rejected by the routing table: {} ({})",
                    event.display(),
                    rejection.reason,
                    rejection.code
                );
                return ExitCode::from(3);
            }
            Err(crate::pipeline::ReproduceError::Render(e)) => {
                eprintln!("{}: {e}", event.display());
                return ExitCode::FAILURE;
            }
        };
    if let Err(e) = std::fs::write(output, &pdf.bytes) {
        eprintln!("cannot write {}: {e}", output.display());
        return ExitCode::FAILURE;
    }
    let d = routed.decision();
    println!(
        "{}: {} page(s), {} bytes, sha256 {}",
        output.display(),
        pdf.pages,
        pdf.bytes.len(),
        pdf.sha256
    );
    println!(
        "  {} via rule {}: channel {}, archived {}",
        d.document_type.key(),
        d.rule,
        serde_json::to_string(&d.channel)
            .unwrap_or_default()
            .trim_matches('"'),
        d.archived
    );
    if !routed.needs_pdf() {
        println!("  note: the pipeline makes no PDF for this routing (message only, not archived)");
    }
    if show_markup {
        match renderer.render_markup(&routed) {
            Ok(text) => {
                println!("--- markup ---");
                print!("{text}");
            }
            Err(e) => {
                eprintln!("{}: {e}", event.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

async fn publish(settings: &Settings, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let conn = broker::connect(settings.amqp.url.expose(), settings.amqp.heartbeat_secs)
        .await
        .with_context(|| format!("cannot connect to {}", settings.amqp.url.redacted_url()))?;
    let channel = broker::confirm_channel(&conn).await?;
    let topology = Topology::new(&settings.amqp.prefix, settings.amqp.delivery_limit);
    topology.declare(&channel).await?;
    for file in files {
        let body =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let key = broker::publish_event(&channel, &topology, &body)
            .await
            .with_context(|| format!("publishing {}", file.display()))?;
        println!("published {} ({key}), confirmed", display_name(file));
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(ExitCode::SUCCESS)
}

fn display_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

async fn archive_run_now(
    settings: &Settings,
    to_directory: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use crate::archive::{client, transfer};
    let pool = crate::db::connect_and_migrate(&settings.database).await?;
    let client = client::from_settings(&settings.archive, to_directory)
        .context("cannot set up the archive client")?;
    let target = match to_directory {
        Some(d) => d.display().to_string(),
        None if settings.archive.target == crate::config::ArchiveTarget::Directory => {
            settings.archive.directory.display().to_string()
        }
        None => settings.archive.url.redacted_url(),
    };
    println!("Overfører alle dokumenter med status klar til {target} ...");
    let opts = transfer::TransferOptions::from_settings(&settings.archive);
    let transfer_pool = crate::db::transfer_pool(&settings.database)?;
    let s = crate::archive::schedule::run_and_log(
        &transfer_pool,
        client,
        &opts,
        crate::archive::schedule::RunKind::RunNow,
        None,
        &crate::archive::schedule::SystemClock,
    )
    .await?;
    println!("  arkivert {:>8}", s.arkivert);
    println!("  feilet   {:>8}", s.feilet);
    println!("  forsøk   {:>8}", s.attempts);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM archive_queue WHERE status = 'klar'")
        .fetch_one(&pool)
        .await?;
    println!("  klar     {left:>8}");
    if s.stopped_for_outage {
        println!(
            "Overføringen stoppet: arkivet svarer ikke. Dokumentene som står igjen har status \
             klar og sendes ved neste overføring."
        );
    }
    if s.lost_claims > 0 {
        println!("  overtatt av en annen overføring {:>8}", s.lost_claims);
    }
    Ok(if s.feilet > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

async fn status(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect_and_migrate(&settings.database).await?;
    let c = crate::db::status::counts(&pool).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Pipeline");
    println!(
        "  events accepted (validated, routed, committed) {:>8}",
        c.events
    );
    println!(
        "  documents rendered to PDF                      {:>8}",
        c.rendered
    );
    println!(
        "  deliveries planned, not yet sent               {:>8}",
        c.deliveries_planned
    );
    let dead: i64 = c.dead_lettered.iter().map(|(_, n)| n).sum();
    println!(
        "  dead-lettered                                  {:>8}",
        dead
    );
    for (code, n) in &c.dead_lettered {
        println!("    {code:<44} {n:>8}");
    }
    println!("Archive queue");
    println!("  klar     {:>8}", c.klar);
    println!("  arkivert {:>8}", c.arkivert);
    println!("  feilet   {:>8}", c.feilet);
    Ok(ExitCode::SUCCESS)
}

async fn archive_rollover(
    settings: &Settings,
    school_year: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use crate::archive::{client, folders, transfer};
    let year = match folders::parse_school_year(school_year) {
        Ok(y) => y,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let pool = crate::db::connect_and_migrate(&settings.database).await?;
    let client = client::from_settings(&settings.archive, None)
        .context("cannot set up the archive client")?;
    let opts = transfer::TransferOptions::from_settings(&settings.archive);
    let actor = crate::access::Actor::cli();
    let r = folders::rollover(&pool, client.as_ref(), &opts.build, &actor, year).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("Skoleårsskifte {} → {}", r.closing_year, r.new_year);
        println!();
        println!(
            "Dokumenter fra {} som ikke er arkivert: {}",
            r.closing_year,
            r.not_archived.len()
        );
        for d in &r.not_archived {
            println!(
                "  {:<28} {:<32} {:<8} {}",
                d.school_id, d.document_type, d.status, d.event_id
            );
        }
        println!();
        println!(
            "Skolemapper {} lukket i dokflyt: {}",
            r.closing_year,
            r.closed.len()
        );
        if !r.closed.is_empty() {
            println!("  (avslutt sakene i arkivet også: {})", r.closed.join(", "));
        }
        println!();
        println!("Nye skolemapper {}:", r.new_year);
        for f in &r.folders {
            let owner = f
                .case_owner
                .as_deref()
                .unwrap_or("(ingen rektor registrert)");
            match (&f.failed, &f.case_number) {
                (Some(why), _) => println!("  {:<28} FEILET: {why}", f.school_id),
                (None, Some(n)) => println!(
                    "  {:<28} saksnummer {n}{}  saksansvarlig {owner}",
                    f.school_id,
                    if f.existing { " (fantes fra før)" } else { "" }
                ),
                (None, None) => println!(
                    "  {:<28} skrevet til arkivpakke (saksnummer settes ved import)  saksansvarlig {owner}",
                    f.school_id
                ),
            }
        }
    }
    let failed = r.folders.iter().any(|f| f.failed.is_some());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn archive_deadlines(
    settings: &Settings,
    school: Option<&str>,
    school_year: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use crate::archive::{deadlines, folders};
    let today = crate::calendar::today_in_oslo();
    let year = match folders::school_year_or_current(school_year, today) {
        Ok(y) => y,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let pool = crate::db::connect_and_migrate(&settings.database).await?;
    let rows = deadlines::report(&pool, year, school, today).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Arkivfrister {}/{} (valgfrie dokumenttyper)",
        year.0, year.1
    );
    let mut last = None;
    for r in &rows {
        let head = (r.school_id.clone(), r.deadline);
        if last.as_ref() != Some(&head) {
            println!();
            println!(
                "{}  frist {}{}",
                r.school_id,
                r.deadline.format("%d.%m.%Y"),
                if r.passed { " (passert)" } else { "" }
            );
            println!(
                "  {:<26} {:>6} {:>9} {:>7}",
                "dokumenttype", "klar", "arkivert", "feilet"
            );
            last = Some(head);
        }
        println!(
            "  {:<26} {:>6} {:>9} {:>7}   {}",
            r.document_type, r.klar, r.arkivert, r.feilet, r.note
        );
        if let Some(m) = r.missing.as_ref().filter(|m| !m.is_empty()) {
            let shown: Vec<&str> = m.iter().take(10).map(String::as_str).collect();
            println!(
                "    mangler for {} elev(er): {}{}",
                m.len(),
                shown.join(", "),
                if m.len() > shown.len() { ", …" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
