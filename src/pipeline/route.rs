//! Stage 3 — route: [`ValidatedEvent`] → [`RoutedDocument`].
//!
//! Input: a validated event and the routing table in force.
//! Output: the event paired with its [`RoutingDecision`] (channel, archive policy,
//! folder, access, journal type/status, rule id and table version).
//! Failure: a [`Rejection`] (a routing error such as a sensitive document on a
//! message channel, or a failed archive precondition). Never transient: the
//! pipeline dead-letters it with the Norwegian reason.

use crate::pipeline::validate::ValidatedEvent;
use crate::rules::{Rejection, RoutingDecision, RoutingTable};

/// An event with the decision that routes it. Built only by [`route`].
#[derive(Debug, Clone)]
pub struct RoutedDocument {
    event: ValidatedEvent,
    decision: RoutingDecision,
}

impl RoutedDocument {
    pub fn event(&self) -> &ValidatedEvent {
        &self.event
    }
    pub fn decision(&self) -> &RoutingDecision {
        &self.decision
    }
    /// Whether a PDF is produced: letters that leave by SvarUt, and archive copies.
    pub fn needs_pdf(&self) -> bool {
        use crate::rules::Channel;
        self.decision.archived
            || matches!(
                self.decision.channel,
                Channel::Svarut | Channel::SvarutArchive
            )
    }
}

/// Applies the table to one event.
pub fn route(event: ValidatedEvent, table: &RoutingTable) -> Result<RoutedDocument, Rejection> {
    let decision = table.decide(&event)?;
    Ok(RoutedDocument { event, decision })
}
