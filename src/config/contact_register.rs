//! `[delivery.contact_register]`: the national contact and reservation register
//! (KRR) — whether dokflyt asks it before sending to a guardian, where, with
//! which Maskinporten client, how long answers are kept, which of its contact
//! details replace the event's, and what happens while it cannot be reached.
//!
//! Read by `crate::contact_register` and the channel dispatcher. Input:
//! defaults, the table, the environment (`DOKFLYT_DELIVERY__CONTACT_REGISTER__*`).
//! Output: [`ContactRegisterSettings`]. Failure: unknown keys and unknown words
//! are errors; [`ContactRegisterSettings::validate`] refuses a batch size outside
//! 1–1,000 and an enabled register with neither a token nor Maskinporten.

use serde::{Deserialize, Serialize};

use super::maskinporten::MaskinportenSettings;
use crate::secret::Secret;

/// A contact detail the register can supply instead of the event's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterDetail {
    /// `kontaktinformasjon.mobiltelefonnummer`.
    Mobile,
    /// `kontaktinformasjon.epostadresse`.
    Email,
    /// `digital_postkasse`: whether the person has a digital mailbox.
    DigitalMailbox,
}

/// What a document does once the register has been unreachable for longer than
/// `outage_wait_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageFallback {
    /// Held for a person at the school (never sent automatically).
    Hold,
    /// As if the person could not be reached digitally: a SvarUt letter goes on
    /// paper (no digital mailbox, no notice), a message stays in the portal with
    /// no email; a protected address is then held by the recipient policy.
    Svarut,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContactRegisterSettings {
    /// Ask the register before sending to a guardian. Off: the event's details
    /// are trusted, as before.
    pub enabled: bool,
    /// The lookup endpoint (`https://krr.digdir.no/rest/v1/personer`; test:
    /// `https://krr-ver2.digdir.no/rest/v1/personer`).
    pub url: String,
    /// A bearer token fetched by other means; used when `maskinporten` has no
    /// token endpoint.
    pub token: Secret,
    /// The Maskinporten client; its `scope` must be the register's
    /// (`krr:global/kontaktinformasjon.read krr:global/digitalpost.read`).
    pub maskinporten: MaskinportenSettings,
    /// Persons per lookup (the service answers 1–1,000).
    pub batch_size: usize,
    /// How long an answer is reused, seconds (kept in memory only).
    pub cache_ttl_secs: u64,
    /// Largest number of answers kept.
    pub cache_capacity: u64,
    /// Whole-request timeout of a lookup, milliseconds.
    pub timeout_ms: u64,
    /// Which of the register's details replace the event's. Default: all three,
    /// as the eForvaltningsforskriften requires (README "Reaching guardians").
    pub use_register_details: Vec<RegisterDetail>,
    /// How long a document waits for an unreachable register, seconds, before
    /// `outage_fallback` applies.
    pub outage_wait_secs: u64,
    /// How often a waiting document asks again, seconds.
    pub outage_retry_secs: u64,
    pub outage_fallback: OutageFallback,
}

impl Default for ContactRegisterSettings {
    fn default() -> Self {
        ContactRegisterSettings {
            enabled: false,
            url: "https://krr.digdir.no/rest/v1/personer".into(),
            token: Secret::new(""),
            maskinporten: MaskinportenSettings {
                scope: "krr:global/kontaktinformasjon.read krr:global/digitalpost.read".into(),
                ..MaskinportenSettings::default()
            },
            batch_size: 1000,
            cache_ttl_secs: 3600,
            cache_capacity: 100_000,
            timeout_ms: 10_000,
            use_register_details: vec![
                RegisterDetail::Mobile,
                RegisterDetail::Email,
                RegisterDetail::DigitalMailbox,
            ],
            outage_wait_secs: 24 * 3600,
            outage_retry_secs: 300,
            outage_fallback: OutageFallback::Hold,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactRegisterConfigError {
    #[error("delivery.contact_register.batch_size must be 1 to 1000")]
    BatchSize,
    #[error("delivery.contact_register is enabled but has neither a token nor [delivery.contact_register.maskinporten]")]
    NoCredentials,
    #[error("delivery.contact_register.maskinporten.scope must be the register's krr: scopes")]
    Scope,
}

impl ContactRegisterSettings {
    pub fn uses(&self, d: RegisterDetail) -> bool {
        self.use_register_details.contains(&d)
    }

    pub fn validate(&self) -> Result<(), ContactRegisterConfigError> {
        if !(1..=1000).contains(&self.batch_size) {
            return Err(ContactRegisterConfigError::BatchSize);
        }
        if !self.enabled {
            return Ok(());
        }
        if self.maskinporten.enabled() {
            if !self
                .maskinporten
                .scope
                .split_whitespace()
                .all(|s| s.starts_with("krr:"))
            {
                return Err(ContactRegisterConfigError::Scope);
            }
        } else if self.token.expose().trim().is_empty() {
            return Err(ContactRegisterConfigError::NoCredentials);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_off_and_use_every_register_detail() {
        let s = ContactRegisterSettings::default();
        assert!(!s.enabled);
        assert!(s.validate().is_ok());
        for d in [
            RegisterDetail::Mobile,
            RegisterDetail::Email,
            RegisterDetail::DigitalMailbox,
        ] {
            assert!(s.uses(d));
        }
        let on = ContactRegisterSettings {
            enabled: true,
            ..ContactRegisterSettings::default()
        };
        assert_eq!(
            on.validate(),
            Err(ContactRegisterConfigError::NoCredentials)
        );
        let big = ContactRegisterSettings {
            batch_size: 1001,
            ..ContactRegisterSettings::default()
        };
        assert_eq!(big.validate(), Err(ContactRegisterConfigError::BatchSize));
    }

    #[test]
    fn the_section_reads_from_the_file_and_the_environment() {
        let s = crate::config::Settings::from_sources(
            "[delivery.contact_register]\nenabled = true\ntoken = \"t\"\nuse_register_details = [\"email\"]\noutage_fallback = \"svarut\"\n",
            std::path::Path::new("x.toml"),
            [(
                "DOKFLYT_DELIVERY__CONTACT_REGISTER__CACHE_TTL_SECS".to_string(),
                "60".to_string(),
            )],
        )
        .expect("settings");
        let c = &s.delivery.contact_register;
        assert!(c.enabled && c.uses(RegisterDetail::Email) && !c.uses(RegisterDetail::Mobile));
        assert_eq!(c.outage_fallback, OutageFallback::Svarut);
        assert_eq!(c.cache_ttl_secs, 60);
        assert!(c.validate().is_ok());
    }
}
