//! `dokflyt schools set-principal`: a school's principal from a date, the case
//! owner (saksansvarlig) of its folders in the archive.
//!
//! Input: the arguments; the database (migrated: this writes). Output: a bokmål
//! confirmation; the change is audited. Failure: initials or a school that are
//! refused are exit 2 with the reason; a database error is an error.

use clap::Subcommand;

use super::database;
use super::exit::{Code, Exit};
use crate::archive::folders;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum SchoolsCommand {
    /// Record a school's principal from a date.
    ///
    /// The principal is the case owner (saksansvarlig) of the school's folders from
    /// then on. Change it the same day in the archive.
    SetPrincipal {
        /// The school (its id in the roster).
        #[arg(value_name = "SCHOOL_ID")]
        school: String,
        /// The principal's initials, identical to their user in the archive.
        #[arg(long)]
        initials: String,
        /// First day (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: chrono::NaiveDate,
    },
}

pub async fn run(settings: &Settings, cmd: SchoolsCommand) -> anyhow::Result<Code> {
    let SchoolsCommand::SetPrincipal {
        school,
        initials,
        from,
    } = cmd;
    let pool = database::migrated(settings).await?;
    let today = crate::calendar::today_in_oslo();
    let actor = crate::access::Actor::cli();
    match folders::set_principal(&pool, &actor, &school, &initials, from, today).await {
        Ok(n) => {
            println!(
                "Rektor for {school} fra {from}: {}. Åpne skolemapper oppdatert: {n}.",
                folders::normalise_initials(&initials)?
            );
            println!("Husk å endre saksansvarlig i arkivet samme dag.");
            Ok(Code::Ok)
        }
        Err(folders::FolderError::Invalid(m)) => Err(Exit::with(Code::Invalid, m)),
        Err(e) => Err(e.into()),
    }
}
