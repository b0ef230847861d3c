//! The archive stand-in: a real HTTP server that speaks Fiks Arkiv. It validates
//! every request's arkivmelding against the vendored opprett schema with xmllint
//! (`specs/fiks-arkiv-v2/`), keeps journal posts and folders by their external
//! keys (so a resend gets «Eksisterende», like a real archive), and answers per a
//! script of [`Action`]s (500, ugyldigforespoersel, serverfeil, malformed, a
//! receipt for another document, a slow answer after the journal post was
//! created), optionally behind a Maskinporten bearer token.
//!
//! Stage: none (a stand-in for the municipality's Noark 5 archive). Input: the
//! transfer's multipart POSTs to `/arkivmelding`. Output: receipts or faults as a
//! real archive writes them; what it saw in [`Archive`] for tests to assert on.
//! Failure: a request breaking the contract gets 400 and is kept in
//! [`Archive::invalid`].
//!
//! For throughput ([`StandIn::start_for_throughput`], `dokflyt-dev bench
//! archive`): no schema check and no bookkeeping; it reads only the journal
//! post's external key from the message and answers its receipt, so the stand-in
//! takes as little as possible of the cores the measured transfer runs on.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use dokflyt::archive::receipt::{write_fault, write_receipt, Fault, Receipt};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

pub const NS_OPPRETT: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/arkivmelding/opprett/v2";
pub const NS_MDK: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/metadatakatalog/v2";

#[derive(Debug, Clone)]
pub enum Action {
    /// Register (or find) the journal post and answer with its receipt.
    Normal,
    Status500,
    /// 503 with `Retry-After: 1` (the archive is briefly unavailable).
    Unavailable,
    ServerFeil,
    Ugyldig,
    Malformed,
    /// A well-formed receipt, but for another external key.
    WrongKey,
    /// Register the journal post, then answer only after this delay.
    SlowAfterCommit(Duration),
}

#[derive(Default)]
pub struct Archive {
    pub script: VecDeque<Action>,
    /// journal post by external key: (systemID, sequence number)
    pub posts: HashMap<String, (String, i32)>,
    /// journal posts created per external key (must never exceed 1)
    pub created: HashMap<String, u32>,
    /// requests received per external key
    pub requests: HashMap<String, u32>,
    /// scripted faults served on journal-post requests, per kind
    pub served: HashMap<&'static str, u32>,
    pub folders: HashMap<String, String>,
    pub folders_created: HashMap<String, u32>,
    /// Case sequence numbers of folders created on their own.
    pub case_numbers: HashMap<String, i32>,
    /// schema violations and malformed requests
    pub invalid: Vec<String>,
    pub next_seq: i32,
}

#[derive(Clone)]
pub struct StandIn {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<Archive>>,
    /// Added to every answer, to make concurrent runs overlap.
    pub delay: Duration,
    /// Validate every request with xmllint (off only for the throughput measurement).
    pub validate: bool,
    /// When set, every request must carry `Authorization: Bearer <this>` (as Fiks
    /// Arkiv behind Maskinporten); others get 401 and are counted.
    pub bearer: Arc<Mutex<Option<String>>>,
    /// Requests refused for a missing or wrong bearer token.
    pub unauthorised: Arc<Mutex<u32>>,
    /// The throughput mode: no schema check, no bookkeeping, every journal post
    /// registered at once (journal sequence numbers from `throughput_seq`).
    pub throughput: bool,
    throughput_seq: Arc<AtomicI32>,
}

impl StandIn {
    pub async fn start(script: Vec<Action>, delay: Duration) -> StandIn {
        StandIn::start_with(script, delay, true).await
    }

    /// As [`StandIn::start`]; `validate` off skips the schema check.
    pub async fn start_with(script: Vec<Action>, delay: Duration, validate: bool) -> StandIn {
        StandIn::launch(script, delay, validate, false)
            .await
            .expect("the archive stand-in listens on a loopback port")
    }

    /// The throughput mode (module doc), for the benchmark.
    pub async fn start_for_throughput() -> std::io::Result<StandIn> {
        StandIn::launch(Vec::new(), Duration::ZERO, false, true).await
    }

    async fn launch(
        script: Vec<Action>,
        delay: Duration,
        validate: bool,
        throughput: bool,
    ) -> std::io::Result<StandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(Archive {
            script: script.into(),
            next_seq: 1000,
            ..Archive::default()
        }));
        let s = StandIn {
            addr,
            state,
            delay,
            validate,
            bearer: Arc::default(),
            unauthorised: Arc::default(),
            throughput,
            throughput_seq: Arc::new(AtomicI32::new(1)),
        };
        let app = axum::Router::new()
            .route("/arkivmelding", post(handle))
            .with_state(s.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(s)
    }

    pub fn url(&self) -> String {
        format!("http://{}/arkivmelding", self.addr)
    }

    /// Requires `Authorization: Bearer <token>` from now on.
    pub fn require_bearer(&self, token: &str) {
        *self.bearer.lock().expect("lock") = Some(token.to_string());
    }

    pub fn with<T>(&self, f: impl FnOnce(&Archive) -> T) -> T {
        f(&self.state.lock().expect("lock"))
    }
}

/// The parts of a multipart body: (name, content).
pub fn multipart(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .ok_or("no content-type")?;
    let boundary = ct
        .split("boundary=")
        .nth(1)
        .ok_or("not multipart")?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(start) = find(rest, &delim) {
        rest = &rest[start + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").ok_or("part without headers")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let content_start = head_end + 4;
        let next = find(&rest[content_start..], &delim).ok_or("unterminated part")?;
        let mut content = &rest[content_start..content_start + next];
        if content.ends_with(b"\r\n") {
            content = &content[..content.len() - 2];
        }
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .ok_or("part without name")?
            .to_string();
        parts.push((name, content.to_vec()));
        rest = &rest[content_start + next..];
    }
    Ok(parts)
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Validates an arkivmelding against the vendored opprett schema with xmllint.
pub fn xmllint_opprett(xml: &[u8]) -> Result<(), String> {
    // The repository's specs/ (dev/ is one level down).
    let schema = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("specs/fiks-arkiv-v2/no.ks.fiks.arkiv.v2.arkivering.arkivmelding.opprett.xsd");
    let mut f = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut f, xml).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(f.path())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn el<'a, 'i>(
    n: roxmltree::Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.tag_name().name() == name && c.tag_name().namespace() == Some(ns))
}

/// (folder key, journal post key) of an arkivmelding.
pub fn keys(xml: &str) -> Option<(String, String)> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    let key_of = |n: roxmltree::Node<'_, '_>| {
        let k = el(n, NS_OPPRETT, "referanseEksternNoekkel")?;
        el(k, NS_MDK, "noekkel")?.text().map(str::to_string)
    };
    let folder = key_of(el(root, NS_OPPRETT, "mappe")?)?;
    let post = key_of(el(root, NS_OPPRETT, "registrering")?)?;
    Some((folder, post))
}

pub async fn handle(
    state: State<StandIn>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (status, text) = answer(state, headers, body).await;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return (status, [(axum::http::header::RETRY_AFTER, "1")], text).into_response();
    }
    (status, text).into_response()
}

/// The answer to one POST (status and body); [`handle`] adds the headers.
async fn answer(State(s): State<StandIn>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    if s.throughput {
        let seq = s.throughput_seq.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::OK, throughput_receipt(&body, seq));
    }
    let fault = |m: &str| Fault {
        id: Uuid::new_v4().to_string(),
        message: m.to_string(),
    };
    let wanted = s.bearer.lock().expect("lock").clone();
    if let Some(token) = wanted {
        let got = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if got != Some(format!("Bearer {token}").as_str()) {
            *s.unauthorised.lock().expect("lock") += 1;
            return (StatusCode::UNAUTHORIZED, String::new());
        }
    }
    let parts = match multipart(&headers, &body) {
        Ok(p) => p,
        Err(e) => {
            s.state.lock().expect("lock").invalid.push(e.to_string());
            return (StatusCode::BAD_REQUEST, write_fault(false, &fault(&e)));
        }
    };
    let Some((_, xml)) = parts.iter().find(|(n, _)| n == "arkivmelding") else {
        s.state
            .lock()
            .expect("lock")
            .invalid
            .push("no arkivmelding part".into());
        return (
            StatusCode::BAD_REQUEST,
            write_fault(false, &fault("mangler arkivmelding")),
        );
    };
    let xml_for_lint = xml.clone();
    let lint = if s.validate {
        tokio::task::spawn_blocking(move || xmllint_opprett(&xml_for_lint))
            .await
            .expect("xmllint task")
    } else {
        Ok(())
    };
    let xml = String::from_utf8_lossy(xml).into_owned();
    if let Some(folder_key) = folder_only_key(&xml) {
        // A folder on its own (the school folder of a new year).
        if let Err(e) = lint {
            s.state.lock().expect("lock").invalid.push(e.clone());
            return (StatusCode::BAD_REQUEST, write_fault(false, &fault(&e)));
        }
        let action = s
            .state
            .lock()
            .expect("lock")
            .script
            .pop_front()
            .unwrap_or(Action::Normal);
        return match action {
            Action::Ugyldig => (
                StatusCode::BAD_REQUEST,
                write_fault(false, &fault("Ukjent tilgangsgruppe")),
            ),
            Action::Status500 => (StatusCode::INTERNAL_SERVER_ERROR, "nede".into()),
            Action::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "nede".into()),
            _ => (StatusCode::OK, register_folder(&s, &folder_key)),
        };
    }
    let Some((folder_key, post_key)) = keys(&xml) else {
        s.state
            .lock()
            .expect("lock")
            .invalid
            .push("no external keys".into());
        return (
            StatusCode::BAD_REQUEST,
            write_fault(false, &fault("mangler nøkler")),
        );
    };
    if let Err(e) = lint {
        s.state.lock().expect("lock").invalid.push(e.clone());
        return (StatusCode::BAD_REQUEST, write_fault(false, &fault(&e)));
    }
    // The file the message references must be in the request.
    let has_pdf = parts
        .iter()
        .any(|(n, c)| n != "arkivmelding" && c.starts_with(b"%PDF-") && xml.contains(n.as_str()));
    if !has_pdf {
        s.state
            .lock()
            .expect("lock")
            .invalid
            .push("no PDF part".into());
        return (
            StatusCode::BAD_REQUEST,
            write_fault(false, &fault("mangler dokumentfil")),
        );
    }
    let action = {
        let mut a = s.state.lock().expect("lock");
        *a.requests.entry(post_key.clone()).or_default() += 1;
        let action = a.script.pop_front().unwrap_or(Action::Normal);
        let kind = match action {
            Action::Normal => None,
            Action::Status500 => Some("http_500"),
            Action::Unavailable => Some("http_503_retry_after"),
            Action::ServerFeil => Some("serverfeil"),
            Action::Ugyldig => Some("ugyldig"),
            Action::Malformed => Some("malformed_receipt"),
            Action::WrongKey => Some("receipt_for_another_document"),
            Action::SlowAfterCommit(_) => Some("timeout_after_commit"),
        };
        if let Some(k) = kind {
            *a.served.entry(k).or_default() += 1;
        }
        action
    };
    tokio::time::sleep(s.delay).await;
    match action {
        Action::Status500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<html>Internal Server Error</html>".into(),
        ),
        Action::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "<html>Service Unavailable</html>".into(),
        ),
        Action::ServerFeil => (
            StatusCode::INTERNAL_SERVER_ERROR,
            write_fault(true, &fault("Databasen er utilgjengelig")),
        ),
        Action::Ugyldig => (
            StatusCode::BAD_REQUEST,
            write_fault(false, &fault("Ukjent arkivdel for elevmapper")),
        ),
        Action::Malformed => (StatusCode::OK, "<kvittering>ok".into()),
        Action::WrongKey => {
            let r = Receipt {
                system_id: Uuid::new_v4().to_string(),
                external_key: Some(Uuid::new_v4().to_string()),
                ..Receipt::default()
            };
            (StatusCode::OK, write_receipt(&r, "dokflyt"))
        }
        Action::Normal => (StatusCode::OK, register(&s, &folder_key, &post_key)),
        Action::SlowAfterCommit(d) => {
            let answer = register(&s, &folder_key, &post_key);
            tokio::time::sleep(d).await;
            (StatusCode::OK, answer)
        }
    }
}

/// The folder key of a folder-only arkivmelding (no registrering).
pub fn folder_only_key(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    if el(root, NS_OPPRETT, "registrering").is_some() {
        return None;
    }
    let m = el(root, NS_OPPRETT, "mappe")?;
    let k = el(m, NS_OPPRETT, "referanseEksternNoekkel")?;
    el(k, NS_MDK, "noekkel")?.text().map(str::to_string)
}

/// Creates a case folder unless its key exists; answers with its case number.
pub fn register_folder(s: &StandIn, key: &str) -> String {
    let mut a = s.state.lock().expect("lock");
    let existing = a.folders.contains_key(key);
    if !existing {
        a.next_seq += 1;
        let id = Uuid::new_v4().to_string();
        a.folders.insert(key.to_string(), id);
        *a.folders_created.entry(key.to_string()).or_default() += 1;
        let seq = a.next_seq;
        a.case_numbers.insert(key.to_string(), seq);
    }
    let seq = a.case_numbers.get(key).copied();
    dokflyt::archive::receipt::write_folder_receipt(
        &dokflyt::archive::receipt::FolderReceipt {
            system_id: a.folders[key].clone(),
            case_year: seq.map(|_| 2026),
            case_sequence: seq,
            existing,
            external_key: Some(key.to_string()),
        },
        "dokflyt",
    )
}

/// Creates the folder and journal post unless their external keys exist; the receipt.
pub fn register(s: &StandIn, folder_key: &str, post_key: &str) -> String {
    let mut a = s.state.lock().expect("lock");
    let folder_existing = a.folders.contains_key(folder_key);
    let folder_id = a
        .folders
        .entry(folder_key.to_string())
        .or_insert_with(|| Uuid::new_v4().to_string())
        .clone();
    if !folder_existing {
        *a.folders_created.entry(folder_key.to_string()).or_default() += 1;
    }
    let existing = a.posts.contains_key(post_key);
    if !existing {
        a.next_seq += 1;
        let seq = a.next_seq;
        a.posts
            .insert(post_key.to_string(), (Uuid::new_v4().to_string(), seq));
        *a.created.entry(post_key.to_string()).or_default() += 1;
    }
    let (system_id, seq) = a.posts[post_key].clone();
    write_receipt(
        &Receipt {
            system_id,
            journal_year: Some(2026),
            journal_sequence: Some(seq),
            journal_post_number: Some(1),
            journal_status: Some("J".into()),
            existing,
            external_key: Some(post_key.to_string()),
            folder_system_id: Some(folder_id),
            folder_existing: Some(folder_existing),
        },
        "dokflyt",
    )
}

/// The throughput mode's answer: a receipt for the last external key in the
/// message (the journal post's; the folder's comes first), read from the
/// arkivmelding part only (it comes first), not the PDF after it.
fn throughput_receipt(body: &[u8], seq: i32) -> String {
    const END: &[u8] = b"</arkivmelding>";
    let xml_end = body
        .windows(END.len())
        .position(|w| w == END)
        .unwrap_or(body.len());
    let text = String::from_utf8_lossy(&body[..xml_end]);
    let key = text
        .rfind("<n5mdk:noekkel>")
        .map(|i| &text[i + "<n5mdk:noekkel>".len()..])
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("")
        .to_string();
    write_receipt(
        &Receipt {
            system_id: Uuid::new_v4().to_string(),
            journal_year: Some(2026),
            journal_sequence: Some(seq),
            journal_post_number: Some(1),
            journal_status: Some("J".into()),
            existing: false,
            external_key: Some(key),
            folder_system_id: Some(Uuid::new_v4().to_string()),
            folder_existing: Some(true),
        },
        "dokflyt",
    )
}
