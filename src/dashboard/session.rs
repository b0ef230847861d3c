//! Dashboard sessions, CSRF tokens and rate limits.
//!
//! Input: a signed-in user from [`super::oidc`] (create), the session cookie of a
//! request (load), a form's `_csrf` field (check). Output: a [`Session`] — the
//! [`Actor`], the display name, the session's CSRF token, its server-side
//! search text, the assurance level the sign-in proved and when
//! ([`crate::assurance::Proven`]; the level in force decays after its max age),
//! and the confirmation page kept while the person steps up ([`Pending`]).
//! A session ends at its expiry or after `idle_secs` without a request. The cookie holds a random 256-bit token; the database holds only
//! its SHA-256 (`dashboard_sessions`). Cookies are `HttpOnly`, `SameSite=Lax`
//! (the provider's redirect back is a cross-site top-level navigation) and
//! `Secure` unless configured off for plain-http development.
//! Failure: an unknown, expired or missing session is "not signed in" (the
//! caller redirects to sign-in); a database error is a 503 for the caller.

use std::time::Duration;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::access::{Actor, Role};
use crate::assurance::{Level, Proven};
use crate::http::auth::same;
use crate::http::limit::{KeyedLimiter, DEFAULT_MAX_KEYS};
use crate::oidc::random_token;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "dokflyt_okt";
/// The cookie binding a sign-in under way to this browser (holds the `state`).
pub const LOGIN_COOKIE: &str = "dokflyt_innlogging";

#[derive(Debug, Clone)]
pub struct Session {
    /// The actor the request acts as: at load the claims' (as signed in); the
    /// sign-in extractor replaces it with the effective one (claims and grants
    /// in force, by `[access] role_source`).
    pub actor: Actor,
    /// The claims' actor as the sign-in stored it.
    pub claims_actor: Actor,
    /// The person's staff id in the roster (the staff-id claim), if any.
    pub staff_id: Option<String>,
    pub display_name: String,
    pub csrf: String,
    pub search_text: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// The level the sign-in proved, and when (see `AssuranceSettings::effective`).
    pub proven: Proven,
    /// The confirmation page kept while the person steps up, if any.
    pub pending: Option<Pending>,
    token_sha256: Vec<u8>,
}

/// A confirmation page to come back to after a step-up sign-in: where, and the
/// values its form held (kept in the session, never in a URL).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The dashboard path that shows the confirmation again.
    pub return_to: String,
    /// The template to render at `/dashboard/fortsett` (pages rendered from a
    /// POST, e.g. the SMS confirmation); `None` when `return_to` renders itself.
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub nav: String,
    /// The page's values (form fields, or the template's context).
    #[serde(default)]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// What a new session holds.
pub struct NewSession<'a> {
    pub actor: &'a Actor,
    /// The roster's staff id of the person, from the staff-id claim.
    pub staff_id: Option<&'a str>,
    pub display_name: &'a str,
    pub ttl: Duration,
    /// Signed out after this long without a request.
    pub idle: Duration,
    pub proven: Proven,
    pub search_text: Option<&'a str>,
    pub pending: Option<&'a Pending>,
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The idle timeout of sessions made by [`create`].
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30 * 60);

/// Creates a session at level `low` (idle timeout [`DEFAULT_IDLE`]) and returns
/// the token for the cookie.
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    display_name: &str,
    ttl: Duration,
) -> sqlx::Result<String> {
    create_with(
        pool,
        &NewSession {
            actor,
            staff_id: None,
            display_name,
            ttl,
            idle: DEFAULT_IDLE,
            proven: Proven {
                level: Level::Low,
                at: Utc::now(),
            },
            search_text: None,
            pending: None,
        },
    )
    .await
}

/// Creates a session and returns the token for the cookie.
pub async fn create_with(pool: &PgPool, new: &NewSession<'_>) -> sqlx::Result<String> {
    let token = random_token(32);
    let ttl = chrono::Duration::from_std(new.ttl).unwrap_or(chrono::Duration::hours(8));
    let idle = i32::try_from(new.idle.as_secs().max(1)).unwrap_or(i32::MAX);
    let pending = new.pending.and_then(|p| serde_json::to_value(p).ok());
    sqlx::query(
        "INSERT INTO dashboard_sessions
                (token_sha256, user_id, display_name, role, schools, csrf, expires_at,
                 assurance_level, assurance_at, idle_secs, search_text, pending,
                 municipality_number, staff_id)
         VALUES ($1, $2, $3, $4, $5, $6, now() + $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(digest(&token))
    .bind(&new.actor.user)
    .bind(new.display_name)
    .bind(new.actor.role.as_str())
    .bind(&new.actor.schools)
    .bind(random_token(32))
    .bind(ttl)
    .bind(new.proven.level.as_str())
    .bind(new.proven.at)
    .bind(idle)
    .bind(new.search_text)
    .bind(pending)
    .bind(&new.actor.municipality_number)
    .bind(new.staff_id)
    .execute(pool)
    .await?;
    // Expired sessions and abandoned sign-ins go on the way.
    sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM dashboard_logins WHERE created_at < now() - interval '1 hour'")
        .execute(pool)
        .await?;
    Ok(token)
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: String,
    display_name: String,
    role: String,
    schools: Vec<String>,
    csrf: String,
    search_text: Option<String>,
    expires_at: DateTime<Utc>,
    assurance_level: String,
    assurance_at: DateTime<Utc>,
    pending: Option<serde_json::Value>,
    municipality_number: Option<String>,
    staff_id: Option<String>,
}

/// The live session behind `token`, if any: not expired and used within its idle
/// timeout (an unknown stored role or level is no session). Loading it counts as
/// using it.
pub async fn load(pool: &PgPool, token: &str) -> sqlx::Result<Option<Session>> {
    let hash = digest(token);
    let row: Option<SessionRow> = sqlx::query_as(
        "UPDATE dashboard_sessions SET last_seen_at = now()
          WHERE token_sha256 = $1 AND expires_at > now()
            AND last_seen_at > now() - make_interval(secs => idle_secs)
          RETURNING user_id, display_name, role, schools, csrf, search_text, expires_at,
                    assurance_level, assurance_at, pending, municipality_number,
                    staff_id",
    )
    .bind(&hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| {
        let role: Role = r.role.parse().ok()?;
        let level: Level = r.assurance_level.parse().ok()?;
        let actor = {
            let a = Actor::new(&r.user_id, role, r.schools).ok()?;
            match &r.municipality_number {
                Some(m) => a.in_municipality(m),
                None => a,
            }
        };
        Some(Session {
            claims_actor: actor.clone(),
            actor,
            staff_id: r.staff_id,
            display_name: r.display_name,
            csrf: r.csrf,
            search_text: r.search_text,
            expires_at: r.expires_at,
            proven: Proven {
                level,
                at: r.assurance_at,
            },
            // A pending page that no longer parses is simply forgotten.
            pending: r.pending.and_then(|p| serde_json::from_value(p).ok()),
            token_sha256: hash,
        })
    }))
}

/// Keeps (or, with `None`, forgets) the confirmation page to come back to.
pub async fn set_pending(
    pool: &PgPool,
    session: &Session,
    pending: Option<&Pending>,
) -> sqlx::Result<()> {
    let value = pending.and_then(|p| serde_json::to_value(p).ok());
    sqlx::query("UPDATE dashboard_sessions SET pending = $2 WHERE token_sha256 = $1")
        .bind(&session.token_sha256)
        .bind(value)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn destroy(pool: &PgPool, session: &Session) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE token_sha256 = $1")
        .bind(&session.token_sha256)
        .execute(pool)
        .await?;
    Ok(())
}

/// Keeps the archive log's free-text filter on the server (never in a URL).
pub async fn set_search_text(
    pool: &PgPool,
    session: &Session,
    text: Option<&str>,
) -> sqlx::Result<()> {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    sqlx::query("UPDATE dashboard_sessions SET search_text = $2 WHERE token_sha256 = $1")
        .bind(&session.token_sha256)
        .bind(text)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records a sign-in under way (found again by `state` at the callback);
/// `wanted` is the level a step-up asked the identity provider for.
pub async fn store_login(
    pool: &PgPool,
    state: &str,
    nonce: &str,
    verifier: &str,
    return_to: &str,
    wanted: Option<Level>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dashboard_logins (state, nonce, pkce_verifier, return_to, wanted_level)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state)
    .bind(nonce)
    .bind(verifier)
    .bind(return_to)
    .bind(wanted.map(Level::as_str))
    .execute(pool)
    .await?;
    Ok(())
}

/// A sign-in under way, as the callback finds it.
#[derive(Debug, Clone)]
pub struct Login {
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    /// The level a step-up asked for (`None`: an ordinary sign-in).
    pub wanted: Option<Level>,
}

/// Takes (deletes and returns) the sign-in of `state` if it is under ten minutes
/// old. A state is usable once.
pub async fn take_login(pool: &PgPool, state: &str) -> sqlx::Result<Option<Login>> {
    type Row = (String, String, String, Option<String>, bool);
    let row: Option<Row> = sqlx::query_as(
        "DELETE FROM dashboard_logins WHERE state = $1
          RETURNING nonce, pkce_verifier, return_to, wanted_level,
                    created_at > now() - interval '10 minutes'",
    )
    .bind(state)
    .fetch_optional(pool)
    .await?;
    Ok(row
        .filter(|r| r.4)
        .map(|(nonce, pkce_verifier, return_to, wanted, _)| Login {
            nonce,
            pkce_verifier,
            return_to,
            wanted: wanted.and_then(|w| w.parse().ok()),
        }))
}

impl Session {
    /// The assurance level in force now (the proven level, decayed by its max age).
    pub fn level(&self, settings: &crate::config::AssuranceSettings) -> Level {
        settings.effective(&self.proven, Utc::now())
    }

    /// Whether a form's `_csrf` value is this session's token.
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        given.is_some_and(|g| !g.is_empty() && same(g.as_bytes(), self.csrf.as_bytes()))
    }
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/dashboard; Max-Age={}; HttpOnly; SameSite=Lax{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The dashboard's rate limit per key (a client address for sign-in, a user for
/// actions): `governor` through [`crate::http::limit::KeyedLimiter`], so memory
/// stays bounded however many keys arrive.
pub struct RateLimiter(KeyedLimiter);

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> RateLimiter {
        RateLimiter(KeyedLimiter::new(max, window, DEFAULT_MAX_KEYS))
    }

    /// Counts one attempt by `key`; false when the key is over its limit.
    pub fn allow(&self, key: &str) -> bool {
        self.0.allow(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; dokflyt_okt=abc; b=2".parse().expect("header"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn session_cookie_is_http_only_lax_and_secure() {
        let c = set_cookie(SESSION_COOKIE, "t", Duration::from_secs(60), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
    }

    #[test]
    fn rate_limit_counts_per_key() {
        let l = RateLimiter::new(2, Duration::from_secs(60));
        assert!(l.allow("a") && l.allow("a"));
        assert!(!l.allow("a"));
        assert!(l.allow("b"));
    }
}
