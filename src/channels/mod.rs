//! Delivery: the channel workers that send the planned deliveries (docs/domain.md §2–§3).
//!
//! Stage: after the pipeline. Input: `deliveries` rows in status `planned` (committed
//! with the document by stage 6), the stored event and document. Output: each row
//! `sent` (then, for SvarUt, `delivered` or `failed` from the polled status), or
//! `failed` / `held` with a class and a Norwegian explanation; every change in
//! `delivery_status_history`. Failure: [`ChannelError`] only when the database
//! fails; every provider fault ends in the row's status.
//!
//! One [`ChannelSender`] per channel: [`svarut`], [`message`] (`message_email`: the
//! in-app message plus an [`email`] copy), [`notification`] (grade and absence
//! notices: no content), [`internal`] (the moving notice to the receiving school).
//!
//! The dispatcher ([`dispatch`]) claims rows the way the archive transfer does: one
//! committed statement sets `claimed_by`/`claimed_until` on a batch selected
//! `FOR UPDATE SKIP LOCKED`, the provider is called with no transaction or pooled
//! connection held, and the outcome is recorded only while the claim is ours. Each
//! claim counts as an attempt, so a row that crashes the worker cannot loop forever.
//! A sender commits `in_doubt` right before a call the provider could complete
//! without our knowing ([`Attempt::mark_in_doubt`]); a row reclaimed in doubt is
//! looked up at the provider before any resend (SvarUt `eksternRef`) or, where the
//! provider has no look-up (SMTP), held for a human instead of risking a second send.
//!
//! Defence in depth ([`content_policy`]): whatever the routing table said, a sensitive
//! document is refused on `message_email` and `notification`, and a UO document
//! travels there only as a content-free notice (no text, no attachment).
//!
//! Logs carry delivery ids, event ids, classes and counts; never names, national
//! ids, addresses, email addresses or document text.

pub mod cms;
mod dispatch;
pub(crate) mod email;
mod internal;
pub mod message;
pub mod notification;
pub mod outbound;
pub mod status;
pub mod svarut;
pub mod unreachable;
pub(crate) mod worker;

pub use email::{Email, MailError, Mailer};
pub use worker::Channels;

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::document::{Access, Channel, RoutingDecision};
use crate::event::{IncomingEvent, Recipient};

pub use dispatch::{Attempt, DispatchOptions, DispatchSummary};

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("database error during delivery: {0}")]
    Db(#[from] sqlx::Error),
}

/// Where a delivery stands. Stored as text in `deliveries.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Committed intent; not sent yet (or waiting for a retry).
    Planned,
    /// The provider accepted it.
    Sent,
    /// The provider reports it read, printed or delivered to a mailbox.
    Delivered,
    /// Permanently failed, with a class and a reason for the school.
    Failed,
    /// Held for manual handling, with a reason (never sent automatically).
    Held,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Planned => "planned",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Held => "held",
        }
    }
}

/// The channels that have a worker.
pub const WORKER_CHANNELS: [Channel; 4] = [
    Channel::Svarut,
    Channel::MessageEmail,
    Channel::Notification,
    Channel::Internal,
];

/// The archive's journal reference, once the document is archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRef {
    pub year: Option<i32>,
    pub sequence: Option<i32>,
    pub post_number: Option<i32>,
    pub system_id: Option<String>,
    pub status: Option<String>,
}

/// One claimed delivery with everything a sender needs. Built only by the dispatcher.
#[derive(Clone)]
pub struct Job {
    pub delivery_id: i64,
    pub event_id: Uuid,
    pub recipient_id: String,
    pub channel: Channel,
    /// 1 on the first claim.
    pub attempt: i32,
    /// A previous attempt may have reached the provider.
    pub in_doubt: bool,
    pub event: IncomingEvent,
    pub decision: RoutingDecision,
    pub title: String,
    pub pdf: Option<Vec<u8>>,
    pub journal: Option<JournalRef>,
    /// The contact register's answer about the recipient, already applied to
    /// `event`'s copy of them (None: not asked — register off, not a guardian).
    pub register: Option<crate::recipient_policy::RegisterFacts>,
}

// The event's own Debug hides its personal data; the title and the PDF are hidden.
crate::redacted_debug!(Job {
    show: [
        delivery_id,
        event_id,
        recipient_id,
        channel,
        attempt,
        in_doubt,
        event,
        decision,
        journal,
        register
    ],
    hide: [title, pdf],
});

impl Job {
    /// The recipient as the event named them (None for `internal`'s school recipient).
    pub fn recipient(&self) -> Option<&Recipient> {
        self.event
            .recipients
            .iter()
            .find(|r| r.id == self.recipient_id)
    }

    /// The deterministic key of this (event, recipient, channel): the event id plus
    /// a short hash of recipient and channel, at most 53 characters.
    pub fn idempotency_key(&self) -> String {
        idempotency_key(self.event_id, &self.recipient_id, self.channel)
    }
}

/// `<event id>:<12 hex of sha256(recipient id, channel)>`.
pub fn idempotency_key(event_id: Uuid, recipient_id: &str, channel: Channel) -> String {
    let mut h = Sha256::new();
    h.update(recipient_id.as_bytes());
    h.update([0]);
    h.update(channel.as_str().as_bytes());
    let digest = hex::encode(h.finalize());
    format!("{event_id}:{}", &digest[..12])
}

/// What a channel may carry for one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentPolicy {
    /// The content; `attachment` when the PDF may travel with it.
    Full { attachment: bool },
    /// Only "you have a new document; log in to read it".
    NoticeOnly,
}

/// Why the channel layer refuses a document on a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{explanation}")]
pub struct Refusal {
    pub class: &'static str,
    pub explanation: String,
}

/// Defence in depth: decides what `channel` may carry of this document, whatever
/// the routing table said.
pub fn content_policy(
    channel: Channel,
    sensitive: bool,
    access: Access,
    has_pdf: bool,
) -> Result<ContentPolicy, Refusal> {
    let message_like = matches!(channel, Channel::MessageEmail | Channel::Notification);
    if sensitive && (message_like || !channel.may_carry_sensitive()) {
        return Err(Refusal {
            class: "sensitive_refused",
            explanation: "Dokumentet er merket sensitivt og sendes aldri som melding, e-post eller varsel. Det er stoppet; send det med SvarUt fra arkivet.".into(),
        });
    }
    Ok(match (channel, access) {
        (Channel::Notification, _) => ContentPolicy::NoticeOnly,
        (Channel::MessageEmail, Access::Uo) => ContentPolicy::NoticeOnly,
        (Channel::MessageEmail, Access::Public) => ContentPolicy::Full {
            attachment: has_pdf,
        },
        _ => ContentPolicy::Full {
            attachment: has_pdf,
        },
    })
}

/// What one send came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// Accepted by the provider; `provider_ref` is its id (forsendelseId, Message-ID).
    Sent {
        provider_ref: Option<String>,
        detail: Option<String>,
    },
    /// A transient fault: retried with backoff until `max_attempts`. `in_doubt`
    /// when the provider may have received it (look up before resending).
    Retry {
        class: &'static str,
        in_doubt: bool,
        detail: String,
    },
    /// Permanent: `failed` with a Norwegian explanation and the provider's answer.
    Failed {
        class: &'static str,
        explanation: String,
        answer: Option<String>,
    },
    /// Not sent; a person must handle it (e.g. protected address, no digital mailbox).
    Held {
        class: &'static str,
        explanation: String,
    },
}

/// A channel worker's sender: one job in, one outcome out. Never panics on input;
/// only a lost claim or a database error comes back as `Err`.
pub trait ChannelSender: Send + Sync {
    fn channel(&self) -> Channel;
    fn send<'a>(
        &'a self,
        job: &'a Job,
        content: ContentPolicy,
        attempt: &'a Attempt,
    ) -> BoxFuture<'a, Result<SendResult, ChannelError>>;
}

/// The school's name, for texts (from the event).
pub fn school_name(event: &IncomingEvent) -> &str {
    &event.school.name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_pre_register_every_worker_channel() {
        let ours: Vec<&str> = WORKER_CHANNELS.iter().map(|c| c.as_str()).collect();
        assert_eq!(ours, crate::metrics::WORKER_CHANNELS);
    }

    #[test]
    fn sensitive_never_on_message_or_notification() {
        for ch in [Channel::MessageEmail, Channel::Notification, Channel::Sms] {
            for access in [Access::Public, Access::Uo] {
                let r = content_policy(ch, true, access, true);
                assert_eq!(r.unwrap_err().class, "sensitive_refused", "{ch:?}");
            }
        }
        assert_eq!(
            content_policy(Channel::Svarut, true, Access::Uo, true),
            Ok(ContentPolicy::Full { attachment: true })
        );
    }

    #[test]
    fn uo_and_notification_are_notices_only() {
        assert_eq!(
            content_policy(Channel::MessageEmail, false, Access::Uo, true),
            Ok(ContentPolicy::NoticeOnly)
        );
        assert_eq!(
            content_policy(Channel::Notification, false, Access::Public, true),
            Ok(ContentPolicy::NoticeOnly)
        );
        assert_eq!(
            content_policy(Channel::MessageEmail, false, Access::Public, false),
            Ok(ContentPolicy::Full { attachment: false })
        );
    }

    #[test]
    fn idempotency_key_is_deterministic_and_short() {
        let id = Uuid::nil();
        let a = idempotency_key(id, "fors-1", Channel::Svarut);
        assert_eq!(a, idempotency_key(id, "fors-1", Channel::Svarut));
        assert_ne!(a, idempotency_key(id, "fors-2", Channel::Svarut));
        assert_ne!(a, idempotency_key(id, "fors-1", Channel::MessageEmail));
        assert!(a.len() <= 100);
        assert!(a.starts_with(&id.to_string()));
    }
}
