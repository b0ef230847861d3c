//! `dokflyt man` and `dokflyt completions SHELL`: the man pages and the shell
//! completions, generated from the same argument tree as `--help`.
//!
//! Input: the clap command tree ([`super::Cli`]); no settings, no database.
//! Output: roff on stdout (the top-level page) or one page per visible command in
//! a directory (`dokflyt.1`, `dokflyt-archive.1`, `dokflyt-archive-run-now.1`, …);
//! a completion script on stdout. Hidden commands (`bench`, `publish`) are left
//! out of both (they still run). Failure: a directory that cannot be written is an error (exit 1).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory};

use super::exit::Code;
use super::Cli;

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command into DIR (created if missing) instead of the
    /// top-level page to stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    shell: clap_complete::Shell,
}

pub fn man(args: ManArgs) -> anyhow::Result<Code> {
    let cmd = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("kan ikke opprette {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("kan ikke skrive manualsidene til {}", dir.display()))?;
        }
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?,
    }
    Ok(Code::Ok)
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<Code> {
    let mut cmd = without_hidden(&Cli::command());
    clap_complete::generate(args.shell, &mut cmd, "dokflyt", &mut std::io::stdout());
    Ok(Code::Ok)
}

/// `cmd` without its hidden subcommands (clap_complete offers them otherwise;
/// clap has no way to remove a subcommand, so the tree is copied).
fn without_hidden(cmd: &clap::Command) -> clap::Command {
    let mut copy =
        clap::Command::new(cmd.get_name().to_string()).args(cmd.get_arguments().cloned());
    if let Some(v) = cmd.get_version() {
        copy = copy.version(v.to_string());
    }
    if let Some(a) = cmd.get_about() {
        copy = copy.about(a.clone());
    }
    copy.subcommands(
        cmd.get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(without_hidden),
    )
}
