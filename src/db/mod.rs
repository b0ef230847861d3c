//! PostgreSQL adapter: the pool, database creation, embedded migrations (and
//! whether a database is current with them: [`schema_state`]), and the queries of
//! the tables the pipeline owns.
//!
//! Who owns which table (migrations in `migrations/`). The owner holds the
//! queries that write the table; another module reads it through the owner's
//! functions, or — for a listing that joins it to the owner's own rows — in a
//! read-only join inside the owner's query.
//!
//! | tables | owner (where their queries live) |
//! |---|---|
//! | `events`, `documents`, `dead_letters` | `db::events`, `db::documents` (the one writer of `documents`: the pipeline's commit, the staff's «Produser på nytt»; the archive benchmark in `dev/` clones rows with its own statement), `db::dead_letters`; `db::status` counts |
//! | `deliveries` | rows planned by `db::documents` in the pipeline's one statement; their sending state by `channels` (`dispatch`, `svarut`, `message`) |
//! | `delivery_status_history`, `messages` | `channels` (`dispatch`, `svarut`, `message`; what the school reads: `status`) |
//! | `archive_queue` | row `klar` created by `db::documents` in the same statement; statuses by `archive` (`transfer`, `staff`) |
//! | `transfer_attempts`, `transfer_runs`, `school_folders`, `school_principals` | `archive` (`transfer`, `schedule`, `folders`, `deadlines`) |
//! | `roster_*` | `roster::store` (reports: `roster::gaps`) |
//! | `sms_messages`, `sms_recipients`, `sms_previews`, `sms_cost_ledger` | `sms` (`request`, `message`, `worker`, `cost`, `dlr`, `intake`) |
//! | `api_clients`, `api_client_secrets` | `clients` |
//! | `person_assertion_jtis` | `assertion` |
//! | `audit_log` | `audit` |
//! | `dashboard_sessions`, `dashboard_logins` | `dashboard::session` (a leaver's sessions are deleted by `grants::store::leaver`, inside the roster's transaction: the roster cannot reach the dashboard without a module cycle) |
//! | `access_grants` | `grants::store` |
//!
//! Not yet so (issue 17, left for a later change): `dashboard::pages` (its
//! school list and its delivery listing; one document's school, access and PDF
//! come from `db::documents`) still reads other owners' tables with its own SQL; `access`, `sms::{recipients, sender, intake}` and
//! `archive::{folders, deadlines, transfer, staff}` read roster, event or document
//! tables in their own queries (joins and look-ups). The demo and the benchmarks
//! (`dev/`, the `dokflyt-dev` crate, outside the product) read and seed tables with
//! their own SQL.
//!
//! Every connection carries server-side `statement_timeout` and
//! `idle_in_transaction_session_timeout`, so a stuck query or a forgotten
//! transaction cannot hold locks for ever. [`is_transient`] decides which database
//! errors the pipeline retries (connection trouble, timeouts, shutdowns) and which
//! are permanent (the data itself is refused).

pub mod dead_letters;
pub mod documents;
pub mod events;
pub mod status;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::DatabaseSettings;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The embedded migrations (`migrations/`), run at every start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connection options with the server-side timeouts applied.
pub fn connect_options(settings: &DatabaseSettings) -> Result<PgConnectOptions, DbError> {
    let opts = PgConnectOptions::from_str(settings.url.expose())
        .map_err(|e| DbError::Url(e.to_string()))?;
    Ok(opts
        .options([
            (
                "statement_timeout",
                settings.statement_timeout_ms.to_string(),
            ),
            (
                "idle_in_transaction_session_timeout",
                settings.idle_in_transaction_timeout_ms.to_string(),
            ),
            ("application_name", "dokflyt".to_string()),
        ])
        .disable_statement_logging())
}

/// Creates the database named in the URL when it does not exist yet.
pub async fn create_database_if_missing(settings: &DatabaseSettings) -> Result<(), DbError> {
    let opts = connect_options(settings)?;
    let name = opts.get_database().unwrap_or("postgres").to_string();
    let mut admin = opts.clone().database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        // The one identifier is quoted above (doubled quotes); nothing else is dynamic.
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our create.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    admin.close().await?;
    Ok(())
}

/// Drops the database `name` on the server of `settings`, best effort (the
/// teardown of a benchmark's private database; a failure leaves it for `.ci/run`).
pub async fn drop_database_if_exists(settings: &DatabaseSettings, name: &str) {
    let Ok(opts) = connect_options(settings) else {
        return;
    };
    if let Ok(mut admin) = opts.database("postgres").connect().await {
        let sql = format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            name.replace('"', "\"\"")
        );
        // The one identifier is quoted above (doubled quotes).
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await;
        let _ = admin.close().await;
    }
}

/// Creates the database if needed, opens the pool and runs the migrations.
pub async fn connect_and_migrate(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    create_database_if_missing(settings).await?;
    let pool = pool(settings)?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Where a database's schema stands against the embedded migrations ([`MIGRATOR`]):
/// what read-only commands check instead of migrating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every embedded migration is applied, and nothing else.
    Current,
    /// The database named in the URL does not exist.
    NoDatabase,
    /// These embedded migrations (version, description) are not applied yet —
    /// all of them on an empty database.
    Behind(Vec<(i64, String)>),
    /// The recorded migrations do not fit these: one failed half-way, one applied
    /// differs from the embedded file (checksum), or the database has versions
    /// this build does not know (a newer dokflyt migrated it).
    Mismatch {
        failed: Vec<i64>,
        changed: Vec<i64>,
        unknown: Vec<i64>,
    },
}

/// Compares the migrations recorded in `pool`'s database with the embedded ones,
/// reading only (nothing is created, locked or applied).
pub async fn schema_state(pool: &PgPool) -> Result<SchemaState, sqlx::Error> {
    let table: Result<Option<String>, sqlx::Error> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
            .fetch_one(pool)
            .await;
    let table = match table {
        Ok(t) => t,
        // 3D000 invalid_catalog_name: the database does not exist.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            return Ok(SchemaState::NoDatabase)
        }
        Err(e) => return Err(e),
    };
    let recorded: Vec<(i64, Vec<u8>, bool)> = match table {
        Some(_) => {
            sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(pool)
                .await?
        }
        None => Vec::new(),
    };
    let embedded: Vec<&sqlx::migrate::Migration> = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let failed: Vec<i64> = recorded.iter().filter(|r| !r.2).map(|r| r.0).collect();
    let changed: Vec<i64> = recorded
        .iter()
        .filter(|(v, sum, _)| {
            embedded
                .iter()
                .any(|m| m.version == *v && *m.checksum != sum[..])
        })
        .map(|r| r.0)
        .collect();
    let unknown: Vec<i64> = recorded
        .iter()
        .filter(|(v, _, _)| !embedded.iter().any(|m| m.version == *v))
        .map(|r| r.0)
        .collect();
    if !(failed.is_empty() && changed.is_empty() && unknown.is_empty()) {
        return Ok(SchemaState::Mismatch {
            failed,
            changed,
            unknown,
        });
    }
    let pending: Vec<(i64, String)> = embedded
        .iter()
        .filter(|m| !recorded.iter().any(|r| r.0 == m.version))
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    Ok(if pending.is_empty() {
        SchemaState::Current
    } else {
        SchemaState::Behind(pending)
    })
}

/// A pool whose transactions are read-only (`default_transaction_read_only`):
/// the read-only commands cannot write even by mistake. Lazy like [`pool`].
pub fn read_only_pool(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    let opts = connect_options(settings)?.options([("default_transaction_read_only", "on")]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections.min(4))
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy_with(opts))
}

/// A lazily connecting pool: it does not fail when the database is down right now,
/// and reconnects on its own when it returns.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy_with(connect_options(settings)?))
}

/// The pool of the archive transfer: like [`pool`], but its commits do not wait for
/// the WAL flush (`synchronous_commit = off`). Safe for the transfer only: a status
/// lost in a database crash leaves the row `klar` (or its claim expires), and the
/// resend carries the same external key, so the archive answers «Eksisterende» —
/// nothing is archived twice and nothing is lost. Never for the pipeline's commit,
/// which is acked to the broker.
pub fn transfer_pool(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    let opts = connect_options(settings)?.options([("synchronous_commit", "off")]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy_with(opts))
}

/// The SQLSTATE of a database refusal, for reasons and logs: PostgreSQL's own
/// message can quote the value it refused (`invalid input syntax ... "Kari"`),
/// so a permanent refusal is reported by its code only.
pub fn sqlstate(e: &sqlx::Error) -> String {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
        .unwrap_or_else(|| "ukjent".to_string())
}

/// Whether a database error is worth retrying later (the database or the network
/// is in trouble) rather than a refusal of the data itself.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            // 22: data exception, 23: integrity constraint, 42: syntax/undefined —
            // retrying cannot help. Everything else (57014 statement timeout,
            // 57P01 admin shutdown, 08xxx connection, 53xxx resources, 40001
            // serialization) can succeed later.
            !(code.starts_with("22") || code.starts_with("23") || code.starts_with("42"))
        }
        sqlx::Error::RowNotFound
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::Encode(_)
        | sqlx::Error::Configuration(_) => false,
        _ => true,
    }
}
