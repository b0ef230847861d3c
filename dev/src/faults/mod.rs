//! `dokflyt-dev faults [--scenario ID] [--seed N] [--full]`: the fault-injection
//! suite. Each scenario runs the REAL `dokflyt` binary (`serve`, `archive
//! run-now`) as child processes against the real broker and database (a private
//! database and queue prefix), with the stand-ins for SvarUt, the archive and the
//! SMS gateway running in this process as real HTTP servers; it injects its
//! faults, lets everything settle, and asks the [`oracle`] what became of every
//! event.
//!
//! Output: one line per scenario, `scenario=<id> seed=<n> events=<n> lost=<n>
//! duplicated=<n> unexpected=<n> dead-lettered=<n> recovered=<n>` and the
//! scenario's own figures. The seed drives every random choice (which hit of a
//! crash point aborts, kill intervals, the event mix), so a run is replayed with
//! `--seed`. Failure: a scenario whose lost, duplicated or unexpected is not zero
//! (or whose own condition fails) makes the command exit non-zero; a scenario
//! that cannot run (setup, a crash point never reached) is an error.
//!
//! Scenarios built (issue 18's numbering): 2 — kill at each named crash point
//! ([`dokflyt::crashpoint`]); 8 — two archive transfer runs at once from two
//! processes; 1 — `kill -9` of the worker at random intervals under a mixed load;
//! 6 — malformed input mixed into valid events (each dead-lettered once, no panic);
//! 5 — the archive misbehaving (500, 503 with Retry-After, a timeout after the
//! journal post was created, malformed receipts, receipts for another document)
//! while 1 % of the stored PDFs are corrupted. SvarUt, the SMS gateway and SMTP
//! misbehaving are not built.

pub mod oracle;
pub mod world;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use dokflyt::crashpoint::Point;
use dokflyt::Settings;

use crate::standins::archive::fiks::Action;

use oracle::Counts;
use world::World;

/// The scenarios built, in the order a full run takes them.
pub const SCENARIOS: [u32; 5] = [2, 8, 1, 6, 5];

/// One scenario's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: u32,
    pub seed: u64,
    pub counts: Counts,
    /// The scenario's own figures, `key=value` words.
    pub figures: String,
    /// The scenario's own condition beyond the counts (e.g. sent once per document).
    pub own_ok: bool,
}

impl Report {
    pub fn holds(&self) -> bool {
        self.counts.holds() && self.own_ok
    }

    /// The one line the scenario prints.
    pub fn line(&self) -> String {
        let c = &self.counts;
        format!(
            "scenario={} seed={} events={} lost={} duplicated={} unexpected={} dead-lettered={} recovered={} {}",
            self.scenario,
            self.seed,
            c.events,
            c.lost,
            c.duplicated,
            c.unexpected,
            c.dead_lettered,
            c.recovered,
            self.figures
        )
    }
}

/// The command: every built scenario (or one), printed as it ends. Err when a
/// scenario does not hold.
pub async fn run(
    settings: Settings,
    scenario: Option<u32>,
    seed: Option<u64>,
    full: bool,
    bin: &Path,
) -> anyhow::Result<()> {
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    });
    let ids: Vec<u32> = match scenario {
        Some(id) => vec![id],
        None => SCENARIOS.to_vec(),
    };
    let mut red = Vec::new();
    for id in ids {
        let report = run_scenario(&settings, bin, id, seed, full).await?;
        println!("{}", report.line());
        if !report.holds() {
            red.push(id);
        }
    }
    anyhow::ensure!(red.is_empty(), "scenarios that did not hold: {red:?}");
    Ok(())
}

/// Runs one scenario in a world of its own and removes the world afterwards.
pub async fn run_scenario(
    settings: &Settings,
    bin: &Path,
    id: u32,
    seed: u64,
    full: bool,
) -> anyhow::Result<Report> {
    anyhow::ensure!(
        SCENARIOS.contains(&id),
        "scenario {id} is not built; built: {SCENARIOS:?}"
    );
    anyhow::ensure!(
        bin.exists(),
        "the dokflyt binary {} does not exist (cargo build -p dokflyt, or --bin)",
        bin.display()
    );
    dokflyt::tls::ensure_crypto_provider();
    let archive_delay = if id == 8 {
        Duration::from_millis(20)
    } else {
        Duration::ZERO
    };
    let mut world = World::new(settings, bin, archive_delay).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let result = match id {
        2 => kill_at_points(&mut world, &mut rng, if full { 20 } else { 3 }).await,
        8 => two_transfer_runs(&mut world, if full { 1000 } else { 100 }).await,
        5 => archive_misbehaving(&mut world, &mut rng, if full { 2000 } else { 150 }).await,
        6 => {
            let (valid, rounds) = if full { (10_000, 77) } else { (300, 3) };
            malformed_input(&mut world, &mut rng, valid, rounds).await
        }
        _ => {
            let (events, kills, interval) = if full {
                (10_000, 25, (2_000, 20_000))
            } else {
                (500, 5, (1_000, 4_000))
            };
            random_kills(&mut world, &mut rng, events, kills, interval, full).await
        }
    };
    let report = match result {
        Ok((figures, own_ok)) => oracle::count(&world).await.map(|counts| {
            let by = counts.recovered_by;
            Report {
                scenario: id,
                seed,
                figures: format!(
                    "{figures} recovered_by=svarut:{},archive:{},sms:{},consumer:{} seconds={}",
                    by[0],
                    by[1],
                    by[2],
                    by[3],
                    started.elapsed().as_secs()
                ),
                counts,
                own_ok,
            }
        }),
        Err(e) => Err(e),
    };
    world.clean().await;
    report
}

/// Starts a worker, lets everything reach a terminal state (running the archive
/// transfer as needed), stops the worker. Err when `limit` passes first.
async fn settle(world: &World, limit: Duration) -> anyhow::Result<()> {
    let worker = world.serve(None).await?;
    let deadline = Instant::now() + limit;
    let result = loop {
        let open = oracle::not_terminal(world).await?;
        if open == 0 {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "{open} events without a terminal state after {} s",
                limit.as_secs()
            ));
        }
        let klar = world
            .count(
                "SELECT count(*) FROM archive_queue
                  WHERE status = 'klar' AND (claimed_until IS NULL OR claimed_until < now())",
            )
            .await?;
        if klar > 0 {
            world.archive_run(None).await?;
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    worker.kill9().await;
    result
}

/// Waits until no archive claim is held (a crashed run's claims expire).
async fn claims_expired(world: &World) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while world
        .count("SELECT count(*) FROM archive_queue WHERE claimed_until > now()")
        .await?
        > 0
    {
        anyhow::ensure!(Instant::now() < deadline, "archive claims never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Scenario 2: each named crash point fired `fires` times, each time on a hit
/// chosen by the seed; after each point, everything settles.
async fn kill_at_points(
    world: &mut World,
    rng: &mut StdRng,
    fires: u32,
) -> anyhow::Result<(String, bool)> {
    world.load_roster(40 + 15 * fires as usize).await?;
    let limit = Duration::from_secs(90);
    let mut total = 0;
    for point in Point::ALL {
        let name = point.name();
        match point {
            Point::ConsumerCommitted | Point::DeliveryAccepted => {
                for _ in 0..fires {
                    // Fresh work for every fire: a crash also commits (or sends)
                    // whatever else was in flight, which the restart finishes.
                    for t in [
                        "conduct_warning",
                        "grade_warning",
                        "leave_decision",
                        "sfo_decision",
                    ] {
                        let e = world.event_of(t);
                        world.publish(&e).await?;
                    }
                    let n: u32 = rng.random_range(1..=3);
                    let p = world.serve(Some(&format!("{name}@{n}"))).await?;
                    anyhow::ensure!(
                        p.wait_crash(limit).await,
                        "crash point {name}@{n} was not reached"
                    );
                    total += 1;
                }
            }
            Point::ArchivePosted => {
                for _ in 0..fires * 4 {
                    let e = world.event_of("leave_application");
                    world.publish(&e).await?;
                }
                // Committed (klar) by a worker that does not transfer.
                let worker = world.serve(None).await?;
                let want = i64::from(fires * 4);
                let deadline = Instant::now() + limit;
                while world
                    .count("SELECT count(*) FROM archive_queue WHERE status = 'klar'")
                    .await?
                    < want
                {
                    anyhow::ensure!(Instant::now() < deadline, "documents never became klar");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                worker.kill9().await;
                for _ in 0..fires {
                    claims_expired(world).await?;
                    let n: u32 = rng.random_range(1..=3);
                    let p = world.archive_run(Some(&format!("{name}@{n}"))).await?;
                    anyhow::ensure!(
                        p.crashed.load(Ordering::SeqCst),
                        "crash point {name}@{n} was not reached"
                    );
                    total += 1;
                }
                claims_expired(world).await?;
            }
            Point::SmsAccepted => {
                let e = world.event_of_sms();
                world.publish(&e).await?;
                for _ in 0..fires {
                    let n: u32 = rng.random_range(1..=5);
                    let p = world.serve(Some(&format!("{name}@{n}"))).await?;
                    anyhow::ensure!(
                        p.wait_crash(limit).await,
                        "crash point {name}@{n} was not reached"
                    );
                    total += 1;
                }
            }
        }
        settle(world, limit).await?;
    }
    Ok((
        format!("crashes={total} points=4 fires_per_point={fires}"),
        true,
    ))
}

/// Scenario 8: `documents` documents `klar`, then two `dokflyt archive run-now`
/// processes started at once. Every document must be archived, and the archive
/// must have seen each document's journal post requested once.
async fn two_transfer_runs(world: &mut World, documents: usize) -> anyhow::Result<(String, bool)> {
    let types = ["leave_application", "sfo_application", "leave_decision"];
    for i in 0..documents {
        let e = world.event_of(types[i % types.len()]);
        world.publish(&e).await?;
    }
    let worker = world.serve(None).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let committed = world.count("SELECT count(*) FROM events").await?
            + world.count("SELECT count(*) FROM dead_letters").await?;
        if committed >= documents as i64 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the events were never committed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The SvarUt letters of leave_decision go out meanwhile; the archive waits.
    let klar = world
        .count("SELECT count(*) FROM archive_queue WHERE status = 'klar'")
        .await?;
    let mut a = world.spawn(&["archive", "run-now"], None)?;
    let mut b = world.spawn(&["archive", "run-now"], None)?;
    let (ra, rb) = tokio::join!(a.child.wait(), b.child.wait());
    ra.context("first run")?;
    rb.context("second run")?;
    worker.kill9().await;
    let arkivert = world
        .count("SELECT count(*) FROM archive_queue WHERE status = 'arkivert'")
        .await?;
    let runs_with_work = world
        .count("SELECT count(DISTINCT run_id) FROM transfer_attempts")
        .await?;
    let requested_twice = world
        .archive
        .with(|s| s.requests.values().filter(|n| **n > 1).count());
    settle(world, Duration::from_secs(120)).await?;
    Ok((
        format!(
            "klar={klar} arkivert_by_the_two_runs={arkivert} runs_that_sent={runs_with_work} requested_twice={requested_twice}"
        ),
        requested_twice == 0 && arkivert == klar,
    ))
}

/// Scenario 1: a mixed load (and one emergency SMS, and archive transfers
/// running meanwhile) while the worker is killed with SIGKILL `kills` times at
/// random intervals within `interval` (ms), each time started again.
async fn random_kills(
    world: &mut World,
    rng: &mut StdRng,
    events: usize,
    kills: u32,
    interval: (u64, u64),
    full: bool,
) -> anyhow::Result<(String, bool)> {
    let sms_recipients = if full { 1000 } else { 200 };
    world.load_roster(sms_recipients).await?;
    // The kills are planned up front from the seed, then the load is spread over them.
    let waits: Vec<u64> = (0..kills)
        .map(|_| rng.random_range(interval.0..=interval.1))
        .collect();
    let window_ms: u64 = waits.iter().sum();
    let mut bodies = Vec::with_capacity(events);
    for i in 0..events {
        if i == events / 3 {
            bodies.push(world.event_of_sms());
        }
        bodies.push(world.mixed_event(rng));
    }
    let n = bodies.len();
    for b in &bodies {
        let id = b["event_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("event id")?;
        world.published.push(id);
    }
    // The publisher: its own channel, spread over the kill window.
    let channel = dokflyt::broker::confirm_channel(&world.conn).await?;
    let topology = world.topology.clone();
    let per_chunk = 10usize;
    let pause = Duration::from_millis(window_ms * per_chunk as u64 / n.max(1) as u64);
    let publisher = tokio::spawn(async move {
        for chunk in bodies.chunks(per_chunk) {
            for b in chunk {
                let body = serde_json::to_vec(b)?;
                dokflyt::broker::publish_event(&channel, &topology, &body).await?;
            }
            tokio::time::sleep(pause).await;
        }
        anyhow::Ok(())
    });
    // The archive transfer, running meanwhile (never killed here).
    let stop = Arc::new(AtomicBool::new(false));
    let transfers = {
        let stop = stop.clone();
        let w: &World = world;
        let cmd = (w.bin.clone(), w.config.path().to_path_buf(), w.repo.clone());
        tokio::spawn(async move {
            let mut runs = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let status = tokio::process::Command::new(&cmd.0)
                    .args(["archive", "run-now"])
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("DOKFLYT_CONFIG", &cmd.1)
                    .env("DOKFLYT_LOG", "warn,lapin=error")
                    .current_dir(&cmd.2)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .status()
                    .await;
                if status.is_ok() {
                    runs += 1;
                }
                tokio::time::sleep(Duration::from_millis(1000)).await;
            }
            runs
        })
    };
    let mut worker = world.serve(None).await?;
    for wait in &waits {
        tokio::time::sleep(Duration::from_millis(*wait)).await;
        worker.kill9().await;
        worker = world.serve(None).await?;
    }
    publisher.await??;
    stop.store(true, Ordering::SeqCst);
    let transfer_runs = transfers.await?;
    worker.kill9().await;
    settle(world, Duration::from_secs(if full { 1800 } else { 180 })).await?;
    Ok((
        format!(
            "kills={kills} interval_ms={}-{} sms_recipients={} transfer_runs={transfer_runs} svarut={} journal_posts={} sms={}",
            interval.0,
            interval.1,
            world.count("SELECT count(*) FROM sms_recipients").await?,
            world.svarut.per_ekstern_ref().values().sum::<usize>(),
            world.archive.with(|a| a.created.len()),
            world.sms.accepted(),
        ),
        true,
    ))
}

/// The malformed inputs of scenario 6, each (kind, body), built from valid
/// example events.
fn malformed(world: &World, rng: &mut StdRng) -> Vec<(&'static str, Vec<u8>)> {
    let valid = |w: &World| serde_json::to_vec(&w.event_of("conduct_warning")).unwrap_or_default();
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let v = valid(world);
    out.push(("truncated", v[..v.len() / 2].to_vec()));
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend(valid(world));
    out.push(("bom", bom));
    let text =
        String::from_utf8_lossy(&valid(world)).replacen("\"title\": \"", "\"title\": \"\u{1}\0", 1);
    let text = if text.contains('\u{1}') {
        text
    } else {
        String::from_utf8_lossy(&valid(world)).replacen("\"title\":\"", "\"title\":\"\u{1}\0", 1)
    };
    out.push(("control_characters", text.into_bytes()));
    let depth = 10_000 + rng.random_range(0..1000);
    out.push((
        "deep_nesting",
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
    ));
    let mut e = world.event_of("conduct_warning");
    e["schema_version"] = serde_json::json!(1);
    let huge = serde_json::to_string(&e).unwrap_or_default().replacen(
        "\"schema_version\":1",
        "\"schema_version\":1e400",
        1,
    );
    out.push(("huge_number", huge.into_bytes()));
    let e = world.event_of("conduct_warning");
    let dup = serde_json::to_string(&e).unwrap_or_default().replacen(
        '{',
        &format!("{{\"event_id\":\"{}\",", uuid::Uuid::new_v4()),
        1,
    );
    out.push(("duplicate_keys", dup.into_bytes()));
    let mut e = world.event_of("conduct_warning");
    e["recipients"][0]["national_id"] = serde_json::json!("12345678901");
    out.push((
        "invalid_national_id",
        serde_json::to_vec(&e).unwrap_or_default(),
    ));
    let mut e = world.event_of("conduct_warning");
    e["document_type"] = serde_json::json!("no_such_type");
    out.push((
        "unknown_document_type",
        serde_json::to_vec(&e).unwrap_or_default(),
    ));
    let mut e = world.event_of("conduct_warning");
    e["schema_version"] = serde_json::json!(99);
    out.push(("schema_version", serde_json::to_vec(&e).unwrap_or_default()));
    let mut e = world.event_of("conduct_warning");
    if let Some(o) = e.as_object_mut() {
        o.remove("school");
    }
    out.push(("missing_field", serde_json::to_vec(&e).unwrap_or_default()));
    let mut e = world.event_of("conduct_warning");
    e["fields"]["padding"] = serde_json::json!("x".repeat(2 * 1024 * 1024));
    out.push(("oversize", serde_json::to_vec(&e).unwrap_or_default()));
    out
}

/// Scenario 6 (reduced): `valid` events of the mix with `rounds` × every kind of
/// malformed input mixed in. Each malformed one must be dead-lettered exactly once
/// with a reason code and no personal data; no worker may panic; every valid
/// event must reach its terminal state (lost = 0).
async fn malformed_input(
    world: &mut World,
    rng: &mut StdRng,
    valid: usize,
    rounds: usize,
) -> anyhow::Result<(String, bool)> {
    let mut bad = Vec::new();
    for _ in 0..rounds {
        bad.extend(malformed(world, rng));
    }
    let every = (valid / bad.len().max(1)).max(1);
    let mut b = bad.iter();
    for i in 0..valid {
        let e = world.mixed_event(rng);
        world.publish(&e).await?;
        if i % every == 0 {
            if let Some((_, body)) = b.next() {
                world.publish_raw(body).await?;
            }
        }
    }
    for (_, body) in b {
        world.publish_raw(body).await?;
    }
    settle(world, Duration::from_secs(300)).await?;
    let want = bad.len() as i64;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dead = 0;
    while Instant::now() < deadline {
        dead = world.count("SELECT count(*) FROM dead_letters").await?;
        if dead >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let codes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT reason_code, count(*) FROM dead_letters GROUP BY reason_code ORDER BY reason_code",
    )
    .fetch_all(&world.pool)
    .await?;
    // The example's personal data (names, national ids) and the injected bad id.
    let example = world.event_of("conduct_warning");
    let mut needles = vec![
        format!("%{}%", "12345678901"),
        format!("%{}%", example["pupil"]["name"].as_str().unwrap_or("-")),
    ];
    for r in example["recipients"].as_array().into_iter().flatten() {
        for k in ["name", "national_id", "email", "mobile"] {
            if let Some(v) = r[k].as_str() {
                needles.push(format!("%{v}%"));
            }
        }
    }
    let leaked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE reason LIKE ANY($1)")
            .bind(&needles)
            .fetch_one(&world.pool)
            .await?;
    let panics = world.panics.load(Ordering::Relaxed);
    let codes_text = codes
        .iter()
        .map(|(c, n)| format!("{c}:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    Ok((
        format!(
            "malformed={want} kinds={} dead_lettered_malformed={dead} reason_codes={codes_text} personal_data_in_reasons={leaked} panics={panics}",
            bad.len() / rounds.max(1)
        ),
        dead == want && leaked == 0 && panics == 0,
    ))
}

/// Scenario 5 (the archive): `documents` archive-only documents made `klar` by
/// the worker, then ≈1 % of their stored PDFs corrupted (one byte flipped, the
/// recorded SHA-256 kept), then transferred while the archive answers per a
/// script drawn from the seed: per journal-post request ≈15 % 500, ≈15 % 503
/// with Retry-After, ≈10 % a timeout after the journal post was created, ≈2 % a
/// malformed receipt and ≈2 % a receipt for another document. Must hold: every
/// document ends `arkivert` or `feilet` with an error class; every `arkivert`
/// row carries the system id of the journal post the archive holds for its key;
/// no corrupted PDF reaches the archive (each ends `feilet`/`pdf_checksum`).
async fn archive_misbehaving(
    world: &mut World,
    rng: &mut StdRng,
    documents: usize,
) -> anyhow::Result<(String, bool)> {
    let types = ["leave_application", "sfo_application"];
    let mut ids = Vec::with_capacity(documents);
    for i in 0..documents {
        let e = world.event_of(types[i % types.len()]);
        world.publish(&e).await?;
        ids.push(
            e["event_id"]
                .as_str()
                .and_then(|s| s.parse::<uuid::Uuid>().ok())
                .context("event id")?,
        );
    }
    // Committed (klar) by a worker that does not transfer.
    let worker = world.serve(None).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while world
        .count("SELECT count(*) FROM archive_queue WHERE status = 'klar'")
        .await?
        < documents as i64
    {
        anyhow::ensure!(Instant::now() < deadline, "documents never became klar");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    worker.kill9().await;

    // ≈1 % of the stored PDFs corrupted (at least one).
    let corrupt_n = (documents / 100).max(1);
    let mut corrupt = Vec::with_capacity(corrupt_n);
    while corrupt.len() < corrupt_n {
        let id = ids[rng.random_range(0..ids.len())];
        if !corrupt.contains(&id) {
            corrupt.push(id);
        }
    }
    let flipped = sqlx::query(
        "UPDATE documents SET pdf = set_byte(pdf, length(pdf) / 2, get_byte(pdf, length(pdf) / 2) # 255)
          WHERE event_id = ANY($1) AND pdf IS NOT NULL",
    )
    .bind(&corrupt)
    .execute(&world.pool)
    .await?
    .rows_affected();
    anyhow::ensure!(
        flipped == corrupt_n as u64,
        "only {flipped} of {corrupt_n} chosen documents had a stored PDF"
    );

    // The archive's script: enough for every first attempt and its retries.
    let script: Vec<Action> = (0..documents * 3)
        .map(|_| match rng.random_range(0..100) {
            0..15 => Action::Status500,
            15..30 => Action::Unavailable,
            30..40 => Action::SlowAfterCommit(Duration::from_millis(1500)),
            40..42 => Action::Malformed,
            42..44 => Action::WrongKey,
            _ => Action::Normal,
        })
        .collect();
    world
        .archive
        .state
        .lock()
        .map_err(|_| anyhow::anyhow!("archive stand-in lock poisoned"))?
        .script = script.into();

    settle(world, Duration::from_secs(600)).await?;

    let (served, posts, requests) = world.archive.with(|a| {
        (
            a.served.clone(),
            a.posts.clone(),
            a.requests
                .keys()
                .cloned()
                .collect::<std::collections::HashSet<_>>(),
        )
    });
    let rows: Vec<(uuid::Uuid, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT event_id, status::text, error_class, archive_system_id FROM archive_queue
          WHERE event_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&world.pool)
    .await?;
    let mut arkivert = 0usize;
    let mut without_receipt = 0usize;
    let mut without_reason = 0usize;
    let mut other_status = 0usize;
    let mut feilet_in_archive = 0usize;
    let mut feilet: std::collections::BTreeMap<String, usize> = Default::default();
    for (id, status, class, system_id) in &rows {
        match status.as_str() {
            "arkivert" => {
                arkivert += 1;
                let held = posts.get(&id.to_string()).map(|(sid, _)| sid);
                if held.is_none() || held != system_id.as_ref() {
                    without_receipt += 1;
                }
            }
            "feilet" if posts.contains_key(&id.to_string()) => {
                // In doubt: a timed-out attempt created the journal post, later
                // attempts failed too. Reset to klar, the resend finds it.
                feilet_in_archive += 1;
                match class.as_deref().filter(|c| !c.is_empty()) {
                    Some(c) => *feilet.entry(c.to_string()).or_default() += 1,
                    None => without_reason += 1,
                }
            }
            "feilet" => match class.as_deref().filter(|c| !c.is_empty()) {
                Some(c) => *feilet.entry(c.to_string()).or_default() += 1,
                None => without_reason += 1,
            },
            _ => other_status += 1,
        }
    }
    let corrupt_sent = corrupt
        .iter()
        .filter(|id| requests.contains(&id.to_string()))
        .count();
    let corrupt_refused = rows
        .iter()
        .filter(|(id, st, class, _)| {
            corrupt.contains(id) && st == "feilet" && class.as_deref() == Some("pdf_checksum")
        })
        .count();
    let mut kinds: Vec<_> = served.iter().collect();
    kinds.sort();
    let injected = kinds
        .iter()
        .map(|(k, n)| format!("{k}:{n}"))
        .chain(std::iter::once(format!("corrupt_pdf:{corrupt_n}")))
        .collect::<Vec<_>>()
        .join(",");
    let feilet_text = if feilet.is_empty() {
        "-".to_string()
    } else {
        feilet
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let ok = rows.len() == documents
        && other_status == 0
        && without_reason == 0
        && without_receipt == 0
        && corrupt_sent == 0
        && corrupt_refused == corrupt_n;
    Ok((
        format!(
            "service=archive documents={documents} injected={injected} arkivert={arkivert} feilet={feilet_text} \
             feilet_with_journal_post_in_archive={feilet_in_archive} feilet_without_reason={without_reason} arkivert_without_matching_receipt={without_receipt} \
             corrupt_pdf_sent={corrupt_sent} corrupt_pdf_refused={corrupt_refused}"
        ),
        ok,
    ))
}
