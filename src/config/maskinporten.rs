//! `[delivery.svarut.maskinporten]` and `[archive.auth.maskinporten]`: the
//! municipality's Maskinporten client, shared by SvarUt and the archive.
//!
//! Read by `crate::maskinporten`. Failure: unknown keys are errors; the key is a
//! [`Secret`] and never printed.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// `[delivery.svarut.maskinporten]`. With an empty `token_endpoint` the static
/// `maskinporten_token` is used instead (a token fetched by other means).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskinportenSettings {
    /// `https://maskinporten.no/token` (test: `https://test.maskinporten.no/token`).
    /// Env: `DOKFLYT_MASKINPORTEN_TOKEN_ENDPOINT`.
    pub token_endpoint: String,
    /// The assertion's `aud`: Maskinporten's issuer, `https://maskinporten.no/`.
    pub audience: String,
    /// The integration's client id in Samarbeidsportalen. Env: `DOKFLYT_MASKINPORTEN_CLIENT_ID`.
    pub client_id: String,
    /// Space-separated scopes; SvarUt: `ks:fiks`.
    pub scope: String,
    /// The private key (PKCS#8 or PKCS#1 PEM): a file's path or the PEM itself.
    /// Env: `DOKFLYT_MASKINPORTEN_KEY`.
    pub private_key: Secret,
    /// The business certificate (PEM path or PEM) sent as `x5c`; empty with `kid`.
    pub certificate: String,
    /// The key id of a key registered in Samarbeidsportalen (instead of `x5c`).
    pub kid: String,
}

impl Default for MaskinportenSettings {
    fn default() -> Self {
        MaskinportenSettings {
            token_endpoint: String::new(),
            audience: "https://maskinporten.no/".into(),
            client_id: String::new(),
            scope: "ks:fiks".into(),
            private_key: Secret::new(""),
            certificate: String::new(),
            kid: String::new(),
        }
    }
}

impl MaskinportenSettings {
    pub fn enabled(&self) -> bool {
        !self.token_endpoint.trim().is_empty()
    }
}
