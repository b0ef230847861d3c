//! How strongly a person signed in (assurance level), and how strongly they must
//! have signed in for an action.
//!
//! Input: the `acr` and `amr` claims of an ID token (dashboard sign-in) or of a
//! person assertion (API), read through `crate::config::AssuranceSettings`.
//! Output: a [`Level`] (`low` < `substantial` < `high`) and, per [`Action`], the
//! level it requires. Unknown `acr`/`amr` values map to [`Level::Low`]: a level is
//! never assumed, only read from a table the operator controls. Pure; the callers
//! decide what to do with a level that is too low (step-up in the dashboard, 403 in
//! the API) and audit the refusal with the missing level.
//!
//! Defaults follow ID-porten (`idporten-loa-substantial`, `idporten-loa-high`, and
//! the older `Level3` / `Level4`), Feide's MFA (`amr` containing `mfa`) and common
//! `amr` words (`mfa`, `otp`, `sms`: substantial; `hwk`, `bankid`: high). A
//! provider that names its levels differently is mapped in `[assurance.acr_map]`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An assurance level, ordered: `Low < Substantial < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// An ordinary staff login (password, or a level the table does not know).
    Low,
    /// Two factors (ID-porten substantial, MinID with a code, Feide MFA).
    Substantial,
    /// BankID or equivalent (ID-porten high).
    High,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Low, Level::Substantial, Level::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Substantial => "substantial",
            Level::High => "high",
        }
    }

    /// The Norwegian word shown to staff ("lav", "betydelig", "høy").
    pub fn norwegian(self) -> &'static str {
        match self {
            Level::Low => "lav",
            Level::Substantial => "betydelig",
            Level::High => "høy",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown assurance level `{0}` (expected low, substantial or high)")]
pub struct UnknownLevel(pub String);

impl FromStr for Level {
    type Err = UnknownLevel;
    fn from_str(s: &str) -> Result<Level, UnknownLevel> {
        match s.trim() {
            "low" => Ok(Level::Low),
            "substantial" => Ok(Level::Substantial),
            "high" => Ok(Level::High),
            other => Err(UnknownLevel(other.to_string())),
        }
    }
}

/// The actions whose required level is configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Reading lists and counts: no extra requirement by default.
    ReadLists,
    /// Previewing or downloading a UO or sensitive document.
    PreviewProtected,
    /// Retry, re-produce and remove-from-failed on a UO or sensitive document.
    ActOnProtected,
    /// Sending an emergency SMS.
    SmsSend,
    /// Approving someone else's emergency SMS.
    SmsApprove,
    /// Granting, renewing or removing rights.
    GrantRights,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::ReadLists,
        Action::PreviewProtected,
        Action::ActOnProtected,
        Action::SmsSend,
        Action::SmsApprove,
        Action::GrantRights,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::ReadLists => "read_lists",
            Action::PreviewProtected => "preview_protected",
            Action::ActOnProtected => "act_on_protected",
            Action::SmsSend => "sms_send",
            Action::SmsApprove => "sms_approve",
            Action::GrantRights => "grant_rights",
        }
    }
}

/// A level that was proven, and when: the session or assertion that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proven {
    pub level: Level,
    /// When the person authenticated (`auth_time`, else the token's `iat`).
    pub at: chrono::DateTime<chrono::Utc>,
}
