//! The Sámi text beside the Norwegian (docs/domain.md §10, *sameloven* § 3-2).
//!
//! Stage: read by `render` (letters from `_default.tera`), the `message_email`
//! channel and the emergency SMS (dashboard, API and event paths) for every
//! document of the types that must carry Sámi in the Sámi administrative area:
//! general information, parent-meeting invitations and emergency SMS.
//! Input: the `[letters]` settings (`sami = "se" | "smj" | "sma"`, per
//! municipality, overridable per school: [`LetterSettings::resolve`]), the event's
//! own Sámi text (`fields.sami_text`: `{title, body[]}` for letters and messages,
//! `{text}` for an emergency SMS) and the fixed standard phrases in
//! `templates/sami/<code>.toml` (one file per language; a language without a file
//! has none).
//! Output: a [`Resolution`]: no Sámi needed; a [`SamiText`] (the event's own, else
//! the fixed phrase); or [`Resolution::Missing`] — neither exists. The rule for
//! that case (README): the Norwegian goes out alone and the caller logs a warning
//! (event or school id, type and language code; never text). An emergency is never
//! held back for a translation, and a general announcement held back reaches
//! nobody; the warning lets the municipality follow up.
//! Failure: an unreadable or invalid phrase file, or a phrase that does not
//! render, is a [`SamiError`] at start-up (the worker does not start).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::letters::{LetterSettings, Sami};
use crate::event::{DocumentType, IncomingEvent};

/// The types whose standard phrases exist and whose text must carry Sámi.
pub const TYPES: [DocumentType; 3] = [
    DocumentType::GeneralInformation,
    DocumentType::ParentMeetingInvitation,
    DocumentType::EmergencySms,
];

const LANGUAGES: [Sami; 3] = [Sami::North, Sami::Lule, Sami::South];

#[derive(Debug, thiserror::Error)]
pub enum SamiError {
    #[error("{path}: {problem}")]
    File { path: String, problem: String },
    #[error("{name}: {problem}")]
    Phrase { name: String, problem: String },
}

/// Where a Sámi text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The producer's (or the principal's) own text.
    Event,
    /// The fixed standard phrase of `templates/sami/<code>.toml`.
    Fixed,
}

/// A Sámi text to print or send beside the Norwegian.
#[derive(Clone, PartialEq, Eq)]
pub struct SamiText {
    pub language: Sami,
    pub source: Source,
    pub title: Option<String>,
    /// Paragraphs (an SMS: one).
    pub body: Vec<String>,
}

crate::redacted_debug!(SamiText {
    show: [language, source],
    hide: [title, body],
});

/// What a document of one type, for one municipality and school, carries in Sámi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// No Sámi setting (or a type that needs none and brings none).
    NotRequired,
    Text(SamiText),
    /// A Sámi setting, no Sámi text in the event and no fixed phrase for the
    /// language: the Norwegian goes out alone (see the module doc).
    Missing(Sami),
}

impl Resolution {
    pub fn text(&self) -> Option<&SamiText> {
        match self {
            Resolution::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// The phrase file of one language, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhraseFile {
    /// Whether a Sámi speaker has checked the phrases (logged at start-up when not).
    checked_by_speaker: bool,
    general_information: Option<LetterPhrase>,
    parent_meeting_invitation: Option<LetterPhrase>,
    emergency_sms: Option<SmsPhrase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LetterPhrase {
    title: String,
    body: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsPhrase {
    text: String,
}

/// A phrase's title and paragraphs: template names when compiled, text when rendered.
type Phrase = (Option<String>, Vec<String>);

/// The settings and the compiled fixed phrases; cheap to share (`Arc`).
#[derive(Default)]
pub struct SamiTexts {
    letters: LetterSettings,
    /// Template names of the phrases that exist: (language, type) → (title, body).
    phrases: BTreeMap<(&'static str, &'static str), Phrase>,
    tera: tera::Tera,
}

impl std::fmt::Debug for SamiTexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamiTexts")
            .field("phrases", &self.phrases.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The values a fixed phrase may use.
#[derive(Debug, Default, Serialize)]
struct PhraseValues {
    school: String,
    meeting_date: String,
    meeting_time: String,
    location: String,
}

/// The string at `path` (at least one key) in the event's `fields`.
fn str_at<'a>(fields: &'a serde_json::Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(fields.get(*first)?, |cur, p| cur.get(p))
        .and_then(Value::as_str)
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl SamiTexts {
    /// Reads `templates_dir/sami/{se,smj,sma}.toml` (each optional) and test-renders
    /// every phrase.
    pub fn load(templates_dir: &Path, letters: LetterSettings) -> Result<SamiTexts, SamiError> {
        let mut tera = super::sandboxed_tera();
        let mut phrases = BTreeMap::new();
        for language in LANGUAGES {
            let path = templates_dir
                .join("sami")
                .join(format!("{}.toml", language.code()));
            let file_err = |problem: String| SamiError::File {
                path: path.display().to_string(),
                problem,
            };
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(file_err(e.to_string())),
            };
            let file: PhraseFile = toml::from_str(&text).map_err(|e| file_err(e.to_string()))?;
            if !file.checked_by_speaker {
                tracing::info!(
                    language = language.code(),
                    "the fixed Sámi phrases are not yet checked by a Sámi speaker (templates/sami)"
                );
            }
            let letters_of = [
                (
                    DocumentType::GeneralInformation,
                    file.general_information.map(|p| (Some(p.title), p.body)),
                ),
                (
                    DocumentType::ParentMeetingInvitation,
                    file.parent_meeting_invitation
                        .map(|p| (Some(p.title), p.body)),
                ),
                (
                    DocumentType::EmergencySms,
                    file.emergency_sms.map(|p| (None, vec![p.text])),
                ),
            ];
            for (t, phrase) in letters_of {
                let Some((title, body)) = phrase else {
                    continue;
                };
                let base = format!("sami/{}/{}", language.code(), t.key());
                let mut add = |name: String, src: &str| -> Result<String, SamiError> {
                    tera.add_raw_template(&name, src)
                        .map_err(|e| SamiError::Phrase {
                            name: name.clone(),
                            problem: super::tera_error_chain(&e),
                        })?;
                    Ok(name)
                };
                let title = title
                    .map(|s| add(format!("{base}/title"), &s))
                    .transpose()?;
                let body = body
                    .iter()
                    .enumerate()
                    .map(|(i, s)| add(format!("{base}/body/{i}"), s))
                    .collect::<Result<Vec<_>, _>>()?;
                if body.is_empty() {
                    return Err(file_err(format!("{}: the body is empty", t.key())));
                }
                phrases.insert((language.code(), t.key()), (title, body));
            }
        }
        let me = SamiTexts {
            letters,
            phrases,
            tera,
        };
        // Every phrase renders with every value given and with none.
        let full = PhraseValues {
            school: "Prøveskole".into(),
            meeting_date: "15.09.2026".into(),
            meeting_time: "18.00".into(),
            location: "Kantina".into(),
        };
        for values in [PhraseValues::default(), full] {
            for &(code, key) in me.phrases.keys() {
                me.render_phrase(code, key, &values)?;
            }
        }
        Ok(me)
    }

    /// The Sámi language of a municipality and school, if any.
    pub fn language(&self, municipality: &str, school: &str) -> Option<Sami> {
        self.letters.resolve(municipality, school).sami
    }

    /// Whether `language` has a fixed phrase for `t`.
    pub fn has_phrase(&self, language: Sami, t: DocumentType) -> bool {
        self.phrases.contains_key(&(language.code(), t.key()))
    }

    fn render_phrase(
        &self,
        code: &'static str,
        key: &'static str,
        values: &PhraseValues,
    ) -> Result<Option<Phrase>, SamiError> {
        let Some((title, body)) = self.phrases.get(&(code, key)) else {
            return Ok(None);
        };
        let ctx = tera::Context::from_serialize(values).map_err(|e| SamiError::Phrase {
            name: key.to_string(),
            problem: e.to_string(),
        })?;
        let render = |name: &String| {
            self.tera
                .render(name, &ctx)
                .map(|s| s.trim().to_string())
                .map_err(|e| SamiError::Phrase {
                    name: name.clone(),
                    problem: super::tera_error_chain(&e),
                })
        };
        let title = title.as_ref().map(render).transpose()?;
        let body = body
            .iter()
            .map(render)
            .filter(|p| !matches!(p, Ok(s) if s.is_empty()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((title, body)))
    }

    /// The fixed phrase of `t` in `language`, filled in; `None` without one (or,
    /// after the start-up test, never: a phrase that fails to render is `None`).
    fn fixed(&self, language: Sami, t: DocumentType, values: &PhraseValues) -> Option<SamiText> {
        match self.render_phrase(language.code(), t.key(), values) {
            Ok(Some((title, body))) => Some(SamiText {
                language,
                source: Source::Fixed,
                title,
                body,
            }),
            Ok(None) => None,
            Err(e) => {
                // Checked at start-up with every value present and absent.
                tracing::error!(error = %e, "a fixed Sámi phrase failed to render");
                None
            }
        }
    }

    /// What a letter or message of type `t` for `ev` carries in Sámi: the event's
    /// `fields.sami_text` `{title, body[]}` (an emergency SMS: `{text}`), else for
    /// [`TYPES`] the fixed phrase, else (for [`TYPES`]) `Missing`.
    pub fn for_event(&self, ev: &IncomingEvent, t: DocumentType) -> Resolution {
        let Some(language) = self.language(&ev.municipality.number, &ev.school.id) else {
            return Resolution::NotRequired;
        };
        let given = ev.fields.get("sami_text");
        let title = non_empty(given.and_then(|g| g.get("title")).and_then(Value::as_str));
        let mut body: Vec<String> = given
            .and_then(|g| g.get("body"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|p| non_empty(p.as_str())).collect())
            .unwrap_or_default();
        if t == DocumentType::EmergencySms {
            body = non_empty(given.and_then(|g| g.get("text")).and_then(Value::as_str))
                .into_iter()
                .collect();
        }
        if !body.is_empty() {
            return Resolution::Text(SamiText {
                language,
                source: Source::Event,
                title: if t == DocumentType::EmergencySms {
                    None
                } else {
                    title
                },
                body,
            });
        }
        if !TYPES.contains(&t) {
            return Resolution::NotRequired;
        }
        let mut values = PhraseValues {
            school: ev.school.name.clone(),
            ..PhraseValues::default()
        };
        if let Some(at) = str_at(&ev.fields, &["meeting", "starts_at"])
            .and_then(|s| DateTime::<FixedOffset>::parse_from_rfc3339(s).ok())
        {
            let at = at.with_timezone(&chrono_tz::Europe::Oslo);
            values.meeting_date = at.format("%d.%m.%Y").to_string();
            values.meeting_time = at.format("%H.%M").to_string();
        }
        values.location =
            non_empty(str_at(&ev.fields, &["meeting", "location"])).unwrap_or_default();
        match self.fixed(language, t, &values) {
            Some(text) => Resolution::Text(text),
            None => Resolution::Missing(language),
        }
    }

    /// What an emergency SMS of `school` carries in Sámi: `given` (the principal's
    /// or the event's Sámi text), else the fixed phrase, else `Missing`.
    pub fn for_sms(
        &self,
        municipality: &str,
        school: &str,
        school_name: &str,
        given: Option<&str>,
    ) -> Resolution {
        let Some(language) = self.language(municipality, school) else {
            return Resolution::NotRequired;
        };
        if let Some(text) = non_empty(given) {
            return Resolution::Text(SamiText {
                language,
                source: Source::Event,
                title: None,
                body: vec![text],
            });
        }
        let values = PhraseValues {
            school: school_name.to_string(),
            ..PhraseValues::default()
        };
        match self.fixed(language, DocumentType::EmergencySms, &values) {
            Some(text) => Resolution::Text(text),
            None => Resolution::Missing(language),
        }
    }
}

/// The SMS as sent: the Norwegian, then (after an empty line) the Sámi.
pub fn sms_text(norwegian: &str, sami: &Resolution) -> String {
    match sami.text() {
        Some(s) => format!("{}\n\n{}", norwegian.trim_end(), s.body.join("\n")),
        None => norwegian.to_string(),
    }
}

/// The Norwegian name of a Sámi language, for staff («nordsamisk»).
pub fn name_nb(language: Sami) -> &'static str {
    match language {
        Sami::North => "nordsamisk",
        Sami::Lule => "lulesamisk",
        Sami::South => "sørsamisk",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::letters::Override;

    fn templates() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
    }

    fn settings(sami: Sami) -> LetterSettings {
        let mut s = LetterSettings::default();
        s.municipalities.insert(
            "5430".into(),
            Override {
                sami: Some(sami),
                ..Override::default()
            },
        );
        s
    }

    fn event(file: &str) -> IncomingEvent {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/events")
            .join(file);
        serde_json::from_slice(&std::fs::read(path).expect("example")).expect("event")
    }

    #[test]
    fn the_shipped_phrases_load_and_north_sami_has_every_type() {
        let s = SamiTexts::load(&templates(), settings(Sami::North)).expect("loads");
        for t in TYPES {
            assert!(s.has_phrase(Sami::North, t), "{}", t.key());
            // Lule and South Sámi have none yet: the rule for a missing text applies.
            assert!(!s.has_phrase(Sami::Lule, t));
            assert!(!s.has_phrase(Sami::South, t));
        }
    }

    #[test]
    fn the_event_text_comes_first_then_the_fixed_phrase_then_missing() {
        let s = SamiTexts::load(&templates(), settings(Sami::North)).expect("loads");
        // The Sámi example carries its own text.
        let own = event("general_information_sami.json");
        let r = s.for_event(&own, DocumentType::GeneralInformation);
        let text = r.text().expect("a text");
        assert_eq!(text.source, Source::Event);
        assert!(text.body[0].starts_with("Skuvla lea giddejuvvon"));

        // A parent-meeting invitation without Sámi text, moved to Kautokeino: the
        // fixed phrase with the meeting's time and place.
        let mut meeting = event("parent_meeting_invitation.json");
        meeting.municipality.number = "5430".into();
        let r = s.for_event(&meeting, DocumentType::ParentMeetingInvitation);
        let text = r.text().expect("a text");
        assert_eq!(text.source, Source::Fixed);
        assert_eq!(text.title.as_deref(), Some("Bovdehus váhnenčoahkkimii"));
        let all = text.body.join(" ");
        assert!(all.contains("Áigi: 15.09.2026 dii. 18.00."), "{all}");
        assert!(
            all.contains("Báiki: Kantina, Fjellvik ungdomsskole."),
            "{all}"
        );
        assert!(all.starts_with("Fjellvik ungdomsskole bovde"), "{all}");

        // Not in the Sámi area: nothing, whatever the event carries.
        assert_eq!(
            s.for_event(
                &event("parent_meeting_invitation.json"),
                DocumentType::ParentMeetingInvitation
            ),
            Resolution::NotRequired
        );
        // A type that needs no Sámi and brings none.
        let mut warning = event("conduct_warning.json");
        warning.municipality.number = "5430".into();
        assert_eq!(
            s.for_event(&warning, DocumentType::ConductWarning),
            Resolution::NotRequired
        );

        // Lule Sámi: no fixed phrase, no event text → Missing.
        let lule = SamiTexts::load(&templates(), settings(Sami::Lule)).expect("loads");
        assert_eq!(
            lule.for_event(&meeting, DocumentType::ParentMeetingInvitation),
            Resolution::Missing(Sami::Lule)
        );
        // ... but the event's own text is used in any language.
        assert_eq!(
            lule.for_event(&own, DocumentType::GeneralInformation)
                .text()
                .map(|t| (t.language, t.source)),
            Some((Sami::Lule, Source::Event))
        );
    }

    #[test]
    fn an_emergency_sms_carries_the_given_text_or_the_fixed_phrase() {
        let s = SamiTexts::load(&templates(), settings(Sami::North)).expect("loads");
        let given = s.for_sms("5430", "x", "Skuvla", Some("Skuvla lea giddejuvvon odne."));
        assert_eq!(
            sms_text("Skolen er stengt i dag.", &given),
            "Skolen er stengt i dag.\n\nSkuvla lea giddejuvvon odne."
        );
        let fixed = s.for_sms("5430", "x", "Skuvla", Some("  "));
        assert_eq!(fixed.text().map(|t| t.source), Some(Source::Fixed));
        assert!(sms_text("Stengt.", &fixed).starts_with("Stengt.\n\nDehálaš dieđáhus"));
        let none = s.for_sms("0301", "x", "Skole", Some("ignored"));
        assert_eq!(none, Resolution::NotRequired);
        assert_eq!(sms_text("Stengt.", &none), "Stengt.");
        // The event path reads `fields.sami_text.text`.
        let mut sms = event("emergency_sms.json");
        sms.municipality.number = "5430".into();
        assert_eq!(
            s.for_event(&sms, DocumentType::EmergencySms)
                .text()
                .map(|t| t.source),
            Some(Source::Fixed)
        );
        sms.fields.insert(
            "sami_text".into(),
            serde_json::json!({ "text": "Skuvla lea giddejuvvon." }),
        );
        let r = s.for_event(&sms, DocumentType::EmergencySms);
        assert_eq!(
            r.text().map(|t| t.body.clone()),
            Some(vec!["Skuvla lea giddejuvvon.".to_string()])
        );
    }

    #[test]
    fn a_broken_phrase_file_stops_start_up() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("sami")).expect("mkdir");
        std::fs::write(
            dir.path().join("sami/se.toml"),
            "checked_by_speaker = false\nunknown = 1\n",
        )
        .expect("write");
        assert!(SamiTexts::load(dir.path(), LetterSettings::default()).is_err());
        std::fs::write(
            dir.path().join("sami/se.toml"),
            "checked_by_speaker = false\n[emergency_sms]\ntext = \"{{ nope | nofilter }}\"\n",
        )
        .expect("write");
        assert!(SamiTexts::load(dir.path(), LetterSettings::default()).is_err());
        // No directory at all: no fixed phrases, no error.
        let empty = tempfile::tempdir().expect("dir");
        let s = SamiTexts::load(empty.path(), settings(Sami::North)).expect("loads");
        assert_eq!(
            s.for_sms("5430", "x", "Skole", None),
            Resolution::Missing(Sami::North)
        );
    }
}
