//! The archive side: statuses of the archive queue and the transfer to the
//! municipal Noark 5 archive over KS Fiks Arkiv (V2).
//!
//! Not a pipeline stage: the pipeline only queues rows as `klar`; a transfer
//! (the scheduled windows, or `dokflyt archive run-now`) moves them on:
//! - [`arkivmelding`] — the opprett message for one document (folder + journal post);
//! - [`client`] — the [`client::ArchiveClient`] trait, HTTP multipart and directory targets;
//! - [`receipt`] — the archive's answer: receipt or error message, parsed;
//! - [`transfer`] — claim `klar` rows, send, retry transient faults, record
//!   `arkivert` / `feilet` and every attempt;
//! - [`folders`] — school folders per school year, principals, the 30 June rollover;
//! - [`deadlines`] — the 25 January / 25 June deadlines of the optional types;
//! - [`schedule`] — the twice-daily windows (Europe/Oslo), catch-up, outage retries;
//! - [`staff`] — the staff's actions (list, show, retry, re-produce, remove from
//!   the failed list), access-checked and audited.
//!
//! Failure: each module has its own error type; the transfer classifies every
//! failure as transient (retried) or permanent (straight to `feilet`).

pub mod arkivmelding;
pub(crate) mod client;
pub mod deadlines;
pub mod folders;
pub mod receipt;
pub mod schedule;
pub mod staff;
pub(crate) mod transfer;

pub use client::{
    from_settings as client_from_settings, ArchiveClient, Delivered, DirectoryArchive,
    FolderDelivered, HttpArchiveClient, Outgoing, TransferError,
};
pub use transfer::{run_now, TransferOptions};

use serde::{Deserialize, Serialize};

/// Status of one archive copy, with the words the archive staff use.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "archive_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ArchiveStatus {
    /// Waiting for the next transfer.
    Klar,
    /// Transferred; the archive's journal reference is stored.
    Arkivert,
    /// The transfer failed; the archive's receipt says why.
    Feilet,
}

impl ArchiveStatus {
    /// The status of its word (`klar`, `arkivert`, `feilet`).
    pub fn parse(word: &str) -> Option<ArchiveStatus> {
        [
            ArchiveStatus::Klar,
            ArchiveStatus::Arkivert,
            ArchiveStatus::Feilet,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveStatus::Klar => "klar",
            ArchiveStatus::Arkivert => "arkivert",
            ArchiveStatus::Feilet => "feilet",
        }
    }
}
