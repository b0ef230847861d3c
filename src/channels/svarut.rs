//! `svarut`: letters by KS Fiks SvarUt, REST API v2 (`/work/shared/specs/svarut-v2`).
//!
//! Stage: delivery. Input: a claimed [`Job`] on `svarut` (one guardian with parental
//! responsibility per delivery, as the deliver stage planned it). Output: one
//! forsendelse per (event, recipient) — `POST {base}/v2/kontoer/{kontoId}/forsendelser`,
//! multipart: the `forsendelse` JSON part first, then the PDF in `dokumenter` order —
//! and its id recorded; later [`poll_statuses`] records SvarUt's statuses
//! (`status-sok`) in the delivery's history. Failure: a connection refused, 401/403,
//! 429 or a 5xx before anything was sent is a retry; a timeout or a 5xx after the
//! upload is a retry *in doubt*; a 4xx is `failed` with SvarUt's answer verbatim.
//!
//! Never twice: `eksternReferanse` is the delivery's deterministic key (the event
//! id plus a hash of recipient and channel; `korrelasjonsid` is the bare event id, so
//! the event's letters group together in SvarUt). Before any send of a delivery
//! that is in doubt, `GET ...forsendelser?eksternRef=` is asked first and an existing
//! forsendelse is adopted instead of sending again.
//!
//! Who may receive it, and how, is `crate::recipient_policy`'s decision:
//! protected address (fortrolig/strengt fortrolig): no address at all in the
//! forsendelse and `kunDigitalLevering`; a recipient who cannot receive digital mail
//! (or has no national id) is `held` for manual handling, never printed. A guardian
//! without parental responsibility is never sent anything (`failed`).
//! UO or sensitive letters get a neutral `tittel` (the document type's name).
//! UO or sensitive documents: `krevNiva4Innlogging`, `inneholderPersonsensitivInformasjon`
//! and `kryptert`: the PDF is encrypted to SvarUt's certificate (CMS, [`super::cms`]),
//! as the API requires; without a configured certificate such a letter is `held`.
//!
//! Auth: `Authorization: Bearer <Maskinporten token>` (fetched and cached by
//! [`crate::maskinporten`] when configured, else a static token), `IntegrasjonId`,
//! `IntegrasjonPassord` from configuration; the secrets are never logged.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;

use super::{Attempt, ChannelError, ChannelSender, ContentPolicy, Job, SendResult};
use crate::config::SvarUtSettings;
use crate::document::{Access, Channel};
use crate::recipient_policy;

#[derive(Debug, thiserror::Error)]
pub enum SvarUtError {
    #[error("SvarUt could not be reached (connection refused)")]
    Unreachable,
    /// SvarUt's certificate is not trusted (the OS store, `tls.ca_bundle`):
    /// refused in the handshake, nothing sent.
    #[error("TLS with SvarUt failed: its certificate is not trusted (tls.ca_bundle)")]
    Certificate,
    #[error("no answer from SvarUt in time")]
    Timeout,
    #[error("the connection to SvarUt broke off")]
    Transport,
    #[error("SvarUt answered HTTP {status}")]
    Http { status: u16, body: String },
    #[error("SvarUt's answer could not be read: {0}")]
    BadAnswer(String),
    #[error("cannot build the request: {0}")]
    Request(String),
    #[error("no Maskinporten token: {0}")]
    Token(String),
    #[error("SvarUt's answer (HTTP {status}) is larger than {limit} bytes; it was not read")]
    TooLarge { status: u16, limit: usize },
}

impl SvarUtError {
    pub fn class(&self) -> &'static str {
        match self {
            SvarUtError::Unreachable => "svarut_unreachable",
            SvarUtError::Certificate => "svarut_tls_certificate",
            SvarUtError::Timeout => "svarut_timeout",
            SvarUtError::Transport => "svarut_transport",
            SvarUtError::Http { status, .. } if *status >= 500 => "svarut_5xx",
            SvarUtError::Http {
                status: 401 | 403, ..
            } => "svarut_auth",
            SvarUtError::Http { status: 429, .. } => "svarut_throttled",
            SvarUtError::Http { .. } => "svarut_rejected",
            SvarUtError::BadAnswer(_) => "svarut_bad_answer",
            SvarUtError::Request(_) => "svarut_request",
            SvarUtError::Token(_) => "maskinporten",
            SvarUtError::TooLarge { .. } => "svarut_too_large",
        }
    }

    fn from_reqwest(e: &reqwest::Error) -> SvarUtError {
        if e.is_timeout() {
            SvarUtError::Timeout
        } else if crate::tls::is_handshake_refusal(e) {
            SvarUtError::Certificate
        } else if e.is_connect() {
            SvarUtError::Unreachable
        } else if e.is_builder() {
            SvarUtError::Request(e.to_string())
        } else {
            SvarUtError::Transport
        }
    }
}

/// The HTTP client for the three v2 endpoints dokflyt uses.
pub struct SvarUtClient {
    http: reqwest::Client,
    s: SvarUtSettings,
    /// SvarUt's certificate: documents requiring level-4 login are encrypted to it.
    cert: Option<super::cms::RecipientCert>,
    /// Maskinporten, when configured; otherwise the static token is sent.
    tokens: Option<crate::maskinporten::TokenSource>,
}

#[derive(Debug, Deserialize)]
struct SendResponse {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EksternRefResponse {
    forsendelse_ids: Vec<String>,
}

/// One status from `status-sok`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ForsendelseStatus {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub siste_status_endring: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StatusResponse {
    statuser: Vec<ForsendelseStatus>,
}

impl SvarUtClient {
    pub fn new(s: &SvarUtSettings) -> Result<SvarUtClient, SvarUtError> {
        let http = crate::tls::current()
            .http_client()
            .map_err(|e| SvarUtError::Request(e.to_string()))?
            .timeout(Duration::from_millis(s.timeout_ms.max(1)))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SvarUtError::Request(e.to_string()))?;
        let cert = match s.encryption_certificate.trim() {
            "" => {
                tracing::warn!(
                    "no SvarUt encryption certificate is configured: letters that require level-4 login (UO) are held, not sent"
                );
                None
            }
            c => {
                let pem = if c.starts_with("-----BEGIN") {
                    c.as_bytes().to_vec()
                } else {
                    std::fs::read(c).map_err(|e| {
                        SvarUtError::Request(format!("SvarUt's certificate {c}: {e}"))
                    })?
                };
                Some(
                    super::cms::RecipientCert::from_pem(&pem)
                        .map_err(|e| SvarUtError::Request(format!("SvarUt's certificate: {e}")))?,
                )
            }
        };
        let tokens = if s.maskinporten.enabled() {
            Some(
                crate::maskinporten::TokenSource::new(&s.maskinporten)
                    .map_err(|e| SvarUtError::Request(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(SvarUtClient {
            http,
            s: s.clone(),
            cert,
            tokens,
        })
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/v2/kontoer/{}/forsendelser{tail}",
            self.s.base_url.trim_end_matches('/'),
            self.s.konto_id
        )
    }

    async fn auth(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, SvarUtError> {
        let token = match &self.tokens {
            Some(t) => t
                .token()
                .await
                .map_err(|e| SvarUtError::Token(e.to_string()))?,
            None => self.s.maskinporten_token.clone(),
        };
        Ok(rb
            .bearer_auth(token.expose())
            .header("IntegrasjonId", &self.s.integrasjon_id)
            .header("IntegrasjonPassord", self.s.integrasjon_passord.expose()))
    }

    async fn answer(&self, resp: reqwest::Response) -> Result<String, SvarUtError> {
        let status = resp.status().as_u16();
        if status == 401 {
            // The token may have been revoked or expired early: fetch a new one next time.
            if let Some(t) = &self.tokens {
                t.invalidate();
            }
        }
        let limit = self.s.max_response_bytes;
        let body = match crate::capped::read_capped(resp, limit).await {
            Ok(b) => b,
            Err(crate::capped::CappedError::Http(e)) => return Err(SvarUtError::from_reqwest(&e)),
            // An error status is decided by the status; a success we cannot read
            // is in doubt (after a send the forsendelse may exist).
            Err(crate::capped::CappedError::TooLarge) if (200..300).contains(&status) => {
                return Err(SvarUtError::TooLarge { status, limit })
            }
            Err(crate::capped::CappedError::TooLarge) => {
                format!("(svaret var større enn {limit} byte og ble ikke lest)")
            }
        };
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(SvarUtError::Http {
                status,
                body: body.chars().take(2000).collect(),
            })
        }
    }

    /// Sends one forsendelse: the JSON part first, then the files in order.
    pub async fn send(
        &self,
        forsendelse: &Value,
        files: &[(String, Vec<u8>)],
    ) -> Result<String, SvarUtError> {
        let json =
            serde_json::to_vec(forsendelse).map_err(|e| SvarUtError::Request(e.to_string()))?;
        let meta = Part::bytes(json)
            .mime_str("application/json;charset=UTF-8")
            .map_err(|e| SvarUtError::Request(e.to_string()))?;
        let mut form = Form::new().part("forsendelse", meta);
        for (i, (name, bytes)) in files.iter().enumerate() {
            let part = Part::bytes(bytes.clone())
                .file_name(name.clone())
                .mime_str("application/pdf")
                .map_err(|e| SvarUtError::Request(e.to_string()))?;
            form = form.part(format!("fil{}", i + 1), part);
        }
        let resp = self
            .auth(self.http.post(self.url("")))
            .await?
            .multipart(form)
            .send()
            .await
            .map_err(|e| SvarUtError::from_reqwest(&e))?;
        let body = self.answer(resp).await?;
        let r: SendResponse =
            serde_json::from_str(&body).map_err(|e| SvarUtError::BadAnswer(e.to_string()))?;
        Ok(r.id)
    }

    /// The forsendelser SvarUt has under an eksternReferanse.
    pub async fn lookup(&self, ekstern_ref: &str) -> Result<Vec<String>, SvarUtError> {
        let resp = self
            .auth(self.http.get(self.url("")))
            .await?
            .query(&[("eksternRef", ekstern_ref)])
            .send()
            .await
            .map_err(|e| SvarUtError::from_reqwest(&e))?;
        let body = self.answer(resp).await?;
        let r: EksternRefResponse =
            serde_json::from_str(&body).map_err(|e| SvarUtError::BadAnswer(e.to_string()))?;
        Ok(r.forsendelse_ids)
    }

    /// `status-sok` for a batch of forsendelse ids.
    pub async fn statuses(&self, ids: &[String]) -> Result<Vec<ForsendelseStatus>, SvarUtError> {
        let resp = self
            .auth(self.http.post(self.url("/status-sok")))
            .await?
            .json(&json!({ "forsendelseIds": ids }))
            .send()
            .await
            .map_err(|e| SvarUtError::from_reqwest(&e))?;
        let body = self.answer(resp).await?;
        let r: StatusResponse =
            serde_json::from_str(&body).map_err(|e| SvarUtError::BadAnswer(e.to_string()))?;
        Ok(r.statuser)
    }

    fn konteringskode(&self, school_id: &str) -> String {
        self.s
            .konteringskode
            .get(school_id)
            .cloned()
            .unwrap_or_else(|| {
                school_id
                    .chars()
                    .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    .take(20)
                    .collect()
            })
    }
}

/// SvarUt's status vocabulary (v2 `ForsendelseStatus`), plus the ones it may add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvarUtStatus {
    Mottatt,
    Akseptert,
    Avvist,
    Varslet,
    Lest,
    SendtPrint,
    Printet,
    ManueltHandtert,
    SendtDigitalt,
    SendtSdp,
    LevertSdp,
    KlarForMottak,
    IkkeLevert,
    /// A status this version does not know: kept verbatim, polling goes on.
    Unknown(String),
}

impl SvarUtStatus {
    pub fn parse(s: &str) -> SvarUtStatus {
        match s {
            "MOTTATT" => SvarUtStatus::Mottatt,
            "AKSEPTERT" => SvarUtStatus::Akseptert,
            "AVVIST" => SvarUtStatus::Avvist,
            "VARSLET" => SvarUtStatus::Varslet,
            "LEST" => SvarUtStatus::Lest,
            "SENDT_PRINT" => SvarUtStatus::SendtPrint,
            "PRINTET" => SvarUtStatus::Printet,
            "MANUELT_HANDTERT" => SvarUtStatus::ManueltHandtert,
            "SENDT_DIGITALT" => SvarUtStatus::SendtDigitalt,
            "SENDT_SDP" => SvarUtStatus::SendtSdp,
            "LEVERT_SDP" => SvarUtStatus::LevertSdp,
            "KLAR_FOR_MOTTAK" => SvarUtStatus::KlarForMottak,
            "IKKE_LEVERT" => SvarUtStatus::IkkeLevert,
            other => SvarUtStatus::Unknown(other.to_string()),
        }
    }

    /// The delivery status this SvarUt status puts the delivery in.
    pub fn delivery_status(&self) -> super::DeliveryStatus {
        use super::DeliveryStatus as D;
        match self {
            SvarUtStatus::Avvist | SvarUtStatus::IkkeLevert => D::Failed,
            SvarUtStatus::Lest
            | SvarUtStatus::Printet
            | SvarUtStatus::LevertSdp
            | SvarUtStatus::ManueltHandtert => D::Delivered,
            _ => D::Sent,
        }
    }

    /// No later status is expected: polling stops.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            SvarUtStatus::Lest
                | SvarUtStatus::Printet
                | SvarUtStatus::ManueltHandtert
                | SvarUtStatus::Avvist
                | SvarUtStatus::IkkeLevert
        )
    }

    /// The explanation for the school when the status is a failure.
    pub fn explanation_nb(&self) -> Option<&'static str> {
        match self {
            SvarUtStatus::Avvist => Some("SvarUt avviste brevet (for eksempel ugyldig PDF eller adresse). Rett feilen og send brevet på nytt."),
            SvarUtStatus::IkkeLevert => Some("SvarUt kunne ikke levere brevet, verken digitalt eller på papir. Ta kontakt med mottakeren på annen måte."),
            _ => None,
        }
    }
}

/// Terminal statuses as SQL text (polling skips them).
const TERMINAL: [&str; 5] = [
    "LEST",
    "PRINTET",
    "MANUELT_HANDTERT",
    "AVVIST",
    "IKKE_LEVERT",
];

/// The title SvarUt shows (and notifies by): the author's title for a public
/// letter; for a UO or sensitive one the document type's Norwegian name, which
/// names no one (the pupil's name in a title would travel in the clear).
pub fn svarut_title(job: &Job) -> String {
    if job.decision.access == Access::Uo || job.event.sensitive {
        job.decision.document_type.name_nb().to_string()
    } else {
        job.title.clone()
    }
}

/// The forsendelse JSON for a job, or why it must not be sent.
pub fn forsendelse(
    job: &Job,
    client_settings: &SvarUtSettings,
    konteringskode: &str,
) -> Result<Value, SendResult> {
    let Some(r) = job.recipient() else {
        return Err(SendResult::Failed {
            class: "recipient_missing",
            explanation: "Mottakeren finnes ikke i hendelsen.".into(),
            answer: None,
        });
    };
    let national_id = r
        .national_id
        .as_deref()
        .filter(|n| crate::event::is_valid_national_id(n));
    // The recipient policy decides; this function only writes down what it says.
    let digital_only = match recipient_policy::decide(Channel::Svarut, r) {
        recipient_policy::Decision::Receive { digital_only } => digital_only,
        recipient_policy::Decision::Held(hold) => {
            return Err(SendResult::Held {
                class: hold.code(),
                explanation: hold.explanation_nb().into(),
            })
        }
        recipient_policy::Decision::Excluded(why) => {
            return Err(SendResult::Failed {
                class: why.code(),
                explanation: why.explanation_nb().into(),
                answer: None,
            })
        }
    };
    let mut mottaker = serde_json::Map::new();
    mottaker.insert("navn".into(), json!(r.name));
    // A person the contact register says is reserved is addressed on paper only.
    let national_id = national_id
        .filter(|_| digital_only || recipient_policy::may_address_digitally(job.register.as_ref()));
    if let Some(n) = national_id {
        mottaker.insert("digitalId".into(), json!(n));
    }
    let kun_digital = if digital_only {
        true
    } else {
        match recipient_policy::postal_address(r) {
            Some(a) => {
                mottaker.insert("adresselinje1".into(), json!(a.street));
                mottaker.insert("postnummer".into(), json!(a.postal_code));
                mottaker.insert("poststed".into(), json!(a.city));
                if let Some(c) = a.country.as_deref().filter(|c| !c.trim().is_empty()) {
                    mottaker.insert("land".into(), json!(c));
                }
                false
            }
            None if national_id.is_some() && r.digital_mail => true,
            None => {
                return Err(SendResult::Failed {
                    class: "no_address",
                    explanation: "Mottakeren har verken digital postkasse eller postadresse i skolesystemet. Registrer adressen og send på nytt.".into(),
                    answer: None,
                })
            }
        }
    };
    let protected = job.decision.access == Access::Uo || job.event.sensitive;
    let file_name = format!("{}.pdf", job.decision.document_type.key());
    let title = svarut_title(job);
    let mut f = json!({
        "tittel": title,
        "mottaker": Value::Object(mottaker),
        "avgivendeSystem": client_settings.avgivende_system,
        "avgivendeSystemAktor": job.event.sender.user_id,
        "konteringskode": konteringskode,
        "kunDigitalLevering": kun_digital,
        "krevNiva4Innlogging": protected,
        // «Dokumentene må da krypteres før innsending» (forsendelse-send-api-v2).
        "kryptert": protected,
        "eksternReferanse": job.idempotency_key(),
        "korrelasjonsid": job.event_id.to_string(),
        "forsendelsestype": job.decision.document_type.key(),
        "dokumenter": [{
            "filnavn": file_name,
            "mimeType": "application/pdf",
            "inneholderPersonsensitivInformasjon": protected,
        }],
    });
    if let Some(j) = &job.journal {
        let mut m = serde_json::Map::new();
        if let Some(v) = j.year {
            m.insert("journalaar".into(), json!(v));
        }
        if let Some(v) = j.sequence {
            m.insert("journalsekvensnummer".into(), json!(v));
        }
        if let Some(v) = j.post_number {
            m.insert("journalpostnummer".into(), json!(v));
        }
        if let Some(v) = &j.system_id {
            m.insert("systemId".into(), json!(v));
        }
        if let Some(v) = &j.status {
            m.insert("journalstatus".into(), json!(v));
        }
        m.insert("tittel".into(), json!(title));
        f["metadataFraAvleverendeSystem"] = Value::Object(m);
    }
    Ok(f)
}

/// The `svarut` channel.
pub struct SvarUtSender {
    pub client: Arc<SvarUtClient>,
}

impl SvarUtSender {
    async fn send_job(&self, job: &Job, attempt: &Attempt) -> Result<SendResult, ChannelError> {
        let Some(pdf) = job.pdf.as_ref() else {
            return Ok(SendResult::Failed {
                class: "no_pdf",
                explanation: "Brevet har ingen PDF og kan ikke sendes med SvarUt.".into(),
                answer: None,
            });
        };
        let kode = self.client.konteringskode(&job.event.school.id);
        let f = match forsendelse(job, &self.client.s, &kode) {
            Ok(f) => f,
            Err(o) => return Ok(o),
        };
        // UO letters are encrypted to SvarUt's certificate; without one they wait
        // for the operators instead of going out in the clear.
        let encrypt_to = if f["kryptert"] == json!(true) {
            let Some(cert) = &self.client.cert else {
                return Ok(SendResult::Held {
                    class: "svarut_no_certificate",
                    explanation: "Brevet er unntatt offentlighet og må krypteres før det sendes med SvarUt, men SvarUts sertifikat er ikke satt opp. Kontakt driften; brevet er ikke sendt.".into(),
                });
            };
            Some(cert)
        } else {
            None
        };
        let key = job.idempotency_key();
        if job.in_doubt {
            // A previous attempt may have reached SvarUt: look before sending again.
            match self.client.lookup(&key).await {
                Ok(ids) if !ids.is_empty() => {
                    return Ok(SendResult::Sent {
                        provider_ref: ids.first().cloned(),
                        detail: Some(format!(
                            "found by eksternRef after an interrupted attempt ({} forsendelse(r)); not sent again",
                            ids.len()
                        )),
                    })
                }
                Ok(_) => {}
                Err(e) => {
                    return Ok(SendResult::Retry {
                        class: e.class(),
                        in_doubt: true,
                        detail: format!("eksternRef look-up failed: {e}"),
                    })
                }
            }
        }
        if !attempt.mark_in_doubt().await? {
            return Ok(SendResult::Retry {
                class: "claim_lost",
                in_doubt: false,
                detail: "the claim expired before the send".into(),
            });
        }
        let file_name = f["dokumenter"][0]["filnavn"]
            .as_str()
            .unwrap_or("brev.pdf")
            .to_string();
        let file = match encrypt_to {
            Some(cert) => match super::cms::encrypt(pdf, cert) {
                Ok(der) => der,
                Err(e) => {
                    return Ok(SendResult::Retry {
                        class: "svarut_encrypt",
                        in_doubt: false,
                        detail: e.to_string(),
                    })
                }
            },
            None => pdf.clone(),
        };
        match self.client.send(&f, &[(file_name, file)]).await {
            Ok(id) => Ok(SendResult::Sent {
                provider_ref: Some(id),
                detail: Some("forsendelse accepted".into()),
            }),
            Err(e) => Ok(match &e {
                SvarUtError::Unreachable
                | SvarUtError::Certificate
                | SvarUtError::Request(_)
                | SvarUtError::Token(_) => SendResult::Retry {
                    class: e.class(),
                    in_doubt: false,
                    detail: e.to_string(),
                },
                SvarUtError::Http { status: 401 | 403 | 429, body } => SendResult::Retry {
                    class: e.class(),
                    in_doubt: false,
                    detail: format!("{e}: {body}"),
                },
                SvarUtError::Http { status, body } if *status < 500 => SendResult::Failed {
                    class: e.class(),
                    explanation: "SvarUt avviste forsendelsen. Se svaret fra SvarUt; rett feilen og send på nytt.".into(),
                    answer: Some(body.clone()),
                },
                // Timeout, broken connection, 5xx, unreadable answer: it may exist.
                _ => SendResult::Retry {
                    class: e.class(),
                    in_doubt: true,
                    detail: e.to_string(),
                },
            }),
        }
    }
}

impl ChannelSender for SvarUtSender {
    fn channel(&self) -> Channel {
        Channel::Svarut
    }

    fn send<'a>(
        &'a self,
        job: &'a Job,
        _content: ContentPolicy,
        attempt: &'a Attempt,
    ) -> BoxFuture<'a, Result<SendResult, ChannelError>> {
        Box::pin(self.send_job(job, attempt))
    }
}

/// What one status poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PollSummary {
    pub asked: u64,
    pub changed: u64,
    pub unknown_statuses: u64,
}

/// One `status-sok` round over the forsendelser due for polling (oldest poll first).
/// Every changed status is recorded with its history row in one statement.
pub async fn poll_statuses(
    pool: &PgPool,
    client: &SvarUtClient,
    batch: i64,
    min_interval: Duration,
    max_age_days: i64,
) -> Result<PollSummary, ChannelError> {
    let due: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, provider_ref FROM deliveries
         WHERE channel = 'svarut' AND provider_ref IS NOT NULL AND status IN ('sent', 'delivered')
           AND (provider_status IS NULL OR NOT (provider_status = ANY($1)))
           AND (last_polled_at IS NULL OR last_polled_at < now() - make_interval(secs => $2))
           AND sent_at > now() - make_interval(days => $3)
         ORDER BY last_polled_at NULLS FIRST, id
         LIMIT $4",
    )
    .bind(&TERMINAL[..])
    .bind(min_interval.as_secs_f64())
    .bind(max_age_days as i32)
    .bind(batch.max(1))
    .fetch_all(pool)
    .await?;
    let mut summary = PollSummary::default();
    if due.is_empty() {
        return Ok(summary);
    }
    let ids: Vec<String> = due.iter().map(|(_, r)| r.clone()).collect();
    let delivery_ids: Vec<i64> = due.iter().map(|(d, _)| *d).collect();
    summary.asked = ids.len() as u64;
    let statuses = match client.statuses(&ids).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(
                class = e.class(),
                asked = ids.len(),
                "SvarUt status-sok failed; will try again"
            );
            return Ok(summary);
        }
    };
    sqlx::query("UPDATE deliveries SET last_polled_at = now() WHERE id = ANY($1)")
        .bind(&delivery_ids)
        .execute(pool)
        .await?;
    for st in statuses {
        let parsed = SvarUtStatus::parse(&st.status);
        if let SvarUtStatus::Unknown(s) = &parsed {
            summary.unknown_statuses += 1;
            tracing::warn!(status = %s, "SvarUt reported a status dokflyt does not know; kept as is");
        }
        let ours = parsed.delivery_status();
        let n: i64 = sqlx::query_scalar(
            "WITH u AS (
                UPDATE deliveries SET provider_status = $2, provider_status_at = now(),
                    status = $3,
                    error_class = CASE WHEN $3 = 'failed' THEN 'svarut_' || lower($2) ELSE error_class END,
                    error_explanation = CASE WHEN $3 = 'failed' THEN $4 ELSE error_explanation END,
                    updated_at = now()
                WHERE channel = 'svarut' AND provider_ref = $1 AND status IN ('sent', 'delivered')
                  AND provider_status IS DISTINCT FROM $2
                RETURNING id
             ), h AS (
                INSERT INTO delivery_status_history (delivery_id, status, provider_status, detail)
                SELECT id, $3, $2, $5 FROM u
             )
             SELECT count(*) FROM u",
        )
        .bind(&st.id)
        .bind(&st.status)
        .bind(ours.as_str())
        .bind(parsed.explanation_nb())
        .bind(st.siste_status_endring.as_deref())
        .fetch_one(pool)
        .await?;
        summary.changed += n as u64;
        crate::metrics::svarut_status(&st.status, n as u64);
        if n > 0 && parsed == SvarUtStatus::IkkeLevert {
            // Neither digital nor paper: the guardian is a task for the school.
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM deliveries WHERE channel = 'svarut' AND provider_ref = $1",
            )
            .bind(&st.id)
            .fetch_all(pool)
            .await?;
            for id in ids {
                super::unreachable::record(
                    pool,
                    id,
                    super::unreachable::Reason::SvarutNotDelivered,
                )
                .await?;
            }
        }
    }
    Ok(summary)
}
