//! `[person_assertion]`: how the API's person assertions (`X-Dokflyt-Person`,
//! see `crate::assertion`) are checked: lifetime and audiences.
//!
//! Failure: unknown keys are errors.

use serde::{Deserialize, Serialize};

/// `[person_assertion]` in the configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionSettings {
    /// Longest accepted `exp - iat`, seconds.
    pub max_lifetime_secs: i64,
    /// The `aud` a client-signed assertion must carry.
    pub audience: String,
    /// The `aud` values accepted in an identity provider's ID token (the client
    /// ids the school systems sign in with). Empty: the dashboard's client id.
    pub idp_audiences: Vec<String>,
}

impl Default for AssertionSettings {
    fn default() -> Self {
        AssertionSettings {
            max_lifetime_secs: 300,
            audience: "dokflyt".into(),
            idp_audiences: Vec::new(),
        }
    }
}
