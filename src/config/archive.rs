//! `[archive]`: where and how the transfer sends documents, its windows
//! (`[archive.schedule]`) and how dokflyt authenticates to the archive
//! (`[archive.auth]`).
//!
//! Read by `archive::{client, transfer, schedule}`. Failure: unknown keys are
//! errors; [`ArchiveSettings::check_transport`] refuses a plain or
//! unauthenticated transport outside loopback, at start-up.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::MaskinportenSettings;
use crate::secret::Secret;

/// `[archive.auth]`: how dokflyt authenticates to the archive. Outside loopback
/// the archive URL must be `https` and one of the two must be configured (UO
/// documents travel over this connection); `serve` refuses to start otherwise.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveAuthSettings {
    /// A Maskinporten bearer token on every call, as Fiks Arkiv expects
    /// (`[archive.auth.maskinporten]`, the same settings as SvarUt's; the scope
    /// is the archive's, e.g. `ks:fiks`).
    pub maskinporten: MaskinportenSettings,
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

/// Where `archive run-now` and the scheduled transfer send documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveTarget {
    /// The municipality's archive over HTTP (Fiks Arkiv arkivmelding, multipart).
    Http,
    /// An offline package: `<directory>/<event_id>/arkivmelding.xml` plus the PDF.
    Directory,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
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
