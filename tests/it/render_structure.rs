//! The tagged PDF of every document type, read back by an independent parser
//! (lopdf): the structure tree walked from `/StructTreeRoot` against the markup
//! the template produced.
//!
//! For every example event (every document type, also the three that only get a
//! PDF as a preview) and for a report whose table runs over many pages:
//! - the catalog: `/MarkInfo /Marked true`, the document language, and
//!   `/ViewerPreferences /DisplayDocTitle true` (the title in the window);
//! - headings: `#` → H1 and `##` → H2 with their text as `/T`, in markup order;
//! - paragraphs: one P per paragraph-like block;
//! - lists: one L per run of bullets, one LI per bullet with Lbl and LBody;
//! - tables: THead with one TH (scope Column) per header cell, once, however
//!   many pages repeat it; TBody with one TR per row and one TD per cell; facts
//!   as a table of TH (scope Row) + TD;
//! - reading order: every marked-content sequence on every page belongs to
//!   exactly one structure element (nothing untagged, nothing twice), the rest is
//!   marked as artifacts;
//! - passages in another language (`@lang`) carry `/Lang`, and every Figure has
//!   alternative text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dokflyt::pipeline::route;
use dokflyt::pipeline::validate;
use dokflyt::render::markup::{self, Block};
use dokflyt::Renderer;
use dokflyt::RoutingTable;
use lopdf::{Dictionary, Document, Object, ObjectId};

#[derive(Debug, Default)]
struct Elem {
    role: String,
    title: Option<String>,
    lang: Option<String>,
    alt: Option<String>,
    scope: Option<String>,
    kids: Vec<Elem>,
    /// (page object, MCID) of the content directly under this element.
    mcids: Vec<(ObjectId, i64)>,
}

impl Elem {
    fn all<'a>(&'a self, out: &mut Vec<&'a Elem>) {
        out.push(self);
        for k in &self.kids {
            k.all(out);
        }
    }
    fn kids_of(&self, role: &str) -> Vec<&Elem> {
        self.kids.iter().filter(|k| k.role == role).collect()
    }
    fn has_content(&self) -> bool {
        !self.mcids.is_empty() || self.kids.iter().any(Elem::has_content)
    }
}

fn text(doc: &Document, o: &Object) -> String {
    let o = doc.dereference(o).map(|(_, o)| o).unwrap_or(o);
    match o {
        Object::Name(n) => String::from_utf8_lossy(n).into_owned(),
        other => lopdf::decode_text_string(other).unwrap_or_default(),
    }
}

fn dict<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
    doc.dereference(o).ok()?.1.as_dict().ok()
}

fn walk(
    doc: &Document,
    d: &Dictionary,
    roles: &BTreeMap<String, String>,
    page: Option<ObjectId>,
) -> Elem {
    let raw = d.get(b"S").map(|s| text(doc, s)).unwrap_or_default();
    let role = roles.get(&raw).cloned().unwrap_or(raw);
    let page = d
        .get(b"Pg")
        .ok()
        .and_then(|p| p.as_reference().ok())
        .or(page);
    let mut e = Elem {
        role,
        title: d.get(b"T").ok().map(|t| text(doc, t)),
        lang: d.get(b"Lang").ok().map(|t| text(doc, t)),
        alt: d.get(b"Alt").ok().map(|t| text(doc, t)),
        ..Elem::default()
    };
    if let Ok(a) = d.get(b"A") {
        let attrs: Vec<&Object> = match doc.dereference(a).map(|(_, o)| o) {
            Ok(Object::Array(list)) => list.iter().collect(),
            Ok(other) => vec![other],
            Err(_) => vec![],
        };
        for attr in attrs {
            if let Some(ad) = dict(doc, attr) {
                if let Ok(s) = ad.get(b"Scope") {
                    e.scope = Some(text(doc, s));
                }
            }
        }
    }
    let kids: Vec<Object> = match d
        .get(b"K")
        .map(|k| doc.dereference(k).map(|(_, o)| o.clone()))
    {
        Ok(Ok(Object::Array(list))) => list,
        Ok(Ok(other)) => vec![d.get(b"K").cloned().unwrap_or(other)],
        _ => vec![],
    };
    for k in kids {
        match &k {
            Object::Integer(mcid) => e.mcids.push((page.expect("an MCID needs /Pg"), *mcid)),
            _ => {
                let Some(kd) = dict(doc, &k) else { continue };
                match kd.get(b"Type").ok().map(|t| text(doc, t)).as_deref() {
                    Some("MCR") => {
                        let pg = kd
                            .get(b"Pg")
                            .ok()
                            .and_then(|p| p.as_reference().ok())
                            .or(page)
                            .expect("an MCR needs /Pg");
                        e.mcids
                            .push((pg, kd.get(b"MCID").and_then(Object::as_i64).expect("MCID")));
                    }
                    Some("OBJR") => {}
                    _ => e.kids.push(walk(doc, kd, roles, page)),
                }
            }
        }
    }
    e
}

/// The MCIDs in each page's content stream.
fn content_mcids(doc: &Document) -> BTreeSet<(ObjectId, i64)> {
    let mut out = BTreeSet::new();
    for (_, page) in doc.get_pages() {
        let content = doc.get_and_decode_page_content(page).expect("content");
        for op in content.operations {
            if op.operator != "BDC" {
                continue;
            }
            let Some(props) = op.operands.get(1) else {
                continue;
            };
            let Some(pd) = dict(doc, props) else { continue };
            if let Ok(mcid) = pd.get(b"MCID").and_then(Object::as_i64) {
                assert!(out.insert((page, mcid)), "MCID {mcid} twice on a page");
            }
        }
    }
    out
}

/// The expected shape, from the markup blocks.
#[derive(Debug, PartialEq)]
enum Expect {
    Heading(u8, String),
    List(usize),
    /// header cells, then the cell count of every row.
    Table(Option<usize>, Vec<usize>),
    Facts(usize),
}

fn expected(blocks: &[Block]) -> (usize, Vec<Expect>, Vec<String>) {
    let mut paragraphs = 0;
    let mut shape = Vec::new();
    let mut langs = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        match &blocks[i] {
            Block::Marking(t)
            | Block::School(t)
            | Block::Municipality(t)
            | Block::Right(t)
            | Block::Small(t)
            | Block::Paragraph(t) => paragraphs += usize::from(!t.trim().is_empty()),
            Block::Lines(l) => paragraphs += usize::from(l.iter().any(|x| !x.trim().is_empty())),
            Block::Title(t) => shape.push(Expect::Heading(1, t.clone())),
            Block::Heading(t) => shape.push(Expect::Heading(2, t.clone())),
            Block::Bullet(_) => {
                let n = blocks[i..]
                    .iter()
                    .take_while(|b| matches!(b, Block::Bullet(_)))
                    .count();
                shape.push(Expect::List(n));
                i += n - 1;
            }
            Block::Fact { .. } => {
                let n = blocks[i..]
                    .iter()
                    .take_while(|b| matches!(b, Block::Fact { .. }))
                    .count();
                shape.push(Expect::Facts(n));
                i += n - 1;
            }
            Block::Table(t) => shape.push(Expect::Table(
                t.header.as_ref().map(Vec::len),
                t.rows.iter().map(Vec::len).collect(),
            )),
            Block::Lang(code) if !code.is_empty() => langs.push(code.clone()),
            Block::Lang(_) | Block::Running(_) | Block::Space => {}
        }
        i += 1;
    }
    (paragraphs, shape, langs)
}

/// Checks one PDF against the markup it came from; returns the number of pages.
fn check(what: &str, bytes: &[u8], blocks: &[Block], language: &str, title: &str) -> usize {
    let doc = Document::load_mem(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    let catalog = doc.catalog().expect("catalog");
    let mark = catalog
        .get(b"MarkInfo")
        .ok()
        .and_then(|m| dict(&doc, m))
        .expect("MarkInfo");
    assert_eq!(
        mark.get(b"Marked").and_then(Object::as_bool).ok(),
        Some(true),
        "{what}"
    );
    assert_eq!(
        catalog.get(b"Lang").map(|l| text(&doc, l)).ok().as_deref(),
        Some(language),
        "{what}"
    );
    let prefs = catalog
        .get(b"ViewerPreferences")
        .ok()
        .and_then(|v| dict(&doc, v))
        .unwrap_or_else(|| panic!("{what}: no ViewerPreferences"));
    assert_eq!(
        prefs.get(b"DisplayDocTitle").and_then(Object::as_bool).ok(),
        Some(true),
        "{what}"
    );
    let info = doc
        .trailer
        .get(b"Info")
        .ok()
        .and_then(|i| dict(&doc, i))
        .expect("Info");
    assert_eq!(
        info.get(b"Title").map(|t| text(&doc, t)).ok().as_deref(),
        Some(title),
        "{what}"
    );

    let root = catalog
        .get(b"StructTreeRoot")
        .ok()
        .and_then(|r| dict(&doc, r))
        .unwrap_or_else(|| panic!("{what}: not tagged"));
    let mut roles = BTreeMap::new();
    if let Some(rm) = root.get(b"RoleMap").ok().and_then(|r| dict(&doc, r)) {
        for (k, v) in rm.iter() {
            roles.insert(String::from_utf8_lossy(k).into_owned(), text(&doc, v));
        }
    }
    let tree = walk(&doc, root, &roles, None);
    let mut all = Vec::new();
    tree.all(&mut all);

    // Every MCID in the content is in the tree exactly once, and only those.
    let mut in_tree = BTreeSet::new();
    for e in &all {
        for m in &e.mcids {
            assert!(in_tree.insert(*m), "{what}: MCID {m:?} has two parents");
        }
    }
    assert_eq!(
        in_tree,
        content_mcids(&doc),
        "{what}: tagged content and the tree disagree"
    );

    let (paragraphs, shape, langs) = expected(blocks);
    let ps = all
        .iter()
        .filter(|e| e.role == "P" && e.has_content())
        .count();
    assert_eq!(ps, paragraphs, "{what}: paragraphs");

    // Headings, lists and tables in markup (= reading) order.
    let mut found = Vec::new();
    for e in &all {
        match e.role.as_str() {
            "H1" | "H2" => found.push(Expect::Heading(
                if e.role == "H1" { 1 } else { 2 },
                e.title.clone().unwrap_or_default(),
            )),
            "L" => {
                for li in &e.kids {
                    assert_eq!(li.role, "LI", "{what}");
                    let roles: Vec<&str> = li.kids.iter().map(|k| k.role.as_str()).collect();
                    assert_eq!(roles, ["Lbl", "LBody"], "{what}");
                    assert!(
                        li.kids.iter().all(Elem::has_content),
                        "{what}: empty list item"
                    );
                }
                found.push(Expect::List(e.kids.len()));
            }
            "Table" => {
                let head = e.kids_of("THead");
                assert!(
                    head.len() <= 1,
                    "{what}: the header is in the structure once"
                );
                let body = e.kids_of("TBody");
                let rows: Vec<&Elem> = body.iter().flat_map(|b| b.kids_of("TR")).collect();
                let row_headers = rows.iter().all(|r| {
                    r.kids.len() == 2
                        && r.kids[0].role == "TH"
                        && r.kids[0].scope.as_deref() == Some("Row")
                        && r.kids[1].role == "TD"
                });
                if head.is_empty() && !rows.is_empty() && row_headers {
                    found.push(Expect::Facts(rows.len()));
                    continue;
                }
                let header = head.first().map(|h| {
                    let tr = h.kids_of("TR");
                    assert_eq!(tr.len(), 1, "{what}");
                    let ths = tr[0].kids_of("TH");
                    assert_eq!(ths.len(), tr[0].kids.len(), "{what}");
                    for th in &ths {
                        assert_eq!(th.scope.as_deref(), Some("Column"), "{what}: TH scope");
                        // Its content is on one page: the copies on later pages are artifacts.
                        let pages: BTreeSet<ObjectId> = th.mcids.iter().map(|m| m.0).collect();
                        assert!(pages.len() <= 1, "{what}: a header cell spans pages");
                    }
                    ths.len()
                });
                let cells = rows
                    .iter()
                    .map(|r| {
                        assert!(r.kids.iter().all(|c| c.role == "TD"), "{what}");
                        r.kids.len()
                    })
                    .collect();
                found.push(Expect::Table(header, cells));
            }
            "Figure" => assert!(
                e.alt.as_deref().is_some_and(|a| !a.trim().is_empty()),
                "{what}: a figure without alternative text"
            ),
            _ => {}
        }
    }
    assert_eq!(found, shape, "{what}: structure against markup");

    // The document's language may be repeated on the root element; any other
    // is a passage's.
    let tagged_langs: BTreeSet<String> = all
        .iter()
        .filter_map(|e| e.lang.clone())
        .filter(|l| l != language)
        .collect();
    let want: BTreeSet<String> = langs.into_iter().collect();
    assert_eq!(tagged_langs, want, "{what}: passage languages");
    doc.get_pages().len()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_document_type_is_tagged_with_its_structure() {
    let table = RoutingTable::load_dir(&root().join("routing-rules")).expect("table");
    let renderer = Renderer::load(&root().join("templates")).expect("templates");
    let mut paths: Vec<_> = std::fs::read_dir(root().join("examples/events"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut types = BTreeSet::new();
    for path in &paths {
        let body = std::fs::read(path).expect("read");
        let routed = route(validate(&body, 1 << 20).expect("valid"), &table).expect("routed");
        types.insert(routed.event().document_type().key().to_string());
        let what = path.display().to_string();
        let text = renderer.render_markup(&routed).expect("markup");
        let blocks = markup::parse(&text).expect("parses");
        let pdf = renderer
            .render_pdf(&routed)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let title = routed.event().event().title.clone();
        check(&what, &pdf.bytes, &blocks, "nb-NO", &title);
    }
    assert_eq!(
        types.len(),
        39,
        "every document type of docs/domain.md §8 has an example"
    );
}

#[test]
fn a_table_over_many_pages_has_its_header_once_in_the_structure() {
    let table = RoutingTable::load_dir(&root().join("routing-rules")).expect("table");
    let renderer = Renderer::load(&root().join("templates")).expect("templates");
    let mut ev: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("examples/events/remarks_report.json")).expect("read"),
    )
    .expect("json");
    let rows: Vec<serde_json::Value> = (0..300)
        .map(|i| serde_json::json!({"date": "2026-09-01", "category": "Orden", "description": format!("Rad {i}")}))
        .collect();
    ev["fields"]["rows"] = serde_json::json!(rows);
    let body = serde_json::to_vec(&ev).expect("json");
    let routed = route(validate(&body, 1 << 20).expect("valid"), &table).expect("routed");
    let blocks = markup::parse(&renderer.render_markup(&routed).expect("markup")).expect("parses");
    let pdf = renderer.render_pdf(&routed).expect("renders");
    let title = routed.event().event().title.clone();
    let pages = check("300-row report", &pdf.bytes, &blocks, "nb-NO", &title);
    assert!(pages >= 5, "{pages} pages");
}

#[test]
fn a_sami_passage_is_tagged_with_its_language() {
    use dokflyt::config::letters::{LetterSettings, Override, Sami};
    let table = RoutingTable::load_dir(&root().join("routing-rules")).expect("table");
    let body =
        std::fs::read(root().join("examples/events/general_information_sami.json")).expect("read");
    let mut letters = LetterSettings::default();
    letters.municipalities.insert(
        "5430".into(),
        Override {
            language: None,
            sami: Some(Sami::North),
            ..Override::default()
        },
    );
    for (letters, with_sami) in [(letters, true), (LetterSettings::default(), false)] {
        let renderer = Renderer::load_with(&root().join("templates"), letters).expect("templates");
        let routed = route(validate(&body, 1 << 20).expect("valid"), &table).expect("routed");
        let blocks =
            markup::parse(&renderer.render_markup(&routed).expect("markup")).expect("parses");
        assert_eq!(
            blocks.contains(&Block::Lang("se".into())),
            with_sami,
            "Sámi text exactly where the municipality has a Sámi setting"
        );
        let pdf = renderer.render_pdf(&routed).expect("renders");
        let title = routed.event().event().title.clone();
        // check() compares the tagged passage languages with the markup's.
        check("Sámi-area letter", &pdf.bytes, &blocks, "nb-NO", &title);
        let doc = Document::load_mem(&pdf.bytes).expect("parses");
        let tagged_se = doc.objects.values().any(|o| {
            o.as_dict().is_ok_and(|d| {
                d.get(b"S").is_ok()
                    && d.get(b"Lang").map(|l| text(&doc, l)).ok().as_deref() == Some("se")
            })
        });
        assert_eq!(tagged_se, with_sami);
    }
}

#[test]
fn a_logo_letterhead_is_a_figure_with_alternative_text() {
    use dokflyt::config::letters::{LetterSettings, Override};
    let table = RoutingTable::load_dir(&root().join("routing-rules")).expect("table");
    let body = std::fs::read(root().join("examples/events/conduct_warning.json")).expect("read");
    let alt = "Fjellvik kommune, kommunevåpen";
    let with_logo = |alt: Option<&str>| {
        let mut letters = LetterSettings::default();
        letters.municipalities.insert(
            "4699".into(),
            Override {
                logo: Some(root().join("tests/fixtures/logo.png")),
                logo_alt: alt.map(str::to_string),
                ..Override::default()
            },
        );
        letters
    };
    // A logo without alternative text stops start-up.
    assert!(Renderer::load_with(&root().join("templates"), with_logo(None)).is_err());

    for (letters, logo) in [
        (with_logo(Some(alt)), true),
        (LetterSettings::default(), false),
    ] {
        let renderer = Renderer::load_with(&root().join("templates"), letters).expect("templates");
        let routed = route(validate(&body, 1 << 20).expect("valid"), &table).expect("routed");
        let blocks =
            markup::parse(&renderer.render_markup(&routed).expect("markup")).expect("parses");
        let pdf = renderer
            .render_pdf(&routed)
            .expect("renders under PDF/A-2a + UA-1");
        let title = routed.event().event().title.clone();
        check("logo letter", &pdf.bytes, &blocks, "nb-NO", &title);
        assert_eq!(pdf.pages, 1, "the letter still fits one page");

        let doc = Document::load_mem(&pdf.bytes).expect("parses");
        let images = doc
            .objects
            .values()
            .filter(|o| {
                o.as_stream().is_ok_and(|s| {
                    s.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Image")
                        && s.dict.get(b"SMask").is_ok()
                })
            })
            .count();
        assert_eq!(images, usize::from(logo), "the logo (with its soft mask)");
        let catalog = doc.catalog().expect("catalog");
        let root_dict = dict(&doc, catalog.get(b"StructTreeRoot").expect("tagged")).expect("root");
        let tree = walk(&doc, root_dict, &BTreeMap::new(), None);
        let mut all = Vec::new();
        tree.all(&mut all);
        let figures: Vec<&&Elem> = all.iter().filter(|e| e.role == "Figure").collect();
        assert_eq!(figures.len(), usize::from(logo));
        if logo {
            assert_eq!(figures[0].alt.as_deref(), Some(alt));
            assert!(figures[0].has_content());
        }
    }
}
