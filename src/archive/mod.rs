//! The archive side: statuses of the archive queue. The timed transfer to the
//! Noark 5 archive (Fiks Arkiv) is its own part, not a pipeline stage, and is
//! added by the issue «Archive transfer»; the pipeline only queues rows as `klar`.

use serde::{Deserialize, Serialize};

/// Status of one archive copy, with the words the archive staff use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
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
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveStatus::Klar => "klar",
            ArchiveStatus::Arkivert => "arkivert",
            ArchiveStatus::Feilet => "feilet",
        }
    }
}
