//! A local stand-in for Digdir's contact and reservation register (Kontakt- og
//! reservasjonsregisteret, KRR): its REST lookup service, for the tests and the demo.
//! Not in the product.
//!
//! Stage: none (a stand-in for the national service). Input: `POST
//! /rest/v1/personer` with `Authorization: Bearer <token>` (the token the
//! Maskinporten stand-in issues for [`SCOPES`]) and the body
//! `{"personidentifikatorer": [..]}` of 1–1,000 ids, as Digdir documents it
//! ("Oppslagstjenesten REST"). Output: `{"personer": [..]}`, one entry per asked
//! id: `personidentifikator`, `reservasjon` (`JA`/`NEI`), `status` (`AKTIV`, or
//! `IKKE_REGISTRERT` for an id it does not hold), `varslingsstatus`
//! (`KAN_VARSLES`/`KAN_IKKE_VARSLES`), `kontaktinformasjon` (`epostadresse`,
//! `mobiltelefonnummer` with their `_oppdatert` and `_sist_verifisert` times),
//! `digital_postkasse` (`postkasseadresse`, `postkasseleverandoeradresse`) and
//! `spraak`. Failure: a wrong token gets 401, a body breaking the contract 400
//! (both kept in [`KrrStandIn::violations`]); [`KrrStandIn::set_unavailable`]
//! makes every lookup answer 503 (the outage tests).
//!
//! Every accepted lookup is recorded with the number of persons it asked for
//! ([`KrrStandIn::calls`]), so tests can prove batching and caching.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

/// The path of the lookup endpoint (`https://krr.digdir.no/rest/v1/personer`).
pub const PATH: &str = "/rest/v1/personer";
/// The scopes a client asks Maskinporten for: contact details, notification
/// status and language, and the digital mailbox.
pub const SCOPES: &str = "krr:global/kontaktinformasjon.read krr:global/digitalpost.read";
/// The token the stand-in accepts unless told otherwise.
pub const TOKEN: &str = "standin-krr-token";
/// Most persons per lookup.
pub const MAX_PER_CALL: usize = 1000;

/// One person the register holds.
#[derive(Debug, Clone, Default)]
pub struct KrrPerson {
    pub national_id: String,
    /// Reserved against digital communication from the public sector.
    pub reserved: bool,
    /// `KAN_VARSLES`: the contact details are recent enough to notify by.
    pub may_notify: bool,
    pub email: Option<String>,
    pub mobile: Option<String>,
    /// A digital mailbox (`postkasseadresse`, provider `digipost` or `eboks`).
    pub mailbox: Option<String>,
    /// `nb`, `nn`, `en`, `se`.
    pub language: Option<String>,
}

impl KrrPerson {
    /// A registered, not reserved person who may be notified, with no details.
    pub fn active(national_id: &str) -> KrrPerson {
        KrrPerson {
            national_id: national_id.to_string(),
            may_notify: true,
            ..KrrPerson::default()
        }
    }

    fn to_json(&self) -> Value {
        let mut kontakt = serde_json::Map::new();
        if let Some(e) = &self.email {
            kontakt.insert("epostadresse".into(), json!(e));
            kontakt.insert(
                "epostadresse_oppdatert".into(),
                json!("2026-06-29T10:14:52+02"),
            );
            kontakt.insert(
                "epostadresse_sist_verifisert".into(),
                json!("2026-06-29T10:14:52+02"),
            );
        }
        if let Some(m) = &self.mobile {
            kontakt.insert("mobiltelefonnummer".into(), json!(m));
            kontakt.insert(
                "mobiltelefonnummer_oppdatert".into(),
                json!("2026-06-29T10:14:52+02"),
            );
            kontakt.insert(
                "mobiltelefonnummer_sist_verifisert".into(),
                json!("2026-06-29T10:14:52+02"),
            );
        }
        let mut p = json!({
            "personidentifikator": self.national_id,
            "reservasjon": if self.reserved { "JA" } else { "NEI" },
            "status": "AKTIV",
            "varslingsstatus": if self.may_notify { "KAN_VARSLES" } else { "KAN_IKKE_VARSLES" },
            "kontaktinformasjon": Value::Object(kontakt),
        });
        if let Some(b) = &self.mailbox {
            p["digital_postkasse"] = json!({
                "postkasseadresse": b,
                "postkasseleverandoeradresse": "984661185",
            });
        }
        if let Some(l) = &self.language {
            p["spraak"] = json!(l);
            p["spraak_oppdatert"] = json!("2026-06-29T10:14:52+02");
        }
        p
    }
}

#[derive(Default)]
struct Inner {
    persons: BTreeMap<String, KrrPerson>,
    unavailable: bool,
    calls: Vec<usize>,
    refused_while_down: usize,
    violations: Vec<String>,
}

struct Shared {
    token: String,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn violation(&self, status: StatusCode, message: &str) -> Response {
        self.lock().violations.push(message.to_string());
        (status, Json(json!({ "error": message }))).into_response()
    }
}

pub struct KrrStandIn {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KrrStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KrrStandIn {
    /// Starts on `bind` (e.g. `127.0.0.1:0`), accepting `token` as the bearer.
    pub async fn start(bind: &str, token: &str) -> std::io::Result<KrrStandIn> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            token: token.to_string(),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route(PATH, post(personer))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(KrrStandIn { addr, shared, task })
    }

    /// The lookup endpoint's URL.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Adds or replaces a person.
    pub fn put(&self, person: KrrPerson) {
        self.shared
            .lock()
            .persons
            .insert(person.national_id.clone(), person);
    }

    /// On: every lookup answers 503 (and is not recorded as a call).
    pub fn set_unavailable(&self, down: bool) {
        self.shared.lock().unavailable = down;
    }

    /// The number of persons asked for in each accepted lookup, in order.
    pub fn calls(&self) -> Vec<usize> {
        self.shared.lock().calls.clone()
    }

    /// Lookups refused with 503 while unavailable.
    pub fn refused_while_down(&self) -> usize {
        self.shared.lock().refused_while_down
    }

    /// Every contract violation seen (wrong token, bad body).
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }
}

async fn personer(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {}", sh.token) {
        return sh.violation(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    {
        let mut inner = sh.lock();
        if inner.unavailable {
            inner.refused_while_down += 1;
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "tjenesten er utilgjengelig" })),
            )
                .into_response();
        }
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return sh.violation(
            StatusCode::BAD_REQUEST,
            "Content-Type must be application/json",
        );
    }
    let parsed: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(_) => return sh.violation(StatusCode::BAD_REQUEST, "the body is not JSON"),
    };
    let Some(ids) = parsed["personidentifikatorer"].as_array() else {
        return sh.violation(
            StatusCode::BAD_REQUEST,
            "personidentifikatorer must be a list",
        );
    };
    if ids.is_empty() || ids.len() > MAX_PER_CALL {
        return sh.violation(
            StatusCode::BAD_REQUEST,
            "personidentifikatorer must hold 1 to 1000 ids",
        );
    }
    let mut inner = sh.lock();
    inner.calls.push(ids.len());
    let personer: Vec<Value> = ids
        .iter()
        .filter_map(Value::as_str)
        .map(|id| match inner.persons.get(id) {
            Some(p) => p.to_json(),
            None => json!({
                "personidentifikator": id,
                "status": "IKKE_REGISTRERT",
                "varslingsstatus": "KAN_IKKE_VARSLES",
            }),
        })
        .collect();
    drop(inner);
    Json(json!({ "personer": personer })).into_response()
}
