//! The routing table: `routing-rules/*.toml` → decisions (docs/domain.md §3, §8).
//!
//! Stage: used by `pipeline::route`. Input: a [`ValidatedEvent`]. Output: a
//! [`RoutingDecision`] or a [`Rejection`] (both `crate::document`'s) (never transient: dead-lettered with the reason).
//! Loading fails with a [`RulesError`] naming file, line and rule; the worker refuses
//! to start on an invalid table, and a reload keeps the old table when the new one fails.

pub(crate) mod explain;
mod file;

pub use explain::explain;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use file::{line_of, IfSensitive, Precondition, RuleSpec, RulesFile};

use crate::document::{
    Access, ArchivePolicy, Channel, Folder, JournalPostType, JournalStatus, Rejection,
    RoutingDecision, ValidatedEvent,
};
use crate::event::{Direction, DocumentType, IncomingEvent};

/// The standard exemption basis (docs/domain.md §8) when neither rule nor author gives one.
pub const DEFAULT_LEGAL_BASIS: &str = "Offl. § 13 jf. fvl. § 13 første ledd nr. 1";

/// Why a routing table was refused. Every message names file and line (and rule).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<RuleProblem>),
}

/// One problem in an otherwise readable table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub path: PathBuf,
    pub line: usize,
    pub rule: Option<String>,
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule {
            Some(r) => write!(
                f,
                "{}:{}: rule `{r}`: {}",
                self.path.display(),
                self.line,
                self.message
            ),
            None => write!(f, "{}:{}: {}", self.path.display(), self.line, self.message),
        }
    }
}

/// A rule with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub spec: RuleSpec,
    pub document_type: DocumentType,
    pub path: PathBuf,
    pub line: usize,
}

/// One loaded, validated version of the routing table.
#[derive(Debug)]
pub struct RoutingTable {
    version: String,
    /// Rules per type, most specific first.
    by_type: HashMap<DocumentType, Vec<LoadedRule>>,
}

impl RoutingTable {
    /// Reads every `*.toml` in `dir` (sorted by name) and validates the whole table.
    pub fn load_dir(dir: &Path) -> Result<RoutingTable, RulesError> {
        let io = |source| RulesError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut texts = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| RulesError::Io {
                path: path.clone(),
                source,
            })?;
            texts.push((path, text));
        }
        RoutingTable::from_texts(&texts)
    }

    /// Builds a table from `(path, text)` pairs; the path is only used in messages.
    pub fn from_texts(files: &[(PathBuf, String)]) -> Result<RoutingTable, RulesError> {
        let mut hasher = Sha256::new();
        let mut problems = Vec::new();
        let mut rules: Vec<LoadedRule> = Vec::new();
        let mut ids: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
        for (path, text) in files {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            hasher.update(name.unwrap_or_default().as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
            let parsed: RulesFile = toml::from_str(text).map_err(|e| RulesError::Syntax {
                path: path.clone(),
                line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
                message: e.message().to_string(),
            })?;
            for spanned in parsed.rules {
                let line = line_of(text, spanned.span().start);
                let spec = spanned.into_inner();
                let problem = |message: String| RuleProblem {
                    path: path.clone(),
                    line,
                    rule: Some(spec.id.clone()),
                    message,
                };
                if let Some((p, l)) = ids.get(&spec.id) {
                    problems.push(problem(format!(
                        "the id is already used at {}:{l}",
                        p.display()
                    )));
                    continue;
                }
                ids.insert(spec.id.clone(), (path.clone(), line));
                let document_type = match spec.document_type.parse::<DocumentType>() {
                    Ok(t) => t,
                    Err(_) => {
                        problems.push(problem(format!(
                            "unknown document_type `{}` (see docs/domain.md §8)",
                            spec.document_type
                        )));
                        continue;
                    }
                };
                for message in check_rule(&spec) {
                    problems.push(problem(message));
                }
                rules.push(LoadedRule {
                    spec,
                    document_type,
                    path: path.clone(),
                    line,
                });
            }
        }

        let mut by_type: HashMap<DocumentType, Vec<LoadedRule>> = HashMap::new();
        for rule in rules {
            let same = by_type.entry(rule.document_type).or_default();
            if let Some(other) = same.iter().find(|o| o.spec.when == rule.spec.when) {
                problems.push(RuleProblem {
                    path: rule.path.clone(),
                    line: rule.line,
                    rule: Some(rule.spec.id.clone()),
                    message: format!(
                        "rule `{}` ({}:{}) already routes `{}` under the same conditions",
                        other.spec.id,
                        other.path.display(),
                        other.line,
                        rule.document_type.key()
                    ),
                });
                continue;
            }
            same.push(rule);
        }
        for rules in by_type.values_mut() {
            rules.sort_by_key(|r| std::cmp::Reverse(r.spec.when.specificity()));
        }
        let first = files.first().map(|(p, _)| p.clone()).unwrap_or_default();
        for t in DocumentType::ALL {
            let covered = by_type
                .get(t)
                .is_some_and(|rs| rs.iter().any(|r| r.spec.when.sensitive != Some(true)));
            if !covered {
                problems.push(RuleProblem {
                    path: first.clone(),
                    line: 1,
                    rule: None,
                    message: format!(
                        "no rule routes `{}` ({}); every key in docs/domain.md §8 needs one",
                        t.key(),
                        t.name_nb()
                    ),
                });
            }
        }
        if !problems.is_empty() {
            return Err(RulesError::Invalid(problems));
        }
        Ok(RoutingTable {
            version: hex::encode(hasher.finalize()),
            by_type,
        })
    }

    /// Content hash of the files this table was loaded from.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The rules of one type, most specific first (for `rules table` and `explain`).
    pub fn rules_for(&self, t: DocumentType) -> &[LoadedRule] {
        self.by_type.get(&t).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Routes one event, or refuses it with a reason a teacher would understand.
    pub fn decide(&self, ev: &ValidatedEvent) -> Result<RoutingDecision, Rejection> {
        let t = ev.document_type();
        let e = ev.event();
        let rule = self
            .rules_for(t)
            .iter()
            .find(|r| matches(&r.spec, e))
            .ok_or_else(|| Rejection {
                code: "no_rule",
                reason: format!(
                    "Ingen regel i rutetabellen gjelder for «{}» med disse opplysningene",
                    t.name_nb()
                ),
                rule: None,
            })?;
        let spec = &rule.spec;
        let reject = |code: &'static str, reason: String| Rejection {
            code,
            reason,
            rule: Some(spec.id.clone()),
        };
        if e.direction != spec.direction {
            return Err(reject(
                "direction_mismatch",
                format!(
                    "«{}» har retning «{}», men hendelsen sier «{}»",
                    t.name_nb(),
                    spec.direction.as_str(),
                    e.direction.as_str()
                ),
            ));
        }
        if e.sensitive && !spec.channel.may_carry_sensitive() {
            return Err(reject(
                "sensitive_not_allowed",
                format!(
                    "Dokumentet er merket sensitivt, men «{}» sendes som {}. Sensitive opplysninger sendes aldri på den måten; bruk en dokumenttype som sendes med SvarUt",
                    t.name_nb(),
                    channel_nb(spec.channel)
                ),
            ));
        }
        // docs/domain.md §9: sensitive is UO on every path, or refused; the rule says which.
        if e.sensitive && spec.if_sensitive != Some(IfSensitive::Uo) {
            return Err(reject(
                "sensitive_not_allowed",
                format!(
                    "Dokumentet er merket sensitivt, men «{}» skal etter rutetabellen ikke inneholde sensitive opplysninger. Bruk en dokumenttype som arkiveres i elevmappen og unntas offentlighet",
                    t.name_nb()
                ),
            ));
        }
        if !spec.allowed_sender_roles.is_empty()
            && !spec
                .allowed_sender_roles
                .iter()
                .any(|r| r == &e.sender.role)
        {
            return Err(reject(
                "not_authorised",
                format!(
                    "Bare {} kan sende «{}»",
                    spec.allowed_sender_roles.join(" eller "),
                    t.name_nb()
                ),
            ));
        }
        let archived = match spec.archive {
            ArchivePolicy::Always => true,
            ArchivePolicy::Never => false,
            ArchivePolicy::Optional if !e.archive_opt_in => false,
            ArchivePolicy::Optional => {
                if let Some(reason) = failed_precondition(spec, t, e) {
                    return Err(reject("precondition_failed", reason));
                }
                true
            }
        };
        if archived && spec.folder == Some(Folder::Pupil) && e.pupil.is_none() {
            return Err(reject(
                "missing_pupil",
                format!(
                    "«{}» arkiveres i elevmappen, men hendelsen sier ikke hvilken elev det gjelder",
                    t.name_nb()
                ),
            ));
        }
        // The author may set another exemption basis on the document (docs/domain.md §3).
        let (access, legal_basis) = match (&e.legal_basis, spec.access) {
            (Some(basis), _) if !basis.trim().is_empty() => (Access::Uo, Some(basis.clone())),
            (_, Access::Uo) => (
                Access::Uo,
                Some(
                    spec.legal_basis
                        .clone()
                        .unwrap_or_else(|| DEFAULT_LEGAL_BASIS.to_string()),
                ),
            ),
            (_, Access::Public) => (Access::Public, None),
        };
        // A sensitive document is never public: UO with the event's basis, else the
        // rule's basis for sensitive documents, else the rule's, else the standard one.
        let (access, legal_basis) = if e.sensitive {
            let basis = e
                .legal_basis
                .clone()
                .filter(|b| !b.trim().is_empty())
                .or_else(|| spec.sensitive_legal_basis.clone())
                .or_else(|| spec.legal_basis.clone())
                .unwrap_or_else(|| DEFAULT_LEGAL_BASIS.to_string());
            (Access::Uo, Some(basis))
        } else {
            (access, legal_basis)
        };
        let journal_post_type = match spec.direction {
            Direction::In => JournalPostType::I,
            Direction::Out => JournalPostType::U,
            Direction::Note => JournalPostType::N,
        };
        let journal_status = spec.journal_status.unwrap_or(match spec.direction {
            Direction::Note => JournalStatus::F,
            _ => JournalStatus::J,
        });
        Ok(RoutingDecision {
            document_type: t,
            rule: spec.id.clone(),
            channel: spec.channel,
            archive: spec.archive,
            archived,
            folder: spec.folder,
            access,
            legal_basis,
            journal_post_type,
            journal_status,
            rejected: None,
            rules_version: self.version.clone(),
        })
    }
}

/// The whole table as Markdown, in the column order of docs/domain.md §8.
pub fn markdown_table(table: &RoutingTable) -> String {
    let mut out = String::from(
        "| key | name (nb) | when | dir | channel | archive | folder | access | journal status | preconditions / deadlines | rule |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for t in DocumentType::ALL {
        for r in table.rules_for(*t) {
            let s = &r.spec;
            let mut when = Vec::new();
            if let Some(v) = s.when.sensitive {
                when.push(format!("sensitive: {v}"));
            }
            if let Some(v) = s.when.receiving_school_in_same_municipality {
                when.push(format!("same municipality: {v}"));
            }
            let mut pre: Vec<String> = s.preconditions.iter().map(|p| format!("{p:?}")).collect();
            if let Some([lo, hi]) = s.grade_levels {
                pre.push(format!("grades {lo}–{hi}"));
            }
            if !s.allowed_sender_roles.is_empty() {
                pre.push(format!("only {}", s.allowed_sender_roles.join("/")));
            }
            pre.extend(s.deadlines.iter().cloned());
            let access = match s.access {
                Access::Uo => format!(
                    "UO ({})",
                    s.legal_basis.as_deref().unwrap_or(DEFAULT_LEGAL_BASIS)
                ),
                Access::Public => String::new(),
            };
            let status = s
                .journal_status
                .map(|j| format!("{j:?}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                t.key(),
                t.name_nb(),
                when.join(", "),
                s.direction.as_str(),
                s.channel.as_str(),
                s.archive.as_str(),
                s.folder.map(|f| f.as_str()).unwrap_or(""),
                access,
                status,
                pre.join("; "),
                s.id
            ));
        }
    }
    out
}

/// Problems a single rule has on its own.
fn check_rule(spec: &RuleSpec) -> Vec<String> {
    let mut out = Vec::new();
    if spec.when.sensitive == Some(true) && !spec.channel.may_carry_sensitive() {
        out.push(format!(
            "a sensitive document may never be sent by `{}` (docs/domain.md §3)",
            spec.channel.as_str()
        ));
    }
    if spec.archive != ArchivePolicy::Never && spec.folder.is_none() {
        out.push("an archived document needs `folder = \"pupil\"` or `\"school\"`".into());
    }
    if spec.archive != ArchivePolicy::Optional
        && (!spec.preconditions.is_empty() || spec.grade_levels.is_some())
    {
        out.push(
            "`preconditions` and `grade_levels` only apply to `archive = \"optional\"`".into(),
        );
    }
    if let Some([lo, hi]) = spec.grade_levels {
        if lo > hi || hi > 13 {
            out.push(format!(
                "`grade_levels = [{lo}, {hi}]` is not a range of grade levels"
            ));
        }
    }
    let may_be_sensitive = spec.when.sensitive != Some(false);
    match spec.if_sensitive {
        None if may_be_sensitive && spec.channel.may_carry_sensitive() => out.push(
            "`if_sensitive` is missing: say what `sensitive: true` means for this type, \"uo\" (exempt from public access) or \"refuse\" (docs/domain.md §9)"
            .into(),
        ),
        Some(IfSensitive::Uo) if !spec.channel.may_carry_sensitive() => out.push(format!(
            "`if_sensitive = \"uo\"` cannot hold: a sensitive document may never be sent by `{}` (docs/domain.md §3)",
            spec.channel.as_str()
        )),
        Some(_) if !may_be_sensitive => out.push(
            "`if_sensitive` never applies to a rule that matches only `sensitive = false`".into(),
        ),
        Some(IfSensitive::Refuse) if spec.when.sensitive == Some(true) => out.push(
            "a rule for sensitive documents cannot refuse them: use `if_sensitive = \"uo\"`".into(),
        ),
        _ => {}
    }
    if spec.sensitive_legal_basis.is_some() && spec.if_sensitive != Some(IfSensitive::Uo) {
        out.push("`sensitive_legal_basis` is only used with `if_sensitive = \"uo\"`".into());
    }
    if spec.access == Access::Public && spec.legal_basis.is_some() {
        out.push("`legal_basis` is only used with `access = \"UO\"`".into());
    }
    for d in &spec.deadlines {
        let ok = d
            .split_once('.')
            .and_then(|(dd, mm)| Some((dd.parse::<u8>().ok()?, mm.parse::<u8>().ok()?)))
            .is_some_and(|(dd, mm)| (1..=31).contains(&dd) && (1..=12).contains(&mm));
        if !ok {
            out.push(format!(
                "deadline `{d}` is not a day and month like \"25.06\""
            ));
        }
    }
    out
}

fn matches(spec: &RuleSpec, e: &IncomingEvent) -> bool {
    if let Some(s) = spec.when.sensitive {
        if s != e.sensitive {
            return false;
        }
    }
    if let Some(same) = spec.when.receiving_school_in_same_municipality {
        let theirs = e
            .fields
            .get("receiving_school")
            .and_then(|r| r.get("municipality_number"))
            .and_then(|n| n.as_str());
        match theirs {
            Some(n) if (n == e.municipality.number) == same => {}
            _ => return false,
        }
    }
    true
}

/// The first precondition that does not hold, as a sentence a teacher understands.
fn failed_precondition(spec: &RuleSpec, t: DocumentType, e: &IncomingEvent) -> Option<String> {
    let name = t.name_nb();
    let flag = |k: &str| e.fields.get(k).and_then(|v| v.as_bool()) == Some(true);
    for p in &spec.preconditions {
        let failed = match p {
            Precondition::DataChecked => (!flag("data_checked")).then(|| {
                format!("{name} kan ikke arkiveres før dataene er kontrollert (data_checked)")
            }),
            Precondition::WholeYear => (e.fields.get("period").and_then(|v| v.as_str())
                != Some("whole_year"))
            .then(|| "Fraværsrapporten må gjelde hele året før den kan arkiveres".to_string()),
            Precondition::AssessmentsClosed => {
                let all_closed = e
                    .fields
                    .get("assessments")
                    .and_then(|v| v.as_array())
                    .is_some_and(|a| {
                        !a.is_empty()
                            && a.iter().all(|x| {
                                x.get("status").and_then(|s| s.as_str()) == Some("Avsluttet")
                            })
                    });
                (!all_closed).then(|| {
                    "Alle vurderinger må ha status «Avsluttet» før de kan arkiveres".to_string()
                })
            }
            Precondition::CaseReference => {
                let has = e
                    .fields
                    .get("case_reference")
                    .and_then(|v| v.as_str())
                    .is_some_and(|s| !s.trim().is_empty());
                (!has).then(|| {
                    format!("{name} kan bare arkiveres når den er knyttet til en sak (case_reference)")
                })
            }
            Precondition::ConductGradeLowered => (!flag("conduct_grade_lowered")).then(|| {
                format!("{name} arkiveres bare for elever som har fått nedsatt karakter i orden eller oppførsel")
            }),
            Precondition::AllClasses => (!flag("all_classes")).then(|| {
                format!("{name} må omfatte alle klasser før den kan arkiveres")
            }),
        };
        if failed.is_some() {
            return failed;
        }
    }
    if let Some([lo, hi]) = spec.grade_levels {
        let level = e.pupil.as_ref().map(|p| p.grade_level).or_else(|| {
            e.fields
                .get("grade_level")
                .and_then(|v| v.as_u64())
                .and_then(|n| u8::try_from(n).ok())
        });
        match level {
            Some(l) if (lo..=hi).contains(&l) => {}
            _ if lo == hi => {
                return Some(format!(
                    "{name} kan bare arkiveres for elever på {lo}. trinn"
                ))
            }
            _ => {
                return Some(format!(
                    "{name} kan bare arkiveres for elever på {lo}.–{hi}. trinn"
                ))
            }
        }
    }
    None
}

/// How a channel is named in a rejection.
fn channel_nb(c: Channel) -> &'static str {
    match c {
        Channel::Svarut => "SvarUt",
        Channel::SvarutArchive => "SvarUt fra arkivet",
        Channel::MessageEmail => "melding og e-post",
        Channel::Notification => "varsel i appen",
        Channel::Internal => "intern melding",
        Channel::Sms => "SMS",
        Channel::None => "ingen forsendelse",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("routing-rules")
    }

    fn table_with(extra: &str) -> Result<RoutingTable, RulesError> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir()).expect("routing-rules exists") {
            let p = entry.expect("entry").path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push((p.clone(), std::fs::read_to_string(&p).expect("readable")));
            }
        }
        files.sort();
        files.push((PathBuf::from("extra.toml"), extra.to_string()));
        RoutingTable::from_texts(&files)
    }

    #[test]
    fn the_shipped_table_covers_every_key() {
        let t = RoutingTable::load_dir(&dir()).expect("valid table");
        for k in DocumentType::ALL {
            assert!(!t.rules_for(*k).is_empty(), "{}", k.key());
        }
        assert_eq!(t.version().len(), 64);
    }

    #[test]
    fn a_sensitive_rule_on_a_message_channel_is_refused_with_file_and_line() {
        let err = table_with(
            "\n\n[[rule]]\nid = \"x\"\ndocument_type = \"absence_notice\"\nwhen = { sensitive = true }\ndirection = \"out\"\nchannel = \"sms\"\narchive = \"never\"\n",
        )
        .expect_err("must be refused")
        .to_string();
        assert!(err.contains("extra.toml:3: rule `x`"), "{err}");
        assert!(
            err.contains("sensitive document may never be sent by `sms`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_and_keys_are_refused() {
        let err = table_with("[[rule]]\nid = \"y\"\narkive = \"always\"\n")
            .expect_err("typo refused")
            .to_string();
        assert!(err.contains("extra.toml:"), "{err}");
        assert!(err.contains("arkive"), "{err}");
        let err = table_with(
            "[[rule]]\nid = \"z\"\ndocument_type = \"homework\"\ndirection = \"out\"\nchannel = \"svarut\"\narchive = \"never\"\n",
        )
        .expect_err("unknown key refused")
        .to_string();
        assert!(err.contains("unknown document_type `homework`"), "{err}");
    }

    #[test]
    fn a_second_rule_for_the_same_case_is_refused() {
        let err = table_with(
            "[[rule]]\nid = \"cw2\"\ndocument_type = \"conduct_warning\"\ndirection = \"out\"\nchannel = \"svarut\"\narchive = \"always\"\nfolder = \"pupil\"\n",
        )
        .expect_err("overlap refused")
        .to_string();
        assert!(err.contains("already routes `conduct_warning`"), "{err}");
    }

    #[test]
    fn deliberately_broken_tables_fail_with_the_expected_message() {
        let rule = |body: &str| {
            format!("[[rule]]\nid = \"broken\"\ndocument_type = \"diploma\"\nwhen = {{ sensitive = true }}\ndirection = \"out\"\n{body}")
        };
        let cases = [
            (rule("channel = \"svarut\"\narchive = \"always\"\n"), "an archived document needs `folder"),
            (rule("channel = \"svarut\"\narchive = \"always\"\nfolder = \"pupil\"\npreconditions = [\"data_checked\"]\n"), "only apply to `archive = \"optional\"`"),
            (rule("channel = \"svarut\"\narchive = \"optional\"\nfolder = \"pupil\"\ndeadlines = [\"31.13\"]\n"), "deadline `31.13`"),
            (rule("channel = \"svarut\"\narchive = \"optional\"\nfolder = \"pupil\"\ngrade_levels = [10, 8]\n"), "not a range of grade levels"),
            (rule("channel = \"notification\"\narchive = \"never\"\n"), "may never be sent by `notification`"),
            (rule("channel = \"email\"\narchive = \"never\"\n"), "unknown variant `email`"),
            (rule("channel = \"svarut\"\narchive = \"never\"\naccess = \"public\"\nlegal_basis = \"x\"\n"), "only used with `access = \"UO\"`"),
        ];
        for (text, want) in cases {
            let err = table_with(&text).expect_err(want).to_string();
            assert!(err.contains(want), "want {want:?} in:\n{err}");
            assert!(err.contains("extra.toml:"), "names the file: {err}");
        }
    }

    #[test]
    fn a_table_missing_a_key_is_refused() {
        let files: Vec<(PathBuf, String)> = vec![(
            PathBuf::from("only.toml"),
            "[[rule]]\nid = \"c\"\ndocument_type = \"consent\"\ndirection = \"in\"\nchannel = \"none\"\narchive = \"always\"\nfolder = \"pupil\"\n".into(),
        )];
        let err = RoutingTable::from_texts(&files)
            .expect_err("incomplete")
            .to_string();
        assert!(err.contains("no rule routes `conduct_warning`"), "{err}");
        assert!(!err.contains("no rule routes `consent`"), "{err}");
    }

    fn event(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> ValidatedEvent {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/events")
            .join(format!("{name}.json"));
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).expect("example")).expect("json");
        edit(&mut v);
        crate::document::ValidatedEvent::parse(&serde_json::to_vec(&v).expect("json"), 1 << 20)
            .expect("valid")
    }

    #[test]
    fn a_sensitive_transport_application_becomes_uo_with_the_standard_basis() {
        let t = RoutingTable::load_dir(&dir()).expect("valid table");
        let plain = t
            .decide(&event("school_transport_application", |v| {
                v["sensitive"] = false.into()
            }))
            .expect("routed");
        assert_eq!(plain.access, Access::Public);
        let d = t
            .decide(&event("school_transport_application", |v| {
                v["sensitive"] = true.into()
            }))
            .expect("routed");
        assert_eq!(d.access, Access::Uo);
        assert_eq!(d.legal_basis.as_deref(), Some(DEFAULT_LEGAL_BASIS));
        // The author's own basis wins.
        let d = t
            .decide(&event("school_transport_application", |v| {
                v["sensitive"] = true.into();
                v["legal_basis"] = "Offl. § 13 jf. fvl. § 13 første ledd nr. 2".into();
            }))
            .expect("routed");
        assert_eq!(
            d.legal_basis.as_deref(),
            Some("Offl. § 13 jf. fvl. § 13 første ledd nr. 2")
        );
    }

    #[test]
    fn the_rule_says_whether_sensitive_is_uo_or_refused() {
        let t = RoutingTable::load_dir(&dir()).expect("valid table");
        let r = t
            .decide(&event("group_overview", |v| v["sensitive"] = true.into()))
            .expect_err("school-folder documents refuse sensitive content");
        assert_eq!(r.code, "sensitive_not_allowed");
        assert!(r.reason.contains("Gruppeoversikt"), "{}", r.reason);
        // A rule's own basis for sensitive documents is used when the event has none.
        let basis = "Offl. § 13 jf. fvl. § 13 første ledd nr. 2";
        let t = table_with(&format!(
            "[[rule]]\nid = \"x\"\ndocument_type = \"consent\"\nwhen = {{ sensitive = true }}\ndirection = \"in\"\nchannel = \"none\"\narchive = \"always\"\nfolder = \"pupil\"\nif_sensitive = \"uo\"\nsensitive_legal_basis = \"{basis}\"\n"
        ))
        .expect("valid");
        let d = t
            .decide(&event("consent", |v| v["sensitive"] = true.into()))
            .expect("routed");
        assert_eq!(
            (d.access, d.legal_basis.as_deref()),
            (Access::Uo, Some(basis))
        );
    }

    #[test]
    fn if_sensitive_is_required_and_checked_at_load() {
        let rule = |extra: &str| {
            format!("[[rule]]\nid = \"s\"\ndocument_type = \"consent\"\nwhen = {{ sensitive = true }}\ndirection = \"in\"\n{extra}")
        };
        let cases = [
            (rule("channel = \"none\"\narchive = \"always\"\nfolder = \"pupil\"\n"), "`if_sensitive` is missing"),
            (rule("channel = \"none\"\narchive = \"always\"\nfolder = \"pupil\"\nif_sensitive = \"refuse\"\n"), "cannot refuse them"),
            (rule("channel = \"none\"\narchive = \"always\"\nfolder = \"pupil\"\nif_sensitive = \"maybe\"\n"), "unknown variant `maybe`"),
            (rule("channel = \"none\"\narchive = \"always\"\nfolder = \"pupil\"\nif_sensitive = \"refuse\"\nsensitive_legal_basis = \"x\"\n"), "only used with `if_sensitive = \"uo\"`"),
            ("[[rule]]\nid = \"m\"\ndocument_type = \"general_information\"\nwhen = { sensitive = false }\ndirection = \"out\"\nchannel = \"message_email\"\narchive = \"never\"\nif_sensitive = \"uo\"\n".to_string(), "cannot hold: a sensitive document may never be sent by `message_email`"),
        ];
        for (text, want) in cases {
            let err = table_with(&text).expect_err(want).to_string();
            assert!(err.contains(want), "want {want:?} in:\n{err}");
            assert!(err.contains("extra.toml:"), "names the file: {err}");
        }
        // Every shipped rule that could carry a sensitive document says which.
        let t = RoutingTable::load_dir(&dir()).expect("valid table");
        for k in DocumentType::ALL {
            for r in t.rules_for(*k) {
                if r.spec.channel.may_carry_sensitive() {
                    assert!(r.spec.if_sensitive.is_some(), "{}", r.spec.id);
                }
            }
        }
    }

    #[test]
    fn the_version_changes_with_the_content() {
        let a = table_with("").expect("valid");
        let b = table_with("# a comment changes the version too\n").expect("valid");
        assert_ne!(a.version(), b.version());
    }
}
