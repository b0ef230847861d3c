//! `message_email`: the in-app message (melding) and its email copy.
//!
//! Stage: delivery. Input: a claimed [`Job`] on `message_email` and its
//! [`ContentPolicy`]. Output: one `messages` row per delivery (the school system
//! fetches it with `GET /api/messages?recipient=…`), an AMQP `message.created`
//! event published with confirms on the outbound exchange, and — when the recipient
//! has an address and email is on — the same message by email, with the PDF
//! attached only where the policy allows (a public document with a PDF). For a
//! municipality or school with a Sámi setting, general information and
//! parent-meeting invitations carry the Sámi text after the Norwegian
//! (`render::sami`: the event's, else the fixed phrase; neither: Norwegian only
//! and a warning in the log).
//! Failure: a broker or SMTP fault is a retry; a bad address or a 5xx is `failed`.
//!
//! Idempotency: the message id is derived from the delivery's key, the row is
//! inserted `ON CONFLICT DO NOTHING` and `message.created` is published only while
//! `published_at` is unset (it carries the message id for consumers to drop a
//! repeat). The email is marked in doubt before SMTP; a delivery reclaimed in doubt
//! keeps its in-app message and holds the email for a person (no second email).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::email::{Email, Mailer};
use super::outbound::Outbound;
use super::{Attempt, ChannelError, ChannelSender, ContentPolicy, Job, SendResult};
use crate::document::Channel;
use crate::render::sami::Resolution;

/// What the message (and its email) says.
#[derive(Clone)]
pub struct Composed {
    /// `message` or `notice`.
    pub kind: &'static str,
    pub subject: String,
    pub body: String,
    /// (file name, PDF) for the email; only when the policy allows.
    pub attachment: Option<(String, Vec<u8>)>,
    pub has_document: bool,
}

crate::redacted_debug!(Composed {
    show: [kind, has_document],
    hide: [subject, body, attachment],
});

/// What the message and notification senders share.
pub struct MessageDeps {
    pub outbound: Arc<Outbound>,
    /// None: email copies are off.
    pub mailer: Option<Arc<Mailer>>,
    pub portal_url: String,
    /// The Sámi settings and fixed phrases (shared with the renderer).
    pub sami: Arc<crate::render::sami::SamiTexts>,
}

/// The in-app message id of a delivery (deterministic).
pub fn message_id(job: &Job) -> Uuid {
    let digest = Sha256::digest(job.idempotency_key().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The text of a notice that carries no content.
pub fn notice_text(school: &str, what: &str, portal_url: &str) -> String {
    format!(
        "Hei!\n\nDu har fått {what} fra {school}. Av personvernhensyn står innholdet ikke i denne meldingen.\n\nLogg inn for å lese det: {portal_url}\n\nDette er en automatisk melding som ikke kan besvares.\n"
    )
}

/// The content of a `message_email` delivery under `content`, Norwegian only.
pub fn compose(job: &Job, content: ContentPolicy, portal_url: &str) -> Composed {
    compose_with_sami(job, content, portal_url, &Resolution::NotRequired)
}

/// The content of a `message_email` delivery under `content`, with the Sámi text
/// (when `sami` has one) after the Norwegian: its title in the subject after a
/// slash, its paragraphs after the Norwegian ones. A content-free notice is
/// unchanged.
pub fn compose_with_sami(
    job: &Job,
    content: ContentPolicy,
    portal_url: &str,
    sami: &Resolution,
) -> Composed {
    let school = &job.event.school.name;
    match content {
        ContentPolicy::NoticeOnly => Composed {
            kind: "notice",
            subject: format!("Ny melding fra {school}"),
            body: notice_text(school, "en ny melding", portal_url),
            attachment: None,
            has_document: job.pdf.is_some(),
        },
        ContentPolicy::Full { attachment } => {
            let paragraphs: Vec<String> = job
                .event
                .fields
                .get("body")
                .and_then(|b| b.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let mut body = if paragraphs.is_empty() {
                job.title.clone()
            } else {
                paragraphs.join("\n\n")
            };
            let mut subject = job.title.clone();
            if let Some(sami) = sami.text() {
                if let Some(title) = &sami.title {
                    subject = format!("{subject} / {title}");
                    body.push_str(&format!("\n\n{title}"));
                }
                body.push_str(&format!("\n\n{}", sami.body.join("\n\n")));
            }
            body.push_str(&format!(
                "\n\nHilsen\n{}\n{school}\n",
                job.event.sender.name
            ));
            let attachment = match (&job.pdf, attachment) {
                (Some(pdf), true) => Some((
                    format!("{}.pdf", job.decision.document_type.key()),
                    pdf.clone(),
                )),
                _ => None,
            };
            if attachment.is_some() {
                body.push_str("\nDokumentet ligger ved som PDF.\n");
            }
            Composed {
                kind: "message",
                subject,
                body,
                attachment,
                has_document: job.pdf.is_some(),
            }
        }
    }
}

/// Creates the in-app message, publishes `message.created`, sends the email copy.
pub async fn deliver(
    deps: &MessageDeps,
    job: &Job,
    attempt: &Attempt,
    composed: Composed,
) -> Result<SendResult, ChannelError> {
    let id = message_id(job);
    let pool = attempt.pool();
    sqlx::query(
        "INSERT INTO messages (id, delivery_id, event_id, recipient_id, school_id, kind, subject, body, has_document)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(job.delivery_id)
    .bind(job.event_id)
    .bind(&job.recipient_id)
    .bind(&job.event.school.id)
    .bind(composed.kind)
    .bind(&composed.subject)
    .bind(&composed.body)
    .bind(composed.has_document)
    .execute(pool)
    .await?;
    let published: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT published_at FROM messages WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
    if published.is_none() {
        let body = json!({
            "type": "message.created",
            "message_id": id,
            "event_id": job.event_id,
            "recipient_id": job.recipient_id,
            "school_id": job.event.school.id,
            "kind": composed.kind,
            "has_document": composed.has_document,
        });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        if let Err(e) = deps
            .outbound
            .publish("message.created", &id.to_string(), &bytes)
            .await
        {
            return Ok(SendResult::Retry {
                class: e.class(),
                in_doubt: false,
                detail: e.to_string(),
            });
        }
        sqlx::query("UPDATE messages SET published_at = now() WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?;
    }

    // The email copy.
    let Some(mailer) = deps.mailer.as_ref().filter(|m| m.enabled()) else {
        return Ok(sent(id, "in-app message; email is off"));
    };
    let Some(recipient) = job.recipient() else {
        return Ok(sent(id, "in-app message; recipient not in the event"));
    };
    let Some(address) = recipient.email.as_deref().filter(|a| !a.trim().is_empty()) else {
        return Ok(sent(id, "in-app message; no email address"));
    };
    if job.in_doubt {
        return Ok(SendResult::Held {
            class: "email_in_doubt",
            explanation: "Meldingen i appen er laget, men en tidligere e-post til mottakeren ble avbrutt, og det er uklart om den kom fram. E-posten sendes ikke på nytt automatisk; sjekk med mottakeren.".into(),
        });
    }
    let (from, reply_to) = mailer.sender_for(&job.event.school.id);
    let email = Email {
        from,
        reply_to,
        to_name: recipient.name.clone(),
        to_address: address.to_string(),
        subject: composed.subject,
        text: composed.body,
        attachment: composed.attachment,
        message_id: format!("{}@dokflyt", job.idempotency_key().replace(':', ".")),
    };
    if !attempt.mark_in_doubt().await? {
        return Ok(SendResult::Retry {
            class: "claim_lost",
            in_doubt: false,
            detail: "the claim expired before the email was sent".into(),
        });
    }
    match mailer.send(&email).await {
        Ok(()) => Ok(SendResult::Sent {
            provider_ref: Some(format!("<{}>", email.message_id)),
            detail: Some(format!("in-app message {id}; email accepted")),
        }),
        Err(e) if e.is_transient() => Ok(SendResult::Retry {
            class: e.class(),
            in_doubt: e.in_doubt(),
            detail: e.to_string(),
        }),
        Err(e) => Ok(SendResult::Failed {
            class: e.class(),
            explanation: match e.class() {
                "email_bad_address" => "E-postadressen til mottakeren er ikke gyldig. Meldingen i appen er laget; rett adressen i skolesystemet.".into(),
                "email_bad_from" => "Avsenderadressen for skolen er ikke gyldig i oppsettet. Meld fra til kommuneadmin.".into(),
                _ => "E-posttjeneren avviste e-posten. Meldingen i appen er laget.".into(),
            },
            answer: Some(e.to_string()),
        }),
    }
}

fn sent(id: Uuid, detail: &str) -> SendResult {
    SendResult::Sent {
        provider_ref: Some(id.to_string()),
        detail: Some(detail.into()),
    }
}

/// The `message_email` channel.
pub struct MessageEmailSender {
    pub deps: Arc<MessageDeps>,
}

impl ChannelSender for MessageEmailSender {
    fn channel(&self) -> Channel {
        Channel::MessageEmail
    }

    fn send<'a>(
        &'a self,
        job: &'a Job,
        content: ContentPolicy,
        attempt: &'a Attempt,
    ) -> BoxFuture<'a, Result<SendResult, ChannelError>> {
        Box::pin(async move {
            let t = job.decision.document_type;
            let sami = self.deps.sami.for_event(&job.event, t);
            if let Resolution::Missing(language) = sami {
                tracing::warn!(
                    event_id = %job.event_id,
                    document_type = t.key(),
                    sami = language.code(),
                    "no Sámi text in the event and no fixed phrase for the language: the message is sent in Norwegian only"
                );
            }
            let composed = compose_with_sami(job, content, &self.deps.portal_url, &sami);
            deliver(&self.deps, job, attempt, composed).await
        })
    }
}
