//! The environment overlay: `DOKFLYT_SECTION__KEY=value` sets `section.key` (and
//! `DOKFLYT_ARCHIVE__SCHEDULE__POLL_SECS` sets `archive.schedule.poll_secs`): every
//! key of the file can be set this way, with the same names.
//!
//! Input: the variables (`DOKFLYT_` then the key path in capitals, segments joined
//! by two underscores), plus the older single-underscore names README documents
//! ([`ALIASES`], e.g. `DOKFLYT_SMTP_PORT` = `DOKFLYT_DELIVERY__EMAIL__PORT`); a
//! double-underscore name wins over its alias. Variables with neither form
//! (`DOKFLYT_LOG`, `DOKFLYT_CONFIG`, the tests' own) are not settings and are left
//! alone. Output: the values written into the file's TOML table, typed by the
//! default value's type: ONE parser for numbers ([`number`]), one for switches
//! ([`switch`]: `true`/`false`, `on`/`off`, `yes`/`no`, `1`/`0`), lists of words
//! split at commas, everything else a string.
//! Failure: a [`ConfigError::Env`] at start naming the variable and the key — a
//! name that is no setting, a number or switch that does not parse, a value the
//! setting refuses (out of range, not one of its words). Never the value itself:
//! it may be a password. Maps keyed by ids (per school, per municipality) and
//! lists of tables (`sms.prices`) are set in the file only.

use toml::{Table, Value};

use super::{ConfigError, Settings};

/// The names README documented before the `SECTION__KEY` form, and their keys.
pub const ALIASES: &[(&str, &str)] = &[
    ("DOKFLYT_AMQP_URL", "amqp.url"),
    ("DOKFLYT_AMQP_PREFIX", "amqp.prefix"),
    ("DOKFLYT_PREFETCH", "amqp.prefetch"),
    ("DOKFLYT_CONCURRENCY", "amqp.concurrency"),
    ("DOKFLYT_DATABASE_URL", "database.url"),
    ("DOKFLYT_HTTP_ADDR", "http.addr"),
    ("DOKFLYT_DEV_TOKEN", "http.dev_token"),
    ("DOKFLYT_TRUST_PROXY_HEADERS", "http.trust_proxy_headers"),
    ("DOKFLYT_RULES_DIR", "paths.rules_dir"),
    ("DOKFLYT_TEMPLATES_DIR", "paths.templates_dir"),
    ("DOKFLYT_ARCHIVE_URL", "archive.url"),
    ("DOKFLYT_ARCHIVE_CLIENT_KEY", "archive.auth.client_key"),
    ("DOKFLYT_ARCHIVE_DIRECTORY", "archive.directory"),
    ("DOKFLYT_ARCHIVE_TARGET", "archive.target"),
    ("DOKFLYT_ARCHIVE_CLAIM_TTL_SECS", "archive.claim_ttl_secs"),
    ("DOKFLYT_ARCHIVE_SCHEDULE", "archive.schedule.enabled"),
    ("DOKFLYT_ARCHIVE_WINDOWS", "archive.schedule.windows"),
    (
        "DOKFLYT_MAX_ROSTER_MESSAGE_BYTES",
        "limits.roster_message_bytes",
    ),
    ("DOKFLYT_SVARUT_URL", "delivery.svarut.base_url"),
    ("DOKFLYT_SVARUT_TOKEN", "delivery.svarut.maskinporten_token"),
    (
        "DOKFLYT_SVARUT_CERTIFICATE",
        "delivery.svarut.encryption_certificate",
    ),
    (
        "DOKFLYT_SVARUT_INTEGRASJON_ID",
        "delivery.svarut.integrasjon_id",
    ),
    (
        "DOKFLYT_SVARUT_INTEGRASJON_PASSORD",
        "delivery.svarut.integrasjon_passord",
    ),
    (
        "DOKFLYT_MASKINPORTEN_TOKEN_ENDPOINT",
        "delivery.svarut.maskinporten.token_endpoint",
    ),
    (
        "DOKFLYT_MASKINPORTEN_CLIENT_ID",
        "delivery.svarut.maskinporten.client_id",
    ),
    (
        "DOKFLYT_MASKINPORTEN_KEY",
        "delivery.svarut.maskinporten.private_key",
    ),
    ("DOKFLYT_SMTP_HOST", "delivery.email.host"),
    ("DOKFLYT_SMTP_PORT", "delivery.email.port"),
    ("DOKFLYT_SMTP_PASSWORD", "delivery.email.password"),
    ("DOKFLYT_SMS_GATEWAY_URL", "sms.gateway_url"),
    ("DOKFLYT_SMS_GATEWAY_USERNAME", "sms.username"),
    ("DOKFLYT_SMS_GATEWAY_PASSWORD", "sms.password"),
    ("DOKFLYT_SMS_DLR_TOKEN", "sms.dlr_token"),
    ("DOKFLYT_OIDC_ISSUER", "dashboard.oidc_issuer"),
    ("DOKFLYT_OIDC_CLIENT_ID", "dashboard.oidc_client_id"),
    ("DOKFLYT_OIDC_CLIENT_SECRET", "dashboard.oidc_client_secret"),
    ("DOKFLYT_PUBLIC_URL", "dashboard.public_url"),
    (
        "DOKFLYT_DASHBOARD_SECURE_COOKIES",
        "dashboard.secure_cookies",
    ),
];

/// The shared API token of old; refused by name (see [`overlay`]).
const REMOVED_API_TOKEN: &str = "DOKFLYT_API_TOKEN";

/// The one number parser: a whole number, or (where the default is one) a
/// decimal number. Surrounding spaces are ignored.
pub fn number(raw: &str, decimal: bool) -> Option<Value> {
    let t = raw.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(if decimal {
            Value::Float(i as f64)
        } else {
            Value::Integer(i)
        });
    }
    if decimal {
        return t
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float);
    }
    None
}

/// The one switch parser: `true`/`on`/`yes`/`1` and `false`/`off`/`no`/`0`, in
/// any case, spaces ignored.
pub fn switch(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// The key path a variable names, or `None` for a variable that is no setting.
fn key_of(name: &str) -> Option<Vec<String>> {
    if let Some((_, key)) = ALIASES.iter().find(|(n, _)| *n == name) {
        return Some(key.split('.').map(str::to_string).collect());
    }
    let rest = name.strip_prefix("DOKFLYT_")?;
    if !rest.contains("__") {
        return None;
    }
    Some(rest.split("__").map(|s| s.to_ascii_lowercase()).collect())
}

/// The defaults as a TOML table: the types the variables are parsed into.
fn defaults() -> Result<Table, ConfigError> {
    Table::try_from(Settings::default()).map_err(|e| ConfigError::Env {
        name: "DOKFLYT_*".into(),
        message: format!("the defaults cannot be described: {e}"),
    })
}

fn lookup<'a>(table: &'a Table, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let v = table.get(first)?;
    if rest.is_empty() {
        return Some(v);
    }
    lookup(v.as_table()?, rest)
}

/// Writes `value` at `path`, making the tables on the way.
fn insert(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("names no key".into());
    };
    let mut t = table;
    for p in parents {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is not a section"))?;
    }
    t.insert(last.clone(), value);
    Ok(())
}

/// The raw text as the type of the default at the same key.
fn typed(default: Option<&Value>, raw: &str) -> Result<Value, &'static str> {
    match default {
        Some(Value::Integer(_)) => number(raw, false).ok_or("expected a whole number"),
        Some(Value::Float(_)) => number(raw, true).ok_or("expected a number"),
        Some(Value::Boolean(_)) => switch(raw)
            .map(Value::Boolean)
            .ok_or("expected on or off (true/false, yes/no, 1/0)"),
        Some(Value::Array(items)) if items.iter().all(Value::is_str) => Ok(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(|w| Value::String(w.to_string()))
                .collect(),
        )),
        Some(Value::Array(_)) => Err("is a list of tables: set it in the configuration file"),
        Some(Value::Table(_)) => Err("is a section: set its keys (SECTION__KEY)"),
        Some(Value::Datetime(_)) => Err("is a date: set it in the configuration file"),
        // A string, or a key with no default (an optional setting): as text; the
        // check against the settings below decides whether it fits.
        Some(Value::String(_)) | None => Ok(Value::String(raw.to_string())),
    }
}

/// Every variable name the overlay reads: the aliases and `DOKFLYT_SECTION__KEY`
/// for every key that has a default (for [`Settings::apply_env`]).
pub fn names() -> impl Iterator<Item = String> {
    fn walk(t: &Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            let name = format!("{prefix}__{}", k.to_ascii_uppercase());
            match v {
                Value::Table(inner) => walk(inner, &name, out),
                _ => out.push(name),
            }
        }
    }
    let mut out: Vec<String> = ALIASES.iter().map(|(n, _)| n.to_string()).collect();
    out.push(REMOVED_API_TOKEN.to_string());
    if let Ok(d) = defaults() {
        for (k, v) in &d {
            let name = format!("DOKFLYT_{}", k.to_ascii_uppercase());
            match v {
                Value::Table(inner) => walk(inner, &name, &mut out),
                _ => out.push(name),
            }
        }
    }
    out.into_iter()
}

/// Applies the variables to `table` (the file's, or empty).
pub fn overlay(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut settings_vars: Vec<(bool, String, Vec<String>, String)> = Vec::new();
    for (name, raw) in vars {
        if name == REMOVED_API_TOKEN {
            // The shared token is gone (issue 16); failing beats silently ignoring it.
            return Err(ConfigError::Env {
                name,
                message: "the shared API token no longer exists: register each integration \
                          with `dokflyt clients add` (DOKFLYT_DEV_TOKEN is the development token)"
                    .into(),
            });
        }
        if let Some(path) = key_of(&name) {
            let alias = !name.contains("__");
            settings_vars.push((alias, name, path, raw));
        }
    }
    if settings_vars.is_empty() {
        return Ok(());
    }
    // Aliases first, so the `SECTION__KEY` form of the same key wins.
    settings_vars.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let defaults = defaults()?;
    for (_, name, path, raw) in settings_vars {
        let key = path.join(".");
        let refuse = |message: String| ConfigError::Env {
            name: name.clone(),
            message,
        };
        let default = lookup(&defaults, &path);
        if default.is_none() {
            // Not a key with a default: its section must exist (an optional key).
            let parent = &path[..path.len().saturating_sub(1)];
            if parent.is_empty() || !matches!(lookup(&defaults, parent), Some(Value::Table(_))) {
                return Err(refuse(format!(
                    "names no setting (`{key}`); a setting is DOKFLYT_SECTION__KEY, e.g. DOKFLYT_AMQP__PREFETCH"
                )));
            }
        }
        let value = typed(default, &raw).map_err(|why| refuse(format!("`{key}` {why}")))?;
        // The value alone on the defaults must make valid settings: refused here,
        // the error names this variable (the settings' own words, never the value
        // of a text setting, which is never refused for its content).
        let mut probe = defaults.clone();
        insert(&mut probe, &path, value.clone()).map_err(|m| refuse(format!("`{key}`: {m}")))?;
        if let Err(e) = probe.try_into::<Settings>() {
            return Err(refuse(format!("`{key}`: {}", e.message().trim())));
        }
        insert(table, &path, value).map_err(|m| refuse(format!("`{key}`: {m}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_sources(
            file,
            std::path::Path::new("test.toml"),
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    fn refused(vars: &[(&str, &str)]) -> String {
        match load("", vars) {
            Err(ConfigError::Env { name, message }) => format!("{name}: {message}"),
            other => panic!("{vars:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn every_key_has_a_section_key_variable() {
        let s = load(
            "[amqp]\nprefetch = 100\n",
            &[
                ("DOKFLYT_AMQP__PREFETCH", "7"),
                ("DOKFLYT_DELIVERY__EMAIL__PORT", "2526"),
                ("DOKFLYT_ARCHIVE__SCHEDULE__POLL_SECS", "5"),
                ("DOKFLYT_SMS__DAILY_COST_CAP_NOK", "12.5"),
                ("DOKFLYT_DASHBOARD__SECURE_COOKIES", "off"),
                ("DOKFLYT_ARCHIVE__SCHEDULE__WINDOWS", "14:00, 02:00"),
                ("DOKFLYT_DELIVERY__EMAIL__PASSWORD", "pw"),
                ("DOKFLYT_ARCHIVE__TARGET", "directory"),
            ],
        )
        .expect("valid");
        assert_eq!(s.amqp.prefetch, 7, "the environment wins over the file");
        assert_eq!(s.delivery.email.port, 2526);
        assert_eq!(s.archive.schedule.poll_secs, 5);
        assert_eq!(s.sms.daily_cost_cap_nok, 12.5);
        assert!(!s.dashboard.secure_cookies);
        assert_eq!(s.archive.schedule.windows, ["14:00", "02:00"]);
        assert_eq!(
            s.delivery.email.password.as_ref().map(|p| p.expose()),
            Some("pw")
        );
        assert_eq!(s.archive.target, super::super::ArchiveTarget::Directory);
        // What the file did not touch keeps its default.
        assert_eq!(s.amqp.concurrency, Settings::default().amqp.concurrency);
    }

    #[test]
    fn documented_names_still_work_and_the_section_key_form_wins() {
        let s = load(
            "",
            &[
                ("DOKFLYT_SMTP_PORT", "2600"),
                ("DOKFLYT_PREFETCH", "9"),
                ("DOKFLYT_AMQP__PREFETCH", "11"),
                ("DOKFLYT_ARCHIVE_SCHEDULE", "off"),
                ("DOKFLYT_LOG", "debug"),
                ("DOKFLYT_CONFIG", "/nowhere.toml"),
            ],
        )
        .expect("valid");
        assert_eq!(s.delivery.email.port, 2600);
        assert_eq!(s.amqp.prefetch, 11);
        assert!(!s.archive.schedule.enabled);
    }

    #[test]
    fn a_bad_value_is_refused_at_start_naming_the_variable_and_the_key() {
        // Once silently ignored: a port that is no number.
        let e = refused(&[("DOKFLYT_SMTP_PORT", "25x")]);
        assert!(e.starts_with("DOKFLYT_SMTP_PORT: "), "{e}");
        assert!(e.contains("delivery.email.port"), "{e}");
        assert!(e.contains("whole number"), "{e}");
        let e = refused(&[("DOKFLYT_DELIVERY__EMAIL__PORT", "70000")]);
        assert!(e.contains("delivery.email.port"), "{e}");
        let e = refused(&[("DOKFLYT_PREFETCH", "many")]);
        assert!(e.contains("amqp.prefetch"), "{e}");
        let e = refused(&[("DOKFLYT_TRUST_PROXY_HEADERS", "maybe")]);
        assert!(e.contains("http.trust_proxy_headers"), "{e}");
        let e = refused(&[("DOKFLYT_ARCHIVE_TARGET", "ftp")]);
        assert!(e.contains("archive.target"), "{e}");
        // A typo in the key: the section exists, the key does not.
        let e = refused(&[("DOKFLYT_AMQP__PREFECH", "5")]);
        assert!(
            e.contains("amqp.prefech") && e.contains("unknown field"),
            "{e}"
        );
        // A section that does not exist.
        let e = refused(&[("DOKFLYT_AMQPP__PREFETCH", "5")]);
        assert!(e.contains("names no setting"), "{e}");
        let e = refused(&[("DOKFLYT_SMS__PRICES", "1")]);
        assert!(e.contains("configuration file"), "{e}");
        let e = refused(&[("DOKFLYT_API_TOKEN", "x")]);
        assert!(e.contains("clients add"), "{e}");
    }

    #[test]
    fn a_refusal_never_quotes_the_value() {
        let e = refused(&[("DOKFLYT_SMTP_PORT", "hemmelig")]);
        assert!(!e.contains("hemmelig"), "{e}");
    }

    #[test]
    fn a_numeric_password_stays_text() {
        let s = load("", &[("DOKFLYT_SMS__PASSWORD", "111111")]).expect("valid");
        assert_eq!(s.sms.password.expose(), "111111");
    }

    #[test]
    fn one_parser_for_numbers_and_switches() {
        assert_eq!(number(" 42 ", false), Some(Value::Integer(42)));
        assert_eq!(number("4.5", false), None);
        assert_eq!(number("4.5", true), Some(Value::Float(4.5)));
        assert_eq!(number("inf", true), None);
        for on in ["true", "ON", "yes", "1"] {
            assert_eq!(switch(on), Some(true), "{on}");
        }
        for off in ["false", "Off", "no", "0"] {
            assert_eq!(switch(off), Some(false), "{off}");
        }
        assert_eq!(switch("kanskje"), None);
    }
}
