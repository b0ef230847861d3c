//! Every example event that needs a PDF renders with the shipped templates, and the
//! flagship letter (`conduct_warning`) fits on one A4 page; every PDF carries the
//! PDF/A-2a + PDF/UA-1 identification and output intent, passes `qpdf --check`, and prints no
//! national id and no protected address.
//!
//! Every document type that needs a PDF (its rule sends it by SvarUt or archives
//! it) has its own template, never the generic `_default.tera`; rendered from its
//! example, the letter shows the title, the pupil by name, the sender, the UO
//! marking exactly when the document is UO, every paragraph of the author's text
//! intact (æøå and the Northern Sámi letters included), and `pdfinfo` agrees on the
//! page count. The same example with a guardian with a protected address added
//! never prints that address.

use std::path::Path;
use std::process::Command;

use dokflyt::document::{Access, ArchivePolicy, Channel};
use dokflyt::pipeline::render_blocking;
use dokflyt::pipeline::route;
use dokflyt::pipeline::validate;
use dokflyt::DocumentType;
use dokflyt::Renderer;
use dokflyt::RoutingTable;

/// A guardian with a protected address, added to every example for the privacy check.
fn protected_guardian() -> serde_json::Value {
    serde_json::json!({
        "kind": "guardian", "id": "beskyttet-1", "name": "Gunnhild Skjermet",
        "parental_responsibility": true, "protected_address": true,
        "address": {"street": "Hemmeligveien 99", "postal_code": "5020", "city": "Skjultvik"}
    })
}

const SAMI: [char; 7] = ['á', 'č', 'đ', 'ŋ', 'š', 'ŧ', 'ž'];

#[test]
fn every_example_renders_and_conduct_warning_is_one_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = RoutingTable::load_dir(&root.join("routing-rules")).expect("table");
    let renderer = Renderer::load(&root.join("templates")).expect("templates");
    let mut paths: Vec<_> = std::fs::read_dir(root.join("examples/events"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    let mut rendered = 0;
    let mut with_sami = 0;
    for path in paths {
        let body = std::fs::read(&path).expect("read");
        let ev = validate(&body, 1 << 20).expect("valid");
        let routed = route(ev, &table).expect("routed");
        let needs = routed.needs_pdf();
        let t = routed.event().document_type();
        let uo = routed.decision().access == Access::Uo;
        let doc = render_blocking(routed, &renderer)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if !needs {
            assert!(doc.pdf().is_none());
            continue;
        }
        assert!(
            renderer.has_own_template(t),
            "{}: {} needs a PDF but has no template of its own",
            path.display(),
            t.key()
        );
        let pdf = doc.pdf().expect("a PDF");
        assert!(pdf.bytes.starts_with(b"%PDF-"), "{}", path.display());
        assert!(pdf.pages >= 1);
        rendered += 1;
        let text = check_archive_copy(&path, &pdf.bytes, &body, pdf.pages);
        let ev: serde_json::Value = serde_json::from_slice(&body).expect("json");
        if check_letter(&path, &text, &ev, uo) {
            with_sami += 1;
        }
        if path.file_stem().is_some_and(|s| s == "conduct_warning") {
            assert_eq!(pdf.pages, 1, "the conduct warning fits one page");
        }

        // The same event with a protected-address guardian: the name may be
        // printed, the address never.
        let mut protected = ev.clone();
        protected["recipients"]
            .as_array_mut()
            .expect("recipients")
            .push(protected_guardian());
        let bytes = serde_json::to_vec(&protected).expect("json");
        let routed = route(validate(&bytes, 1 << 20).expect("valid"), &table).expect("routed");
        let sent = routed.decision().channel.as_str().starts_with("svarut");
        let doc = render_blocking(routed, &renderer).expect("renders");
        let pdf = doc.pdf().expect("a PDF");
        let text = check_archive_copy(&path, &pdf.bytes, &bytes, pdf.pages);
        for secret in ["Hemmeligveien", "Skjultvik", "5020"] {
            assert!(
                !text.contains(secret),
                "{}: the protected address ({secret}) is printed",
                path.display()
            );
        }
        if sent {
            assert!(
                text.contains("Gunnhild Skjermet"),
                "{}: a protected recipient is still named",
                path.display()
            );
        }
    }
    assert!(
        rendered >= 30,
        "most example types produce a PDF ({rendered})"
    );
    assert!(
        with_sami >= 1,
        "at least one example carries the Northern Sámi letters {SAMI:?}"
    );
}

/// No document type that needs a PDF (a rule sends it by SvarUt, directly or from
/// the archive, or may archive it) falls back to `_default.tera`: the gap cannot
/// reopen when a type or a rule is added.
#[test]
fn no_type_that_needs_a_pdf_falls_back_to_the_default_template() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = RoutingTable::load_dir(&root.join("routing-rules")).expect("table");
    let renderer = Renderer::load(&root.join("templates")).expect("templates");
    let mut needing = 0;
    let mut missing = Vec::new();
    for &t in DocumentType::ALL {
        let needs = table.rules_for(t).iter().any(|r| {
            matches!(r.spec.channel, Channel::Svarut | Channel::SvarutArchive)
                || r.spec.archive != ArchivePolicy::Never
        });
        if needs {
            needing += 1;
            if !renderer.has_own_template(t) {
                missing.push(t.key());
            }
        }
    }
    assert!(missing.is_empty(), "no template of their own: {missing:?}");
    // docs/domain.md §8: every key but general_information,
    // parent_meeting_invitation and emergency_sms (archive never, no SvarUt).
    assert_eq!(
        needing,
        DocumentType::ALL.len() - 3,
        "types that need a PDF"
    );
}

/// What a reader of the letter must find, in the text `pdftotext` extracts:
/// the title, the pupil, the sender, the UO marking exactly when UO, and every
/// paragraph of the author's text intact. Returns whether the example carried all
/// the Northern Sámi letters (and so they were checked).
fn check_letter(path: &Path, text: &str, ev: &serde_json::Value, uo: bool) -> bool {
    let what = path.display();
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let flatten = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = flatten(ev["title"].as_str().expect("title"));
    assert!(
        flat.contains(&title),
        "{what}: the title «{title}» is missing"
    );
    let sender = ev["sender"]["name"].as_str().expect("sender");
    assert!(
        flat.contains(sender),
        "{what}: the sender «{sender}» is missing"
    );
    let marking = "Unntatt offentlighet, jf.";
    assert_eq!(
        flat.contains(marking),
        uo,
        "{what}: the UO marking must be printed exactly when the document is UO"
    );
    let mut printed = String::new();
    for p in ev["fields"]["body"].as_array().expect("body") {
        let p = flatten(p.as_str().expect("paragraph"));
        assert!(
            flat.contains(&p),
            "{what}: paragraph not intact: «{p}»\n{text}"
        );
        printed.push_str(&p);
    }
    printed.push_str(&title);
    printed.push_str(ev["pupil"]["name"].as_str().unwrap_or_default());
    for c in "æøåÆØÅ".chars().chain(SAMI) {
        if printed.contains(c) {
            assert!(flat.contains(c), "{what}: «{c}» is lost");
        }
    }
    SAMI.iter().all(|&c| printed.contains(c))
}

/// PDF/A-2a + PDF/UA-1 essentials, `qpdf --check`, and privacy in the extracted text.
fn check_archive_copy(path: &Path, bytes: &[u8], event: &[u8], pages: u32) -> String {
    use lopdf::Object;
    let what = path.display();
    let doc = lopdf::Document::load_mem(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    let catalog = doc.catalog().expect("catalog");
    let meta = catalog
        .get(b"Metadata")
        .and_then(Object::as_reference)
        .and_then(|id| doc.get_object(id))
        .and_then(Object::as_stream)
        .unwrap_or_else(|e| panic!("{what}: no XMP: {e}"));
    let xmp = String::from_utf8_lossy(&meta.content);
    assert!(
        xmp.contains("<pdfaid:part>2</pdfaid:part>")
            && xmp.contains("<pdfaid:conformance>A</pdfaid:conformance>")
            && xmp.contains("<pdfuaid:part>1</pdfuaid:part>"),
        "{what}: {xmp}"
    );
    let intents = catalog
        .get(b"OutputIntents")
        .and_then(|o| doc.dereference(o))
        .and_then(|(_, o)| o.as_array())
        .unwrap_or_else(|e| panic!("{what}: no output intent: {e}"));
    assert_eq!(intents.len(), 1, "{what}");
    assert!(doc.trailer.get(b"Encrypt").is_err(), "{what}");

    let mut file = tempfile::NamedTempFile::new().expect("tmp");
    std::io::Write::write_all(&mut file, bytes).expect("write");
    let qpdf = Command::new("qpdf")
        .arg("--check")
        .arg(file.path())
        .output()
        .expect("qpdf must be installed");
    assert!(qpdf.status.success(), "{what}: qpdf --check: {qpdf:?}");
    let text = Command::new("pdftotext")
        .arg(file.path())
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) must be installed");
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let info = Command::new("pdfinfo")
        .arg(file.path())
        .output()
        .expect("pdfinfo (poppler-utils) must be installed");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.lines()
            .any(|l| l.starts_with("Pages:")
                && l.split_whitespace().nth(1) == Some(&pages.to_string())),
        "{what}: pdfinfo disagrees on {pages} page(s):\n{info}"
    );

    let ev: serde_json::Value = serde_json::from_slice(event).expect("json");
    if let Some(pupil) = ev["pupil"]["name"].as_str() {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(pupil),
            "{what}: the pupil «{pupil}» is missing"
        );
    }
    for secret in secrets(&ev) {
        assert!(
            !text.contains(&secret),
            "{what}: «{secret}» must never be printed"
        );
    }
    text
}

/// National ids anywhere in the event, and the street of every protected address.
fn secrets(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k.contains("national_id") {
                    out.extend(x.as_str().map(str::to_string));
                }
                out.extend(secrets(x));
            }
            if m.get("protected_address") == Some(&serde_json::Value::Bool(true)) {
                let street = m.get("address").and_then(|a| a.get("street"));
                out.extend(street.and_then(|s| s.as_str()).map(str::to_string));
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| out.extend(secrets(x))),
        _ => {}
    }
    out
}
