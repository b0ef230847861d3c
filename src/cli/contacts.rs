//! `dokflyt contacts gaps`: who at a school cannot be reached on which channel.
//!
//! Input: the roster, read only (never migrated). Output: a bokmål table per
//! class, or with `--json` [`crate::roster::gaps`]'s report with every person
//! (ids and what they lack, no names). Failure: a database that is not migrated
//! is exit 4; a database error is an error.

use clap::Subcommand;

use super::database;
use super::exit::Code;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Who at a school has no mobile, no email or no digital mailbox, per class.
    ///
    /// Pupils, guardians and staff; check before a mass message.
    Gaps {
        /// The school (its id in the roster).
        #[arg(long, value_name = "SCHOOL_ID")]
        school: String,
        /// Print JSON, listing every person with a gap (by id), instead of the table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(settings: &Settings, cmd: ContactsCommand) -> anyhow::Result<Code> {
    let ContactsCommand::Gaps { school, json } = cmd;
    let pool = database::current(settings).await?;
    let r = crate::roster::gaps::report(&pool, &school).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(Code::Ok);
    }
    println!("Kontaktinformasjon som mangler, {}", r.school_id);
    println!(
        "  {:<14} {:>6} {:>9} {:>11} {:>10} {:>17}",
        "klasse", "elever", "foresatte", "uten mobil", "uten epost", "uten digital post"
    );
    for c in &r.classes {
        println!(
            "  {:<14} {:>6} {:>9} {:>11} {:>10} {:>17}",
            c.class, c.pupils, c.guardians, c.no_mobile, c.no_email, c.no_digital_mailbox
        );
    }
    println!("  ansatte uten mobil: {}", r.staff_without_mobile);
    println!(
        "  ({} personer med mangler; --json lister dem)",
        r.gaps.len()
    );
    if r.manual.is_empty() {
        println!("  manuelle oppføringer: ingen");
    } else {
        println!("  manuelle oppføringer (ikke fra skolesystemet):");
        for m in &r.manual {
            let kind = match m.kind.as_str() {
                "pupil" => "elev",
                "guardian" => "foresatt",
                _ => "ansatt",
            };
            println!("    {kind} {}", m.id);
        }
    }
    Ok(Code::Ok)
}
