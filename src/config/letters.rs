//! The written standard of a letter (målform) and the Sámi language beside it.
//!
//! Stage: configuration (`[letters]`), read by `render` for every document.
//! Input: `[letters]` in the settings file: a default, then per municipality
//! (by number) and per school (by id), each overriding the one before:
//!
//! ```toml
//! [letters]
//! language = "nb"                 # "nb" (bokmål) or "nn" (nynorsk)
//! [letters.municipalities."4640"] # Sogndal writes nynorsk
//! language = "nn"
//! [letters.municipalities."5430"] # Kautokeino: Sámi beside Norwegian
//! sami = "se"                     # "se" North, "smj" Lule, "sma" South Sámi
//! [letters.schools."sogndal-ungdomsskule"]
//! language = "nb"                 # a school may override its municipality
//! logo = "logos/sogndal.png"      # letterhead logo (PNG/JPEG), with its
//! logo_alt = "Sogndal kommune, kommunevåpen"  # text for screen readers
//! ```
//!
//! Output: a [`Choice`] (written standard and optional Sámi language) for one
//! event. Failure: an unknown code is a settings error at start-up (serde).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bokmål or nynorsk (docs/domain.md §10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum Language {
    #[default]
    #[serde(rename = "nb")]
    Bokmal,
    #[serde(rename = "nn")]
    Nynorsk,
}

impl Language {
    /// The BCP 47 tag in the PDF (`/Lang`, `dc:language`).
    pub fn tag(self) -> &'static str {
        match self {
            Language::Bokmal => "nb-NO",
            Language::Nynorsk => "nn-NO",
        }
    }

    /// The short code (`nb`, `nn`).
    pub fn code(self) -> &'static str {
        match self {
            Language::Bokmal => "nb",
            Language::Nynorsk => "nn",
        }
    }

    /// The template subdirectory: bokmål templates are at the top of
    /// `letters/` and `partials/`, nynorsk ones in `letters/nn/`, `partials/nn/`.
    pub fn template_dir(self) -> Option<&'static str> {
        match self {
            Language::Bokmal => None,
            Language::Nynorsk => Some("nn"),
        }
    }
}

/// North, Lule or South Sámi.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum Sami {
    #[serde(rename = "se")]
    North,
    #[serde(rename = "smj")]
    Lule,
    #[serde(rename = "sma")]
    South,
}

impl Sami {
    /// The BCP 47 code.
    pub fn code(self) -> &'static str {
        match self {
            Sami::North => "se",
            Sami::Lule => "smj",
            Sami::South => "sma",
        }
    }
}

/// One level's choice; an absent field inherits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Override {
    pub language: Option<Language>,
    pub sami: Option<Sami>,
    /// A PNG or JPEG for the letterhead (relative paths: to the working directory).
    pub logo: Option<std::path::PathBuf>,
    /// The logo's alternative text (required with a logo).
    pub logo_alt: Option<String>,
}

/// `[letters]`: the default and the overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LetterSettings {
    pub language: Language,
    pub sami: Option<Sami>,
    pub logo: Option<std::path::PathBuf>,
    pub logo_alt: Option<String>,
    /// By municipality number ("4640").
    pub municipalities: BTreeMap<String, Override>,
    /// By school id, as in the events' `school.id`.
    pub schools: BTreeMap<String, Override>,
}

/// The languages of one letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice<'a> {
    pub language: Language,
    pub sami: Option<Sami>,
    /// The letterhead logo and its alternative text; `None`: the text letterhead.
    pub logo: Option<(&'a std::path::Path, &'a str)>,
}

/// A configured logo with its alternative text.
fn logo_of<'a>(
    path: &'a Option<std::path::PathBuf>,
    alt: &'a Option<String>,
) -> Option<(&'a std::path::Path, &'a str)> {
    path.as_deref()
        .map(|p| (p, alt.as_deref().unwrap_or_default()))
}

impl LetterSettings {
    /// Every configured logo with its alternative text (to load them at start-up).
    pub fn logos(&self) -> Vec<(&std::path::Path, Option<&str>)> {
        let mut out = Vec::new();
        if let Some(p) = &self.logo {
            out.push((p.as_path(), self.logo_alt.as_deref()));
        }
        for o in self.municipalities.values().chain(self.schools.values()) {
            if let Some(p) = &o.logo {
                out.push((p.as_path(), o.logo_alt.as_deref()));
            }
        }
        out
    }

    /// The school's choice, else its municipality's, else the default.
    pub fn resolve(&self, municipality: &str, school: &str) -> Choice<'_> {
        let mut choice = Choice {
            language: self.language,
            sami: self.sami,
            logo: logo_of(&self.logo, &self.logo_alt),
        };
        for level in [
            self.municipalities.get(municipality),
            self.schools.get(school),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(l) = level.language {
                choice.language = l;
            }
            if let Some(s) = level.sami {
                choice.sami = Some(s);
            }
            if let Some(logo) = logo_of(&level.logo, &level.logo_alt) {
                choice.logo = Some(logo);
            }
        }
        choice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_school_overrides_its_municipality_which_overrides_the_default() {
        let s: LetterSettings = toml::from_str(
            r#"
language = "nb"
[municipalities."4640"]
language = "nn"
[municipalities."5430"]
sami = "se"
[schools."s-nb"]
language = "nb"
"#,
        )
        .unwrap();
        assert_eq!(s.resolve("0301", "x").language, Language::Bokmal);
        assert_eq!(s.resolve("0301", "x").logo, None);
        assert_eq!(s.resolve("4640", "x").language, Language::Nynorsk);
        assert_eq!(s.resolve("4640", "s-nb").language, Language::Bokmal);
        let k = s.resolve("5430", "x");
        assert_eq!((k.language, k.sami), (Language::Bokmal, Some(Sami::North)));
        assert!(toml::from_str::<LetterSettings>("language = \"sv\"").is_err());
        assert!(toml::from_str::<LetterSettings>("sami = \"fi\"").is_err());
    }
}
