//! OpenID Connect relying party (authorization code flow with PKCE), as Feide and
//! ID-porten expect it: the dashboard's sign-in, and the ID tokens the API's person
//! assertions carry (`crate::assertion`). Below both, so neither imports the other.
//!
//! Input: the provider's issuer URL and our client registration (settings), then
//! per sign-in the `code` the provider hands back to `/dashboard/callback`.
//! Output: a [`SignedInUser`] — the provider's `sub` (never a national id; ID-porten's
//! `pid` is ignored), a display name, an [`Actor`] whose role and schools come
//! from claims mapped by configuration ([`ClaimMapping`]), and the validated ID
//! token's `acr`, `amr` and `auth_time` (how strongly and when the person
//! authenticated; `crate::assurance` maps them to a level). A step-up sign-in
//! asks for a level with `acr_values` and, for someone already signed in,
//! `prompt=login` ([`OidcClient::begin`]).
//! Failure: an [`OidcError`]; the callback shows a Norwegian page and signs nobody
//! in. The ID token must be signed with an asymmetric algorithm by a key in the
//! provider's JWKS, for our client id, by the configured issuer, unexpired, and
//! carry the nonce of this sign-in; anything else is refused. Discovery happens
//! on first use (the provider may be down when the worker starts) and is cached.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use crate::access::{Actor, Role};
use crate::config::ClaimMapping;
use crate::jwt;
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider answered something unexpected: {0}")]
    Protocol(String),
    #[error("the ID token is not valid: {0}")]
    Token(String),
    /// The token is valid but carries no known role: the person, without one
    /// (the dashboard may still find a role in grants, see `[access] role_source`).
    #[error("the user has no role for the dashboard in the claims")]
    NoRole(Box<Unroled>),
}

/// A validated sign-in whose claims carry no role.
#[derive(Debug, Clone)]
pub struct Unroled {
    /// `oidc:<sub>`.
    pub user: String,
    pub staff_id: Option<String>,
    pub display_name: String,
    pub municipality_number: Option<String>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub auth_time: chrono::DateTime<chrono::Utc>,
}

impl ClaimMapping {
    /// The role: the first value of the role claim (a string or a list) that maps
    /// to a known role. `system` can never come from a claim.
    pub fn role(&self, claims: &serde_json::Map<String, Value>) -> Option<Role> {
        strings(claims.get(&self.role_claim))
            .into_iter()
            .filter_map(|v| match self.role_map.get(&v) {
                Some(mapped) => mapped.parse::<Role>().ok(),
                None if self.role_map.is_empty() => v.parse::<Role>().ok(),
                None => None,
            })
            .find(|r| *r != Role::System)
    }

    /// The municipality the user acts in: the claim's (four digits), else the
    /// configured default. A claim that is not four digits is no municipality.
    pub fn municipality(&self, claims: &serde_json::Map<String, Value>) -> Option<String> {
        strings(claims.get(&self.municipality_claim))
            .into_iter()
            .map(|m| m.trim().to_string())
            .find(|m| m.len() == 4 && m.bytes().all(|b| b.is_ascii_digit()))
            .or_else(|| self.default_municipality.clone())
    }

    /// The person's staff id in the roster, when the token carries one.
    pub fn staff_id(&self, claims: &serde_json::Map<String, Value>) -> Option<String> {
        strings(claims.get(&self.staff_id_claim))
            .into_iter()
            .map(|s| s.trim().to_string())
            .find(|s| !s.is_empty())
    }

    pub fn schools(&self, claims: &serde_json::Map<String, Value>) -> Vec<String> {
        let mut out: Vec<String> = strings(claims.get(&self.schools_claim))
            .into_iter()
            .flat_map(|s| {
                s.split(',')
                    .map(|p| p.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A claim that is a string or a list of strings.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Our registration with the provider.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
    pub scopes: String,
    pub claims: ClaimMapping,
}

#[derive(Debug, Clone, Deserialize)]
struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

/// What the provider said about the user, mapped.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub actor: Actor,
    /// The roster's staff id of the person (the staff-id claim), if given.
    pub staff_id: Option<String>,
    pub display_name: String,
    /// The ID token's `acr` (never userinfo's: only the signed token counts).
    pub acr: Option<String>,
    /// The ID token's `amr` values.
    pub amr: Vec<String>,
    /// When the person authenticated: the ID token's `auth_time`, else its `iat`.
    pub auth_time: chrono::DateTime<chrono::Utc>,
}

/// One sign-in's secrets, kept on the server until the callback.
#[derive(Debug, Clone)]
pub struct LoginStart {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub authorize_url: String,
}

pub struct OidcClient {
    cfg: ClientConfig,
    http: reqwest::Client,
    meta: RwLock<Option<Arc<ProviderMetadata>>>,
    jwks: RwLock<Option<Arc<JwkSet>>>,
}

/// `n` random bytes from the operating system, base64url without padding.
pub fn random_token(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; n];
    // The system RNG failing is not something a sign-in can recover from.
    if ring::rand::SystemRandom::new().fill(&mut buf).is_err() {
        panic!("the operating system's random number generator failed");
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// RFC 7636 S256 code challenge of `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl OidcClient {
    pub fn new(cfg: ClientConfig) -> Result<OidcClient, OidcError> {
        let http = crate::tls::current()
            .http_client()
            .map_err(|e| OidcError::Unreachable(e.to_string()))?
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OidcError::Unreachable(e.to_string()))?;
        Ok(OidcClient {
            cfg,
            http,
            meta: RwLock::new(None),
            jwks: RwLock::new(None),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    async fn metadata(&self) -> Result<Arc<ProviderMetadata>, OidcError> {
        if let Some(m) = self.meta.read().await.clone() {
            return Ok(m);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.cfg.issuer.trim_end_matches('/')
        );
        let meta: ProviderMetadata = self.get_json(&url).await?;
        if meta.issuer.trim_end_matches('/') != self.cfg.issuer.trim_end_matches('/') {
            return Err(OidcError::Protocol(format!(
                "discovery names issuer {} but {} is configured",
                meta.issuer, self.cfg.issuer
            )));
        }
        let meta = Arc::new(meta);
        *self.meta.write().await = Some(meta.clone());
        Ok(meta)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(OidcError::Protocol(format!(
                "{url} answered {}",
                resp.status()
            )));
        }
        resp.json()
            .await
            .map_err(|e| OidcError::Protocol(format!("{url}: {}", e.without_url())))
    }

    async fn keys(&self, refresh: bool) -> Result<Arc<JwkSet>, OidcError> {
        if !refresh {
            if let Some(k) = self.jwks.read().await.clone() {
                return Ok(k);
            }
        }
        let meta = self.metadata().await?;
        let set: JwkSet = self.get_json(&meta.jwks_uri).await?;
        let set = Arc::new(set);
        *self.jwks.write().await = Some(set.clone());
        Ok(set)
    }

    /// Starts a sign-in: fresh state, nonce and PKCE verifier, and the URL to send
    /// the browser to. `acr_values` asks the provider for an assurance level;
    /// `prompt_login` makes it authenticate the person again even when it has a
    /// session (a step-up for someone already signed in).
    pub async fn begin(
        &self,
        acr_values: Option<&str>,
        prompt_login: bool,
    ) -> Result<LoginStart, OidcError> {
        let meta = self.metadata().await?;
        let state = random_token(24);
        let nonce = random_token(24);
        let pkce_verifier = random_token(48);
        let mut url = url::Url::parse(&meta.authorization_endpoint)
            .map_err(|e| OidcError::Protocol(format!("authorization_endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("redirect_uri", &self.cfg.redirect_uri)
            .append_pair("scope", &self.cfg.scopes)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&pkce_verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(acr) = acr_values.map(str::trim).filter(|a| !a.is_empty()) {
            url.query_pairs_mut().append_pair("acr_values", acr);
        }
        if prompt_login {
            url.query_pairs_mut().append_pair("prompt", "login");
        }
        Ok(LoginStart {
            state,
            nonce,
            pkce_verifier,
            authorize_url: url.into(),
        })
    }

    /// Finishes a sign-in: exchanges `code` (with the PKCE verifier), verifies the
    /// ID token, reads userinfo, and maps the claims.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<SignedInUser, OidcError> {
        let meta = self.metadata().await?;
        #[derive(Deserialize)]
        struct TokenResponse {
            id_token: String,
            #[serde(default)]
            access_token: Option<String>,
        }
        let resp = self
            .http
            .post(&meta.token_endpoint)
            .basic_auth(&self.cfg.client_id, Some(self.cfg.client_secret.expose()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.cfg.redirect_uri),
                ("code_verifier", pkce_verifier),
            ])
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            let status = resp.status();
            // The provider's error code only (RFC 6749 §5.2), never the whole body.
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let error = body["error"].as_str().unwrap_or("unknown");
            return Err(OidcError::Protocol(format!(
                "token endpoint answered {status} ({error})"
            )));
        }
        let tokens: TokenResponse = resp
            .json()
            .await
            .map_err(|e| OidcError::Protocol(format!("token response: {}", e.without_url())))?;
        let mut claims = self.verify_id_token(&meta, &tokens.id_token, nonce).await?;
        // How strongly the person signed in comes from the signed ID token only,
        // before userinfo can add anything.
        let strength = assurance_claims(&claims)?;
        if let (Some(endpoint), Some(access)) = (&meta.userinfo_endpoint, &tokens.access_token) {
            let info = self.userinfo(endpoint, access).await?;
            if info.get("sub") != claims.get("sub") {
                return Err(OidcError::Token("userinfo is about another subject".into()));
            }
            for (k, v) in info {
                claims.entry(k).or_insert(v);
            }
        }
        match self.map_claims(&claims) {
            Ok(mut user) => {
                (user.acr, user.amr, user.auth_time) = strength;
                Ok(user)
            }
            Err(OidcError::NoRole(mut who)) => {
                (who.acr, who.amr, who.auth_time) = strength;
                Err(OidcError::NoRole(who))
            }
            Err(e) => Err(e),
        }
    }

    async fn userinfo(
        &self,
        endpoint: &str,
        access_token: &str,
    ) -> Result<serde_json::Map<String, Value>, OidcError> {
        let resp = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(OidcError::Protocol(format!(
                "userinfo answered {}",
                resp.status()
            )));
        }
        resp.json()
            .await
            .map_err(|e| OidcError::Protocol(format!("userinfo: {}", e.without_url())))
    }

    async fn verify_id_token(
        &self,
        meta: &ProviderMetadata,
        token: &str,
        nonce: &str,
    ) -> Result<serde_json::Map<String, Value>, OidcError> {
        let claims = self
            .verify_token_of(meta, token, &[&self.cfg.client_id])
            .await?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(OidcError::Token(
                "the nonce does not match this sign-in".into(),
            ));
        }
        Ok(claims)
    }

    /// Verifies a token the provider signed (an ID token) against its JWKS, for one
    /// of `audiences`, by the configured issuer, unexpired (see [`crate::jwt`]).
    /// Shared with the API's person assertions ([`crate::assertion`]).
    pub async fn verify_token(
        &self,
        token: &str,
        audiences: &[&str],
    ) -> Result<serde_json::Map<String, Value>, OidcError> {
        let meta = self.metadata().await?;
        self.verify_token_of(&meta, token, audiences).await
    }

    async fn verify_token_of(
        &self,
        meta: &ProviderMetadata,
        token: &str,
        audiences: &[&str],
    ) -> Result<serde_json::Map<String, Value>, OidcError> {
        let header = jwt::header(token).map_err(|e| OidcError::Token(e.to_string()))?;
        let jwk = match jwt::find_key(&*self.keys(false).await?, &header) {
            Some(k) => k,
            // The provider may have rotated its keys since we fetched them.
            None => jwt::find_key(&*self.keys(true).await?, &header)
                .ok_or_else(|| OidcError::Token(jwt::JwtError::UnknownKey.to_string()))?,
        };
        jwt::verify_with_jwk(token, &header, &jwk, audiences, &meta.issuer)
            .map_err(|e| OidcError::Token(e.to_string()))
    }

    fn map_claims(
        &self,
        claims: &serde_json::Map<String, Value>,
    ) -> Result<SignedInUser, OidcError> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| OidcError::Token("no subject".into()))?;
        let display_name = claims
            .get(&self.cfg.claims.name_claim)
            .and_then(Value::as_str)
            .unwrap_or("Ukjent bruker")
            .to_string();
        let Some(role) = self.cfg.claims.role(claims) else {
            return Err(OidcError::NoRole(Box::new(Unroled {
                user: format!("oidc:{sub}"),
                staff_id: self.cfg.claims.staff_id(claims),
                display_name,
                municipality_number: self.cfg.claims.municipality(claims),
                acr: None,
                amr: Vec::new(),
                auth_time: chrono::Utc::now(),
            })));
        };
        let schools = self.cfg.claims.schools(claims);
        let mut actor = Actor::new(&format!("oidc:{sub}"), role, schools)
            .map_err(|e| OidcError::Token(e.to_string()))?;
        if let Some(m) = self.cfg.claims.municipality(claims) {
            actor = actor.in_municipality(&m);
        }
        Ok(SignedInUser {
            actor,
            staff_id: self.cfg.claims.staff_id(claims),
            display_name,
            acr: None,
            amr: Vec::new(),
            auth_time: chrono::Utc::now(),
        })
    }
}

/// The `acr`, `amr` and authentication time of a validated ID token. An
/// `auth_time` in the future (beyond a minute's clock skew) is refused; without
/// one, the token's `iat` counts.
type Strength = (Option<String>, Vec<String>, chrono::DateTime<chrono::Utc>);

fn assurance_claims(claims: &serde_json::Map<String, Value>) -> Result<Strength, OidcError> {
    let acr = claims
        .get("acr")
        .and_then(Value::as_str)
        .map(str::to_string);
    let amr = strings(claims.get("amr"));
    let secs = claims
        .get("auth_time")
        .or_else(|| claims.get("iat"))
        .and_then(Value::as_i64)
        .ok_or_else(|| OidcError::Token("no auth_time or iat".into()))?;
    let at = chrono::DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| OidcError::Token("auth_time out of range".into()))?;
    if at > chrono::Utc::now() + chrono::Duration::seconds(60) {
        return Err(OidcError::Token("auth_time is in the future".into()));
    }
    Ok((acr, amr, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_municipality_comes_from_the_claim_or_the_default() {
        let mut m = ClaimMapping::default();
        assert_eq!(
            m.municipality(&map(json!({"dokflyt_municipality": "4601"}))),
            Some("4601".into())
        );
        assert_eq!(
            m.municipality(&map(json!({"dokflyt_municipality": "Bergen"}))),
            None
        );
        assert_eq!(m.municipality(&map(json!({}))), None);
        m.default_municipality = Some("4699".into());
        assert_eq!(m.municipality(&map(json!({}))), Some("4699".into()));
        assert_eq!(
            m.municipality(&map(json!({"dokflyt_municipality": ["4601"]}))),
            Some("4601".into())
        );
    }

    #[test]
    fn random_tokens_differ() {
        assert_ne!(random_token(16), random_token(16));
        assert_eq!(random_token(32).len(), 43);
    }

    #[test]
    fn assurance_claims_come_from_the_token() {
        let now = chrono::Utc::now().timestamp();
        let (acr, amr, at) = assurance_claims(&map(json!({
            "acr": "idporten-loa-high", "amr": ["BankID"], "auth_time": now - 30, "iat": now
        })))
        .expect("claims");
        assert_eq!(acr.as_deref(), Some("idporten-loa-high"));
        assert_eq!(amr, vec!["BankID".to_string()]);
        assert_eq!(at.timestamp(), now - 30);
        // Without auth_time, iat; a single amr string counts too.
        let (acr, amr, at) =
            assurance_claims(&map(json!({"amr": "pwd", "iat": now}))).expect("claims");
        assert_eq!((acr, amr, at.timestamp()), (None, vec!["pwd".into()], now));
        assert!(assurance_claims(&map(json!({"auth_time": now + 3600, "iat": now}))).is_err());
    }

    #[test]
    fn roles_and_schools_from_claims() {
        let m = ClaimMapping::default();
        let c = map(json!({"dokflyt_role": "team", "dokflyt_schools": ["s2", "s1", "s1"]}));
        assert_eq!(m.role(&c), Some(Role::Team));
        assert_eq!(m.schools(&c), vec!["s1".to_string(), "s2".to_string()]);
        let c = map(json!({"dokflyt_role": "system"}));
        assert_eq!(m.role(&c), None, "system never comes from a claim");
        let c = map(json!({"dokflyt_schools": "s1, s3"}));
        assert_eq!(m.schools(&c), vec!["s1".to_string(), "s3".to_string()]);

        let mut mapped = ClaimMapping {
            role_claim: "groups".into(),
            ..ClaimMapping::default()
        };
        mapped
            .role_map
            .insert("fc:org:kommune:ansatt:arkiv".into(), "kommuneadmin".into());
        let c = map(json!({"groups": ["fc:org:other", "fc:org:kommune:ansatt:arkiv"]}));
        assert_eq!(mapped.role(&c), Some(Role::Kommuneadmin));
        // With a map, an unmapped value is not taken at its word.
        let c = map(json!({"groups": ["kommuneadmin"]}));
        assert_eq!(mapped.role(&c), None);
    }
}
