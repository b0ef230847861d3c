//! Broker accounts (issue 16, item 3): who may do what on RabbitMQ.
//!
//! Input: the configured broker URL (checked at start by [`check_credentials`]),
//! or the names of a producer and a worker user and the queue prefix
//! ([`BrokerUsers`]). Output: `Ok` for an acceptable URL; the exact `rabbitmqctl`
//! commands that give each user its permissions, and (with `apply`) their effect.
//! - The **producer** (the school system) may only publish to `{prefix}.events`:
//!   configure `^$`, write `^{prefix}\.events$`, read `^$`. It cannot declare,
//!   bind, consume, or publish to any other exchange (the default one included).
//! - The **worker** (dokflyt) may configure, write and read `{prefix}.*`, and
//!   write `amq.default` (the SMS fan-out publishes to its queue through the
//!   default exchange).
//! - `guest` is refused unless the broker is on a loopback address.
//!
//! Failure: a [`PermissionsError`] with the reason (never a password).

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum PermissionsError {
    #[error("the broker URL cannot be read: {0}")]
    BadUrl(String),
    #[error(
        "the broker account `guest` is only accepted on a loopback address (the broker here is `{0}`); \
         create a worker user (see `dokflyt broker permissions`) and put it in DOKFLYT_AMQP_URL"
    )]
    GuestOutsideLoopback(String),
    #[error("a user name must be 1-64 characters of letters, digits, `-`, `_` or `.`: `{0}`")]
    BadUserName(String),
    #[error("rabbitmqctl {command} failed: {message}")]
    Rabbitmqctl { command: String, message: String },
}

/// Refuses the default `guest` account (also what an URL without a user means)
/// on any broker that is not on a loopback address. Host names other than
/// `localhost` count as not loopback: nothing is resolved.
pub fn check_credentials(amqp_url: &str) -> Result<(), PermissionsError> {
    let url = url::Url::parse(amqp_url).map_err(|e| PermissionsError::BadUrl(e.to_string()))?;
    let user = match url.username() {
        "" => "guest",
        u => u,
    };
    if user != "guest" {
        return Ok(());
    }
    let host = url.host_str().unwrap_or("localhost");
    if is_loopback(host) {
        Ok(())
    } else {
        Err(PermissionsError::GuestOutsideLoopback(host.to_string()))
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// The two accounts and where they live.
#[derive(Debug, Clone)]
pub struct BrokerUsers {
    pub vhost: String,
    pub prefix: String,
    pub producer: String,
    pub worker: String,
}

/// One user's permission regexes (configure, write, read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

impl BrokerUsers {
    fn check_names(&self) -> Result<(), PermissionsError> {
        for n in [&self.producer, &self.worker] {
            let ok = !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok || n == "guest" {
                return Err(PermissionsError::BadUserName(n.clone()));
            }
        }
        Ok(())
    }

    /// The permissions of the producer and of the worker.
    pub fn grants(&self) -> Vec<Grant> {
        let p = regex_escape(&self.prefix);
        vec![
            Grant {
                user: self.producer.clone(),
                configure: "^$".into(),
                write: format!("^{p}\\.events$"),
                read: "^$".into(),
            },
            Grant {
                user: self.worker.clone(),
                configure: format!("^{p}\\..*$"),
                write: format!("^({p}\\..*|amq\\.default)$"),
                read: format!("^{p}\\..*$"),
            },
        ]
    }

    /// The `rabbitmqctl` commands, as a shell would take them. `add_user` reads
    /// the password from standard input (so it is not in the process list).
    pub fn commands(&self) -> Result<Vec<String>, PermissionsError> {
        self.check_names()?;
        let mut out = Vec::new();
        for g in self.grants() {
            out.push(format!(
                "rabbitmqctl add_user {}   # password on stdin",
                g.user
            ));
            out.push(format!(
                "rabbitmqctl set_permissions -p {} {} '{}' '{}' '{}'",
                shell_word(&self.vhost),
                g.user,
                g.configure,
                g.write,
                g.read
            ));
        }
        Ok(out)
    }

    /// Creates missing users (with the password `password_for` gives them) and sets
    /// both users' permissions. Returns the users that were created.
    pub fn apply(
        &self,
        mut password_for: impl FnMut(&str) -> String,
    ) -> Result<Vec<(String, String)>, PermissionsError> {
        self.check_names()?;
        let existing = rabbitmqctl(&["list_users", "--silent"], None)?;
        let known: Vec<&str> = existing
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let mut created = Vec::new();
        for g in self.grants() {
            if !known.contains(&g.user.as_str()) {
                let password = password_for(&g.user);
                rabbitmqctl(&["add_user", &g.user], Some(&password))?;
                created.push((g.user.clone(), password));
            }
            rabbitmqctl(
                &[
                    "set_permissions",
                    "-p",
                    &self.vhost,
                    &g.user,
                    &g.configure,
                    &g.write,
                    &g.read,
                ],
                None,
            )?;
        }
        Ok(created)
    }
}

/// Runs `rabbitmqctl ARGS`, feeding `stdin`; returns its standard output.
pub fn rabbitmqctl(args: &[&str], stdin: Option<&str>) -> Result<String, PermissionsError> {
    let fail = |message: String| PermissionsError::Rabbitmqctl {
        command: args.first().copied().unwrap_or("").to_string(),
        message,
    };
    let mut child = Command::new("rabbitmqctl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            pipe.write_all(format!("{text}\n").as_bytes())
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn shell_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_only_on_loopback() {
        for ok in [
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            "amqp://guest:guest@localhost:5672/%2f",
            "amqp://guest:guest@[::1]:5672/%2f",
            "amqp://127.0.0.2:5672",
            "amqp://dokflyt:hemmelig@mq.kommune.no:5671/%2f",
        ] {
            assert!(check_credentials(ok).is_ok(), "{ok}");
        }
        for bad in [
            "amqp://guest:guest@10.0.0.5:5672/%2f",
            "amqp://guest:guest@mq.kommune.no:5672/%2f",
            "amqp://mq.kommune.no:5672",
            "amqp://guest@0.0.0.0:5672",
        ] {
            let err = check_credentials(bad).expect_err(bad);
            assert!(matches!(err, PermissionsError::GuestOutsideLoopback(_)));
            assert!(!err.to_string().contains("guest:guest"));
        }
    }

    #[test]
    fn the_producer_may_only_write_the_events_exchange() {
        let u = BrokerUsers {
            vhost: "/".into(),
            prefix: "dokflyt".into(),
            producer: "skolesystem".into(),
            worker: "dokflyt-worker".into(),
        };
        let g = u.grants();
        assert_eq!(
            (
                g[0].configure.as_str(),
                g[0].write.as_str(),
                g[0].read.as_str()
            ),
            ("^$", "^dokflyt\\.events$", "^$")
        );
        let cmds = u.commands().expect("names");
        assert!(cmds.contains(
            &"rabbitmqctl set_permissions -p '/' skolesystem '^$' '^dokflyt\\.events$' '^$'"
                .to_string()
        ));
        let bad = BrokerUsers {
            producer: "guest".into(),
            ..u
        };
        assert!(bad.commands().is_err());
    }
}
