//! Every example event that needs a PDF renders with the shipped templates, and the
//! flagship letter (`conduct_warning`) fits on one A4 page.

use std::path::Path;

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
        if path.file_stem().is_some_and(|s| s == "conduct_warning") {
            assert_eq!(pdf.pages, 1, "the conduct warning fits one page");
        }
    }
    assert!(
        rendered >= 30,
        "most example types produce a PDF ({rendered})"
    );
}
