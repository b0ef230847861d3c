//! `dokflyt render EVENT.json -o out.pdf`: the template author's loop —
//! validate, route with the table, render, without the broker or the database.
//!
//! Input: an event file, the rules and templates directories (default the
//! configured ones), `[letters]` or `--language`. Output: the PDF file, and on
//! stdout its pages, size and SHA-256 and the routing decision (with `--markup`
//! the template's output too). Failure: exit 1 for a template or render error
//! (naming the template, line and missing variable), 2 for a malformed event, 3
//! for an event the routing table rejects.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit::Code;
use super::rules::load_table;
use crate::config::letters::{Language, LetterSettings};
use crate::config::Settings;
use crate::pipeline::{ReproduceError, Reproduced};

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The event (JSON).
    #[arg(value_name = "EVENT.json")]
    event: PathBuf,
    /// Where to write the PDF.
    #[arg(short, long, value_name = "FILE.pdf")]
    output: PathBuf,
    /// Routing rules directory. Default: the configured one (`paths.rules_dir`).
    #[arg(long, value_name = "DIR", env = "DOKFLYT_PATHS__RULES_DIR")]
    rules: Option<PathBuf>,
    /// Templates directory. Default: the configured one (`paths.templates_dir`).
    #[arg(long, value_name = "DIR", env = "DOKFLYT_PATHS__TEMPLATES_DIR")]
    templates: Option<PathBuf>,
    /// Also print the letter markup (the template's output, before layout).
    #[arg(long)]
    markup: bool,
    /// The written standard, `nb` or `nn`, instead of the one configured
    /// for the event's municipality and school (`[letters]`).
    #[arg(long, value_parser = ["nb", "nn"])]
    language: Option<String>,
}

pub fn run(settings: &Settings, args: RenderArgs) -> Code {
    let mut letters = settings.letters.clone();
    if let Some(code) = &args.language {
        // Every municipality and school: this language.
        letters.language = if code == "nn" {
            Language::Nynorsk
        } else {
            Language::Bokmal
        };
        for o in letters
            .municipalities
            .values_mut()
            .chain(letters.schools.values_mut())
        {
            o.language = None;
        }
    }
    render(
        &args.event,
        &args.output,
        &args
            .rules
            .unwrap_or_else(|| settings.paths.rules_dir.clone()),
        &args
            .templates
            .unwrap_or_else(|| settings.paths.templates_dir.clone()),
        args.markup,
        letters,
    )
}

fn render(
    event: &Path,
    output: &Path,
    rules_dir: &Path,
    templates_dir: &Path,
    show_markup: bool,
    letters: LetterSettings,
) -> Code {
    let Some(table) = load_table(rules_dir) else {
        return Code::Error;
    };
    let renderer = match crate::render::Renderer::load_with(templates_dir, letters) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("the templates in {} do not load:", templates_dir.display());
            eprintln!("{e}");
            return Code::Error;
        }
    };
    let body = match std::fs::read(event) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {}: {e}", event.display());
            return Code::Invalid;
        }
    };
    let Reproduced { routed, pdf } = match crate::pipeline::reproduce(&body, &table, &renderer) {
        Ok(r) => r,
        Err(ReproduceError::Invalid(e)) => {
            eprintln!("{}: {e} ({})", event.display(), e.code());
            return Code::Invalid;
        }
        Err(ReproduceError::Rejected(rejection)) => {
            eprintln!(
                "{}: rejected by the routing table: {} ({})",
                event.display(),
                rejection.reason,
                rejection.code
            );
            return Code::Refused;
        }
        Err(ReproduceError::Render(e)) => {
            eprintln!("{}: {e}", event.display());
            return Code::Error;
        }
    };
    if let Err(e) = std::fs::write(output, &pdf.bytes) {
        eprintln!("cannot write {}: {e}", output.display());
        return Code::Error;
    }
    let d = routed.decision();
    println!(
        "{}: {} page(s), {} bytes, sha256 {}",
        output.display(),
        pdf.pages,
        pdf.bytes.len(),
        pdf.sha256
    );
    println!(
        "  {} via rule {}: channel {}, archived {}",
        d.document_type.key(),
        d.rule,
        serde_json::to_string(&d.channel)
            .unwrap_or_default()
            .trim_matches('"'),
        d.archived
    );
    if !routed.needs_pdf() {
        println!("  note: the pipeline makes no PDF for this routing (message only, not archived)");
    }
    if show_markup {
        match renderer.render_markup(&routed) {
            Ok(text) => {
                println!("--- markup ---");
                print!("{text}");
            }
            Err(e) => {
                eprintln!("{}: {e}", event.display());
                return Code::Error;
            }
        }
    }
    Code::Ok
}
