//! Who calls the JSON API: the [`ApiActor`] extractor.
//!
//! Input: `Authorization: Bearer <http.api_token>` — the school system (or another
//! trusted integration) proves itself — plus the user it acts for:
//! `X-Dokflyt-User` (an id, never a national id), `X-Dokflyt-Role` (a §6 role word)
//! and `X-Dokflyt-Schools` (comma-separated school ids). Output: an [`Actor`].
//! Failure: 401 without a valid token (compared in constant time), 400 with a
//! Norwegian message when the user headers are missing or name an unknown role.
//! Whether that actor may do the thing asked is decided by the action itself.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use crate::access::{Actor, Role};
use crate::config::Secret;

/// Something from which the API token can be read (the router's state).
pub trait HasApiToken {
    fn api_token(&self) -> &Secret;
}

/// Just the token, for [`require_token`] on routers with another state.
#[derive(Clone)]
pub struct ApiToken(pub Secret);

impl HasApiToken for ApiToken {
    fn api_token(&self) -> &Secret {
        &self.0
    }
}

/// The acting user of an API call, authenticated by the caller's token.
#[derive(Debug, Clone)]
pub struct ApiActor(pub Actor);

/// Constant-time comparison, so a token cannot be guessed byte by byte (API token,
/// CSRF token, sign-in state, delivery-report token).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request carries `Authorization: Bearer <token>` with this token.
fn bearer_ok(headers: &axum::http::HeaderMap, token: &Secret) -> bool {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    !given.is_empty() && same(given.as_bytes(), token.expose().as_bytes())
}

fn refuse(code: StatusCode, msg: &str) -> Response {
    (code, Json(json!({ "error": msg }))).into_response()
}

impl<S> FromRequestParts<S> for ApiActor
where
    S: HasApiToken + Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        if !bearer_ok(&parts.headers, state.api_token()) {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "Mangler eller ugyldig API-nøkkel.",
            ));
        }
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
        let schools = header("x-dokflyt-schools")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let actor = Actor::new(user, role, schools)
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "Mangler bruker (X-Dokflyt-User)."))?;
        Ok(ApiActor(actor))
    }
}

/// Middleware for routes that serve the school system itself (in-app messages,
/// delivery statuses): the API token is required, no acting user.
pub async fn require_token<S: HasApiToken + Send + Sync>(
    axum::extract::State(state): axum::extract::State<S>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !bearer_ok(req.headers(), state.api_token()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Mangler eller ugyldig API-nøkkel.",
        );
    }
    next.run(req).await
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
