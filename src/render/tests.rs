//! Renderer tests: the real templates in `templates/`, run through the real
//! validate and route stages, checked with poppler's `pdftotext` and `pdfinfo`.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::event::complete_national_id;

fn templates() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))
}

fn renderer() -> Renderer {
    Renderer::load(templates()).expect("the shipped templates load")
}

struct Ids {
    pupil: String,
    guardian: String,
    protected_guardian: String,
}

fn ids() -> Ids {
    Ids {
        pupil: complete_national_id("040313456").expect("check digits exist"),
        guardian: complete_national_id("120580123").expect("check digits exist"),
        protected_guardian: complete_national_id("230782234").expect("check digits exist"),
    }
}

fn conduct_warning(body: Vec<String>) -> serde_json::Value {
    let ids = ids();
    json!({
        "event_id": "6f1c2a7e-5b8d-4c1e-9a3f-2d7b8e9c0a11",
        "schema_version": 1,
        "occurred_at": "2026-11-23T09:15:00+01:00",
        "municipality": {"number": "4601", "name": "Bergen"},
        "school": {"id": "skole-17", "name": "Fjellsiden skole", "org_number": "974600951"},
        "document_type": "conduct_warning",
        "direction": "out",
        "title": "Varsel om fare for nedsatt karakter i orden og oppførsel",
        "fields": {
            "body": body,
            "term": "1. termin 2026/2027",
            "subject": "oppførsel",
            "reasons": [
                "Gjentatt bruk av mobiltelefon i undervisningstiden etter tilsnakk",
                "Uønsket språkbruk overfor medelever i friminuttene"
            ],
            "measures": ["Ukentlig samtale med kontaktlærer", "Ny plass i klasserommet"],
            "contact": "Kontaktlærer Øyvind Bråthen, tlf. 55 56 00 00",
            "national_id": ids.pupil
        },
        "pupil": {"id": "elev-1", "name": "Åsmund Ødegård Særheim", "birth_date": "2012-03-04",
                  "grade_level": 9, "class": "9B"},
        "recipients": [
            {"kind": "guardian", "id": "f-1", "name": "Kjærsti Særheim", "national_id": ids.guardian,
             "parental_responsibility": true, "digital_mail": true,
             "address": {"street": "Blåbærveien 12", "postal_code": "5009", "city": "Bergen"}},
            {"kind": "guardian", "id": "f-2", "name": "Bjørn Ødegård", "national_id": ids.protected_guardian,
             "parental_responsibility": true, "protected_address": true,
             "address": {"street": "Hemmeligveien 99", "postal_code": "5020", "city": "Skjultvik"}}
        ],
        "sender": {"user_id": "u-9", "name": "Øyvind Bråthen", "role": "kontaktlaerer", "initials": "ØB"}
    })
}

fn routed(event: &serde_json::Value) -> RoutedDocument {
    let bytes = serde_json::to_vec(event).unwrap();
    let ev = crate::document::ValidatedEvent::parse(&bytes, 1 << 20).expect("the event is valid");
    let table = crate::rules::RoutingTable::load_dir(Path::new("routing-rules")).unwrap();
    let decision = table.decide(&ev).expect("it routes");
    RoutedDocument::new(ev, decision).expect("a routed document")
}

fn poppler(tool: &str, pdf: &[u8], extra: &[&str]) -> String {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(pdf).unwrap();
    file.flush().unwrap();
    let mut cmd = Command::new(tool);
    cmd.args(extra).arg(file.path());
    if tool == "pdftotext" {
        cmd.arg("-");
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{tool} (poppler-utils) must be installed: {e}"));
    assert!(out.status.success(), "{tool} failed: {:?}", out);
    String::from_utf8(out.stdout).unwrap()
}

fn default_body() -> Vec<String> {
    vec![
        "Åsmund har i løpet av høsten flere ganger brutt skolens ordensreglement. Vi har snakket med ham om dette, og vi ser at han ønsker å gjøre det bra.".into(),
        "Vi tror at et godt samarbeid mellom hjem og skole vil hjelpe ham videre.".into(),
    ]
}

#[test]
fn renderer_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync + std::fmt::Debug>() {}
    assert_send_sync::<Renderer>();
    let r = Arc::new(renderer());
    assert!(format!("{r:?}").contains("letters/conduct_warning.tera"));
}

#[test]
fn conduct_warning_is_a_one_page_a4_letter_with_everything_a_guardian_needs() {
    let r = renderer();
    let doc = routed(&conduct_warning(default_body()));
    let pdf = r.render_pdf(&doc).expect("it renders");
    assert_eq!(pdf.pages, 1);
    assert_eq!(pdf.sha256.len(), 64);

    let info = poppler("pdfinfo", &pdf.bytes, &[]);
    assert!(info.contains("Pages:           1"), "{info}");
    assert!(info.contains("595.276 x 841.89 pts (A4)"), "{info}");

    let text = poppler("pdftotext", &pdf.bytes, &["-layout"]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "Fjellsiden skole",
        "Bergen kommune",
        "Unntatt offentlighet, jf. Offl. § 13 jf. fvl. § 13 første ledd nr. 1",
        "Kjærsti Særheim",
        "Blåbærveien 12",
        "5009 Bergen",
        "Bjørn Ødegård",
        "23. november 2026",
        "Vår ref.: 6f1c2a7e-5b8d-4c1e-9a3f-2d7b8e9c0a11",
        "Varsel om fare for nedsatt karakter i orden og oppførsel",
        "Åsmund Ødegård Særheim, født 4. mars 2012",
        "orden og oppførsel",
        "1. termin 2026/2027",
        "Gjentatt bruk av mobiltelefon",
        "Ukentlig samtale med kontaktlærer",
        "Øyvind Bråthen",
        "Kontaktlærer",
        "forskrift til opplæringslova § 3-7",
        "Dokumentet er elektronisk godkjent og har derfor ingen signatur.",
        "Side 1 av 1",
        "høsten",
        "ordensreglement",
    ] {
        assert!(flat.contains(expected), "missing «{expected}» in:\n{text}");
    }
    let ids = ids();
    for secret in [
        ids.pupil.as_str(),
        ids.guardian.as_str(),
        ids.protected_guardian.as_str(),
        "Hemmeligveien",
        "Skjultvik",
        "5020",
    ] {
        assert!(
            !flat.contains(secret),
            "«{secret}» must never be printed:\n{text}"
        );
    }
    // Also not hidden in the raw bytes (metadata, uncompressed strings).
    for secret in [ids.pupil.as_str(), ids.guardian.as_str(), "Hemmeligveien"] {
        assert!(!pdf
            .bytes
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()));
    }
}

#[test]
fn rendering_is_deterministic() {
    let r = renderer();
    let doc = routed(&conduct_warning(default_body()));
    let a = r.render_pdf(&doc).unwrap();
    let b = r.render_pdf(&doc).unwrap();
    assert_eq!(a.sha256, b.sha256);
}

#[test]
fn a_long_body_flows_onto_numbered_pages() {
    let r = renderer();
    let para = "Dette er et langt avsnitt som gjentas for å fylle flere sider, med æøå og ÆØÅ i teksten slik at bredden måles med ekte glyfbredder.";
    let body: Vec<String> = (0..60).map(|i| format!("{i}: {para} {para}")).collect();
    let doc = routed(&conduct_warning(body));
    let pdf = r.render_pdf(&doc).unwrap();
    assert!(pdf.pages >= 2, "{} pages", pdf.pages);
    let info = poppler("pdfinfo", &pdf.bytes, &[]);
    assert!(
        info.contains(&format!("Pages:           {}", pdf.pages)),
        "{info}"
    );
    let text = poppler("pdftotext", &pdf.bytes, &[]);
    assert!(text.contains(&format!("Side 2 av {}", pdf.pages)), "{text}");
    assert!(
        text.contains(&format!("Side {0} av {0}", pdf.pages)),
        "{text}"
    );
    // The marking is on every page.
    assert_eq!(
        text.matches("Unntatt offentlighet").count(),
        pdf.pages as usize
    );
    assert!(text.contains("59: Dette er et langt avsnitt"));
    // Continuation pages say which letter they belong to.
    assert_eq!(
        text.matches("Fjellsiden skole – Vår ref.: 6f1c2a7e")
            .count(),
        pdf.pages as usize - 1,
        "{text}"
    );
}

#[test]
fn characters_beyond_the_nordic_alphabets_still_render() {
    // Cyrillic and Greek: the face has them, and the per-document subset
    // embeds exactly the glyphs used.
    let r = renderer();
    let mut ev = conduct_warning(default_body());
    ev["recipients"][0]["name"] = json!("Ольга Særheim");
    ev["fields"]["contact"] = json!("Ω-gruppen → kontaktlærer");
    let pdf = r.render_pdf(&routed(&ev)).unwrap();
    assert_eq!(pdf.pages, 1);
    let text = poppler("pdftotext", &pdf.bytes, &[]);
    assert!(text.contains("Ольга Særheim"), "{text}");
    assert!(text.contains("Ω-gruppen → kontaktlærer"), "{text}");
    let fonts = poppler("pdffonts", &pdf.bytes, &[]);
    assert!(fonts.contains("DejaVuSans"), "{fonts}");
}

#[test]
fn every_glyph_code_survives_the_content_stream() {
    // Glyph ids are written as two-byte codes in literal strings; with some 300
    // distinct characters the codes pass through every byte that needs escaping
    // there ( "(" ")" "\\" CR LF ). Each line must come back out intact.
    let r = renderer();
    let lines: Vec<String> = [
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789",
        "ÆØÅ æøå ÄÖ äö Áá Čč Đđ Ŋŋ Šš Ŧŧ Žž «» – € § @ # % & * + = ? ! ; :",
        "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ абвгдежзийклмнопрстуфхцчшщъыьэюя",
        "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ αβγδεζηθικλμνξοπρστυφχψω",
        "ĀāĂăĄąĆćĈĉĊċĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĲĳĴĵĶķĸĹĺĻļĽľĿŀŁł",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let pdf = r
        .render_pdf(&routed(&conduct_warning(lines.clone())))
        .unwrap();
    let text = poppler("pdftotext", &pdf.bytes, &["-layout"]);
    for line in &lines {
        assert!(text.contains(line.as_str()), "{line}\nnot in\n{text}");
    }
    check_pdfa(
        &pdf.bytes,
        "Varsel om fare for nedsatt karakter i orden og oppførsel",
        "Øyvind Bråthen",
        "2026-11-23T09:15:00+01:00",
    );
}

#[test]
fn a_type_without_its_own_template_uses_the_default() {
    // general_information is never sent by SvarUt nor archived, so it has no
    // template of its own; rendered anyway (a preview), it uses _default.tera.
    let r = renderer();
    let mut ev = conduct_warning(vec!["Skolen holder stengt fredag.".into()]);
    ev["document_type"] = json!("general_information");
    ev["title"] = json!("Informasjon om planleggingsdag");
    ev["sensitive"] = json!(false);
    ev["fields"] = json!({"body": ["Skolen holder stengt fredag."], "period": "1.–5. mars 2027"});
    let doc = routed(&ev);
    assert!(!doc.needs_pdf());
    assert!(!r.has_own_template(DocumentType::GeneralInformation));
    assert_eq!(
        r.template_for(DocumentType::GeneralInformation),
        DEFAULT_TEMPLATE
    );
    let markup = r.render_markup(&doc).unwrap();
    assert!(
        markup.contains("# Informasjon om planleggingsdag"),
        "{markup}"
    );
    let pdf = r.render_pdf(&doc).unwrap();
    let text = poppler("pdftotext", &pdf.bytes, &[]);
    assert!(text.contains("Skolen holder stengt fredag."), "{text}");
    assert!(text.contains("1.–5. mars 2027"), "{text}");
    assert!(text.contains("Side 1 av 1"), "{text}");
}

#[test]
fn producer_text_cannot_inject_markup_or_national_ids() {
    let r = renderer();
    let id = ids().guardian;
    let body = vec![
        "@marking Falsk\n# Ikke en tittel".to_string(),
        format!("Fødselsnummeret {id} skal aldri stå i et brev."),
    ];
    let doc = routed(&conduct_warning(body));
    let markup = r.render_markup(&doc).unwrap();
    assert!(!markup.contains("\n@marking Falsk"), "{markup}");
    assert!(!markup.contains(&id), "{markup}");
    assert!(markup.contains("[fødselsnummer fjernet]"), "{markup}");
}

#[test]
fn a_broken_template_stops_loading() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(templates(), dir.path());
    std::fs::write(
        dir.path().join("letters/grade_warning.tera"),
        "{% include \"partials/letterhead.tera\" %}\n@unknown x\n",
    )
    .unwrap();
    let err = Renderer::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("grade_warning") && err.contains("@unknown"),
        "{err}"
    );

    std::fs::write(dir.path().join("letters/grade_warning.tera"), "{{ nope(").unwrap();
    assert!(Renderer::load(dir.path()).is_err());
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Timing and size, not a pass/fail check:
/// `CARGO_TARGET_DIR=/work/main/target cargo test --release --lib render::tests::timing -- --ignored --nocapture`
#[test]
#[ignore]
fn timing() {
    let start = std::time::Instant::now();
    let r = renderer();
    println!("Renderer::load: {:?}", start.elapsed());
    let doc = routed(&conduct_warning(default_body()));
    let first = r.render_pdf(&doc).unwrap();
    std::fs::write(
        std::env::temp_dir().join("dokflyt-conduct-warning.pdf"),
        &first.bytes,
    )
    .unwrap();
    let n = 200;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let pdf = r.render_pdf(&doc).unwrap();
        assert_eq!(pdf.pages, first.pages);
    }
    let per = start.elapsed() / n;
    println!(
        "render_pdf: {per:?} per document over {n} renders; {} bytes, {} page(s)",
        first.bytes.len(),
        first.pages
    );
    // Where the time goes.
    let start = std::time::Instant::now();
    for _ in 0..n {
        r.render_markup(&doc).unwrap();
    }
    let t_markup = start.elapsed() / n;
    let text = r.render_markup(&doc).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..n {
        let blocks = markup::parse(&text).unwrap();
        layout::layout(&blocks, &r.metrics, None);
    }
    let t_layout = start.elapsed() / n;
    let blocks = markup::parse(&text).unwrap();
    let pages = layout::layout(&blocks, &r.metrics, None);
    let info = pdf::DocInfo {
        title: "t",
        author: "a",
        subject: "s",
        identifier: "i",
        created: doc.event().event().occurred_at,
        language: "nb-NO",
        logo: None,
    };
    let start = std::time::Instant::now();
    for _ in 0..n {
        pdf::assemble(&pages, &blocks, &r.fonts, &info).unwrap();
    }
    let t_pdf = start.elapsed() / n;
    println!(
        "  context+template+scrub {t_markup:?}, parse+layout {t_layout:?}, PDF assembly {t_pdf:?}"
    );

    // A letter with Cyrillic in it (more glyphs in the subset).
    let mut ev = conduct_warning(default_body());
    ev["recipients"][0]["name"] = json!("Ольга Særheim");
    let slow = routed(&ev);
    let pdf = r.render_pdf(&slow).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..n {
        r.render_pdf(&slow).unwrap();
    }
    println!(
        "  per-document subset path: {:?} per document; {} bytes",
        start.elapsed() / n,
        pdf.bytes.len()
    );

    // Throughput with one shared renderer on every core.
    let r = Arc::new(r);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = 500;
    let start = std::time::Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let r = r.clone();
            let doc = doc.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    r.render_pdf(&doc).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = (threads * per_thread) as f64;
    println!(
        "  {threads} threads: {:.0} documents/s",
        total / start.elapsed().as_secs_f64()
    );
}

/// Writes sample PDFs to the temp directory for a human to look at:
/// `cargo test --lib render::tests::write_samples -- --ignored --nocapture`
#[test]
#[ignore]
fn write_samples() {
    let r = renderer();
    let para = "Dette er et langt avsnitt som gjentas for å fylle flere sider.";
    let long: Vec<String> = (0..40)
        .map(|i| format!("{i}: {para} {para} {para}"))
        .collect();
    for (name, body) in [("one-page", default_body()), ("multi-page", long)] {
        let pdf = r.render_pdf(&routed(&conduct_warning(body))).unwrap();
        let path = std::env::temp_dir().join(format!("dokflyt-conduct-warning-{name}.pdf"));
        std::fs::write(&path, &pdf.bytes).unwrap();
        println!("{} ({} pages)", path.display(), pdf.pages);
    }
}

/// The PDF/A-2a + PDF/UA-1 identification and structure, read by an
/// independent parser (lopdf), in one file.
fn check_pdfa(bytes: &[u8], title: &str, author: &str, occurred: &str) {
    use lopdf::Object;
    assert!(bytes.starts_with(b"%PDF-1.7\n%"), "header");
    assert!(bytes[10..14].iter().all(|&b| b >= 128), "binary comment");
    let doc = lopdf::Document::load_mem(bytes).expect("lopdf parses the output");
    assert!(doc.trailer.get(b"Encrypt").is_err(), "no encryption");
    let ids = doc.trailer.get(b"ID").and_then(Object::as_array).unwrap();
    assert_eq!(ids.len(), 2);

    let catalog = doc.catalog().unwrap();
    for forbidden in [b"AA".as_slice(), b"Names", b"OpenAction"] {
        assert!(catalog.get(forbidden).is_err(), "no actions or JavaScript");
    }
    // XMP: uncompressed, well-formed, PDF/A-2a and PDF/UA-1 identification, the document's values.
    let meta_id = catalog
        .get(b"Metadata")
        .and_then(Object::as_reference)
        .unwrap();
    let meta = doc.get_object(meta_id).and_then(Object::as_stream).unwrap();
    assert_eq!(
        meta.dict.get(b"Type").unwrap().as_name().unwrap(),
        b"Metadata"
    );
    assert_eq!(
        meta.dict.get(b"Subtype").unwrap().as_name().unwrap(),
        b"XML"
    );
    assert!(
        meta.dict.get(b"Filter").is_err(),
        "XMP must be uncompressed"
    );
    let xmp = String::from_utf8(meta.content.clone()).unwrap();
    for expected in [
        "<pdfaid:part>2</pdfaid:part>".to_string(),
        "<pdfaid:conformance>A</pdfaid:conformance>".to_string(),
        "<pdfuaid:part>1</pdfuaid:part>".to_string(),
        format!(
            "<rdf:li xml:lang=\"x-default\">{}</rdf:li>",
            title
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        ),
        format!("<dc:creator><rdf:Seq><rdf:li>{author}</rdf:li>"),
        format!("<xmp:CreateDate>{occurred}</xmp:CreateDate>"),
        format!("<xmp:ModifyDate>{occurred}</xmp:ModifyDate>"),
    ] {
        assert!(xmp.contains(&expected), "missing {expected} in\n{xmp}");
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(xmp.as_bytes()).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg(file.path())
        .output()
        .expect("xmllint (libxml2-utils) must be installed");
    assert!(out.status.success(), "XMP not well-formed: {out:?}");

    // Info matches the XMP.
    let info_id = doc
        .trailer
        .get(b"Info")
        .and_then(Object::as_reference)
        .unwrap();
    let info = doc.get_dictionary(info_id).unwrap();
    let text = |k: &[u8]| lopdf::decode_text_string(info.get(k).unwrap()).unwrap();
    assert_eq!(text(b"Title"), title);
    assert_eq!(text(b"Author"), author);
    let producer = text(b"Producer");
    assert!(xmp.contains(&format!("<pdf:Producer>{producer}</pdf:Producer>")));
    let creator = text(b"Creator");
    assert!(xmp.contains(&format!("<xmp:CreatorTool>{creator}</xmp:CreatorTool>")));
    // D:YYYYMMDDHHmmSS+HH'mm (the closing apostrophe is optional, ISO 32000-1
    // 7.9.4) is the same instant as the XMP date.
    let d = occurred.replace(['-', ':', 'T'], "");
    let expected = format!("D:{}{}'{}", &d[..14], &d[14..17], &d[17..19]);
    assert_eq!(text(b"CreationDate").trim_end_matches('\''), expected);
    if info.get(b"ModDate").is_ok() {
        assert_eq!(text(b"ModDate").trim_end_matches('\''), expected);
    }
    assert!(info.get(b"GTS_PDFXVersion").is_err());

    // One sRGB output intent with an embedded ICC profile, /N 3.
    let intents = doc
        .dereference(catalog.get(b"OutputIntents").unwrap())
        .unwrap()
        .1
        .as_array()
        .unwrap();
    assert_eq!(intents.len(), 1);
    let intent = doc.dereference(&intents[0]).unwrap().1.as_dict().unwrap();
    assert_eq!(intent.get(b"S").unwrap().as_name().unwrap(), b"GTS_PDFA1");
    // krilla's vetted sRGB profile (it names the condition «sRGB», identifier «Custom»).
    assert_eq!(
        intent.get(b"OutputCondition").unwrap().as_str().unwrap(),
        b"sRGB"
    );
    assert!(intent.get(b"OutputConditionIdentifier").is_ok());
    let icc_ref = intent.get(b"DestOutputProfile").unwrap();
    let icc = doc.dereference(icc_ref).unwrap().1.as_stream().unwrap();
    assert_eq!(icc.dict.get(b"N").unwrap().as_i64().unwrap(), 3);
    let profile = icc.decompressed_content().unwrap();
    assert_eq!(&profile[36..40], b"acsp");
    assert_eq!(&profile[16..20], b"RGB ");

    // Every font embedded; no transparency groups, no JavaScript anywhere.
    let mut fonts = 0;
    for object in doc.objects.values() {
        let dict = match object {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &s.dict,
            _ => continue,
        };
        assert!(dict.get(b"JS").is_err() && dict.get(b"JavaScript").is_err());
        assert!(dict.get(b"Group").is_err(), "no transparency group");
        assert!(dict.get(b"Encrypt").is_err());
        if dict.get(b"Type").and_then(Object::as_name).ok() == Some(b"FontDescriptor") {
            fonts += 1;
            assert!(
                dict.get(b"FontFile2").is_ok() || dict.get(b"FontFile3").is_ok(),
                "font not embedded: {dict:?}"
            );
        }
        if dict.get(b"Type").and_then(Object::as_name).ok() == Some(b"Font") {
            let sub = dict.get(b"Subtype").and_then(Object::as_name).unwrap();
            assert!(
                sub == b"Type0" || dict.get(b"FontDescriptor").is_ok(),
                "a font without a descriptor: {dict:?}"
            );
        }
    }
    assert!(fonts >= 2, "both faces have descriptors");
    check_embedded_fonts(&doc);

    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    let out = Command::new("qpdf")
        .arg("--check")
        .arg(file.path())
        .output()
        .expect("qpdf must be installed");
    assert!(out.status.success(), "qpdf --check: {out:?}");
}

/// Every embedded font program, read by an independent TrueType parser
/// (ttf-parser): it parses, its glyph count matches the `/W` array, each `/W`
/// entry is the program's own advance (PDF/A-2 6.2.11.5: consistent widths), and
/// each glyph that `ToUnicode` maps to a character has the outline that character
/// has in the shipped font (the subset's renumbering and hint stripping kept the
/// shapes).
fn check_embedded_fonts(doc: &lopdf::Document) {
    use lopdf::Object;
    let shipped = |name: &str| {
        let file = if name.contains("Bold") {
            "DejaVuSans-Bold.ttf"
        } else {
            "DejaVuSans.ttf"
        };
        std::fs::read(templates().join("fonts").join(file)).unwrap()
    };
    let mut checked = 0;
    for object in doc.objects.values() {
        let Ok(font) = object.as_dict() else { continue };
        if font.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Type0") {
            continue;
        }
        let base = font.get(b"BaseFont").and_then(Object::as_name).unwrap();
        let base = String::from_utf8_lossy(base).to_string();
        assert_eq!(base.as_bytes()[6], b'+', "subset tag in {base}");
        let descendants = font
            .get(b"DescendantFonts")
            .and_then(Object::as_array)
            .unwrap();
        let cid = doc
            .dereference(&descendants[0])
            .unwrap()
            .1
            .as_dict()
            .unwrap();
        let descriptor = doc
            .dereference(cid.get(b"FontDescriptor").unwrap())
            .unwrap()
            .1
            .as_dict()
            .unwrap();
        let file = doc
            .dereference(descriptor.get(b"FontFile2").unwrap())
            .unwrap()
            .1
            .as_stream()
            .unwrap();
        let program = if file.dict.get(b"Filter").is_ok() {
            file.decompressed_content().unwrap()
        } else {
            file.content.clone()
        };
        if let Ok(l) = file.dict.get(b"Length1") {
            assert_eq!(l.as_i64().unwrap() as usize, program.len());
        }
        let face = ttf_parser::Face::parse(&program, 0)
            .unwrap_or_else(|e| panic!("{base}: the embedded program does not parse: {e}"));
        let scale = 1000.0 / f32::from(face.units_per_em());

        // /W: `c [w1 w2 …]` or `c_first c_last w`; every subset glyph has its
        // program's own advance (PDF/A-2 6.2.11.5: consistent widths).
        let number = |o: &Object| match o {
            Object::Integer(i) => *i as f64,
            Object::Real(r) => f64::from(*r),
            other => panic!("width {other:?}"),
        };
        let w = cid.get(b"W").and_then(Object::as_array).unwrap();
        let mut widths: std::collections::BTreeMap<i64, f64> = Default::default();
        let mut k = 0;
        while k < w.len() {
            let first = w[k].as_i64().unwrap();
            if let Ok(list) = w[k + 1].as_array() {
                for (j, v) in list.iter().enumerate() {
                    widths.insert(first + j as i64, number(v));
                }
                k += 2;
            } else {
                let last = w[k + 1].as_i64().unwrap();
                for g in first..=last {
                    widths.insert(g, number(&w[k + 2]));
                }
                k += 3;
            }
        }
        // Glyphs only reached as parts of composite glyphs (never shown by
        // themselves) may be left out; every listed one matches.
        assert!(
            widths.len() <= usize::from(face.number_of_glyphs()),
            "{base}"
        );
        for (&gid, &width) in &widths {
            let advance = face
                .glyph_hor_advance(ttf_parser::GlyphId(gid as u16))
                .unwrap();
            let expected = (f32::from(advance) * scale).round() as i64;
            assert_eq!(width.round() as i64, expected, "{base}: glyph {gid}");
        }

        // Outlines: each mapped glyph against the shipped font's glyph for the
        // same character.
        let original_bytes = shipped(&base);
        let original = ttf_parser::Face::parse(&original_bytes, 0).unwrap();
        let cmap = doc
            .dereference(font.get(b"ToUnicode").unwrap())
            .unwrap()
            .1
            .as_stream()
            .unwrap()
            .decompressed_content()
            .unwrap();
        let cmap = String::from_utf8(cmap).unwrap();
        let mut mapped = 0;
        let mut in_bfchar = false;
        for line in cmap.lines() {
            if line.ends_with("beginbfchar") {
                in_bfchar = true;
                continue;
            }
            if line.starts_with("endbfchar") {
                in_bfchar = false;
            }
            assert!(
                !line.ends_with("beginbfrange"),
                "{base}: bfrange not read here"
            );
            let Some((code, text)) = line.split_once("> <").filter(|_| in_bfchar) else {
                continue;
            };
            let gid = u16::from_str_radix(code.trim_start_matches('<'), 16).unwrap();
            let units: Vec<u16> = text
                .trim_end_matches('>')
                .as_bytes()
                .chunks(4)
                .map(|c| u16::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
                .collect();
            let c = char::decode_utf16(units).next().unwrap().unwrap();
            assert!(
                widths.contains_key(&i64::from(gid)),
                "{base}: shown glyph {gid} has no width"
            );
            assert_ne!(gid, 0, "{base}: .notdef is mapped (drawn): {line}");
            let theirs = original.glyph_index(c).unwrap();
            assert_eq!(
                face.glyph_bounding_box(ttf_parser::GlyphId(gid)),
                original.glyph_bounding_box(theirs),
                "{base}: glyph {gid} for {c:?}"
            );
            assert_eq!(
                face.glyph_hor_advance(ttf_parser::GlyphId(gid)),
                original.glyph_hor_advance(theirs)
            );
            mapped += 1;
        }
        assert!(mapped > 0, "{base}: ToUnicode maps nothing");
        assert_eq!(
            mapped,
            widths.keys().filter(|&&g| g != 0).count(),
            "{base}: every shown glyph (each has a width; .notdef is only listed) has a ToUnicode entry"
        );
        checked += 1;
    }
    assert!(checked >= 2, "both faces checked");

    // No .notdef on any page: every text operand is two-byte glyph codes
    // (Identity-H), none of them 0.
    for (_, page) in doc.get_pages() {
        let content = doc.get_and_decode_page_content(page).unwrap();
        for op in &content.operations {
            let strings: Vec<&[u8]> = match op.operator.as_str() {
                "Tj" | "'" | "\"" => op.operands.iter().filter_map(|o| o.as_str().ok()).collect(),
                "TJ" => op
                    .operands
                    .iter()
                    .filter_map(|o| o.as_array().ok())
                    .flatten()
                    .filter_map(|o| o.as_str().ok())
                    .collect(),
                _ => continue,
            };
            for s in strings {
                assert_eq!(s.len() % 2, 0, "two-byte codes");
                assert!(s.chunks(2).all(|c| c != [0, 0]), "a .notdef glyph is drawn");
            }
        }
    }
}

#[test]
fn the_output_is_pdf_a_2a_and_pdf_ua_1() {
    let r = renderer();
    let title = "Varsel om fare for nedsatt karakter i orden og oppførsel";
    // Nordic text, other scripts, one and many pages, markup characters in the title.
    let mut cyrillic = conduct_warning(default_body());
    cyrillic["recipients"][0]["name"] = json!("Ольга Særheim");
    let long: Vec<String> = (0..60)
        .map(|i| {
            format!("{i}: Et langt avsnitt med æøå og ŋ š ŧ ž á č đ, gjentatt for å fylle sider.")
        })
        .collect();
    let mut escaped = conduct_warning(default_body());
    escaped["title"] = json!("Varsel <om> «orden» & oppførsel");
    // The Sámi letters survive in the long one.
    let pdf = r
        .render_pdf(&routed(&conduct_warning(long.clone())))
        .unwrap();
    let text = poppler("pdftotext", &pdf.bytes, &[]);
    assert!(text.contains("æøå og ŋ š ŧ ž á č đ"), "{text}");
    for (ev, title) in [
        (conduct_warning(default_body()), title),
        (cyrillic, title),
        (conduct_warning(long), title),
        (escaped, "Varsel <om> «orden» & oppførsel"),
    ] {
        let pdf = r.render_pdf(&routed(&ev)).unwrap();
        check_pdfa(
            &pdf.bytes,
            title,
            "Øyvind Bråthen",
            "2026-11-23T09:15:00+01:00",
        );
    }
}

/// A copy of the shipped templates with `letters/grade_warning.tera` replaced.
fn templates_with_grade_warning(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(templates(), dir.path());
    std::fs::write(dir.path().join("letters/grade_warning.tera"), text).unwrap();
    dir
}

#[test]
fn sandbox_get_env_refuses() {
    // A variable only this test reads.
    std::env::set_var("DOKFLYT_TEST_SECRET", "hemmelig-passord");
    let dir = templates_with_grade_warning(
        "{% include \"partials/letterhead.tera\" %}\n. {{ get_env(name=\"DOKFLYT_TEST_SECRET\") }}\n",
    );
    let err = Renderer::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("get_env is disabled"), "{err}");
    assert!(err.contains("grade_warning"), "{err}");
    assert!(!err.contains("hemmelig-passord"), "{err}");
    // Also with a default: the function refuses, it does not fall back.
    let mut tera = sandboxed_tera();
    tera.add_raw_template("t.tera", "{{ get_env(name=\"HOME\", default=\"x\") }}")
        .unwrap();
    let err = tera.render("t.tera", &tera::Context::new()).unwrap_err();
    assert!(
        tera_error_chain(&err).contains("get_env is disabled"),
        "{err:?}"
    );
}

#[test]
fn sandbox_includes_cannot_leave_the_templates_directory() {
    for target in [
        "../Cargo.toml",
        "../../Cargo.toml",
        "/etc/passwd",
        "partials/../../Cargo.toml",
    ] {
        let dir = templates_with_grade_warning(&format!(
            "{{% include \"partials/letterhead.tera\" %}}\n{{% include \"{target}\" %}}\n"
        ));
        let err = Renderer::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("grade_warning") && err.contains("not found"),
            "{target}: {err}"
        );
        assert!(
            !err.contains("[package]") && !err.contains("root:"),
            "{err}"
        );
    }
    // Nor through a symbolic link inside the directory.
    #[cfg(unix)]
    {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(templates(), dir.path());
        std::os::unix::fs::symlink(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
            dir.path().join("partials/cargo.tera"),
        )
        .unwrap();
        let err = Renderer::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("outside the templates directory"), "{err}");
        // Nor a symlinked directory outside with templates in it.
        std::fs::remove_file(dir.path().join("partials/cargo.tera")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("evil.tera"), "{{ 1 }}").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("partials/outside")).unwrap();
        let err = Renderer::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("outside the templates directory"), "{err}");
        // A symlinked fonts directory is fine.
        std::fs::remove_file(dir.path().join("partials/outside")).unwrap();
        let fonts = tempfile::tempdir().unwrap();
        copy_dir(&templates().join("fonts"), fonts.path());
        std::fs::remove_dir_all(dir.path().join("fonts")).unwrap();
        std::os::unix::fs::symlink(fonts.path(), dir.path().join("fonts")).unwrap();
        Renderer::load(dir.path()).expect("a symlinked fonts directory loads");
    }
}

#[test]
fn sandbox_html_templates_are_autoescaped_whatever_the_name() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(templates(), dir.path());
    std::fs::create_dir_all(dir.path().join("email")).unwrap();
    std::fs::write(
        dir.path().join("email/notice.html.tera"),
        "<p>{{ title }}</p>",
    )
    .unwrap();
    let r = Renderer::load(dir.path()).unwrap();
    let mut ctx = tera::Context::new();
    ctx.insert("title", "<script>alert('x')</script> & «Særheim»");
    let html = r.tera.render("email/notice.html.tera", &ctx).unwrap();
    assert_eq!(
        html,
        "<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2F;script&gt; &amp; «Særheim»</p>"
    );
    // Letter markup is not HTML: never escaped.
    let letter = r.tera.render("letters/_default.tera", &{
        let doc = routed(&conduct_warning(default_body()));
        context::build(
            doc.event().event(),
            doc.event().document_type(),
            doc.decision(),
            crate::config::letters::Language::Bokmal,
        )
    });
    assert!(letter.unwrap().contains("Åsmund Ødegård Særheim"));
}

#[test]
fn template_errors_name_the_template_line_and_missing_variable() {
    let dir = templates_with_grade_warning(
        "{% include \"partials/letterhead.tera\" %}\nline two\n. {{ f.nope | line }}\n",
    );
    let err = Renderer::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("letters/grade_warning.tera, line 3: variable `f.nope` is not in the context"),
        "{err}"
    );
    // In an included partial: the partial and its line.
    let dir = templates_with_grade_warning(
        "{% include \"partials/letterhead.tera\" %}\n{% include \"partials/extra.tera\" %}\n",
    );
    std::fs::write(
        dir.path().join("partials/extra.tera"),
        "one\n| {{ sender.phone }}\n",
    )
    .unwrap();
    let err = Renderer::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("partials/extra.tera, line 2: variable `sender.phone` is not in the context"),
        "{err}"
    );
    assert!(err.contains("letters/grade_warning.tera"), "{err}");
    // An unknown filter.
    let dir = templates_with_grade_warning("a\n\n{{ pupil.name | shout }}\n");
    let err = Renderer::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("letters/grade_warning.tera, line 3: filter `shout` does not exist"),
        "{err}"
    );
}

/// A remarks report (an archive document with a table) with `n` rows.
fn remarks_report(n: usize) -> serde_json::Value {
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events/remarks_report.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut ev = example;
    let rows: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let description = if i % 7 == 0 {
                format!("Rad {i}: forstyrret undervisningen gjentatte ganger etter tilsnakk, og ble bedt om å forlate klasserommet; samtale med kontaktlærer og foresatte er avtalt (æøå ŋ š ŧ)")
            } else {
                format!("Rad {i}: manglende utstyr til kroppsøving")
            };
            json!({
                "date": format!("2026-{:02}-{:02}", 8 + i % 5, 1 + i % 28),
                "category": if i % 2 == 0 { "Oppførsel" } else { "Orden" },
                "description": description,
            })
        })
        .collect();
    ev["fields"]["rows"] = json!(rows);
    ev
}

fn page_text(pdf: &[u8], page: u32) -> String {
    let p = page.to_string();
    poppler("pdftotext", pdf, &["-f", &p, "-l", &p])
}

#[test]
fn a_300_row_report_repeats_the_header_and_numbers_every_page() {
    let r = renderer();
    let doc = routed(&remarks_report(300));
    let pdf = r.render_pdf(&doc).unwrap();
    assert!(pdf.pages >= 5, "{} pages", pdf.pages);
    assert_eq!(
        r.render_pdf(&doc).unwrap().sha256,
        pdf.sha256,
        "deterministic"
    );
    let info = poppler("pdfinfo", &pdf.bytes, &[]);
    assert!(
        info.contains(&format!("Pages:           {}", pdf.pages)),
        "{info}"
    );
    for page in 1..=pdf.pages {
        let text = page_text(&pdf.bytes, page);
        assert!(
            text.contains(&format!("Side {page} av {}", pdf.pages)),
            "page {page}:\n{text}"
        );
        for header in ["Dato", "Kategori", "Beskrivelse"] {
            assert!(
                text.contains(header),
                "page {page} lacks «{header}»:\n{text}"
            );
        }
    }
    let all = poppler("pdftotext", &pdf.bytes, &[]);
    for i in [0, 1, 150, 299] {
        assert!(all.contains(&format!("Rad {i}:")), "row {i} missing");
    }
    // A wrapped row stays on one page: its first and last words share a page.
    for page in 1..=pdf.pages {
        let text = page_text(&pdf.bytes, page);
        let starts = text.matches("forstyrret undervisningen").count();
        let ends = text.matches("(æøå ŋ š ŧ)").count();
        assert_eq!(starts, ends, "a row split across pages on page {page}");
    }
}

#[test]
fn a_40_page_report_renders() {
    let r = renderer();
    let doc = routed(&remarks_report(1800));
    let start = std::time::Instant::now();
    let pdf = r.render_pdf(&doc).unwrap();
    let took = start.elapsed();
    assert!(pdf.pages >= 40, "{} pages", pdf.pages);
    let last = page_text(&pdf.bytes, pdf.pages);
    assert!(
        last.contains(&format!("Side {0} av {0}", pdf.pages)),
        "{last}"
    );
    assert!(last.contains("Beskrivelse"), "{last}");
    assert!(last.contains("Rad 1799:"), "{last}");
    check_pdfa(
        &pdf.bytes,
        "Anmerkningsrapport 2026/2027 – Aksel Moen",
        "Petter Sandvik",
        "2027-06-19T11:15:00+02:00",
    );
    println!("{} pages in {took:?}", pdf.pages);
}

fn example_event(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/events/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn flat_text(pdf: &[u8]) -> String {
    poppler("pdftotext", pdf, &["-layout"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn decisions_state_the_decision_legal_basis_and_right_to_appeal() {
    let r = renderer();
    for name in [
        "school_place_decision",
        "leave_decision",
        "sfo_decision",
        "sfo_change_decision",
        "sfo_termination_decision",
        "sfo_termination_by_municipality",
        "school_transport_decision",
    ] {
        let ev = example_event(name);
        let doc = routed(&ev);
        assert_eq!(
            r.template_for(doc.event().document_type()),
            format!("letters/{name}.tera")
        );
        let pdf = r.render_pdf(&doc).unwrap();
        let text = flat_text(&pdf.bytes);
        let f = &ev["fields"];
        let appeal_to = f["appeal_to"].as_str().unwrap();
        for expected in [
            ev["title"].as_str().unwrap().to_string(),
            f["decision"].as_str().unwrap().to_string(),
            f["legal_basis_text"].as_str().unwrap().to_string(),
            "Klagerett".to_string(),
            format!(
                "Dere kan klage på vedtaket. Fristen for å klage er tre uker fra dere mottok dette brevet. Klagen sendes til {appeal_to}."
            ),
            ev["pupil"]["name"].as_str().unwrap().to_string(),
            ev["sender"]["name"].as_str().unwrap().to_string(),
            "Side 1 av 1".to_string(),
        ] {
            assert!(text.contains(&expected), "{name}: missing «{expected}» in\n{text}");
        }
        // A protected address is never printed.
        for rec in ev["recipients"].as_array().unwrap() {
            if rec["protected_address"] == json!(true) {
                if let Some(street) = rec["address"]["street"].as_str() {
                    assert!(!text.contains(street), "{name}: protected address printed");
                }
                assert!(text.contains(rec["name"].as_str().unwrap()));
            }
            if let Some(id) = rec["national_id"].as_str() {
                assert!(!text.contains(id), "{name}: national id printed");
            }
        }
    }
    // Another deadline, in words.
    let mut ev = example_event("leave_decision");
    ev["fields"]["appeal_deadline_weeks"] = json!(6);
    let text = flat_text(&r.render_pdf(&routed(&ev)).unwrap().bytes);
    assert!(
        text.contains("Fristen for å klage er seks uker fra dere mottok dette brevet."),
        "{text}"
    );
}

#[test]
fn grade_warning_has_its_own_letter() {
    let r = renderer();
    let ev = example_event("grade_warning");
    let pdf = r.render_pdf(&routed(&ev)).unwrap();
    assert_eq!(pdf.pages, 1);
    let text = flat_text(&pdf.bytes);
    for expected in [
        "Varsel om fare for nedsatt karakter i matematikk",
        "Aksel Moen, født 30. september 2013",
        "Fag Matematikk",
        "Termin Høst 2026",
        "står i fare for å få nedsatt karakter i matematikk",
        "Grunnlaget for varselet",
        "Manglende innlevering av to av tre vurderingsoppgaver",
        "Hva skolen gjør",
        "Petter Sandvik, kontaktlærer, telefon +47 57 00 33 25",
        "Dokumentet er elektronisk godkjent",
    ] {
        assert!(text.contains(expected), "missing «{expected}» in\n{text}");
    }
}

#[test]
fn a_long_message_report_prints_every_message_with_the_header_on_every_page() {
    let r = renderer();
    let mut ev = example_event("message_report");
    let rows: Vec<serde_json::Value> = (0..400)
        .map(|i| {
            json!({
                "sent_at": format!("2027-{:02}-{:02}T{:02}:05:00+01:00", 1 + i % 5, 1 + i % 28, 8 + i % 10),
                "from": if i % 2 == 0 { "Petter Sandvik" } else { "Hanne Moen" },
                "to": if i % 2 == 0 { "Hanne Moen" } else { "Petter Sandvik" },
                "subject": format!("Melding {i}: oppfølging av aktivitetsplan (æøå)"),
            })
        })
        .collect();
    ev["fields"]["rows"] = json!(rows);
    let pdf = r.render_pdf(&routed(&ev)).unwrap();
    assert!(pdf.pages >= 5, "{} pages", pdf.pages);
    let info = poppler("pdfinfo", &pdf.bytes, &[]);
    assert!(
        info.contains(&format!("Pages:           {}", pdf.pages)),
        "{info}"
    );
    for page in 1..=pdf.pages {
        let text = page_text(&pdf.bytes, page);
        assert!(
            text.contains("Unntatt offentlighet"),
            "page {page}: UO marking"
        );
        for header in ["Sendt", "Fra", "Til", "Emne"] {
            assert!(
                text.contains(header),
                "page {page} lacks «{header}»:\n{text}"
            );
        }
    }
    let all = flat_text(&pdf.bytes);
    for i in 0..400 {
        assert!(
            all.contains(&format!("Melding {i}: oppfølging")),
            "message {i} missing"
        );
    }
    // The timestamp in Norwegian, as the producer wrote it (no time zone shift).
    assert!(all.contains("1. januar 2027 kl. 08.05"), "{all}");
    assert!(all.contains("Rapporten viser 400 melding(er)"), "{all}");
}

/// Issue 16: a filter that fails on the producer's data (tera's `join` on a
/// string) must not quote the data in the error, which becomes a dead-letter
/// reason, a broker header and the reproduce page's text.
#[test]
fn a_filter_failing_on_producer_data_does_not_quote_it() {
    let r = renderer();
    let mut ev: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/events/meeting_invitation.json"
        ))
        .unwrap(),
    )
    .unwrap();
    ev["fields"]["meeting"]["participants"] = json!("Kari Nordmann, tlf. 91234567");
    let err = r.render_pdf(&routed(&ev)).unwrap_err().to_string();
    assert!(!err.contains("Kari") && !err.contains("91234567"), "{err}");
    assert!(err.contains("filteret «join» feilet"), "{err}");
    assert!(err.contains("partials/meeting.tera, linje 8: "), "{err}");
    // tera's own message quotes it: the redaction is what keeps it out.
    let ctx = tera::Context::from_serialize(json!({"x": "Kari Nordmann"})).unwrap();
    let raw = tera::Tera::one_off("{{ x | join(sep=',') }}", &ctx, false).unwrap_err();
    assert!(tera_error_chain(&raw).contains("Kari"), "{raw:?}");
    let (what, _) = redacted_tera_error(&raw);
    assert!(!what.contains("Kari"), "{what}");
}

#[test]
fn a_passage_in_another_language_is_tagged_with_it() {
    let dir = templates_with_grade_warning(
        "{% include \"partials/letterhead.tera\" %}\n# Varsel\nNorsk tekst.\n\n@lang se\nSámegiel teaksta.\n@lang\nNorsk igjen.\n",
    );
    let r = Renderer::load(dir.path()).unwrap();
    let mut ev = conduct_warning(default_body());
    ev["document_type"] = json!("grade_warning");
    let pdf = r.render_pdf(&routed(&ev)).unwrap();
    let doc = lopdf::Document::load_mem(&pdf.bytes).unwrap();
    let mut langs = Vec::new();
    for object in doc.objects.values() {
        let Ok(d) = object.as_dict() else { continue };
        if d.get(b"S").is_ok() {
            if let Ok(l) = d.get(b"Lang") {
                langs.push(lopdf::decode_text_string(l).unwrap());
            }
        }
    }
    assert_eq!(langs.iter().filter(|l| *l == "se").count(), 1, "{langs:?}");
    let catalog = doc.catalog().unwrap();
    assert_eq!(
        lopdf::decode_text_string(catalog.get(b"Lang").unwrap()).unwrap(),
        "nb-NO"
    );
    let text = poppler("pdftotext", &pdf.bytes, &[]);
    assert!(text.contains("Sámegiel teaksta."), "{text}");
}
