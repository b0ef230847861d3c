//! The text after the top-level `--help`: where the settings come from, the
//! variables operators set most, and the exit codes.
//!
//! Input: the setting keys below, their aliases from [`crate::config::env::ALIASES`]
//! and [`super::exit::Code`]. Output: the `after_help` text (also the man page's
//! extra section). No failure.

use crate::config::env::ALIASES;

/// The settings operators set most, with what each is for.
pub const MOST_USED: &[(&str, &str)] = &[
    ("database.url", "PostgreSQL"),
    ("amqp.url", "RabbitMQ"),
    ("amqp.prefix", "prefix of the exchanges and queues"),
    ("http.addr", "address of the HTTP server (serve)"),
    (
        "archive.target",
        "http (Fiks Arkiv) or directory (offline package)",
    ),
    ("archive.url", "the archive's arkivmelding endpoint"),
    ("paths.rules_dir", "the routing table"),
    ("paths.templates_dir", "letter and page templates"),
];

/// `amqp.url` → `DOKFLYT_AMQP__URL`: the name every key has.
pub fn variable(key: &str) -> String {
    format!("DOKFLYT_{}", key.replace('.', "__").to_ascii_uppercase())
}

/// The `after_help` of `dokflyt --help`.
pub fn after_help() -> String {
    let mut out = String::from(
        "Configuration:\n  \
         Defaults, then a TOML file: --config FILE, else $DOKFLYT_CONFIG, else ./dokflyt.toml\n  \
         when present; then the environment. Every key of the file can be set as\n  \
         DOKFLYT_SECTION__KEY (the key path in capitals, segments joined by two underscores:\n  \
         DOKFLYT_AMQP__PREFETCH=128 sets amqp.prefetch). A bad value stops the command,\n  \
         naming the variable. Most used (older alias in brackets):\n",
    );
    for (key, what) in MOST_USED {
        let name = variable(key);
        let alias = ALIASES
            .iter()
            .find(|(_, k)| k == key)
            .map(|(a, _)| format!(" [{a}]"))
            .unwrap_or_default();
        out.push_str(&format!("    {:<52} {what}\n", format!("{name}{alias}")));
    }
    out.push_str(&format!(
        "    {:<52} log filter (default info)\n    {:<52} JSON log lines\n\n",
        "DOKFLYT_LOG", "DOKFLYT_LOG_FORMAT=json"
    ));
    out.push_str(&super::exit::help_table());
    out
}
