//! The routing table: `routing-rules/*.toml` → decisions (DOMAIN.md §3, §8).
//!
//! Stage: used by `pipeline::route`. Input: a [`ValidatedEvent`]. Output: a
//! [`RoutingDecision`] or a [`Rejection`] (never transient: dead-lettered with the reason).
//! Loading fails with a [`RulesError`] naming file, line and rule; the worker refuses
//! to start on an invalid table, and a reload keeps the old table when the new one fails.
//!
//! STUB: replaced by the full implementation (issue «The complete routing table»).

pub mod decision;

use std::path::Path;
use std::sync::{Arc, RwLock};

pub use decision::*;

use crate::pipeline::validate::ValidatedEvent;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{0}")]
    Invalid(String),
}

/// One loaded, validated version of the routing table.
#[derive(Debug)]
pub struct RoutingTable {
    version: String,
}

impl RoutingTable {
    pub fn load_dir(_dir: &Path) -> Result<RoutingTable, RulesError> {
        Ok(RoutingTable {
            version: "stub".into(),
        })
    }

    /// Content hash of the files this table was loaded from.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn decide(&self, ev: &ValidatedEvent) -> Result<RoutingDecision, Rejection> {
        Ok(RoutingDecision {
            document_type: ev.document_type(),
            rule: ev.document_type().key().to_string(),
            channel: Channel::Svarut,
            archive: ArchivePolicy::Always,
            archived: true,
            folder: Some(Folder::Pupil),
            access: Access::Uo,
            legal_basis: Some("Offl. § 13 jf. fvl. § 13 første ledd nr. 1".into()),
            journal_post_type: JournalPostType::U,
            journal_status: JournalStatus::J,
            rejected: None,
            rules_version: self.version.clone(),
        })
    }
}

/// The table the worker routes with now; swapped whole on reload.
#[derive(Debug, Clone)]
pub struct SharedRules {
    dir: std::path::PathBuf,
    current: Arc<RwLock<Arc<RoutingTable>>>,
}

impl SharedRules {
    pub fn load(dir: &Path) -> Result<SharedRules, RulesError> {
        let table = RoutingTable::load_dir(dir)?;
        Ok(SharedRules {
            dir: dir.to_path_buf(),
            current: Arc::new(RwLock::new(Arc::new(table))),
        })
    }

    /// The table in force now (cheap: an `Arc` clone).
    pub fn current(&self) -> Arc<RoutingTable> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Loads the directory again; on error the old table keeps serving.
    pub fn reload(&self) -> Result<Arc<RoutingTable>, RulesError> {
        let table = Arc::new(RoutingTable::load_dir(&self.dir)?);
        match self.current.write() {
            Ok(mut guard) => *guard = table.clone(),
            Err(poisoned) => *poisoned.into_inner() = table.clone(),
        }
        Ok(table)
    }
}
