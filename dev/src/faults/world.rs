//! One scenario's world: a private database and queue prefix on the real
//! PostgreSQL and RabbitMQ, the stand-ins (SvarUt, archive, SMS gateway) running
//! in this process as real HTTP servers, a configuration file pointing the real
//! `dokflyt` binary at all of them, and the load the scenario publishes.
//!
//! Input: the binary's path, the broker and database URLs of the loaded settings.
//! Output: [`World`] with helpers to start and kill `dokflyt serve` and `dokflyt
//! archive run-now` ([`Proc`]), publish events, load a roster and wait for
//! conditions. Failure: any setup step returns an error; [`World::clean`] drops
//! the database and the queues (also after a failed scenario).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

use dokflyt::broker::{self, Topology};
use dokflyt::Settings;

use crate::standins::archive::fiks;
use crate::standins::sms_gateway::GatewayStandIn;
use crate::standins::svarut::{StandInAuth, SvarUtStandIn, DEMO_CERT};

/// The school of the example roster whose principal sends the emergency SMS.
const SMS_SCHOOL: &str = "fjellvik-ungdomsskole";

/// Letters sent by SvarUt (≈70 % of the mix).
const LETTERS: [&str; 5] = [
    "conduct_warning",
    "grade_warning",
    "leave_decision",
    "sfo_decision",
    "school_place_decision",
];
/// In-app message plus email (≈20 %).
const MESSAGES: [&str; 3] = [
    "absence_notice",
    "general_information",
    "parent_meeting_invitation",
];
/// Everything else (≈10 %): archived only, internal, SvarUt with archive.
const OTHERS: [&str; 4] = [
    "leave_application",
    "sfo_application",
    "moving_notice",
    "sfo_termination_by_municipality",
];

pub struct World {
    pub id: String,
    pub bin: PathBuf,
    pub repo: PathBuf,
    pub database: String,
    admin_url: String,
    pub pool: PgPool,
    pub conn: lapin::Connection,
    pub channel: lapin::Channel,
    pub topology: Topology,
    pub svarut: SvarUtStandIn,
    pub archive: fiks::StandIn,
    pub sms: GatewayStandIn,
    pub config: tempfile::NamedTempFile,
    pub port: u16,
    templates: Vec<(String, Value)>,
    /// Every valid event published, in order.
    pub published: Vec<Uuid>,
    /// Duplicate events the consumer recognised (from the workers' logs).
    pub duplicates_acked: Arc<AtomicU64>,
    /// Panics the workers logged.
    pub panics: Arc<AtomicU64>,
}

impl World {
    /// Creates the private database (migrated) and queues, starts the stand-ins and
    /// writes the configuration file.
    pub async fn new(
        settings: &Settings,
        bin: &Path,
        archive_delay: Duration,
    ) -> anyhow::Result<World> {
        let id = Uuid::new_v4().simple().to_string()[..10].to_string();
        let database = format!("dokflyt_faults_{id}");
        let base = settings.database.url.expose().to_string();
        let i = base
            .rfind('/')
            .context("cannot derive a database from the database URL")?;
        let admin_url = format!("{}/postgres", &base[..i]);
        let db_url = format!("{}/{database}", &base[..i]);
        let mut db = settings.database.clone();
        db.url = dokflyt::Secret::new(db_url.clone());
        db.max_connections = 8;
        let pool = dokflyt::db::connect_and_migrate(&db).await?;

        let prefix = format!("dokflyt-faults-{id}");
        let amqp = settings.amqp.url.expose().to_string();
        let conn = broker::connect(&amqp, 10).await?;
        let channel = broker::confirm_channel(&conn).await?;
        let topology = Topology::new(&prefix, settings.amqp.delivery_limit);
        topology.declare(&channel).await?;
        topology.declare_roster_and_sms(&channel).await?;

        let svarut = SvarUtStandIn::start("127.0.0.1:0", StandInAuth::default()).await?;
        let archive = fiks::StandIn::start_with(Vec::new(), archive_delay, false).await;
        let sms = GatewayStandIn::start().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();

        let repo = std::env::current_dir()?;
        let abs = |p: &Path| -> anyhow::Result<String> {
            let p = std::fs::canonicalize(p).with_context(|| format!("{}", p.display()))?;
            Ok(p.display().to_string())
        };
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let sv = svarut.client_settings();
        let text = format!(
            "[amqp]\nurl = {amqp}\nprefix = {prefix}\nheartbeat_secs = 5\n\
             [database]\nurl = {db}\nacquire_timeout_ms = 5000\n\
             [http]\naddr = {http}\n\
             [paths]\nrules_dir = {rules}\ntemplates_dir = {templates}\n\
             [archive]\ntarget = \"http\"\nurl = {archive}\nclaim_ttl_secs = 3\ntimeout_ms = 500\nmax_attempts = 3\nbatch_size = 10\n\
             backoff_initial_ms = 50\nbackoff_max_ms = 200\n\
             [archive.schedule]\nenabled = false\n\
             [delivery]\nenabled = true\nclaim_ttl_secs = 3\nidle_poll_ms = 100\nbackoff_initial_ms = 50\nbackoff_max_ms = 500\n\
             [delivery.svarut]\nbase_url = {sv_url}\nkonto_id = {konto}\nmaskinporten_token = {token}\n\
             integrasjon_id = {iid}\nintegrasjon_passord = {ipw}\nencryption_certificate = {cert}\npoll_interval_secs = 3600\n\
             [delivery.email]\nenabled = false\n\
             [sms]\ngateway_url = {gw}\nusername = {gwu}\npassword = {gwp}\nrate_per_second = 5000\nconcurrency = 8\n\
             batch_size = 20\nclaim_ttl_secs = 2\npoll_interval_ms = 100\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\n\
             approval_over_recipients = 1000000\nmax_messages_per_hour = 1000000\ndaily_cost_cap_nok = 1000000000.0\n",
            amqp = q(&amqp),
            prefix = q(&prefix),
            db = q(&db_url),
            http = q(&format!("127.0.0.1:{port}")),
            rules = q(&abs(&settings.paths.rules_dir)?),
            templates = q(&abs(&settings.paths.templates_dir)?),
            archive = q(&archive.url()),
            sv_url = q(&sv.base_url),
            konto = q(&sv.konto_id),
            token = q(sv.maskinporten_token.expose()),
            iid = q(&sv.integrasjon_id),
            ipw = q(sv.integrasjon_passord.expose()),
            cert = q(DEMO_CERT),
            gw = q(&format!("http://{}", sms.addr)),
            gwu = q(crate::standins::sms_gateway::GATEWAY_USER),
            gwp = q(crate::standins::sms_gateway::GATEWAY_PASSWORD),
        );
        let config = tempfile::Builder::new()
            .prefix("dokflyt-faults-")
            .suffix(".toml")
            .tempfile()?;
        std::fs::write(config.path(), text)?;

        let mut templates = Vec::new();
        for t in LETTERS
            .iter()
            .chain(MESSAGES.iter())
            .chain(OTHERS.iter())
            .chain(["emergency_sms"].iter())
        {
            let path = settings.paths.examples_dir.join(format!("{t}.json"));
            let v: Value = serde_json::from_slice(
                &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
            )?;
            templates.push((t.to_string(), v));
        }
        Ok(World {
            id,
            bin: bin.to_path_buf(),
            repo,
            database,
            admin_url,
            pool,
            conn,
            channel,
            topology,
            svarut,
            archive,
            sms,
            config,
            port,
            templates,
            published: Vec::new(),
            duplicates_acked: Arc::default(),
            panics: Arc::default(),
        })
    }

    fn template(&self, name: &str) -> &Value {
        &self
            .templates
            .iter()
            .find(|(n, _)| n == name)
            .expect("every listed template is loaded")
            .1
    }

    /// One event of the realistic mix: ≈70 % SvarUt letters, 20 % messages, 10 % others.
    pub fn mixed_event(&self, rng: &mut StdRng) -> Value {
        let roll = rng.random_range(0..100);
        let list: &[&str] = if roll < 70 {
            &LETTERS
        } else if roll < 90 {
            &MESSAGES
        } else {
            &OTHERS
        };
        self.event_of(list[rng.random_range(0..list.len())])
    }

    /// A fresh copy (new event id) of the example event of `document_type`.
    pub fn event_of(&self, document_type: &str) -> Value {
        let mut v = self.template(document_type).clone();
        v["event_id"] = Value::String(Uuid::new_v4().to_string());
        v
    }

    /// A fresh emergency SMS from the example school's principal (to everyone of
    /// the school in the roster).
    pub fn event_of_sms(&self) -> Value {
        self.event_of("emergency_sms")
    }

    /// Publishes raw bytes as a producer would (confirmed; not remembered as a
    /// valid event).
    pub async fn publish_raw(&self, body: &[u8]) -> anyhow::Result<()> {
        broker::publish_event(&self.channel, &self.topology, body).await?;
        Ok(())
    }

    /// Publishes one event (confirmed) and remembers its id.
    pub async fn publish(&mut self, event: &Value) -> anyhow::Result<()> {
        let body = serde_json::to_vec(event)?;
        broker::publish_event(&self.channel, &self.topology, &body).await?;
        let id = event["event_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("the event has an id")?;
        self.published.push(id);
        Ok(())
    }

    /// Loads the example roster of the SMS school plus `extra` generated pupils with
    /// mobile numbers, straight into the store (as `roster import` does).
    pub async fn load_roster(&self, extra: usize) -> anyhow::Result<()> {
        let path = self
            .repo
            .join(format!("examples/roster/{SMS_SCHOOL}.jsonl"));
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        let mut events: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        for p in 0..extra {
            events.push(serde_json::json!({
                "event_id": Uuid::new_v4().to_string(), "schema_version": 1,
                "entity": "pupil", "id": format!("faults-p-{p}"), "version": 1,
                "occurred_at": "2026-08-01T08:00:00+02:00", "op": "upsert",
                "pupil": {"school_id": SMS_SCHOOL, "name": format!("Elev {p}"), "class": "10A",
                          "grade_level": 10, "birth_date": "2011-05-06",
                          "mobile": format!("+47{}", 40_000_000 + p), "protected_address": false}
            }));
        }
        for e in &events {
            let change = dokflyt::roster::RosterChange::parse(&serde_json::to_vec(e)?)?;
            dokflyt::roster::apply(&self.pool, &change).await?;
        }
        Ok(())
    }

    /// Starts `dokflyt <args>` with this world's configuration; `crash` arms a
    /// crash point (`DOKFLYT_CRASH_AT`).
    pub fn spawn(&self, args: &[&str], crash: Option<&str>) -> anyhow::Result<Proc> {
        let mut c = tokio::process::Command::new(&self.bin);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DOKFLYT_CONFIG", self.config.path())
            .env("DOKFLYT_LOG", "info,lapin=error")
            .current_dir(&self.repo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(point) = crash {
            c.env("DOKFLYT_CRASH_AT", point);
        }
        let mut child = c
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let crashed = Arc::new(AtomicBool::new(false));
        if let Some(stderr) = child.stderr.take() {
            let crashed = crashed.clone();
            let dups = self.duplicates_acked.clone();
            let panics = self.panics.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.contains("crash point") {
                        crashed.store(true, Ordering::SeqCst);
                    } else if line.contains("duplicate event acked") {
                        dups.fetch_add(1, Ordering::Relaxed);
                    } else if line.contains("panicked") {
                        panics.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        Ok(Proc { child, crashed })
    }

    /// `dokflyt serve`, returned once `/readyz` answers 200.
    pub async fn serve(&self, crash: Option<&str>) -> anyhow::Result<Proc> {
        let mut p = self.spawn(&["serve"], crash)?;
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(p);
                }
            }
            if let Some(status) = p.child.try_wait()? {
                // It may have crashed at its point before /readyz answered.
                if p.crashed.load(Ordering::SeqCst) {
                    return Ok(p);
                }
                anyhow::bail!("dokflyt serve ended before it was ready: {status}");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "dokflyt serve not ready within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One `dokflyt archive run-now` to its end (its exit status is not judged:
    /// `feilet` documents are counted by the oracle).
    pub async fn archive_run(&self, crash: Option<&str>) -> anyhow::Result<Proc> {
        let mut p = self.spawn(&["archive", "run-now"], crash)?;
        tokio::time::timeout(Duration::from_secs(120), p.child.wait())
            .await
            .context("archive run-now did not end within 120 s")??;
        Ok(p)
    }

    pub async fn count(&self, sql: &'static str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }

    /// Drops the database and the queues.
    pub async fn clean(self) {
        self.topology.remove(&self.channel).await;
        let _ = self.conn.close(200, "faults done".into()).await;
        self.pool.close().await;
        if let Ok(mut admin) =
            <sqlx::PgConnection as sqlx::Connection>::connect(&self.admin_url).await
        {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
        }
    }
}

/// A running `dokflyt` child process.
pub struct Proc {
    pub child: tokio::process::Child,
    /// It reported reaching its armed crash point.
    pub crashed: Arc<AtomicBool>,
}

impl Proc {
    /// SIGKILL, and reaped.
    pub async fn kill9(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Waits up to `limit` for the process to end by its crash point; false if it
    /// did not (it is then killed).
    pub async fn wait_crash(mut self, limit: Duration) -> bool {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(_) => {
                // The stderr reader may lag the exit by a moment.
                for _ in 0..20 {
                    if self.crashed.load(Ordering::SeqCst) {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                false
            }
            Err(_) => {
                self.kill9().await;
                false
            }
        }
    }
}
