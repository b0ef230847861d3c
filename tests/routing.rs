//! The shipped routing table applied to the example events: every example routes,
//! the two-way types route both ways, and the enforced principles refuse what they must.

use std::path::{Path, PathBuf};

use dokflyt::pipeline::route::route;
use dokflyt::pipeline::validate::validate;
use dokflyt::rules::{Channel, JournalStatus, Rejection, RoutingDecision, RoutingTable};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn table() -> RoutingTable {
    RoutingTable::load_dir(&root().join("routing-rules")).expect("the shipped table is valid")
}

fn example(name: &str) -> Value {
    let p = root().join("examples/events").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&p).expect("example exists")).expect("json")
}

fn decide(v: &Value) -> Result<RoutingDecision, Rejection> {
    let ev = validate(&serde_json::to_vec(v).expect("json"), 1 << 20).expect("valid event");
    route(ev, &table()).map(|r| r.decision().clone())
}

#[test]
fn every_example_event_is_routed_by_its_own_rule() {
    let dir = root().join("examples/events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 41);
    for f in files {
        let v: Value = serde_json::from_slice(&std::fs::read(&f).expect("read")).expect("json");
        let d = decide(&v).unwrap_or_else(|r| panic!("{}: refused: {r} ({})", f.display(), r.code));
        assert_eq!(
            d.document_type.key(),
            v["document_type"].as_str().expect("key")
        );
        assert!(d.rejected.is_none());
        if d.archived {
            assert!(d.folder.is_some(), "{}", f.display());
        }
        if d.channel == Channel::MessageEmail || d.channel == Channel::Notification {
            assert!(
                !v["sensitive"].as_bool().unwrap_or(false),
                "{}",
                f.display()
            );
        }
    }
}

#[test]
fn pupil_message_routes_two_ways_by_sensitivity() {
    let plain = decide(&example("pupil_message")).expect("routed");
    assert_eq!(plain.channel, Channel::MessageEmail);
    assert!(!plain.archived);
    let sensitive = decide(&example("pupil_message_sensitive")).expect("routed");
    assert_eq!(sensitive.channel, Channel::SvarutArchive);
    assert_eq!(sensitive.rule, "pupil_message_sensitive");
    assert!(sensitive.archived);
    assert_eq!(sensitive.access.as_str(), "UO");
}

#[test]
fn moving_notice_routes_by_the_receiving_municipality_with_status_r() {
    let same = decide(&example("moving_notice")).expect("routed");
    assert_eq!(same.channel, Channel::Internal);
    assert_eq!(same.journal_status, JournalStatus::R);
    let other = decide(&example("moving_notice_other_municipality")).expect("routed");
    assert_eq!(other.channel, Channel::SvarutArchive);
    assert_eq!(other.journal_status, JournalStatus::R);
}

#[test]
fn a_sensitive_event_without_a_sensitive_route_is_refused() {
    for key in [
        "form_question",
        "absence_notice",
        "term_grades",
        "emergency_sms",
    ] {
        let mut v = example(key);
        v["sensitive"] = true.into();
        let r = decide(&v).expect_err("refused");
        assert_eq!(r.code, "sensitive_not_allowed", "{key}");
    }
}

#[test]
fn an_opt_in_whose_preconditions_fail_is_refused_with_a_reason_a_teacher_understands() {
    let mut v = example("absence_report");
    v["archive_opt_in"] = true.into();
    v["fields"]["period"] = "autumn".into();
    let r = decide(&v).expect_err("refused");
    assert_eq!(r.code, "precondition_failed");
    assert_eq!(
        r.reason,
        "Fraværsrapporten må gjelde hele året før den kan arkiveres"
    );

    let mut v = example("final_grades");
    v["archive_opt_in"] = true.into();
    v["pupil"]["grade_level"] = 7.into();
    assert_eq!(decide(&v).expect_err("refused").code, "precondition_failed");

    let mut v = example("assessments");
    v["archive_opt_in"] = true.into();
    v["fields"]["assessments"][0]["status"] = "Åpen".into();
    assert_eq!(decide(&v).expect_err("refused").code, "precondition_failed");

    // Without the opt-in an optional document is simply not archived.
    let mut v = example("absence_report");
    v["archive_opt_in"] = false.into();
    v["fields"]["period"] = "autumn".into();
    assert!(!decide(&v).expect("routed").archived);
}

#[test]
fn only_a_principal_or_school_owner_may_send_an_emergency_sms() {
    let mut v = example("emergency_sms");
    assert!(decide(&v).is_ok());
    v["sender"]["role"] = "kontaktlaerer".into();
    assert_eq!(decide(&v).expect_err("refused").code, "not_authorised");
}

#[test]
fn the_authors_legal_basis_overrides_the_default_and_is_recorded() {
    let mut v = example("conduct_warning");
    v["legal_basis"] = "Offl. § 13 jf. fvl. § 13 første ledd nr. 2".into();
    let d = decide(&v).expect("routed");
    assert_eq!(
        d.legal_basis.as_deref(),
        Some("Offl. § 13 jf. fvl. § 13 første ledd nr. 2")
    );
    assert_eq!(d.rule, "conduct_warning");
    assert_eq!(d.rules_version, table().version());
}
