//! The API's one error shape: `{"error": "<code>", "message": "<bokmål text>"}`.
//!
//! Input: a status and a Norwegian message from a handler or a door
//! ([`error_response`]), or any other error answer of a `/api` route — an axum
//! extractor's plain-text rejection, the router's 404/405, the body limit's 413 —
//! which [`json_errors`] rewrites into the same shape. Output: a JSON body of type
//! [`ApiError`], documented once in the OpenAPI document (`http::openapi`).
//! Failure: none.
//!
//! `error` is a stable code a program can branch on (it follows the status:
//! `not_found` for 404 and so on, [`ErrorCode`]); `message` is for the person at
//! the other end and may change wording. Nothing personal goes into either: the
//! messages name what is missing or refused, never a value the caller sent.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde::Serialize;

/// A stable error code, one per status the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: a missing or malformed parameter, header or body.
    BadRequest,
    /// 401: no, an unknown, a revoked or an expired credential.
    Unauthorized,
    /// 403: the client or the person may not do this.
    Forbidden,
    /// 404: no such thing (or not one the caller may see).
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: the thing is not in a state that allows it.
    Conflict,
    /// 413: the body is over the API's size limit.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: understood, but the content is refused.
    Unprocessable,
    /// 429: over a rate limit; try again later.
    TooManyRequests,
    /// 500: a fault of the service that operations must look at.
    Internal,
    /// 503: the database (or another dependency) does not answer; try again later.
    Unavailable,
}

impl ErrorCode {
    pub fn from_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            StatusCode::FORBIDDEN => ErrorCode::Forbidden,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::CONFLICT => ErrorCode::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::Unprocessable,
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::TooManyRequests,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
            s if s.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        }
    }

    /// What a person is told when the answer came from the framework, not a handler.
    fn generic_message(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "Ugyldig forespørsel.",
            ErrorCode::Unauthorized => "Mangler eller ugyldig API-nøkkel.",
            ErrorCode::Forbidden => "Ingen tilgang.",
            ErrorCode::NotFound => "Fant ikke adressen.",
            ErrorCode::MethodNotAllowed => "Metoden er ikke tillatt på denne adressen.",
            ErrorCode::Conflict => "Forespørselen er i konflikt med tilstanden.",
            ErrorCode::PayloadTooLarge => "Forespørselen er for stor.",
            ErrorCode::UnsupportedMediaType => {
                "Innholdet må være JSON (Content-Type: application/json)."
            }
            ErrorCode::Unprocessable => "Innholdet kan ikke behandles.",
            ErrorCode::TooManyRequests => "For mange forespørsler. Vent litt og prøv igjen.",
            ErrorCode::Internal => "En intern feil oppstod. Kontakt driften.",
            ErrorCode::Unavailable => "Tjenesten er utilgjengelig akkurat nå. Prøv igjen om litt.",
        }
    }
}

/// Every error answer of the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": "forbidden", "message": "Klienten har ikke tilgangen «archive:act»."}))]
pub struct ApiError {
    /// A stable code (follows the HTTP status).
    pub error: ErrorCode,
    /// What went wrong, in Norwegian bokmål, for a person.
    pub message: String,
    /// Only on a refused routing table (`POST /api/admin/rules/reload`): the
    /// version that keeps serving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules_version_in_force: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            error: ErrorCode::from_status(status),
            message: message.into(),
            rules_version_in_force: None,
        }
    }
}

/// The answer `status` with an [`ApiError`] body.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(ApiError::new(status, message))).into_response()
}

/// Rewrites every error answer (4xx/5xx) of the routes under it that is not JSON
/// already into an [`ApiError`]: axum's plain-text rejections (a malformed path,
/// query or body), the router's 404 and 405, the body limit's 413. A plain-text
/// reason from the framework is kept after the Norwegian sentence (it names the
/// field that failed, not its value).
pub async fn json_errors(req: Request<Body>, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let status = res.status();
    if !is_api || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let detail = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty() && t.len() < 1000);
    let code = ErrorCode::from_status(status);
    let message = match detail {
        Some(d) => format!("{} ({d})", code.generic_message()),
        None => code.generic_message().to_string(),
    };
    let mut out = error_response(status, message);
    // Keep what the framework said about the answer (Allow on a 405, Retry-After).
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_follows_the_status() {
        assert_eq!(
            serde_json::to_value(ApiError::new(StatusCode::NOT_FOUND, "Fant ikke hendelsen."))
                .expect("json"),
            serde_json::json!({"error": "not_found", "message": "Fant ikke hendelsen."})
        );
        assert_eq!(
            ErrorCode::from_status(StatusCode::BAD_GATEWAY),
            ErrorCode::Internal
        );
        assert_eq!(
            ErrorCode::from_status(StatusCode::IM_A_TEAPOT),
            ErrorCode::BadRequest
        );
    }
}
