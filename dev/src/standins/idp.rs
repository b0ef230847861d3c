//! The identity-provider stand-ins: OpenID Connect providers on localhost, one
//! module for the demo's and the tests' needs, signing with one [`Signer`].
//!
//! - [`DemoIdp`] — the dashboard's sign-in (`dokflyt-dev demo`, the dashboard
//!   tests), so a newcomer can open the dashboard without Feide or ID-porten.
//! - [`LocalIdp`] — the issuer of person assertions: discovery and JWKS only; the
//!   test signs the ID tokens itself ([`Signer::sign`], [`claims`]).
//!
//! [`DemoIdp`] speaks the real protocol the dashboard uses in production — discovery,
//! authorization code with PKCE (S256 required), client authentication with
//! HTTP Basic, an ID token signed with a fresh Ed25519 key (JWKS published),
//! userinfo — so the demo signs in through exactly the code path Feide would.
//! Input: a browser choosing one of the demo users at one of three sign-in
//! strengths ([`LEVELS`]: password = low, MinID = substantial, BankID = high) on
//! its page; `acr_values` in the request (a step-up) is shown as the level
//! dokflyt asks for, so a newcomer can see step-up happen. Output: codes,
//! tokens and claims (`dokflyt_role`, `dokflyt_schools`, `name`, and in the ID
//! token `acr`, `amr`, `auth_time` of the chosen strength). Failure: OAuth
//! error answers (`invalid_grant`, `invalid_client`, …). Not for production: the
//! users are fixed and anyone who can reach the port can pick one; it binds to
//! 127.0.0.1 (unless `DOKFLYT_DEMO_IDP_ADDR` says otherwise, as in
//! docker-compose) and exists only while the demo runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::Deserialize;
use serde_json::{json, Value};

use dokflyt::oidc::{pkce_challenge, random_token};

/// A demo user: login, name, role, schools.
pub struct DemoUser {
    pub login: &'static str,
    pub name: &'static str,
    pub role: &'static str,
    pub schools: &'static [&'static str],
    pub what: &'static str,
}

/// The users on the demo's sign-in page (the schools of `examples/events`).
pub const USERS: &[DemoUser] = &[
    DemoUser {
        login: "kari",
        name: "Kari Nordmann",
        role: "kommuneadmin",
        schools: &[],
        what: "kommuneadmin: alle skoler",
    },
    DemoUser {
        login: "ola",
        name: "Ola Hansen",
        role: "team",
        schools: &["fjellvik-ungdomsskole"],
        what: "skoleteam: Fjellvik ungdomsskole",
    },
    DemoUser {
        login: "ingrid",
        name: "Ingrid Berg",
        role: "rektor",
        schools: &["fjellvik-ungdomsskole"],
        what: "rektor: Fjellvik ungdomsskole (beredskaps-SMS)",
    },
    DemoUser {
        login: "per",
        name: "Per Olsen",
        role: "skoleadmin",
        schools: &["bakken-skole"],
        what: "skoleadmin: Bakken skole",
    },
];

/// A sign-in strength the demo offers: the button's words and the `acr`/`amr`
/// it puts in the ID token (ID-porten's names, which `[assurance]` maps by default).
pub struct DemoLevel {
    pub key: &'static str,
    pub button: &'static str,
    pub acr: &'static str,
    pub amr: &'static [&'static str],
}

/// Low, substantial, high.
pub const LEVELS: &[DemoLevel] = &[
    DemoLevel {
        key: "low",
        button: "Logg inn med passord (lav)",
        acr: "idporten-loa-low",
        amr: &["pwd"],
    },
    DemoLevel {
        key: "substantial",
        button: "MinID (betydelig)",
        acr: "idporten-loa-substantial",
        amr: &["otp"],
    },
    DemoLevel {
        key: "high",
        button: "BankID (høy)",
        acr: "idporten-loa-high",
        amr: &["BankID"],
    },
];

struct Grant {
    login: &'static str,
    level: &'static DemoLevel,
    nonce: Option<String>,
    challenge: String,
    issued: Instant,
}

struct Inner {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    signer: Signer,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, &'static str>>,
}

/// The strongest of the demo's levels whose `acr` is among `acr_values`.
fn requested_level(acr_values: Option<&str>) -> Option<&'static DemoLevel> {
    let asked: Vec<&str> = acr_values.unwrap_or("").split_whitespace().collect();
    LEVELS.iter().rev().find(|l| asked.contains(&l.acr))
}

/// The running demo provider; stops when dropped.
pub struct DemoIdp {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DemoIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DemoIdp {
    /// Starts the provider on `bind` (the demo: 127.0.0.1, any free port; in
    /// docker-compose a published port) for a dashboard whose callback is
    /// `redirect_uri`. The issuer is `http://localhost:<port>`.
    pub async fn start(bind: &str, redirect_uri: &str) -> anyhow::Result<DemoIdp> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let port = listener.local_addr()?.port();
        let issuer = format!("http://localhost:{port}");
        let signer = Signer::with_kid("demo")?;
        let inner = Arc::new(Inner {
            issuer: issuer.clone(),
            client_id: "dokflyt-demo".into(),
            client_secret: random_token(24),
            redirect_uri: redirect_uri.to_string(),
            signer,
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize_page).post(authorize_submit))
            .route("/token", axum::routing::post(token))
            .route("/userinfo", get(userinfo))
            .route("/jwks", get(jwks))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the demo identity provider stopped");
            }
        });
        Ok(DemoIdp {
            issuer,
            client_id: inner.client_id.clone(),
            client_secret: inner.client_secret.clone(),
            task,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

async fn discovery(State(s): State<Arc<Inner>>) -> Json<Value> {
    let i = &s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": ["openid", "profile", "dokflyt"],
    }))
}

async fn jwks(State(s): State<Arc<Inner>>) -> Json<Value> {
    Json(json!({ "keys": [s.signer.jwk()] }))
}

#[derive(Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    acr_values: Option<String>,
    prompt: Option<String>,
    /// The button pressed: `<login>:<level key>`.
    login: Option<String>,
}

fn check(s: &Inner, p: &AuthorizeParams) -> Result<(), &'static str> {
    if p.response_type.as_deref() != Some("code") {
        return Err("response_type må være code");
    }
    if p.client_id.as_deref() != Some(s.client_id.as_str()) {
        return Err("ukjent klient");
    }
    if p.redirect_uri.as_deref() != Some(s.redirect_uri.as_str()) {
        return Err("redirect_uri er ikke registrert");
    }
    if p.code_challenge_method.as_deref() != Some("S256") || p.code_challenge.is_none() {
        return Err("PKCE (S256) kreves");
    }
    Ok(())
}

async fn authorize_page(State(s): State<Arc<Inner>>, Query(p): Query<AuthorizeParams>) -> Response {
    if let Err(e) = check(&s, &p) {
        return (StatusCode::BAD_REQUEST, e).into_response();
    }
    let hidden = |k: &str, v: &Option<String>| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            dokflyt::xml::escape(v.as_deref().unwrap_or(""))
        )
    };
    let fields = [
        hidden("response_type", &p.response_type),
        hidden("client_id", &p.client_id),
        hidden("redirect_uri", &p.redirect_uri),
        hidden("state", &p.state),
        hidden("nonce", &p.nonce),
        hidden("code_challenge", &p.code_challenge),
        hidden("code_challenge_method", &p.code_challenge_method),
        hidden("acr_values", &p.acr_values),
        hidden("prompt", &p.prompt),
    ]
    .concat();
    let asked = requested_level(p.acr_values.as_deref());
    let asked_index = asked.and_then(|a| LEVELS.iter().position(|l| l.acr == a.acr));
    let notice = match asked {
        Some(l) => format!(
            "<p id=\"krav\" style=\"border:2px solid #00509e;padding:.5rem\">dokflyt ber om sterkere innlogging: \
             <strong>{}</strong> (<code>acr_values={}</code>). Velger du et lavere nivå, \
             får du logget inn, men handlingen blir ikke utført.</p>",
            dokflyt::xml::escape(l.button),
            dokflyt::xml::escape(l.acr)
        ),
        None => String::new(),
    };
    let buttons: String = USERS
        .iter()
        .map(|u| {
            let per_level: String = LEVELS
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    // Below what dokflyt asks for: shown, but faded.
                    let weak = asked_index.is_some_and(|a| i < a);
                    format!(
                        " <button type=\"submit\" name=\"login\" value=\"{}:{}\" data-user=\"{}\" data-level=\"{}\"{}>{}</button>",
                        u.login,
                        l.key,
                        u.login,
                        l.key,
                        if weak { " style=\"opacity:.6\"" } else { "" },
                        dokflyt::xml::escape(l.button),
                    )
                })
                .collect();
            format!(
                "<li style=\"margin:.6rem 0\"><strong>{}</strong> — {}<br>{per_level}</li>",
                dokflyt::xml::escape(u.name),
                dokflyt::xml::escape(u.what)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"nb\"><head><meta charset=\"utf-8\"><title>Demo-innlogging</title></head>\
         <body style=\"font-family:sans-serif;max-width:40rem;margin:2rem auto\">\
         <h1>Demo-innlogging</h1><p>Dette er dokflyts innebygde OpenID Connect-tjener for demoen. \
         I drift logger brukerne inn med Feide eller ID-porten. Hver bruker kan logge inn på tre nivåer; \
         å se dokumenter unntatt offentlighet krever betydelig, beredskaps-SMS krever høy.</p>{notice}\
         <form method=\"post\" action=\"/authorize\">{fields}<ul style=\"list-style:none;padding:0\">{buttons}</ul></form>\
         </body></html>"
    ))
    .into_response()
}

async fn authorize_submit(State(s): State<Arc<Inner>>, Form(p): Form<AuthorizeParams>) -> Response {
    if let Err(e) = check(&s, &p) {
        return (StatusCode::BAD_REQUEST, e).into_response();
    }
    let (login, level) = p
        .login
        .as_deref()
        .and_then(|v| v.split_once(':'))
        .unwrap_or((p.login.as_deref().unwrap_or(""), "low"));
    let Some(user) = USERS.iter().find(|u| u.login == login) else {
        return (StatusCode::BAD_REQUEST, "ukjent bruker").into_response();
    };
    let Some(level) = LEVELS.iter().find(|l| l.key == level) else {
        return (StatusCode::BAD_REQUEST, "ukjent nivå").into_response();
    };
    let code = random_token(24);
    lock(&s.codes).insert(
        code.clone(),
        Grant {
            login: user.login,
            level,
            nonce: p.nonce.clone(),
            challenge: p.code_challenge.clone().unwrap_or_default(),
            issued: Instant::now(),
        },
    );
    let mut to = match url::Url::parse(&s.redirect_uri) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "redirect_uri").into_response(),
    };
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", p.state.as_deref().unwrap_or(""))
        .append_pair("iss", &s.issuer);
    Redirect::to(to.as_str()).into_response()
}

fn oauth_error(code: StatusCode, error: &str) -> Response {
    (code, Json(json!({ "error": error }))).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
}

fn claims_of(user: &DemoUser) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("sub".into(), json!(user.login));
    m.insert("name".into(), json!(user.name));
    m.insert("dokflyt_role".into(), json!(user.role));
    m.insert("dokflyt_schools".into(), json!(user.schools));
    // The example events' municipality (Fjellvik kommune).
    m.insert("dokflyt_municipality".into(), json!("4699"));
    m
}

async fn token(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{}:{}", s.client_id, s.client_secret);
    if basic.as_deref() != Some(expected.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if f.grant_type != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let Some(grant) = lock(&s.codes).remove(&f.code) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if grant.issued.elapsed() > Duration::from_secs(60)
        || f.redirect_uri != s.redirect_uri
        || pkce_challenge(&f.code_verifier) != grant.challenge
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let Some(user) = USERS.iter().find(|u| u.login == grant.login) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let now = chrono::Utc::now().timestamp();
    let mut claims = claims_of(user);
    claims.insert("iss".into(), json!(s.issuer));
    claims.insert("aud".into(), json!(s.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 300));
    claims.insert("acr".into(), json!(grant.level.acr));
    claims.insert("amr".into(), json!(grant.level.amr));
    claims.insert("auth_time".into(), json!(now));
    if let Some(n) = grant.nonce {
        claims.insert("nonce".into(), json!(n));
    }
    let id_token = s.signer.sign(&Value::Object(claims));
    let access = random_token(24);
    lock(&s.tokens).insert(access.clone(), user.login);
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

async fn userinfo(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let login = lock(&s.tokens).get(token).copied();
    match login.and_then(|l| USERS.iter().find(|u| u.login == l)) {
        Some(u) => Json(Value::Object(claims_of(u))).into_response(),
        None => oauth_error(StatusCode::UNAUTHORIZED, "invalid_token"),
    }
}

// ---------------------------------------------------------------------------
// The signer both providers use, and the issuer of person assertions.

/// An Ed25519 key that signs compact JWS (EdDSA): the providers' ID tokens and a
/// client's person assertions.
pub struct Signer {
    key: Ed25519KeyPair,
    pub kid: String,
}

impl Default for Signer {
    fn default() -> Self {
        Signer::new()
    }
}

impl Signer {
    /// A fresh key with a random `kid`.
    pub fn new() -> Signer {
        Signer::with_kid(&uuid::Uuid::new_v4().simple().to_string())
            .expect("the system's random generator makes an Ed25519 key")
    }

    /// A fresh key named `kid`.
    pub fn with_kid(kid: &str) -> anyhow::Result<Signer> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow::anyhow!("cannot generate an Ed25519 signing key"))?;
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| anyhow::anyhow!("cannot load the Ed25519 signing key"))?;
        Ok(Signer {
            key,
            kid: kid.to_string(),
        })
    }

    /// The public key as PEM (SubjectPublicKeyInfo), as a client registers it.
    pub fn public_pem(&self) -> String {
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(self.key.public_key().as_ref());
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    }

    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.key.public_key().as_ref()),
        })
    }

    /// A compact JWS of `claims` (EdDSA).
    pub fn sign(&self, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD
            .encode(json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(self.key.sign(input.as_bytes()).as_ref());
        format!("{input}.{sig}")
    }
}

/// The claims of a person assertion: `sub`, role, schools, `acr`, a fresh `jti`,
/// `iat` now and `exp` `lifetime` seconds later.
pub fn claims(
    iss: &str,
    aud: &str,
    sub: &str,
    role: &str,
    schools: &[&str],
    acr: &str,
    lifetime: i64,
) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": iss, "aud": aud, "sub": sub,
        "dokflyt_role": role, "dokflyt_schools": schools,
        "acr": acr,
        "iat": now, "exp": now + lifetime,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// The issuer of person assertions (the municipality's identity provider, as
/// `oidc` fetches it): discovery and JWKS only, signing with [`Signer`]. The
/// sign-in flow is [`DemoIdp`]'s.
pub struct LocalIdp {
    pub issuer: String,
    pub signer: Signer,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalIdp {
    pub async fn start() -> LocalIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the identity provider listens on a loopback port");
        let issuer = format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        );
        let signer = Signer::new();
        let i = issuer.clone();
        let jwks = json!({ "keys": [signer.jwk()] });
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let i = i.clone();
                    async move {
                        Json(json!({
                            "issuer": i,
                            "authorization_endpoint": format!("{i}/authorize"),
                            "token_endpoint": format!("{i}/token"),
                            "jwks_uri": format!("{i}/jwks"),
                        }))
                    }
                }),
            )
            .route("/jwks", get(move || async move { Json(jwks.clone()) }));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        LocalIdp {
            issuer,
            signer,
            task,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_levels_map_to_low_substantial_high() {
        let s = dokflyt::config::AssuranceSettings::default();
        let levels: Vec<dokflyt::assurance::Level> = LEVELS
            .iter()
            .map(|l| {
                let amr: Vec<String> = l.amr.iter().map(|a| a.to_string()).collect();
                s.level_of(Some(l.acr), &amr)
            })
            .collect();
        assert_eq!(levels, dokflyt::assurance::Level::ALL.to_vec());
        for l in LEVELS {
            assert_eq!(
                l.key.parse::<dokflyt::assurance::Level>().ok(),
                Some(s.level_of(Some(l.acr), &[]))
            );
        }
    }

    #[test]
    fn acr_values_pick_the_strongest_known_level() {
        assert_eq!(
            requested_level(Some("idporten-loa-high")).map(|l| l.key),
            Some("high")
        );
        assert_eq!(
            requested_level(Some("idporten-loa-substantial idporten-loa-high")).map(|l| l.key),
            Some("high")
        );
        assert!(requested_level(Some("something-else")).is_none());
        assert!(requested_level(None).is_none());
    }
}
