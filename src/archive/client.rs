//! Where transfers go: the [`ArchiveClient`] trait and its two targets.
//!
//! Stage: archive transfer, the send. Input: one [`Outgoing`] message (the
//! arkivmelding XML and the PDF, for one event id). Output: a [`Delivered`]
//! receipt with the archive's answer verbatim. Failure: [`TransferError`],
//! classified as transient (connection refused, timeout, HTTP 5xx, `serverfeil`:
//! retried with backoff) or permanent (`ugyldigforespoersel`, a malformed receipt,
//! a receipt for another document, other HTTP 4xx: straight to `feilet`).
//!
//! - [`HttpArchiveClient`]: POSTs `multipart/form-data` with the part
//!   `arkivmelding` (`arkivmelding.xml`) and one part per file, named by its
//!   `referanseDokumentfil`, to the configured endpoint. Outside loopback it
//!   refuses to be built without https and authentication (a Maskinporten bearer
//!   as Fiks Arkiv, or mTLS with a client certificate): see
//!   `ArchiveSettings::check_transport`. Answers are read with a cap
//!   (`archive.max_response_bytes`): a larger 2xx answer is `too_large`
//!   (permanent, like an unreadable receipt); a larger 4xx/5xx is classified by
//!   its status alone.
//! - [`DirectoryArchive`]: the offline package, `<dir>/<event_id>/arkivmelding.xml`
//!   plus the PDF, for municipalities that deliver by file and for the demo.
//!
//! Another transport (Fiks IO, Noark 5 REST) is one more implementation of the
//! trait; the transfer does not change.

use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;
use uuid::Uuid;

use super::receipt::{
    self, ArchiveAnswer, Fault, FolderAnswer, FolderReceipt, Receipt, ReceiptError,
};

/// One document on its way to the archive.
#[derive(Clone)]
pub struct Outgoing {
    pub event_id: Uuid,
    pub xml: String,
    /// (referanseDokumentfil, bytes).
    pub file_name: String,
    pub pdf: Vec<u8>,
}

// The arkivmelding names the pupil and the recipients; the PDF is the letter.
crate::redacted_debug!(Outgoing {
    show: [event_id, file_name],
    hide: [xml, pdf],
});

/// The archive registered the journal post.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub receipt: Receipt,
    /// The archive's answer exactly as received.
    pub verbatim: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("cannot connect to the archive: {0}")]
    Connect(String),
    /// The TLS handshake failed: the archive's certificate is not trusted (not
    /// signed by a CA of the OS store or `tls.ca_bundle`) or does not fit.
    #[error("TLS with the archive failed: {0}")]
    Certificate(String),
    #[error("the archive did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the archive answered HTTP {status}")]
    Http5xx { status: u16, body: String },
    #[error("the archive reported an internal error (serverfeil {})", fault.id)]
    ServerFault { fault: Fault, body: String },
    #[error("the archive refused the message (ugyldigforespoersel {})", fault.id)]
    Rejected { fault: Fault, body: String },
    #[error("the archive did not register the journal post (registreringFeilet {})", fault.id)]
    RegistrationFailed { fault: Fault, body: String },
    #[error("the archive answered HTTP {status} without a Fiks Arkiv error message")]
    Http4xx { status: u16, body: String },
    #[error("the archive's receipt is malformed: {error}")]
    Malformed { error: ReceiptError, body: String },
    #[error("the archive's receipt is for another document (key {got})")]
    WrongDocument { got: String, body: String },
    #[error("cannot write the offline package: {0}")]
    Directory(String),
    #[error("the archive's answer (HTTP {status}) is larger than {limit} bytes; it was not read")]
    TooLarge { status: u16, limit: usize },
    #[error("the archive refused dokflyt's access token (HTTP 401)")]
    Unauthorized,
    #[error("no Maskinporten token for the archive: {0}")]
    Token(String),
    #[error("the archive transport is not allowed: {0}")]
    Insecure(crate::config::TransportError),
    #[error("the archive client cannot be built: {0}")]
    Config(String),
}

impl TransferError {
    /// Worth retrying: the archive or the network may recover.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TransferError::Connect(_)
                // Fixed by the operator (`tls.ca_bundle`); the next run may pass.
                | TransferError::Certificate(_)
                | TransferError::Timeout(_)
                | TransferError::Http5xx { .. }
                | TransferError::ServerFault { .. }
                // The cached token is dropped; the next attempt fetches a new one.
                | TransferError::Unauthorized
                | TransferError::Token(_)
        )
    }

    /// Stable machine-readable class, stored with the row.
    pub fn class(&self) -> &'static str {
        match self {
            TransferError::Connect(_) => "connect",
            TransferError::Certificate(_) => "tls_certificate",
            TransferError::Timeout(_) => "timeout",
            TransferError::Http5xx { .. } => "http_5xx",
            TransferError::ServerFault { .. } => "serverfeil",
            TransferError::Rejected { .. } => "ugyldigforespoersel",
            TransferError::RegistrationFailed { .. } => "registrering_feilet",
            TransferError::Http4xx { .. } => "http_4xx",
            TransferError::Malformed { .. } => "malformed_receipt",
            TransferError::WrongDocument { .. } => "wrong_document",
            TransferError::Directory(_) => "directory",
            TransferError::TooLarge { .. } => "too_large",
            TransferError::Unauthorized => "unauthorized",
            TransferError::Token(_) => "maskinporten",
            TransferError::Insecure(_) => "insecure_transport",
            TransferError::Config(_) => "config",
        }
    }

    /// The archive's answer verbatim, when there was one.
    pub fn answer(&self) -> Option<&str> {
        match self {
            TransferError::Http5xx { body, .. }
            | TransferError::ServerFault { body, .. }
            | TransferError::Rejected { body, .. }
            | TransferError::RegistrationFailed { body, .. }
            | TransferError::Http4xx { body, .. }
            | TransferError::Malformed { body, .. }
            | TransferError::WrongDocument { body, .. } => Some(body),
            TransferError::Connect(_)
            | TransferError::Certificate(_)
            | TransferError::Timeout(_)
            | TransferError::Directory(_)
            | TransferError::TooLarge { .. }
            | TransferError::Unauthorized
            | TransferError::Token(_)
            | TransferError::Insecure(_)
            | TransferError::Config(_) => None,
        }
    }

    /// What a school administrator can do about it (bokmål).
    pub fn explanation_nb(&self) -> String {
        const RETRY: &str = "Dokumentet går ikke tapt: sett status tilbake til «klar» når arkivet \
                             svarer igjen, så sendes det ved neste overføring. Meld fra til \
                             kommuneadmin hvis feilen varer over et døgn.";
        match self {
            TransferError::Connect(_) => {
                format!("Fikk ikke kontakt med arkivet (arkivet eller nettverket er nede). {RETRY}")
            }
            TransferError::Certificate(_) => format!(
                "Arkivets sertifikat godkjennes ikke (TLS). Kommuneadmin må legge kommunens \
                 rotsertifikat i innstillingen tls.ca_bundle. {RETRY}"
            ),
            TransferError::Timeout(d) => format!(
                "Arkivet svarte ikke innen {} sekunder. Journalposten kan likevel være opprettet; \
                 en ny sending finner den igjen og lager ikke en ny. {RETRY}",
                d.as_secs().max(1)
            ),
            TransferError::Http5xx { status, .. } => {
                format!("Arkivet hadde en intern feil (HTTP {status}). {RETRY}")
            }
            TransferError::ServerFault { fault, .. } => format!(
                "Arkivet meldte en intern feil: «{}» (feil-id {}). {RETRY}",
                fault.message, fault.id
            ),
            TransferError::Rejected { fault, .. } => format!(
                "Arkivet avviste dokumentet: «{}» (feil-id {}). Rett årsaken (for eksempel \
                 manglende eller feil opplysninger om elev, mappe eller hjemmel), produser \
                 dokumentet på nytt og sett status tilbake til «klar».",
                fault.message, fault.id
            ),
            TransferError::RegistrationFailed { fault, .. } => format!(
                "Arkivet opprettet ikke journalposten: «{}» (feil-id {}). Rett årsaken i arkivet \
                 eller i dokumentet og sett status tilbake til «klar».",
                fault.message, fault.id
            ),
            TransferError::Http4xx { status, .. } => format!(
                "Arkivet avviste forespørselen (HTTP {status}), trolig feil adresse eller \
                 manglende tilgang for dokflyt. Meld fra til kommuneadmin; sett status tilbake \
                 til «klar» når det er rettet."
            ),
            TransferError::Malformed { .. } => "Arkivet svarte med en kvittering dokflyt ikke \
                 kan lese. Sjekk i arkivet om journalposten finnes før dokumentet sendes på nytt, \
                 og meld fra til kommuneadmin."
                .to_string(),
            TransferError::WrongDocument { .. } => "Arkivet svarte med kvittering for et annet \
                 dokument. Sjekk i arkivet hvilken journalpost som ble opprettet, og meld fra til \
                 kommuneadmin før dokumentet sendes på nytt."
                .to_string(),
            TransferError::Directory(_) => "Kunne ikke skrive arkivpakken til katalogen (full \
                 disk eller manglende tilgang). Meld fra til driftsansvarlig og sett status \
                 tilbake til «klar» når det er rettet."
                .to_string(),
            TransferError::TooLarge { .. } => "Arkivet svarte med et svar som er større enn \
                 grensen dokflyt leser, så kvitteringen kunne ikke leses. Sjekk i arkivet om \
                 journalposten finnes før dokumentet sendes på nytt, og meld fra til kommuneadmin."
                .to_string(),
            TransferError::Unauthorized | TransferError::Token(_) => {
                format!("Arkivet godtok ikke dokflyts tilgang (Maskinporten). {RETRY}")
            }
            TransferError::Insecure(_) | TransferError::Config(_) => "Arkivtilkoblingen er \
                 feil satt opp. Meld fra til driftsansvarlig."
                .to_string(),
        }
    }
}

/// Sends one document to an archive. Object-safe so the target is chosen at run time.
pub trait ArchiveClient: Send + Sync {
    fn send<'a>(&'a self, msg: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, TransferError>>;
    /// Creates a folder on its own (the school folder of a new school year): a
    /// folder-only arkivmelding with external key `key`; the archive answers with the
    /// folder's case number, or «Eksisterende» when it has the key already.
    fn create_folder<'a>(
        &'a self,
        key: &'a str,
        xml: &'a str,
    ) -> BoxFuture<'a, Result<FolderDelivered, TransferError>>;
    /// A short name for the attempt log (`http`, `directory`).
    fn target(&self) -> &'static str;
}

/// The archive registered (or found) the folder.
#[derive(Debug, Clone)]
pub struct FolderDelivered {
    pub receipt: FolderReceipt,
    pub verbatim: String,
}

/// Interprets the answer to a folder-only message for the folder `key`.
pub fn interpret_folder(
    key: &str,
    status: u16,
    body: String,
) -> Result<FolderDelivered, TransferError> {
    match (status, receipt::parse_folder(&body)) {
        (_, Ok(FolderAnswer::Invalid(fault))) => Err(TransferError::Rejected { fault, body }),
        (_, Ok(FolderAnswer::ServerError(fault))) => {
            Err(TransferError::ServerFault { fault, body })
        }
        (s, _) if s >= 500 => Err(TransferError::Http5xx { status: s, body }),
        (408 | 429, _) => Err(TransferError::Http5xx { status, body }),
        (s, _) if s >= 400 => Err(TransferError::Http4xx { status: s, body }),
        (_, Ok(FolderAnswer::Failed(fault))) => {
            Err(TransferError::RegistrationFailed { fault, body })
        }
        (_, Err(error)) => Err(TransferError::Malformed { error, body }),
        (_, Ok(FolderAnswer::Receipt(r))) => match &r.external_key {
            Some(k) if k != key => Err(TransferError::WrongDocument {
                got: k.clone(),
                body,
            }),
            _ => Ok(FolderDelivered {
                receipt: r,
                verbatim: body,
            }),
        },
    }
}

/// Interprets an answer body for `event_id` (shared by every transport).
pub fn interpret(event_id: Uuid, status: u16, body: String) -> Result<Delivered, TransferError> {
    let parsed = receipt::parse(&body);
    match (status, parsed) {
        (_, Ok(ArchiveAnswer::Invalid(fault))) => Err(TransferError::Rejected { fault, body }),
        (_, Ok(ArchiveAnswer::ServerError(fault))) => {
            Err(TransferError::ServerFault { fault, body })
        }
        (s, _) if s >= 500 => Err(TransferError::Http5xx { status: s, body }),
        (408 | 429, _) => Err(TransferError::Http5xx { status, body }),
        (s, _) if s >= 400 => Err(TransferError::Http4xx { status: s, body }),
        (_, Ok(ArchiveAnswer::RegistrationFailed(fault))) => {
            Err(TransferError::RegistrationFailed { fault, body })
        }
        (_, Err(error)) => Err(TransferError::Malformed { error, body }),
        (_, Ok(ArchiveAnswer::Receipt(receipt))) => {
            let expected = event_id.to_string();
            match &receipt.external_key {
                Some(k) if !k.eq_ignore_ascii_case(&expected) => {
                    Err(TransferError::WrongDocument {
                        got: k.clone(),
                        body,
                    })
                }
                _ => Ok(Delivered {
                    receipt,
                    verbatim: body,
                }),
            }
        }
    }
}

/// The municipality's archive over HTTP.
pub struct HttpArchiveClient {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
    /// Maskinporten, when configured: a bearer token on every call.
    tokens: Option<crate::maskinporten::TokenSource>,
    /// The largest answer read (`archive.max_response_bytes`).
    max_response: usize,
}

impl HttpArchiveClient {
    /// A client for `url` without authentication: allowed only on loopback
    /// (tests, the demo, a local stand-in); elsewhere it is refused.
    pub fn new(url: &str, timeout: Duration) -> Result<HttpArchiveClient, TransferError> {
        HttpArchiveClient::from_settings(&crate::config::ArchiveSettings {
            url: crate::secret::Secret::new(url),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            ..crate::config::ArchiveSettings::default()
        })
    }

    /// The client `[archive]` describes, after the transport check: https and
    /// authentication outside loopback; the Maskinporten token source or the
    /// client certificate (mTLS, rustls) when configured.
    pub fn from_settings(
        s: &crate::config::ArchiveSettings,
    ) -> Result<HttpArchiveClient, TransferError> {
        s.check_transport().map_err(TransferError::Insecure)?;
        let timeout = Duration::from_millis(s.timeout_ms);
        let trust = crate::tls::current();
        let builder = if s.auth.mtls() {
            let mut pem = read_pem(&s.auth.client_certificate)?;
            pem.extend_from_slice(b"\n");
            pem.extend_from_slice(&read_pem(s.auth.client_key.expose())?);
            let built = trust.http_client_with_identity(&pem);
            zeroize::Zeroize::zeroize(&mut pem);
            built
        } else {
            trust.http_client()
        }
        .map_err(|e| TransferError::Config(e.to_string()))?;
        let http = builder
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| TransferError::Config(e.without_url().to_string()))?;
        let tokens = if s.auth.maskinporten.enabled() {
            Some(
                crate::maskinporten::TokenSource::new(&s.auth.maskinporten)
                    .map_err(|e| TransferError::Config(format!("Maskinporten: {e}")))?,
            )
        } else {
            None
        };
        Ok(HttpArchiveClient {
            http,
            url: s.url.expose().to_string(),
            timeout,
            tokens,
            max_response: s.max_response_bytes,
        })
    }

    /// The request with the bearer token, when Maskinporten is configured.
    async fn authorised(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, TransferError> {
        match &self.tokens {
            Some(t) => {
                let token = t
                    .token()
                    .await
                    .map_err(|e| TransferError::Token(e.to_string()))?;
                Ok(rb.bearer_auth(token.expose()))
            }
            None => Ok(rb),
        }
    }

    /// The status and the body, read with the cap. A 401 with a token drops it.
    async fn answer(&self, resp: reqwest::Response) -> Result<(u16, String), TransferError> {
        let status = resp.status().as_u16();
        if status == 401 {
            if let Some(t) = &self.tokens {
                t.invalidate();
                return Err(TransferError::Unauthorized);
            }
        }
        let limit = self.max_response;
        match crate::capped::read_capped(resp, limit).await {
            Ok(body) => Ok((status, body)),
            Err(crate::capped::CappedError::Http(e)) => Err(self.classify(e)),
            Err(crate::capped::CappedError::TooLarge) if status < 400 => {
                Err(TransferError::TooLarge { status, limit })
            }
            // An error status decides on its own: 5xx transient, 4xx not.
            Err(crate::capped::CappedError::TooLarge) => Ok((
                status,
                format!("(svaret var større enn {limit} byte og ble ikke lest)"),
            )),
        }
    }

    async fn post(&self, msg: &Outgoing) -> Result<Delivered, TransferError> {
        use reqwest::multipart::{Form, Part};
        let xml = Part::text(msg.xml.clone())
            .file_name("arkivmelding.xml")
            .mime_str("application/xml")
            .map_err(|e| TransferError::Connect(e.to_string()))?;
        let pdf = Part::bytes(msg.pdf.clone())
            .file_name(msg.file_name.clone())
            .mime_str("application/pdf")
            .map_err(|e| TransferError::Connect(e.to_string()))?;
        let form = Form::new()
            .part("arkivmelding", xml)
            .part(msg.file_name.clone(), pdf);
        let resp = self
            .authorised(self.http.post(&self.url))
            .await?
            .multipart(form)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let (status, body) = self.answer(resp).await?;
        interpret(msg.event_id, status, body)
    }

    async fn post_folder(&self, key: &str, xml: &str) -> Result<FolderDelivered, TransferError> {
        use reqwest::multipart::{Form, Part};
        let part = Part::text(xml.to_string())
            .file_name("arkivmelding.xml")
            .mime_str("application/xml")
            .map_err(|e| TransferError::Connect(e.to_string()))?;
        let resp = self
            .authorised(self.http.post(&self.url))
            .await?
            .multipart(Form::new().part("arkivmelding", part))
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let (status, body) = self.answer(resp).await?;
        interpret_folder(key, status, body)
    }

    fn classify(&self, e: reqwest::Error) -> TransferError {
        if e.is_timeout() {
            TransferError::Timeout(self.timeout)
        } else if crate::tls::is_handshake_refusal(&e) {
            TransferError::Certificate(e.without_url().to_string())
        } else {
            // Without the URL: it may carry credentials.
            TransferError::Connect(e.without_url().to_string())
        }
    }
}

impl ArchiveClient for HttpArchiveClient {
    fn send<'a>(&'a self, msg: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, TransferError>> {
        Box::pin(self.post(msg))
    }
    fn create_folder<'a>(
        &'a self,
        key: &'a str,
        xml: &'a str,
    ) -> BoxFuture<'a, Result<FolderDelivered, TransferError>> {
        Box::pin(self.post_folder(key, xml))
    }
    fn target(&self) -> &'static str {
        "http"
    }
}

/// The offline package: one folder per event with `arkivmelding.xml` and the PDF.
pub struct DirectoryArchive {
    dir: PathBuf,
    fagsystem: String,
}

impl DirectoryArchive {
    pub fn new(dir: impl Into<PathBuf>, fagsystem: &str) -> DirectoryArchive {
        DirectoryArchive {
            dir: dir.into(),
            fagsystem: fagsystem.to_string(),
        }
    }

    async fn write(&self, msg: &Outgoing) -> Result<Delivered, TransferError> {
        let io = |e: std::io::Error| TransferError::Directory(e.kind().to_string());
        let target = self.dir.join(msg.event_id.to_string());
        let existing = tokio::fs::try_exists(target.join("arkivmelding.xml"))
            .await
            .map_err(io)?;
        if !existing {
            // Written into a temporary folder and renamed: a crash leaves no half package.
            let tmp = self
                .dir
                .join(format!(".{}.{}", msg.event_id, Uuid::new_v4()));
            tokio::fs::create_dir_all(&tmp).await.map_err(io)?;
            tokio::fs::write(tmp.join(&msg.file_name), &msg.pdf)
                .await
                .map_err(io)?;
            tokio::fs::write(tmp.join("arkivmelding.xml"), &msg.xml)
                .await
                .map_err(io)?;
            if let Err(e) = tokio::fs::rename(&tmp, &target).await {
                let _ = tokio::fs::remove_dir_all(&tmp).await;
                // Another run wrote the same package meanwhile: that one stands.
                if !tokio::fs::try_exists(target.join("arkivmelding.xml"))
                    .await
                    .unwrap_or(false)
                {
                    return Err(io(e));
                }
            }
        }
        let receipt = Receipt {
            // The package has no archive numbers yet; its id is the event id.
            system_id: msg.event_id.to_string(),
            existing,
            external_key: Some(msg.event_id.to_string()),
            ..Receipt::default()
        };
        let verbatim = receipt::write_receipt(&receipt, &self.fagsystem);
        Ok(Delivered { receipt, verbatim })
    }
}

/// A PEM given inline or as a file's path.
fn read_pem(v: &str) -> Result<Vec<u8>, TransferError> {
    let v = v.trim();
    if v.starts_with("-----BEGIN") {
        Ok(v.as_bytes().to_vec())
    } else {
        std::fs::read(v).map_err(|e| TransferError::Config(format!("{v}: {e}")))
    }
}

/// A stable id for a folder in an offline package (derived from its key).
fn folder_system_id(key: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

impl DirectoryArchive {
    /// `<dir>/mapper/<key with / as _>/arkivmelding.xml`; the folder gets its case
    /// number when the archive imports the package, so none is known here.
    async fn write_folder(&self, key: &str, xml: &str) -> Result<FolderDelivered, TransferError> {
        let io = |e: std::io::Error| TransferError::Directory(e.kind().to_string());
        let target = self.dir.join("mapper").join(key.replace(['/', '\\'], "_"));
        let existing = tokio::fs::try_exists(target.join("arkivmelding.xml"))
            .await
            .map_err(io)?;
        if !existing {
            tokio::fs::create_dir_all(&target).await.map_err(io)?;
            let tmp = target.join(".arkivmelding.xml.tmp");
            tokio::fs::write(&tmp, xml).await.map_err(io)?;
            tokio::fs::rename(&tmp, target.join("arkivmelding.xml"))
                .await
                .map_err(io)?;
        }
        let receipt = FolderReceipt {
            system_id: folder_system_id(key).to_string(),
            case_year: None,
            case_sequence: None,
            existing,
            external_key: Some(key.to_string()),
        };
        let verbatim = receipt::write_folder_receipt(&receipt, &self.fagsystem);
        Ok(FolderDelivered { receipt, verbatim })
    }
}

impl ArchiveClient for DirectoryArchive {
    fn send<'a>(&'a self, msg: &'a Outgoing) -> BoxFuture<'a, Result<Delivered, TransferError>> {
        Box::pin(self.write(msg))
    }
    fn create_folder<'a>(
        &'a self,
        key: &'a str,
        xml: &'a str,
    ) -> BoxFuture<'a, Result<FolderDelivered, TransferError>> {
        Box::pin(self.write_folder(key, xml))
    }
    fn target(&self) -> &'static str {
        "directory"
    }
}

/// The client the settings ask for; `to_directory` overrides them with an offline package.
pub fn from_settings(
    s: &crate::config::ArchiveSettings,
    to_directory: Option<&std::path::Path>,
) -> Result<std::sync::Arc<dyn ArchiveClient>, TransferError> {
    use crate::config::ArchiveTarget;
    Ok(match (to_directory, s.target) {
        (Some(dir), _) => std::sync::Arc::new(DirectoryArchive::new(dir, &s.system)),
        (None, ArchiveTarget::Directory) => {
            std::sync::Arc::new(DirectoryArchive::new(&s.directory, &s.system))
        }
        (None, ArchiveTarget::Http) => std::sync::Arc::new(HttpArchiveClient::from_settings(s)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::receipt::{write_fault, write_receipt};

    fn ok_receipt(key: &str) -> String {
        write_receipt(
            &Receipt {
                system_id: Uuid::new_v4().to_string(),
                journal_year: Some(2026),
                journal_sequence: Some(9),
                journal_post_number: Some(1),
                journal_status: Some("J".into()),
                external_key: Some(key.into()),
                ..Receipt::default()
            },
            "dokflyt",
        )
    }

    #[test]
    fn answers_are_classified() {
        let id = Uuid::new_v4();
        let fault = Fault {
            id: "1".into(),
            message: "m".into(),
        };
        assert!(interpret(id, 200, ok_receipt(&id.to_string())).is_ok());
        let e = interpret(id, 200, ok_receipt(&Uuid::new_v4().to_string())).unwrap_err();
        assert_eq!((e.class(), e.is_transient()), ("wrong_document", false));
        let e = interpret(id, 400, write_fault(false, &fault)).unwrap_err();
        assert_eq!(
            (e.class(), e.is_transient()),
            ("ugyldigforespoersel", false)
        );
        let e = interpret(id, 500, write_fault(true, &fault)).unwrap_err();
        assert_eq!((e.class(), e.is_transient()), ("serverfeil", true));
        let e = interpret(id, 503, "<html>busy</html>".into()).unwrap_err();
        assert_eq!((e.class(), e.is_transient()), ("http_5xx", true));
        let e = interpret(id, 404, "not found".into()).unwrap_err();
        assert_eq!((e.class(), e.is_transient()), ("http_4xx", false));
        let e = interpret(id, 200, "<kvittering>".into()).unwrap_err();
        assert_eq!((e.class(), e.is_transient()), ("malformed_receipt", false));
        assert_eq!(e.answer(), Some("<kvittering>"));
        assert!(TransferError::Connect("refused".into()).is_transient());
        assert!(TransferError::Timeout(Duration::from_secs(1)).is_transient());
    }

    #[test]
    fn explanations_are_norwegian_and_keep_the_archive_message() {
        let e = TransferError::Rejected {
            fault: Fault {
                id: "f-7".into(),
                message: "Ukjent elev".into(),
            },
            body: String::new(),
        };
        let t = e.explanation_nb();
        assert!(t.contains("Arkivet avviste dokumentet"), "{t}");
        assert!(t.contains("Ukjent elev") && t.contains("f-7"), "{t}");
        assert!(TransferError::Connect(String::new())
            .explanation_nb()
            .contains("klar"));
    }

    #[tokio::test]
    async fn the_directory_target_writes_a_package_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = DirectoryArchive::new(dir.path(), "dokflyt");
        let msg = Outgoing {
            event_id: Uuid::new_v4(),
            xml: "<arkivmelding/>".into(),
            file_name: "conduct_warning.pdf".into(),
            pdf: b"%PDF-1.7".to_vec(),
        };
        let first = a.send(&msg).await.expect("written");
        assert!(!first.receipt.existing);
        let pkg = dir.path().join(msg.event_id.to_string());
        assert_eq!(
            std::fs::read(pkg.join("conduct_warning.pdf")).expect("pdf"),
            b"%PDF-1.7"
        );
        assert!(pkg.join("arkivmelding.xml").exists());
        let again = a.send(&msg).await.expect("idempotent");
        assert!(again.receipt.existing);
        // Only the package itself, no leftovers.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
