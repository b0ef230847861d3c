//! The on-disk format of `routing-rules/*.toml`, exactly as a municipal admin edits it.
//!
//! Stage: read by [`super::RoutingTable::load_dir`] at start and on reload.
//! Input: the text of one rules file. Output: [`RuleSpec`]s with the line each
//! starts on. Failure: a [`super::RulesError`] naming the file and the line (unknown
//! field names are refused, so a typo such as `arkive = ...` never passes silently).
//!
//! One rule per `[[rule]]` table:
//!
//! ```toml
//! # Vedlegg 1: «Varsler (nedsatt karakter, nedsatt orden/oppførsel): SvarUt; arkiveres, UO»
//! [[rule]]
//! id = "conduct_warning"
//! document_type = "conduct_warning"
//! direction = "out"
//! channel = "svarut"
//! archive = "always"
//! folder = "pupil"
//! access = "UO"
//! if_sensitive = "uo"
//! ```
//!
//! `if_sensitive` (`"uo"` or `"refuse"`) says what an event with `sensitive: true`
//! means for the type; it is required on every rule whose channel may carry a
//! sensitive document, unless the rule only matches `when = { sensitive = false }`.
//! `sensitive_legal_basis` overrides the legal basis such a document gets when the
//! event gives none.

use serde::Deserialize;

use crate::document::{Access, ArchivePolicy, Channel, Folder, JournalStatus};
use crate::event::Direction;

/// One rules file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    #[serde(default, rename = "rule")]
    pub rules: Vec<toml::Spanned<RuleSpec>>,
}

/// One rule: a document type (optionally narrowed by `when`) and what happens to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique name of the rule, stored with every decision it makes.
    pub id: String,
    /// A key from docs/domain.md §8.
    pub document_type: String,
    /// Conditions on the event; a rule with conditions beats one without.
    #[serde(default)]
    pub when: When,
    /// in (journal post type I), out (U) or note (N); an event in another direction is refused.
    pub direction: Direction,
    pub channel: Channel,
    pub archive: ArchivePolicy,
    /// Required unless `archive = "never"`.
    #[serde(default)]
    pub folder: Option<Folder>,
    #[serde(default = "default_access")]
    pub access: Access,
    /// Exemption basis when `access = "UO"`; defaults to the municipality's standard basis.
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// Overrides the default journal status (out/in: J, note: F).
    #[serde(default)]
    pub journal_status: Option<JournalStatus>,
    /// For `archive = "optional"`: what must hold before an opted-in document is archived.
    #[serde(default)]
    pub preconditions: Vec<Precondition>,
    /// For `archive = "optional"`: the pupil's grade levels the document may be archived for.
    #[serde(default)]
    pub grade_levels: Option<[u8; 2]>,
    /// Archive deadlines as "DD.MM" (e.g. "25.01", "25.06"), shown to archive staff.
    #[serde(default)]
    pub deadlines: Vec<String>,
    /// Only senders with one of these roles may send it (e.g. emergency SMS: rektor, skoleeier).
    #[serde(default)]
    pub allowed_sender_roles: Vec<String>,
    /// What `sensitive: true` on an event of this type means (docs/domain.md §9): UO on
    /// every path, or refused. Required where the channel may carry sensitive content.
    #[serde(default)]
    pub if_sensitive: Option<IfSensitive>,
    /// The exemption basis of a sensitive document when the event gives none;
    /// defaults to the rule's `legal_basis`, else the municipality's standard basis.
    #[serde(default)]
    pub sensitive_legal_basis: Option<String>,
}

/// The per-type answer to `sensitive: true` (`if_sensitive = "uo"` or `"refuse"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfSensitive {
    /// Exempt from public access with a legal basis: UO-marked PDF, skjerming and a
    /// masked public title in the archive, a neutral SvarUt title, UO preview rules.
    Uo,
    /// The event is dead-lettered (`sensitive_not_allowed`).
    Refuse,
}

fn default_access() -> Access {
    Access::Public
}

/// Conditions on event fields for a type that routes two ways.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// Matches the event's `sensitive` flag.
    #[serde(default)]
    pub sensitive: Option<bool>,
    /// Matches whether `fields.receiving_school.municipality_number` is the sender's municipality.
    #[serde(default)]
    pub receiving_school_in_same_municipality: Option<bool>,
}

impl When {
    /// How many conditions the rule sets (more = more specific).
    pub fn specificity(&self) -> usize {
        usize::from(self.sensitive.is_some())
            + usize::from(self.receiving_school_in_same_municipality.is_some())
    }
}

/// Archive preconditions for "kan velges" documents (docs/domain.md §4 and §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precondition {
    /// `fields.data_checked` is true: the grades were checked before archiving.
    DataChecked,
    /// `fields.period` is "whole_year".
    WholeYear,
    /// Every `fields.assessments[].status` is "Avsluttet".
    AssessmentsClosed,
    /// `fields.case_reference` names the case the report belongs to.
    CaseReference,
    /// `fields.conduct_grade_lowered` is true.
    ConductGradeLowered,
    /// `fields.all_classes` is true: the overview covers every class.
    AllClasses,
}

/// 1-based line of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}
