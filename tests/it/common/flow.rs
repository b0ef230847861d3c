//! Documents through the real pipeline and a real transfer: an example event is
//! published and waited for until `klar`, then transferred to the stand-in
//! archive answering as scripted (`Ugyldig` → `feilet`, `Normal` → `arkivert`).

use std::sync::Arc;
use std::time::Duration;

use dokflyt::archive::{run_now, TransferOptions};
use dokflyt::archive::{ArchiveClient, HttpArchiveClient};
use dokflyt::config::ArchiveSettings;
use serde_json::{json, Value};
use uuid::Uuid;

use super::archive_standin::{Action, StandIn};
use super::TestApp;

/// `examples/events/<name>.json` with a fresh `event_id`.
pub fn example(name: &str, id: Uuid) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/events")
        .join(format!("{name}.json"));
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json");
    v["event_id"] = json!(id.to_string());
    v
}

/// Publishes the example `name` and waits until its archive row is `klar`.
pub async fn queue(app: &TestApp, name: &str) -> Uuid {
    let id = Uuid::new_v4();
    app.publish(&example(name, id)).await;
    let sql =
        format!("SELECT count(*) FROM archive_queue WHERE event_id = '{id}' AND status = 'klar'");
    app.wait_until("the document is klar", Duration::from_secs(30), || async {
        app.count(&sql).await == 1
    })
    .await;
    id
}

/// One transfer of everything `klar` to a stand-in archive following `script`.
pub async fn transfer(app: &TestApp, script: Vec<Action>) -> StandIn {
    let archive = StandIn::start(script, Duration::ZERO).await;
    let client: Arc<dyn ArchiveClient> =
        Arc::new(HttpArchiveClient::new(&archive.url(), Duration::from_secs(5)).expect("client"));
    let opts = TransferOptions::from_settings(&ArchiveSettings {
        max_attempts: 1,
        concurrency: 1,
        ..ArchiveSettings::default()
    });
    run_now(&app.pool, client, &opts).await.expect("transfer");
    archive
}

pub async fn status_of(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status::text FROM archive_queue WHERE event_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("row")
}
