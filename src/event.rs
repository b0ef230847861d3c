//! The document-event contract, version 1: the wire shape producers publish.
//!
//! Stage: none on its own; this is the *input* of `pipeline::validate`.
//! Input: JSON bytes from RabbitMQ (or a file for the CLI).
//! Output: an [`IncomingEvent`], a faithful, still unchecked copy of the JSON.
//! Failure: serde errors are turned into a `ValidationError` by the validate stage;
//! nothing here decides anything about routing.
//!
//! `docs/events.md` describes every field for producers, and
//! `schemas/document-event.v1.schema.json` is the same contract as JSON Schema;
//! the tests keep the three in step (every example event passes both).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The only schema version this worker accepts.
pub const SCHEMA_VERSION: u32 = 1;

/// A document event exactly as the producer sent it. Unknown top-level fields are
/// rejected so that a typo in a producer (`sensitiv`) is caught, not ignored.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IncomingEvent {
    /// Idempotency key for everything downstream (document, archive row, sends).
    pub event_id: Uuid,
    /// Must be [`SCHEMA_VERSION`]; checked before anything else is read.
    pub schema_version: u32,
    /// When the document was finalised in the school system; the letter's date.
    pub occurred_at: DateTime<FixedOffset>,
    pub municipality: Municipality,
    pub school: School,
    /// One of the keys in docs/domain.md §8 (see [`DocumentType`]).
    pub document_type: String,
    pub direction: Direction,
    /// The author's statement that the content is sensitive personal data.
    #[serde(default)]
    pub sensitive: bool,
    /// For archive policy `optional` ("kan velges"): the author asks to archive it.
    #[serde(default)]
    pub archive_opt_in: bool,
    /// The author's own exemption basis (unntakshjemmel), overriding the rule's.
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// The document title as the author wrote it.
    pub title: String,
    /// Template data and archive preconditions (see docs/events.md, "fields").
    #[serde(default)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The pupil the document is about; absent for school-level documents.
    #[serde(default)]
    pub pupil: Option<Pupil>,
    /// Who receives it (guardians, the pupil, staff). May be empty for `in`/`note`.
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    /// The signed-in user who finalised it: sender and signature of the letter.
    pub sender: Sender,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Municipality {
    /// The four-digit municipality number (kommunenummer), e.g. "4601".
    pub number: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct School {
    /// The school system's id for the school; used for folders, costs and access.
    pub id: String,
    pub name: String,
    /// Nine-digit organisation number (organisasjonsnummer).
    pub org_number: String,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pupil {
    pub id: String,
    pub name: String,
    /// A pupil is identified in letters by name and birth date, never national id.
    pub birth_date: NaiveDate,
    /// 1–10 (grunnskole); 0 for pre-school enrolment letters.
    pub grade_level: u8,
    #[serde(default)]
    pub class: Option<String>,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub kind: RecipientKind,
    /// The school system's person id.
    pub id: String,
    pub name: String,
    /// Eleven-digit fødselsnummer / d-nummer; needed for SvarUt, never printed.
    #[serde(default)]
    pub national_id: Option<String>,
    /// Guardians only: whether they have parental responsibility (foreldreansvar).
    /// A guardian without it receives nothing about the pupil.
    #[serde(default)]
    pub parental_responsibility: bool,
    /// Whether the person can receive digital mail (a digital mailbox).
    #[serde(default)]
    pub digital_mail: bool,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    /// Fortrolig / strengt fortrolig adresse: the address is never printed or sent.
    #[serde(default)]
    pub protected_address: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RecipientKind {
    Guardian,
    Pupil,
    Staff,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub street: String,
    pub postal_code: String,
    pub city: String,
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    pub user_id: String,
    pub name: String,
    /// The sender's role (docs/domain.md §6), e.g. `kontaktlaerer`, `rektor`.
    pub role: String,
    /// Case-handler initials as in the archive (saksbehandler).
    pub initials: String,
}

// Debug without personal data (names, national ids, addresses, contact
// details, the title and the template fields, which hold the letter's text).
crate::redacted_debug!(IncomingEvent {
    show: [
        event_id,
        schema_version,
        occurred_at,
        municipality,
        school,
        document_type,
        direction,
        sensitive,
        archive_opt_in,
        legal_basis,
        pupil,
        recipients,
        sender
    ],
    hide: [title, fields],
});
crate::redacted_debug!(Pupil {
    show: [id, grade_level, class],
    hide: [name, birth_date],
});
crate::redacted_debug!(Recipient {
    show: [
        kind,
        id,
        parental_responsibility,
        digital_mail,
        protected_address
    ],
    hide: [name, national_id, address, email, mobile],
});
crate::redacted_debug!(Address {
    show: [],
    hide: [street, postal_code, city, country],
});
crate::redacted_debug!(Sender {
    show: [user_id, role],
    hide: [name, initials],
});

/// Direction of the document relative to the school (journal post type I/U/N).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Received from a guardian: journal post type I.
    In,
    /// Sent: journal post type U.
    Out,
    /// Internal report or protocol: journal post type N.
    Note,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Note => "note",
        }
    }
}

macro_rules! document_types {
    ($( $variant:ident => $key:literal, $name:literal; )*) => {
        /// Every document-type key of docs/domain.md §8: the contract with producers.
        /// An unknown key cannot be represented, so it is rejected at validation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum DocumentType { $( $variant, )* }

        impl DocumentType {
            /// All keys, in the order of docs/domain.md §8.
            pub const ALL: &'static [DocumentType] = &[ $( DocumentType::$variant, )* ];

            /// The wire key, e.g. `conduct_warning`.
            pub fn key(self) -> &'static str {
                match self { $( DocumentType::$variant => $key, )* }
            }

            /// The Norwegian (bokmål) name used in letters, dashboards and tables.
            pub fn name_nb(self) -> &'static str {
                match self { $( DocumentType::$variant => $name, )* }
            }
        }

        impl FromStr for DocumentType {
            type Err = UnknownDocumentType;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $key => Ok(DocumentType::$variant), )*
                    other => Err(UnknownDocumentType(other.to_string())),
                }
            }
        }
    };
}

document_types! {
    AbsenceNotice => "absence_notice", "Varsel om fravær";
    RemarkNotice => "remark_notice", "Varsel om anmerkning";
    GeneralInformation => "general_information", "Informasjon til flere elever/foresatte";
    ParentMeetingInvitation => "parent_meeting_invitation", "Innkalling til foreldremøte / FAU-møte";
    ParentMeetingMinutes => "parent_meeting_minutes", "Referat fra foreldremøte / FAU-møte";
    FormQuestion => "form_question", "Spørsmål ja/nei eller flervalg (skjema)";
    PupilMessage => "pupil_message", "Beskjed om enkeltelev";
    PersonalDataLetter => "personal_data_letter", "Brev med personopplysninger";
    MeetingInvitation => "meeting_invitation", "Innkalling til møte på skolen (enkeltelev)";
    EnrolmentInvitation => "enrolment_invitation", "Invitasjon til innskriving";
    WelcomeFirstGrade => "welcome_first_grade", "Velkommen som elev, skoleplass i 1. klasse";
    SchoolPlaceDecision => "school_place_decision", "Vedtak om skoleplass (ikke 1. klasse)";
    LeaveApplication => "leave_application", "Permisjonssøknad";
    LeaveDecision => "leave_decision", "Svar på permisjonssøknad (permisjonsvedtak)";
    SfoApplication => "sfo_application", "SFO-søknad";
    SfoDecision => "sfo_decision", "SFO-vedtak";
    SfoChange => "sfo_change", "SFO-endring";
    SfoChangeDecision => "sfo_change_decision", "SFO-endringsvedtak";
    SfoTermination => "sfo_termination", "SFO-oppsigelse fra foresatte";
    SfoTerminationDecision => "sfo_termination_decision", "SFO-oppsigelsesvedtak";
    SfoTerminationByMunicipality => "sfo_termination_by_municipality", "Kommunens oppsigelse av SFO-plass";
    SchoolTransportApplication => "school_transport_application", "Søknad om skoleskyss";
    SchoolTransportDecision => "school_transport_decision", "Vedtak om skoleskyss";
    Consent => "consent", "Samtykke (svar)";
    SwimmingWeekOffer => "swimming_week_offer", "Tilbud om intensivuke i svømming";
    GradeWarning => "grade_warning", "Varsel om fare for nedsatt karakter";
    ConductWarning => "conduct_warning", "Varsel om fare for nedsatt orden og oppførsel";
    MissingAssessmentBasisWarning => "missing_assessment_basis_warning", "Varsel om manglende grunnlag for vurdering med karakter";
    MovingNotice => "moving_notice", "Flyttemelding";
    TermGrades => "term_grades", "Terminkarakterer";
    FinalGrades => "final_grades", "Standpunktkarakterer";
    Diploma => "diploma", "Vitnemål";
    LeavingGradesProtocol => "leaving_grades_protocol", "Protokoll avgangskarakterer";
    GroupOverview => "group_overview", "Gruppeoversikt";
    MessageReport => "message_report", "Meldingsrapport per elev";
    AbsenceReport => "absence_report", "Fraværsrapport per elev";
    RemarksReport => "remarks_report", "Anmerkningsrapport per elev";
    Assessments => "assessments", "Vurderinger";
    EmergencySms => "emergency_sms", "Beredskapsmelding";
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A `document_type` that is not in docs/domain.md §8.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("ukjent dokumenttype «{0}»")]
pub struct UnknownDocumentType(pub String);

/// True when `s` is an 11-digit Norwegian national id (fødselsnummer, d-nummer or
/// synthetic test number) whose two mod-11 check digits are right.
pub fn is_valid_national_id(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if s.len() != 11 || digits.len() != 11 {
        return false;
    }
    const W1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
    const W2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    let check = |sum: u32| match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        k => Some(k),
    };
    let k1 = check(W1.iter().zip(&digits).map(|(w, d)| w * d).sum());
    let k2 = check(W2.iter().zip(&digits).map(|(w, d)| w * d).sum());
    k1 == Some(digits[9]) && k2 == Some(digits[10])
}

/// Completes a nine-digit prefix with its two check digits, if any exist.
/// Used by tests and the demo to make valid synthetic national ids.
pub fn complete_national_id(prefix9: &str) -> Option<String> {
    (0..100)
        .map(|k| format!("{prefix9}{k:02}"))
        .find(|s| is_valid_national_id(s))
}

/// A complete event used to test-render every template at start-up.
pub(crate) const SAMPLE_EVENT: &str = r#"{
  "event_id": "00000000-0000-4000-8000-000000000000",
  "schema_version": 1,
  "occurred_at": "2026-11-23T10:00:00+01:00",
  "municipality": {"number": "4601", "name": "Bergen"},
  "school": {"id": "s1", "name": "Prøveskolen", "org_number": "999999999"},
  "document_type": "conduct_warning",
  "direction": "out",
  "title": "Varsel om fare for nedsatt karakter i orden og oppførsel",
  "fields": {
    "body": ["Første avsnitt.", "Andre avsnitt."],
    "term": "1. termin 2026/2027",
    "subject": "orden og oppførsel",
    "reasons": ["Grunn én", "Grunn to"],
    "measures": "Tiltak",
    "contact": "Kontaktlærer, tlf. 55 00 00 00",
    "school_year": "2026/2027",
    "decision": "Innvilget",
    "decision_date": "2026-11-20",
    "legal_basis_text": "Opplæringslova",
    "appeal_deadline_weeks": 3,
    "appeal_to": "Statsforvalteren, via kommunen",
    "rows": [{}, {"sent_at": "2026-11-20T09:12:00+01:00", "from": "Ola Lærer", "to": "Kari Nordmann",
              "subject": "Emne", "date": "2026-11-20", "category": "Orden", "description": "Beskrivelse",
              "month": "2026-09", "days": 1, "hours": 2, "documented_hours": 1, "group": "8B",
              "contact_teacher": "Ola Lærer", "pupils": 20, "standpunkt": "4", "eksamen": null}],
    "totals": {},
    "leave_from": "2026-12-07",
    "leave_to": "2026-12-11",
    "place_percent": 100,
    "place_percent_from": 100,
    "place_percent_to": 60,
    "starts_on": "2026-11-30",
    "last_day": "2026-12-31",
    "last_school_day": "2026-11-27",
    "transport_from": "2026-09-02",
    "transport_to": "2026-10-30",
    "attachments": ["vedlegg.pdf"],
    "submitted_by": {"id": "g1", "name": "Kari Nordmann", "submitted_at": "2026-11-20T20:14:00+01:00"},
    "consents": [{"purpose": "Bilder på nettsiden", "answer": "Nei"}, {}],
    "grades": [{"subject": "Norsk", "grade": "4"}, {}],
    "assessments": [{"subject": "Norsk", "status": "Avsluttet", "comment": "Kommentar"}, {}],
    "completed_on": "2027-06-19",
    "case_reference": "2026/1",
    "meeting": {"starts_at": "2026-11-30T14:00:00+01:00", "location": "Møterom", "participants": ["Kontaktlærer"]},
    "letter_kind": "utviklingssamtale",
    "deadline": "2027-01-15",
    "school_start": "2027-08-17",
    "week": {"from": "2027-06-08", "to": "2027-06-12", "location": "Svømmehallen"},
    "answer_by": "2027-05-15",
    "receiving_school": {"id": "s2", "name": "Mottakerskolen", "municipality_number": "4601"},
    "date": "2026-11-20",
    "lessons": ["1. time Norsk"],
    "documented": false,
    "rule": "Ordensreglementet punkt 1",
    "meeting_date": "2026-09-15",
    "meeting_kind": "FAU",
    "question": "Blir eleven med?",
    "kind": "yes_no",
    "options": ["Ja", "Nei"]
  },
  "pupil": {"id": "p1", "name": "Åse Ærlig Øvrebø", "birth_date": "2013-03-04", "grade_level": 8, "class": "8B"},
  "recipients": [
    {"kind": "guardian", "id": "g1", "name": "Kari Nordmann", "parental_responsibility": true,
     "address": {"street": "Gate 1", "postal_code": "5003", "city": "Bergen"}}
  ],
  "sender": {"user_id": "u1", "name": "Ola Lærer", "role": "kontaktlaerer", "initials": "OL"}
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips() {
        assert_eq!(DocumentType::ALL.len(), 39);
        for t in DocumentType::ALL {
            assert_eq!(t.key().parse::<DocumentType>().unwrap(), *t);
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.key()));
        }
        assert!("conduct-warning".parse::<DocumentType>().is_err());
    }

    #[test]
    fn national_id_check_digits() {
        // A synthetic test number with valid check digits.
        let id = complete_national_id("010112345").expect("some check digits exist");
        assert!(is_valid_national_id(&id));
        let mut wrong = id.clone();
        let last = wrong.pop().unwrap().to_digit(10).unwrap();
        wrong.push(char::from_digit((last + 1) % 10, 10).unwrap());
        assert!(!is_valid_national_id(&wrong));
        assert!(!is_valid_national_id("123"));
        assert!(!is_valid_national_id("0101123456a"));
    }
}
