//! `dokflyt archive run-now | rollover | deadlines`: the transfer to the archive,
//! the school-year rollover, and the deadlines of the optional types.
//!
//! Input: the database (migrated by `run-now` and `rollover`, which write; read
//! only for `deadlines`), the archive client from `[archive]`. Output: bokmål on
//! stdout (`--json` for rollover and deadlines), progress on stderr while a
//! transfer or a rollover runs ([`super::progress`]). Failure: documents ending
//! `feilet` are exit 3, a school folder not created exit 1, a malformed school
//! year exit 2; the database or the archive client failing is an error.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use super::exit::{Code, Exit};
use super::{database, progress};
use crate::archive::{client, deadlines, folders, schedule, transfer};
use crate::config::Settings;
use crate::progress::Progress;

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Transfer every document in status klar now, to the configured archive.
    ///
    /// Shows progress on stderr. Exit 3 if any document ended feilet.
    RunNow {
        /// Write an offline package into PATH instead (<PATH>/<event_id>/arkivmelding.xml + PDF).
        #[arg(long, value_name = "PATH")]
        to_directory: Option<PathBuf>,
    },
    /// The school-year rollover (also automatic on 30 June).
    ///
    /// Reports every document of the closing year that is not arkivert, closes the
    /// old school folders, creates the new ones in the archive and records their
    /// case numbers. Exit 1 if a school's folder could not be created (running it
    /// again is safe).
    Rollover {
        /// The new school year, e.g. 2026/2027.
        #[arg(long, value_name = "YYYY/YYYY")]
        school_year: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The 25 January / 25 June deadlines of the optional types, per school.
    ///
    /// What is klar, arkivert and feilet, and which pupils still lack a document.
    Deadlines {
        /// Only this school (its id). Default: every school.
        #[arg(long, value_name = "SCHOOL_ID")]
        school: Option<String>,
        /// The school year, e.g. 2026/2027. Default: the current school year.
        #[arg(long, value_name = "YYYY/YYYY")]
        school_year: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(settings: &Settings, cmd: ArchiveCommand) -> anyhow::Result<Code> {
    match cmd {
        ArchiveCommand::RunNow { to_directory } => run_now(settings, to_directory.as_deref()).await,
        ArchiveCommand::Rollover { school_year, json } => {
            rollover(settings, &school_year, json).await
        }
        ArchiveCommand::Deadlines {
            school,
            school_year,
            json,
        } => deadlines(settings, school.as_deref(), school_year.as_deref(), json).await,
    }
}

async fn run_now(settings: &Settings, to_directory: Option<&Path>) -> anyhow::Result<Code> {
    let pool = database::migrated(settings).await?;
    let client = client::from_settings(&settings.archive, to_directory)
        .context("kan ikke sette opp arkivklienten")?;
    let target = match to_directory {
        Some(d) => d.display().to_string(),
        None if settings.archive.target == crate::config::ArchiveTarget::Directory => {
            settings.archive.directory.display().to_string()
        }
        None => settings.archive.url.redacted_url(),
    };
    println!("Overfører alle dokumenter med status klar til {target} ...");
    let klar =
        || sqlx::query_scalar::<_, i64>("SELECT count(*) FROM archive_queue WHERE status = 'klar'");
    let shown = progress::start("archive run-now", "arkiverer");
    shown.set_total(klar().fetch_one(&pool).await?.max(0) as u64);
    let mut opts = transfer::TransferOptions::from_settings(&settings.archive);
    opts.progress = shown.clone();
    let transfer_pool = crate::db::transfer_pool(&settings.database)?;
    let s = schedule::run_and_log(
        &transfer_pool,
        client,
        &opts,
        schedule::RunKind::RunNow,
        None,
        &schedule::SystemClock,
    )
    .await;
    shown.finish();
    let s = s?;
    println!("  arkivert {:>8}", s.arkivert);
    println!("  feilet   {:>8}", s.feilet);
    println!("  forsøk   {:>8}", s.attempts);
    println!("  klar     {:>8}", klar().fetch_one(&pool).await?);
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
        Code::Refused
    } else {
        Code::Ok
    })
}

async fn rollover(settings: &Settings, school_year: &str, json: bool) -> anyhow::Result<Code> {
    let year = folders::parse_school_year(school_year)
        .map_err(|e| Exit::with(Code::Invalid, e.to_string()))?;
    let pool = database::migrated(settings).await?;
    let client = client::from_settings(&settings.archive, None)
        .context("kan ikke sette opp arkivklienten")?;
    let opts = transfer::TransferOptions::from_settings(&settings.archive);
    let actor = crate::access::Actor::cli();
    let shown = progress::start("archive rollover", "skolemapper");
    let r = folders::rollover_with_progress(
        &pool,
        client.as_ref(),
        &opts.build,
        &actor,
        year,
        shown.as_ref(),
    )
    .await;
    shown.finish();
    let r = r?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_rollover(&r);
    }
    let failed = r.folders.iter().any(|f| f.failed.is_some());
    Ok(if failed { Code::Error } else { Code::Ok })
}

fn print_rollover(r: &folders::RolloverReport) {
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

async fn deadlines(
    settings: &Settings,
    school: Option<&str>,
    school_year: Option<&str>,
    json: bool,
) -> anyhow::Result<Code> {
    let today = crate::calendar::today_in_oslo();
    let year = folders::school_year_or_current(school_year, today)
        .map_err(|e| Exit::with(Code::Invalid, e.to_string()))?;
    let pool = database::current(settings).await?;
    let rows = deadlines::report(&pool, year, school, today).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Code::Ok);
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
    Ok(Code::Ok)
}
