//! Stage 3 — route: [`ValidatedEvent`] → [`RoutedDocument`].
//!
//! Input: a validated event and the routing table in force.
//! Output: the event paired with its [`RoutingDecision`](crate::document::RoutingDecision)
//! (channel, archive policy, folder, access, journal type/status, rule id and
//! table version).
//! Failure: a [`Rejection`] (a routing error such as a sensitive document on a
//! message channel, or a failed archive precondition). Never transient: the
//! pipeline dead-letters it with the Norwegian reason.

use crate::document::{Rejection, RoutedDocument, ValidatedEvent};
use crate::rules::RoutingTable;

/// Applies the table to one event.
pub fn route(event: ValidatedEvent, table: &RoutingTable) -> Result<RoutedDocument, Rejection> {
    let decision = table.decide(&event)?;
    let rule = decision.rule.clone();
    RoutedDocument::new(event, decision).map_err(|e| Rejection {
        code: "no_rule",
        reason: format!("Rutingstabellen ga en beslutning som ikke passer dokumentet ({e})"),
        rule: Some(rule),
    })
}
