//! `dokflyt status`: counts per pipeline stage and per archive status.
//!
//! Input: the database, read only (never migrated: see [`super::database`]).
//! Output: a bokmål table, or with `--json` [`crate::db::status::StatusCounts`]
//! with its field names. Failure: a database that is not migrated is exit 4; a
//! database error is an error.

use clap::Args;

use super::database;
use super::exit::Code;
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON (the field names of /api/status) instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(settings: &Settings, args: StatusArgs) -> anyhow::Result<Code> {
    let pool = database::current(settings).await?;
    let c = crate::db::status::counts(&pool).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(Code::Ok);
    }
    let dead: i64 = c.dead_lettered.iter().map(|(_, n)| n).sum();
    println!("Behandling");
    println!(
        "  hendelser tatt imot (validert, rutet, lagret) {:>8}",
        c.events
    );
    println!(
        "  dokumenter laget som PDF                      {:>8}",
        c.rendered
    );
    println!(
        "  utsendinger planlagt, ikke sendt ennå         {:>8}",
        c.deliveries_planned
    );
    println!("  avvist til feilkøen (dead letter)             {dead:>8}");
    for (code, n) in &c.dead_lettered {
        println!("    {code:<43} {n:>8}");
    }
    println!("Arkivkø");
    println!("  klar     {:>8}", c.klar);
    println!("  arkivert {:>8}", c.arkivert);
    println!("  feilet   {:>8}", c.feilet);
    Ok(Code::Ok)
}
