//! `internal`: the moving notice handed to the receiving school in the municipality.
//!
//! Stage: delivery. Input: a claimed [`Job`] on `internal` whose recipient is
//! `school:<id>` (planned by the deliver stage from `fields.receiving_school.id`).
//! Output: an AMQP event `document.internal` on the outbound exchange with routing
//! key `school.<id>.document.internal`, persistent, mandatory, confirmed. It
//! references the document (event id, type, title, pupil id); the school system
//! that produced the document shows it to the receiving school. Failure: a broker
//! fault or no queue bound for that school is a retry, then `failed`; a recipient
//! that is not a school is `failed` at once.
//!
//! Idempotency: the event carries the delivery's key as `message_id` (and header
//! `x-dokflyt-message-id`); a repeat after a lost confirm has the same id.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use super::outbound::{internal_routing_key, Outbound};
use super::{Attempt, ChannelError, ChannelSender, ContentPolicy, Job, SendResult};
use crate::document::Channel;

pub struct InternalSender {
    pub outbound: Arc<Outbound>,
}

impl ChannelSender for InternalSender {
    fn channel(&self) -> Channel {
        Channel::Internal
    }

    fn send<'a>(
        &'a self,
        job: &'a Job,
        _content: ContentPolicy,
        _attempt: &'a Attempt,
    ) -> BoxFuture<'a, Result<SendResult, ChannelError>> {
        Box::pin(async move {
            let Some(school) = job.recipient_id.strip_prefix("school:") else {
                return Ok(SendResult::Failed {
                    class: "internal_recipient",
                    explanation: "Mottakeren av en intern melding må være en skole.".into(),
                    answer: None,
                });
            };
            let key = job.idempotency_key();
            let body = json!({
                "type": "document.internal",
                "message_id": key,
                "event_id": job.event_id,
                "document_type": job.decision.document_type.key(),
                "title": job.title,
                "from_school": { "id": job.event.school.id, "name": job.event.school.name },
                "to_school_id": school,
                "pupil_id": job.event.pupil.as_ref().map(|p| p.id.clone()),
                "has_document": job.pdf.is_some(),
                "occurred_at": job.event.occurred_at,
            });
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            let rk = internal_routing_key(school);
            match self.outbound.publish(&rk, &key, &bytes).await {
                Ok(()) => Ok(SendResult::Sent {
                    provider_ref: Some(rk),
                    detail: Some("document.internal published".into()),
                }),
                Err(e) => Ok(SendResult::Retry {
                    class: e.class(),
                    in_doubt: false,
                    detail: e.to_string(),
                }),
            }
        })
    }
}
