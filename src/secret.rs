//! A value that must never be printed: connection strings with passwords, tokens,
//! private keys.
//!
//! Concept: a leaf (it imports nothing of the crate), so settings, clients and
//! adapters can all hold one. Input: any string. Output: the value through
//! [`Secret::expose`] for the one place that needs it (opening a connection,
//! signing), or a log-safe form through [`Secret::redacted_url`]. `Debug` prints
//! `Secret([redacted])`. No failure: it is a wrapper.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value that must not be printed (connection strings with passwords, tokens).
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The real value, for the one place that needs it (opening a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The value as a URL with any password replaced by `***`, safe to log.
    pub fn redacted_url(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &self.0[scheme_end + 3..at];
                let user = userinfo.split(':').next().unwrap_or("");
                let masked = if userinfo.contains(':') {
                    format!("{user}:***")
                } else {
                    user.to_string()
                };
                format!("{}{}{}", &self.0[..scheme_end + 3], masked, &self.0[at..])
            }
            _ => self.0.clone(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("amqp://guest:hemmelig@host:5672/%2f");
        assert!(!format!("{s:?}").contains("hemmelig"));
        assert_eq!(s.redacted_url(), "amqp://guest:***@host:5672/%2f");
        assert_eq!(
            Secret::new("postgres://postgres@h/db").redacted_url(),
            "postgres://postgres@h/db"
        );
    }
}
