//! The command line as a staff tool: every argument documented, one exit-code
//! table (in `--help` and README), developer commands hidden, `migrate` and the
//! read-only commands that never migrate, the man pages and shell completions,
//! and progress lines when stderr is not a terminal.
//!
//! Stage: CLI. Input: the clap tree, the real binary, fresh private databases
//! (`dokflyt_test_*`, dropped at the end), the archive stand-in. Output:
//! assertions on help text, exit codes, stdout/stderr and the database. Failure:
//! a test fails naming the command or argument at fault.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command as Process, Output};
use std::time::Duration;

use clap::CommandFactory;
use common::archive_standin::{Db, StandIn, PG};
use dokflyt::cli::exit::{Code, Exit};
use dokflyt::cli::{help, Cli};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

fn dokflyt(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut p = Process::new(env!("CARGO_BIN_EXE_dokflyt"));
    p.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DOKFLYT_CONFIG", "/dev/null");
    for (k, v) in envs {
        p.env(k, v);
    }
    p.output().expect("the binary runs")
}

/// [`dokflyt`] for async tests: the runtime keeps serving the stand-ins meanwhile.
async fn dokflyt_async(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut p = tokio::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"));
    p.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DOKFLYT_CONFIG", "/dev/null");
    for (k, v) in envs {
        p.env(k, v);
    }
    p.output().await.expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every command's path (`archive run-now`), hidden ones too, with its clap command.
fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands() {
        let p = format!("{path} {}", sub.get_name()).trim().to_string();
        out.push((p.clone(), sub.clone()));
        walk(sub, &p, out);
    }
}

fn all_commands() -> Vec<(String, clap::Command)> {
    let mut root = Cli::command();
    root.build();
    let mut out = vec![(String::new(), root.clone())];
    walk(&root, "", &mut out);
    out
}

/// The visible command paths (what a staff member sees), without clap's `help`.
fn visible_commands() -> Vec<String> {
    fn go(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let p = format!("{path} {}", sub.get_name()).trim().to_string();
            out.push(p.clone());
            go(sub, &p, out);
        }
    }
    let mut root = Cli::command();
    root.build();
    let mut out = Vec::new();
    go(&root, "", &mut out);
    out
}

#[test]
fn every_command_and_argument_has_help_text() {
    let mut missing = Vec::new();
    for (path, cmd) in all_commands() {
        if !path.is_empty() && cmd.get_about().is_none() && cmd.get_long_about().is_none() {
            missing.push(format!("command `dokflyt {path}`"));
        }
        for arg in cmd.get_arguments() {
            let documented = arg
                .get_help()
                .is_some_and(|h| !h.to_string().trim().is_empty())
                || arg.get_long_help().is_some();
            if !documented {
                missing.push(format!("`dokflyt {path}` argument `{}`", arg.get_id()));
            }
        }
    }
    assert!(missing.is_empty(), "without help text: {missing:#?}");
    // The walk saw the groups and their arguments (it is not vacuous).
    let all = all_commands();
    assert!(all.iter().any(|(p, _)| p == "archive run-now"));
    assert!(all.iter().any(|(p, _)| p == "publish"));
}

#[test]
fn arguments_that_stand_for_a_setting_show_its_variable() {
    let all = all_commands();
    let env_of = |path: &str, id: &str| -> Option<String> {
        let (_, cmd) = all.iter().find(|(p, _)| p == path)?;
        let arg = cmd.get_arguments().find(|a| a.get_id() == id)?;
        arg.get_env().map(|e| e.to_string_lossy().into_owned())
    };
    for (path, id, var) in [
        ("render", "rules", "DOKFLYT_PATHS__RULES_DIR"),
        ("render", "templates", "DOKFLYT_PATHS__TEMPLATES_DIR"),
        ("rules check", "dir", "DOKFLYT_PATHS__RULES_DIR"),
        ("rules table", "dir", "DOKFLYT_PATHS__RULES_DIR"),
        ("rules explain", "rules", "DOKFLYT_PATHS__RULES_DIR"),
        ("status", "config", "DOKFLYT_CONFIG"),
    ] {
        assert_eq!(env_of(path, id).as_deref(), Some(var), "{path} --{id}");
    }
    // Those names are the settings' own (`paths.rules_dir` …).
    assert_eq!(
        help::variable("paths.rules_dir"),
        "DOKFLYT_PATHS__RULES_DIR"
    );
    let o = dokflyt(&["render", "--help"], &[]);
    assert!(text(&o.stdout).contains("[env: DOKFLYT_PATHS__RULES_DIR"));
}

#[test]
fn help_lists_staff_commands_config_variables_and_exit_codes() {
    let o = dokflyt(&["--help"], &[]);
    assert!(o.status.success(), "{o:?}");
    let out = text(&o.stdout);
    // The table, from the enum.
    assert!(
        out.contains(dokflyt::cli::exit::help_table().trim_end()),
        "{out}"
    );
    for c in Code::ALL {
        assert!(
            out.contains(&format!("\n  {}  ", c.number())),
            "code {}",
            c.number()
        );
    }
    assert!(out.contains("dokflyt.toml") && out.contains("DOKFLYT_SECTION__KEY"));
    let defaults = toml::Table::try_from(dokflyt::config::Settings::default()).expect("defaults");
    for (key, _) in help::MOST_USED {
        assert!(out.contains(&help::variable(key)), "{key}");
        // A real setting, so its variable is a real one.
        let mut at = Some(&defaults);
        let parts: Vec<&str> = key.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let v = at.and_then(|t| t.get(*part));
            assert!(v.is_some(), "{key} is no setting");
            at = if i + 1 < parts.len() {
                v.and_then(|v| v.as_table())
            } else {
                None
            };
        }
    }
    assert!(out.contains("DOKFLYT_DATABASE_URL") && out.contains("DOKFLYT_LOG"));
    // Staff commands listed; the developer tools not.
    let commands: BTreeSet<&str> = out
        .split("Commands:\n")
        .nth(1)
        .expect("a command list")
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for c in [
        "serve",
        "migrate",
        "status",
        "archive",
        "roster",
        "man",
        "completions",
    ] {
        assert!(commands.contains(c), "{c} listed: {commands:?}");
    }
    assert!(
        !commands.contains("publish"),
        "publish hidden: {commands:?}"
    );
    // Still runnable.
    let o = dokflyt(&["publish", "--help"], &[]);
    assert!(o.status.success(), "{o:?}");
    // The benchmarks are not in the product at all (`dokflyt-dev bench`).
    let o = dokflyt(&["bench", "--help"], &[]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn readme_carries_the_exit_code_table_of_the_enum() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let table = dokflyt::cli::exit::markdown_table();
    assert!(
        readme.contains(&table),
        "README's exit-code table differs from cli::exit::Code; it should read:\n{table}"
    );
    assert_eq!(table.lines().count(), Code::ALL.len() + 2);
}

#[test]
fn usage_errors_exit_with_the_invalid_input_code() {
    let o = dokflyt(
        &["sms", "costs", "--school", "s", "--month", "november"],
        &[],
    );
    assert_eq!(o.status.code(), Some(Code::Invalid.number().into()));
    assert!(text(&o.stderr).contains("ÅÅÅÅ-MM"));
    let o = dokflyt(&["archive", "rollover", "--school-year", "2026"], &[]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let o = dokflyt(&["no-such-command"], &[]);
    assert_eq!(o.status.code(), Some(2));
    // `Exit` carries its code to `main`.
    let e = Exit::with(Code::NotMigrated, "x");
    assert_eq!(
        e.downcast_ref::<Exit>().map(|e| e.code),
        Some(Code::NotMigrated)
    );
}

#[test]
fn the_man_page_names_every_visible_command() {
    let o = dokflyt(&["man"], &[]);
    assert!(o.status.success(), "{o:?}");
    let page = text(&o.stdout);
    assert!(page.contains(".TH dokflyt 1"), "a roff page: {page}");
    assert!(page.contains("Exit codes:"), "the exit codes are in it too");
    let top: Vec<String> = visible_commands()
        .into_iter()
        .filter(|c| !c.contains(' '))
        .collect();
    assert!(top.len() >= 14, "{top:?}");
    for c in &top {
        let entry = format!("dokflyt\\-{}(1)", c.replace('-', "\\-"));
        assert!(page.contains(&entry), "{entry} in the man page");
    }
    assert!(!page.contains("bench"), "hidden commands stay out");
    // One page per visible command, nested ones included.
    let dir = tempfile::tempdir().expect("tmp");
    let o = dokflyt(&["man", "--dir", &dir.path().display().to_string()], &[]);
    assert!(o.status.success(), "{o:?}");
    for c in visible_commands() {
        let file = dir
            .path()
            .join(format!("dokflyt-{}.1", c.replace(' ', "-")));
        assert!(file.exists(), "{}", file.display());
    }
    assert!(dir.path().join("dokflyt.1").exists());
    assert!(!dir.path().join("dokflyt-bench.1").exists());
}

#[test]
fn shell_completions_know_the_commands() {
    let o = dokflyt(&["completions", "bash"], &[]);
    assert!(o.status.success(), "{o:?}");
    let script = text(&o.stdout);
    for c in visible_commands() {
        let last = c.rsplit(' ').next().unwrap_or(&c);
        assert!(script.contains(last), "bash completion lacks {c}");
    }
    assert!(script.contains("run-now") && script.contains("--school-year"));
    assert!(
        !script.contains("bench") && !script.contains("publish"),
        "hidden commands are not offered"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let o = dokflyt(&["completions", shell], &[]);
        assert!(
            o.status.success() && text(&o.stdout).contains("rollover"),
            "{shell}"
        );
    }
    let o = dokflyt(&["completions", "tcsh"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

async fn admin() -> PgConnection {
    PgConnection::connect(&format!("{PG}/postgres"))
        .await
        .expect("admin connection")
}

async fn exists(name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin().await)
        .await
        .expect("query")
}

async fn drop_db(name: &str) {
    common::drop_database(name).await;
}

/// The read-only commands, as run against a database.
const READ_ONLY: &[&[&str]] = &[
    &["status"],
    &["status", "--json"],
    &["contacts", "gaps", "--school", "s-1"],
    &["sms", "costs", "--school", "s-1", "--month", "2026-11"],
    &["archive", "deadlines"],
    &["clients", "list"],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_refuse_an_unmigrated_database_until_migrate() {
    let name = format!("dokflyt_test_{}", Uuid::new_v4().simple());
    let url = format!("{PG}/{name}");
    let env = [("DOKFLYT_DATABASE_URL", url.as_str())];
    let not_migrated = Some(i32::from(Code::NotMigrated.number()));

    // No database at all: refused, and not created.
    let o = dokflyt(&["status"], &env);
    assert_eq!(o.status.code(), not_migrated, "{o:?}");
    assert!(text(&o.stderr).contains("finnes ikke") && text(&o.stderr).contains("dokflyt migrate"));
    assert!(
        !exists(&name).await,
        "a read-only command created the database"
    );

    // An empty database: every read-only command refuses, nothing is created in it.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin().await)
        .await
        .expect("create");
    for args in READ_ONLY {
        let o = dokflyt(args, &env);
        assert_eq!(o.status.code(), not_migrated, "{args:?}: {o:?}");
        let err = text(&o.stderr);
        assert!(err.contains("Kjør `dokflyt migrate`"), "{args:?}: {err}");
        assert!(
            o.stdout.is_empty(),
            "{args:?} printed {:?}",
            text(&o.stdout)
        );
    }
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count");
    assert_eq!(tables, 0, "the database still has no tables");
    let o = dokflyt(&["migrate", "--check"], &env);
    assert_eq!(o.status.code(), not_migrated, "{o:?}");

    // migrate applies every embedded migration and says which.
    let o = dokflyt(&["migrate"], &env);
    assert!(o.status.success(), "{o:?}");
    let out = text(&o.stdout);
    let versions: Vec<i64> = dokflyt::db::MIGRATOR.iter().map(|m| m.version).collect();
    assert!(
        out.contains(&format!("brukte {} migrering(er)", versions.len())),
        "{out}"
    );
    for v in &versions {
        assert!(out.contains(&v.to_string()), "{v} listed: {out}");
    }
    for args in READ_ONLY {
        let o = dokflyt(args, &env);
        assert!(o.status.success(), "{args:?}: {o:?}");
    }
    let status = text(&dokflyt(&["status"], &env).stdout);
    assert!(
        status.contains("Arkivkø") && status.contains("klar"),
        "{status}"
    );
    let json: Value =
        serde_json::from_slice(&dokflyt(&["status", "--json"], &env).stdout).expect("json");
    assert_eq!(json["klar"], 0, "--json keeps its keys");
    let o = dokflyt(&["migrate"], &env);
    assert!(
        o.status.success() && text(&o.stdout).contains("allerede oppdatert"),
        "{o:?}"
    );

    // A database behind this version (the newest migration not applied): refused, named.
    let newest = *versions.iter().max().expect("migrations");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(newest)
        .execute(&mut conn)
        .await
        .expect("delete");
    let o = dokflyt(&["status"], &env);
    assert_eq!(o.status.code(), not_migrated, "{o:?}");
    assert!(text(&o.stderr).contains(&newest.to_string()), "{o:?}");
    let o = dokflyt(&["migrate", "--check"], &env);
    assert_eq!(o.status.code(), not_migrated);
    conn.close().await.ok();
    drop_db(&name).await;
}

/// `progress` log lines of `task` (JSON log format), as (done, total).
fn progress_lines(stderr: &str, task: &str) -> Vec<(u64, u64)> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "progress" && v["fields"]["task"] == task)
        .map(|v| {
            (
                v["fields"]["done"].as_u64().unwrap_or(0),
                v["fields"]["total"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_commands_write_progress_lines_when_stderr_is_not_a_terminal() {
    let db = Db::new().await;
    const N: u64 = 300;
    for _ in 0..N {
        db.queue("conduct_warning").await;
    }
    let archive = StandIn::start_with(Vec::new(), Duration::ZERO, false).await;
    let url = format!("{PG}/{}", db.name);
    let archive_url = archive.url();
    let env = [
        ("DOKFLYT_DATABASE_URL", url.as_str()),
        ("DOKFLYT_ARCHIVE_TARGET", "http"),
        ("DOKFLYT_ARCHIVE_URL", archive_url.as_str()),
        ("DOKFLYT_LOG_FORMAT", "json"),
    ];
    let o = dokflyt_async(&["archive", "run-now"], &env).await;
    assert!(o.status.success(), "{o:?}");
    let lines = progress_lines(&text(&o.stderr), "archive run-now");
    // A line every tenth of the work, and one at the end.
    assert!(lines.len() >= 10, "{lines:?}");
    assert!(lines.iter().all(|(_, total)| *total == N), "{lines:?}");
    assert!(lines.windows(2).all(|w| w[0].0 <= w[1].0), "{lines:?}");
    assert_eq!(lines.last().map(|l| l.0), Some(N));
    assert!(text(&o.stdout).contains(&format!("arkivert {N:>8}")));
    assert_eq!(
        db.count("SELECT count(*) FROM archive_queue WHERE status = 'arkivert'")
            .await,
        N as i64
    );

    // The rollover: one school, into an offline package.
    let dir = tempfile::tempdir().expect("tmp");
    let package = dir.path().display().to_string();
    let o = dokflyt_async(
        &["archive", "rollover", "--school-year", "2027/2028"],
        &[
            ("DOKFLYT_DATABASE_URL", url.as_str()),
            ("DOKFLYT_ARCHIVE_TARGET", "directory"),
            ("DOKFLYT_ARCHIVE_DIRECTORY", package.as_str()),
            ("DOKFLYT_LOG_FORMAT", "json"),
        ],
    )
    .await;
    assert!(o.status.success(), "{o:?}");
    let lines = progress_lines(&text(&o.stderr), "archive rollover");
    assert!(!lines.is_empty(), "{}", text(&o.stderr));
    assert_eq!(lines.last(), Some(&(1, 1)), "{lines:?}");

    // The roster import: every line counted.
    let school = common::sms_gateway::generate_school("s-progress", "4601", 150, 150, 10);
    let file = tempfile::NamedTempFile::new().expect("tmp");
    let body: String = school.events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(file.path(), body).expect("write");
    let path = file.path().display().to_string();
    let o = dokflyt_async(
        &["roster", "import", path.as_str()],
        &[
            ("DOKFLYT_DATABASE_URL", url.as_str()),
            ("DOKFLYT_LOG_FORMAT", "json"),
        ],
    )
    .await;
    assert!(o.status.success(), "{o:?}");
    let n = school.events.len() as u64;
    let lines = progress_lines(&text(&o.stderr), "roster import");
    assert!(lines.len() >= 10, "{lines:?}");
    assert_eq!(lines.last(), Some(&(n, n)));
    db.drop_db().await;
}
