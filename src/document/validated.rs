//! The first document state: raw message bytes → [`ValidatedEvent`].
//!
//! Input: the body of one AMQP delivery (or an event file for the CLI, or a
//! stored event reproduced). Output: a [`ValidatedEvent`]; the only way to build
//! one is [`ValidatedEvent::parse`] (stage 2, `pipeline::validate`, calls it), so
//! every later state can rely on a known schema version, a known document type,
//! checked national ids and non-empty names.
//! Failure: a [`ValidationError`] with a stable machine-readable [`code`](ValidationError::code).
//! It is never transient: the pipeline dead-letters the message with that reason.
//! Messages name the field, never its value, so no personal data reaches a log.

use serde::Deserialize;
use uuid::Uuid;

use crate::event::{
    is_valid_national_id, DocumentType, IncomingEvent, RecipientKind, SCHEMA_VERSION,
};

/// Why an event was refused before routing.
///
/// The text (Norwegian) goes to the `x-dokflyt-reason` header, the
/// `dead_letters` row and the logs. It names a reason and a field path from the
/// contract, never a value the producer sent: serde's own messages quote values
/// (`invalid type: string "Kari", expected u8`), so they are never passed on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValidationError {
    #[error("meldingen er {size} byte; grensen er {limit} byte")]
    Oversize { size: usize, limit: usize },
    #[error("meldingen er ikke UTF-8")]
    NotUtf8,
    #[error("meldingen er ikke JSON ({0})")]
    NotJson(String),
    #[error("schema_version mangler eller støttes ikke; denne arbeideren godtar {SCHEMA_VERSION}")]
    UnsupportedSchemaVersion { found: Option<i64> },
    #[error("hendelsen følger ikke v1-kontrakten: feltet «{path}» {problem}")]
    Schema { path: String, problem: String },
    #[error("document_type er ikke en nøkkel i rutetabellen (docs/domain.md §8)")]
    UnknownDocumentType(String),
    #[error("feltet «{field}» er ugyldig: {problem}")]
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
            ValidationError::Schema { .. } => "schema_violation",
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
/// Fields are private: it is constructed only by [`ValidatedEvent::parse`], and read through
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

impl ValidatedEvent {
    /// Checks one message body. `max_bytes` is the configured size limit.
    pub fn parse(body: &[u8], max_bytes: usize) -> Result<ValidatedEvent, ValidationError> {
        if body.len() > max_bytes {
            return Err(ValidationError::Oversize {
                size: body.len(),
                limit: max_bytes,
            });
        }
        let text = std::str::from_utf8(body).map_err(|_| ValidationError::NotUtf8)?;
        // PostgreSQL cannot store U+0000 in text or jsonb; refuse it here, not at commit.
        if text.contains("\\u0000") {
            return Err(invalid("(en tekst)", "inneholder et NUL-tegn (\\u0000)"));
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ValidationError::NotJson(position_only(&e)))?;
        // serde_json keeps the last of two equal keys; which one the producer meant
        // (two event ids, two recipient lists) cannot be known, so refuse it.
        serde_json::from_str::<NoDuplicateKeys>(text).map_err(|_| {
            ValidationError::NotJson("en nøkkel står to ganger i samme objekt".into())
        })?;
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
        let event: IncomingEvent = serde_path_to_error::deserialize(value).map_err(|e| {
            let (path, problem) = describe_serde_error(&e);
            ValidationError::Schema { path, problem }
        })?;
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
}

/// A JSON document walked only to find an object with the same key twice
/// (serde_json's `Value` silently keeps the last). The error names no key.
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !seen.insert(key) {
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
}

/// serde_json syntax errors quote no input, only a line and column.
fn position_only(e: &serde_json::Error) -> String {
    format!("syntaksfeil på linje {}, kolonne {}", e.line(), e.column())
}

/// A serde error as (field path, Norwegian problem), with no producer value.
///
/// The path comes from `serde_path_to_error` (`recipients[1].kind`); each
/// segment is kept only when it is a contract-shaped name ([`is_contract_name`])
/// or an index. The problem is chosen by the kind of serde error; of serde's own
/// text only contract names (the missing field, an unknown field's name, the
/// allowed variants) are kept, never the value it quotes.
pub fn describe_serde_error(e: &serde_path_to_error::Error<serde_json::Error>) -> (String, String) {
    let mut path = String::new();
    for seg in e.path().iter() {
        use serde_path_to_error::Segment;
        match seg {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(if is_contract_name(key) { key } else { "…" });
            }
            Segment::Unknown => {}
        }
    }
    let msg = e.inner().to_string();
    let named = |prefix: &str| -> Option<String> {
        let rest = msg.strip_prefix(prefix)?.strip_prefix('`')?;
        let name = &rest[..rest.find('`')?];
        is_contract_name(name).then(|| name.to_string())
    };
    let allowed = || -> String {
        let Some(i) = msg.rfind("expected one of ") else {
            return String::new();
        };
        let names: Vec<&str> = msg[i + "expected one of ".len()..]
            .split(", ")
            .map(|n| n.trim_matches('`'))
            .filter(|n| is_contract_name(n))
            .collect();
        if names.is_empty() {
            String::new()
        } else {
            format!(" (tillatt: {})", names.join(", "))
        }
    };
    let problem = if let Some(field) = named("missing field ") {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&field);
        "mangler".to_string()
    } else if msg.starts_with("missing field") {
        "mangler et påkrevd felt".to_string()
    } else if msg.starts_with("unknown field") {
        // The path ends with the unknown key itself (shown only when it is
        // contract-shaped, else `…`).
        format!("er ikke et felt i kontrakten{}", allowed())
    } else if msg.starts_with("unknown variant") {
        format!("har en verdi som ikke er tillatt{}", allowed())
    } else if msg.starts_with("invalid type") {
        "har feil type".to_string()
    } else if msg.starts_with("invalid length") {
        "har feil lengde".to_string()
    } else if msg.starts_with("invalid value") {
        "har en ugyldig verdi".to_string()
    } else if msg.starts_with("duplicate field") {
        "er oppgitt to ganger".to_string()
    } else {
        "har en ugyldig verdi".to_string()
    };
    if path.is_empty() {
        path.push_str("(hele hendelsen)");
    }
    (path, problem)
}

/// A name shaped like the contract's field names and keys (`snake_case`, ASCII,
/// at most 64 characters). Only such names are echoed in reasons: a field name is
/// the producer's contract, not personal data, but anything else might be.
pub fn is_contract_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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
            Err(invalid(field, "må ikke være tom"))
        } else {
            Ok(())
        }
    };
    non_empty(&e.title, "title")?;
    if e.title.chars().count() > 500 {
        return Err(invalid("title", "lengre enn 500 tegn"));
    }
    if !(e.municipality.number.len() == 4
        && e.municipality.number.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("municipality.number", "må være fire sifre"));
    }
    non_empty(&e.municipality.name, "municipality.name")?;
    non_empty(&e.school.id, "school.id")?;
    non_empty(&e.school.name, "school.name")?;
    if !(e.school.org_number.len() == 9 && e.school.org_number.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("school.org_number", "må være ni sifre"));
    }
    non_empty(&e.sender.user_id, "sender.user_id")?;
    non_empty(&e.sender.name, "sender.name")?;
    non_empty(&e.sender.role, "sender.role")?;
    non_empty(&e.sender.initials, "sender.initials")?;
    if let Some(p) = &e.pupil {
        non_empty(&p.id, "pupil.id")?;
        non_empty(&p.name, "pupil.name")?;
        if p.grade_level > 10 {
            return Err(invalid("pupil.grade_level", "må være 0–10"));
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
                    "ikke et gyldig fødselsnummer (11 sifre, kontrollsifre)",
                ));
            }
        }
        if r.kind != RecipientKind::Guardian && r.parental_responsibility {
            return Err(invalid(
                at("parental_responsibility"),
                "bare en foresatt kan ha foreldreansvar",
            ));
        }
        if let Some(email) = &r.email {
            let ok = email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
            if !ok {
                return Err(invalid(at("email"), "ikke en e-postadresse"));
            }
        }
        if let Some(m) = &r.mobile {
            let digits = m.chars().filter(|c| c.is_ascii_digit()).count();
            let allowed = m.chars().all(|c| c.is_ascii_digit() || " +-".contains(c));
            if !allowed || !(8..=15).contains(&digits) {
                return Err(invalid(at("mobile"), "ikke et telefonnummer"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(body: &[u8], max: usize) -> Result<ValidatedEvent, ValidationError> {
        ValidatedEvent::parse(body, max)
    }

    fn schema_error(json: &str) -> (String, String) {
        let value: serde_json::Value = serde_json::from_str(json).expect("json");
        let e = serde_path_to_error::deserialize::<_, IncomingEvent>(value).expect_err("bad");
        describe_serde_error(&e)
    }

    #[test]
    fn serde_errors_become_a_path_and_a_problem_without_the_value() {
        let base = crate::event::SAMPLE_EVENT;
        let mut v: serde_json::Value = serde_json::from_str(base).expect("sample");
        v["pupil"]["grade_level"] = "Kari \"Kx\" Nordmann".into();
        let (path, problem) = schema_error(&v.to_string());
        assert_eq!(
            (path.as_str(), problem.as_str()),
            ("pupil.grade_level", "har feil type")
        );
        let mut v: serde_json::Value = serde_json::from_str(base).expect("sample");
        v["recipients"][0]["kind"] = "Ola Nordmann".into();
        let (path, problem) = schema_error(&v.to_string());
        assert_eq!(path, "recipients[0].kind");
        assert!(
            problem.contains("tillatt: guardian, pupil, staff"),
            "{problem}"
        );
        assert!(!problem.contains("Ola"), "{problem}");
        let mut v: serde_json::Value = serde_json::from_str(base).expect("sample");
        v["sensitiv"] = true.into();
        v["Kari Nordmann"] = true.into();
        let (path, problem) = schema_error(&v.to_string());
        assert!(
            !problem.contains("Kari") && !path.contains("Kari"),
            "{path} {problem}"
        );
        let mut v: serde_json::Value = serde_json::from_str(base).expect("sample");
        v.as_object_mut().expect("object").remove("school");
        assert_eq!(schema_error(&v.to_string()).0, "school");
        let mut v: serde_json::Value = serde_json::from_str(base).expect("sample");
        v["recipients"][0]["address"]
            .as_object_mut()
            .expect("address")
            .remove("city");
        let (path, problem) = schema_error(&v.to_string());
        assert_eq!(
            (path.as_str(), problem.as_str()),
            ("recipients[0].address.city", "mangler")
        );
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
        let twice = validate(
            br#"{"schema_version": 1, "fields": {"a": [{"k": 1, "k": "Kari"}]}}"#,
            1000,
        )
        .unwrap_err();
        assert_eq!(twice.code(), "not_json");
        assert!(!twice.to_string().contains("Kari") && !twice.to_string().contains("\"k\""));
        assert_eq!(
            validate(
                br#"{"schema_version": 2, "a": {"k": 1}, "b": {"k": 1}}"#,
                1000
            )
            .unwrap_err()
            .code(),
            "unsupported_schema_version",
            "equal keys in different objects are fine"
        );
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
