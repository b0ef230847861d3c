//! Dashboard sessions, CSRF tokens and rate limits.
//!
//! Input: a signed-in user from [`super::oidc`] (create), the session cookie of a
//! request (load), a form's `_csrf` field (check). Output: a [`Session`] — the
//! [`Actor`], the display name, the session's CSRF token and its server-side
//! search text. The cookie holds a random 256-bit token; the database holds only
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

use super::oidc::random_token;
use crate::access::{Actor, Role};
use crate::http::auth::same;
use crate::http::limit::{KeyedLimiter, DEFAULT_MAX_KEYS};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "dokflyt_okt";
/// The cookie binding a sign-in under way to this browser (holds the `state`).
pub const LOGIN_COOKIE: &str = "dokflyt_innlogging";

#[derive(Debug, Clone)]
pub struct Session {
    pub actor: Actor,
    pub display_name: String,
    pub csrf: String,
    pub search_text: Option<String>,
    pub expires_at: DateTime<Utc>,
    token_sha256: Vec<u8>,
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates a session and returns the token for the cookie.
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    display_name: &str,
    ttl: Duration,
) -> sqlx::Result<String> {
    let token = random_token(32);
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(8));
    sqlx::query(
        "INSERT INTO dashboard_sessions
                (token_sha256, user_id, display_name, role, schools, csrf, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + $7)",
    )
    .bind(digest(&token))
    .bind(&actor.user)
    .bind(display_name)
    .bind(actor.role.as_str())
    .bind(&actor.schools)
    .bind(random_token(32))
    .bind(ttl)
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

type SessionRow = (
    String,
    String,
    String,
    Vec<String>,
    String,
    Option<String>,
    DateTime<Utc>,
);

/// The live session behind `token`, if any (an unknown stored role is no session).
pub async fn load(pool: &PgPool, token: &str) -> sqlx::Result<Option<Session>> {
    let hash = digest(token);
    let row: Option<SessionRow> = sqlx::query_as(
        "UPDATE dashboard_sessions SET last_seen_at = now()
          WHERE token_sha256 = $1 AND expires_at > now()
          RETURNING user_id, display_name, role, schools, csrf, search_text, expires_at",
    )
    .bind(&hash)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.and_then(|(user, name, role, schools, csrf, search, expires)| {
            let role: Role = role.parse().ok()?;
            Some(Session {
                actor: Actor::new(&user, role, schools).ok()?,
                display_name: name,
                csrf,
                search_text: search,
                expires_at: expires,
                token_sha256: hash,
            })
        }),
    )
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

/// Records a sign-in under way (found again by `state` at the callback).
pub async fn store_login(
    pool: &PgPool,
    state: &str,
    nonce: &str,
    verifier: &str,
    return_to: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dashboard_logins (state, nonce, pkce_verifier, return_to) VALUES ($1, $2, $3, $4)",
    )
    .bind(state)
    .bind(nonce)
    .bind(verifier)
    .bind(return_to)
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes (deletes and returns) the sign-in of `state` if it is under ten minutes
/// old: nonce, PKCE verifier, where to go afterwards. A state is usable once.
pub async fn take_login(
    pool: &PgPool,
    state: &str,
) -> sqlx::Result<Option<(String, String, String)>> {
    sqlx::query_as(
        "DELETE FROM dashboard_logins WHERE state = $1
          RETURNING nonce, pkce_verifier, return_to, created_at > now() - interval '10 minutes'",
    )
    .bind(state)
    .fetch_optional(pool)
    .await
    .map(|r: Option<(String, String, String, bool)>| {
        r.filter(|x| x.3).map(|(n, v, to, _)| (n, v, to))
    })
}

impl Session {
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
