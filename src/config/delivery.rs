//! `[delivery]`: the channel workers (SvarUt, message/email, notification,
//! internal).
//!
//! Read by `channels::`. Input: defaults, the `[delivery]` table, the
//! environment (see `config::env`). Output: [`DeliverySettings`].
//! Failure: unknown keys are errors (as everywhere in `config`). Tokens and
//! passwords are [`Secret`]s and never printed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::contact_register::ContactRegisterSettings;
use super::maskinporten::MaskinportenSettings;
use crate::secret::Secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    /// Run the channel workers inside `serve`.
    pub enabled: bool,
    /// Deliveries claimed per round trip, per channel.
    pub batch_size: i64,
    /// Sends in flight at once per channel.
    pub concurrency: usize,
    /// Claims (attempts) per delivery before a transient fault ends it `failed`.
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// How long a claim holds; a crashed worker's deliveries are picked up after it.
    pub claim_ttl_secs: u64,
    /// Pause when a channel has nothing to send, milliseconds.
    pub idle_poll_ms: u64,
    /// The portal guardians log in to (link in notices).
    pub portal_url: String,
    pub svarut: SvarUtSettings,
    pub email: EmailSettings,
    /// The national contact and reservation register, asked before a guardian is
    /// sent to: `[delivery.contact_register]`.
    pub contact_register: ContactRegisterSettings,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            enabled: true,
            batch_size: 20,
            concurrency: 4,
            max_attempts: 6,
            backoff_initial_ms: 2_000,
            backoff_max_ms: 300_000,
            claim_ttl_secs: 1_200,
            idle_poll_ms: 1_000,
            portal_url: "https://skoleportal.example.no/".into(),
            svarut: SvarUtSettings::default(),
            email: EmailSettings::default(),
            contact_register: ContactRegisterSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SvarUtSettings {
    /// Base URL up to and including `/api` (`https://svarut.ks.no/api`). Env: `DOKFLYT_SVARUT_URL`.
    pub base_url: String,
    /// The sending account (kontoId, a UUID).
    pub konto_id: String,
    /// Maskinporten access token, sent as `Authorization: Bearer`. Env: `DOKFLYT_SVARUT_TOKEN`.
    pub maskinporten_token: Secret,
    /// Env: `DOKFLYT_SVARUT_INTEGRASJON_ID`.
    pub integrasjon_id: String,
    /// Env: `DOKFLYT_SVARUT_INTEGRASJON_PASSORD`.
    pub integrasjon_passord: Secret,
    /// `avgivendeSystem` of every forsendelse.
    pub avgivende_system: String,
    /// `konteringskode` per school id (cost per school); default: the school id.
    pub konteringskode: BTreeMap<String, String>,
    /// Whole-request timeout of a send, milliseconds (SvarUt recommends 16 minutes
    /// for large files; letters are small).
    pub timeout_ms: u64,
    /// How often `status-sok` runs, seconds.
    pub poll_interval_secs: u64,
    /// Forsendelser per `status-sok` request.
    pub poll_batch: i64,
    /// Stop polling a forsendelse this many days after it was sent.
    pub poll_max_age_days: i64,
    /// SvarUt's public certificate that documents requiring level-4 login are
    /// encrypted to (CMS): a PEM file's path, or the PEM itself. Empty: such letters
    /// are held. Env: `DOKFLYT_SVARUT_CERTIFICATE`.
    pub encryption_certificate: String,
    /// Fetch the bearer token from Maskinporten (JWT grant) instead of using
    /// `maskinporten_token`.
    pub maskinporten: MaskinportenSettings,
    /// The largest answer read from SvarUt, bytes; reading stops past it. A
    /// larger 2xx answer after a send is a retry *in doubt* (the forsendelse may
    /// exist and is looked up first); a larger 4xx/5xx is classified by status.
    pub max_response_bytes: usize,
}

impl Default for SvarUtSettings {
    fn default() -> Self {
        SvarUtSettings {
            base_url: "http://127.0.0.1:8091/api".into(),
            konto_id: "00000000-0000-4000-8000-000000000000".into(),
            maskinporten_token: Secret::new(""),
            integrasjon_id: String::new(),
            integrasjon_passord: Secret::new(""),
            avgivende_system: "dokflyt".into(),
            konteringskode: BTreeMap::new(),
            timeout_ms: 120_000,
            poll_interval_secs: 300,
            poll_batch: 100,
            poll_max_age_days: 60,
            encryption_certificate: String::new(),
            maskinporten: MaskinportenSettings::default(),
            max_response_bytes: 256 * 1024,
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on localhost).
    None,
    /// STARTTLS, refusing to send when the server does not offer it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// Send email copies at all (off: the in-app message only).
    pub enabled: bool,
    /// Env: `DOKFLYT_SMTP_HOST`.
    pub host: String,
    /// Env: `DOKFLYT_SMTP_PORT`.
    pub port: u16,
    pub tls: SmtpTls,
    /// Extra PEM root certificate to trust (a municipality's own CA).
    pub ca_file: Option<std::path::PathBuf>,
    pub username: Option<String>,
    /// Env: `DOKFLYT_SMTP_PASSWORD`.
    pub password: Option<Secret>,
    pub timeout_ms: u64,
    /// From when a school has no entry in `schools`.
    pub default_from: String,
    /// From / Reply-To per school id.
    pub schools: BTreeMap<String, SchoolMail>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolMail {
    pub from: String,
    #[serde(default)]
    pub reply_to: Option<String>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 2525,
            tls: SmtpTls::None,
            ca_file: None,
            username: None,
            password: None,
            timeout_ms: 30_000,
            default_from: "Skolen <ikke-svar@dokflyt.example.no>".into(),
            schools: BTreeMap::new(),
        }
    }
}
