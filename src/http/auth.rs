//! Who calls the JSON API: a registered client ([`ApiClient`]) and, for calls made
//! on behalf of a person, the user it acts for ([`ApiActor`]).
//!
//! Input: `Authorization: Bearer <secret>` — a secret of a registered client
//! (`dokflyt clients add`), or the development token where the server allows it —
//! plus, for [`ApiActor`], `X-Dokflyt-User` (an id, never a national id),
//! `X-Dokflyt-Role` (a §6 role word) and `X-Dokflyt-Schools` (comma-separated).
//!
//! Output: every `/api/*` route (but the gateway's delivery-report callback) sits
//! behind [`require_scope`] (installed by `http::openapi::behind`): the secret must resolve to a live client holding the
//! route's [`Scope`], covering the school named in the path, within the client's
//! rate limit. The handler then reads the client ([`ApiClient`]) or the acting
//! user bounded by it ([`ApiActor`]): claimed schools must be the client's,
//! municipal roles need an all-schools client and act only in its municipality.
//!
//! Failure: 401 for no, a wrong, a revoked or an expired secret (one answer for
//! all), 403 for a missing scope, a school or a claim outside the client, 400 for
//! missing or unknown user headers, 429 over a rate limit. Every 401 and 403 is
//! written to the audit log (failed attempts per address are rate-limited first,
//! so a flood of bad secrets cannot flood the log). Whether the actor may do the
//! thing asked is then decided by the action itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;
use sqlx::PgPool;

use super::limit::{client_address, KeyedLimiter, DEFAULT_MAX_KEYS};
use crate::access::{Actor, Role};
use crate::audit::{self, Entry, Verdict};
use crate::clients::{self, Client, Resolution, Scope};
use crate::config::HttpSettings;
use crate::secret::Secret;

/// Constant-time comparison, so a token cannot be guessed byte by byte (the
/// development token, CSRF token, sign-in state, delivery-report token).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The API's rate limits (see [`crate::http::limit`]).
pub struct ApiLimits {
    /// Requests per client.
    pub per_client: KeyedLimiter,
    /// Requests per acting user of a client.
    pub per_user: KeyedLimiter,
    /// Requests with no or a bad secret, per address.
    pub failed_per_address: KeyedLimiter,
}

impl ApiLimits {
    pub fn from_settings(s: &HttpSettings) -> ApiLimits {
        let minute = Duration::from_secs(60);
        ApiLimits {
            per_client: KeyedLimiter::new(s.requests_per_minute_per_client, minute, 10_000),
            per_user: KeyedLimiter::new(s.requests_per_minute_per_user, minute, DEFAULT_MAX_KEYS),
            failed_per_address: KeyedLimiter::new(
                s.failed_requests_per_minute_per_address,
                minute,
                DEFAULT_MAX_KEYS,
            ),
        }
    }
}

/// What the API's doors need: the database (clients, audit), the development
/// token when this server may accept it, the rate limits.
#[derive(Clone)]
pub struct ApiAuth {
    pub pool: PgPool,
    /// `Some` only when the start rule allows it (`dokflyt-dev demo` or a loopback
    /// listener, see `app.rs`); it resolves to [`Client::demo`].
    pub dev_token: Option<Secret>,
    pub limits: Arc<ApiLimits>,
    /// Take the client's address from the right-most `X-Forwarded-For` entry.
    pub trust_proxy_headers: bool,
}

/// Something the API's doors can be read from (the router's state).
pub trait HasApiAuth {
    fn api_auth(&self) -> &ApiAuth;
}

impl HasApiAuth for ApiAuth {
    fn api_auth(&self) -> &ApiAuth {
        self
    }
}

fn refuse(code: StatusCode, msg: &str) -> Response {
    super::error::error_response(code, msg)
}

const UNAUTHORIZED: &str = "Mangler eller ugyldig API-nøkkel.";

/// Audits a refusal at the client level (before there is an acting user).
async fn audit_client_refusal(
    pool: &PgPool,
    client: Option<&Client>,
    action: &str,
    target: &str,
    school_id: Option<&str>,
    reason: &str,
) {
    let (who, role) = match client {
        Some(c) => (format!("klient:{}", c.name), "klient"),
        None => ("ukjent".to_string(), "ingen"),
    };
    let details = match client {
        Some(c) => json!({ "client_id": c.id }),
        None => json!({}),
    };
    let r = crate::audit::record_client_refusal(
        pool,
        crate::audit::ClientRefusal {
            who: (who.as_str(), role),
            school_id,
            action,
            target,
            reason,
            details,
        },
    )
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, action, "API: a refusal could not be audited");
    }
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Resolves the request's secret to a client; `Err` is the answer to give.
async fn authenticate(auth: &ApiAuth, parts: &Parts) -> Result<Client, Response> {
    let addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let path = parts.uri.path().to_string();
    let failed = |reason: &'static str, client_id: Option<uuid::Uuid>| {
        let key = client_address(&parts.headers, addr, auth.trust_proxy_headers);
        let over = !auth.limits.failed_per_address.allow(&key);
        let pool = auth.pool.clone();
        let path = path.clone();
        async move {
            if over {
                return refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "For mange mislykkede forsøk. Vent litt og prøv igjen.",
                );
            }
            let details_reason = match client_id {
                Some(id) => format!("{reason} (klient {id})"),
                None => reason.to_string(),
            };
            audit_client_refusal(
                &pool,
                None,
                "api.authenticate",
                &path,
                None,
                &details_reason,
            )
            .await;
            refuse(StatusCode::UNAUTHORIZED, UNAUTHORIZED)
        }
    };
    let Some(secret) = bearer(&parts.headers) else {
        return Err(failed("ingen API-nøkkel", None).await);
    };
    if let Some(dev) = &auth.dev_token {
        if !dev.expose().is_empty() && same(secret.as_bytes(), dev.expose().as_bytes()) {
            return Ok(Client::demo());
        }
    }
    match clients::resolve(&auth.pool, secret).await {
        Ok(Resolution::Client(c)) => Ok(c),
        Ok(Resolution::Unknown) => Err(failed("ukjent API-nøkkel", None).await),
        Ok(Resolution::Revoked { client_id }) => {
            Err(failed("tilbakekalt klient", Some(client_id)).await)
        }
        Ok(Resolution::Expired { client_id }) => {
            Err(failed("utløpt API-nøkkel", Some(client_id)).await)
        }
        Err(e) => {
            tracing::warn!(error = %e, "API: clients cannot be resolved");
            Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "Databasen svarer ikke akkurat nå. Prøv igjen om litt.",
            ))
        }
    }
}

/// The door of every API route: a live client with `scope`, covering the school
/// named in the path (`{school}` or `{school_id}`), within its rate limit. The
/// client goes into the request's extensions for [`ApiClient`] and [`ApiActor`].
pub async fn require_scope(
    State((auth, scope)): State<(ApiAuth, Scope)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let client = match authenticate(&auth, &parts).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !auth.limits.per_client.allow(&client.id.to_string()) {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "For mange forespørsler fra denne klienten. Vent litt og prøv igjen.",
        );
    }
    let path = parts.uri.path().to_string();
    if !client.has(scope) {
        let reason = format!("Klienten har ikke tilgangen «{scope}».");
        audit_client_refusal(&auth.pool, Some(&client), "api.scope", &path, None, &reason).await;
        return refuse(StatusCode::FORBIDDEN, &reason);
    }
    let school = match RawPathParams::from_request_parts(&mut parts, &()).await {
        Ok(params) => params
            .iter()
            .find(|(k, _)| *k == "school" || *k == "school_id")
            .map(|(_, v)| v.to_string()),
        Err(_) => None,
    };
    if let Some(school) = school {
        let muni = match crate::access::school_municipality(&auth.pool, &school).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "API: the school's municipality cannot be read");
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Databasen svarer ikke akkurat nå. Prøv igjen om litt.",
                );
            }
        };
        if !client.covers_school(&school, muni.as_deref()) {
            let reason = "Klienten har ikke tilgang til denne skolen.";
            audit_client_refusal(
                &auth.pool,
                Some(&client),
                "api.school",
                &path,
                Some(&school),
                reason,
            )
            .await;
            return refuse(StatusCode::FORBIDDEN, reason);
        }
    }
    parts.extensions.insert(client);
    next.run(Request::from_parts(parts, body)).await
}

/// The calling client, as [`require_scope`] resolved it for this request.
#[derive(Debug, Clone)]
pub struct ApiClient(pub Client);

impl<S: Send + Sync> FromRequestParts<S> for ApiClient {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // A route without the door is a programming error: refuse, never serve.
        parts
            .extensions
            .get::<Client>()
            .cloned()
            .map(ApiClient)
            .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, UNAUTHORIZED))
    }
}

/// The acting user of an API call, bounded by the calling client.
#[derive(Debug, Clone)]
pub struct ApiActor {
    pub client: Client,
    /// The user; its `municipality_number` is the client's.
    pub actor: Actor,
}

impl<S> FromRequestParts<S> for ApiActor
where
    S: HasApiAuth + Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiClient(client) = ApiClient::from_request_parts(parts, state).await?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let user = header("x-dokflyt-user").unwrap_or("");
        let role = header("x-dokflyt-role").unwrap_or("");
        let role: Role = role.parse().map_err(|_| {
            refuse(
                StatusCode::BAD_REQUEST,
                "Ukjent eller manglende rolle (X-Dokflyt-Role).",
            )
        })?;
        if role == Role::System {
            // `system` is the worker or the server's operator, never a caller's claim.
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "Rollen «system» kan ikke brukes over API-et.",
            ));
        }
        let schools: Vec<String> = header("x-dokflyt-schools")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let actor = Actor::new(user, role, schools)
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "Mangler bruker (X-Dokflyt-User)."))?
            .in_municipality(&client.municipality_number);
        let auth = state.api_auth();
        let why = if role.is_municipal() && client.schools != clients::SchoolScope::All {
            Some("Klienten kan bare handle for brukere ved sine egne skoler, ikke for en kommunal rolle.")
        } else if !client.allows_schools(&actor.schools) {
            Some("Klienten har ikke tilgang til alle skolene brukeren oppgir.")
        } else {
            None
        };
        if let Some(reason) = why {
            let path = parts.uri.path().to_string();
            let r = audit::record(
                &auth.pool,
                &Entry {
                    actor: &actor,
                    school_id: None,
                    action: "api.actor",
                    target: Some(&path),
                    outcome: Verdict::Refused,
                    reason: Some(reason),
                    details: json!({ "client_id": client.id }),
                },
            )
            .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "API: a refusal could not be audited");
            }
            return Err(refuse(StatusCode::FORBIDDEN, reason));
        }
        if !auth
            .limits
            .per_user
            .allow(&format!("{}:{}", client.id, actor.user))
        {
            return Err(refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "For mange forespørsler fra denne brukeren. Vent litt og prøv igjen.",
            ));
        }
        Ok(ApiActor { client, actor })
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn constant_time_compare_is_equality() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
        assert!(!same(b"abc", b""));
    }
}
