//! `[assurance]`: how a provider's `acr`/`amr` words map to assurance levels,
//! the level each action requires, and how long a proven level lasts.
//!
//! Read by the dashboard and the person assertions; the words themselves
//! ([`Level`], [`Action`], [`Proven`]) are `crate::assurance`'s. Failure: unknown
//! keys are errors; [`AssuranceSettings::validate`] refuses at start a required
//! level that cannot be asked for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assurance::{Action, Level, Proven};

/// The level each action requires (`[assurance.required]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Requirements {
    pub read_lists: Level,
    pub preview_protected: Level,
    pub act_on_protected: Level,
    pub sms_send: Level,
    pub sms_approve: Level,
    pub grant_rights: Level,
}

impl Default for Requirements {
    fn default() -> Self {
        Requirements {
            read_lists: Level::Low,
            preview_protected: Level::Substantial,
            act_on_protected: Level::Substantial,
            sms_send: Level::High,
            sms_approve: Level::High,
            grant_rights: Level::High,
        }
    }
}

/// `[assurance]`: the mapping from a provider's words to levels, the level each
/// action requires, and how long a session remembers a level above `low`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssuranceSettings {
    /// `acr` value → level. Values not listed count as `low`.
    pub acr_map: BTreeMap<String, Level>,
    /// `amr` value → level; the highest of `acr` and every `amr` value wins.
    pub amr_map: BTreeMap<String, Level>,
    /// The `acr_values` to ask the identity provider for, per level, on step-up.
    pub request_acr: BTreeMap<Level, String>,
    pub required: Requirements,
    /// Seconds a session keeps `substantial` after the sign-in that proved it.
    pub substantial_max_age_secs: u64,
    /// Seconds a session keeps `high` after the sign-in that proved it.
    pub high_max_age_secs: u64,
}

impl Default for AssuranceSettings {
    fn default() -> Self {
        let acr_map = [
            ("idporten-loa-low", Level::Low),
            ("idporten-loa-substantial", Level::Substantial),
            ("idporten-loa-high", Level::High),
            ("Level3", Level::Substantial),
            ("Level4", Level::High),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let amr_map = [
            ("mfa", Level::Substantial),
            ("otp", Level::Substantial),
            ("sms", Level::Substantial),
            ("hwk", Level::High),
            ("bankid", Level::High),
            ("BankID", Level::High),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let request_acr = [
            (Level::Substantial, "idporten-loa-substantial"),
            (Level::High, "idporten-loa-high"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        AssuranceSettings {
            acr_map,
            amr_map,
            request_acr,
            required: Requirements::default(),
            substantial_max_age_secs: 8 * 3600,
            high_max_age_secs: 15 * 60,
        }
    }
}

impl AssuranceSettings {
    /// The level proven by an `acr` claim and `amr` values (the highest wins).
    pub fn level_of(&self, acr: Option<&str>, amr: &[String]) -> Level {
        let from_acr = acr
            .and_then(|a| self.acr_map.get(a.trim()).copied())
            .unwrap_or(Level::Low);
        amr.iter()
            .filter_map(|m| self.amr_map.get(m.trim()).copied())
            .fold(from_acr, Level::max)
    }

    /// The level `action` requires.
    pub fn required(&self, action: Action) -> Level {
        let r = &self.required;
        match action {
            Action::ReadLists => r.read_lists,
            Action::PreviewProtected => r.preview_protected,
            Action::ActOnProtected => r.act_on_protected,
            Action::SmsSend => r.sms_send,
            Action::SmsApprove => r.sms_approve,
            Action::GrantRights => r.grant_rights,
        }
    }

    /// How long a level proven at sign-in stays valid (`None`: as long as the session).
    pub fn max_age(&self, level: Level) -> Option<std::time::Duration> {
        match level {
            Level::Low => None,
            Level::Substantial => Some(std::time::Duration::from_secs(
                self.substantial_max_age_secs,
            )),
            Level::High => Some(std::time::Duration::from_secs(self.high_max_age_secs)),
        }
    }

    /// The `acr_values` to send on a step-up to `level`.
    pub fn acr_value_for(&self, level: Level) -> Option<&str> {
        self.request_acr.get(&level).map(String::as_str)
    }

    /// Checked at start: every level that an action requires can be asked for.
    pub fn validate(&self) -> Result<(), String> {
        for a in Action::ALL {
            let need = self.required(a);
            if need > Level::Low && self.acr_value_for(need).is_none() {
                return Err(format!(
                    "assurance.required.{} is `{need}`, but assurance.request_acr has no value to ask the identity provider for it",
                    a.as_str()
                ));
            }
        }
        Ok(())
    }

    /// The level `proven` still holds at `now` (a proven level decays to `low` after its max age).
    pub fn effective(&self, proven: &Proven, now: chrono::DateTime<chrono::Utc>) -> Level {
        let settings = self;
        match settings.max_age(proven.level) {
            None => proven.level,
            Some(age) => {
                let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
                if now.signed_duration_since(proven.at) <= age {
                    proven.level
                } else {
                    // Step down to the highest lower level whose age still holds.
                    Level::ALL
                        .into_iter()
                        .rev()
                        .filter(|l| *l < proven.level)
                        .find(|l| match settings.max_age(*l) {
                            None => true,
                            Some(a) => {
                                let a =
                                    chrono::Duration::from_std(a).unwrap_or(chrono::Duration::MAX);
                                now.signed_duration_since(proven.at) <= a
                            }
                        })
                        .unwrap_or(Level::Low)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_come_only_from_the_table() {
        let s = AssuranceSettings::default();
        assert_eq!(s.level_of(Some("idporten-loa-high"), &[]), Level::High);
        assert_eq!(
            s.level_of(Some("idporten-loa-substantial"), &[]),
            Level::Substantial
        );
        assert_eq!(s.level_of(Some("something-else"), &[]), Level::Low);
        assert_eq!(s.level_of(None, &[]), Level::Low);
        assert_eq!(
            s.level_of(None, &["pwd".into(), "mfa".into()]),
            Level::Substantial
        );
        assert_eq!(
            s.level_of(Some("idporten-loa-substantial"), &["bankid".into()]),
            Level::High
        );
    }

    #[test]
    fn defaults_require_what_the_issue_names() {
        let s = AssuranceSettings::default();
        assert_eq!(s.required(Action::ReadLists), Level::Low);
        assert_eq!(s.required(Action::PreviewProtected), Level::Substantial);
        assert_eq!(s.required(Action::ActOnProtected), Level::Substantial);
        assert_eq!(s.required(Action::SmsSend), Level::High);
        assert_eq!(s.required(Action::SmsApprove), Level::High);
        assert_eq!(s.required(Action::GrantRights), Level::High);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn a_proven_level_decays_after_its_max_age() {
        let s = AssuranceSettings::default();
        let at = chrono::Utc::now();
        let p = Proven {
            level: Level::High,
            at,
        };
        assert_eq!(
            s.effective(&p, at + chrono::Duration::minutes(14)),
            Level::High
        );
        // After 15 minutes, high is gone but substantial (8 h) still holds.
        assert_eq!(
            s.effective(&p, at + chrono::Duration::minutes(16)),
            Level::Substantial
        );
        assert_eq!(s.effective(&p, at + chrono::Duration::hours(9)), Level::Low);
    }

    #[test]
    fn a_required_level_without_an_acr_value_is_refused_at_start() {
        let mut s = AssuranceSettings::default();
        s.request_acr.remove(&Level::High);
        assert!(s.validate().is_err());
    }
}
