//! Email over SMTP (lettre): the copy of an in-app message or notice.
//!
//! Stage: delivery (used by [`super::message`] and [`super::notification`]). Input:
//! an [`Email`] (From/Reply-To per school, one recipient, subject, text, an optional
//! PDF attachment, a deterministic Message-ID). Output: the server accepted it.
//! Failure: [`MailError`], classified: the server's 5xx is permanent, its 4xx and a
//! refused connection are transient and certainly not delivered, anything else
//! (a dropped connection, a timeout) is transient *in doubt* — the server may have
//! taken the message, and SMTP has no look-up, so the dispatcher holds such an
//! email for a person instead of sending it twice.
//!
//! TLS: `none` (a local relay), `starttls` (required, never a silent downgrade) or
//! `tls` (port 465). The server's certificate is checked against the service's
//! trust (`crate::tls`: the OS store and `tls.ca_bundle`), plus `ca_file`, an
//! extra root for this server alone.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{EmailSettings, SmtpTls};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("email configuration: {0}")]
    Config(String),
    #[error("the recipient's email address is not valid")]
    BadAddress,
    #[error("the sender address for the school is not valid")]
    BadFrom,
    #[error("cannot build the email: {0}")]
    Build(String),
    #[error("the SMTP server refused the email permanently ({0})")]
    Permanent(String),
    #[error("the SMTP server refused the email for now ({0})")]
    Transient(String),
    #[error("the SMTP server could not be reached (connection refused)")]
    Refused,
    #[error("TLS with the SMTP server failed (nothing was sent)")]
    Tls,
    #[error("the SMTP exchange broke off; the server may have taken the email ({0})")]
    InDoubt(String),
}

impl MailError {
    pub fn class(&self) -> &'static str {
        match self {
            MailError::Config(_) => "email_config",
            MailError::BadAddress => "email_bad_address",
            MailError::BadFrom => "email_bad_from",
            MailError::Build(_) => "email_build",
            MailError::Permanent(_) => "smtp_permanent",
            MailError::Transient(_) => "smtp_transient",
            MailError::Refused => "smtp_unreachable",
            MailError::Tls => "smtp_tls",
            MailError::InDoubt(_) => "smtp_in_doubt",
        }
    }

    /// Whether trying again later can help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MailError::Transient(_)
                | MailError::Refused
                | MailError::Tls
                | MailError::InDoubt(_)
                | MailError::Config(_)
        )
    }

    /// Whether the server may have accepted the email.
    pub fn in_doubt(&self) -> bool {
        matches!(self, MailError::InDoubt(_))
    }
}

/// One email to one recipient.
#[derive(Clone)]
pub struct Email {
    pub from: String,
    pub reply_to: Option<String>,
    pub to_name: String,
    pub to_address: String,
    pub subject: String,
    pub text: String,
    /// (file name, PDF bytes).
    pub attachment: Option<(String, Vec<u8>)>,
    /// Without angle brackets, e.g. `<key>@dokflyt`.
    pub message_id: String,
}

crate::redacted_debug!(Email {
    show: [from, reply_to, message_id],
    hide: [to_name, to_address, subject, text, attachment],
});

/// The SMTP transport built once from the settings.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: EmailSettings,
}

impl Mailer {
    pub fn new(s: &EmailSettings) -> Result<Mailer, MailError> {
        let tls_params = || -> Result<TlsParameters, MailError> {
            let mut extra = Vec::new();
            if let Some(path) = &s.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    MailError::Config(format!("cannot read {}: {e}", path.display()))
                })?;
                extra.push(
                    Certificate::from_pem(&pem).map_err(|e| MailError::Config(e.to_string()))?,
                );
            }
            crate::tls::current()
                .smtp_parameters(&s.host, &extra)
                .map_err(|e| MailError::Config(e.to_string()))
        };
        let tls = match s.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_params()?),
            SmtpTls::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
            .port(s.port)
            .tls(tls)
            .timeout(Some(Duration::from_millis(s.timeout_ms.max(1))));
        if let (Some(user), Some(pass)) = (&s.username, &s.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        Ok(Mailer {
            transport: builder.build(),
            settings: s.clone(),
        })
    }

    /// (From, Reply-To) of a school.
    pub fn sender_for(&self, school_id: &str) -> (String, Option<String>) {
        match self.settings.schools.get(school_id) {
            Some(m) => (m.from.clone(), m.reply_to.clone()),
            None => (self.settings.default_from.clone(), None),
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// Sends one email; Ok when the server accepted it.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = build(email)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(classify(&e)),
        }
    }
}

/// The MIME message (public for tests of the policy).
pub fn build(email: &Email) -> Result<Message, MailError> {
    let from: Mailbox = email.from.parse().map_err(|_| MailError::BadFrom)?;
    let to_address = email
        .to_address
        .trim()
        .parse()
        .map_err(|_| MailError::BadAddress)?;
    let to = Mailbox::new(Some(email.to_name.clone()), to_address);
    let mut b = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}>", email.message_id)));
    if let Some(r) = &email.reply_to {
        b = b.reply_to(r.parse().map_err(|_| MailError::BadFrom)?);
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(email.text.clone());
    let built = match &email.attachment {
        None => b.singlepart(text),
        Some((name, bytes)) => {
            let pdf = ContentType::parse("application/pdf")
                .map_err(|e| MailError::Build(e.to_string()))?;
            b.multipart(
                MultiPart::mixed()
                    .singlepart(text)
                    .singlepart(Attachment::new(name.clone()).body(bytes.clone(), pdf)),
            )
        }
    };
    built.map_err(|e| MailError::Build(e.to_string()))
}

fn classify(e: &lettre::transport::smtp::Error) -> MailError {
    let code = e
        .status()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "no reply code".into());
    if e.is_permanent() {
        return MailError::Permanent(code);
    }
    if e.is_transient() {
        return MailError::Transient(code);
    }
    // lettre reports a failed STARTTLS/TLS handshake as a connection error; it
    // happens before MAIL FROM, so nothing was sent (not in doubt).
    if e.is_tls() || crate::tls::is_handshake_refusal(e) {
        return MailError::Tls;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return MailError::Refused;
            }
        }
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timeout"
    } else {
        "connection"
    };
    MailError::InDoubt(kind.into())
}
