//! The routing decision: what the router says about one event (or its refusal).
//!
//! Concept: part of the document's states (`crate::document`): made by
//! `rules::RoutingTable::decide`, carried by `RoutedDocument`, stored with the
//! document so that every later stage — render, deliver, archive — and every
//! auditor reads the same decision. Serialises to the JSON that
//! `dokflyt rules explain` prints.

use serde::{Deserialize, Serialize};

use crate::event::DocumentType;

/// How a document leaves dokflyt (docs/domain.md §8, "Channels").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// dokflyt sends it by SvarUt.
    Svarut,
    /// The archive system creates and sends it; dokflyt only transfers it, marked for dispatch.
    SvarutArchive,
    /// In-app message plus email copy.
    MessageEmail,
    /// A notice that a document can be read after login; carries no content.
    Notification,
    /// Shown to another school in the same municipality inside the school system.
    Internal,
    /// Emergency SMS.
    Sms,
    /// Nothing is sent; only recorded (and archived when the policy says so).
    None,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Svarut => "svarut",
            Channel::SvarutArchive => "svarut_archive",
            Channel::MessageEmail => "message_email",
            Channel::Notification => "notification",
            Channel::Internal => "internal",
            Channel::Sms => "sms",
            Channel::None => "none",
        }
    }

    /// Channels that must never carry sensitive content (docs/domain.md §3).
    pub fn may_carry_sensitive(self) -> bool {
        !matches!(
            self,
            Channel::MessageEmail | Channel::Notification | Channel::Sms
        )
    }
}

/// Archive policy of a document type (alltid / kan velges / aldri).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchivePolicy {
    Always,
    Optional,
    Never,
}

impl ArchivePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ArchivePolicy::Always => "always",
            ArchivePolicy::Optional => "optional",
            ArchivePolicy::Never => "never",
        }
    }
}

/// Which archive folder the document goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Folder {
    /// Elevmappe: one per pupil.
    Pupil,
    /// Skolemappe: one per school per school year.
    School,
}

impl Folder {
    pub fn as_str(self) -> &'static str {
        match self {
            Folder::Pupil => "pupil",
            Folder::School => "school",
        }
    }
}

/// Public access: open, or exempt (unntatt offentlighet) with a legal basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Access {
    #[serde(rename = "public")]
    Public,
    #[serde(rename = "UO")]
    Uo,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Uo => "UO",
        }
    }
}

/// Noark journal post type: I (incoming), U (outgoing), N (internal note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JournalPostType {
    I,
    U,
    N,
}

/// Noark journal status (J journalført, E ekspedert, F ferdigstilt, R reservert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JournalStatus {
    J,
    E,
    F,
    R,
}

/// The router's decision for one event. Field names and order are the
/// `dokflyt rules explain` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingDecision {
    pub document_type: DocumentType,
    /// The id of the rule that decided, e.g. `conduct_warning`.
    pub rule: String,
    pub channel: Channel,
    pub archive: ArchivePolicy,
    /// True when this event will be archived (always, or optional + opted in + preconditions).
    pub archived: bool,
    pub folder: Option<Folder>,
    pub access: Access,
    /// The exemption basis when `access` is UO (the author's override when given).
    pub legal_basis: Option<String>,
    pub journal_post_type: JournalPostType,
    pub journal_status: JournalStatus,
    /// Always `None` in a decision the pipeline acts on; see [`Rejection`].
    pub rejected: Option<String>,
    /// Content hash of the routing table version that decided.
    pub rules_version: String,
}

/// An event the routing table refuses, with a reason a teacher would understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejection {
    /// Stable machine-readable code, e.g. `sensitive_not_allowed`, `precondition_failed`.
    pub code: &'static str,
    /// Norwegian (bokmål) reason, e.g. «Fraværsrapporten må gjelde hele året før den kan arkiveres».
    pub reason: String,
    /// The rule that refused, when one matched.
    pub rule: Option<String>,
}
