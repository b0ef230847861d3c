//! The archive tests' harness: a pipeline-fed database (documents put in status
//! `klar` by the real pipeline, `pipeline::process`: validate → route → render →
//! commit, on a fresh database per test) and the transfer's options and client.
//! The archive itself is the one stand-in of `dokflyt_dev::standins::archive`
//! (a real HTTP server speaking Fiks Arkiv), re-exported here.

#![allow(dead_code)]

pub use dokflyt_dev::standins::archive::{xmllint_opprett, Action, StandIn};

use dokflyt::archive::TransferOptions;
use dokflyt::archive::{ArchiveClient, HttpArchiveClient};
use dokflyt::config::{ArchiveSettings, DatabaseSettings, Secret};
use dokflyt::{process, Disposition, PipelineContext};
use sqlx::{Connection, PgConnection, PgPool};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub const PG: &str = "postgres://postgres@127.0.0.1:5432";

// ---------------------------------------------------------------------------
// A database with documents in status klar, produced by the real pipeline.

pub struct Db {
    pub ctx: PipelineContext,
    pub name: String,
}

impl Db {
    pub async fn new() -> Db {
        let name = format!("dokflyt_test_{}", Uuid::new_v4().simple());
        let settings = DatabaseSettings {
            url: Secret::new(format!("{PG}/{name}")),
            ..DatabaseSettings::default()
        };
        let pool = dokflyt::db::connect_and_migrate(&settings)
            .await
            .expect("database created and migrated");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let ctx = PipelineContext {
            pool,
            rules: dokflyt::rules::SharedRules::load(&root.join("routing-rules")).expect("rules"),
            renderer: Arc::new(
                dokflyt::render::Renderer::load(&root.join("templates")).expect("templates"),
            ),
            max_message_bytes: 1 << 20,
            render_permits: dokflyt::pipeline::render_permits(0),
        };
        Db { ctx, name }
    }

    pub fn pool(&self) -> &PgPool {
        &self.ctx.pool
    }

    /// Runs an example event (with a fresh event id) through the pipeline; it must be archived.
    pub async fn queue(&self, example: &str) -> Uuid {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(root.join("examples/events").join(format!("{example}.json")))
                .expect("example");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        let id = Uuid::new_v4();
        v["event_id"] = serde_json::Value::String(id.to_string());
        let body = serde_json::to_vec(&v).expect("json");
        match process(&self.ctx, &body).await {
            Disposition::Completed { archived: true, .. } => id,
            other => panic!("{example}: not queued for the archive: {other:?}"),
        }
    }

    pub async fn row(&self, id: Uuid) -> Row {
        sqlx::query_as(
            "SELECT status::text, error_class, error_explanation, receipt, journal_year,
                    journal_sequence, receipt_existing, attempts
             FROM archive_queue WHERE event_id = $1",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await
        .expect("archive row")
    }

    /// (attempt, outcome, error class) per logged attempt, in order.
    pub async fn attempts(&self, id: Uuid) -> Vec<(i32, String, Option<String>)> {
        sqlx::query_as(
            "SELECT attempt, outcome, error_class FROM transfer_attempts WHERE event_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .expect("attempts")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(self.pool())
            .await
            .expect("count")
    }

    pub async fn drop_db(self) {
        self.ctx.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&format!("{PG}/postgres")).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct Row {
    pub status: String,
    pub error_class: Option<String>,
    pub error_explanation: Option<String>,
    pub receipt: Option<String>,
    pub journal_year: Option<i32>,
    pub journal_sequence: Option<i32>,
    pub receipt_existing: Option<bool>,
    pub attempts: i32,
}

pub fn options(timeout: Duration) -> (TransferOptions, Duration) {
    let s = ArchiveSettings {
        max_attempts: 3,
        backoff_initial_ms: 20,
        backoff_max_ms: 100,
        batch_size: 5,
        concurrency: 4,
        timeout_ms: timeout.as_millis() as u64,
        ..ArchiveSettings::default()
    };
    (TransferOptions::from_settings(&s), timeout)
}

pub fn http(url: &str, timeout: Duration) -> Arc<dyn ArchiveClient> {
    Arc::new(HttpArchiveClient::new(url, timeout).expect("client"))
}

// ---------------------------------------------------------------------------
