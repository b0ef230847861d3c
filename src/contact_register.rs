//! The national contact and reservation register (Kontakt- og
//! reservasjonsregisteret, KRR): the client of Digdir's REST lookup service.
//!
//! Stage: delivery (the channel dispatcher asks it about the guardians of a
//! claimed batch before anything is sent; `crate::recipient_policy` applies the
//! answer). Input: national ids. Output: per id the register's
//! [`RegisterFacts`] — reservation, *kan varsles*, email and mobile, whether a
//! digital mailbox is registered, the preferred language — from `POST
//! {url}` (`https://krr.digdir.no/rest/v1/personer`) with the body
//! `{"personidentifikatorer": [..]}`, at most `batch_size` (≤ 1,000) ids per
//! call, authorised by a Maskinporten token for the `krr:` scopes (or a static
//! token). Answers are kept in memory for `cache_ttl_secs`; an id the register
//! does not return counts as not registered.
//! Failure: a [`RegisterError`] when the register, or Maskinporten, cannot
//! answer; nothing is then decided for the persons asked (the dispatcher makes
//! their deliveries wait). Errors and logs carry counts and HTTP statuses only,
//! never a national id or contact detail.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ContactRegisterConfigError, ContactRegisterSettings};
use crate::maskinporten::{MaskinportenError, TokenSource};
use crate::recipient_policy::RegisterFacts;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Config(#[from] ContactRegisterConfigError),
    #[error("the contact register client cannot be built: {0}")]
    Client(String),
    #[error("no Maskinporten token for the contact register: {0}")]
    Token(#[from] MaskinportenError),
    #[error("the contact register cannot be reached")]
    Unreachable,
    #[error("the contact register did not answer in time")]
    Timeout,
    #[error("the contact register answered HTTP {0}")]
    Http(u16),
    #[error("the contact register's answer cannot be read")]
    BadAnswer,
}

impl RegisterError {
    /// A stable class for logs and delivery records.
    pub fn class(&self) -> &'static str {
        match self {
            RegisterError::Config(_) | RegisterError::Client(_) => "register_config",
            RegisterError::Token(_) => "register_token",
            RegisterError::Unreachable => "register_unreachable",
            RegisterError::Timeout => "register_timeout",
            RegisterError::Http(_) => "register_http",
            RegisterError::BadAnswer => "register_bad_answer",
        }
    }

    fn from_reqwest(e: &reqwest::Error) -> RegisterError {
        if e.is_timeout() {
            RegisterError::Timeout
        } else if e.is_decode() {
            RegisterError::BadAnswer
        } else {
            RegisterError::Unreachable
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    personer: Vec<Person>,
}

#[derive(Deserialize)]
struct Person {
    personidentifikator: String,
    #[serde(default)]
    reservasjon: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    varslingsstatus: Option<String>,
    #[serde(default)]
    kontaktinformasjon: Option<Contact>,
    #[serde(default)]
    digital_postkasse: Option<serde_json::Value>,
    #[serde(default)]
    spraak: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    epostadresse: Option<String>,
    #[serde(default)]
    mobiltelefonnummer: Option<String>,
}

impl Person {
    fn facts(self) -> (String, RegisterFacts) {
        let active = self.status.as_deref() == Some("AKTIV");
        let contact = self.kontaktinformasjon;
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let facts = RegisterFacts {
            reserved: self.reservasjon.as_deref() == Some("JA"),
            active,
            may_notify: active && self.varslingsstatus.as_deref() == Some("KAN_VARSLES"),
            email: nonempty(contact.as_ref().and_then(|c| c.epostadresse.clone())),
            mobile: nonempty(contact.and_then(|c| c.mobiltelefonnummer)),
            digital_mailbox: self.digital_postkasse.as_ref().is_some_and(|b| {
                b["postkasseadresse"]
                    .as_str()
                    .is_some_and(|a| !a.is_empty())
            }),
            language: nonempty(self.spraak).map(|l| l.to_ascii_lowercase()),
        };
        (self.personidentifikator, facts)
    }
}

/// The register's client with its answer cache.
pub struct ContactRegister {
    s: ContactRegisterSettings,
    http: reqwest::Client,
    tokens: Option<TokenSource>,
    cache: moka::sync::Cache<String, RegisterFacts>,
}

impl std::fmt::Debug for ContactRegister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactRegister(..)")
    }
}

impl ContactRegister {
    /// The client of `s` (validated), or `None` when the register is off.
    pub fn from_settings(
        s: &ContactRegisterSettings,
    ) -> Result<Option<ContactRegister>, RegisterError> {
        s.validate()?;
        if !s.enabled {
            return Ok(None);
        }
        ContactRegister::new(s).map(Some)
    }

    /// The client of `s`, whether enabled or not (tests and tools).
    pub fn new(s: &ContactRegisterSettings) -> Result<ContactRegister, RegisterError> {
        s.validate()?;
        let http = crate::tls::current()
            .http_client()
            .map_err(|e| RegisterError::Client(e.to_string()))?
            .timeout(Duration::from_millis(s.timeout_ms.max(1)))
            .build()
            .map_err(|e| RegisterError::Client(e.without_url().to_string()))?;
        let tokens = if s.maskinporten.enabled() {
            Some(TokenSource::new(&s.maskinporten)?)
        } else {
            None
        };
        let cache = moka::sync::Cache::builder()
            .max_capacity(s.cache_capacity.max(1))
            .time_to_live(Duration::from_secs(s.cache_ttl_secs))
            .build();
        Ok(ContactRegister {
            s: s.clone(),
            http,
            tokens,
            cache,
        })
    }

    pub fn settings(&self) -> &ContactRegisterSettings {
        &self.s
    }

    /// The register's answer for every id of `ids` (duplicates asked once):
    /// cached answers first, the rest in calls of at most `batch_size` ids.
    pub async fn lookup(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, RegisterFacts>, RegisterError> {
        let mut found: HashMap<String, RegisterFacts> = HashMap::new();
        let mut missing: Vec<String> = Vec::new();
        for id in ids {
            if found.contains_key(id) || missing.contains(id) {
                continue;
            }
            match self.cache.get(id) {
                Some(f) => {
                    found.insert(id.clone(), f);
                }
                None => missing.push(id.clone()),
            }
        }
        for chunk in missing.chunks(self.s.batch_size.clamp(1, 1000)) {
            let answered = self.call(chunk).await?;
            for id in chunk {
                // Not in the answer: not registered (no details, not notifiable).
                let facts = answered.get(id).cloned().unwrap_or_default();
                self.cache.insert(id.clone(), facts.clone());
                found.insert(id.clone(), facts);
            }
        }
        Ok(found)
    }

    async fn bearer(&self) -> Result<String, RegisterError> {
        match &self.tokens {
            Some(t) => Ok(t.token().await?.expose().to_string()),
            None => Ok(self.s.token.expose().to_string()),
        }
    }

    async fn call(&self, ids: &[String]) -> Result<HashMap<String, RegisterFacts>, RegisterError> {
        let started = std::time::Instant::now();
        let mut retried_auth = false;
        loop {
            let token = self.bearer().await?;
            let resp = self
                .http
                .post(&self.s.url)
                .bearer_auth(token)
                .json(&serde_json::json!({ "personidentifikatorer": ids }))
                .send()
                .await
                .map_err(|e| RegisterError::from_reqwest(&e))?;
            let status = resp.status().as_u16();
            if status == 401 && !retried_auth && self.tokens.is_some() {
                // A token Maskinporten has since replaced: fetch a new one once.
                if let Some(t) = &self.tokens {
                    t.invalidate();
                }
                retried_auth = true;
                continue;
            }
            if !(200..300).contains(&status) {
                tracing::warn!(
                    persons = ids.len(),
                    status,
                    "the contact register refused a lookup"
                );
                return Err(RegisterError::Http(status));
            }
            let answer: Answer = resp
                .json()
                .await
                .map_err(|e| RegisterError::from_reqwest(&e))?;
            tracing::debug!(
                persons = ids.len(),
                answered = answer.personer.len(),
                ms = started.elapsed().as_millis() as u64,
                "contact register lookup"
            );
            return Ok(answer.personer.into_iter().map(Person::facts).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reads_into_the_policys_facts() {
        let a: Answer = serde_json::from_value(serde_json::json!({"personer": [
            {"personidentifikator": "1", "reservasjon": "NEI", "status": "AKTIV",
             "varslingsstatus": "KAN_VARSLES",
             "kontaktinformasjon": {"epostadresse": "a@example.no", "mobiltelefonnummer": "+4791234567",
                                    "epostadresse_oppdatert": "2018-06-29T10:14:52+02"},
             "digital_postkasse": {"postkasseadresse": "x#1", "postkasseleverandoeradresse": "984661185"},
             "spraak": "NN"},
            {"personidentifikator": "2", "reservasjon": "JA", "status": "AKTIV",
             "varslingsstatus": "KAN_IKKE_VARSLES"},
            {"personidentifikator": "3", "status": "SLETTET", "varslingsstatus": "KAN_VARSLES"}
        ]}))
        .expect("answer");
        let m: HashMap<String, RegisterFacts> = a.personer.into_iter().map(Person::facts).collect();
        let one = &m["1"];
        assert!(one.active && one.may_notify && one.digital_mailbox && !one.reserved);
        assert_eq!(one.language.as_deref(), Some("nn"));
        assert_eq!(one.email.as_deref(), Some("a@example.no"));
        assert!(m["2"].reserved && !m["2"].may_notify && !m["2"].digital_mailbox);
        assert!(!m["3"].active && !m["3"].may_notify);
    }
}
