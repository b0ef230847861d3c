//! Stage 5 — deliver: [`RenderedDocument`] → [`DeliveryPlan`].
//!
//! Input: a rendered document. Output: who receives it on which channel — one
//! [`DeliveryIntent`] per recipient. The intents are committed with the document
//! (stage 6) *before* anything is sent, so a channel worker can look an intent up
//! and never send twice; the channel workers that send them (SvarUt, message and
//! email, SMS) are the later issues' part. Nothing is sent from this stage.
//! Failure: a letter with nobody allowed to receive it (no guardian with parental
//! responsibility) is refused with `no_recipient`; it is never silently dropped.
//!
//! Who receives what is decided by [`recipient_policy`] alone (docs/domain.md §3, §9):
//! letters (`svarut`) and login notices go to guardians **with parental
//! responsibility** only; a guardian without it gets nothing about the pupil.
//! Messages go to those guardians and to staff/pupil recipients named in the
//! event. `svarut_archive` is sent by the archive system (its receivers are marked
//! in the arkivmelding by the same policy), `internal` goes to the receiving
//! school, `none` goes nowhere, and an emergency SMS goes to the school's roster
//! (not to the event's recipients).

use crate::document::{Channel, DeliveryIntent, DeliveryPlan, RenderedDocument};
use crate::recipient_policy;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    #[error("{0}")]
    NoRecipient(&'static str),
    #[error("{0}")]
    State(#[from] crate::document::StateError),
}

impl DeliverError {
    pub fn code(&self) -> &'static str {
        match self {
            DeliverError::NoRecipient(_) => "no_recipient",
            // A stage's bug (see `document::StateError`), never the producer's.
            DeliverError::State(_) => "invalid_state",
        }
    }
}

pub fn plan(document: RenderedDocument) -> Result<DeliveryPlan, DeliverError> {
    let routed = document.routed();
    let event = routed.event().event();
    let channel = routed.decision().channel;
    let intents: Vec<DeliveryIntent> = match channel {
        // Persons: exactly those the recipient policy makes receivers. A held one
        // (protected address, no digital mailbox) is planned too: its channel
        // worker records it `held` for a person, so the school sees it.
        Channel::Svarut | Channel::Notification | Channel::MessageEmail => {
            recipient_policy::receivers(channel, &event.recipients)
                .map(|(r, _)| DeliveryIntent {
                    recipient_id: r.id.clone(),
                    channel,
                })
                .collect()
        }
        Channel::Internal => event
            .fields
            .get("receiving_school")
            .and_then(|s| s.get("id"))
            .and_then(|id| id.as_str())
            .map(|id| DeliveryIntent {
                recipient_id: format!("school:{id}"),
                channel,
            })
            .into_iter()
            .collect(),
        // `svarut_archive`: the archive dispatches; its receivers are marked in the
        // arkivmelding by the same policy. `sms`: the roster. `none`: nobody.
        Channel::SvarutArchive | Channel::Sms | Channel::None => Vec::new(),
    };
    let must_reach_someone = matches!(
        channel,
        Channel::Svarut | Channel::Notification | Channel::MessageEmail | Channel::Internal
    );
    // The archive dispatches `svarut_archive` letters to the persons the event
    // names (a moving notice to another municipality names none): when it names
    // some, at least one must be a receiver, or the letter would reach nobody.
    let archive_reaches_nobody = channel == Channel::SvarutArchive
        && !event.recipients.is_empty()
        && recipient_policy::receivers(channel, &event.recipients)
            .next()
            .is_none();
    if (must_reach_someone && intents.is_empty()) || archive_reaches_nobody {
        return Err(DeliverError::NoRecipient(
            "Dokumentet har ingen mottaker som kan få det (ingen foresatte med foreldreansvar eller andre mottakere)",
        ));
    }
    Ok(DeliveryPlan::new(document, intents)?)
}
