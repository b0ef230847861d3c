//! Every example event that needs a PDF renders with the shipped templates, and the
//! flagship letter (`conduct_warning`) fits on one A4 page; every PDF carries the
//! PDF/A-2b identification and output intent, passes `qpdf --check`, and prints no
//! national id and no protected address.

use std::path::Path;
use std::process::Command;

use dokflyt::pipeline::render::render_blocking;
use dokflyt::pipeline::route::route;
use dokflyt::pipeline::validate::validate;
use dokflyt::render::Renderer;
use dokflyt::rules::RoutingTable;

#[test]
fn every_example_renders_and_conduct_warning_is_one_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = RoutingTable::load_dir(&root.join("routing-rules")).expect("table");
    let renderer = Renderer::load(&root.join("templates")).expect("templates");
    let mut rendered = 0;
    for entry in std::fs::read_dir(root.join("examples/events")).expect("examples") {
        let path = entry.expect("entry").path();
        let body = std::fs::read(&path).expect("read");
        let ev = validate(&body, 1 << 20).expect("valid");
        let routed = route(ev, &table).expect("routed");
        let needs = routed.needs_pdf();
        let doc = render_blocking(routed, &renderer)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if !needs {
            assert!(doc.pdf().is_none());
            continue;
        }
        let pdf = doc.pdf().expect("a PDF");
        assert!(pdf.bytes.starts_with(b"%PDF-"), "{}", path.display());
        assert!(pdf.pages >= 1);
        rendered += 1;
        check_archive_copy(&path, &pdf.bytes, &body);
        if path.file_stem().is_some_and(|s| s == "conduct_warning") {
            assert_eq!(pdf.pages, 1, "the conduct warning fits one page");
        }
    }
    assert!(
        rendered >= 30,
        "most example types produce a PDF ({rendered})"
    );
}

/// PDF/A-2b essentials, `qpdf --check`, and privacy in the extracted text.
fn check_archive_copy(path: &Path, bytes: &[u8], event: &[u8]) {
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
            && xmp.contains("<pdfaid:conformance>B</pdfaid:conformance>"),
        "{what}: {xmp}"
    );
    let intents = catalog
        .get(b"OutputIntents")
        .and_then(Object::as_array)
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
    let text = String::from_utf8_lossy(&text.stdout);

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
