//! `rules explain` and `rules diff`: the routing table's answers, for people.
//!
//! Stage: beside the pipeline (CLI only). Input: event bodies and one or two tables.
//! Output: the decision as the JSON object `rules explain` prints (the same keys for
//! a routed and a refused event), or the list of events whose decision a table
//! change would alter. Failure: a malformed event is reported, never guessed at.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::RoutingTable;
use crate::document::{Rejection, RoutingDecision, ValidatedEvent, ValidationError};

/// What the table says about one event body.
#[derive(Debug)]
pub enum Explained {
    Routed(RoutingDecision),
    Rejected {
        document_type: String,
        rejection: Rejection,
        rules_version: String,
    },
}

impl Explained {
    /// The `rules explain` object: exactly the keys of the issue, in that order.
    pub fn to_json(&self) -> Value {
        match self {
            Explained::Routed(d) => {
                serde_json::to_value(d).unwrap_or_else(|e| json!({ "error": e.to_string() }))
            }
            Explained::Rejected {
                document_type,
                rejection,
                rules_version,
            } => json!({
                "document_type": document_type,
                "rule": rejection.rule,
                "channel": null,
                "archive": null,
                "archived": false,
                "folder": null,
                "access": null,
                "legal_basis": null,
                "journal_post_type": null,
                "journal_status": null,
                "rejected": rejection.reason,
                "rules_version": rules_version,
            }),
        }
    }
}

/// Validates and routes one body with `table`.
pub fn explain(table: &RoutingTable, body: &[u8]) -> Result<Explained, ValidationError> {
    let ev = ValidatedEvent::parse(body, usize::MAX)?;
    let document_type = ev.document_type().key().to_string();
    Ok(match table.decide(&ev) {
        Ok(d) => Explained::Routed(d),
        Err(rejection) => Explained::Rejected {
            document_type,
            rejection,
            rules_version: table.version().to_string(),
        },
    })
}

/// One event whose decision differs between two tables.
#[derive(Debug)]
pub struct Change {
    pub file: PathBuf,
    /// `key: old → new` for every key that differs (`rules_version` ignored).
    pub differences: Vec<String>,
}

/// The result of [`diff`].
#[derive(Debug, Default)]
pub struct DiffReport {
    pub changes: Vec<Change>,
    /// Events compared (valid ones).
    pub compared: usize,
    /// Files skipped because they are not valid events, with the error.
    pub malformed: Vec<(PathBuf, String)>,
}

/// Replays every `*.json` in `events` through both tables.
pub fn diff(old: &RoutingTable, new: &RoutingTable, events: &Path) -> std::io::Result<DiffReport> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(events)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut changes = Vec::new();
    let mut malformed = Vec::new();
    let mut compared = 0;
    for file in files {
        let body = std::fs::read(&file)?;
        let (a, b) = match (explain(old, &body), explain(new, &body)) {
            (Ok(a), Ok(b)) => (a.to_json(), b.to_json()),
            (Err(e), _) | (_, Err(e)) => {
                malformed.push((file, format!("{} ({})", e, e.code())));
                continue;
            }
        };
        compared += 1;
        let mut differences = Vec::new();
        if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                if k == "rules_version" {
                    continue;
                }
                let (x, y) = (
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                if x != y {
                    differences.push(format!("{k}: {x} → {y}"));
                }
            }
        }
        if !differences.is_empty() {
            changes.push(Change { file, differences });
        }
    }
    Ok(DiffReport {
        changes,
        compared,
        malformed,
    })
}
