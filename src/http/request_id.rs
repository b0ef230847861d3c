//! Request ids and the span of every HTTP request (API, SMS callbacks, dashboard).
//!
//! Input: a request, perhaps with `x-request-id`. Output: the same request in the
//! span `http_request` (`method`, `route` — the route's pattern, such as
//! `/api/deliveries/{event_id}`, never the path itself —, `request_id`,
//! `status`), and the response with `x-request-id`: the caller's, when it is
//! well-formed (1–128 characters of `A-Z a-z 0-9 . _ : -`), else a new UUID.
//! Failure: none; a malformed id is replaced, not refused (it may be a proxy's).

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Response};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The header that carries the request id, in and out.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a caller's request id is taken as it is.
pub fn well_formed(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    (1..=128).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

async fn drop_malformed(mut req: Request) -> Request {
    if req.headers().get(&HEADER).is_some_and(|v| !well_formed(v)) {
        req.headers_mut().remove(&HEADER);
    }
    req
}

fn request_span<B>(req: &axum::http::Request<B>) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "http_request",
        method = %req.method(),
        route,
        request_id = id,
        status = tracing::field::Empty,
    )
}

fn record_status<B>(res: &Response<B>, _latency: std::time::Duration, span: &Span) {
    span.record("status", res.status().as_u16());
}

/// `router` with request ids and request spans on every route.
pub fn traced(router: Router) -> Router {
    // Outermost last: the malformed id goes, an id is set, the span opens, and
    // on the way out the id is copied to the response.
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(record_status),
        )
        .layer(PropagateRequestIdLayer::new(HEADER))
        .layer(SetRequestIdLayer::new(HEADER, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_malformed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_plain_words() {
        let ok = |s: &str| well_formed(&HeaderValue::from_str(s).expect("header"));
        assert!(ok("3f2c9a1e-7b8d-4c2e-9f00-1a2b3c4d5e6f"));
        assert!(ok("req_42:a.b"));
        assert!(!ok(""));
        assert!(!ok(&"x".repeat(129)));
        assert!(!ok("has space"));
        assert!(!ok("12345678901<script>"));
    }
}
