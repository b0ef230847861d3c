//! Rendering: a routed document → PDF bytes (letters and archive copies).
//!
//! Stage: used by `pipeline::render` (which runs it off the async runtime).
//! Input: a [`RoutedDocument`]. Output: a [`RenderedPdf`] (bytes, SHA-256, page count).
//! Failure: a [`RenderError`]; template errors are caught at start-up, when every
//! template is compiled and test-rendered, so at run time a failure is a bug or bad
//! data and the event is dead-lettered with the reason. That reason never quotes the
//! data: our own filters (`line`, `cell`, `month`, `nbdate`, `nbdatetime`) cannot
//! fail (anything unexpected passes through unchanged), and the errors of tera's
//! built-ins, which quote the value they fail on, are reduced to the template, the
//! line and what failed ([`redacted_tera_error`]). The start-up self-test, which
//! renders a built-in sample and no real data, keeps tera's whole message.
//!
//! The steps, one module each:
//! 1. [`context`] — the document → a tera context (never a national id, never a
//!    protected address).
//! 2. a tera template, `templates/letters/<document_type>.tera` or
//!    `templates/letters/_default.tera`, with partials in `templates/partials/` →
//!    the line-oriented letter [`markup`];
//! 3. a privacy scrub of that text (national ids, protected addresses);
//! 4. [`layout`] — markup → positioned runs on A4 pages, wrapped by glyph widths,
//!    with the exemption marking and «Side N av M» on every page;
//! 5. [`pdf`] — the single place the PDF is assembled: krilla writes a tagged
//!    PDF/A-2a + PDF/UA-1 file, with the structure taken from the markup blocks.
//!
//! Beside them: [`language`] (the municipality's written standard, `[letters]`)
//! and [`sami`] (the Sámi text beside the Norwegian: the event's, else a fixed
//! phrase; shared with the message channel and the emergency SMS).

mod context;
mod layout;
pub mod markup;
mod pdf;
pub mod sami;

use std::path::{Path, PathBuf};

use crate::config::letters::{Language, LetterSettings};
use crate::document::{
    Access, ArchivePolicy, Channel, Folder, JournalPostType, JournalStatus, RenderedPdf,
    RoutedDocument, RoutingDecision,
};
use crate::event::{is_valid_national_id, DocumentType, IncomingEvent};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template error: {0}")]
    Template(String),
    #[error("PDF error: {0}")]
    Pdf(String),
    #[error("font error: {0}")]
    Font(String),
}

/// The regular and bold faces, relative to the templates directory: the full
/// fonts and the reduced ones (`fonts/reduce.sh`, fontTools) used first.
const FONT_FILES: pdf::FontFiles<'static> = pdf::FontFiles {
    regular: "fonts/DejaVuSans.ttf",
    regular_reduced: "fonts/DejaVuSans-letters.ttf",
    bold: "fonts/DejaVuSans-Bold.ttf",
    bold_reduced: "fonts/DejaVuSans-Bold-letters.ttf",
};
/// The template used for a document type without its own.
const DEFAULT_TEMPLATE: &str = "letters/_default.tera";

/// Compiled templates and loaded fonts; cheap to share between threads.
pub struct Renderer {
    tera: tera::Tera,
    fonts: std::sync::Arc<pdf::Fonts>,
    metrics: layout::Metrics,
    /// Template name → source text, to point an error at its line.
    sources: std::collections::HashMap<String, String>,
    templates_dir: PathBuf,
    /// Which written standard (and Sámi language) each municipality and school uses.
    letters: LetterSettings,
    /// The configured letterhead logos, decoded once: path → image, width / height.
    logos: std::collections::HashMap<PathBuf, (krilla::image::Image, f32)>,
    /// The Sámi text beside the Norwegian: the event's, else the fixed phrases.
    sami: std::sync::Arc<sami::SamiTexts>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.tera.get_template_names().collect();
        names.sort_unstable();
        f.debug_struct("Renderer")
            .field("templates_dir", &self.templates_dir)
            .field("templates", &names)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// [`Renderer::load_with`] with every letter in bokmål.
    pub fn load(templates_dir: &Path) -> Result<Renderer, RenderError> {
        Renderer::load_with(templates_dir, LetterSettings::default())
    }

    /// Compiles every `*.tera` under `templates_dir`, loads the fonts, and
    /// test-renders every letter template, so a broken template stops start-up.
    /// `letters` says which municipality and school writes nynorsk.
    pub fn load_with(
        templates_dir: &Path,
        letters: LetterSettings,
    ) -> Result<Renderer, RenderError> {
        let mut sources = Vec::new();
        collect_templates(templates_dir, templates_dir, &mut sources)?;
        let mut tera = sandboxed_tera();
        let source_texts = sources.iter().cloned().collect();
        tera.add_raw_templates(sources)
            .map_err(|e| RenderError::Template(tera_error_chain(&e)))?;
        if !tera.get_template_names().any(|n| n == DEFAULT_TEMPLATE) {
            return Err(RenderError::Template(format!(
                "{} is missing in {}",
                DEFAULT_TEMPLATE,
                templates_dir.display()
            )));
        }

        let fonts = pdf::Fonts::load(templates_dir, &FONT_FILES)?;
        let logos = load_logos(&letters)?;
        let sami = sami::SamiTexts::load(templates_dir, letters.clone())
            .map_err(|e| RenderError::Template(format!("Sámi phrases: {e}")))?;
        let metrics = fonts.metrics();
        let renderer = Renderer {
            tera,
            fonts,
            metrics,
            sources: source_texts,
            templates_dir: templates_dir.to_path_buf(),
            letters,
            logos,
            sami: std::sync::Arc::new(sami),
        };
        renderer.self_test()?;
        Ok(renderer)
    }

    /// Renders one document to PDF.
    pub fn render_pdf(&self, doc: &RoutedDocument) -> Result<RenderedPdf, RenderError> {
        self.render_parts(
            doc.event().event(),
            doc.event().document_type(),
            doc.decision(),
        )
    }

    /// The template text (letter markup) for a document: for previews and tests.
    pub fn render_markup(&self, doc: &RoutedDocument) -> Result<String, RenderError> {
        self.markup_for(
            doc.event().event(),
            doc.event().document_type(),
            doc.decision(),
        )
    }

    /// Whether `t` has its own template (`letters/<key>.tera`) instead of the
    /// generic `_default.tera`.
    pub fn has_own_template(&self, t: DocumentType) -> bool {
        self.template_for(t) != DEFAULT_TEMPLATE
    }

    fn template_for(&self, t: DocumentType) -> String {
        self.template_in(t, Language::Bokmal)
            .unwrap_or_else(|| DEFAULT_TEMPLATE.to_string())
    }

    fn has_template(&self, name: &str) -> bool {
        self.tera.get_template_names().any(|n| n == name)
    }

    /// The template for `t` written in `language`: its own, else that
    /// language's `_default.tera`; `None` when the language has neither (then a
    /// letter falls back to bokmål, see [`Renderer::template_choice`]).
    pub fn template_in(&self, t: DocumentType, language: Language) -> Option<String> {
        let dir = match language.template_dir() {
            Some(d) => format!("letters/{d}/"),
            None => "letters/".to_string(),
        };
        [
            format!("{dir}{}.tera", t.key()),
            format!("{dir}_default.tera"),
        ]
        .into_iter()
        .find(|n| self.has_template(n))
    }

    /// The template a letter of type `t` in `language` is rendered with, and
    /// whether that is a fallback to bokmål (a template not yet written in
    /// nynorsk: the letter still goes out, in bokmål, and a warning is logged).
    pub fn template_choice(&self, t: DocumentType, language: Language) -> (String, bool) {
        match self.template_in(t, language) {
            Some(name) => (name, false),
            None => (self.template_for(t), language != Language::Bokmal),
        }
    }

    /// The Sámi settings and fixed phrases, shared with the message channel and
    /// the emergency SMS (the same resolution per municipality and school).
    pub fn sami(&self) -> std::sync::Arc<sami::SamiTexts> {
        self.sami.clone()
    }

    /// The written standard of `ev`'s letters under the settings.
    pub fn language_of(&self, ev: &IncomingEvent) -> Language {
        self.letters
            .resolve(&ev.municipality.number, &ev.school.id)
            .language
    }

    fn markup_for(
        &self,
        ev: &IncomingEvent,
        t: DocumentType,
        decision: &RoutingDecision,
    ) -> Result<String, RenderError> {
        let language = self.language_of(ev);
        let (name, fallback) = self.template_choice(t, language);
        if fallback {
            tracing::warn!(
                document_type = t.key(),
                language = language.code(),
                "no template in the municipality's written standard; the letter is in bokmål"
            );
        }
        let language = if fallback { Language::Bokmal } else { language };
        let mut ctx = context::build(ev, t, decision, language);
        // In the Sámi administrative area: the Sámi text (the event's, else the
        // fixed phrase of the type) printed beside the Norwegian, tagged with its
        // language. Neither: the letter is Norwegian only (the channels log it).
        let sami = self.sami.for_event(ev, t);
        let sami = sami.text();
        ctx.insert(
            "sami",
            &sami.map(|s| serde_json::json!({ "code": s.language.code() })),
        );
        ctx.insert(
            "sami_text",
            &sami.map(|s| serde_json::json!({ "title": s.title, "body": s.body })),
        );
        let text = self
            .tera
            .render(&name, &ctx)
            // The document's own data: the error names the template and the line,
            // never a value (see `describe_error_redacted`).
            .map_err(|e| RenderError::Template(self.describe_error_redacted(&name, &e)))?;
        Ok(scrub(text, ev, language))
    }

    fn render_parts(
        &self,
        ev: &IncomingEvent,
        t: DocumentType,
        decision: &RoutingDecision,
    ) -> Result<RenderedPdf, RenderError> {
        let text = self.markup_for(ev, t, decision)?;
        let language = self.language_of(ev);
        let (name, fallback) = self.template_choice(t, language);
        let language = if fallback { Language::Bokmal } else { language };
        // The markup holds the document's text, so only the line number is
        // passed on; the start-up self-test reports the whole problem.
        let blocks = markup::parse(&text).map_err(|e| {
            RenderError::Template(format!(
                "{name}: linje {} i brevets markering er ugyldig (detaljene kan inneholde dokumentdata og er utelatt)",
                e.line
            ))
        })?;
        let choice = self.letters.resolve(&ev.municipality.number, &ev.school.id);
        let logo = choice.logo.and_then(|(path, alt)| {
            self.logos
                .get(path)
                .map(|(image, aspect)| (image, *aspect, alt))
        });
        let pages = layout::layout(&blocks, &self.metrics, logo.map(|(_, aspect, _)| aspect));
        let identifier = ev.event_id.to_string();
        let info = pdf::DocInfo {
            title: &ev.title,
            author: &ev.sender.name,
            subject: t.name_nb(),
            identifier: &identifier,
            created: ev.occurred_at,
            language: language.tag(),
            logo: logo.map(|(image, _, alt)| (image, alt)),
        };
        let bytes = pdf::assemble(&pages, &blocks, &self.fonts, &info)?;
        let count = u32::try_from(pages.len()).unwrap_or(u32::MAX);
        Ok(RenderedPdf::new(bytes, count))
    }

    /// A render error as a template author needs it: the template (the included
    /// partial when the error is there), the line, what is missing, and tera's
    /// whole error chain.
    fn describe_error(&self, top: &str, e: &tera::Error) -> String {
        let chain = tera_error_chain(e);
        match locate_error(&chain, top, &self.sources) {
            Some(place) => format!("{place} ({top}: {chain})"),
            None => format!("{top}: {chain}"),
        }
    }

    /// A render error of a producer's document, safe for dead-letter reasons,
    /// headers, logs and error pages: the template, what failed (the variable,
    /// filter, function or test named in the template) and the template line,
    /// but none of tera's own messages that quote values (a filter's
    /// ``got `"Kari"` but expected ...``, math on a string ...).
    fn describe_error_redacted(&self, top: &str, e: &tera::Error) -> String {
        let (what, token) = redacted_tera_error(e);
        // The line is looked up only for a name that is in the templates: the
        // template's own text is safe to show, the data is not.
        // tera names the top template only; the line may be in a partial it
        // includes, so those are searched next, in the order they are included.
        let place = token.and_then(|tok| {
            self.template_and_includes(top)
                .into_iter()
                .find_map(|name| {
                    let src = self.sources.get(&name)?;
                    let (n, line) = src.lines().enumerate().find(|(_, l)| {
                        l.contains(tok.as_str()) && (l.contains("{{") || l.contains("{%"))
                    })?;
                    Some(format!("{name}, linje {}: {what}: {}", n + 1, line.trim()))
                })
        });
        place.unwrap_or_else(|| format!("{top}: {what}"))
    }

    /// `top` and the templates it includes (and they include), each once, in
    /// the order of their `{% include "…" %}`.
    fn template_and_includes(&self, top: &str) -> Vec<String> {
        let mut out: Vec<String> = vec![top.to_string()];
        let mut i = 0;
        while i < out.len() {
            if let Some(src) = self.sources.get(&out[i]) {
                for part in src.split("include \"").skip(1) {
                    if let Some(end) = part.find('"') {
                        let name = part[..end].to_string();
                        if !out.contains(&name) {
                            out.push(name);
                        }
                    }
                }
            }
            i += 1;
        }
        out
    }

    /// Renders every letter template once with a sample document.
    fn self_test(&self) -> Result<(), RenderError> {
        let sample: IncomingEvent = serde_json::from_str(crate::event::SAMPLE_EVENT)
            .map_err(|e| RenderError::Template(format!("the built-in sample event: {e}")))?;
        let mut names: Vec<String> = self
            .tera
            .get_template_names()
            .filter(|n| n.starts_with("letters/"))
            .map(str::to_string)
            .collect();
        names.sort();
        for name in names {
            let rest = name.trim_start_matches("letters/");
            let (language, key) = match rest.split_once('/') {
                Some(("nn", key)) => (Language::Nynorsk, key),
                Some((dir, _)) => {
                    return Err(RenderError::Template(format!(
                        "{name}: «{dir}» is not a written standard (nn)"
                    )))
                }
                None => (Language::Bokmal, rest),
            };
            let key = key.trim_end_matches(".tera");
            let t = match key.parse::<DocumentType>() {
                Ok(t) => t,
                Err(_) if key == "_default" => DocumentType::GeneralInformation,
                Err(_) => {
                    return Err(RenderError::Template(format!(
                        "{name}: «{key}» is not a document type (docs/domain.md §8)"
                    )))
                }
            };
            let decision = sample_decision(t);
            // Render the named template itself (not the fallback choice).
            let ctx = context::build(&sample, t, &decision, language);
            let text = self
                .tera
                .render(&name, &ctx)
                .map_err(|e| RenderError::Template(self.describe_error(&name, &e)))?;
            markup::parse(&text).map_err(|e| RenderError::Template(format!("{name}: {e}")))?;
        }
        // And one full PDF, so font problems also surface at start-up.
        self.render_parts(
            &sample,
            DocumentType::ConductWarning,
            &sample_decision(DocumentType::ConductWarning),
        )?;
        Ok(())
    }
}

/// Decodes every configured logo (PNG or JPEG); a logo that cannot be read or
/// has no alternative text stops start-up.
fn load_logos(
    letters: &LetterSettings,
) -> Result<std::collections::HashMap<PathBuf, (krilla::image::Image, f32)>, RenderError> {
    let mut out = std::collections::HashMap::new();
    for (path, alt) in letters.logos() {
        let what = path.display();
        if alt.is_none_or(|a| a.trim().is_empty()) {
            return Err(RenderError::Pdf(format!(
                "{what}: a logo needs logo_alt (its text for screen readers)"
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| RenderError::Pdf(format!("{what}: {e}")))?;
        // No interpolation: PDF/A forbids it (krilla refuses the file otherwise).
        let image = if bytes.starts_with(b"\x89PNG") {
            krilla::image::Image::from_png(bytes.into(), false)
        } else if bytes.starts_with(&[0xFF, 0xD8]) {
            krilla::image::Image::from_jpeg(bytes.into(), false)
        } else {
            Err("neither PNG nor JPEG".to_string())
        }
        .map_err(|e| RenderError::Pdf(format!("{what}: {e}")))?;
        let (w, h) = image.size();
        let aspect = w.max(1) as f32 / h.max(1) as f32;
        out.insert(path.to_path_buf(), (image, aspect));
    }
    Ok(out)
}

/// Suffixes of templates that tera HTML-escapes every `{{ }}` in. tera's own
/// list (`.html`, `.htm`, `.xml`) misses our `*.html.tera` (email) templates.
pub const AUTOESCAPE_SUFFIXES: [&str; 6] = [
    ".html.tera",
    ".htm.tera",
    ".xml.tera",
    ".html",
    ".htm",
    ".xml",
];

/// A tera instance in which a template can read only its context:
/// - `get_env` (tera's built-in, which would read the worker's secrets from the
///   environment) is replaced by a function that always fails;
/// - templates are only ever added from strings read below the templates
///   directory ([`collect_templates`]), so `include`/`extends` can only name
///   those: tera never touches the file system itself;
/// - HTML templates are autoescaped ([`AUTOESCAPE_SUFFIXES`]).
pub(crate) fn sandboxed_tera() -> tera::Tera {
    let mut tera = tera::Tera::default();
    tera.register_function("get_env", refuse_get_env);
    tera.autoescape_on(AUTOESCAPE_SUFFIXES.to_vec());
    tera.register_filter("line", line_filter);
    tera.register_filter("cell", cell_filter);
    tera.register_filter("month", month_filter);
    tera.register_filter("nbdate", nbdate_filter);
    tera.register_filter("nbdatetime", nbdatetime_filter);
    tera
}

/// `{{ x | cell }}`: [`line_filter`], and `|` (the cell separator) becomes `¦`.
fn cell_filter(
    value: &tera::Value,
    args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let line = line_filter(value, args)?;
    Ok(match line {
        tera::Value::String(s) => tera::Value::String(s.replace('|', "¦")),
        other => other,
    })
}

/// `{{ "2026-09" | month }}` → «september 2026»; anything else unchanged.
fn month_filter(
    value: &tera::Value,
    _args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let Some(s) = value.as_str() else {
        return Ok(value.clone());
    };
    let parsed = chrono::NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d");
    Ok(match parsed {
        Ok(d) => {
            let day = context::norwegian_date(d);
            // «1. september 2026» → «september 2026»
            let month_year = day.split_once(' ').map_or(day.as_str(), |(_, rest)| rest);
            tera::Value::String(month_year.to_string())
        }
        Err(_) => value.clone(),
    })
}

/// `{{ "2026-10-08" | nbdate }}` → «8. oktober 2026»; a timestamp
/// (`2026-10-08T14:00:00+02:00`) gives its date as written (the producer's
/// offset, so the text never depends on the worker's time zone); anything else
/// unchanged.
fn nbdate_filter(
    value: &tera::Value,
    _args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let Some(s) = value.as_str() else {
        return Ok(value.clone());
    };
    let s = s.trim();
    let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.date_naive())
        });
    Ok(match date {
        Some(d) => tera::Value::String(context::norwegian_date(d)),
        None => value.clone(),
    })
}

/// `{{ "2026-11-05T15:30:00+01:00" | nbdatetime }}` → «5. november 2026 kl. 15.30»
/// (local time as the producer wrote it); a plain date as [`nbdate_filter`];
/// anything else unchanged.
fn nbdatetime_filter(
    value: &tera::Value,
    args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let Some(s) = value.as_str() else {
        return Ok(value.clone());
    };
    match chrono::DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) => Ok(tera::Value::String(format!(
            "{} kl. {}",
            context::norwegian_date(t.date_naive()),
            t.format("%H.%M")
        ))),
        Err(_) => nbdate_filter(value, args),
    }
}

fn refuse_get_env(
    _args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    Err(tera::Error::msg(
        "get_env is disabled: a template can read only the document's data",
    ))
}

/// Reads every `*.tera` below `dir`, named by its path relative to `root`
/// with `/` separators (e.g. `letters/conduct_warning.tera`). A template file
/// whose real path (after symbolic links) is outside `root` is refused, so no
/// template text comes from outside the templates directory.
fn collect_templates(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, String)>,
) -> Result<(), RenderError> {
    let canonical_root = root
        .canonicalize()
        .map_err(|e| RenderError::Template(format!("{}: {e}", root.display())))?;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| RenderError::Template(format!("{}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_templates(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "tera") {
            // Only template text is confined: a symlinked fonts directory is fine.
            let real = path
                .canonicalize()
                .map_err(|e| RenderError::Template(format!("{}: {e}", path.display())))?;
            if !real.starts_with(&canonical_root) {
                return Err(RenderError::Template(format!(
                    "{}: leads outside the templates directory ({})",
                    path.display(),
                    real.display()
                )));
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| RenderError::Template(format!("{}: {e}", path.display())))?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, text));
        }
    }
    Ok(())
}

/// Finds where a tera render error comes from. tera names the missing variable
/// (`Variable `f.x` not found in context while rendering 'partials/y.tera'`),
/// filter, function or test, but not the line; this looks the name up in the
/// template's source. `None` when the chain names nothing to look for.
fn locate_error(
    chain: &str,
    top: &str,
    sources: &std::collections::HashMap<String, String>,
) -> Option<String> {
    fn between<'a>(text: &'a str, start: &str, end: char) -> Option<&'a str> {
        let from = text.find(start)? + start.len();
        let len = text[from..].find(end)?;
        Some(&text[from..from + len])
    }
    let (what, token) = if let Some(v) = between(chain, "Variable `", '`') {
        ("variable", v)
    } else if let Some(f) = between(chain, "Filter '", '\'') {
        ("filter", f)
    } else if let Some(f) = between(chain, "Function '", '\'') {
        ("function", f)
    } else if let Some(t) = between(chain, "Tester '", '\'') {
        ("test", t)
    } else {
        return None;
    };
    let template = chain
        .rfind("while rendering '")
        .and_then(|i| between(&chain[i..], "while rendering '", '\''))
        .unwrap_or(top);
    let source = sources.get(template)?;
    let (n, line) = source
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(token) && (l.contains("{{") || l.contains("{%")))
        .or_else(|| source.lines().enumerate().find(|(_, l)| l.contains(token)))?;
    let missing = match what {
        "variable" => format!("variable `{token}` is not in the context"),
        other => format!("{other} `{token}` does not exist"),
    };
    Some(format!(
        "{template}, line {}: {missing}: {}",
        n + 1,
        line.trim()
    ))
}

/// What failed in a tera error, in Norwegian, without any value from the data:
/// only the error kinds that name something of the template (a missing
/// variable, a failing filter / function / test) are read, and the name is
/// returned so the caller can look the line up. Every other message tera or a
/// filter makes may quote the data and is left out. Public for the dashboard,
/// whose pages show staff data.
pub fn redacted_tera_error(e: &tera::Error) -> (String, Option<String>) {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut found: Option<(String, Option<String>)> = None;
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<tera::Error>() {
            let hit = match &t.kind {
                tera::ErrorKind::CallFilter(n) => Some((
                    format!("filteret «{n}» feilet på dokumentets data"),
                    n.clone(),
                )),
                tera::ErrorKind::CallFunction(n) => Some((
                    format!("funksjonen «{n}» feilet på dokumentets data"),
                    n.clone(),
                )),
                tera::ErrorKind::CallTest(n) => Some((
                    format!("testen «{n}» feilet på dokumentets data"),
                    n.clone(),
                )),
                tera::ErrorKind::FilterNotFound(n) => {
                    Some((format!("filteret «{n}» finnes ikke"), n.clone()))
                }
                tera::ErrorKind::FunctionNotFound(n) => {
                    Some((format!("funksjonen «{n}» finnes ikke"), n.clone()))
                }
                tera::ErrorKind::TestNotFound(n) => {
                    Some((format!("testen «{n}» finnes ikke"), n.clone()))
                }
                tera::ErrorKind::Msg(m) => m
                    .strip_prefix("Variable `")
                    .and_then(|rest| rest.split_once("` not found in context"))
                    .filter(|(v, _)| {
                        v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_.[]".contains(&b))
                    })
                    .map(|(v, _)| {
                        (
                            format!("variabelen «{v}» finnes ikke i dataene"),
                            v.to_string(),
                        )
                    }),
                _ => None,
            };
            // The innermost named cause is the most precise.
            if let Some((what, name)) = hit {
                found = Some((what, Some(name)));
            }
        }
        cur = err.source();
    }
    match found {
        Some((what, name)) => (
            format!("{what} (detaljene kan inneholde dokumentdata og er utelatt)"),
            name,
        ),
        None => (
            "malen kunne ikke fylles ut (detaljene kan inneholde dokumentdata og er utelatt)"
                .to_string(),
            None,
        ),
    }
}

/// tera's errors keep the useful part in their sources.
fn tera_error_chain(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// `{{ x | line }}`: one line of text: newlines, tabs and control characters
/// become spaces, runs of whitespace collapse. Producer text always goes through
/// it, so it cannot add markup lines.
fn line_filter(
    value: &tera::Value,
    _args: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let text = match value {
        tera::Value::String(s) => s.clone(),
        tera::Value::Null => String::new(),
        other => other.to_string(),
    };
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok(tera::Value::String(
        cleaned.split_whitespace().collect::<Vec<_>>().join(" "),
    ))
}

/// Last line of defence: whatever a template or a producer's free text says, no
/// valid national id and no protected recipient's street address is printed.
fn scrub(mut text: String, ev: &IncomingEvent, language: Language) -> String {
    let (id_removed, address_hidden) = match language {
        Language::Bokmal => ("[fødselsnummer fjernet]", "[adresse skjermet]"),
        Language::Nynorsk => ("[fødselsnummer fjerna]", "[adresse skjerma]"),
    };
    // 11-digit runs (also with a space after the birth date) with valid check digits.
    let bytes = text.as_bytes();
    let mut hits: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()) {
            let mut j = i;
            let mut digits = String::new();
            while j < bytes.len()
                && (bytes[j].is_ascii_digit() || (bytes[j] == b' ' && digits.len() == 6))
            {
                if bytes[j].is_ascii_digit() {
                    digits.push(bytes[j] as char);
                }
                j += 1;
                if digits.len() > 11 {
                    break;
                }
            }
            if digits.len() == 11
                && (j >= bytes.len() || !bytes[j].is_ascii_digit())
                && is_valid_national_id(&digits)
            {
                hits.push((i, j));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    for (start, end) in hits.into_iter().rev() {
        text.replace_range(start..end, id_removed);
    }
    for r in ev.recipients.iter().filter(|r| r.protected_address) {
        if let Some(a) = &r.address {
            let street = a.street.trim();
            if street.len() >= 3 && text.contains(street) {
                text = text.replace(street, address_hidden);
            }
        }
    }
    text
}

fn sample_decision(t: DocumentType) -> RoutingDecision {
    RoutingDecision {
        document_type: t,
        rule: t.key().to_string(),
        channel: Channel::Svarut,
        archive: ArchivePolicy::Always,
        archived: true,
        folder: Some(Folder::Pupil),
        access: Access::Uo,
        legal_basis: Some("Offl. § 13 jf. fvl. § 13 første ledd nr. 1".into()),
        journal_post_type: JournalPostType::U,
        journal_status: JournalStatus::J,
        rejected: None,
        rules_version: "self-test".into(),
    }
}

#[cfg(test)]
mod tests;
