//! The recipient policy over every output byte (issue 16, items 4 and 5).
//!
//! A property test generates events of every document type that has an example
//! (every channel: svarut, svarut_archive, message_email, notification, internal,
//! none, sms) with random recipients — guardians with and without parental
//! responsibility, pupils and staff, with and without a protected address, with
//! and without a digital mailbox — and runs each through the real stages
//! (validate → route → render → deliver) and then the functions the channel
//! workers and the archive transfer use to produce their bytes: the PDF (read
//! with `pdftotext`), the arkivmelding XML, the SvarUt forsendelse JSON, the
//! message, email and notification texts, and the planned deliveries rows.
//! It asserts that no guardian without parental responsibility is a receiver
//! anywhere and that no protected address appears anywhere.
//!
//! Deterministic tests then show the headline cases: a `svarut_archive` letter with
//! an outsider guardian, a sensitive school transport application through the whole
//! pipeline (UO in the stored document, the PDF, the arkivmelding; no preview for a
//! school team), and a neutral SvarUt title for a UO letter.

use std::path::{Path, PathBuf};

use dokflyt::archive::arkivmelding::{build, BuildOptions, DocumentInput, PdfRef};
use dokflyt::channels::{content_policy, message, notification, svarut, Job};
use dokflyt::document::{Access, Channel, JournalPostType};
use dokflyt::event::{complete_national_id, IncomingEvent};
use dokflyt::pipeline::plan;
use dokflyt::pipeline::render_blocking;
use dokflyt::pipeline::route;
use dokflyt::pipeline::validate;
use dokflyt::Renderer;
use dokflyt::RoutingTable;
use proptest::prelude::*;
use serde_json::{json, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn table() -> &'static RoutingTable {
    static T: std::sync::OnceLock<RoutingTable> = std::sync::OnceLock::new();
    T.get_or_init(|| RoutingTable::load_dir(&root().join("routing-rules")).expect("table"))
}

fn renderer() -> &'static Renderer {
    static R: std::sync::OnceLock<Renderer> = std::sync::OnceLock::new();
    R.get_or_init(|| Renderer::load(&root().join("templates")).expect("templates"))
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("examples/events"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

fn example(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("d.pdf");
    std::fs::write(&p, pdf).expect("write");
    let out = std::process::Command::new("pdftotext")
        .arg(&p)
        .arg("-")
        .output()
        .expect("pdftotext runs (poppler-utils)");
    assert!(out.status.success(), "pdftotext failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Given and family names unique per recipient position, letters only, so a name
/// found in an output belongs to exactly one generated person.
const GIVEN: [&str; 5] = ["Torbjørg", "Leander", "Sigrunn", "Oddvar", "Henrikke"];
const FAMILY: [&str; 5] = ["Utsikten", "Brattås", "Kvernmo", "Lyngstad", "Solbakk"];

/// One generated person.
#[derive(Debug, Clone)]
struct Person {
    kind: &'static str,
    parental_responsibility: bool,
    protected: bool,
    digital_mail: bool,
    with_email: bool,
}

fn person() -> impl Strategy<Value = Person> {
    (
        prop_oneof![6 => Just("guardian"), 1 => Just("pupil"), 1 => Just("staff")],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(kind, pr, protected, digital, email)| Person {
            kind,
            parental_responsibility: pr && kind == "guardian",
            protected,
            digital_mail: digital,
            with_email: email,
        })
}

/// The address of person `i`: words that appear nowhere else.
fn address(i: usize) -> (String, String, String) {
    let street = [
        "Skjermveien",
        "Lønnstien",
        "Gjemmegata",
        "Stillebakken",
        "Lyngkroken",
    ][i];
    let city = ["Hemmelvik", "Skjulstad", "Tausnes", "Lukkedal", "Dulgeby"][i];
    (
        format!("{street} {}", 11 + i),
        format!("{}", 9571 + 7 * i),
        city.to_string(),
    )
}

/// A valid synthetic national id for person `i` (month + 80, as test data does).
fn national_id(i: usize) -> String {
    (0..1000)
        .find_map(|k| complete_national_id(&format!("0{}0{}8{i}{k:03}", i + 1, i + 1)))
        .expect("some serial number has check digits")
}

fn recipients_json(people: &[Person]) -> Value {
    Value::Array(
        people
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (street, postal_code, city) = address(i);
                json!({
                    "kind": p.kind,
                    "id": format!("pers-gen-{i}"),
                    "name": format!("{} {}", GIVEN[i], FAMILY[i]),
                    "national_id": national_id(i),
                    "parental_responsibility": p.parental_responsibility,
                    "digital_mail": p.digital_mail,
                    "address": {"street": street, "postal_code": postal_code, "city": city},
                    "email": if p.with_email { json!(format!("person{i}@example.no")) } else { Value::Null },
                    "mobile": format!("+47 912 34 56{i}"),
                    "protected_address": p.protected,
                })
            })
            .collect(),
    )
}

/// `needle` in `hay` as a whole token (not inside a longer word or number).
fn contains_token(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(at, _)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Everything one event produced, as text, labelled by where it came from.
struct Outputs {
    texts: Vec<(String, String)>,
    /// Recipient ids that some output treats as a receiver.
    receivers: Vec<(String, String)>,
}

fn job_for(doc: &dokflyt::document::RenderedDocument, recipient_id: &str, channel: Channel) -> Job {
    let event = doc.routed().event().event().clone();
    Job {
        delivery_id: 1,
        event_id: event.event_id,
        recipient_id: recipient_id.to_string(),
        channel,
        attempt: 1,
        in_doubt: false,
        title: event.title.clone(),
        event,
        decision: doc.routed().decision().clone(),
        pdf: doc.pdf().map(|p| p.bytes.clone()),
        journal: None,
        register: None,
    }
}

/// Runs one event through every stage and output; an error names the stage that
/// refused it (then nothing at all leaves dokflyt).
fn outputs(v: &Value) -> Result<Outputs, String> {
    let body = serde_json::to_vec(v).expect("json");
    let ev = validate(&body, 1 << 20).map_err(|e| format!("validate: {e}"))?;
    let routed = route(ev, table()).map_err(|r| format!("route: {}", r.code))?;
    let doc = render_blocking(routed, renderer()).map_err(|e| format!("render: {e}"))?;
    let mut texts = Vec::new();
    let mut receivers = Vec::new();
    if let Some(pdf) = doc.pdf() {
        texts.push(("pdf".to_string(), pdftotext(&pdf.bytes)));
    }
    let event: IncomingEvent = doc.routed().event().event().clone();
    let decision = doc.routed().decision().clone();
    if decision.archived {
        let pdf = doc.pdf().expect("archived has a PDF");
        let msg = build(
            &DocumentInput {
                event: &event,
                decision: &decision,
                title: &event.title,
                pdf: Some(PdfRef {
                    sha256: &pdf.sha256,
                    size: pdf.bytes.len(),
                }),
                case_owner: Some("RH"),
            },
            &BuildOptions {
                system: "dokflyt".into(),
                uo_access_code: "UO".into(),
                school_access_group: "Elevarkiv {school_name}".into(),
            },
        )
        .map_err(|e| format!("arkivmelding: {e}"))?;
        let xml = roxmltree::Document::parse(&msg.xml).expect("well-formed");
        if decision.journal_post_type == JournalPostType::U {
            for part in xml
                .descendants()
                .filter(|n| n.has_tag_name("korrespondansepart"))
            {
                let kind = part
                    .descendants()
                    .find(|n| n.has_tag_name("korrespondanseparttype"))
                    .and_then(|k| k.descendants().find(|n| n.has_tag_name("kode")))
                    .and_then(|k| k.text())
                    .unwrap_or("");
                if kind != "EM" {
                    continue;
                }
                let name = part
                    .descendants()
                    .find(|n| n.has_tag_name("korrespondansepartNavn"))
                    .and_then(|n| n.text())
                    .unwrap_or("");
                if let Some(r) = event.recipients.iter().find(|r| r.name == name) {
                    receivers.push(("arkivmelding".into(), r.id.clone()));
                }
            }
        }
        texts.push(("arkivmelding".into(), msg.xml));
    }
    let plan = plan(doc).map_err(|e| e.code().to_string())?;
    let doc = plan.document();
    for intent in plan.intents() {
        receivers.push(("deliveries".into(), intent.recipient_id.clone()));
        let job = job_for(doc, &intent.recipient_id, intent.channel);
        match intent.channel {
            Channel::Svarut => {
                if let Ok(f) =
                    svarut::forsendelse(&job, &dokflyt::config::SvarUtSettings::default(), "K")
                {
                    receivers.push(("svarut".into(), intent.recipient_id.clone()));
                    texts.push(("svarut".into(), f.to_string()));
                }
            }
            Channel::MessageEmail => {
                if let Ok(c) = content_policy(
                    intent.channel,
                    event.sensitive,
                    decision.access,
                    job.pdf.is_some(),
                ) {
                    let m = message::compose(&job, c, "https://portal.example/");
                    texts.push(("email".into(), format!("{}\n{}", m.subject, m.body)));
                }
            }
            Channel::Notification => {
                let m = notification::compose(&job, "https://portal.example/");
                texts.push(("notification".into(), format!("{}\n{}", m.subject, m.body)));
            }
            _ => {}
        }
    }
    // A SvarUt row for a person the policy excludes (planned by hand, or by an older
    // version) is refused by the same policy at send time.
    for r in &event.recipients {
        let job = job_for(doc, &r.id, Channel::Svarut);
        if let Ok(f) = svarut::forsendelse(&job, &dokflyt::config::SvarUtSettings::default(), "K") {
            if decision.channel == Channel::Svarut {
                receivers.push(("svarut (any row)".into(), r.id.clone()));
            }
            texts.push(("svarut (any row)".into(), f.to_string()));
        }
    }
    if decision.channel == Channel::Sms {
        // The event-driven emergency SMS carries `fields.text` to the roster.
        let text = event
            .fields
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("");
        texts.push(("sms".into(), text.to_string()));
    }
    Ok(Outputs { texts, receivers })
}

/// One generated case: every output of `people` on the example at `path`.
fn check_case(
    path: &Path,
    people: &[Person],
    checked: &std::sync::atomic::AtomicUsize,
) -> Result<(), TestCaseError> {
    let mut v = example(path);
    v["recipients"] = recipients_json(people);
    v["event_id"] = "5e7a1c0d-aaaa-4bbb-8ccc-dddddddddddd".into();
    let out = match outputs(&v) {
        Ok(o) => o,
        // The only acceptable refusal: nobody the policy lets receive it (then
        // nothing at all leaves dokflyt). Anything else is a broken generator.
        Err(code) => {
            prop_assert_eq!(code.as_str(), "no_recipient");
            let channel = table()
                .decide(&validate(&serde_json::to_vec(&v).expect("json"), 1 << 20).expect("valid"))
                .expect("routed")
                .channel;
            let event: IncomingEvent = serde_json::from_value(v.clone()).expect("event");
            prop_assert!(event
                .recipients
                .iter()
                .all(|r| !dokflyt::recipient_policy::decide(channel, r).is_receiver()));
            return Ok(());
        }
    };
    checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for (i, p) in people.iter().enumerate() {
        let id = format!("pers-gen-{i}");
        let name = format!("{} {}", GIVEN[i], FAMILY[i]);
        if p.kind == "guardian" && !p.parental_responsibility {
            for (source, rid) in &out.receivers {
                prop_assert_ne!(rid, &id, "outsider is a receiver in {}", source);
            }
            for (source, text) in &out.texts {
                if source == "pdf"
                    || source == "svarut (any row)"
                    || source == "svarut"
                    || source == "email"
                {
                    prop_assert!(!text.contains(FAMILY[i]), "outsider named in {}", source);
                }
                if source == "arkivmelding" && v["direction"] == "out" {
                    prop_assert!(!text.contains(&name), "outsider named in the arkivmelding");
                }
            }
        }
        if p.protected {
            let (street, postal_code, city) = address(i);
            for (source, text) in &out.texts {
                prop_assert!(!text.contains(&street), "protected street in {}", source);
                prop_assert!(!text.contains(&city), "protected city in {}", source);
                prop_assert!(
                    !contains_token(text, &postal_code),
                    "protected postcode in {}",
                    source
                );
            }
        }
    }
    Ok(())
}

#[test]
fn no_outsider_is_a_receiver_and_no_protected_address_leaves() {
    let checked = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        proptest::sample::select(examples()),
        proptest::collection::vec(person(), 1..=5),
    );
    if let Err(e) = runner.run(&strategy, |(path, people)| {
        check_case(&path, &people, &checked)
    }) {
        panic!("{e}");
    }
    // Not vacuous: most cases produced outputs (a refusal is only `no_recipient`).
    let n = checked.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{n} of 48 cases produced outputs");
    assert!(n >= 24, "only {n} of 48 cases produced outputs");
}

/// The generator's check is a real one: the same check finds a planted address
/// and an outsider in a hand-made output.
#[test]
fn the_checks_find_what_they_look_for() {
    assert!(contains_token("Skjermveien 11, 9571 Hemmelvik", "9571"));
    assert!(!contains_token("sha ab9571cd", "9571"));
    assert!(!contains_token("95712", "9571"));
}

fn transport_application(sensitive: bool) -> Value {
    let mut v = example(&root().join("examples/events/school_transport_application.json"));
    v["sensitive"] = sensitive.into();
    v
}

#[test]
fn an_outsider_guardian_on_an_archive_dispatched_letter_is_not_named_or_marked() {
    // sfo_termination_by_municipality goes by `svarut_archive`.
    let mut v = example(&root().join("examples/events/sfo_termination_by_municipality.json"));
    let people = [
        Person {
            kind: "guardian",
            parental_responsibility: true,
            protected: false,
            digital_mail: true,
            with_email: true,
        },
        Person {
            kind: "guardian",
            parental_responsibility: false,
            protected: false,
            digital_mail: true,
            with_email: true,
        },
        Person {
            kind: "guardian",
            parental_responsibility: true,
            protected: true,
            digital_mail: true,
            with_email: false,
        },
        Person {
            kind: "guardian",
            parental_responsibility: true,
            protected: true,
            digital_mail: false,
            with_email: false,
        },
    ];
    v["recipients"] = recipients_json(&people);
    let out = outputs(&v).expect("routed and archived");
    let xml = &out
        .texts
        .iter()
        .find(|(s, _)| s == "arkivmelding")
        .expect("an arkivmelding")
        .1;
    assert!(xml.contains(&format!("{} {}", GIVEN[0], FAMILY[0])));
    assert!(
        !xml.contains(FAMILY[1]),
        "the guardian without parental responsibility is not named"
    );
    assert_eq!(
        xml.matches("<forsendelsesmaate><n5mdk:kode>SvarUt</n5mdk:kode>")
            .count(),
        1
    );
    assert_eq!(
        xml.matches("<forsendelsesmaate><n5mdk:kode>SvarUtKunDigital</n5mdk:kode>")
            .count(),
        1,
        "protected with a mailbox: digital only"
    );
    assert_eq!(
        xml.matches("<forsendelsesmaate><n5mdk:kode>Manuell</n5mdk:kode>")
            .count(),
        1,
        "protected without a mailbox: held for a person"
    );
    assert_eq!(xml.matches("<erSkjermet>true</erSkjermet>").count(), 2);

    // Only the outsider: nobody may receive it, so it is refused, not sent.
    let mut v2 = v.clone();
    v2["recipients"] = recipients_json(&people[1..2]);
    v2["recipients"][0]["id"] = "pers-gen-1".into();
    assert_eq!(outputs(&v2).err().as_deref(), Some("no_recipient"));
}

#[test]
fn a_sensitive_transport_application_is_uo_in_the_pdf_and_the_archive() {
    let plain = outputs(&transport_application(false)).expect("routed");
    let sensitive = outputs(&transport_application(true)).expect("routed");
    let text = |o: &Outputs, s: &str| o.texts.iter().find(|(k, _)| k == s).expect(s).1.clone();
    assert!(!text(&plain, "pdf").contains("Unntatt offentlighet"));
    let pdf = text(&sensitive, "pdf");
    assert!(pdf.contains("Unntatt offentlighet"), "{pdf}");
    assert!(pdf.contains(dokflyt::rules::DEFAULT_LEGAL_BASIS), "{pdf}");
    let xml = text(&sensitive, "arkivmelding");
    assert!(!text(&plain, "arkivmelding").contains("<skjerming>"));
    let registrering = &xml[xml.find("<registrering").expect("journal post")..];
    assert!(registrering.contains("<skjerming>"), "{xml}");
    assert!(registrering.contains(&format!(
        "<skjermingshjemmel>{}</skjermingshjemmel>",
        dokflyt::rules::DEFAULT_LEGAL_BASIS
    )));
    let ev = transport_application(true);
    let pupil = ev["pupil"]["name"].as_str().expect("pupil");
    let public = roxmltree::Document::parse(&xml)
        .expect("xml")
        .descendants()
        .filter(|n| n.has_tag_name("offentligTittel"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect::<Vec<_>>();
    assert_eq!(public.len(), 2, "folder and journal post: {xml}");
    for t in &public {
        for part in pupil.split_whitespace() {
            assert!(!t.contains(part), "{t}");
        }
    }
}

#[test]
fn a_uo_letter_gets_a_neutral_svarut_title() {
    let mut v = example(&root().join("examples/events/school_transport_decision.json"));
    let pupil = v["pupil"]["name"].as_str().expect("pupil").to_string();
    v["title"] = format!("Vedtak om skoleskyss for {pupil}").into();
    v["sensitive"] = false.into();
    let public = outputs(&v).expect("routed");
    let svarut = |o: &Outputs| -> Vec<Value> {
        o.texts
            .iter()
            .filter(|(k, _)| k == "svarut")
            .map(|(_, t)| serde_json::from_str(t).expect("json"))
            .collect()
    };
    let letters = svarut(&public);
    assert!(!letters.is_empty());
    for f in &letters {
        assert!(f["tittel"].as_str().expect("tittel").contains(&pupil));
    }
    v["sensitive"] = true.into();
    let uo = outputs(&v).expect("routed");
    let letters = svarut(&uo);
    assert!(!letters.is_empty());
    for f in &letters {
        assert_eq!(f["tittel"], "Vedtak om skoleskyss");
        assert_eq!(f["krevNiva4Innlogging"], true);
        assert!(!f.to_string().contains(&pupil), "{f}");
    }
    // Any UO letter, sensitive or by its rule (conduct warning is UO).
    let mut w = example(&root().join("examples/events/conduct_warning.json"));
    w["title"] = format!("Varsel til {pupil}").into();
    for f in svarut(&outputs(&w).expect("routed")) {
        assert_eq!(f["tittel"], "Varsel om fare for nedsatt orden og oppførsel");
    }
    let _ = Access::Uo;
}
