//! `dokflyt-dev bench sms --recipients N`: seconds from the send call to every SMS
//! accepted by a local gateway stand-in.
//!
//! In one run, on a private database and private queue names (removed after):
//! 1. baseline — N `POST /sms/send` straight to the stand-in with the configured
//!    concurrency (no database, no broker): what the gateway itself allows here;
//! 2. dokflyt — a school of N pupils with distinct numbers; preview, then the timer
//!    starts at the send call (commit of message + recipients) and stops when the
//!    stand-in has accepted N messages (fan-out through the broker, claims, sends).
//!
//! The stand-in (`standins::sms_gateway`, the tests' options) answers every
//! request at once; the rate limit is lifted for the run
//! (`sms.rate_per_second` = 1,000,000), so the figure is dokflyt's own overhead.

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use dokflyt::sms::request::{self, Channel, PreviewRequest, SendRequest};
use dokflyt::sms::SmsContext;
use dokflyt::sms::SmsWorker;
use dokflyt::Settings;
use dokflyt::Topology;

use crate::standins::sms_gateway::{GatewayStandIn, Options};

pub async fn run(mut settings: Settings, recipients: usize) -> anyhow::Result<()> {
    let run_id = Uuid::new_v4().simple().to_string();
    let run_id = &run_id[..8];
    settings.amqp.prefix = format!("dokflyt-bench-sms-{run_id}");
    let db_name = format!("dokflyt_bench_sms_{run_id}");
    super::use_private_database(&mut settings, &db_name)?;
    let gateway = GatewayStandIn::start_with(Options::tests()).await?;
    gateway.configure(&mut settings.sms);
    settings.sms.rate_per_second = 1_000_000;
    settings.sms.daily_cost_cap_nok = 1e12;
    settings.sms.max_messages_per_hour = 1_000_000;
    settings.sms.approval_over_recipients = i64::MAX;
    settings.sms.concurrency = settings.sms.concurrency.max(64);

    // 1. Baseline: direct posts.
    let client = dokflyt::sms::GatewayClient::new(&settings.sms)?;
    let started = Instant::now();
    futures::stream::iter(0..recipients)
        .map(|n| {
            let c = client.clone();
            async move {
                c.send(&format!("+479{n:07}"), "baseline", &format!("b-{n}"))
                    .await
            }
        })
        .buffer_unordered(settings.sms.concurrency)
        .for_each(|_| async {})
        .await;
    let baseline = started.elapsed();
    anyhow::ensure!(
        gateway.accepted() == recipients,
        "baseline: the stand-in accepted {} of {recipients}",
        gateway.accepted()
    );
    gateway.clear();

    // 2. dokflyt.
    let pool = dokflyt::db::connect_and_migrate(&settings.database).await?;
    sqlx::query("INSERT INTO roster_schools (school_id, name, municipality_number, version) VALUES ('bench', 'Benkskolen', '4601', 1)")
        .execute(&pool)
        .await?;
    sqlx::query(
        "INSERT INTO roster_pupils (pupil_id, school_id, name, grade_level, birth_date, mobile, version)
         SELECT 'p' || g, 'bench', 'Elev', 5, DATE '2015-01-01', '9' || lpad(g::text, 7, '0'), 1
           FROM generate_series(1, $1) AS g",
    )
    .bind(recipients as i32)
    .execute(&pool)
    .await?;
    let ctx = SmsContext::new(pool.clone(), settings.sms.clone());
    let worker = SmsWorker::new(ctx.clone(), settings.amqp.clone())?;
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(worker.run(shutdown.clone()));
    // The benchmark stands in for a signed-in principal (a dashboard session).
    let who = dokflyt::access::Actor::new(
        "bench-rektor",
        dokflyt::access::Role::Rektor,
        vec!["bench".into()],
    )?;
    let preview = request::preview(
        &ctx,
        "bench",
        &who,
        Channel::Dashboard,
        &PreviewRequest {
            text: "Skolen er stengt i dag. Hilsen rektor".into(),
            reason: "benchmark".into(),
            on_owner_instruction: false,
            sami_text: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Let the worker attach to its queue before the timer starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    request::send(
        &ctx,
        "bench",
        &who,
        Channel::Dashboard,
        &SendRequest {
            preview_token: preview.token,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let limit = Instant::now() + Duration::from_secs(600);
    while gateway.accepted() < recipients {
        anyhow::ensure!(Instant::now() < limit, "not all SMS accepted in 10 minutes");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let sent = started.elapsed();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let ledger = dokflyt::sms::cost::month_report(&pool, "bench", &month)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    shutdown.cancel();
    let _ = handle.await;
    pool.close().await;
    cleanup(&settings, &db_name).await;

    println!(
        "bench sms: {recipients} recipients, gateway concurrency {}, batch {}",
        settings.sms.concurrency, settings.sms.batch_size
    );
    println!(
        "  baseline (direct POSTs to the stand-in)       {:>8.3} s  ({:.0} SMS/s)",
        baseline.as_secs_f64(),
        recipients as f64 / baseline.as_secs_f64()
    );
    println!(
        "  dokflyt (send call → all accepted)            {:>8.3} s  ({:.0} SMS/s)",
        sent.as_secs_f64(),
        recipients as f64 / sent.as_secs_f64()
    );
    println!(
        "  ratio dokflyt/baseline (time)                 {:>8.3}",
        sent.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "  cost ledger (as `sms costs --school bench --month {month}`): {} message(s), {} SMS, {} NOK",
        ledger.messages, ledger.sms_count, ledger.cost_nok
    );
    Ok(())
}

async fn cleanup(settings: &Settings, db_name: &str) {
    let t = Topology::new(&settings.amqp.prefix, settings.amqp.delivery_limit);
    if let Ok(conn) =
        dokflyt::broker::connect(settings.amqp.url.expose(), settings.amqp.heartbeat_secs).await
    {
        if let Ok(ch) = conn.create_channel().await {
            t.remove(&ch).await;
        }
        let _ = conn.close(200, "bench done".into()).await;
    }
    dokflyt::db::drop_database_if_exists(&settings.database, db_name).await;
}
