//! `dokflyt bench archive --documents N`: archive transfer throughput against the
//! bare HTTP round trip to the same local archive stand-in.
//!
//! In one run, on a private database (removed after):
//! 1. seed — one `conduct_warning` goes through the real pipeline (validate → route →
//!    render → commit); its event, document (with the real PDF/A) and archive row
//!    are cloned N times in SQL, each with its own event id, all `klar`;
//! 2. baseline — the same arkivmelding + PDF is POSTed N times to the stand-in by the
//!    real HTTP client at the same concurrency, without the database: the ceiling;
//! 3. transfer — `transfer::run_now` moves the N rows `klar` → `arkivert`: claims,
//!    builds each message from the stored event, sends, parses the receipt, records.
//!
//! The stand-in is a minimal local HTTP server speaking the Fiks Arkiv answer: it
//! reads the journal post's external key from the message and answers a
//! `journalpostKvittering` for it (no schema validation: that is the tests' job).
//! Prints documents/s for both and the ratio. Failure: any error aborts the run.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use futures::StreamExt;
use uuid::Uuid;

use crate::archive::client::{ArchiveClient, HttpArchiveClient, Outgoing};
use crate::archive::receipt::{write_receipt, Receipt};
use crate::archive::transfer::{self, TransferOptions};
use crate::config::Settings;
use crate::pipeline::{process, Disposition, PipelineContext};
use crate::secret::Secret;

/// The stand-in's answer: a receipt for the last external key in the message
/// (the journal post's; the folder's comes first).
async fn answer(
    State(seq): State<Arc<AtomicI32>>,
    body: Bytes,
) -> (axum::http::StatusCode, String) {
    // Only the arkivmelding part (it comes first), not the 70 KB PDF after it: the
    // stand-in shares the two cores with the transfer it measures.
    const END: &[u8] = b"</arkivmelding>";
    let xml_end = body
        .windows(END.len())
        .position(|w| w == END)
        .unwrap_or(body.len());
    let text = String::from_utf8_lossy(&body[..xml_end]);
    let key = text
        .rfind("<n5mdk:noekkel>")
        .map(|i| &text[i + "<n5mdk:noekkel>".len()..])
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("")
        .to_string();
    let n = seq.fetch_add(1, Ordering::Relaxed);
    let receipt = Receipt {
        system_id: Uuid::new_v4().to_string(),
        journal_year: Some(2026),
        journal_sequence: Some(n),
        journal_post_number: Some(1),
        journal_status: Some("J".into()),
        existing: false,
        external_key: Some(key),
        folder_system_id: Some(Uuid::new_v4().to_string()),
        folder_existing: Some(true),
    };
    (
        axum::http::StatusCode::OK,
        write_receipt(&receipt, "dokflyt"),
    )
}

pub async fn archive(mut settings: Settings, documents: usize) -> anyhow::Result<()> {
    let n = documents.max(1);
    let run_id = Uuid::new_v4().simple().to_string();
    let db_name = format!("dokflyt_bench_{}", &run_id[..8]);
    let base_url = settings.database.url.expose().to_string();
    let db_url = match base_url.rfind('/') {
        Some(i) => format!("{}/{db_name}", &base_url[..i]),
        None => anyhow::bail!("cannot derive a bench database from the database URL"),
    };
    settings.database.url = Secret::new(db_url);
    settings.database.max_connections = settings.database.max_connections.max(16);
    // Seeding writes gigabytes of PDFs: more than the worker's statement timeout allows.
    settings.database.statement_timeout_ms = settings.database.statement_timeout_ms.max(600_000);
    let pool = crate::db::connect_and_migrate(&settings.database).await?;
    let result = measure(&settings, &pool, n).await;
    pool.close().await;
    crate::db::drop_database_if_exists(&settings.database, &db_name).await;
    result
}

async fn measure(settings: &Settings, pool: &sqlx::PgPool, n: usize) -> anyhow::Result<()> {
    // 1. Seed.
    let ctx = PipelineContext {
        pool: pool.clone(),
        rules: crate::rules::SharedRules::load(&settings.paths.rules_dir)?,
        renderer: Arc::new(crate::render::Renderer::load(
            &settings.paths.templates_dir,
        )?),
        max_message_bytes: settings.amqp.max_message_bytes,
    };
    let example = settings.paths.examples_dir.join("conduct_warning.json");
    let mut event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&example).with_context(|| format!("reading {}", example.display()))?,
    )?;
    let seed = Uuid::new_v4();
    event["event_id"] = serde_json::Value::String(seed.to_string());
    match process(&ctx, &serde_json::to_vec(&event)?).await {
        Disposition::Completed { archived: true, .. } => {}
        other => anyhow::bail!("the seed document was not queued for the archive: {other:?}"),
    }
    let t0 = Instant::now();
    println!("seeding {n} klar documents (cloned in SQL from one real document) ...");
    let mut left = n - 1;
    while left > 0 {
        let chunk = left.min(10_000);
        left -= chunk;
        crate::db::documents::clone_for_benchmark(pool, seed, chunk).await?;
    }
    println!("  seeded in {:.1} s", t0.elapsed().as_secs_f64());
    transfer_phase(settings, pool, seed, n).await
}

async fn transfer_phase(
    settings: &Settings,
    pool: &sqlx::PgPool,
    seed: Uuid,
    n: usize,
) -> anyhow::Result<()> {
    // The stand-in.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/arkivmelding", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/arkivmelding", post(answer))
        .with_state(Arc::new(AtomicI32::new(1)));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client: Arc<dyn ArchiveClient> =
        Arc::new(HttpArchiveClient::new(&url, Duration::from_secs(30))?);
    let mut archive_settings = settings.archive.clone();
    archive_settings.concurrency = archive_settings.concurrency.max(32);
    archive_settings.batch_size = archive_settings.batch_size.max(200);
    archive_settings.max_attempts = 1;
    let opts = TransferOptions::from_settings(&archive_settings);

    // 2. Baseline: the seed's message, sent n times, no database.
    let stored: (
        serde_json::Value,
        serde_json::Value,
        String,
        Vec<u8>,
        String,
    ) = sqlx::query_as(
        "SELECT e.payload, d.decision, d.title, d.pdf, d.pdf_sha256
           FROM documents d JOIN events e USING (event_id) WHERE event_id = $1",
    )
    .bind(seed)
    .fetch_one(pool)
    .await?;
    let ev: crate::event::IncomingEvent = serde_json::from_value(stored.0)?;
    let decision: crate::document::RoutingDecision = serde_json::from_value(stored.1)?;
    let msg = crate::archive::arkivmelding::build(
        &crate::archive::arkivmelding::DocumentInput {
            event: &ev,
            decision: &decision,
            title: &stored.2,
            pdf: Some(crate::archive::arkivmelding::PdfRef {
                sha256: &stored.4,
                size: stored.3.len(),
            }),
            case_owner: None,
        },
        &opts.build,
    )?;
    let outgoing = Outgoing {
        event_id: seed,
        xml: msg.xml,
        file_name: msg.file_name,
        pdf: stored.3,
    };
    let t0 = Instant::now();
    let ok = futures::stream::iter(0..n)
        .map(|_| {
            let client = client.clone();
            let outgoing = &outgoing;
            async move { client.send(outgoing).await.is_ok() }
        })
        .buffer_unordered(opts.concurrency)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    let base_secs = t0.elapsed().as_secs_f64();
    anyhow::ensure!(ok == n, "baseline: only {ok} of {n} requests were answered");

    // 3. The transfer.
    let t0 = Instant::now();
    let relaxed = crate::db::transfer_pool(&settings.database)?;
    let summary = transfer::run_now(&relaxed, client, &opts).await?;
    relaxed.close().await;
    let secs = t0.elapsed().as_secs_f64();
    server.abort();
    anyhow::ensure!(
        summary.arkivert as usize == n,
        "only {} of {n} documents were archived: {summary:?}",
        summary.arkivert
    );
    let base_rate = n as f64 / base_secs;
    let rate = n as f64 / secs;
    println!(
        "baseline (HTTP round trips to the stand-in, no database): {n} in {base_secs:.2} s = {base_rate:.0}/s"
    );
    println!(
        "archive transfer (klar → arkivert, claims, receipts, log):  {n} in {secs:.2} s = {rate:.0} documents/s"
    );
    println!(
        "ratio transfer/baseline: {:.2}  (concurrency {}, batch {})",
        rate / base_rate,
        opts.concurrency,
        opts.batch_size
    );
    Ok(())
}
