//! `dokflyt-dev bench pipeline --events N`: end-to-end throughput against the bare broker.
//!
//! In one run, on a private database and private queue names (both removed after):
//! 1. baseline — N copies of a `conduct_warning` event are published to a plain
//!    quorum queue, then consumed and acked doing nothing: the broker's own rate;
//! 2. pipeline — N `conduct_warning` events (each its own `event_id`) are published,
//!    then the real consumer runs them through validate → route → render → commit → ack.
//!
//! Both phases time only the consuming side (everything is published first), with
//! the same prefetch. It prints documents/s for each and the ratio, and the CPU
//! per document during the pipeline's drain (issue 25's measure): the machine's
//! busy CPU time (`/proc/stat`, every process, so other work on the machine
//! counts too) and that of this process + PostgreSQL + RabbitMQ alone
//! (`/proc/<pid>/stat`), each divided by the documents; then the renderer's own
//! CPU time per document on the same letter (one thread, by
//! `/proc/thread-self/schedstat`), and the difference: the
//! pipeline's overhead per document besides rendering.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use dokflyt::broker::{self, Topology};
use dokflyt::pipeline::PipelineContext;
use dokflyt::pipeline::{Consumer, ConsumerStats};
use dokflyt::Settings;

pub async fn pipeline(mut settings: Settings, events: usize) -> anyhow::Result<()> {
    let example = settings.paths.examples_dir.join("conduct_warning.json");
    let template: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&example).with_context(|| format!("reading {}", example.display()))?,
    )?;
    let run_id = Uuid::new_v4().simple().to_string();
    let run_id = &run_id[..8];
    settings.amqp.prefix = format!("dokflyt-bench-{run_id}");
    let db_name = format!("dokflyt_bench_{run_id}");
    super::use_private_database(&mut settings, &db_name)?;
    settings.database.max_connections = settings.database.max_connections.max(16);

    let bodies: Vec<Vec<u8>> = (0..events)
        .map(|_| {
            let mut v = template.clone();
            v["event_id"] = serde_json::Value::String(Uuid::new_v4().to_string());
            serde_json::to_vec(&v)
        })
        .collect::<Result<_, _>>()?;

    let conn = broker::connect(settings.amqp.url.expose(), settings.amqp.heartbeat_secs).await?;
    let channel = broker::confirm_channel(&conn).await?;

    // 1. Baseline: the broker alone.
    let baseline_queue = format!("{}.baseline", settings.amqp.prefix);
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    channel
        .queue_declare(
            baseline_queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await?;
    publish_all(&channel, "", &baseline_queue, &bodies).await?;
    let consume_channel = conn.create_channel().await?;
    consume_channel
        .basic_qos(settings.amqp.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = consume_channel
        .basic_consume(
            baseline_queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    let mut seen = 0;
    while seen < events {
        match consumer.next().await {
            Some(Ok(d)) => {
                d.ack(BasicAckOptions::default()).await?;
                seen += 1;
            }
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("the baseline consumer ended early"),
        }
    }
    let baseline = started.elapsed();
    let _ = consume_channel.close(200, "baseline done".into()).await;

    // 2. The pipeline.
    let pool = dokflyt::db::connect_and_migrate(&settings.database).await?;
    let rules = dokflyt::rules::SharedRules::load(&settings.paths.rules_dir)?;
    let renderer = dokflyt::render::Renderer::load(&settings.paths.templates_dir)?;
    let topology = Topology::new(&settings.amqp.prefix, settings.amqp.delivery_limit);
    topology.declare(&channel).await?;
    let key = broker::document_routing_key("conduct_warning");
    publish_all(&channel, &topology.events_exchange, &key, &bodies).await?;
    let ctx = PipelineContext {
        pool: pool.clone(),
        rules,
        renderer: Arc::new(renderer),
        max_message_bytes: settings.amqp.max_message_bytes,
        render_permits: dokflyt::pipeline::render_permits(settings.amqp.render_threads),
    };
    let renderer = ctx.renderer.clone();
    let renders_at_once = match settings.amqp.render_threads {
        0 => "no bound".to_string(),
        n => n.to_string(),
    };
    let stats = Arc::new(ConsumerStats::default());
    let shutdown = CancellationToken::new();
    let cpu_before = cpu::sample();
    let started = Instant::now();
    let worker = tokio::spawn(
        Consumer::new(ctx, settings.amqp.clone(), stats.clone()).run(shutdown.clone()),
    );
    let limit = Instant::now() + Duration::from_secs(600);
    loop {
        let done =
            stats.completed.load(Ordering::Relaxed) + stats.dead_lettered.load(Ordering::Relaxed);
        if done as usize >= events {
            break;
        }
        if Instant::now() > limit {
            anyhow::bail!("the pipeline did not finish {events} events in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let piped = started.elapsed();
    let cpu_after = cpu::sample();
    shutdown.cancel();
    let _ = worker.await;
    let dead = stats.dead_lettered.load(Ordering::Relaxed);

    // Clean up what the run created.
    let _ = channel
        .queue_delete(
            baseline_queue.as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await;
    let _ = channel
        .queue_delete(
            topology.documents_queue.as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await;
    let _ = channel
        .queue_delete(
            topology.dead_letter_queue.as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await;
    let _ = channel
        .exchange_delete(
            topology.events_exchange.as_str().into(),
            ExchangeDeleteOptions::default(),
        )
        .await;
    let _ = channel
        .exchange_delete(
            topology.dead_letter_exchange.as_str().into(),
            ExchangeDeleteOptions::default(),
        )
        .await;
    let _ = conn.close(200, "bench done".into()).await;
    pool.close().await;
    dokflyt::db::drop_database_if_exists(&settings.database, &db_name).await;

    // The renderer alone on the same letter, one thread, after the drain.
    let routed = dokflyt::pipeline::route(
        dokflyt::pipeline::validate(
            bodies.first().context("no events to render")?,
            settings.amqp.max_message_bytes,
        )
        .map_err(|e| anyhow::anyhow!("the bench event does not validate: {e}"))?,
        &dokflyt::rules::RoutingTable::load_dir(&settings.paths.rules_dir)?,
    )
    .map_err(|e| anyhow::anyhow!("the bench event does not route: {e:?}"))?;
    let renders = events.clamp(1, 500);
    // Timed by this thread's CPU time (no await in the loop, so it stays on one
    // thread): on a shared 2-core machine the wall clock also counts the time the
    // thread waited for a core, which the drain's CPU figures do not.
    let render_started = Instant::now();
    let render_cpu_before = cpu::thread_ns();
    for _ in 0..renders {
        renderer.render_pdf(&routed)?;
    }
    let render_wall_ms = render_started.elapsed().as_secs_f64() * 1000.0 / renders as f64;
    let render_ms = match (render_cpu_before, cpu::thread_ns()) {
        (Some(before), Some(after)) if after > before => {
            (after - before) as f64 / 1e6 / renders as f64
        }
        _ => render_wall_ms,
    };

    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!(
        "bench pipeline: {events} conduct_warning events, prefetch {}, concurrency {}, renders at once {}",
        settings.amqp.prefetch,
        settings.amqp.concurrency,
        renders_at_once
    );
    println!(
        "  baseline (broker consume+ack only)   {:>10.0} msg/s   ({:.2} s)",
        rate(baseline),
        baseline.as_secs_f64()
    );
    println!(
        "  pipeline (validate→route→render→commit→ack) {:>10.0} docs/s  ({:.2} s)",
        rate(piped),
        piped.as_secs_f64()
    );
    println!(
        "  ratio pipeline/baseline              {:>10.3}",
        rate(piped) / rate(baseline)
    );
    let per_doc = |ticks: u64| ticks as f64 * 1000.0 / cpu::ticks_per_second() / events as f64;
    let machine = per_doc(
        cpu_after
            .machine_busy
            .saturating_sub(cpu_before.machine_busy),
    );
    let processes = per_doc(cpu_after.processes.saturating_sub(cpu_before.processes));
    println!(
        "  CPU per document during the drain: machine busy {machine:.2} ms, \
         this process + PostgreSQL + RabbitMQ {processes:.2} ms"
    );
    println!(
        "  render only (same letter, one thread)  {render_ms:>10.2} ms/doc CPU ({:.0} docs/s; wall {render_wall_ms:.2} ms; {renders} renders)",
        1000.0 / render_ms
    );
    println!(
        "  overhead per document besides rendering: {:.2} ms (machine), {:.2} ms (these processes)",
        machine - render_ms,
        processes - render_ms
    );
    if dead > 0 {
        println!("  WARNING: {dead} events were dead-lettered; the figure is not a clean run");
    }
    Ok(())
}

/// CPU time from `/proc` (Linux): the machine's busy time and that of this
/// process, PostgreSQL and RabbitMQ, in clock ticks. Zero where `/proc` cannot be
/// read (then the figures print as 0 and say nothing).
mod cpu {
    pub struct Sample {
        pub machine_busy: u64,
        pub processes: u64,
    }

    /// USER_HZ, the unit of `/proc/stat` (100 on Linux; asked of `getconf`).
    pub fn ticks_per_second() -> f64 {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    }

    /// This thread's CPU time in nanoseconds (`/proc/thread-self/schedstat`, first
    /// field: time spent running on a CPU); `None` where it cannot be read.
    pub fn thread_ns() -> Option<u64> {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    pub fn sample() -> Sample {
        Sample {
            machine_busy: machine_busy().unwrap_or(0),
            processes: processes(),
        }
    }

    /// user + nice + system + irq + softirq + steal of the `cpu` line (not idle,
    /// not iowait; guest time is already in user).
    fn machine_busy() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        Some(at(0) + at(1) + at(2) + at(5) + at(6) + at(7))
    }

    /// utime + stime of this process and every `postgres` and `beam.smp` process.
    fn processes() -> u64 {
        let me = std::process::id().to_string();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return 0;
        };
        let mut total = 0;
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ...`: comm may hold spaces; fields follow the last ')'.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let comm = &stat[open + 1..close];
            if !(pid == me || comm == "postgres" || comm == "beam.smp") {
                continue;
            }
            let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            // After comm: state is field 3, utime 14, stime 15 → indexes 11 and 12.
            let at = |i: usize| rest.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
            total += at(11) + at(12);
        }
        total
    }
}

/// Publishes everything, awaiting confirms in windows of 1,000 (pipelined).
async fn publish_all(
    channel: &lapin::Channel,
    exchange: &str,
    routing_key: &str,
    bodies: &[Vec<u8>],
) -> anyhow::Result<()> {
    for chunk in bodies.chunks(1000) {
        let mut confirms = Vec::with_capacity(chunk.len());
        for body in chunk {
            confirms.push(
                channel
                    .basic_publish(
                        exchange.into(),
                        routing_key.into(),
                        BasicPublishOptions::default(),
                        body,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await?,
            );
        }
        for c in confirms {
            if !c.await?.is_ack() {
                anyhow::bail!("the broker refused a publish");
            }
        }
    }
    Ok(())
}
