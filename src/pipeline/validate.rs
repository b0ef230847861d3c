//! Stage 2 — validate: raw message bytes → [`ValidatedEvent`].
//!
//! Input: the body of one AMQP delivery. Output: a [`ValidatedEvent`]
//! (`crate::document`, whose one constructor holds the checks: schema version,
//! document type, the v1 shape, national ids, non-empty names).
//! Failure: a [`ValidationError`] with a stable machine-readable
//! [`code`](ValidationError::code). It is never transient: the pipeline
//! dead-letters the message with that reason. Messages name the field, never its
//! value, so no personal data reaches a log.

pub use crate::document::{ValidatedEvent, ValidationError};

/// Checks one message body. `max_bytes` is the configured size limit.
pub fn validate(body: &[u8], max_bytes: usize) -> Result<ValidatedEvent, ValidationError> {
    ValidatedEvent::parse(body, max_bytes)
}
