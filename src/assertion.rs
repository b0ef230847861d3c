//! Person assertions: proof of the person behind an API call that acts for them
//! (issue 16 item 2, issue 22 item 3). Sending and approving an emergency SMS
//! over the API need one; headers and bodies alone are never enough.
//!
//! Input: the `X-Dokflyt-Person` header — a compact JWT, either
//! - an **ID token from the municipality's identity provider** (`iss` = the
//!   dashboard's OIDC issuer), verified against the provider's JWKS with the
//!   dashboard's own code ([`crate::oidc::OidcClient::verify_token`],
//!   [`crate::jwt`]); its `aud` must be one of `person_assertion.idp_audiences`
//!   (default: the dashboard's client id); role and schools through the
//!   dashboard's claim mapping; or
//! - a **JWT signed by the calling client's registered key** (`iss` = the client
//!   id, `aud` = `person_assertion.audience`, default `dokflyt`), registered with
//!   `dokflyt clients set-key`; role in `dokflyt_role`, schools in
//!   `dokflyt_schools`.
//!
//! Either must carry `sub`, `iat`, `exp` (at most `max_lifetime_secs`, default
//! 300, after `iat`), a `jti` used once (kept until expiry; a replay is refused),
//! and `acr`/`amr`, mapped to a level by [`crate::assurance`].
//! Output: a [`PersonProof`] — the person as an [`Actor`] bounded by the calling
//! client (its municipality; schools within the client's), and the proven level.
//! Failure: an [`AssertionError`]; the API answers 401 for a missing, invalid,
//! expired, too long-lived or replayed assertion and 403 for a person outside the
//! client; the level check ([`require_level`]) is the caller's 403.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::access::{Actor, Role};
use crate::assurance::{Action, Level, Proven};
use crate::clients::{Client, SchoolScope};
use crate::config::ClaimMapping;
use crate::config::{AssertionSettings, AssuranceSettings};
use crate::jwt::{self, Claims};
use crate::oidc::OidcClient;

/// The header that carries the assertion.
pub const HEADER: &str = "x-dokflyt-person";

#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("Handlingen krever bevis for hvem som handler (personbevis i X-Dokflyt-Person).")]
    Missing,
    #[error("Personbeviset er ugyldig.")]
    Invalid(String),
    #[error("Personbeviset kan gjelde i høyst {0} sekunder.")]
    TooLong(i64),
    #[error("Personbeviset er allerede brukt.")]
    Replayed,
    #[error("{0}")]
    OutsideClient(&'static str),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl AssertionError {
    /// 401 for proof problems, 403 for a person the client may not act for, 503
    /// for the database.
    pub fn status(&self) -> u16 {
        match self {
            AssertionError::OutsideClient(_) => 403,
            AssertionError::Db(_) => 503,
            _ => 401,
        }
    }

    /// A stable code for the audit log (never the token or a claim value).
    pub fn code(&self) -> &'static str {
        match self {
            AssertionError::Missing => "assertion_missing",
            AssertionError::Invalid(_) => "assertion_invalid",
            AssertionError::TooLong(_) => "assertion_too_long",
            AssertionError::Replayed => "assertion_replayed",
            AssertionError::OutsideClient(_) => "assertion_outside_client",
            AssertionError::Db(_) => "database",
        }
    }
}

/// How the person was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    IdentityProvider,
    ClientKey,
}

/// A proven person acting through a client.
#[derive(Debug, Clone)]
pub struct PersonProof {
    /// `oidc:<sub>` (the same id the dashboard gives the same person) or
    /// `klient:<client name>:<sub>`; role, schools and the client's municipality.
    pub actor: Actor,
    pub proven: Proven,
    pub via: Via,
}

/// What verifying needs: the database (used `jti`s), the settings, and the
/// identity provider when one is configured.
pub struct Verifier {
    pub pool: sqlx::PgPool,
    pub settings: AssertionSettings,
    pub assurance: AssuranceSettings,
    pub idp: Option<Arc<OidcClient>>,
    /// The dashboard's claim mapping (for ID tokens).
    pub claims: ClaimMapping,
}

impl Verifier {
    /// From the configuration: the identity provider is the dashboard's.
    pub fn from_settings(
        pool: sqlx::PgPool,
        s: &crate::config::Settings,
    ) -> Result<Verifier, crate::oidc::OidcError> {
        let d = &s.dashboard;
        let idp = if d.oidc_issuer.trim().is_empty() {
            None
        } else {
            Some(Arc::new(OidcClient::new(crate::oidc::ClientConfig {
                issuer: d.oidc_issuer.clone(),
                client_id: d.oidc_client_id.clone(),
                client_secret: d.oidc_client_secret.clone(),
                redirect_uri: d.redirect_uri(),
                scopes: d.oidc_scopes.clone(),
                claims: d.claims.clone(),
            })?))
        };
        let mut settings = s.person_assertion.clone();
        if settings.idp_audiences.is_empty() && !d.oidc_client_id.is_empty() {
            settings.idp_audiences.push(d.oidc_client_id.clone());
        }
        Ok(Verifier {
            pool,
            settings,
            assurance: s.assurance.clone(),
            idp,
            claims: d.claims.clone(),
        })
    }

    /// Verifies the assertion in `headers` for `client` (see the module doc).
    pub async fn verify(
        &self,
        client: &Client,
        headers: &axum::http::HeaderMap,
    ) -> Result<PersonProof, AssertionError> {
        let token = headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AssertionError::Missing)?;
        let invalid = |e: jwt::JwtError| AssertionError::Invalid(e.to_string());
        let header = jwt::header(token).map_err(invalid)?;
        let iss = jwt::unverified_claims(token)
            .map_err(invalid)?
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let client_iss = client.id.to_string();
        let (claims, via, mapping) = match &self.idp {
            Some(idp) if same_issuer(&iss, &idp.config().issuer) => {
                let auds: Vec<&str> = self
                    .settings
                    .idp_audiences
                    .iter()
                    .map(String::as_str)
                    .collect();
                let c = idp
                    .verify_token(token, &auds)
                    .await
                    .map_err(|e| AssertionError::Invalid(e.to_string()))?;
                (c, Via::IdentityProvider, self.claims.clone())
            }
            _ if iss == client_iss => {
                let pem = client_key(&self.pool, client.id).await?.ok_or_else(|| {
                    AssertionError::Invalid("the client has no registered assertion key".into())
                })?;
                let c = jwt::verify_with_pem(
                    token,
                    &header,
                    &pem,
                    &[&self.settings.audience],
                    &client_iss,
                )
                .map_err(invalid)?;
                (c, Via::ClientKey, ClaimMapping::default())
            }
            _ => return Err(AssertionError::Invalid("unknown issuer".into())),
        };
        let (iat, exp) = (number(&claims, "iat")?, number(&claims, "exp")?);
        if exp - iat > self.settings.max_lifetime_secs {
            return Err(AssertionError::TooLong(self.settings.max_lifetime_secs));
        }
        if iat > Utc::now().timestamp() + jwt::LEEWAY_SECS as i64 {
            return Err(AssertionError::Invalid("issued in the future".into()));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 200)
            .ok_or_else(|| AssertionError::Invalid("no jti".into()))?;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty() && s.len() <= 200)
            .ok_or_else(|| AssertionError::Invalid("no subject".into()))?;
        let role = mapping
            .role(&claims)
            .ok_or_else(|| AssertionError::Invalid("no role the mapping knows".into()))?;
        let schools = mapping.schools(&claims);
        let user = match via {
            Via::IdentityProvider => format!("oidc:{sub}"),
            Via::ClientKey => format!("klient:{}:{sub}", client.name),
        };
        let actor = Actor::new(&user, role, schools)
            .map_err(|e| AssertionError::Invalid(e.to_string()))?
            .in_municipality(&client.municipality_number);
        bound_by_client(client, &actor)?;
        let level = level_of(&self.assurance, &claims);
        let at = claims
            .get("auth_time")
            .and_then(Value::as_i64)
            .unwrap_or(iat);
        // Last: a rejected assertion does not use up its jti.
        self.use_jti(&iss, jti, exp).await?;
        Ok(PersonProof {
            actor,
            proven: Proven {
                level,
                at: Utc.timestamp_opt(at, 0).single().unwrap_or_else(Utc::now),
            },
            via,
        })
    }

    /// Records `jti` as used until `exp` (plus the leeway); `Replayed` if it was.
    async fn use_jti(&self, issuer: &str, jti: &str, exp: i64) -> Result<(), AssertionError> {
        let keep_until = Utc
            .timestamp_opt(exp + jwt::LEEWAY_SECS as i64, 0)
            .single()
            .unwrap_or_else(Utc::now);
        sqlx::query("DELETE FROM person_assertion_jtis WHERE expires_at < now()")
            .execute(&self.pool)
            .await?;
        let fresh: Option<i32> = sqlx::query_scalar(
            "INSERT INTO person_assertion_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (issuer, jti) DO NOTHING RETURNING 1",
        )
        .bind(issuer)
        .bind(jti)
        .bind(keep_until)
        .fetch_optional(&self.pool)
        .await?;
        fresh.map(|_| ()).ok_or(AssertionError::Replayed)
    }
}

fn same_issuer(a: &str, b: &str) -> bool {
    !a.is_empty() && a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn number(claims: &Claims, name: &str) -> Result<i64, AssertionError> {
    claims
        .get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| AssertionError::Invalid(format!("no {name}")))
}

/// The level of the claims' `acr` and `amr` through the assurance table.
pub fn level_of(settings: &AssuranceSettings, claims: &Claims) -> Level {
    let acr = claims.get("acr").and_then(Value::as_str);
    let amr: Vec<String> = match claims.get("amr") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    settings.level_of(acr, &amr)
}

/// The person must be one the client may act for: its schools within the
/// client's, and a municipal role only through an all-schools client.
pub fn bound_by_client(client: &Client, actor: &Actor) -> Result<(), AssertionError> {
    if actor.role == Role::System {
        return Err(AssertionError::OutsideClient(
            "Rollen «system» kan ikke brukes over API-et.",
        ));
    }
    if actor.role.is_municipal() && client.schools != SchoolScope::All {
        return Err(AssertionError::OutsideClient(
            "Klienten kan bare handle for personer ved sine egne skoler, ikke for en kommunal rolle.",
        ));
    }
    if !client.allows_schools(&actor.schools) {
        return Err(AssertionError::OutsideClient(
            "Klienten har ikke tilgang til alle skolene personen oppgir.",
        ));
    }
    Ok(())
}

/// `Err(missing level)` when `proven` is below what `action` requires now.
pub fn require_level(
    settings: &AssuranceSettings,
    proven: &Proven,
    action: Action,
) -> Result<Level, Level> {
    let need = settings.required(action);
    let have = settings.effective(proven, Utc::now());
    if have >= need {
        Ok(have)
    } else {
        Err(need)
    }
}

/// The PEM public key `client` signs its person assertions with, if registered.
pub async fn client_key(
    pool: &sqlx::PgPool,
    client: uuid::Uuid,
) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT assertion_key_pem FROM api_clients WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(client)
    .fetch_optional(pool)
    .await?
    .flatten())
}

#[derive(Debug, thiserror::Error)]
pub enum SetKeyError {
    #[error("{0}")]
    Key(#[from] jwt::JwtError),
    #[error("no live client named `{0}`")]
    UnknownClient(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Registers (or replaces) the public key client `name` signs assertions with.
pub async fn set_client_key(
    pool: &sqlx::PgPool,
    name: &str,
    pem: &str,
) -> Result<uuid::Uuid, SetKeyError> {
    jwt::check_public_key_pem(pem)?;
    sqlx::query_scalar(
        "UPDATE api_clients SET assertion_key_pem = $2
          WHERE name = $1 AND revoked_at IS NULL RETURNING id",
    )
    .bind(name)
    .bind(pem.trim())
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| SetKeyError::UnknownClient(name.to_string()))
}
