//! A local SvarUt v2 stand-in: a real HTTP server speaking the three endpoints
//! dokflyt uses, for the demo and the tests. Not in the product.
//!
//! Stage: none (a stand-in for the national service). Input: HTTP requests from
//! [`dokflyt::channels::svarut::SvarUtClient`]. Output: `POST .../forsendelser` (multipart,
//! checked: auth headers, the `forsendelse` JSON part first, required fields, the
//! files in `dokumenter` order with matching file names, PDFs), `GET
//! .../forsendelser?eksternRef=` and `POST .../forsendelser/status-sok`. Each
//! status-sok moves every asked forsendelse one step along its status path
//! (digital: MOTTATT → AKSEPTERT → SENDT_DIGITALT → VARSLET → LEST; print: MOTTATT
//! → AKSEPTERT → SENDT_PRINT → PRINTET), so the demo shows statuses moving.
//! Failure: a request breaking the contract gets 400 (or 401 for auth) and is
//! kept in [`SvarUtStandIn::violations`] for tests to assert on.
//!
//! Scripting for tests: [`SvarUtStandIn::script_next`] sets the next forsendelse's
//! status path (e.g. MOTTATT, AVVIST); [`SvarUtStandIn::fail_next`] makes the next
//! send store the forsendelse and then answer late (a client timeout) or with 500.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use dokflyt::config::SvarUtSettings;
use dokflyt::Secret;

/// The stand-in's certificate and key (`dev/keys/`): a throwaway pair for the
/// demo and the tests, protecting nothing, and never in the product binary.
/// Production uses SvarUt's published certificate (`svarut.encryption_certificate`).
pub const DEMO_CERT: &str = include_str!("../../keys/svarut-demo-cert.pem");
/// The private half of [`DEMO_CERT`] (tests sign Maskinporten grants and client
/// certificates with it too).
pub const DEMO_KEY: &str = include_str!("../../keys/svarut-demo-key.pem");

/// The credentials the stand-in expects.
#[derive(Debug, Clone)]
pub struct StandInAuth {
    pub konto_id: String,
    pub token: String,
    pub integrasjon_id: String,
    pub integrasjon_passord: String,
}

impl Default for StandInAuth {
    fn default() -> Self {
        StandInAuth {
            konto_id: "5b1d4c2e-0d7e-4a53-9f7c-3f0c1b2a9e11".into(),
            token: "standin-maskinporten-token".into(),
            integrasjon_id: "standin-integrasjon".into(),
            integrasjon_passord: "standin-passord".into(),
        }
    }
}

/// A scripted fault for the next send.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Store the forsendelse, then answer only after this long (a client timeout).
    SlowAfterStore(Duration),
    /// Store the forsendelse, then answer 500.
    ServerErrorAfterStore,
}

/// One forsendelse the stand-in accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub ekstern_ref: Option<String>,
    pub forsendelse: Value,
    /// (file name, size, content type) of each file part, in order.
    pub files: Vec<(String, usize, String)>,
    /// The files came encrypted (CMS) and decrypted to PDFs with the stand-in's key.
    pub encrypted: bool,
    /// SHA-256 (hex) of each file as SvarUt would deliver it (decrypted).
    pub file_sha256: Vec<String>,
    pub path: Vec<String>,
    pub pos: usize,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    violations: Vec<String>,
    lookups: usize,
    /// Look-ups that found a forsendelse (an in-doubt send adopted, not resent).
    lookups_found: usize,
    status_queries: usize,
    next_paths: VecDeque<Vec<String>>,
    faults: VecDeque<Fault>,
}

struct Shared {
    auth: StandInAuth,
    inner: Mutex<Inner>,
}

pub struct SvarUtStandIn {
    pub addr: SocketAddr,
    pub auth: StandInAuth,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl SvarUtStandIn {
    /// Starts on `bind` (e.g. `127.0.0.1:0`).
    pub async fn start(bind: &str, auth: StandInAuth) -> std::io::Result<SvarUtStandIn> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            auth: auth.clone(),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route(
                "/api/v2/kontoer/{konto}/forsendelser",
                post(send).get(lookup),
            )
            .route(
                "/api/v2/kontoer/{konto}/forsendelser/status-sok",
                post(status_sok),
            )
            .with_state(shared.clone());
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await })
                .await;
        });
        Ok(SvarUtStandIn {
            addr,
            auth,
            shared,
            stop,
        })
    }

    /// Client settings that reach this stand-in with the right credentials.
    pub fn client_settings(&self) -> SvarUtSettings {
        SvarUtSettings {
            base_url: format!("http://{}/api", self.addr),
            konto_id: self.auth.konto_id.clone(),
            maskinporten_token: Secret::new(self.auth.token.clone()),
            integrasjon_id: self.auth.integrasjon_id.clone(),
            integrasjon_passord: Secret::new(self.auth.integrasjon_passord.clone()),
            encryption_certificate: DEMO_CERT.to_string(),
            ..SvarUtSettings::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The status path of the next accepted forsendelse.
    pub fn script_next(&self, path: &[&str]) {
        self.lock()
            .next_paths
            .push_back(path.iter().map(|s| s.to_string()).collect());
    }

    pub fn fail_next(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Forsendelser stored under an eksternReferanse.
    pub fn count_for(&self, ekstern_ref: &str) -> usize {
        self.lock()
            .received
            .iter()
            .filter(|r| r.ekstern_ref.as_deref() == Some(ekstern_ref))
            .count()
    }

    pub fn lookups(&self) -> usize {
        self.lock().lookups
    }

    /// Look-ups that found the forsendelse they asked for.
    pub fn lookups_found(&self) -> usize {
        self.lock().lookups_found
    }

    /// Forsendelser per `eksternReferanse` (those sent without one are not counted).
    pub fn per_ekstern_ref(&self) -> std::collections::HashMap<String, usize> {
        let mut m = std::collections::HashMap::new();
        for r in self.lock().received.iter() {
            if let Some(k) = &r.ekstern_ref {
                *m.entry(k.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    pub fn status_queries(&self) -> usize {
        self.lock().status_queries
    }

    /// Every contract violation seen (wrong auth, part order, missing fields…).
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }
}

impl Drop for SvarUtStandIn {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({
            "status": status.as_u16(),
            "error": status.canonical_reason().unwrap_or(""),
            "errorId": Uuid::new_v4(),
            "message": message,
        })),
    )
        .into_response()
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn violation(&self, status: StatusCode, message: String) -> Response {
        self.lock().violations.push(message.clone());
        error(status, &message)
    }

    fn check_auth(&self, konto: &str, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
        if h("authorization") != format!("Bearer {}", self.auth.token)
            || h("integrasjonid") != self.auth.integrasjon_id
            || h("integrasjonpassord") != self.auth.integrasjon_passord
        {
            return Err(Box::new(self.violation(
                StatusCode::UNAUTHORIZED,
                "missing or wrong Authorization / IntegrasjonId / IntegrasjonPassord".into(),
            )));
        }
        if konto != self.auth.konto_id {
            return Err(Box::new(self.violation(
                StatusCode::FORBIDDEN,
                format!("unknown konto {konto}"),
            )));
        }
        Ok(())
    }
}

/// Checks a forsendelse's metadata against the v2 contract; the problems found.
pub fn check_forsendelse(f: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let s = |v: &Value| v.as_str().map(str::to_string);
    if s(&f["tittel"]).is_none_or(|t| t.trim().is_empty() || t.chars().count() > 1000) {
        p.push("tittel is required (1–1000 characters)".into());
    }
    let m = &f["mottaker"];
    if s(&m["navn"]).is_none_or(|t| t.trim().is_empty()) {
        p.push("mottaker.navn is required".into());
    }
    let kun_digital = f["kunDigitalLevering"].as_bool().unwrap_or(false);
    if kun_digital && s(&m["digitalId"]).is_none() {
        p.push("mottaker.digitalId is required with kunDigitalLevering".into());
    }
    if !kun_digital && (s(&m["postnummer"]).is_none() || s(&m["poststed"]).is_none()) {
        p.push("mottaker.postnummer and poststed are required unless kunDigitalLevering".into());
    }
    if let Some(k) = s(&f["konteringskode"]) {
        let ok = k.chars().count() <= 20
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.øæåØÆÅ".contains(c));
        if !ok {
            p.push("konteringskode does not match ^[a-zA-Z0-9_\\-.øæåØÆÅ]{0,20}$".into());
        }
    }
    for (field, max) in [
        ("eksternReferanse", 100),
        ("korrelasjonsid", 100),
        ("avgivendeSystem", 100),
        ("forsendelsestype", 100),
    ] {
        if s(&f[field]).is_some_and(|v| v.chars().count() > max) {
            p.push(format!("{field} is longer than {max}"));
        }
    }
    match f["dokumenter"].as_array() {
        Some(d) if !d.is_empty() => {
            for doc in d {
                if s(&doc["filnavn"]).is_none() || s(&doc["mimeType"]).is_none() {
                    p.push("every dokument needs filnavn and mimeType".into());
                }
            }
        }
        _ => p.push("dokumenter must list the files".into()),
    }
    p
}

async fn send(
    State(sh): State<Arc<Shared>>,
    Path(konto): Path<String>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    if let Err(r) = sh.check_auth(&konto, &headers) {
        return *r;
    }
    let mut forsendelse: Option<Value> = None;
    let mut files: Vec<(String, usize, String)> = Vec::new();
    let mut file_sha256: Vec<String> = Vec::new();
    let mut first = true;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return sh.violation(StatusCode::BAD_REQUEST, format!("bad multipart: {e}")),
        };
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let content_type = field.content_type().unwrap_or("").to_string();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => return sh.violation(StatusCode::BAD_REQUEST, format!("bad multipart: {e}")),
        };
        if first {
            first = false;
            if name != "forsendelse" {
                return sh.violation(
                    StatusCode::BAD_REQUEST,
                    format!("the first part must be named forsendelse, was {name:?}"),
                );
            }
            if !content_type.starts_with("application/json") {
                return sh.violation(
                    StatusCode::BAD_REQUEST,
                    format!("the forsendelse part must be application/json, was {content_type:?}"),
                );
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => forsendelse = Some(v),
                Err(e) => {
                    return sh.violation(
                        StatusCode::BAD_REQUEST,
                        format!("the forsendelse part is not JSON: {e}"),
                    )
                }
            }
            continue;
        }
        let Some(file_name) = file_name else {
            return sh.violation(
                StatusCode::BAD_REQUEST,
                format!("part {name:?} after forsendelse has no filename"),
            );
        };
        let encrypted = forsendelse
            .as_ref()
            .is_some_and(|f| f["kryptert"] == Value::Bool(true));
        let bytes = if encrypted {
            // SvarUt decrypts with its private key when the recipient downloads.
            match dokflyt::channels::cms::decrypt(&bytes, DEMO_KEY) {
                Ok(plain) => axum::body::Bytes::from(plain),
                Err(e) => {
                    return sh.violation(
                        StatusCode::BAD_REQUEST,
                        format!("file {file_name:?} is marked kryptert but does not decrypt: {e}"),
                    )
                }
            }
        } else {
            bytes
        };
        if !bytes.starts_with(b"%PDF-") {
            return sh.violation(
                StatusCode::BAD_REQUEST,
                format!("file {file_name:?} is not a PDF"),
            );
        }
        {
            use sha2::Digest;
            file_sha256.push(hex::encode(sha2::Sha256::digest(&bytes)));
        }
        files.push((file_name, bytes.len(), content_type));
    }
    let Some(f) = forsendelse else {
        return sh.violation(StatusCode::BAD_REQUEST, "no forsendelse part".into());
    };
    let mut problems = check_forsendelse(&f);
    if f["krevNiva4Innlogging"] == Value::Bool(true) && f["kryptert"] != Value::Bool(true) {
        problems.push("krevNiva4Innlogging requires encrypted documents (kryptert)".into());
    }
    let encrypted = f["kryptert"] == Value::Bool(true);
    let declared: Vec<String> = f["dokumenter"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|x| x["filnavn"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let sent: Vec<String> = files.iter().map(|x| x.0.clone()).collect();
    if declared != sent {
        problems.push(format!(
            "the files {sent:?} do not match dokumenter {declared:?} in order"
        ));
    }
    if !problems.is_empty() {
        return sh.violation(StatusCode::BAD_REQUEST, problems.join("; "));
    }
    let kun_digital = f["kunDigitalLevering"].as_bool().unwrap_or(false);
    let has_digital = f["mottaker"]["digitalId"].is_string();
    let id = Uuid::new_v4().to_string();
    let fault = {
        let mut inner = sh.lock();
        let path = inner.next_paths.pop_front().unwrap_or_else(|| {
            let p: &[&str] = if has_digital || kun_digital {
                &["MOTTATT", "AKSEPTERT", "SENDT_DIGITALT", "VARSLET", "LEST"]
            } else {
                &["MOTTATT", "AKSEPTERT", "SENDT_PRINT", "PRINTET"]
            };
            p.iter().map(|s| s.to_string()).collect()
        });
        inner.received.push(Received {
            id: id.clone(),
            ekstern_ref: f["eksternReferanse"].as_str().map(str::to_string),
            forsendelse: f,
            files,
            encrypted,
            file_sha256,
            path,
            pos: 0,
        });
        inner.faults.pop_front()
    };
    match fault {
        Some(Fault::SlowAfterStore(d)) => {
            tokio::time::sleep(d).await;
            Json(json!({ "id": id })).into_response()
        }
        Some(Fault::ServerErrorAfterStore) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "intern feil")
        }
        None => Json(json!({ "id": id })).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LookupQuery {
    ekstern_ref: Option<String>,
}

async fn lookup(
    State(sh): State<Arc<Shared>>,
    Path(konto): Path<String>,
    headers: HeaderMap,
    Query(q): Query<LookupQuery>,
) -> Response {
    if let Err(r) = sh.check_auth(&konto, &headers) {
        return *r;
    }
    let Some(r) = q.ekstern_ref else {
        return sh.violation(StatusCode::BAD_REQUEST, "eksternRef is required".into());
    };
    let mut inner = sh.lock();
    inner.lookups += 1;
    let ids: Vec<String> = inner
        .received
        .iter()
        .filter(|x| x.ekstern_ref.as_deref() == Some(r.as_str()))
        .map(|x| x.id.clone())
        .collect();
    if !ids.is_empty() {
        inner.lookups_found += 1;
    }
    Json(json!({ "forsendelseIds": ids })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusSok {
    forsendelse_ids: Vec<String>,
}

async fn status_sok(
    State(sh): State<Arc<Shared>>,
    Path(konto): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = sh.check_auth(&konto, &headers) {
        return *r;
    }
    let q: StatusSok = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => return sh.violation(StatusCode::BAD_REQUEST, format!("bad StatusSok: {e}")),
    };
    let now = chrono::Utc::now().to_rfc3339();
    let mut inner = sh.lock();
    inner.status_queries += 1;
    let mut statuser = Vec::new();
    for id in &q.forsendelse_ids {
        if let Some(r) = inner.received.iter_mut().find(|r| &r.id == id) {
            let status = r.path.get(r.pos).cloned().unwrap_or_default();
            if r.pos + 1 < r.path.len() {
                r.pos += 1;
            }
            statuser.push(json!({ "id": id, "status": status, "sisteStatusEndring": now }));
        }
    }
    Json(json!({ "statuser": statuser })).into_response()
}
