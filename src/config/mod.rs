//! Settings: built-in defaults, then a TOML file, then `DOKFLYT_*` environment
//! variables — every section of them, in one place.
//!
//! Concept: configuration, the bottom of the feature modules: every settings
//! section lives here (one file per larger section), and feature modules import
//! `config`, never the reverse. `config` itself imports only leaves: [`Secret`]
//! (`crate::secret`) and the assurance words (`crate::assurance`).
//! Input: the defaults, the file (`--config`, `$DOKFLYT_CONFIG`, `./dokflyt.toml`),
//! the environment (`DOKFLYT_SECTION__KEY`, see [`env`]). Output: [`Settings`].
//! Failure: a [`ConfigError`] at start, naming the file and key or the variable:
//! unknown keys are errors (a typo must not silently fall back to a default), and
//! so is a value of the wrong type from either source. Connection strings are
//! [`Secret`]s: they never appear in `Debug` output or logs, only with the
//! password masked through [`Secret::redacted_url`].

mod archive;
mod assertion;
mod assurance;
mod contact_register;
mod dashboard;
mod delivery;
pub mod env;
pub mod letters;
mod maskinporten;
mod sms;
mod telemetry;
mod tls;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::secret::Secret;
pub use archive::{
    is_loopback_host, ArchiveAuthSettings, ArchiveSettings, ArchiveTarget, ScheduleSettings,
    TransportError,
};
pub use assertion::AssertionSettings;
pub use assurance::{AssuranceSettings, Requirements};
pub use contact_register::{
    ContactRegisterConfigError, ContactRegisterSettings, OutageFallback, RegisterDetail,
};
pub use dashboard::{ClaimMapping, DashboardSettings};
pub use delivery::{DeliverySettings, EmailSettings, SchoolMail, SmtpTls, SvarUtSettings};
pub use letters::LetterSettings;
pub use maskinporten::MaskinportenSettings;
pub use sms::{SmsPrice, SmsSettings};
pub use telemetry::TracingSettings;
pub use tls::TlsSettings;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    /// A `DOKFLYT_*` variable that names no setting or holds a value of the wrong
    /// type. The message names the variable and the key, never the value (it may
    /// be a password).
    #[error("environment variable {name} is invalid: {message}")]
    Env { name: String, message: String },
}

/// Everything the worker can be told. Every field has a default.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub amqp: AmqpSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub paths: PathSettings,
    pub archive: ArchiveSettings,
    /// The channel workers (SvarUt, message/email, notification, internal).
    pub delivery: DeliverySettings,
    pub sms: SmsSettings,
    /// The staff dashboard's sign-in (OpenID Connect) and sessions.
    pub dashboard: DashboardSettings,
    /// How strongly a person must have signed in for each action, and how a
    /// provider's `acr`/`amr` words map to levels (see `crate::assurance`).
    pub assurance: AssuranceSettings,
    /// Size limits on what comes in, checked before anything is parsed.
    pub limits: LimitSettings,
    /// Person assertions over the API (`X-Dokflyt-Person`, see `crate::assertion`).
    pub person_assertion: AssertionSettings,
    /// Each municipality's and school's written standard (and Sámi language)
    /// for letters: `[letters]`, see [`letters`].
    pub letters: LetterSettings,
    /// Extra CA certificates every outgoing TLS connection trusts: `[tls]`.
    pub tls: TlsSettings,
    /// Span export over OTLP: `[tracing]`.
    pub tracing: TracingSettings,
    /// Where the dashboard's roles come from (claims, grants or both): `[access]`.
    pub access: AccessSettings,
}

/// `[access]`: which sources of roles count for a dashboard request (see
/// `crate::grants`). Env: `DOKFLYT_ACCESS__ROLE_SOURCE`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSettings {
    pub role_source: RoleSource,
}

/// Which sources of roles count for a dashboard request (`[access] role_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleSource {
    /// Only the identity provider's claims at sign-in (grants are ignored).
    Claims,
    /// Only grants in force (the claims' role is ignored; the claims still
    /// identify the person).
    Grants,
    /// Claims and grants in force: the strongest role of either counts. With no
    /// grants made this is exactly the claims.
    #[default]
    Both,
}

/// `[limits]`: the largest input of each kind, in bytes. Every one is checked
/// before the input is parsed; what is larger is refused (HTTP 413) or
/// dead-lettered as `oversize` without its content being read further.
/// (Document events: `amqp.max_message_bytes`; answers of the archive and of
/// SvarUt: `archive.max_response_bytes`, `delivery.svarut.max_response_bytes`.)
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// PDFs rendered at the same time (CPU work on the blocking pool); 0 = no bound
    /// beyond `concurrency`. Env: `DOKFLYT_AMQP__RENDER_THREADS`.
    pub render_threads: usize,
    /// AMQP heartbeat in seconds; a dead connection is noticed within about twice this.
    pub heartbeat_secs: u16,
    /// Deliveries of one message before the quorum queue dead-letters it (a message
    /// that crashes or hangs the worker does not loop forever).
    pub delivery_limit: u32,
    /// Largest accepted event body in bytes; larger ones are dead-lettered as `oversize`.
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Listen address of the health/API server. Env: `DOKFLYT_HTTP_ADDR`.
    pub addr: String,
    /// The development token: a bearer that acts as the built-in demo client
    /// (every scope, every school of municipality 4699). It is accepted only by
    /// `dokflyt-dev demo` or on a loopback listener; `serve` on any other address with
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
    /// `GET /metrics` reads its database gauges (archive queue, documents by
    /// channel, SMS ledger) at most this often; scrapes in between get the last
    /// values. About the Prometheus scrape interval; 0 reads on every scrape.
    pub metrics_refresh_secs: u64,
    /// Set by `dokflyt-dev demo` (never from a file): the development token may be
    /// used on any address.
    #[serde(skip)]
    pub demo_mode: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathSettings {
    /// The routing table. Env: `DOKFLYT_RULES_DIR`.
    pub rules_dir: PathBuf,
    /// Letter and report templates. Env: `DOKFLYT_TEMPLATES_DIR`.
    pub templates_dir: PathBuf,
    /// Example events used by the demo (`dokflyt-dev demo`).
    pub examples_dir: PathBuf,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        AmqpSettings {
            url: Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            prefix: "dokflyt".into(),
            prefetch: 64,
            concurrency: 32,
            render_threads: 0,
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

/// The development token of a fresh checkout (README): loopback or the demo (`dokflyt-dev demo`) only.
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
            metrics_refresh_secs: 15,
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
        let text = match &path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.clone(),
                source,
            })?,
            None => String::new(),
        };
        let file_path = path.unwrap_or_else(|| PathBuf::from("(no file)"));
        Self::from_sources(&text, &file_path, std::env::vars())
    }

    /// The layering itself, with the file's text and the environment given (tests).
    pub fn from_sources(
        toml_text: &str,
        path: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let parse_err = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        // The file alone first: its errors then carry its line and column.
        Self::from_toml(toml_text).map_err(parse_err)?;
        let mut table: toml::Table =
            toml::from_str(toml_text).map_err(|e| parse_err(e.to_string()))?;
        env::overlay(&mut table, vars)?;
        table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Env {
                name: "DOKFLYT_*".into(),
                message: e.message().to_string(),
            })
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

    /// Applies `DOKFLYT_*` variables read through `get` on top of these settings
    /// (injectable for tests): the same overlay as [`Settings::load`].
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let vars: Vec<(String, String)> = env::names()
            .filter_map(|name| get(&name).map(|v| (name, v)))
            .collect();
        let mut table = toml::Table::try_from(&*self).map_err(|e| ConfigError::Env {
            name: "DOKFLYT_*".into(),
            message: e.to_string(),
        })?;
        env::overlay(&mut table, vars)?;
        let demo_mode = self.http.demo_mode;
        *self = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Env {
                name: "DOKFLYT_*".into(),
                message: e.message().to_string(),
            })?;
        self.http.demo_mode = demo_mode;
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
    fn the_role_source_defaults_to_both_and_is_set_by_file_or_env() {
        assert_eq!(Settings::default().access.role_source, RoleSource::Both);
        let mut s = Settings::from_toml("[access]\nrole_source = \"claims\"\n").unwrap();
        assert_eq!(s.access.role_source, RoleSource::Claims);
        s.apply_env(|k| (k == "DOKFLYT_ACCESS__ROLE_SOURCE").then(|| "grants".to_string()))
            .unwrap();
        assert_eq!(s.access.role_source, RoleSource::Grants);
        assert!(Settings::from_toml("[access]\nrole_source = \"roster\"\n").is_err());
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
        assert_eq!(s.amqp.prefetch, 100, "the file's value stays");
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
}
