//! The roster: schools, pupils, guardians (with their links to pupils) and staff
//! (with their schools), as the school system publishes them in *roster events*.
//!
//! Stage: beside the document pipeline, with its own queue (`{prefix}.roster`).
//! Input: roster event v1 JSON (see `docs/events.md`, "Roster events", and
//! `schemas/roster-event.v1.schema.json`). Output: a [`RosterChange`] — a checked
//! change that [`store::apply`] writes as an upsert by external id or a tombstone,
//! ordered by the producer's `version`, never by arrival order.
//! Failure: a body that is not a valid roster event is a [`RosterError`] with a
//! stable code; the consumer dead-letters it with that reason.
//!
//! Modules: [`store`] (PostgreSQL), [`consume`] (the queue), [`import`] (bulk JSONL),
//! [`gaps`] (the reachability report), [`manual`] (entries by hand).
//!
//! Every person and relation records its source (`sync` or `manual`): the sync
//! never deletes a manual entry, and a manual change to a synced one is refused.

pub mod feed;
pub mod gaps;
pub(crate) mod import;
pub mod manual;
pub(crate) mod store;

pub use import::import_file;
pub use store::apply;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The only roster schema version this worker accepts.
pub const ROSTER_SCHEMA_VERSION: u32 = 1;

/// A roster event as the producer sent it (unchecked beyond its JSON shape).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RosterEvent {
    pub event_id: Uuid,
    pub schema_version: u32,
    pub entity: Entity,
    /// The school system's id of the school / pupil / guardian / staff member.
    pub id: String,
    /// Monotonic per entity in the producer (a change counter or a timestamp in
    /// milliseconds); decides which of two changes wins.
    pub version: i64,
    pub occurred_at: DateTime<FixedOffset>,
    pub op: Op,
    #[serde(default)]
    pub school: Option<SchoolRecord>,
    #[serde(default)]
    pub pupil: Option<PupilRecord>,
    #[serde(default)]
    pub guardian: Option<GuardianRecord>,
    #[serde(default)]
    pub staff: Option<StaffRecord>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    School,
    Pupil,
    Guardian,
    Staff,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::School => "school",
            Entity::Pupil => "pupil",
            Entity::Guardian => "guardian",
            Entity::Staff => "staff",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Upsert,
    Delete,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SchoolRecord {
    pub name: String,
    /// Four-digit kommunenummer.
    pub municipality_number: String,
    #[serde(default)]
    pub org_number: Option<String>,
    /// The principal's staff id.
    #[serde(default)]
    pub principal_staff_id: Option<String>,
    /// The day the named principal took office. When absent, the day of the event
    /// (`occurred_at`) is used the first time this principal is named. The history
    /// of principals is kept (`roster_principal_history`) so that "the principal on
    /// that date" can be answered.
    #[serde(default)]
    pub principal_since: Option<NaiveDate>,
    /// The deputies (stedfortredere) named for the principal: they may send the
    /// school's emergency SMS. The whole list; it replaces the old one.
    #[serde(default)]
    pub deputies: Vec<Deputy>,
}

/// A deputy of the principal, by staff id, optionally for a period (both days
/// inclusive; an open end is open).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Deputy {
    pub staff_id: String,
    #[serde(default)]
    pub from: Option<NaiveDate>,
    #[serde(default)]
    pub until: Option<NaiveDate>,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PupilRecord {
    pub school_id: String,
    pub name: String,
    #[serde(default)]
    pub class: Option<String>,
    pub grade_level: u8,
    pub birth_date: NaiveDate,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub digital_mail: bool,
    #[serde(default)]
    pub protected_address: bool,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuardianRecord {
    pub name: String,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub digital_mail: bool,
    #[serde(default)]
    pub protected_address: bool,
    /// Every pupil this guardian is linked to (the whole list; it replaces the old one).
    #[serde(default)]
    pub children: Vec<ChildLink>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChildLink {
    pub pupil_id: String,
    pub parental_responsibility: bool,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaffRecord {
    pub name: String,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub digital_mail: bool,
    /// Every school this person works at, with the role there (the whole list).
    #[serde(default)]
    pub schools: Vec<StaffSchool>,
    /// The municipalities (four-digit kommunenummer) this person acts for as school
    /// owner (skoleeier): they may send an emergency SMS to any of its schools. The
    /// whole list; it replaces the old one.
    #[serde(default)]
    pub school_owner_for: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaffSchool {
    pub school_id: String,
    pub role: String,
}

// Debug without personal data (names, birth dates, contact details).
crate::redacted_debug!(PupilRecord {
    show: [
        school_id,
        class,
        grade_level,
        digital_mail,
        protected_address
    ],
    hide: [name, birth_date, mobile, email],
});
crate::redacted_debug!(GuardianRecord {
    show: [digital_mail, protected_address, children],
    hide: [name, mobile, email],
});
crate::redacted_debug!(StaffRecord {
    show: [digital_mail, schools, school_owner_for],
    hide: [name, mobile, email],
});

/// The record an upsert carries, one per entity.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    School(SchoolRecord),
    Pupil(PupilRecord),
    Guardian(GuardianRecord),
    Staff(StaffRecord),
}

/// A checked roster change: built only by [`RosterChange::parse`] /
/// [`RosterChange::from_event`], so an upsert always has the record of its entity.
#[derive(Debug, Clone, PartialEq)]
pub struct RosterChange {
    pub event_id: Uuid,
    pub entity: Entity,
    pub id: String,
    pub version: i64,
    /// The day of the change in the producer's own offset (`occurred_at`): the
    /// default start of a newly named principal's period.
    pub occurred_on: NaiveDate,
    /// `None` for a deletion.
    pub record: Option<Record>,
}

/// Why a roster event was refused. The text (Norwegian) goes to the dead-letter
/// row, the `x-dokflyt-reason` header and the logs: a field path from the
/// contract and what is wrong, never a value the producer sent (serde's own
/// messages, which quote values, are never passed on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    #[error("meldingen er større enn grensen på {limit} byte for rosterhendelser")]
    Oversize { limit: usize },
    #[error("meldingen er ikke en gyldig rosterhendelse: {0}")]
    Malformed(String),
    /// The version is kept for callers, never printed (a producer's number).
    #[error("roster-schema_version støttes ikke (denne arbeideren godtar 1)")]
    UnsupportedVersion(u32),
    #[error("ugyldig rosterhendelse: {0}")]
    Invalid(String),
}

impl RosterError {
    /// The stable reason code in the dead-letter headers.
    pub fn code(&self) -> &'static str {
        match self {
            RosterError::Oversize { .. } => "oversize",
            RosterError::Malformed(_) => "malformed_roster_event",
            RosterError::UnsupportedVersion(_) => "unsupported_schema_version",
            RosterError::Invalid(_) => "invalid_roster_event",
        }
    }

    /// The event id of a body, when it can be read at all (for the dead-letter row).
    pub fn event_id_of(body: &[u8]) -> Option<Uuid> {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()?
            .get("event_id")?
            .as_str()?
            .parse()
            .ok()
    }
}

impl RosterChange {
    /// Checks one body. The size limit is the caller's (the consumer checks it
    /// before calling; see [`RosterChange::parse_limited`]).
    pub fn parse(body: &[u8]) -> Result<RosterChange, RosterError> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            RosterError::Malformed(format!(
                "ikke JSON (syntaksfeil på linje {}, kolonne {})",
                e.line(),
                e.column()
            ))
        })?;
        if let Some(v) = value.get("schema_version").and_then(|v| v.as_u64()) {
            if v != u64::from(ROSTER_SCHEMA_VERSION) {
                // Only small numbers are echoed: a large one is not a version.
                return Err(RosterError::UnsupportedVersion(
                    u32::try_from(v).unwrap_or(0).min(999),
                ));
            }
        }
        let event: RosterEvent = serde_path_to_error::deserialize(value).map_err(|e| {
            let (path, problem) = crate::document::describe_serde_error(&e);
            RosterError::Malformed(format!("feltet «{path}» {problem}"))
        })?;
        Self::from_event(event)
    }

    /// [`RosterChange::parse`] after the size check, which comes before any parsing.
    pub fn parse_limited(body: &[u8], limit: usize) -> Result<RosterChange, RosterError> {
        if body.len() > limit {
            return Err(RosterError::Oversize { limit });
        }
        Self::parse(body)
    }

    pub fn from_event(e: RosterEvent) -> Result<RosterChange, RosterError> {
        let invalid = |m: &str| Err(RosterError::Invalid(m.to_string()));
        if e.schema_version != ROSTER_SCHEMA_VERSION {
            return Err(RosterError::UnsupportedVersion(e.schema_version));
        }
        if e.id.trim().is_empty() || e.id.len() > 200 || e.id.contains('\0') {
            return invalid("feltet «id» må være 1–200 tegn uten NUL");
        }
        if e.version < 0 {
            return invalid("feltet «version» kan ikke være negativt");
        }
        let given = [
            e.school.is_some(),
            e.pupil.is_some(),
            e.guardian.is_some(),
            e.staff.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        let record = match e.op {
            Op::Delete => {
                if given != 0 {
                    return invalid("en sletting har ingen post");
                }
                None
            }
            Op::Upsert => {
                if given != 1 {
                    return invalid("en oppdatering har nøyaktig én post, for sin entity");
                }
                let r = match (e.entity, e.school, e.pupil, e.guardian, e.staff) {
                    (Entity::School, Some(s), ..) => {
                        if s.municipality_number.len() != 4
                            || !s.municipality_number.bytes().all(|b| b.is_ascii_digit())
                        {
                            return invalid(
                                "feltet «school.municipality_number» må være fire sifre",
                            );
                        }
                        let mut named = std::collections::BTreeSet::new();
                        if s.deputies.iter().any(|d| {
                            d.staff_id.trim().is_empty()
                                || !named.insert(d.staff_id.as_str())
                                || matches!((d.from, d.until), (Some(f), Some(u)) if f > u)
                        }) {
                            return invalid(
                                "`school.deputies` names each staff id once, with `from` on or before `until`",
                            );
                        }
                        Record::School(s)
                    }
                    (Entity::Pupil, _, Some(p), ..) => {
                        if p.grade_level > 13 {
                            return invalid("feltet «pupil.grade_level» må være 0–13");
                        }
                        if p.school_id.trim().is_empty() {
                            return invalid("feltet «pupil.school_id» er tomt");
                        }
                        Record::Pupil(p)
                    }
                    (Entity::Guardian, _, _, Some(g), _) => Record::Guardian(g),
                    (Entity::Staff, .., Some(s)) => {
                        if let Some(i) = s
                            .schools
                            .iter()
                            .position(|x| x.role.parse::<crate::access::Role>().is_err())
                        {
                            return Err(RosterError::Invalid(format!(
                                "feltet «staff.schools[{i}].role» er ikke en kjent rolle"
                            )));
                        }
                        if s.school_owner_for
                            .iter()
                            .any(|m| m.len() != 4 || !m.bytes().all(|b| b.is_ascii_digit()))
                        {
                            return invalid(
                                "`staff.school_owner_for` holds four-digit municipality numbers",
                            );
                        }
                        Record::Staff(s)
                    }
                    _ => return invalid("posten passer ikke med «entity»"),
                };
                Some(r)
            }
        };
        Ok(RosterChange {
            event_id: e.event_id,
            entity: e.entity,
            id: e.id,
            version: e.version,
            occurred_on: e.occurred_at.date_naive(),
            record,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pupil_json(op: &str) -> serde_json::Value {
        serde_json::json!({
            "event_id": "4f1b1a3e-0000-4000-8000-000000000001",
            "schema_version": 1, "entity": "pupil", "id": "elev-1", "version": 3,
            "occurred_at": "2026-11-23T08:00:00+01:00", "op": op,
            "pupil": { "school_id": "s1", "name": "Kari", "grade_level": 10,
                       "birth_date": "2011-02-03", "mobile": "91234567" }
        })
    }

    #[test]
    fn upsert_and_delete_shapes() {
        let c = RosterChange::parse(&serde_json::to_vec(&pupil_json("upsert")).unwrap()).unwrap();
        assert!(matches!(c.record, Some(Record::Pupil(_))));
        let err = RosterChange::parse(&serde_json::to_vec(&pupil_json("delete")).unwrap());
        assert_eq!(err.unwrap_err().code(), "invalid_roster_event");
        let mut wrong = pupil_json("upsert");
        wrong["entity"] = "guardian".into();
        assert!(RosterChange::parse(&serde_json::to_vec(&wrong).unwrap()).is_err());
        let mut v2 = pupil_json("upsert");
        v2["schema_version"] = 2.into();
        assert_eq!(
            RosterChange::parse(&serde_json::to_vec(&v2).unwrap()).unwrap_err(),
            RosterError::UnsupportedVersion(2)
        );
        assert_eq!(
            RosterChange::parse(b"nope").unwrap_err().code(),
            "malformed_roster_event"
        );
    }
}
