//! Maskinporten access tokens for SvarUt (the `Authorization: Bearer` of every call).
//!
//! Stage: delivery (SvarUt's auth). Input: the municipality's Maskinporten client
//! (client id, scope, the private key of its business certificate or registered
//! key) from configuration. Output: an access token, fetched with the JWT bearer
//! grant (RFC 7523) — an assertion signed RS256 with `aud` = the Maskinporten
//! issuer, `iss` = the client id, `scope`, `iat`, `exp` (two minutes), a fresh
//! `jti`, and `x5c` (the certificate) or `kid` (a registered key) in the header —
//! and cached until shortly before it expires; [`TokenSource::invalidate`] drops
//! it when SvarUt says 401. Failure: a [`MaskinportenError`]; SvarUt calls then
//! fail before anything is sent, so they are retried, never in doubt. The key and
//! the tokens are never logged.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::json;

use crate::config::MaskinportenSettings;
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum MaskinportenError {
    #[error("the Maskinporten key cannot be read: {0}")]
    Key(String),
    #[error("Maskinporten cannot be reached: {0}")]
    Unreachable(String),
    #[error("Maskinporten refused the grant: HTTP {status} ({error})")]
    Refused { status: u16, error: String },
    #[error("Maskinporten's answer cannot be read: {0}")]
    BadAnswer(String),
}

/// A PEM given inline or as a file's path.
fn pem_or_path(v: &str) -> Result<Vec<u8>, MaskinportenError> {
    let v = v.trim();
    if v.starts_with("-----BEGIN") {
        Ok(v.as_bytes().to_vec())
    } else {
        std::fs::read(v).map_err(|e| MaskinportenError::Key(format!("{v}: {e}")))
    }
}

pub struct TokenSource {
    s: MaskinportenSettings,
    key: EncodingKey,
    x5c: Option<String>,
    http: reqwest::Client,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource(..)")
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    pub fn new(s: &MaskinportenSettings) -> Result<TokenSource, MaskinportenError> {
        let pem = pem_or_path(s.private_key.expose())?;
        let key =
            EncodingKey::from_rsa_pem(&pem).map_err(|e| MaskinportenError::Key(e.to_string()))?;
        let x5c = if s.certificate.trim().is_empty() {
            None
        } else {
            let pem = pem_or_path(&s.certificate)?;
            let (_, cert) = x509_parser::pem::parse_x509_pem(&pem)
                .map_err(|e| MaskinportenError::Key(format!("certificate: {e}")))?;
            Some(base64::engine::general_purpose::STANDARD.encode(&cert.contents))
        };
        if x5c.is_none() && s.kid.trim().is_empty() {
            return Err(MaskinportenError::Key(
                "either a certificate (x5c) or a registered key id (kid) is needed".into(),
            ));
        }
        let http = crate::tls::current()
            .http_client()
            .map_err(|e| MaskinportenError::Unreachable(e.to_string()))?
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| MaskinportenError::Unreachable(e.to_string()))?;
        Ok(TokenSource {
            s: s.clone(),
            key,
            x5c,
            http,
            cached: Mutex::new(None),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Option<(Secret, Instant)>> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the cached token (SvarUt answered 401 with it).
    pub fn invalidate(&self) {
        *self.cache() = None;
    }

    /// The signed grant assertion.
    pub fn assertion(&self) -> Result<String, MaskinportenError> {
        let mut header = Header::new(Algorithm::RS256);
        match &self.x5c {
            Some(c) => header.x5c = Some(vec![c.clone()]),
            None => header.kid = Some(self.s.kid.clone()),
        }
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "aud": self.s.audience,
            "iss": self.s.client_id,
            "scope": self.s.scope,
            "iat": now,
            "exp": now + 120,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| MaskinportenError::Key(e.to_string()))
    }

    /// A valid access token: the cached one, or a new one from Maskinporten.
    pub async fn token(&self) -> Result<Secret, MaskinportenError> {
        if let Some((t, until)) = self.cache().as_ref() {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let assertion = self.assertion()?;
        let resp = self
            .http
            .post(&self.s.token_endpoint)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| MaskinportenError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            return Err(MaskinportenError::Refused {
                status,
                error: body["error"].as_str().unwrap_or("unknown").to_string(),
            });
        }
        let t: TokenResponse = resp
            .json()
            .await
            .map_err(|e| MaskinportenError::BadAnswer(e.without_url().to_string()))?;
        // Renew ten seconds early so a token never expires on the way.
        let life = Duration::from_secs(t.expires_in.unwrap_or(120).saturating_sub(10).max(1));
        let token = Secret::new(t.access_token);
        *self.cache() = Some((token.clone(), Instant::now() + life));
        Ok(token)
    }
}
