//! The API's contract (issue 20): `GET /api/openapi.json` describes every route
//! the router serves and nothing else, an independent validator accepts it, the
//! scope each operation documents is the scope its door enforces, and every
//! error answer has the one documented shape.
//!
//! The router's own route table is read from axum (the `Debug` of the router
//! `http::api` builds: its paths and the methods of each), never from a list
//! copied into this test; the served document is compared with it, and every
//! documented operation is then called on the running server.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::{spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "options", "trace"];

/// (path, methods) of the router `dokflyt::http::api` builds, from axum's own
/// table. `Debug` of an axum 0.8 router prints its path router's
/// `RouteId(n): "path"` pairs and each endpoint's `MethodRouter { get: …, … }`
/// (`None` where a method has no handler); the assertions below fail loudly if a
/// new axum prints otherwise.
fn router_routes(app: &TestApp) -> BTreeMap<String, BTreeSet<String>> {
    let auth = dokflyt::http::auth::ApiAuth {
        pool: app.pool.clone(),
        dev_token: None,
        limits: Arc::new(dokflyt::http::auth::ApiLimits::from_settings(
            &app.settings.http,
        )),
        trust_proxy_headers: false,
    };
    let (router, _) = dokflyt::http::api(&auth).split_for_parts();
    let debug = format!("{router:?}");
    let table = debug
        .split("fallback_router")
        .next()
        .expect("a path router");
    let mut paths: BTreeMap<String, String> = BTreeMap::new();
    let mut endpoints: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for piece in table.split("RouteId(").skip(1) {
        let Some((id, rest)) = piece.split_once("): ") else {
            continue;
        };
        if let Some(quoted) = rest.strip_prefix('"') {
            let path = quoted.split('"').next().expect("a quoted path");
            paths.insert(id.to_string(), path.to_string());
        } else if rest.starts_with("MethodRouter(") {
            let body = rest.split("allow_header").next().expect("a method router");
            let methods = METHODS
                .iter()
                .filter(|m| {
                    body.split(&format!("{m}: "))
                        .nth(1)
                        .is_some_and(|v| !v.starts_with("None"))
                })
                .map(|m| m.to_string())
                .collect();
            endpoints.insert(id.to_string(), methods);
        }
    }
    assert!(
        paths.len() >= 20 && paths.len() == endpoints.len(),
        "could not read the route table from axum's Debug output ({} paths, {} endpoints)",
        paths.len(),
        endpoints.len()
    );
    paths
        .into_iter()
        .map(|(id, path)| {
            let methods = endpoints.remove(&id).expect("an endpoint per path");
            assert!(!methods.is_empty(), "{path} has no method");
            (path, methods)
        })
        .collect()
}

/// (path, methods) of the document.
fn document_routes(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_string())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

async fn served_document(app: &TestApp) -> Value {
    let r = reqwest::get(format!("http://{}/api/openapi.json", app.http))
        .await
        .expect("the document answers");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "unauthenticated, it is a contract"
    );
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    r.json().await.expect("JSON")
}

/// A concrete URL for a documented path: every `{param}` filled with a value of
/// the documented type.
fn concrete(path: &str, op: &Value) -> String {
    let mut out = path.to_string();
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] != "path" {
            continue;
        }
        let name = p["name"].as_str().expect("name");
        let value = if p["schema"]["format"] == "uuid" {
            Uuid::new_v4().to_string()
        } else {
            "skole-42".to_string()
        };
        out = out.replace(&format!("{{{name}}}"), &value);
    }
    assert!(
        !out.contains('{'),
        "{path}: a path parameter is not documented"
    );
    out
}

/// Every route the router serves is in the served document with the same
/// methods, and every documented operation is served: called without
/// credentials on the running server, a route behind a client's door answers
/// 401 from the door, the SMS gateway's callback 401 for its token, the open ones
/// 200 — never the router's 404 or 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_and_the_router_list_the_same_routes() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let router = router_routes(&app);
    let documented = document_routes(&doc);
    let only_router: Vec<_> = router
        .iter()
        .filter(|(p, m)| documented.get(*p) != Some(m))
        .collect();
    let only_doc: Vec<_> = documented
        .iter()
        .filter(|(p, m)| router.get(*p) != Some(m))
        .collect();
    assert!(
        only_router.is_empty() && only_doc.is_empty(),
        "served but not documented (or other methods): {only_router:?}; documented but not served: {only_doc:?}"
    );
    let api_routes = router.keys().filter(|p| p.starts_with("/api/")).count();
    assert!(api_routes >= 21, "{api_routes} /api routes");

    // The doors without credentials are exactly these (none acts on an identity); a
    // route documented without security that is not listed here fails.
    let open: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |m| {
                let op = item.get(*m)?;
                let security = op["security"].as_array()?;
                security
                    .is_empty()
                    .then(|| format!("{} {path}", m.to_uppercase()))
            })
        })
        .collect();
    assert_eq!(
        open,
        BTreeSet::from(
            [
                "GET /healthz",
                "GET /readyz",
                "GET /metrics",
                "GET /api/openapi.json"
            ]
            .map(String::from)
        ),
        "the routes open without credentials"
    );

    let client = reqwest::Client::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let url = format!("http://{}{}", app.http, concrete(path, op));
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).expect("method");
            let r = client
                .request(method, &url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("answers");
            let security = op["security"]
                .as_array()
                .expect("every operation states its security");
            let expected = match security.first().and_then(|s| s.as_object()) {
                None => StatusCode::OK,
                Some(s) if s.contains_key("bearer") => StatusCode::UNAUTHORIZED,
                Some(s) if s.contains_key("dlr_token") => StatusCode::UNAUTHORIZED,
                Some(s) => panic!("{m} {path}: unknown security {s:?}"),
            };
            assert_eq!(r.status(), expected, "{m} {path}");
            if expected != StatusCode::OK {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{m} {path}: the 401 is not documented"
                );
            }
        }
    }
    app.stop_and_clean().await;
}

/// `@apidevtools/swagger-parser` (npm, tests/e2e) validates the served document;
/// the same validator refuses a broken copy of it, so its «valid» means something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_validator_accepts_the_document() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    app.stop_and_clean().await;
    common::ensure_node_modules();
    let validate = |doc: &Value| {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), serde_json::to_vec(doc).expect("json")).expect("write");
        let out = std::process::Command::new("node")
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/e2e/validate-openapi.mjs"),
            )
            .arg(file.path())
            .output()
            .expect("node runs (Node.js 20+; tests/run installs it)");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, said) = validate(&doc);
    assert!(ok, "the validator refuses the document: {said}");
    assert!(said.contains("valid: OpenAPI 3.1.0"), "{said}");

    let mut broken = doc.clone();
    let first = broken["paths"]
        .as_object()
        .and_then(|p| p.keys().find(|k| k.starts_with("/api/archive/documents/")))
        .cloned()
        .expect("a path with a parameter");
    // A path parameter the path does not have, and a reference to nothing.
    broken["paths"][&first]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/FinnesIkke"});
    let (ok, said) = validate(&broken);
    assert!(!ok, "the validator accepted a broken document: {said}");
}

/// Each operation's documented scope is the one its door enforces: a client
/// with every scope but that one is refused with 403 naming it; with only that
/// scope the door lets it through (whatever the handler then answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_scope_is_the_enforced_scope() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    let client = reqwest::Client::new();
    let mut secrets: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let Some(scope) = op["security"][0]["bearer"][0].as_str() else {
                continue;
            };
            if !secrets.contains_key(scope) {
                let others: Vec<&str> = common::ALL_SCOPES
                    .iter()
                    .copied()
                    .filter(|s| *s != scope)
                    .collect();
                assert_eq!(
                    others.len(),
                    common::ALL_SCOPES.len() - 1,
                    "{scope} is a scope"
                );
                let without = common::client(&app, &others, None).await;
                let only = common::client(&app, &[scope], None).await;
                secrets.insert(scope.to_string(), (without, only));
            }
            let (without, only) = &secrets[scope];
            let url = format!("http://{}{}", app.http, concrete(path, op));
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).expect("method");
            let call = |secret: &str| {
                client
                    .request(method.clone(), &url)
                    .bearer_auth(secret)
                    .header("x-dokflyt-user", "k.admin")
                    .header("x-dokflyt-role", "kommuneadmin")
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
            };
            let r = call(without).await.expect("answers");
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{m} {path} without {scope}"
            );
            let body: Value = r.json().await.expect("json");
            assert!(
                body["message"].as_str().is_some_and(|t| t.contains(scope)),
                "{m} {path}: {body}"
            );
            let r = call(only).await.expect("answers");
            let through = r.status() != StatusCode::FORBIDDEN
                || !r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|b| b["message"].as_str().map(str::to_string))
                    .is_some_and(|t| t.contains("Klienten har ikke tilgangen"));
            assert!(through, "{m} {path}: refused with only {scope}");
            checked += 1;
        }
    }
    assert!(checked >= 18, "{checked} operations behind a client's door");
    app.stop_and_clean().await;
}

/// Every kind of error answer of the API — from a door, a handler, axum's own
/// rejections, the router and the body limit — is `{"error": code, "message": …}`
/// with the code of its status, as the document's `ApiError` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_the_one_documented_shape() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    let schema = &doc["components"]["schemas"]["ApiError"];
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["error", "message"]));
    let codes: BTreeSet<String> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("the codes are an enum")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let allowed: BTreeSet<&str> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    let base = format!("http://{}", app.http);
    let secret = app.api_secret.clone();
    // A school of the client's municipality, so the door lets the SMS routes through.
    let school = common::sms_gateway::generate_school("s-feil", "4699", 1, 1, 1);
    common::sms_gateway::load_roster(&app.pool, &school.events).await;
    let no_archive = common::client(&app, &["status:read"], None).await;
    let c = reqwest::Client::new();
    let actor = |r: reqwest::RequestBuilder| {
        r.header("x-dokflyt-user", "k.admin")
            .header("x-dokflyt-role", "kommuneadmin")
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "no credential (the door)",
            c.get(format!("{base}/api/archive/counts")),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "a missing scope (the door)",
            c.get(format!("{base}/api/archive/counts"))
                .bearer_auth(&no_archive),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "missing user headers (the actor extractor)",
            c.get(format!("{base}/api/archive/counts"))
                .bearer_auth(&secret),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a missing parameter (a handler)",
            c.get(format!("{base}/api/deliveries")).bearer_auth(&secret),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "an unknown event (a handler)",
            c.get(format!("{base}/api/deliveries?event_id={}", Uuid::new_v4()))
                .bearer_auth(&secret),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "a bad status filter (the staff API)",
            actor(
                c.get(format!("{base}/api/archive/documents?status=borte"))
                    .bearer_auth(&secret),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "an unknown document (the staff API)",
            actor(
                c.get(format!("{base}/api/archive/documents/{}", Uuid::new_v4()))
                    .bearer_auth(&secret),
            ),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "a malformed path parameter (axum)",
            actor(
                c.get(format!(
                    "{base}/api/schools/s-feil/emergency-sms/ikke-en-uuid"
                ))
                .bearer_auth(&secret),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a malformed query (axum)",
            actor(
                c.get(format!("{base}/api/archive/documents?limit=mange"))
                    .bearer_auth(&secret),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "an unknown path (the router)",
            c.get(format!("{base}/api/finnes-ikke")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "a wrong method (the router)",
            c.delete(format!("{base}/api/status")).bearer_auth(&secret),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "a wrong delivery-report token",
            c.post(format!("{base}/api/sms/dlr?token=feil"))
                .json(&json!({"refId": "x", "resultCode": 1001})),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "a body over the limit (the body limit)",
            c.post(format!("{base}/api/archive/run-now"))
                .bearer_auth(&secret)
                // Just over the limit: a body far beyond it can still be on its way
                // when the server has answered 413 and closed (a broken pipe).
                .body(vec![b' '; app.settings.limits.api_body_bytes + 10]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (what, request, status, code) in cases {
        let r = request.send().await.expect(what);
        assert_eq!(r.status(), status, "{what}");
        assert!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json")),
            "{what}: not JSON"
        );
        let body: Value = r.json().await.expect(what);
        assert_eq!(body["error"], code, "{what}: {body}");
        assert!(
            codes.contains(code),
            "{what}: {code} is not a documented code"
        );
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| !m.trim().is_empty()),
            "{what}: {body}"
        );
        for k in body.as_object().expect("an object").keys() {
            assert!(
                allowed.contains(k.as_str()),
                "{what}: undocumented field {k}"
            );
        }
    }
    app.stop_and_clean().await;
}
