//! The document's states, one type each, in the order the pipeline produces them:
//!
//! ```text
//! bytes ─► ValidatedEvent ─► RoutedDocument ─► RenderedDocument ─► DeliveryPlan
//!          (validated.rs)    (+ RoutingDecision, decision.rs)  (+ RenderedPdf)   (+ DeliveryIntent)
//! ```
//!
//! Concept: the vocabulary that `rules/`, `render/`, `pipeline/`, `db/` and the
//! channels share, below all of them; it imports only `event` (the wire contract).
//! Every state has private fields and one constructor that checks what it
//! promises, so a later stage cannot receive an unvalidated or unrouted value:
//! [`ValidatedEvent::parse`] (every check that needs no routing table),
//! [`RoutedDocument::new`] (the decision is for this event and not a refusal),
//! [`RenderedDocument::new`] (a PDF exactly when the routing needs one),
//! [`DeliveryPlan::new`] (every intent on the document's channel).
//! Failure: a [`ValidationError`] or a [`StateError`]; the stages in `pipeline/`
//! turn them into outcomes.

mod decision;
mod states;
mod validated;

pub use decision::{
    Access, ArchivePolicy, Channel, Folder, JournalPostType, JournalStatus, Rejection,
    RoutingDecision,
};
pub use states::{
    DeliveryIntent, DeliveryPlan, RenderedDocument, RenderedPdf, RoutedDocument, StateError,
};
pub use validated::{describe_serde_error, is_contract_name, ValidatedEvent, ValidationError};
