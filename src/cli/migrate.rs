//! `dokflyt migrate`: creates the database if it is missing and applies the
//! embedded migrations (`migrations/`), printing each one it applied.
//!
//! Input: `[database]`. Output: bokmål lines on stdout — the migrations applied,
//! or that the database is current. With `--check` nothing is changed: exit 0 when
//! current, [`Code::NotMigrated`] when not. Failure: a database that does not fit
//! this version (a half-applied, edited or unknown migration) is refused with
//! [`Code::Error`] and the reason; a database error is an error.

use clap::Args;

use super::database;
use super::exit::{Code, Exit};
use crate::config::Settings;
use crate::db::{self, SchemaState};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Only tell whether the database is current (exit 0) or not (exit 4); change nothing.
    #[arg(long)]
    check: bool,
}

pub async fn run(settings: &Settings, args: MigrateArgs) -> anyhow::Result<Code> {
    let url = settings.database.url.redacted_url();
    if args.check {
        let pool = db::read_only_pool(&settings.database)?;
        let state = db::schema_state(&pool).await?;
        pool.close().await;
        return match database::refusal(&state, &url) {
            None => {
                println!("Databasen i {url} er oppdatert.");
                Ok(Code::Ok)
            }
            Some(why) => Err(Exit::with(Code::NotMigrated, why)),
        };
    }
    db::create_database_if_missing(&settings.database).await?;
    let pool = db::pool(&settings.database)?;
    let pending = match db::schema_state(&pool).await? {
        SchemaState::Current | SchemaState::NoDatabase => Vec::new(),
        SchemaState::Behind(pending) => pending,
        SchemaState::Mismatch {
            failed,
            changed,
            unknown,
        } => {
            pool.close().await;
            return Err(Exit::with(
                Code::Error,
                format!(
                    "Databasen i {url} kan ikke migreres: {}.",
                    database::mismatch(&failed, &changed, &unknown)
                ),
            ));
        }
    };
    db::MIGRATOR.run(&pool).await?;
    pool.close().await;
    if pending.is_empty() {
        println!("Databasen i {url} er allerede oppdatert; ingen migreringer å bruke.");
    } else {
        println!("Databasen i {url}: brukte {} migrering(er):", pending.len());
        for (version, description) in &pending {
            println!("  {version}  {description}");
        }
    }
    Ok(Code::Ok)
}
