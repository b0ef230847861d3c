//! A local Maskinporten token endpoint for the tests: checks the JWT bearer grant
//! the way Maskinporten does (grant type, RS256 signature by the certificate in
//! `x5c`, `aud`, `iss`, `scope`, a lifetime of at most 120 s, a fresh `jti`) and
//! answers with an access token. Each scope it knows has its own token (SvarUt's
//! `ks:fiks` by default; [`Maskinporten::start_with_scopes`] adds others, e.g.
//! the contact register's), so a service stand-in can tell which grant a token
//! came from.
//!
//! Stage: none (a stand-in for Digdir's Maskinporten). Input: token requests from
//! `dokflyt::maskinporten`. Output: an access token for a valid grant. Failure: an
//! invalid grant gets 400 `invalid_grant` and is kept in
//! [`Maskinporten::refusals`] for tests to assert on. Clients sign with
//! `standins::svarut::DEMO_KEY` and present `DEMO_CERT` (the throwaway pair).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

pub const AUDIENCE: &str = "https://test.maskinporten.no/";
pub const CLIENT_ID: &str = "dokflyt-test-klient";
pub const SCOPE: &str = "ks:fiks";

#[derive(Default)]
struct Inner {
    grants: usize,
    jtis: HashSet<String>,
    refusals: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    /// (scope, token issued for it).
    tokens: Vec<(String, String)>,
    inner: Arc<Mutex<Inner>>,
}

pub struct Maskinporten {
    pub addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Maskinporten {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Maskinporten {
    /// Issues `token` to every valid grant of [`SCOPE`].
    pub async fn start(token: &str) -> Maskinporten {
        Maskinporten::start_with_scopes(&[(SCOPE, token)]).await
    }

    /// Issues each scope's token to a valid grant of exactly that scope.
    pub async fn start_with_scopes(scopes: &[(&str, &str)]) -> Maskinporten {
        let shared = Shared {
            tokens: scopes
                .iter()
                .map(|(s, t)| (s.to_string(), t.to_string()))
                .collect(),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/token", post(grant))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Maskinporten { addr, shared, task }
    }

    pub fn token_endpoint(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    pub fn grants(&self) -> usize {
        self.shared.inner.lock().expect("lock").grants
    }

    pub fn refusals(&self) -> Vec<String> {
        self.shared.inner.lock().expect("lock").refusals.clone()
    }
}

#[derive(Deserialize)]
struct GrantForm {
    grant_type: String,
    assertion: String,
}

fn refuse(s: &Shared, why: String) -> Response {
    s.inner.lock().expect("lock").refusals.push(why.clone());
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_grant", "error_description": why })),
    )
        .into_response()
}

async fn grant(State(s): State<Shared>, Form(f): Form<GrantForm>) -> Response {
    if f.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return refuse(&s, format!("grant_type {}", f.grant_type));
    }
    let header = match jsonwebtoken::decode_header(&f.assertion) {
        Ok(h) => h,
        Err(e) => return refuse(&s, format!("header: {e}")),
    };
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return refuse(&s, format!("alg {:?}", header.alg));
    }
    let Some(cert_b64) = header.x5c.as_ref().and_then(|c| c.first()) else {
        return refuse(&s, "no x5c".into());
    };
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(cert_b64) else {
        return refuse(&s, "x5c is not base64".into());
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return refuse(&s, "x5c is not a certificate".into());
    };
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&cert.public_key().subject_public_key.data);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[AUDIENCE]);
    v.set_issuer(&[CLIENT_ID]);
    v.set_required_spec_claims(&["aud", "iss", "exp"]);
    let claims: Value = match jsonwebtoken::decode::<Value>(&f.assertion, &key, &v) {
        Ok(d) => d.claims,
        Err(e) => return refuse(&s, format!("assertion: {e}")),
    };
    let scope = claims["scope"].as_str().unwrap_or("");
    let Some((scope, token)) = s.tokens.iter().find(|(sc, _)| sc == scope).cloned() else {
        return refuse(&s, format!("scope {}", claims["scope"]));
    };
    let life = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    if !(1..=120).contains(&life) {
        return refuse(&s, format!("lifetime {life} s"));
    }
    let jti = claims["jti"].as_str().unwrap_or("").to_string();
    let mut inner = s.inner.lock().expect("lock");
    if jti.is_empty() || !inner.jtis.insert(jti) {
        drop(inner);
        return refuse(&s, "jti missing or reused".into());
    }
    inner.grants += 1;
    Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 120,
        "scope": scope,
    }))
    .into_response()
}
