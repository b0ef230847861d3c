//! `dokflyt-dev demo`: shows a newcomer the pipeline working on the local services,
//! and the dashboard in every state it has.
//!
//! [`serve`] is the whole command: the product's service ([`App`], as `dokflyt
//! serve` builds it) with the demo's settings and stand-ins, the examples
//! published, their fates printed, and dokflyt kept running until Ctrl-C.
//!
//! Publishes every example event in `examples/events/` (with an `event_id` of
//! its own, the same in every run: a second run on the same database keeps what
//! the first processed, says so, and never doubles the documents), one of them twice (to show that a
//! duplicate has its effects once), and the invalid examples in `examples/invalid/`
//! (to show dead-lettering with a reason); then waits for each and prints its fate.
//! Before that it loads the example schools' roster (`examples/roster/`: pupils,
//! guardians and staff with fictional mobile numbers, see [`sms_gateway`]).
//! [`prepare`] starts the local stand-ins and points dokflyt at them: SvarUt
//! (email is off: there is no SMTP server), so the letters are really sent over
//! HTTP and their statuses move (MOTTATT … LEST) while the demo watches; the SMS
//! gateway ([`sms_gateway`]), so the example emergency SMS is sent and delivered;
//! the contact register ([`crate::standins::krr`]), holding every example
//! guardian as the events describe them except one who is reserved
//! ([`DEMO_RESERVED_GUARDIAN`]: their letters are printed, not sent digitally);
//! and the sign-in provider. [`archive_target`] is the archive: the offline
//! package, refusing three example documents once ([`archive`]) so the dashboard's
//! Feilet tab has entries to fix.

use crate::standins::{archive, sms_gateway};

use dokflyt::app::{install_signal_handlers, App};
use tokio_util::sync::CancellationToken;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use dokflyt::broker::{self, Topology};
use dokflyt::db::status::{fate, EventFate};
use dokflyt::Settings;

/// The municipality of the nynorsk example event (Sogndal).
pub const DEMO_NYNORSK_MUNICIPALITY: &str = "4640";
/// The municipality of the Sámi-area example event (Kautokeino, North Sámi).
pub const DEMO_SAMI_MUNICIPALITY: &str = "5430";

/// The nynorsk example (`conduct_warning_nynorsk`, Sogndal) is written in
/// nynorsk, and the Sámi-area example (`general_information_sami`, Kautokeino)
/// carries North Sámi, unless the settings already say otherwise for them.
pub fn demo_languages(letters: &mut dokflyt::config::letters::LetterSettings) {
    use dokflyt::config::letters::{Language, Override, Sami};
    letters
        .municipalities
        .entry(DEMO_NYNORSK_MUNICIPALITY.to_string())
        .or_insert(Override {
            language: Some(Language::Nynorsk),
            sami: None,
            ..Override::default()
        });
    letters
        .municipalities
        .entry(DEMO_SAMI_MUNICIPALITY.to_string())
        .or_insert(Override {
            language: None,
            sami: Some(Sami::North),
            ..Override::default()
        });
}

/// Local services the demo starts; dropped when the server stops.
pub struct DemoServices {
    pub svarut: crate::standins::svarut::SvarUtStandIn,
    /// The demo's OpenID Connect provider for the dashboard's sign-in.
    pub idp: crate::standins::idp::DemoIdp,
    /// The SMS gateway the example emergency SMS and the principal's go through.
    pub sms: sms_gateway::GatewayStandIn,
    /// The contact register, holding every example guardian as the events
    /// describe them, except [`DEMO_RESERVED_GUARDIAN`], who is reserved.
    pub krr: crate::standins::krr::KrrStandIn,
}

/// The example guardian the demo's contact register says is reserved against
/// digital communication: their SvarUt letters go on paper (MOTTATT → … →
/// PRINTET) instead of to a digital mailbox.
pub const DEMO_RESERVED_GUARDIAN: &str = "pers-60772";

/// Puts every guardian of the example events (with a national id) into the
/// register stand-in as the event describes them — a digital mailbox where the
/// event says so, its email and mobile, bokmål — so the register changes
/// nothing but the one reserved guardian.
fn seed_register(krr: &crate::standins::krr::KrrStandIn, examples: &Path) -> anyhow::Result<usize> {
    use crate::standins::krr::KrrPerson;
    let mut n = 0;
    for file in sorted_files(examples)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        for r in v["recipients"].as_array().into_iter().flatten() {
            let (Some("guardian"), Some(id), Some(nid)) = (
                r["kind"].as_str(),
                r["id"].as_str(),
                r["national_id"].as_str(),
            ) else {
                continue;
            };
            let reserved = id == DEMO_RESERVED_GUARDIAN;
            krr.put(KrrPerson {
                reserved,
                may_notify: !reserved,
                email: r["email"].as_str().map(str::to_string),
                mobile: r["mobile"].as_str().map(str::to_string),
                mailbox: r["digital_mail"]
                    .as_bool()
                    .unwrap_or(false)
                    .then(|| "demo#postkasse".to_string()),
                language: Some("nb".into()),
                ..KrrPerson::active(nid)
            });
            n += 1;
        }
    }
    Ok(n)
}

/// Emergency SMS the demo sends itself (the example event `emergency_sms`). The
/// demo raises each school's hourly limit by this many, so the example does not
/// use up what the principal may send from the dashboard
/// (`sms.max_messages_per_hour` counts every message of the school in the last hour).
pub const DEMO_OWN_SMS: i64 = 1;

/// The demo's archive: the offline package in `settings.archive.directory`, with
/// the refusals of [`archive::REFUSED`].
pub fn archive_target(
    settings: &Settings,
    pool: PgPool,
) -> std::sync::Arc<dyn dokflyt::archive::ArchiveClient> {
    std::sync::Arc::new(archive::DemoArchive::new(
        &settings.archive.directory,
        &settings.archive.system,
        pool,
        demo_event_id,
    ))
}

/// The demo, until SIGTERM or Ctrl-C: what `dokflyt serve` runs, with the
/// development token allowed on any address (`http.demo_mode`), the archive as
/// an offline package in `out/demo/arkiv`, and the stand-ins of [`prepare`].
pub async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    // The development token is allowed on any address only for the demo.
    settings.http.demo_mode = true;
    // No archive on this machine: the demo archives into an offline package.
    settings.archive.target = dokflyt::config::ArchiveTarget::Directory;
    settings.archive.directory = PathBuf::from("out/demo/arkiv");
    // The local stand-ins live as long as the server.
    let (settings, services) = prepare(settings).await?;
    tracing::info!(
        amqp = %settings.amqp.url.redacted_url(),
        database = %settings.database.url.redacted_url(),
        http = %settings.http.addr,
        "starting dokflyt (demo)"
    );
    let mut app = App::build(settings).await?;
    let addr = app.http_addr()?;
    tracing::info!(%addr, "HTTP server listening (/healthz, /readyz, /api/status)");
    let shutdown = CancellationToken::new();
    install_signal_handlers(shutdown.clone(), app.ctx.rules.clone());
    // The demo's archive refuses a few documents once (the scheduler, the API's
    // and the dashboard's run-now use it too); the SMS gateway reports deliveries here.
    app.archive = archive_target(&app.settings, app.ctx.pool.clone());
    services.sms.report_to(addr);
    let ctx = app.ctx.clone();
    let demo_settings = app.settings.clone();
    let archive = app.archive.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&demo_settings, &ctx.pool, addr, archive).await {
            eprintln!("demo failed: {e:#}");
        }
    });
    app.run_until_stopped(shutdown).await?;
    drop(services);
    Ok(())
}

/// Starts the SvarUt stand-in and adjusts the settings to use it.
pub async fn prepare(mut settings: Settings) -> anyhow::Result<(Settings, DemoServices)> {
    use crate::standins::svarut::{StandInAuth, SvarUtStandIn};
    let svarut = SvarUtStandIn::start("127.0.0.1:0", StandInAuth::default())
        .await
        .context("starting the SvarUt stand-in")?;
    settings.delivery.enabled = true;
    settings.delivery.svarut = dokflyt::config::SvarUtSettings {
        poll_interval_secs: 2,
        ..svarut.client_settings()
    };
    settings.delivery.email.enabled = false;
    let krr = crate::standins::krr::KrrStandIn::start("127.0.0.1:0", crate::standins::krr::TOKEN)
        .await
        .context("starting the contact register stand-in")?;
    seed_register(&krr, &settings.paths.examples_dir)
        .context("reading the example guardians for the contact register")?;
    settings.delivery.contact_register = dokflyt::config::ContactRegisterSettings {
        enabled: true,
        url: krr.url(),
        token: dokflyt::config::Secret::new(crate::standins::krr::TOKEN),
        ..dokflyt::config::ContactRegisterSettings::default()
    };
    demo_languages(&mut settings.letters);
    settings.delivery.idle_poll_ms = 200;
    let sms = sms_gateway::GatewayStandIn::start_with(sms_gateway::Options::demo())
        .await
        .context("starting the SMS gateway stand-in")?;
    sms.configure(&mut settings.sms);
    settings.sms.max_messages_per_hour += DEMO_OWN_SMS;
    // The dashboard signs in through a local OpenID Connect provider (Feide and
    // ID-porten are not reachable from here); the browser sees dokflyt on localhost.
    let port = settings
        .http
        .addr
        .rsplit(':')
        .next()
        .unwrap_or("8080")
        .to_string();
    settings.dashboard.public_url = format!("http://localhost:{port}");
    let bind = std::env::var("DOKFLYT_DEMO_IDP_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let idp = crate::standins::idp::DemoIdp::start(&bind, &settings.dashboard.redirect_uri())
        .await
        .context("starting the demo sign-in")?;
    settings.dashboard.oidc_issuer = idp.issuer.clone();
    settings.dashboard.oidc_client_id = idp.client_id.clone();
    settings.dashboard.oidc_client_secret = dokflyt::secret::Secret::new(idp.client_secret.clone());
    settings.dashboard.oidc_scopes = "openid profile dokflyt".into();
    settings.dashboard.claims = dokflyt::config::ClaimMapping::default();
    Ok((
        settings,
        DemoServices {
            svarut,
            idp,
            sms,
            krr,
        },
    ))
}

struct Published {
    label: String,
    event_id: Option<Uuid>,
}

/// Publishes the examples, waits for them, runs the archive transfer into
/// `archive` and prints what happened and where to look in the dashboard.
pub async fn run(
    settings: &Settings,
    pool: &PgPool,
    addr: SocketAddr,
    archive: std::sync::Arc<dyn dokflyt::archive::ArchiveClient>,
) -> anyhow::Result<()> {
    let conn = broker::connect(settings.amqp.url.expose(), settings.amqp.heartbeat_secs).await?;
    let channel = broker::confirm_channel(&conn).await?;
    let topology = Topology::new(&settings.amqp.prefix, settings.amqp.delivery_limit);
    topology.declare(&channel).await?;
    // Stands in for the school system: a queue for message.created and document.internal.
    let outbound = dokflyt::channels::outbound::exchange_name(&settings.amqp.prefix);
    dokflyt::channels::outbound::Outbound::declare(&channel, &outbound).await?;
    let demo_queue = format!("{}.demo.school-system", settings.amqp.prefix);
    channel
        .queue_declare(
            demo_queue.as_str().into(),
            lapin::options::QueueDeclareOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            demo_queue.as_str().into(),
            outbound.as_str().into(),
            "#".into(),
            lapin::options::QueueBindOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await?;

    // The school system's roster of the example school: the emergency SMS example's
    // sender is its principal there (the roster, not the event, decides who may send).
    let roster_dir = settings.paths.examples_dir.with_file_name("roster");
    if roster_dir.is_dir() {
        for file in sorted_files(&roster_dir)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let change = dokflyt::roster::RosterChange::parse(line.as_bytes())
                    .with_context(|| format!("{} holds an invalid roster event", file.display()))?;
                dokflyt::roster::apply(pool, &change).await?;
            }
        }
    }

    let mut published = Vec::new();
    let mut kept = 0;
    let examples = sorted_files(&settings.paths.examples_dir)?;
    for file in &examples {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let mut value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        let label = stem(file);
        let id = demo_event_id(&label);
        value["event_id"] = serde_json::Value::String(id.to_string());
        let body = serde_json::to_vec(&value)?;
        let seen: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE event_id = $1)")
                .bind(id)
                .fetch_one(pool)
                .await?;
        if seen {
            kept += 1;
            published.push(Published {
                label: format!("{label} (kept from an earlier run)"),
                event_id: Some(id),
            });
            continue;
        }
        broker::publish_event(&channel, &topology, &body).await?;
        if label == "conduct_warning" {
            // The producer publishing the same event twice: one document, one archive row.
            broker::publish_event(&channel, &topology, &body).await?;
            published.push(Published {
                label: format!("{label} (published twice)"),
                event_id: Some(id),
            });
        } else {
            published.push(Published {
                label,
                event_id: Some(id),
            });
        }
    }
    let invalid_dir = settings.paths.examples_dir.with_file_name("invalid");
    let mut invalid_count = 0;
    // The invalid examples have no identity to recognise them by: an earlier run
    // on this database dead-lettered them already, and they are not sent again.
    if invalid_dir.is_dir() && kept == 0 {
        for file in sorted_files(&invalid_dir)? {
            let body = std::fs::read(&file)?;
            broker::publish_event(&channel, &topology, &body).await?;
            invalid_count += 1;
        }
    }
    let _ = conn.close(200, "demo published".into()).await;

    println!();
    println!(
        "dokflyt demo: published {} example events and {invalid_count} invalid ones",
        published.len() - kept
    );
    if kept > 0 {
        println!(
            "dokflyt demo: {kept} example events were already processed by an earlier demo run \
             on this database; they are kept as they are (documents, archive statuses, \
             deliveries, the emergency SMS and the audit log), not published again \
             (nor the invalid examples: that run dead-lettered them). \
             To start clean: stop dokflyt, `dropdb dokflyt` and `rm -rf out/demo`."
        );
    }
    println!(
        "{:<46} {:<15} {:<10} archive",
        "example", "channel", "pdf pages"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    for p in &published {
        let Some(id) = p.event_id else { continue };
        let mut f = fate(pool, id).await?;
        while f == EventFate::Unknown && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            f = fate(pool, id).await?;
        }
        match f {
            EventFate::Processed {
                channel,
                archive_status,
                pdf_pages,
            } => println!(
                "{:<46} {:<15} {:<10} {}",
                p.label,
                channel,
                pdf_pages
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                archive_status.unwrap_or_else(|| "not archived".into())
            ),
            EventFate::DeadLettered {
                reason_code,
                reason,
            } => println!("{:<46} dead-lettered: {reason_code}: {reason}", p.label),
            EventFate::Unknown => println!("{:<46} not processed within 60 s", p.label),
        }
    }
    // The letters themselves, to open in a PDF viewer.
    // Next to the archive package (`out/demo/arkiv` → `out/demo`).
    let out_dir = settings
        .archive
        .directory
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("out/demo"));
    let mut written = 0;
    if std::fs::create_dir_all(&out_dir).is_ok() {
        for p in &published {
            let Some(id) = p.event_id else { continue };
            let pdf: Option<Option<Vec<u8>>> =
                sqlx::query_scalar("SELECT pdf FROM documents WHERE event_id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            if let Some(Some(bytes)) = pdf {
                let name = p.label.split(' ').next().unwrap_or("document");
                if std::fs::write(out_dir.join(format!("{name}.pdf")), bytes).is_ok() {
                    written += 1;
                }
            }
        }
    }
    if written > 0 {
        println!();
        println!(
            "{written} rendered letters written to {}/ (open conduct_warning.pdf)",
            out_dir.display()
        );
    }
    // Give the invalid ones a moment, then show the counts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = dokflyt::db::status::counts(pool).await?;
    println!();
    println!(
        "dead-lettered so far, by reason (see queue {}):",
        topology.dead_letter_queue
    );
    for (code, n) in &c.dead_lettered {
        println!("  {code:<40} {n}");
    }
    println!(
        "archive queue: klar {}  arkivert {}  feilet {}",
        c.klar, c.arkivert, c.feilet
    );
    // The transfer normally waits for the 15:00 / 02:00 window; the demo runs it now,
    // into the offline package (one folder per document: arkivmelding.xml + PDF).
    let opts = dokflyt::archive::TransferOptions::from_settings(&settings.archive);
    let s = dokflyt::archive::schedule::run_and_log(
        pool,
        archive,
        &opts,
        dokflyt::archive::schedule::RunKind::RunNow,
        None,
        &dokflyt::archive::schedule::SystemClock,
    )
    .await?;
    let c = dokflyt::db::status::counts(pool).await?;
    println!(
        "archive transfer (run-now): {} arkivert, {} feilet → {}/",
        s.arkivert,
        s.feilet,
        settings.archive.directory.display()
    );
    println!(
        "archive queue: klar {}  arkivert {}  feilet {}",
        c.klar, c.arkivert, c.feilet
    );
    show_deliveries(pool, &published).await?;
    show_failed(pool).await?;
    show_sms(settings, pool).await?;
    println!();
    println!("status:  http://{addr}/api/status   (or: dokflyt status)");
    println!("letters: http://{addr}/api/deliveries?event_id=<event id>   messages: http://{addr}/api/messages?recipient=<person id>");
    println!("health:  http://{addr}/readyz");
    println!();
    println!(
        "dashboard: {}/dashboard  (sign in with the demo provider; pick one of:)",
        settings.dashboard.public_url
    );
    for u in crate::standins::idp::USERS {
        println!("  {:<14} {}", u.name, u.what);
    }
    println!(
        "  each at three strengths: {} (UO documents need betydelig, emergency SMS høy)",
        crate::standins::idp::LEVELS
            .iter()
            .map(|l| l.button)
            .collect::<Vec<_>>()
            .join(" / ")
    );
    println!("dokflyt keeps running; Ctrl-C stops it gracefully.");
    Ok(())
}

/// Where the dashboard's Feilet tab comes from: the documents the demo archive
/// refused, with the archive's reason as the dashboard explains it.
async fn show_failed(pool: &PgPool) -> anyhow::Result<()> {
    let rows: Vec<(Uuid, String, String, Option<String>)> = sqlx::query_as(
        "SELECT q.event_id, q.school_id, d.document_type, q.error_class
           FROM archive_queue q JOIN documents d USING (event_id)
          WHERE q.status = 'feilet' AND q.dismissed_at IS NULL
          ORDER BY q.school_id, d.document_type",
    )
    .fetch_all(pool)
    .await?;
    println!();
    if rows.is_empty() {
        println!("Feilet: no documents (the refused ones have been retried and archived)");
        return Ok(());
    }
    println!(
        "Feilet: {} documents the demo archive refused (as a Noark 5 archive answers over Fiks Arkiv);",
        rows.len()
    );
    println!(
        "  open them in the dashboard (Arkivlogg → Feilet), read why, press «Prøv igjen», then"
    );
    println!("  as Kari Nordmann «Kjør overføring nå»: they are archived on that transfer.");
    for (id, school, doc_type, class) in rows {
        println!(
            "  {school:<24} {doc_type:<20} {:<20} /dashboard/dokument/{id}",
            class.unwrap_or_default()
        );
    }
    Ok(())
}

/// What the principal's SMS preview will show per school (numbers and the cost of
/// a one-SMS message), and how the demo's own emergency SMS went.
async fn show_sms(settings: &Settings, pool: &PgPool) -> anyhow::Result<()> {
    use dokflyt::sms::{cost, recipients};
    let price = cost::price_on(&settings.sms.prices, dokflyt::calendar::today_in_oslo())?;
    let schools: Vec<(String, String)> = sqlx::query_as(
        "SELECT school_id, name FROM roster_schools WHERE NOT deleted ORDER BY school_id",
    )
    .fetch_all(pool)
    .await?;
    println!();
    println!(
        "Beredskaps-SMS (the roster's numbers are fictional: +44 7700 900xxx, Ofcom's drama range; \
         the demo gateway accepts nothing else):"
    );
    for (id, name) in schools {
        let set = recipients::for_school(pool, &id).await?;
        let n = set.numbers.len() as i64;
        println!(
            "  {name:<24} {n} mobile numbers ({} without one); one SMS to all costs {}  \
             /dashboard/sms?school={id}",
            set.unreachable(),
            dokflyt::dashboard::words::kroner(&cost::nok(cost::cost_ore(n, 1, price)))
        );
    }
    let sent: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT m.school_id, r.status, count(*) FROM sms_messages m
           JOIN sms_recipients r USING (message_id)
          WHERE m.source = 'event' GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    if !sent.is_empty() {
        let line = sent
            .iter()
            .map(|(school, status, n)| format!("{school}: {status} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "  the example emergency SMS: {line} (the demo raises the hourly limit by {DEMO_OWN_SMS} \
             for it, so the principal still has {} this hour)",
            settings.sms.max_messages_per_hour - DEMO_OWN_SMS
        );
    }
    Ok(())
}

/// The demo's `event_id` for the example `label`: the same in every run (so a
/// second run finds the first one's documents instead of doubling them), and
/// different per example.
pub fn demo_event_id(label: &str) -> Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("dokflyt-demo-event:{label}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn sorted_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Prints the deliveries per channel and status, then watches the SvarUt statuses
/// move for a while (the stand-in advances one step per status poll).
async fn show_deliveries(pool: &PgPool, published: &[Published]) -> anyhow::Result<()> {
    let ids: Vec<Uuid> = published.iter().filter_map(|p| p.event_id).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let planned: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE event_id = ANY($1) AND status = 'planned'",
        )
        .bind(&ids)
        .fetch_one(pool)
        .await?;
        if planned == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT channel, status, error_class, count(*) FROM deliveries WHERE event_id = ANY($1)
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    println!();
    println!("deliveries (channel, status, reason):");
    for (channel, status, class, n) in rows {
        println!(
            "  {channel:<14} {status:<10} {:<32} {n}",
            class.unwrap_or_default()
        );
    }
    println!();
    println!("SvarUt statuses as the local stand-in reports them (polled every 2 s):");
    let mut last = String::new();
    for _ in 0..8 {
        let counts: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT provider_status, count(*) FROM deliveries
             WHERE event_id = ANY($1) AND channel = 'svarut' AND provider_ref IS NOT NULL
             GROUP BY 1 ORDER BY 1",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        let line = counts
            .iter()
            .map(|(s, n)| format!("{} {n}", s.as_deref().unwrap_or("(sendt, ikke spurt ennå)")))
            .collect::<Vec<_>>()
            .join(", ");
        if line != last {
            println!("  {line}");
            last = line;
        }
        if counts
            .iter()
            .all(|(s, _)| matches!(s.as_deref(), Some("LEST" | "PRINTET")))
            && !counts.is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    show_unreachable(pool).await
}

/// Prints the open tasks for guardians no channel reached (by initials), as the
/// dashboard's «Ikke nådd» shows them.
async fn show_unreachable(pool: &PgPool) -> anyhow::Result<()> {
    let open = dokflyt::channels::unreachable::open_tasks(pool, None).await?;
    println!();
    println!("guardians no channel reached (tasks on /dashboard/ikke-nadd):");
    if open.is_empty() {
        println!("  none");
    }
    for t in open {
        println!(
            "  {:<24} {:<24} {:<6} {}",
            t.school_id, t.document_type, t.initials, t.reason
        );
    }
    Ok(())
}

#[cfg(test)]
mod language_tests {
    use super::*;

    #[test]
    fn the_demo_renders_the_nynorsk_example_in_nynorsk() {
        // The repository (dev/ is one level down).
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let mut letters = dokflyt::config::letters::LetterSettings::default();
        demo_languages(&mut letters);
        let renderer = dokflyt::render::Renderer::load_with(&root.join("templates"), letters)
            .expect("templates");
        let table =
            dokflyt::rules::RoutingTable::load_dir(&root.join("routing-rules")).expect("rules");
        let body = std::fs::read(root.join("examples/events/conduct_warning_nynorsk.json"))
            .expect("the nynorsk example");
        let ev = dokflyt::pipeline::validate(&body, 1 << 20).expect("valid");
        let routed = dokflyt::pipeline::route(ev, &table).expect("routed");
        let markup = renderer.render_markup(&routed).expect("markup");
        assert!(markup.contains("Med venleg helsing"), "{markup}");
        assert!(markup.contains("Kva betyr varselet?"), "{markup}");
        // The bokmål example stays bokmål.
        let body = std::fs::read(root.join("examples/events/conduct_warning.json")).expect("read");
        let ev = dokflyt::pipeline::validate(&body, 1 << 20).expect("valid");
        let routed = dokflyt::pipeline::route(ev, &table).expect("routed");
        assert!(renderer
            .render_markup(&routed)
            .expect("markup")
            .contains("Med vennlig hilsen"));
        // The Sámi-area example carries its North Sámi text, tagged `se`.
        let body = std::fs::read(root.join("examples/events/general_information_sami.json"))
            .expect("the Sámi-area example");
        let ev = dokflyt::pipeline::validate(&body, 1 << 20).expect("valid");
        let routed = dokflyt::pipeline::route(ev, &table).expect("routed");
        let markup = renderer.render_markup(&routed).expect("markup");
        assert!(markup.contains("@lang se\n"), "{markup}");
        assert!(markup.contains("SFO lea rabas"), "{markup}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_event_ids_are_stable_per_example() {
        assert_eq!(
            demo_event_id("conduct_warning"),
            demo_event_id("conduct_warning")
        );
        assert_ne!(demo_event_id("conduct_warning"), demo_event_id("diploma"));
        assert_eq!(demo_event_id("diploma").get_version_num(), 4);
    }
}
