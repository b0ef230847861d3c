//! The states after validation: [`RoutedDocument`] → [`RenderedDocument`] →
//! [`DeliveryPlan`], and the [`RenderedPdf`] a rendered document may carry.
//!
//! Input: the state before and what the stage added (the routing decision, the
//! PDF, the planned sends). Output: the next state, through its one constructor.
//! Failure: a [`StateError`] when the parts do not belong together (a decision
//! for another document type, a PDF where the routing needs none, an intent on
//! another channel) — a bug in a stage, refused here rather than stored.

use sha2::{Digest, Sha256};

use super::decision::{Channel, RoutingDecision};
use super::validated::ValidatedEvent;

/// Why parts do not make the next state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the routing decision is for another document type")]
    DecisionForAnotherType,
    #[error("the routing decision is a refusal")]
    DecisionRejected,
    #[error("a PDF must be rendered exactly when the routing needs one")]
    PdfMismatch,
    #[error("a planned send is on another channel than the document's")]
    IntentOnAnotherChannel,
}

/// An event with the decision that routes it.
#[derive(Debug, Clone)]
pub struct RoutedDocument {
    event: ValidatedEvent,
    decision: RoutingDecision,
}

impl RoutedDocument {
    /// Pairs an event with the routing table's decision for it (stage 3).
    pub fn new(event: ValidatedEvent, decision: RoutingDecision) -> Result<Self, StateError> {
        if decision.document_type != event.document_type() {
            return Err(StateError::DecisionForAnotherType);
        }
        if decision.rejected.is_some() {
            return Err(StateError::DecisionRejected);
        }
        Ok(RoutedDocument { event, decision })
    }
    pub fn event(&self) -> &ValidatedEvent {
        &self.event
    }
    pub fn decision(&self) -> &RoutingDecision {
        &self.decision
    }
    /// Whether a PDF is produced: letters that leave by SvarUt, and archive copies.
    pub fn needs_pdf(&self) -> bool {
        self.decision.archived
            || matches!(
                self.decision.channel,
                Channel::Svarut | Channel::SvarutArchive
            )
    }
}

/// A finished PDF.
#[derive(Debug, Clone)]
pub struct RenderedPdf {
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes`; proves a re-render is the same document.
    pub sha256: String,
    pub pages: u32,
}

impl RenderedPdf {
    pub fn new(bytes: Vec<u8>, pages: u32) -> RenderedPdf {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        RenderedPdf {
            bytes,
            sha256,
            pages,
        }
    }
}

/// A routed document with its PDF (if it needs one).
#[derive(Debug, Clone)]
pub struct RenderedDocument {
    routed: RoutedDocument,
    pdf: Option<RenderedPdf>,
}

impl RenderedDocument {
    /// The routed document and its PDF: present exactly when
    /// [`RoutedDocument::needs_pdf`] (stage 4).
    pub fn new(routed: RoutedDocument, pdf: Option<RenderedPdf>) -> Result<Self, StateError> {
        if pdf.is_some() != routed.needs_pdf() {
            return Err(StateError::PdfMismatch);
        }
        Ok(RenderedDocument { routed, pdf })
    }
    pub fn routed(&self) -> &RoutedDocument {
        &self.routed
    }
    pub fn pdf(&self) -> Option<&RenderedPdf> {
        self.pdf.as_ref()
    }
}

/// One planned send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryIntent {
    /// The recipient's id in the school system (or the receiving school's id).
    pub recipient_id: String,
    pub channel: Channel,
}

/// The rendered document with its planned sends.
#[derive(Debug, Clone)]
pub struct DeliveryPlan {
    document: RenderedDocument,
    intents: Vec<DeliveryIntent>,
}

impl DeliveryPlan {
    /// The document and who receives it (stage 5, which asks the recipient
    /// policy); every intent is on the document's channel.
    pub fn new(
        document: RenderedDocument,
        intents: Vec<DeliveryIntent>,
    ) -> Result<Self, StateError> {
        let channel = document.routed().decision().channel;
        if intents.iter().any(|i| i.channel != channel) {
            return Err(StateError::IntentOnAnotherChannel);
        }
        Ok(DeliveryPlan { document, intents })
    }
    pub fn document(&self) -> &RenderedDocument {
        &self.document
    }
    pub fn intents(&self) -> &[DeliveryIntent] {
        &self.intents
    }
}
