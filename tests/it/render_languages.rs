//! Letters in the municipality's written standard (docs/domain.md §10).
//!
//! Every document type renders in bokmål and in nynorsk from its example event;
//! a nynorsk letter comes from its own nynorsk template (never the bokmål one as
//! a fallback), its PDF says `nn-NO`, and the fixed text of every nynorsk
//! template and partial holds no bokmål-only word. The settings choose the
//! standard per municipality and per school.

use std::collections::BTreeSet;
use std::path::Path;

use dokflyt::config::letters::{Language, LetterSettings, Override};
use dokflyt::pipeline::route;
use dokflyt::pipeline::validate;
use dokflyt::Renderer;
use dokflyt::RoutingTable;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn settings(language: Language) -> LetterSettings {
    LetterSettings {
        language,
        ..LetterSettings::default()
    }
}

fn catalog_lang(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).expect("parses");
    let catalog = doc.catalog().expect("catalog");
    lopdf::decode_text_string(catalog.get(b"Lang").expect("/Lang")).expect("text")
}

fn pdftotext(bytes: &[u8]) -> String {
    let mut file = tempfile::NamedTempFile::new().expect("tmp");
    std::io::Write::write_all(&mut file, bytes).expect("write");
    let out = std::process::Command::new("pdftotext")
        .arg(file.path())
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_type_renders_in_bokmal_and_nynorsk_without_fallback() {
    let table = RoutingTable::load_dir(&root().join("routing-rules")).expect("table");
    let nb = Renderer::load_with(&root().join("templates"), settings(Language::Bokmal))
        .expect("templates");
    let nn = Renderer::load_with(&root().join("templates"), settings(Language::Nynorsk))
        .expect("templates");
    let mut types = BTreeSet::new();
    let mut paths: Vec<_> = std::fs::read_dir(root().join("examples/events"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    for path in &paths {
        let what = path.display().to_string();
        let body = std::fs::read(path).expect("read");
        let routed = route(validate(&body, 1 << 20).expect("valid"), &table).expect("routed");
        let t = routed.event().document_type();
        types.insert(t.key());

        let (name, fallback) = nn.template_choice(t, Language::Nynorsk);
        assert!(!fallback, "{what}: {} has no nynorsk template", t.key());
        assert!(name.starts_with("letters/nn/"), "{what}: {name}");
        let (name, fallback) = nb.template_choice(t, Language::Bokmal);
        assert!(!fallback && !name.contains("/nn/"), "{what}: {name}");

        let nb_pdf = nb
            .render_pdf(&routed)
            .unwrap_or_else(|e| panic!("{what}: nb: {e}"));
        let nn_pdf = nn
            .render_pdf(&routed)
            .unwrap_or_else(|e| panic!("{what}: nn: {e}"));
        assert_eq!(catalog_lang(&nb_pdf.bytes), "nb-NO", "{what}");
        assert_eq!(catalog_lang(&nn_pdf.bytes), "nn-NO", "{what}");
        let nb_text = pdftotext(&nb_pdf.bytes);
        let nn_text = pdftotext(&nn_pdf.bytes);
        // The signature's greeting (where there is one) is the language's own.
        if nb_text.contains("Med vennlig hilsen") {
            assert!(nn_text.contains("Med venleg helsing"), "{what}:\n{nn_text}");
        }
        assert!(
            !nn_text.contains("Med vennlig hilsen"),
            "{what}:\n{nn_text}"
        );
        assert!(!nn_text.contains("Unntatt offentlighet"), "{what}");
    }
    assert_eq!(types.len(), 39, "every document type has an example");
}

/// Words that are bokmål and not nynorsk, as they occur in our templates.
const BOKMAL_ONLY: &[&str] = &[
    "ikke",
    "hvis",
    "hva",
    "hvordan",
    "hvilket",
    "hvilken",
    "fra",
    "født",
    "skole",
    "skolen",
    "skolens",
    "dere",
    "deres",
    "mottatt",
    "vennlig",
    "hilsen",
    "nedsatt",
    "oppførsel",
    "gis",
    "sendes",
    "behandles",
    "videre",
    "behandling",
    "mulig",
    "mulighet",
    "ønsker",
    "gjelder",
    "utarbeidet",
    "unntatt",
    "offentlighet",
    "sted",
    "deltakere",
    "oppsigelse",
    "oppsigelsen",
    "elever",
    "karakterer",
    "måned",
    "dager",
    "timer",
    "beskrivelse",
    "anmerkninger",
    "meldinger",
    "vurderinger",
    "hjemmel",
    "klagen",
    "bekreftelse",
    "tilbudet",
    "også",
    "nå",
    "uke",
    "uker",
    "skoleår",
    "skoleplass",
    "skoleskyss",
    "kontaktlærer",
    "søke",
];

/// The fixed text of a template: without comments, `{{ … }}` and `{% … %}`.
fn fixed_text(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = match &tail.get(..2) {
            Some("{#") => tail.find("#}").map(|e| e + 2),
            Some("{{") => tail.find("}}").map(|e| e + 2),
            Some("{%") => tail.find("%}").map(|e| e + 2),
            _ => Some(1),
        };
        match end {
            Some(e) => rest = &tail[e..],
            None => {
                rest = "";
            }
        }
        out.push(' ');
    }
    out.push_str(rest);
    out
}

#[test]
fn nynorsk_templates_hold_no_bokmal_fixed_text_and_include_only_nynorsk_partials() {
    let mut files = Vec::new();
    for dir in ["templates/letters/nn", "templates/partials/nn"] {
        for e in std::fs::read_dir(root().join(dir)).expect("dir") {
            files.push(e.expect("entry").path());
        }
    }
    assert!(files.len() >= 37 + 9, "{} nynorsk templates", files.len());
    for path in files {
        let source = std::fs::read_to_string(&path).expect("read");
        for line in source.lines().filter(|l| l.contains("include")) {
            assert!(
                line.contains("\"partials/nn/"),
                "{}: includes a bokmål partial: {line}",
                path.display()
            );
        }
        let text = fixed_text(&source).to_lowercase();
        let words: BTreeSet<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let found: Vec<&&str> = BOKMAL_ONLY.iter().filter(|w| words.contains(**w)).collect();
        assert!(
            found.is_empty(),
            "{}: bokmål in the fixed text: {found:?}",
            path.display()
        );
    }
    // The check itself finds bokmål in a bokmål template.
    let nb =
        std::fs::read_to_string(root().join("templates/partials/signature.tera")).expect("read");
    assert!(fixed_text(&nb).contains("vennlig"));
}

#[test]
fn a_school_overrides_its_municipality_and_a_missing_template_falls_back_visibly() {
    let table = RoutingTable::load_dir(&root().join("routing-rules")).expect("table");
    let body = std::fs::read(root().join("examples/events/conduct_warning.json")).expect("read");
    let routed = route(validate(&body, 1 << 20).expect("valid"), &table).expect("routed");
    let ev = routed.event().event();
    let mut letters = LetterSettings::default();
    letters.municipalities.insert(
        ev.municipality.number.clone(),
        Override {
            language: Some(Language::Nynorsk),
            sami: None,
            ..Override::default()
        },
    );
    let r = Renderer::load_with(&root().join("templates"), letters.clone()).expect("templates");
    assert_eq!(r.language_of(ev), Language::Nynorsk);
    assert_eq!(
        catalog_lang(&r.render_pdf(&routed).expect("pdf").bytes),
        "nn-NO"
    );
    letters.schools.insert(
        ev.school.id.clone(),
        Override {
            language: Some(Language::Bokmal),
            sami: None,
            ..Override::default()
        },
    );
    let r = Renderer::load_with(&root().join("templates"), letters).expect("templates");
    assert_eq!(r.language_of(ev), Language::Bokmal);
    assert_eq!(
        catalog_lang(&r.render_pdf(&routed).expect("pdf").bytes),
        "nb-NO"
    );

    // Without its nynorsk template a type falls back to bokmål, reported as such.
    let dir = tempfile::tempdir().expect("tmp");
    copy_dir(&root().join("templates"), dir.path());
    std::fs::remove_file(dir.path().join("letters/nn/conduct_warning.tera")).expect("rm");
    std::fs::remove_file(dir.path().join("letters/nn/_default.tera")).expect("rm");
    let r = Renderer::load_with(dir.path(), settings(Language::Nynorsk)).expect("templates");
    let t = routed.event().document_type();
    assert_eq!(
        r.template_choice(t, Language::Nynorsk),
        ("letters/conduct_warning.tera".to_string(), true)
    );
    assert_eq!(
        catalog_lang(&r.render_pdf(&routed).expect("pdf").bytes),
        "nb-NO"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}
