//! Stage 2 — validate: raw message bytes → [`ValidatedEvent`].
//!
//! Input: the body of one AMQP delivery (or an event file for the CLI).
//! Output: a [`ValidatedEvent`]; the only way to build one is [`validate`], so every
//! later stage can rely on a known schema version, a known document type, checked
//! national ids and non-empty names.
//! Failure: a [`ValidationError`] with a stable machine-readable [`code`](ValidationError::code).
//! It is never transient: the pipeline dead-letters the message with that reason.
//! Messages name the field, never its value, so no personal data reaches a log.

use serde::Deserialize;
use uuid::Uuid;

use crate::event::{
    is_valid_national_id, DocumentType, IncomingEvent, RecipientKind, SCHEMA_VERSION,
};

/// Why an event was refused before routing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValidationError {
    #[error("the message is {size} bytes; the limit is {limit}")]
    Oversize { size: usize, limit: usize },
    #[error("the message body is not UTF-8")]
    NotUtf8,
    #[error("the message body is not JSON: {0}")]
    NotJson(String),
    #[error("schema_version {found:?} is not supported; this worker accepts {SCHEMA_VERSION}")]
    UnsupportedSchemaVersion { found: Option<i64> },
    #[error("the event does not match the v1 contract: {0}")]
    Schema(String),
    #[error("unknown document_type «{0}»: not a key of the routing table")]
    UnknownDocumentType(String),
    #[error("field {field} is invalid: {problem}")]
    InvalidField {
        field: String,
        problem: &'static str,
    },
}

impl ValidationError {
    /// Stable reason code, sent as the `x-dokflyt-reason-code` header on the
    /// dead-lettered message and counted per code in `dokflyt status`.
    pub fn code(&self) -> &'static str {
        match self {
            ValidationError::Oversize { .. } => "oversize",
            ValidationError::NotUtf8 => "not_utf8",
            ValidationError::NotJson(_) => "not_json",
            ValidationError::UnsupportedSchemaVersion { .. } => "unsupported_schema_version",
            ValidationError::Schema(_) => "schema_violation",
            ValidationError::UnknownDocumentType(_) => "unknown_document_type",
            ValidationError::InvalidField { .. } => "invalid_field",
        }
    }

    /// The event id, when the body was readable enough to carry one.
    pub fn event_id_of(body: &[u8]) -> Option<Uuid> {
        #[derive(Deserialize)]
        struct IdOnly {
            event_id: Uuid,
        }
        serde_json::from_slice::<IdOnly>(body)
            .ok()
            .map(|e| e.event_id)
    }
}

/// A document event that passed every check that needs no routing table.
///
/// Fields are private: it is constructed only by [`validate`], and read through
/// accessors, so an unchecked event cannot travel further down the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedEvent {
    event: IncomingEvent,
    document_type: DocumentType,
}

impl ValidatedEvent {
    pub fn event_id(&self) -> Uuid {
        self.event.event_id
    }
    pub fn document_type(&self) -> DocumentType {
        self.document_type
    }
    /// The whole checked event (school, pupil, recipients, fields, sender ...).
    pub fn event(&self) -> &IncomingEvent {
        &self.event
    }
}

/// Checks one message body. `max_bytes` is the configured size limit.
pub fn validate(body: &[u8], max_bytes: usize) -> Result<ValidatedEvent, ValidationError> {
    if body.len() > max_bytes {
        return Err(ValidationError::Oversize {
            size: body.len(),
            limit: max_bytes,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| ValidationError::NotUtf8)?;
    // PostgreSQL cannot store U+0000 in text or jsonb; refuse it here, not at commit.
    if text.contains("\\u0000") {
        return Err(invalid("(a string)", "contains a NUL character (\\u0000)"));
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ValidationError::NotJson(position_only(&e)))?;
    // The version is read before the shape, so a v2 event gets the right reason.
    let version = value.get("schema_version").and_then(|v| v.as_i64());
    if version != Some(SCHEMA_VERSION as i64) {
        return Err(ValidationError::UnsupportedSchemaVersion { found: version });
    }
    if let Some(key) = value.get("document_type").and_then(|v| v.as_str()) {
        if key.parse::<DocumentType>().is_err() {
            return Err(ValidationError::UnknownDocumentType(key.to_string()));
        }
    }
    let event: IncomingEvent = serde_json::from_value(value)
        .map_err(|e| ValidationError::Schema(redact_values(&e.to_string())))?;
    let document_type = event
        .document_type
        .parse::<DocumentType>()
        .map_err(|e| ValidationError::UnknownDocumentType(e.0))?;
    check_fields(&event)?;
    Ok(ValidatedEvent {
        event,
        document_type,
    })
}

/// serde_json syntax errors quote no input, only a line and column.
fn position_only(e: &serde_json::Error) -> String {
    format!("syntax error at line {} column {}", e.line(), e.column())
}

/// serde quotes offending values (`invalid type: string "Kari", expected u8`,
/// ``unknown variant `x` ``); those may be personal data, so every quoted value is
/// replaced by `…`. Field names (after "field") are kept: they are the contract.
fn redact_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(len) = closing_quote(after, quote) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let keep =
            out.ends_with("field ") || out.ends_with("expected one of ") || out.ends_with(", ");
        out.push(quote);
        out.push_str(if keep { &after[..len] } else { "…" });
        out.push(quote);
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

/// Byte offset of the quote that closes a quoted value. serde prints string values
/// Debug-escaped (`string "Kari \"K\" N"`), so an escaped `\"` does not close one.
fn closing_quote(s: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            return Some(i);
        }
    }
    None
}

fn invalid(field: impl Into<String>, problem: &'static str) -> ValidationError {
    ValidationError::InvalidField {
        field: field.into(),
        problem,
    }
}

fn check_fields(e: &IncomingEvent) -> Result<(), ValidationError> {
    let non_empty = |v: &str, field: &str| {
        if v.trim().is_empty() {
            Err(invalid(field, "must not be empty"))
        } else {
            Ok(())
        }
    };
    non_empty(&e.title, "title")?;
    if e.title.chars().count() > 500 {
        return Err(invalid("title", "longer than 500 characters"));
    }
    if !(e.municipality.number.len() == 4
        && e.municipality.number.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("municipality.number", "must be four digits"));
    }
    non_empty(&e.municipality.name, "municipality.name")?;
    non_empty(&e.school.id, "school.id")?;
    non_empty(&e.school.name, "school.name")?;
    if !(e.school.org_number.len() == 9 && e.school.org_number.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("school.org_number", "must be nine digits"));
    }
    non_empty(&e.sender.user_id, "sender.user_id")?;
    non_empty(&e.sender.name, "sender.name")?;
    non_empty(&e.sender.role, "sender.role")?;
    non_empty(&e.sender.initials, "sender.initials")?;
    if let Some(p) = &e.pupil {
        non_empty(&p.id, "pupil.id")?;
        non_empty(&p.name, "pupil.name")?;
        if p.grade_level > 10 {
            return Err(invalid("pupil.grade_level", "must be 0–10"));
        }
    }
    let mut seen_ids = std::collections::HashSet::with_capacity(e.recipients.len());
    for (i, r) in e.recipients.iter().enumerate() {
        let at = |f: &str| format!("recipients[{i}].{f}");
        non_empty(&r.id, &at("id"))?;
        // Two entries for one person would make "who receives it" ambiguous (the
        // first one used to win, whatever the second said about responsibility).
        if !seen_ids.insert(r.id.as_str()) {
            return Err(invalid(
                at("id"),
                "the same recipient id appears more than once",
            ));
        }
        non_empty(&r.name, &at("name"))?;
        if let Some(id) = &r.national_id {
            if !is_valid_national_id(id) {
                return Err(invalid(
                    at("national_id"),
                    "not a valid 11-digit national id",
                ));
            }
        }
        if r.kind != RecipientKind::Guardian && r.parental_responsibility {
            return Err(invalid(
                at("parental_responsibility"),
                "only a guardian can have parental responsibility",
            ));
        }
        if let Some(email) = &r.email {
            let ok = email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
            if !ok {
                return Err(invalid(at("email"), "not an email address"));
            }
        }
        if let Some(m) = &r.mobile {
            let digits = m.chars().filter(|c| c.is_ascii_digit()).count();
            let allowed = m.chars().all(|c| c.is_ascii_digit() || " +-".contains(c));
            if !allowed || !(8..=15).contains(&digits) {
                return Err(invalid(at("mobile"), "not a phone number"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_field_names_and_drops_values() {
        let m = redact_values("invalid type: string \"Kari Nordmann\", expected u8 at line 1");
        assert_eq!(m, "invalid type: string \"…\", expected u8 at line 1");
        let m = redact_values("unknown field `sensitiv`, expected one of `event_id`, `title`");
        assert!(m.contains("`sensitiv`") && m.contains("`title`"), "{m}");
        let m = redact_values("unknown variant `Ola`, expected one of `in`, `out`");
        assert!(!m.contains("Ola"), "{m}");
        // A quote inside a value is escaped by serde and must not end the redaction.
        let m = redact_values(r#"invalid type: string "Kari \"Kx\" Nordmann", expected u8"#);
        assert_eq!(m, "invalid type: string \"…\", expected u8");
    }

    #[test]
    fn a_duplicate_recipient_id_is_refused_naming_the_field_not_the_value() {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../examples/events/grade_warning.json"))
                .expect("example");
        let body = serde_json::to_vec(&v).expect("json");
        assert!(validate(&body, 1 << 20).is_ok(), "the example is valid");
        let first_id = v["recipients"][0]["id"].clone();
        v["recipients"][1]["id"] = first_id.clone();
        let body = serde_json::to_vec(&v).expect("json");
        let err = validate(&body, 1 << 20).expect_err("duplicate refused");
        assert_eq!(err.code(), "invalid_field");
        assert_eq!(
            err,
            ValidationError::InvalidField {
                field: "recipients[1].id".into(),
                problem: "the same recipient id appears more than once",
            }
        );
        let text = err.to_string();
        assert!(!text.contains(first_id.as_str().expect("id")), "{text}");
        for r in v["recipients"].as_array().expect("recipients") {
            assert!(!text.contains(r["name"].as_str().expect("name")), "{text}");
        }
    }

    #[test]
    fn bytes_are_checked_before_json() {
        assert_eq!(validate(&[b'{'; 10], 5).unwrap_err().code(), "oversize");
        assert_eq!(validate(&[0xff, 0xfe], 100).unwrap_err().code(), "not_utf8");
        assert_eq!(validate(b"{nope", 100).unwrap_err().code(), "not_json");
        assert_eq!(
            validate(br#"{"schema_version": 2}"#, 100)
                .unwrap_err()
                .code(),
            "unsupported_schema_version"
        );
        assert_eq!(
            validate(br#"{"schema_version": 1, "document_type": "x"}"#, 100)
                .unwrap_err()
                .code(),
            "unknown_document_type"
        );
        assert_eq!(
            validate(br#"{"schema_version": 1, "title": "a\u0000b"}"#, 100)
                .unwrap_err()
                .code(),
            "invalid_field"
        );
    }
}
