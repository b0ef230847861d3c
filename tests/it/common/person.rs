//! Person assertions for the tests: an Ed25519 signer (a client's registered key,
//! or an identity provider's), and a local identity provider that publishes its
//! key as a JWKS behind OpenID discovery, so dokflyt fetches and verifies it over
//! real HTTP exactly as it would the municipality's provider.
#![allow(dead_code)]

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

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
    pub fn new() -> Signer {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
        Signer {
            key: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key"),
            kid: uuid::Uuid::new_v4().simple().to_string(),
        }
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

/// A local identity provider: discovery and JWKS, signing with [`Signer`].
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
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
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

/// A registered API client with `sms:request` and an Ed25519 assertion key, and
/// its calls to a running dokflyt.
pub struct ApiCaller {
    pub http: std::net::SocketAddr,
    pub secret: String,
    pub client_id: uuid::Uuid,
    pub name: String,
    pub signer: Signer,
}

impl ApiCaller {
    /// Registers a client of `municipality` for `schools` (`None`: all of them).
    pub async fn register(
        pool: &sqlx::PgPool,
        http: std::net::SocketAddr,
        municipality: &str,
        schools: Option<&[&str]>,
    ) -> ApiCaller {
        use dokflyt::clients::{NewClient, SchoolScope, Scope};
        let name = format!(
            "skolesystem-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let (client, secret) = dokflyt::clients::add(
            pool,
            &NewClient {
                name: name.clone(),
                municipality_number: municipality.into(),
                schools: match schools {
                    None => SchoolScope::All,
                    Some(s) => SchoolScope::Only(s.iter().map(|x| x.to_string()).collect()),
                },
                scopes: vec![Scope::SmsRequest],
            },
        )
        .await
        .expect("client registered");
        let signer = Signer::new();
        dokflyt::assertion::set_client_key(pool, &name, &signer.public_pem())
            .await
            .expect("key registered");
        ApiCaller {
            http,
            secret,
            client_id: client.id,
            name,
            signer,
        }
    }

    /// A fresh assertion by this client's key for `sub` (2 minutes, new jti).
    pub fn assertion(&self, sub: &str, role: &str, schools: &[&str], acr: &str) -> String {
        self.signer.sign(&claims(
            &self.client_id.to_string(),
            "dokflyt",
            sub,
            role,
            schools,
            acr,
            120,
        ))
    }

    /// The id dokflyt gives a person this client proves.
    pub fn person_id(&self, sub: &str) -> String {
        format!("klient:{}:{sub}", self.name)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut r = reqwest::Client::new()
            .request(method, format!("http://{}{path}", self.http))
            .bearer_auth(&self.secret);
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The acting-user headers (preview, status, costs).
    pub fn as_user(user: &str, role: &str, schools: &[&str]) -> Vec<(&'static str, String)> {
        vec![
            ("x-dokflyt-user", user.to_string()),
            ("x-dokflyt-role", role.to_string()),
            ("x-dokflyt-schools", schools.join(",")),
        ]
    }

    pub async fn preview(&self, school: &str, user: &str, role: &str, text: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/api/schools/{school}/emergency-sms/preview"),
            &ApiCaller::as_user(user, role, &[school]),
            Some(&json!({"text": text, "reason": "Strømbrudd", "on_owner_instruction": false})),
        )
        .await
    }

    /// Sends `token`'s preview as the person `assertion` proves.
    pub async fn send(&self, school: &str, token: &Value, assertion: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/api/schools/{school}/emergency-sms"),
            &[("x-dokflyt-person", assertion.to_string())],
            Some(&json!({"preview_token": token})),
        )
        .await
    }

    pub async fn approve(&self, school: &str, message: &str, assertion: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/api/schools/{school}/emergency-sms/{message}/approve"),
            &[("x-dokflyt-person", assertion.to_string())],
            Some(&json!({"reason": "Godkjent"})),
        )
        .await
    }
}
