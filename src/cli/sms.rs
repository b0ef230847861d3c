//! `dokflyt sms count | costs`: the segment counter and a school's cost ledger.
//!
//! Input: a text (`count`, no database); the ledger, read only (`costs`, never
//! migrated). Output: `count` prints one JSON object (`encoding`, `characters`,
//! `segments`); `costs` a bokmål table, or with `--json` the month report with
//! its field names. Failure: a month that is not `YYYY-MM` is exit 2; a database
//! that is not migrated exit 4; a database error is an error.

use clap::Subcommand;

use super::database;
use super::exit::Code;
use crate::config::Settings;
use crate::sms::cost;

#[derive(Debug, Subcommand)]
pub enum SmsCommand {
    /// Print {"encoding","characters","segments"} for TEXT as a GSM network counts it.
    Count {
        /// The message text (quote it).
        text: String,
    },
    /// The cost ledger of one school for one month.
    ///
    /// Every emergency SMS booked, its segments, the price in force and the cost.
    Costs {
        /// The school (its id in the roster).
        #[arg(long, value_name = "SCHOOL_ID")]
        school: String,
        /// The month, booked as in Norway (from midnight Oslo time on the 1st).
        #[arg(long, value_name = "YYYY-MM", value_parser = month)]
        month: String,
        /// Print JSON (the month report of /api/schools/{id}/sms-costs) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn month(s: &str) -> Result<String, String> {
    cost::month_bounds(s)
        .map(|_| s.to_string())
        .map_err(|_| format!("«{s}» er ikke en måned (skriv ÅÅÅÅ-MM, f.eks. 2026-11)"))
}

pub async fn run(settings: &Settings, cmd: SmsCommand) -> anyhow::Result<Code> {
    match cmd {
        SmsCommand::Count { text } => {
            let count = crate::sms::segments::count(&text);
            println!("{}", serde_json::to_string(&count)?);
            Ok(Code::Ok)
        }
        SmsCommand::Costs {
            school,
            month,
            json,
        } => {
            let pool = database::current(settings).await?;
            let r = cost::month_report(&pool, &school, &month)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(Code::Ok);
            }
            println!("SMS-kostnader for {}, {}", r.school_id, r.month);
            println!("  meldinger {:>8}", r.messages);
            println!("  SMS-er    {:>8}", r.sms_count);
            println!("  kostnad   {:>8} kr", r.cost_nok.replace('.', ","));
            if !r.rows.is_empty() {
                println!();
                println!(
                    "  {:<17} {:<36} {:>6} {:>10} {:>10}",
                    "bokført", "melding", "SMS-er", "pris (øre)", "sum (øre)"
                );
            }
            for row in &r.rows {
                let at = row.booked_at.with_timezone(&chrono_tz::Europe::Oslo);
                println!(
                    "  {:<17} {:<36} {:>6} {:>10} {:>10}",
                    at.format("%d.%m.%Y %H.%M"),
                    row.message_id,
                    row.sms_count,
                    row.price_ore,
                    row.cost_ore
                );
            }
            Ok(Code::Ok)
        }
    }
}
