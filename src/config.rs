//! Settings: built-in defaults, then a TOML file, then `DOKFLYT_*` environment variables.
//!
//! The defaults work on a machine with RabbitMQ and PostgreSQL on their standard
//! local ports, so `dokflyt serve` needs no setup. Unknown keys in the file are
//! errors (a typo must not silently fall back to a default). Connection strings are
//! [`Secret`]s: they never appear in `Debug` output or logs, only with the password
//! masked through [`Secret::redacted_url`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name} is invalid: {message}")]
    Env { name: &'static str, message: String },
}

/// A value that must not be printed (connection strings with passwords, tokens).
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The real value, for the one place that needs it (opening a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The value as a URL with any password replaced by `***`, safe to log.
    pub fn redacted_url(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &self.0[scheme_end + 3..at];
                let user = userinfo.split(':').next().unwrap_or("");
                let masked = if userinfo.contains(':') {
                    format!("{user}:***")
                } else {
                    user.to_string()
                };
                format!("{}{}{}", &self.0[..scheme_end + 3], masked, &self.0[at..])
            }
            _ => self.0.clone(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Everything the worker can be told. Every field has a default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub amqp: AmqpSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub paths: PathSettings,
    pub archive: ArchiveSettings,
    /// The channel workers (SvarUt, message/email, notification, internal).
    pub delivery: crate::channels::DeliverySettings,
    pub sms: SmsSettings,
    /// The staff dashboard's sign-in (OpenID Connect) and sessions.
    pub dashboard: crate::dashboard::DashboardSettings,
    /// How strongly a person must have signed in for each action, and how a
    /// provider's `acr`/`amr` words map to levels (see `crate::assurance`).
    pub assurance: crate::assurance::AssuranceSettings,
    /// Size limits on what comes in, checked before anything is parsed.
    pub limits: LimitSettings,
    /// Person assertions over the API (`X-Dokflyt-Person`, see `crate::assertion`).
    pub person_assertion: crate::assertion::AssertionSettings,
    /// Each municipality's and school's written standard (and Sámi language)
    /// for letters: `[letters]`, see `crate::render::language`.
    pub letters: crate::render::language::LetterSettings,
}

/// `[limits]`: the largest input of each kind, in bytes. Every one is checked
/// before the input is parsed; what is larger is refused (HTTP 413) or
/// dead-lettered as `oversize` without its content being read further.
/// (Document events: `amqp.max_message_bytes`; answers of the archive and of
/// SvarUt: `archive.max_response_bytes`, `delivery.svarut.max_response_bytes`.)
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// A roster event on `{prefix}.roster` (one person or school: a few KiB).
    /// Env: `DOKFLYT_MAX_ROSTER_MESSAGE_BYTES`.
    pub roster_message_bytes: usize,
    /// A request body on the JSON API (`/api/*`).
    pub api_body_bytes: usize,
    /// A form posted to the dashboard (`/dashboard/*`).
    pub dashboard_body_bytes: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            roster_message_bytes: 64 * 1024,
            api_body_bytes: 64 * 1024,
            dashboard_body_bytes: 16 * 1024,
        }
    }
}

/// `[archive.auth]`: how dokflyt authenticates to the archive. Outside loopback
/// the archive URL must be `https` and one of the two must be configured (UO
/// documents travel over this connection); `serve` refuses to start otherwise.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveAuthSettings {
    /// A Maskinporten bearer token on every call, as Fiks Arkiv expects
    /// (`[archive.auth.maskinporten]`, the same settings as SvarUt's; the scope
    /// is the archive's, e.g. `ks:fiks`).
    pub maskinporten: crate::channels::maskinporten::MaskinportenSettings,
    /// mTLS instead: the client certificate (PEM path or PEM) ...
    pub client_certificate: String,
    /// ... and its private key (PKCS#8 PEM path or PEM). Env: `DOKFLYT_ARCHIVE_CLIENT_KEY`.
    pub client_key: Secret,
}

impl ArchiveAuthSettings {
    /// Whether a client certificate and key are configured (mTLS).
    pub fn mtls(&self) -> bool {
        !self.client_certificate.trim().is_empty() && !self.client_key.expose().trim().is_empty()
    }
}

/// Why the archive transport is refused (see [`ArchiveSettings::check_transport`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("the archive URL is not a valid URL")]
    BadUrl,
    #[error("the archive {host} is not on this machine, so its URL must use https (UO documents travel over it)")]
    PlainHttp { host: String },
    #[error("the archive {host} is not on this machine, so dokflyt must authenticate to it: configure [archive.auth.maskinporten] (a bearer token, as Fiks Arkiv) or [archive.auth] client_certificate and client_key (mTLS)")]
    NoAuthentication { host: String },
    #[error("[archive.auth] client_certificate and client_key must be given together")]
    HalfMtls,
}

/// True for `localhost` and loopback addresses (127.0.0.0/8, ::1).
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
    }
}

impl ArchiveSettings {
    /// The transport rule: on loopback (tests, the demo, a local stand-in) plain
    /// http without authentication is allowed; anywhere else the URL must be
    /// https and a Maskinporten client or a client certificate must be configured.
    /// Only for target `http`; the offline package has no transport.
    pub fn check_transport(&self) -> Result<(), TransportError> {
        if self.target != ArchiveTarget::Http {
            return Ok(());
        }
        let has_cert = !self.auth.client_certificate.trim().is_empty();
        let has_key = !self.auth.client_key.expose().trim().is_empty();
        if has_cert != has_key {
            return Err(TransportError::HalfMtls);
        }
        let url = url::Url::parse(self.url.expose()).map_err(|_| TransportError::BadUrl)?;
        let host = url.host().ok_or(TransportError::BadUrl)?;
        if is_loopback_host(&host) {
            return Ok(());
        }
        let host = host.to_string();
        if url.scheme() != "https" {
            return Err(TransportError::PlainHttp { host });
        }
        if !self.auth.maskinporten.enabled() && !self.auth.mtls() {
            return Err(TransportError::NoAuthentication { host });
        }
        Ok(())
    }
}

/// One SMS price and the day it takes effect (the latest `valid_from` on or before
/// a message's day applies).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmsPrice {
    pub valid_from: chrono::NaiveDate,
    /// NOK per SMS segment sent, at most two decimals (0.69).
    pub nok_per_sms: f64,
}

/// Emergency SMS: the gateway (LINK Mobility-style SMS REST API), limits and prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    /// Base URL of the gateway; requests go to `{url}/sms/send` and `{url}/sms/ref/{refId}`.
    /// Env: `DOKFLYT_SMS_GATEWAY_URL`.
    pub gateway_url: Secret,
    /// HTTP basic auth towards the gateway. Env: `DOKFLYT_SMS_GATEWAY_USERNAME`, `DOKFLYT_SMS_GATEWAY_PASSWORD`.
    pub username: String,
    pub password: Secret,
    /// The provider's platform ids (LINK: platformId / platformPartnerId).
    pub platform_id: String,
    pub platform_partner_id: String,
    /// Sender shown on the phone (alphanumeric, at most 11 characters).
    pub source: String,
    /// The delivery-report gate the gateway posts to (our `POST /api/sms/dlr`).
    pub delivery_report_gate: String,
    /// Token the gateway must send with delivery reports (`?token=`). Env: `DOKFLYT_SMS_DLR_TOKEN`.
    pub dlr_token: Secret,
    pub prices: Vec<SmsPrice>,
    /// Longest text accepted, in segments.
    pub max_segments: usize,
    /// Requests per second to the gateway (all workers of this process together).
    pub rate_per_second: u32,
    /// Requests in flight to the gateway at once.
    pub concurrency: usize,
    /// Recipient ids per fan-out message on the broker.
    pub batch_size: usize,
    /// Whole-request timeout per gateway call, milliseconds.
    pub timeout_ms: u64,
    /// Attempts per number for transient gateway errors before it is `failed`.
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// How long a claim on a recipient holds; a crashed worker's numbers are looked
    /// up at the gateway and (if not there) sent after it.
    pub claim_ttl_secs: u64,
    /// How long a preview token stays valid.
    pub preview_ttl_secs: u64,
    /// Per-school limit: emergency messages per rolling hour.
    pub max_messages_per_hour: i64,
    /// Per-school daily cost cap; above it a second authorised person must approve.
    pub daily_cost_cap_nok: f64,
    /// A message to more numbers than this needs a second authorised person's
    /// approval even under the cost cap.
    pub approval_over_recipients: i64,
    /// How often the SMS worker looks for work it was not told about, milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for SmsSettings {
    fn default() -> Self {
        SmsSettings {
            gateway_url: Secret::new("http://127.0.0.1:8092"),
            username: "dokflyt".into(),
            password: Secret::new(""),
            platform_id: "SMS".into(),
            platform_partner_id: "0".into(),
            source: "Skolen".into(),
            delivery_report_gate: "dokflyt".into(),
            dlr_token: Secret::new(""),
            prices: vec![SmsPrice {
                valid_from: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default(),
                nok_per_sms: 0.69,
            }],
            max_segments: 6,
            rate_per_second: 100,
            concurrency: 32,
            batch_size: 100,
            timeout_ms: 10_000,
            max_attempts: 5,
            backoff_initial_ms: 200,
            backoff_max_ms: 10_000,
            claim_ttl_secs: 60,
            preview_ttl_secs: 900,
            max_messages_per_hour: 3,
            daily_cost_cap_nok: 10_000.0,
            approval_over_recipients: 500,
            poll_interval_ms: 1_000,
        }
    }
}

/// Where `archive run-now` and the scheduled transfer send documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveTarget {
    /// The municipality's archive over HTTP (Fiks Arkiv arkivmelding, multipart).
    Http,
    /// An offline package: `<directory>/<event_id>/arkivmelding.xml` plus the PDF.
    Directory,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveSettings {
    /// `http` or `directory`.
    pub target: ArchiveTarget,
    /// Endpoint that receives the multipart arkivmelding. Env: `DOKFLYT_ARCHIVE_URL`.
    pub url: Secret,
    /// The offline package directory (target `directory`). Env: `DOKFLYT_ARCHIVE_DIRECTORY`.
    pub directory: PathBuf,
    /// Whole-request timeout per attempt, milliseconds.
    pub timeout_ms: u64,
    /// The archive's own tilgangsrestriksjon code for "unntatt offentlighet"
    /// (Fiks Arkiv has no fixed code; Noark's default for offl. § 13 is "13").
    pub uo_access_code: String,
    /// The archive's access group (tilgangsgruppe) of a school's folders, from
    /// `{school_id}` and `{school_name}`.
    pub school_access_group: String,
    /// The `system` of every arkivmelding and the `fagsystem` of every external key.
    pub system: String,
    /// Rows claimed per round trip.
    pub batch_size: i64,
    /// Documents in flight at once per transfer run.
    pub concurrency: usize,
    /// Attempts per document for transient faults before it is set `feilet`.
    pub max_attempts: u32,
    /// First retry delay, doubling per attempt up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// How long a claim holds; a crashed worker's rows are picked up after it.
    /// Must exceed `max_attempts` × (`timeout_ms` + backoff).
    pub claim_ttl_secs: u64,
    /// Documents in a row ending `feilet` on transient faults (connection refused,
    /// timeout, 5xx) after which a run stops and leaves the rest `klar`.
    pub outage_after: u32,
    /// When the worker transfers on its own (`[archive.schedule]`).
    pub schedule: ScheduleSettings,
    /// The largest answer read from the archive (a receipt or a Fiks Arkiv
    /// error message, a few KiB); reading stops past it. A 2xx answer that is
    /// larger cannot be a receipt and is a permanent error (check the archive);
    /// a larger 4xx/5xx answer is classified by its status alone.
    pub max_response_bytes: usize,
    /// How dokflyt authenticates to the archive (`[archive.auth]`); required
    /// when the archive is not on loopback (see [`ArchiveSettings::check_transport`]).
    pub auth: ArchiveAuthSettings,
}

/// The transfer windows: twice a day by default, in the municipality's time zone.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSettings {
    /// Off: only `dokflyt archive run-now` transfers. Env: `DOKFLYT_ARCHIVE_SCHEDULE=off`.
    pub enabled: bool,
    /// IANA time zone of the windows.
    pub timezone: String,
    /// Local start times, "HH:MM". Env: `DOKFLYT_ARCHIVE_WINDOWS=15:00,02:00`.
    pub windows: Vec<String>,
    /// How long after its start a window still counts: a worker started late (after
    /// downtime) catches up within it, and a run stopped by an archive outage is
    /// tried again within it.
    pub window_minutes: u32,
    /// Minutes between tries while the archive is down, within the window.
    pub outage_retry_minutes: u32,
    /// How often the scheduler looks at the clock, seconds.
    pub poll_secs: u64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            enabled: true,
            timezone: "Europe/Oslo".into(),
            windows: vec!["15:00".into(), "02:00".into()],
            window_minutes: 240,
            outage_retry_minutes: 10,
            poll_secs: 30,
        }
    }
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        ArchiveSettings {
            target: ArchiveTarget::Http,
            url: Secret::new("http://127.0.0.1:8090/fiks-arkiv/arkivmelding"),
            directory: "arkivpakker".into(),
            timeout_ms: 30_000,
            uo_access_code: "13".into(),
            school_access_group: "{school_name}".into(),
            system: "dokflyt".into(),
            batch_size: 50,
            concurrency: 8,
            max_attempts: 5,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 60_000,
            claim_ttl_secs: 900,
            outage_after: 3,
            schedule: ScheduleSettings::default(),
            max_response_bytes: 1024 * 1024,
            auth: ArchiveAuthSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSettings {
    /// Broker URL. Env: `DOKFLYT_AMQP_URL`.
    pub url: Secret,
    /// Prefix of every exchange and queue name, so several installations (or tests)
    /// can share one broker. Env: `DOKFLYT_AMQP_PREFIX`.
    pub prefix: String,
    /// Unacked messages the broker may hand the worker at once (basic.qos). Env: `DOKFLYT_PREFETCH`.
    pub prefetch: u16,
    /// Events processed at the same time. Env: `DOKFLYT_CONCURRENCY`.
    pub concurrency: usize,
    /// AMQP heartbeat in seconds; a dead connection is noticed within about twice this.
    pub heartbeat_secs: u16,
    /// Deliveries of one message before the quorum queue dead-letters it (a message
    /// that crashes or hangs the worker does not loop forever).
    pub delivery_limit: u32,
    /// Largest accepted event body in bytes; larger ones are dead-lettered as `oversize`.
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// PostgreSQL URL. The database is created when missing. Env: `DOKFLYT_DATABASE_URL`.
    pub url: Secret,
    /// Pool size.
    pub max_connections: u32,
    /// Server-side `statement_timeout`, milliseconds.
    pub statement_timeout_ms: u64,
    /// Server-side `idle_in_transaction_session_timeout`, milliseconds.
    pub idle_in_transaction_timeout_ms: u64,
    /// How long to wait for a pooled connection before treating the database as down.
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Listen address of the health/API server. Env: `DOKFLYT_HTTP_ADDR`.
    pub addr: String,
    /// The development token: a bearer that acts as the built-in demo client
    /// (every scope, every school of municipality 4699). It is accepted only by
    /// `serve --demo` or on a loopback listener; `serve` on any other address with
    /// it set refuses to start. Empty turns it off (production: register clients
    /// with `dokflyt clients add`). Env: `DOKFLYT_DEV_TOKEN`.
    pub dev_token: Secret,
    /// How long a rotated-out client secret keeps working (`dokflyt clients rotate`).
    pub rotation_overlap_secs: u64,
    /// API requests per minute per client (a burst of this many, then evenly).
    pub requests_per_minute_per_client: u32,
    /// API requests per minute per acting user of a client.
    pub requests_per_minute_per_user: u32,
    /// API requests with no or a bad secret per minute per address; over it they
    /// get 429 and are no longer written to the audit log one by one.
    pub failed_requests_per_minute_per_address: u32,
    /// dokflyt runs behind a reverse proxy that appends the client's address to
    /// `X-Forwarded-For`; the right-most entry is then the address the API's rate
    /// limits count. Off, the header is ignored. Env: `DOKFLYT_TRUST_PROXY_HEADERS`.
    pub trust_proxy_headers: bool,
    /// Set by `serve --demo` (never from a file): the development token may be
    /// used on any address.
    #[serde(skip)]
    pub demo_mode: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathSettings {
    /// The routing table. Env: `DOKFLYT_RULES_DIR`.
    pub rules_dir: PathBuf,
    /// Letter and report templates. Env: `DOKFLYT_TEMPLATES_DIR`.
    pub templates_dir: PathBuf,
    /// Example events used by `serve --demo`.
    pub examples_dir: PathBuf,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        AmqpSettings {
            url: Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            prefix: "dokflyt".into(),
            prefetch: 64,
            concurrency: 32,
            heartbeat_secs: 10,
            delivery_limit: 5,
            max_message_bytes: 1024 * 1024,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/dokflyt"),
            max_connections: 16,
            statement_timeout_ms: 30_000,
            idle_in_transaction_timeout_ms: 60_000,
            acquire_timeout_ms: 5_000,
        }
    }
}

/// The development token of a fresh checkout (README): loopback or `--demo` only.
pub const DEV_API_TOKEN: &str = "dokflyt-lokal-utvikling";

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            addr: "127.0.0.1:8080".into(),
            dev_token: Secret::new(DEV_API_TOKEN),
            rotation_overlap_secs: 24 * 3600,
            requests_per_minute_per_client: 1200,
            requests_per_minute_per_user: 120,
            failed_requests_per_minute_per_address: 30,
            trust_proxy_headers: false,
            demo_mode: false,
        }
    }
}

impl Default for PathSettings {
    fn default() -> Self {
        PathSettings {
            rules_dir: "routing-rules".into(),
            templates_dir: "templates".into(),
            examples_dir: "examples/events".into(),
        }
    }
}

impl Settings {
    /// Defaults, then `file` (or `$DOKFLYT_CONFIG`, or `./dokflyt.toml` when present),
    /// then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let from_env = std::env::var_os("DOKFLYT_CONFIG").map(PathBuf::from);
        let implicit = Path::new("dokflyt.toml");
        let path = file
            .map(Path::to_path_buf)
            .or(from_env)
            .or_else(|| implicit.exists().then(|| implicit.to_path_buf()));
        let mut settings = match path {
            Some(p) => Self::from_file(&p)?,
            None => Settings::default(),
        };
        settings.apply_env(|k| std::env::var(k).ok())?;
        Ok(settings)
    }

    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn from_toml(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `DOKFLYT_*` variables read through `get` (injectable for tests).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(name: &'static str, v: String) -> Result<T, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError::Env {
                name,
                message: "not a number".into(),
            })
        }
        if let Some(v) = get("DOKFLYT_AMQP_URL") {
            self.amqp.url = Secret::new(v);
        }
        if let Some(v) = get("DOKFLYT_AMQP_PREFIX") {
            self.amqp.prefix = v;
        }
        if let Some(v) = get("DOKFLYT_PREFETCH") {
            self.amqp.prefetch = num("DOKFLYT_PREFETCH", v)?;
        }
        if let Some(v) = get("DOKFLYT_CONCURRENCY") {
            self.amqp.concurrency = num("DOKFLYT_CONCURRENCY", v)?;
        }
        if let Some(v) = get("DOKFLYT_DATABASE_URL") {
            self.database.url = Secret::new(v);
        }
        if let Some(v) = get("DOKFLYT_HTTP_ADDR") {
            self.http.addr = v;
        }
        if get("DOKFLYT_API_TOKEN").is_some() {
            // The shared token is gone (issue 16); failing beats silently ignoring it.
            return Err(ConfigError::Env {
                name: "DOKFLYT_API_TOKEN",
                message: "the shared API token no longer exists: register each integration \
                          with `dokflyt clients add` (DOKFLYT_DEV_TOKEN is the development token)"
                    .into(),
            });
        }
        if let Some(v) = get("DOKFLYT_DEV_TOKEN") {
            self.http.dev_token = Secret::new(v);
        }
        if let Some(v) = get("DOKFLYT_TRUST_PROXY_HEADERS") {
            self.http.trust_proxy_headers = matches!(v.trim(), "1" | "true" | "yes");
        }
        if let Some(v) = get("DOKFLYT_RULES_DIR") {
            self.paths.rules_dir = v.into();
        }
        if let Some(v) = get("DOKFLYT_TEMPLATES_DIR") {
            self.paths.templates_dir = v.into();
        }
        if let Some(v) = get("DOKFLYT_ARCHIVE_URL") {
            self.archive.url = Secret::new(v);
        }
        if let Some(v) = get("DOKFLYT_ARCHIVE_CLIENT_KEY") {
            self.archive.auth.client_key = Secret::new(v);
        }
        if let Some(v) = get("DOKFLYT_MAX_ROSTER_MESSAGE_BYTES") {
            self.limits.roster_message_bytes = num("DOKFLYT_MAX_ROSTER_MESSAGE_BYTES", v)?;
        }
        if let Some(v) = get("DOKFLYT_ARCHIVE_DIRECTORY") {
            self.archive.directory = v.into();
        }
        if let Some(v) = get("DOKFLYT_ARCHIVE_TARGET") {
            self.archive.target = match v.trim() {
                "http" => ArchiveTarget::Http,
                "directory" => ArchiveTarget::Directory,
                _ => {
                    return Err(ConfigError::Env {
                        name: "DOKFLYT_ARCHIVE_TARGET",
                        message: "expected `http` or `directory`".into(),
                    })
                }
            };
        }
        if let Some(v) = get("DOKFLYT_ARCHIVE_CLAIM_TTL_SECS") {
            self.archive.claim_ttl_secs = num("DOKFLYT_ARCHIVE_CLAIM_TTL_SECS", v)?;
        }
        if let Some(v) = get("DOKFLYT_ARCHIVE_SCHEDULE") {
            self.archive.schedule.enabled = match v.trim() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: "DOKFLYT_ARCHIVE_SCHEDULE",
                        message: "expected `on` or `off`".into(),
                    })
                }
            };
        }
        if let Some(v) = get("DOKFLYT_ARCHIVE_WINDOWS") {
            self.archive.schedule.windows = v
                .split(',')
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect();
        }
        self.delivery.apply_env(&get);
        if let Some(v) = get("DOKFLYT_SMS_GATEWAY_URL") {
            self.sms.gateway_url = Secret::new(v);
        }
        if let Some(v) = get("DOKFLYT_SMS_GATEWAY_USERNAME") {
            self.sms.username = v;
        }
        if let Some(v) = get("DOKFLYT_SMS_GATEWAY_PASSWORD") {
            self.sms.password = Secret::new(v);
        }
        if let Some(v) = get("DOKFLYT_SMS_DLR_TOKEN") {
            self.sms.dlr_token = Secret::new(v);
        }
        if let Some(v) = get("DOKFLYT_OIDC_ISSUER") {
            self.dashboard.oidc_issuer = v;
        }
        if let Some(v) = get("DOKFLYT_OIDC_CLIENT_ID") {
            self.dashboard.oidc_client_id = v;
        }
        if let Some(v) = get("DOKFLYT_OIDC_CLIENT_SECRET") {
            self.dashboard.oidc_client_secret = Secret::new(v);
        }
        if let Some(v) = get("DOKFLYT_PUBLIC_URL") {
            self.dashboard.public_url = v;
        }
        if let Some(v) = get("DOKFLYT_DASHBOARD_SECURE_COOKIES") {
            self.dashboard.secure_cookies = match v.trim() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: "DOKFLYT_DASHBOARD_SECURE_COOKIES",
                        message: "expected `on` or `off`".into(),
                    })
                }
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_on_a_local_machine() {
        let s = Settings::default();
        assert_eq!(s.amqp.url.expose(), "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(
            s.database.url.expose(),
            "postgres://postgres@127.0.0.1:5432/dokflyt"
        );
        assert_eq!(s.http.addr, "127.0.0.1:8080");
        assert!(s.amqp.prefetch >= 64);
    }

    #[test]
    fn file_then_env() {
        let mut s =
            Settings::from_toml("[http]\naddr = \"0.0.0.0:9000\"\n[amqp]\nprefetch = 100\n")
                .unwrap();
        assert_eq!(s.http.addr, "0.0.0.0:9000");
        assert_eq!(s.amqp.prefetch, 100);
        s.apply_env(|k| (k == "DOKFLYT_HTTP_ADDR").then(|| "127.0.0.1:1".to_string()))
            .unwrap();
        assert_eq!(s.http.addr, "127.0.0.1:1");
    }

    #[test]
    fn archive_section_has_defaults_and_can_be_set() {
        let d = Settings::default();
        assert_eq!(d.archive.uo_access_code, "13");
        assert_eq!(d.archive.target, ArchiveTarget::Http);
        let s = Settings::from_toml(
            "[archive]\ntarget = \"directory\"\nuo_access_code = \"UO\"\ntimeout_ms = 5\n",
        )
        .unwrap();
        assert_eq!(s.archive.target, ArchiveTarget::Directory);
        assert_eq!(s.archive.uo_access_code, "UO");
        assert_eq!(s.archive.timeout_ms, 5);
        assert!(Settings::from_toml("[archive]\nuo_code = \"x\"\n").is_err());
    }

    fn archive(url: &str) -> ArchiveSettings {
        ArchiveSettings {
            url: Secret::new(url),
            ..ArchiveSettings::default()
        }
    }

    #[test]
    fn the_archive_transport_outside_loopback_needs_https_and_authentication() {
        // Loopback: plain http without authentication, for tests and the demo.
        for url in [
            "http://127.0.0.1:8090/fiks-arkiv/arkivmelding",
            "http://localhost:8090/a",
            "http://[::1]:8090/a",
        ] {
            assert_eq!(archive(url).check_transport(), Ok(()), "{url}");
        }
        assert!(matches!(
            archive("http://archive.example.no/arkivmelding").check_transport(),
            Err(TransportError::PlainHttp { .. })
        ));
        assert!(matches!(
            archive("http://10.0.0.5/arkivmelding").check_transport(),
            Err(TransportError::PlainHttp { .. })
        ));
        let e = archive("https://archive.example.no/arkivmelding")
            .check_transport()
            .expect_err("https alone is not enough");
        assert!(matches!(e, TransportError::NoAuthentication { .. }));
        assert!(e.to_string().contains("archive.example.no"), "{e}");
        // With Maskinporten (as Fiks Arkiv) it is accepted ...
        let mut s = archive("https://archive.example.no/arkivmelding");
        s.auth.maskinporten.token_endpoint = "https://test.maskinporten.no/token".into();
        assert_eq!(s.check_transport(), Ok(()));
        // ... and plain http is still refused with it.
        s.url = Secret::new("http://archive.example.no/arkivmelding");
        assert!(matches!(
            s.check_transport(),
            Err(TransportError::PlainHttp { .. })
        ));
        // mTLS: a certificate and a key, both.
        let mut s = archive("https://archive.example.no/arkivmelding");
        s.auth.client_certificate = "/etc/dokflyt/arkiv.crt".into();
        assert_eq!(s.check_transport(), Err(TransportError::HalfMtls));
        s.auth.client_key = Secret::new("/etc/dokflyt/arkiv.key");
        assert_eq!(s.check_transport(), Ok(()));
        // The offline package has no transport to check.
        let mut s = archive("http://archive.example.no/arkivmelding");
        s.target = ArchiveTarget::Directory;
        assert_eq!(s.check_transport(), Ok(()));
        // The same rule from a configuration file.
        let s = Settings::from_toml(
            "[archive]\nurl = \"https://arkiv.kommune.no/a\"\n[archive.auth.maskinporten]\ntoken_endpoint = \"https://maskinporten.no/token\"\nclient_id = \"x\"\n",
        )
        .expect("toml");
        assert_eq!(s.archive.check_transport(), Ok(()));
    }

    #[test]
    fn limits_have_defaults_and_can_be_set() {
        let d = Settings::default();
        assert_eq!(d.limits.roster_message_bytes, 64 * 1024);
        let s = Settings::from_toml("[limits]\nroster_message_bytes = 100\napi_body_bytes = 5\n")
            .expect("toml");
        assert_eq!(
            (s.limits.roster_message_bytes, s.limits.api_body_bytes),
            (100, 5)
        );
        assert!(Settings::from_toml("[limits]\nroster_bytes = 1\n").is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(Settings::from_toml("[http]\nadr = \"x\"\n").is_err());
        assert!(Settings::from_toml("[htp]\n").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("amqp://guest:hemmelig@host:5672/%2f");
        assert!(!format!("{s:?}").contains("hemmelig"));
        assert_eq!(s.redacted_url(), "amqp://guest:***@host:5672/%2f");
        assert_eq!(
            Secret::new("postgres://postgres@h/db").redacted_url(),
            "postgres://postgres@h/db"
        );
    }
}
