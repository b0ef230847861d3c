//! Person assertions for the tests: a registered API client with its Ed25519
//! assertion key ([`ApiCaller`]) and its calls to a running dokflyt. The signer and
//! the local identity provider that publishes its key as a JWKS behind OpenID
//! discovery are the one copy in `dokflyt_dev::standins::idp`, re-exported here.
#![allow(dead_code)]

pub use dokflyt_dev::standins::idp::{claims, LocalIdp, Signer};

use serde_json::{json, Value};

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
