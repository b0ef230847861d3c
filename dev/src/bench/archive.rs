//! `dokflyt-dev bench archive --documents N`: archive transfer throughput against the
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
//! The stand-in is the tests' Fiks Arkiv server (`standins::archive`) in its
//! throughput mode: it reads the journal post's external key from the message and
//! answers a `journalpostKvittering` for it (no schema validation: that is the
//! tests' job).
//! Prints documents/s for both and the ratio. Failure: any error aborts the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use uuid::Uuid;

use dokflyt::archive::{self, TransferOptions};
use dokflyt::archive::{ArchiveClient, HttpArchiveClient, Outgoing};
use dokflyt::Settings;
use dokflyt::{process, Disposition, PipelineContext};

pub async fn archive(mut settings: Settings, documents: usize) -> anyhow::Result<()> {
    let n = documents.max(1);
    let run_id = Uuid::new_v4().simple().to_string();
    let db_name = format!("dokflyt_bench_{}", &run_id[..8]);
    super::use_private_database(&mut settings, &db_name)?;
    settings.database.max_connections = settings.database.max_connections.max(16);
    // Seeding writes gigabytes of PDFs: more than the worker's statement timeout allows.
    settings.database.statement_timeout_ms = settings.database.statement_timeout_ms.max(600_000);
    let pool = dokflyt::db::connect_and_migrate(&settings.database).await?;
    let result = measure(&settings, &pool, n).await;
    pool.close().await;
    dokflyt::db::drop_database_if_exists(&settings.database, &db_name).await;
    result
}

async fn measure(settings: &Settings, pool: &sqlx::PgPool, n: usize) -> anyhow::Result<()> {
    // 1. Seed.
    let ctx = PipelineContext {
        pool: pool.clone(),
        rules: dokflyt::rules::SharedRules::load(&settings.paths.rules_dir)?,
        renderer: Arc::new(dokflyt::render::Renderer::load(
            &settings.paths.templates_dir,
        )?),
        max_message_bytes: settings.amqp.max_message_bytes,
        render_permits: dokflyt::pipeline::render_permits(settings.amqp.render_threads),
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
        clone_for_benchmark(pool, seed, chunk).await?;
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
    // The stand-in, in its throughput mode.
    let standin = crate::standins::archive::StandIn::start_for_throughput().await?;
    let url = standin.url();
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
    let ev: dokflyt::event::IncomingEvent = serde_json::from_value(stored.0)?;
    let decision: dokflyt::document::RoutingDecision = serde_json::from_value(stored.1)?;
    let msg = dokflyt::archive::arkivmelding::build(
        &dokflyt::archive::arkivmelding::DocumentInput {
            event: &ev,
            decision: &decision,
            title: &stored.2,
            pdf: Some(dokflyt::archive::arkivmelding::PdfRef {
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
    let relaxed = dokflyt::db::transfer_pool(&settings.database)?;
    let summary = archive::run_now(&relaxed, client, &opts).await?;
    relaxed.close().await;
    let secs = t0.elapsed().as_secs_f64();
    drop(standin);
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

/// Clones the seed's event, document and archive row `count` times (fresh event
/// ids), all `klar`, in one statement. The benchmark's own seeding SQL: the
/// product's one writer of `documents` (`dokflyt::db::documents`) writes one
/// document at a time, which would make seeding 100,000 rows take longer than
/// the measurement.
async fn clone_for_benchmark(
    pool: &sqlx::PgPool,
    seed: Uuid,
    count: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH ids AS (SELECT gen_random_uuid() AS id FROM generate_series(1, $2)),
         e AS (
            INSERT INTO events (event_id, document_type, school_id, occurred_at, payload_sha256, payload)
            SELECT ids.id, document_type, school_id, occurred_at, payload_sha256,
                   jsonb_set(payload, '{event_id}', to_jsonb(ids.id::text))
            FROM events, ids WHERE event_id = $1
            RETURNING event_id),
         d AS (
            INSERT INTO documents (event_id, document_type, school_id, title, rule_id, rules_version,
                channel, archive_policy, archived, folder, access, legal_basis, journal_post_type,
                journal_status, decision, pdf, pdf_sha256, pdf_pages)
            SELECT e.event_id, document_type, school_id, title, rule_id, rules_version, channel,
                archive_policy, archived, folder, access, legal_basis, journal_post_type,
                journal_status, decision, pdf, pdf_sha256, pdf_pages
            FROM documents, e WHERE documents.event_id = $1
            RETURNING event_id, folder, school_id, document_type)
         INSERT INTO archive_queue (event_id, status, folder, school_id, document_type)
         SELECT event_id, 'klar', COALESCE(folder, 'pupil'), school_id, document_type FROM d",
    )
    .bind(seed)
    .bind(i32::try_from(count).unwrap_or(i32::MAX))
    .execute(pool)
    .await?;
    Ok(())
}
