//! How a command opens the database: commands that write migrate it (as `serve`
//! does); read-only commands never do.
//!
//! Input: `[database]`. Output: a pool. Failure: for a read-only command, a
//! database that is missing, empty, behind the embedded migrations or not
//! matching them is refused with [`Code::NotMigrated`] and a bokmål message that
//! says to run `dokflyt migrate` — nothing is created or changed. Other database
//! errors are errors (exit 1).

use sqlx::PgPool;

use super::exit::{Code, Exit};
use crate::config::Settings;
use crate::db::{self, SchemaState};

/// For a command that writes: creates the database if it is missing and applies
/// the embedded migrations first.
pub async fn migrated(settings: &Settings) -> anyhow::Result<PgPool> {
    Ok(db::connect_and_migrate(&settings.database).await?)
}

/// For a read-only command: a read-only pool, refused unless the schema is
/// current.
pub async fn current(settings: &Settings) -> anyhow::Result<PgPool> {
    let pool = db::read_only_pool(&settings.database)?;
    let state = db::schema_state(&pool).await?;
    match refusal(&state, &settings.database.url.redacted_url()) {
        None => Ok(pool),
        Some(message) => {
            pool.close().await;
            Err(Exit::with(Code::NotMigrated, message))
        }
    }
}

fn embedded_count() -> usize {
    db::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .count()
}

fn versions(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// What does not fit between the recorded and the embedded migrations (bokmål).
pub fn mismatch(failed: &[i64], changed: &[i64], unknown: &[i64]) -> String {
    let mut why = Vec::new();
    if !failed.is_empty() {
        why.push(format!(
            "migrering {} stoppet halvveis og må rettes for hånd",
            versions(failed)
        ));
    }
    if !changed.is_empty() {
        why.push(format!(
            "migrering {} er endret etter at den ble brukt",
            versions(changed)
        ));
    }
    if !unknown.is_empty() {
        why.push(format!(
            "databasen har migrering {} som denne versjonen ikke kjenner \
             (migrert av en nyere dokflyt?)",
            versions(unknown)
        ));
    }
    why.join("; ")
}

/// Why a read-only command cannot use a database in `state` (bokmål), or `None`.
pub fn refusal(state: &SchemaState, url: &str) -> Option<String> {
    let run = "Kjør `dokflyt migrate` først; denne kommandoen bare leser og endrer ikke databasen.";
    match state {
        SchemaState::Current => None,
        SchemaState::NoDatabase => Some(format!(
            "Databasen i {url} finnes ikke. Kjør `dokflyt migrate` for å opprette den; \
             denne kommandoen bare leser."
        )),
        SchemaState::Behind(pending) if pending.len() == embedded_count() => Some(format!(
            "Databasen i {url} har ingen tabeller fra dokflyt ennå. {run}"
        )),
        SchemaState::Behind(pending) => Some(format!(
            "Databasen i {url} mangler {} migrering(er) som denne versjonen av dokflyt \
             trenger: {}. {run}",
            pending.len(),
            pending
                .iter()
                .map(|(v, d)| format!("{v} {d}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        SchemaState::Mismatch {
            failed,
            changed,
            unknown,
        } => Some(format!(
            "Databasen i {url} passer ikke med denne versjonen av dokflyt: {}.",
            mismatch(failed, changed, unknown)
        )),
    }
}
