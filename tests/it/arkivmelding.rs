//! Every archived example event (validate → route → render) produces an
//! arkivmelding that validates against the vendored Fiks Arkiv V2 opprett schema,
//! and carries what the archive staff rely on: folder and journal-post external
//! keys, journal post type and status from the decision, skjerming for UO with the
//! configured code, the PDF's name and checksum.

use std::path::Path;

use dokflyt::archive::arkivmelding::{build, BuildOptions, DocumentInput, PdfRef};
use dokflyt::document::Access;
use dokflyt::pipeline::render_blocking;
use dokflyt::pipeline::route;
use dokflyt::pipeline::validate;
use dokflyt::Renderer;
use dokflyt::RoutingTable;

const OPPRETT_XSD: &str =
    "specs/fiks-arkiv-v2/no.ks.fiks.arkiv.v2.arkivering.arkivmelding.opprett.xsd";

fn xmllint(xml: &str) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut f, xml.as_bytes()).expect("write");
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(root.join(OPPRETT_XSD))
        .arg(f.path())
        .output()
        .expect("xmllint runs (libxml2-utils)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn every_archived_example_produces_a_valid_arkivmelding() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = RoutingTable::load_dir(&root.join("routing-rules")).expect("table");
    let renderer = Renderer::load(&root.join("templates")).expect("templates");
    let opts = BuildOptions {
        system: "dokflyt".into(),
        uo_access_code: "UO-KOMMUNE".into(),
        school_access_group: "Elevarkiv {school_name}".into(),
    };
    let mut built = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(root.join("examples/events"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    for path in paths {
        let body = std::fs::read(&path).expect("read");
        let ev = validate(&body, 1 << 20).expect("valid");
        let routed = route(ev, &table).expect("routed");
        if !routed.decision().archived {
            continue;
        }
        let doc = render_blocking(routed, &renderer).expect("rendered");
        let pdf = doc.pdf().expect("an archived document has a PDF");
        let event = doc.routed().event().event();
        let decision = doc.routed().decision();
        let msg = build(
            &DocumentInput {
                event,
                decision,
                title: &event.title,
                pdf: Some(PdfRef {
                    sha256: &pdf.sha256,
                    size: pdf.bytes.len(),
                }),
                case_owner: Some("RH"),
            },
            &opts,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(e) = xmllint(&msg.xml) {
            panic!(
                "{}: invalid arkivmelding:\n{e}\n{}",
                path.display(),
                msg.xml
            );
        }
        let x = &msg.xml;
        let id = event.event_id.to_string();
        assert!(
            x.contains(&format!("<n5mdk:noekkel>{id}</n5mdk:noekkel>")),
            "{}: journal post keyed by the event id",
            path.display()
        );
        assert!(x.contains(&format!(
            "<journalposttype><n5mdk:kode>{:?}</n5mdk:kode>",
            decision.journal_post_type
        )));
        assert!(x.contains(&format!(
            "<journalstatus><n5mdk:kode>{:?}</n5mdk:kode>",
            decision.journal_status
        )));
        assert!(x.contains(&format!("<sjekksum>{}</sjekksum>", pdf.sha256)));
        assert!(x.contains(&format!(
            "<dokumentetsDato>{}</dokumentetsDato>",
            event.occurred_at.date_naive()
        )));
        if decision.folder == Some(dokflyt::document::Folder::School) {
            // The school folder as a case: SAK, B34 + B31, EL, access group, case owner.
            for part in [
                "<mappe xsi:type=\"saksmappe\">",
                "<arkivdel><n5mdk:kode>SAK</n5mdk:kode>",
                "<klasseID>B34</klasseID>",
                "<klasseID>B31</klasseID>",
                "<tilgangsrestriksjon><n5mdk:kode>EL</n5mdk:kode>",
                &format!(
                    "<tilgangsgruppeNavn>Elevarkiv {}</tilgangsgruppeNavn>",
                    event.school.name
                ),
                "<saksansvarlig><n5mdk:initialer>RH</n5mdk:initialer></saksansvarlig>",
            ] {
                assert!(x.contains(part), "{}: {part}", path.display());
            }
        }
        // The journal post's own screening (the folder's is checked above).
        let x = &x[x.find("<registrering").expect("a journal post")..];
        match decision.access {
            Access::Uo => {
                let basis = decision.legal_basis.as_deref().expect("UO has a basis");
                assert!(x.contains("<tilgangsrestriksjon><n5mdk:kode>UO-KOMMUNE</n5mdk:kode>"));
                assert!(x.contains(&format!("<skjermingshjemmel>{basis}</skjermingshjemmel>")));
            }
            Access::Public => assert!(!x.contains("<skjerming>"), "{}", path.display()),
        }
        for r in &event.recipients {
            if matches!(
                decision.journal_post_type,
                dokflyt::document::JournalPostType::U
            ) {
                // Named exactly when the recipient policy makes them a receiver.
                let receiver = dokflyt::recipient_policy::decide(decision.channel, r).is_receiver();
                assert_eq!(
                    x.contains(&format!(
                        "<korrespondansepartNavn>{}</korrespondansepartNavn>",
                        dokflyt::archive::arkivmelding::escape(&r.name)
                    )),
                    receiver,
                    "{}: {}",
                    path.display(),
                    r.id
                );
            }
            // An address never travels (protected addresses must not leak).
            if let Some(a) = &r.address {
                assert!(
                    !x.contains(&a.street),
                    "{}: address in the message",
                    path.display()
                );
            }
        }
        let dispatch = x.contains("<forsendelsesmaate>");
        let by_archive = decision.channel == dokflyt::document::Channel::SvarutArchive
            && !event.recipients.is_empty();
        assert_eq!(
            dispatch,
            by_archive,
            "{}: marked for dispatch from the archive",
            path.display()
        );
        match decision.folder {
            Some(dokflyt::document::Folder::School) => {
                assert!(
                    msg.xml.contains("<tittel>Skolemappe – "),
                    "{}",
                    path.display()
                );
                assert!(msg
                    .xml
                    .contains(&format!("skolemappe/{}/", event.school.id)));
            }
            _ => {
                let pupil = event.pupil.as_ref().expect("pupil folder has a pupil");
                assert!(x.contains(&format!("<n5mdk:noekkel>{}</n5mdk:noekkel>", pupil.id)));
            }
        }
        built.push((event.document_type.clone(), decision.folder));
    }
    let types: std::collections::BTreeSet<_> = built.iter().map(|(t, _)| t.clone()).collect();
    assert!(types.len() >= 20, "many document types covered: {types:?}");
    assert!(
        built
            .iter()
            .any(|(_, f)| *f == Some(dokflyt::document::Folder::School)),
        "a school-folder document is among them"
    );
    println!(
        "{} arkivmeldinger validated ({} types)",
        built.len(),
        types.len()
    );
}

#[test]
fn the_school_folder_of_a_year_is_a_valid_folder_only_arkivmelding() {
    let f = dokflyt::archive::arkivmelding::SchoolFolder {
        school_id: "fjellvik-ungdomsskole".into(),
        school_name: "Fjellvik ungdomsskole".into(),
        school_year: (2026, 2027),
        case_owner: Some("RH".into()),
        access_group: "Elevarkiv Fjellvik ungdomsskole".into(),
    };
    let opts = BuildOptions {
        system: "dokflyt".into(),
        uo_access_code: "13".into(),
        school_access_group: "{school_name}".into(),
    };
    let xml = dokflyt::archive::arkivmelding::build_school_folder(&f, &opts);
    if let Err(e) = xmllint(&xml) {
        panic!("invalid folder arkivmelding:\n{e}\n{xml}");
    }
    assert!(xml.contains("<tittel>Skolemappe – Fjellvik ungdomsskole 2026/2027</tittel>"));
    assert!(
        xml.contains("<n5mdk:noekkel>skolemappe/fjellvik-ungdomsskole/2026-2027</n5mdk:noekkel>")
    );
    assert!(!xml.contains("<registrering"));
}
