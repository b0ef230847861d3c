//! The exit codes of `dokflyt`: one table, the one place they are defined.
//!
//! Input: what a command ended with. Output: the process exit code, and the same
//! table rendered into the top-level `--help` ([`help_table`]) and README
//! ([`markdown_table`]; a test holds README to it, so the two cannot drift).
//! Failure: [`Exit`] is the error a command returns to end with a particular code
//! and a message for the operator; any other error is [`Code::Error`].

use std::process::ExitCode;

/// Every exit code the command line uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Ok = 0,
    Error = 1,
    Invalid = 2,
    Refused = 3,
    NotMigrated = 4,
}

impl Code {
    /// In order, for the tables.
    pub const ALL: [Code; 5] = [
        Code::Ok,
        Code::Error,
        Code::Invalid,
        Code::Refused,
        Code::NotMigrated,
    ];

    pub fn number(self) -> u8 {
        self as u8
    }

    /// What the code means, and which commands end with it.
    pub fn meaning(self) -> &'static str {
        match self {
            Code::Ok => "Done.",
            Code::Error => {
                "Error: the command could not do its work (the database or broker \
                 cannot be reached, a file cannot be read or written, the routing table \
                 or the templates do not load), or part of it failed: `roster import` \
                 with rejected lines, `archive rollover` with a school folder not created."
            }
            Code::Invalid => {
                "Invalid input: the arguments (every usage error), an event file that is \
                 not a valid event (`render`, `rules explain`), or a value the command \
                 refuses (a school year, a principal's initials, an API client that is \
                 unknown, exists already or is invalid)."
            }
            Code::Refused => {
                "Refused: the routing table rejects the event (`render`, `rules \
                 explain`), documents ended `feilet` in the transfer (`archive run-now`), \
                 or a change by hand to a roster entry the sync owns (`roster manual`)."
            }
            Code::NotMigrated => {
                "The database is not migrated (missing, empty, behind this version or \
                 not matching it): read-only commands refuse instead of migrating. Run \
                 `dokflyt migrate`."
            }
        }
    }
}

impl From<Code> for ExitCode {
    fn from(c: Code) -> ExitCode {
        ExitCode::from(c.number())
    }
}

/// The table for `--help`: the code, then its meaning wrapped under it.
pub fn help_table() -> String {
    let mut out = String::from("Exit codes:\n");
    for c in Code::ALL {
        let mut line = format!("  {}  ", c.number());
        for word in c.meaning().split_whitespace() {
            if line.len() + word.len() > 92 {
                out.push_str(line.trim_end());
                out.push('\n');
                line = "     ".to_string();
            }
            line.push_str(word);
            line.push(' ');
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The table for README (Markdown), exactly as README carries it.
pub fn markdown_table() -> String {
    let mut out = String::from("| exit code | meaning |\n|---|---|\n");
    for c in Code::ALL {
        out.push_str(&format!("| `{}` | {} |\n", c.number(), c.meaning()));
    }
    out
}

/// Ends a command with `code` after `main` prints `message` (bokmål, for the
/// operator) on stderr.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: Code,
    pub message: String,
}

impl Exit {
    pub fn with(code: Code, message: impl Into<String>) -> anyhow::Error {
        Exit {
            code,
            message: message.into(),
        }
        .into()
    }
}
