//! Test harness: a real dokflyt on the real RabbitMQ and PostgreSQL of this machine.
//!
//! [`spawn_app`] gives every test its own database (`dokflyt_test_<uuid>`, created
//! and migrated by the app itself), its own exchange/queue prefix and an HTTP port
//! chosen by the OS, so tests run in parallel without seeing each other.
//! [`TcpProxy`] sits between the worker and a server so a test can cut the
//! connection without disturbing other tests.

#![allow(dead_code)]

pub mod archive_standin;
pub mod flow;
/// The Maskinporten stand-in (one copy, in the toolbox).
pub use dokflyt_dev::standins::maskinporten;
pub mod scan;
pub mod svarut;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dokflyt::broker::{self, Topology};
use dokflyt::pipeline::ConsumerStats;
use dokflyt::App;
use dokflyt::{Secret, Settings};
use lapin::options::BasicGetOptions;
use lapin::types::AMQPValue;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const PG_HOST_PORT: &str = "127.0.0.1:5432";
pub const AMQP_HOST_PORT: &str = "127.0.0.1:5672";

pub struct TestApp {
    pub settings: Settings,
    pub http: SocketAddr,
    pub pool: PgPool,
    pub topology: Topology,
    pub stats: Arc<ConsumerStats>,
    /// The archive scheduler's completed looks at the clock.
    pub schedule_ticks: Arc<std::sync::atomic::AtomicU64>,
    /// The SMS worker's counters (`dispatch_passes`: completed dispatcher passes).
    pub sms_stats: Arc<dokflyt::sms::SmsStats>,
    pub shutdown: CancellationToken,
    pub handle: Option<JoinHandle<anyhow::Result<()>>>,
    pub publisher: lapin::Connection,
    pub channel: lapin::Channel,
    pub database: String,
    /// The secret of a registered client with every scope for every school of
    /// municipality 4699 (the example events'): what most API tests call with.
    pub api_secret: String,
}

/// Options for [`spawn_app_with`].
#[derive(Default)]
pub struct Spawn {
    /// Route the worker's AMQP connection through this address (a [`TcpProxy`]).
    pub amqp_via: Option<SocketAddr>,
    /// Route the worker's database connections through this address.
    pub db_via: Option<SocketAddr>,
    pub concurrency: Option<usize>,
    /// Another routing-rules directory (default: the repository's).
    pub rules_dir: Option<std::path::PathBuf>,
    /// The archive's URL (default: the configured one, which nothing answers here).
    pub archive_url: Option<String>,
    /// Runs the transfer scheduler on this clock, looking every second. Without
    /// it the scheduler is off, so a test never depends on the time of day.
    pub schedule_clock: Option<Arc<dyn dokflyt::archive::schedule::Clock>>,
    /// The HTTP listen address (default 127.0.0.1:0); the dashboard's browser
    /// tests need the port before the app is built (its OIDC redirect URI).
    pub http_addr: Option<String>,
    /// The dashboard's settings (default: sign-in not configured).
    pub dashboard: Option<dokflyt::config::DashboardSettings>,
    /// Any other change to the settings, applied last.
    pub tweak: Option<fn(&mut Settings)>,
    /// The clock grants expire by (default: the system clock).
    pub grants_clock: Option<Arc<dyn dokflyt::grants::Clock>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Spawn::default()).await
}

pub async fn spawn_app_with(opts: Spawn) -> TestApp {
    init_test_logging();
    let id = Uuid::new_v4().simple().to_string();
    let database = format!("dokflyt_test_{id}");
    let prefix = format!("dokflyt_test_{id}");
    let mut settings = Settings::default();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    settings.paths.rules_dir = opts
        .rules_dir
        .clone()
        .unwrap_or_else(|| manifest.join("routing-rules"));
    settings.paths.templates_dir = manifest.join("templates");
    settings.paths.examples_dir = manifest.join("examples/events");
    settings.amqp.prefix = prefix;
    settings.amqp.heartbeat_secs = 5;
    if let Some(c) = opts.concurrency {
        settings.amqp.concurrency = c;
    }
    if let Some(a) = opts.amqp_via {
        settings.amqp.url = Secret::new(format!("amqp://guest:guest@{a}/%2f"));
    }
    let db_host = opts
        .db_via
        .map(|a| a.to_string())
        .unwrap_or_else(|| PG_HOST_PORT.to_string());
    settings.database.url = Secret::new(format!("postgres://postgres@{db_host}/{database}"));
    settings.database.acquire_timeout_ms = 2_000;
    settings.http.addr = opts
        .http_addr
        .clone()
        .unwrap_or_else(|| "127.0.0.1:0".into());
    if let Some(d) = &opts.dashboard {
        settings.dashboard = d.clone();
    }
    settings.archive.schedule.enabled = opts.schedule_clock.is_some();
    settings.archive.schedule.poll_secs = 1;
    if let Some(url) = &opts.archive_url {
        settings.archive.url = Secret::new(url.clone());
    }

    if let Some(t) = opts.tweak {
        t(&mut settings);
    }
    let mut app = App::build(settings.clone()).await.expect("the app builds");
    if let Some(clock) = opts.schedule_clock.clone() {
        app.clock = clock;
    }
    if let Some(clock) = opts.grants_clock.clone() {
        app.grants_clock = clock;
    }
    start(app, settings, database, false).await
}

/// The `dokflyt` binary the tests run: `$DOKFLYT_TEST_BIN` when set (a target
/// directory shared by several checkouts has one `target/debug/dokflyt`, which
/// the last build of any of them wrote), else the one cargo built for this test.
pub fn dokflyt_bin() -> std::ffi::OsString {
    std::env::var_os("DOKFLYT_TEST_BIN")
        .unwrap_or_else(|| std::ffi::OsString::from(env!("CARGO_BIN_EXE_dokflyt")))
}

/// The capture layer's filter, which `capture_everything` widens.
type CaptureFilter =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

static CAPTURE_FILTER: std::sync::OnceLock<CaptureFilter> = std::sync::OnceLock::new();

/// What the capture buffer takes outside a [`WideCapture`].
const CAPTURE_NARROW: &str = "dokflyt=trace";

/// Test logs to the test's output (`DOKFLYT_TEST_LOG`), once per process; and
/// everything the `dokflyt` crate logs, at TRACE, into the capture buffer that
/// `stop_and_clean` scans for personal data (issue 16).
pub fn init_test_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    static ONCE: std::sync::Once = std::sync::Once::new();
    // reqwest without a provider of its own: the tests' plain clients need ring.
    dokflyt::tls::ensure_crypto_provider();
    ONCE.call_once(|| {
        let human = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(EnvFilter::new(
                std::env::var("DOKFLYT_TEST_LOG").unwrap_or_else(|_| "warn,lapin=error".into()),
            ));
        let buffer = scan::buffer();
        let (filter, handle) =
            tracing_subscriber::reload::Layer::new(EnvFilter::new(CAPTURE_NARROW));
        let capture = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || buffer.clone())
            .with_filter(filter);
        let _ = CAPTURE_FILTER.set(handle);
        let _ = tracing_subscriber::registry()
            .with(capture)
            .with(human)
            .try_init();
    });
}

/// While it lives, the capture buffer takes every crate's logs at TRACE, not only
/// `dokflyt`'s (the personal-data tests: a dependency must not log a body either).
/// All tests share the one process and its buffer: while any guard lives, every
/// test's logs are captured this wide; when the last one drops, the capture
/// narrows back to `dokflyt` (so the rest of the run does not buffer every crate).
pub struct WideCapture(());

static WIDE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

fn set_capture(filter: &str) {
    if let Some(handle) = CAPTURE_FILTER.get() {
        handle
            .modify(|f| *f = tracing_subscriber::EnvFilter::new(filter))
            .expect("the capture filter reloads");
    }
}

pub fn capture_everything() -> WideCapture {
    init_test_logging();
    let mut n = WIDE.lock().expect("lock");
    *n += 1;
    if *n == 1 {
        set_capture("trace");
    }
    WideCapture(())
}

impl Drop for WideCapture {
    fn drop(&mut self) {
        let mut n = WIDE.lock().expect("lock");
        *n -= 1;
        if *n == 0 {
            set_capture(CAPTURE_NARROW);
        }
    }
}

/// Runs `app` (built from `settings`, on its own `database`) until the test stops
/// it, connects a publisher with confirms (also declaring the roster and SMS
/// queues when `roster_and_sms`), and returns once the consumer is attached.
pub async fn start(
    app: App,
    settings: Settings,
    database: String,
    roster_and_sms: bool,
) -> TestApp {
    let http = app.http_addr().expect("bound");
    let pool = sqlx::PgPool::connect(&format!("postgres://postgres@{PG_HOST_PORT}/{database}"))
        .await
        .expect("test pool");
    let stats = app.stats.clone();
    let schedule_ticks = app.schedule_ticks.clone();
    let sms_stats = app.sms_stats.clone();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));

    let topology = Topology::new(&settings.amqp.prefix, settings.amqp.delivery_limit);
    let publisher = broker::connect(AMQP_URL, 10)
        .await
        .expect("publisher connects");
    let channel = broker::confirm_channel(&publisher)
        .await
        .expect("confirm channel");
    topology.declare(&channel).await.expect("topology");
    if roster_and_sms {
        topology
            .declare_roster_and_sms(&channel)
            .await
            .expect("roster and sms topology");
    }
    let api_secret = register(&pool, "test-alle", "4699", &ALL_SCOPES, None).await;
    let t = TestApp {
        api_secret,
        settings,
        http,
        pool,
        topology,
        stats,
        schedule_ticks,
        sms_stats,
        shutdown,
        handle: Some(handle),
        publisher,
        channel,
        database,
    };
    t.wait_until(
        "the consumer is attached",
        Duration::from_secs(30),
        || async { t.stats.connected.load(Ordering::SeqCst) },
    )
    .await;
    t
}

impl TestApp {
    /// Deliveries the documents consumer has finished: completed, duplicate or
    /// dead-lettered.
    pub fn handled(&self) -> u64 {
        self.stats.completed.load(Ordering::SeqCst)
            + self.stats.duplicates.load(Ordering::SeqCst)
            + self.stats.dead_lettered.load(Ordering::SeqCst)
    }

    /// Waits until `n` more passes of a background loop (`counter`) complete than
    /// now — a condition to wait on before asserting that something did *not*
    /// happen, instead of sleeping and hoping the worker had its turn.
    pub async fn wait_passes(&self, what: &str, counter: &AtomicU64, n: u64) {
        let since = counter.load(Ordering::SeqCst);
        self.wait_until(what, Duration::from_secs(30), || async {
            counter.load(Ordering::SeqCst) >= since + n
        })
        .await;
    }

    /// Two full passes of the SMS dispatcher from now: every message that exists
    /// now has been looked at.
    pub async fn wait_two_dispatcher_passes(&self) {
        self.wait_passes("two dispatcher passes", &self.sms_stats.dispatch_passes, 2)
            .await;
    }

    /// Publishes raw bytes to the events exchange with confirms.
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        broker::publish_confirmed(
            &self.channel,
            &self.topology.events_exchange,
            routing_key,
            body,
            vec![],
            true,
        )
        .await
        .expect("published and confirmed");
    }

    pub async fn publish(&self, event: &Value) {
        let key = format!(
            "document.{}",
            event["document_type"].as_str().unwrap_or("unknown")
        );
        self.publish_raw(&key, &serde_json::to_vec(event).expect("json"))
            .await;
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await
            .expect("count query")
    }

    /// Polls `cond` every 50 ms until it holds or `limit` passes (then panics).
    pub async fn wait_until<F, Fut>(&self, what: &str, limit: Duration, cond: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        wait_until(what, limit, cond).await
    }

    /// Takes every message from the dead-letter queue: (reason code header, body).
    /// The consumer records a dead letter's row before its confirmed publish to the
    /// dead-letter exchange and counts it after; so first wait until every recorded
    /// row has been counted (published), then take what the queue holds.
    pub async fn drain_dead_letters(&self) -> Vec<(String, Option<String>, Vec<u8>)> {
        self.wait_until(
            "every recorded dead letter is published",
            Duration::from_secs(30),
            || async {
                self.stats.dead_lettered.load(Ordering::SeqCst) as i64
                    >= self.count("SELECT count(*) FROM dead_letters").await
            },
        )
        .await;
        let mut out = Vec::new();
        loop {
            let got = self
                .channel
                .basic_get(
                    self.topology.dead_letter_queue.as_str().into(),
                    BasicGetOptions { no_ack: true },
                )
                .await
                .expect("basic.get");
            let Some(msg) = got else { break };
            let headers = msg
                .delivery
                .properties
                .headers()
                .clone()
                .unwrap_or_default();
            let header = |k: &str| match headers.inner().get(k) {
                Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                _ => None,
            };
            out.push((
                header("x-dokflyt-reason-code").unwrap_or_default(),
                header("x-dokflyt-event-id"),
                msg.delivery.data.clone(),
            ));
        }
        out
    }

    /// Stops the worker gracefully and removes the test's database, queues and exchanges.
    pub async fn stop_and_clean(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let r = tokio::time::timeout(Duration::from_secs(40), h)
                .await
                .expect("graceful shutdown within 40 s")
                .expect("not panicked");
            r.expect("run_until_stopped returns Ok");
        }
        self.topology.remove(&self.channel).await;
        let _ = self.publisher.close(200, "test done".into()).await;
        self.pool.close().await;
        drop_database(&self.database).await;
        // Nothing the worker logged may be personal data (issue 16).
        scan::assert_log_clean("the worker's log");
    }
}

/// Every scope word.
pub const ALL_SCOPES: [&str; 7] = [
    "documents:read",
    "archive:read",
    "archive:act",
    "sms:request",
    "contacts:read",
    "status:read",
    "admin",
];

/// Registers an API client directly in `pool` and returns its secret.
/// `schools`: `None` = all schools of `municipality`.
pub async fn register(
    pool: &PgPool,
    name: &str,
    municipality: &str,
    scopes: &[&str],
    schools: Option<&[&str]>,
) -> String {
    use dokflyt::clients::{self, NewClient, SchoolScope};
    let (_, secret) = clients::add(
        pool,
        &NewClient {
            name: name.to_string(),
            municipality_number: municipality.to_string(),
            schools: match schools {
                None => SchoolScope::All,
                Some(l) => SchoolScope::Only(l.iter().map(|s| s.to_string()).collect()),
            },
            scopes: scopes
                .iter()
                .map(|s| s.parse().expect("a scope word"))
                .collect(),
        },
    )
    .await
    .expect("client registered");
    secret
}

/// Registers a client of municipality 4699 with `scopes` for `schools` (`None` =
/// all) under a fresh name and returns its secret.
pub async fn client(app: &TestApp, scopes: &[&str], schools: Option<&[&str]>) -> String {
    let name = format!("test-{}", Uuid::new_v4().simple());
    register(&app.pool, &name, "4699", scopes, schools).await
}

/// A valid national id (fødselsnummer) built from a 9-digit prefix.
pub fn fnr(prefix9: &str) -> String {
    dokflyt::event::complete_national_id(prefix9).expect("a prefix with valid check digits")
}

/// Finds a 9-digit prefix from a birth date (DDMMYY) whose check digits exist.
pub fn fnr_for(ddmmyy: &str) -> String {
    (100..999)
        .find_map(|n| dokflyt::event::complete_national_id(&format!("{ddmmyy}{n:03}")))
        .expect("some individual number works")
}

/// A complete `conduct_warning` event (the flagship type of issue 2).
pub fn conduct_warning(event_id: Uuid) -> Value {
    json!({
        "event_id": event_id.to_string(),
        "schema_version": 1,
        "occurred_at": "2026-11-23T10:15:00+01:00",
        "municipality": { "number": "4601", "name": "Fjellvik kommune" },
        "school": { "id": "skole-42", "name": "Åsbø ungdomsskole", "org_number": "974123456" },
        "document_type": "conduct_warning",
        "direction": "out",
        "sensitive": true,
        "archive_opt_in": false,
        "title": "Varsel om fare for nedsatt karakter i orden og oppførsel",
        "fields": {
            "term": "høsten 2026",
            "subject": "orden og oppførsel",
            "reasons": [
                "Gjentatte brudd på skolens ordensreglement i friminuttene",
                "Upassende språkbruk overfor medelever"
            ],
            "measures": "Kontaktlæreren følger opp med ukentlige samtaler fram til jul.",
            "contact": "Ta gjerne kontakt med kontaktlærer Øystein Bråthen.",
            "body": [
                "Skolen sender dette varselet fordi det er fare for at Kåre får nedsatt karakter i orden og oppførsel ved slutten av terminen.",
                "Vi ønsker et godt samarbeid med dere om å snu utviklingen."
            ]
        },
        "pupil": {
            "id": "elev-7",
            "name": "Kåre Ødegård Æsøy",
            "birth_date": "2011-03-14",
            "grade_level": 9,
            "class": "9B"
        },
        "recipients": [
            {
                "kind": "guardian", "id": "fors-1", "name": "Åse Ødegård",
                "national_id": fnr_for("150180"), "parental_responsibility": true,
                "digital_mail": true,
                "address": { "street": "Bjørkeveien 12", "postal_code": "5003", "city": "Bergen" },
                "email": "ase@example.no", "mobile": "+4791234567", "protected_address": false
            },
            {
                "kind": "guardian", "id": "fors-2", "name": "Per Æsøy",
                "national_id": fnr_for("020278"), "parental_responsibility": true,
                "digital_mail": false,
                "address": { "street": "Hemmeligveien 99", "postal_code": "9999", "city": "Skjultby" },
                "protected_address": true
            }
        ],
        "sender": {
            "user_id": "ansatt-3", "name": "Øystein Bråthen",
            "role": "kontaktlaerer", "initials": "ØBR"
        }
    })
}

/// A TCP proxy the test controls: `cut()` drops every open connection, `set_down`
/// refuses new ones (accepted and closed at once) until it is brought up again.
pub struct TcpProxy {
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<CancellationToken>>>,
    stop: CancellationToken,
}

impl TcpProxy {
    pub async fn start(target: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<CancellationToken>>> = Arc::default();
        let stop = CancellationToken::new();
        let target = target.to_string();
        let (d, c, s) = (down.clone(), conns.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = s.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                if d.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let token = s.child_token();
                c.lock().expect("lock").push(token.clone());
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        TcpProxy {
            addr,
            down,
            conns,
            stop,
        }
    }

    /// Drops every connection open now.
    pub fn cut(&self) {
        for t in self.conns.lock().expect("lock").drain(..) {
            t.cancel();
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.cut();
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
pub mod person;
pub mod sms_gateway;

/// A dashboard session for `actor` signed in at assurance `level`, made directly in
/// the database (the tests that are not about the sign-in itself): the cookie
/// header value and the session's CSRF token.
pub async fn dashboard_session(
    pool: &PgPool,
    actor: &dokflyt::access::Actor,
    level: dokflyt::assurance::Level,
) -> (String, String) {
    use dokflyt::dashboard::session;
    let token = session::create_with(
        pool,
        &session::NewSession {
            actor,
            staff_id: None,
            display_name: "Test Testesen",
            ttl: Duration::from_secs(3600),
            idle: session::DEFAULT_IDLE,
            proven: dokflyt::assurance::Proven {
                level,
                at: chrono::Utc::now(),
            },
            search_text: None,
            pending: None,
        },
    )
    .await
    .expect("session");
    let s = session::load(pool, &token)
        .await
        .expect("load")
        .expect("live session");
    (format!("{}={token}", session::SESSION_COOKIE), s.csrf)
}

/// `npm ci` in `tests/e2e` once per test binary when its node modules are missing
/// or older than the lock file (`tests/run` keeps the same stamp): the browser
/// tests and the OpenAPI validator run from there, in parallel.
pub fn ensure_node_modules() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
        let lock = std::fs::read(dir.join("package-lock.json")).expect("package-lock.json");
        let stamp = dir.join("node_modules/.dokflyt-installed-lock");
        if std::fs::read(&stamp).ok().as_deref() == Some(lock.as_slice()) {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the browser tests and the OpenAPI validator (Node.js 20+)");
        assert!(status.success(), "npm ci in tests/e2e failed");
        std::fs::write(&stamp, &lock).expect("the install stamp");
    });
}

/// Polls `cond` every 50 ms until it holds or `limit` passes (then panics).
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Drops a test's private database (best effort: `.ci/run` removes leftovers).
pub async fn drop_database(name: &str) {
    if let Ok(mut admin) = PgConnection::connect(PG_ADMIN_URL).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            name.replace('"', "\"\"")
        )))
        .execute(&mut admin)
        .await;
    }
}
