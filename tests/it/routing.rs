//! The shipped routing table applied to the example events: every example routes,
//! the two-way types route both ways, and the enforced principles refuse what they must.

use std::path::{Path, PathBuf};

use dokflyt::document::{Channel, JournalStatus, Rejection, RoutingDecision};
use dokflyt::pipeline::route;
use dokflyt::pipeline::validate;
use dokflyt::RoutingTable;
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

/// docs/domain.md §8, row by row (example file, direction, channel, archive, folder,
/// access, journal status): the expected decision for every key and variant.
/// An example marked `sensitive: true` is UO whatever its row says (docs/domain.md §9).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const SECTION_8: &[Row] = &[
    ("absence_notice", "out", "message_email", "always", Some("pupil"), "UO", "J"),
    ("remark_notice", "out", "message_email", "always", Some("pupil"), "UO", "J"),
    ("general_information", "out", "message_email", "never", None, "public", "J"),
    ("parent_meeting_invitation", "out", "message_email", "never", None, "public", "J"),
    ("parent_meeting_minutes", "out", "message_email", "optional", Some("school"), "public", "J"),
    ("form_question", "out", "message_email", "optional", Some("pupil"), "public", "J"),
    ("pupil_message", "out", "message_email", "never", None, "public", "J"),
    ("pupil_message_sensitive", "out", "svarut_archive", "always", Some("pupil"), "UO", "J"),
    ("personal_data_letter", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("meeting_invitation", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("enrolment_invitation", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("welcome_first_grade", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("school_place_decision", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("leave_application", "in", "none", "always", Some("pupil"), "public", "J"),
    ("leave_decision", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("sfo_application", "in", "none", "always", Some("pupil"), "public", "J"),
    ("sfo_decision", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("sfo_change", "in", "none", "always", Some("pupil"), "public", "J"),
    ("sfo_change_decision", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("sfo_termination", "in", "none", "always", Some("pupil"), "public", "J"),
    ("sfo_termination_decision", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("sfo_termination_by_municipality", "out", "svarut_archive", "always", Some("pupil"), "public", "J"),
    ("school_transport_application", "in", "none", "always", Some("pupil"), "UO", "J"), // the example is sensitive (health): UO
    ("school_transport_decision", "out", "svarut", "always", Some("pupil"), "UO", "J"), // the example is sensitive (health): UO
    ("consent", "in", "none", "always", Some("pupil"), "public", "J"),
    ("swimming_week_offer", "out", "svarut", "always", Some("pupil"), "public", "J"),
    ("grade_warning", "out", "svarut", "always", Some("pupil"), "UO", "J"),
    ("conduct_warning", "out", "svarut", "always", Some("pupil"), "UO", "J"),
    ("missing_assessment_basis_warning", "out", "svarut", "always", Some("pupil"), "UO", "J"),
    ("moving_notice", "out", "internal", "always", Some("pupil"), "public", "R"),
    ("moving_notice_other_municipality", "out", "svarut_archive", "always", Some("pupil"), "public", "R"),
    ("term_grades", "out", "notification", "optional", Some("pupil"), "public", "J"),
    ("final_grades", "out", "notification", "optional", Some("pupil"), "public", "J"),
    ("diploma", "out", "none", "optional", Some("pupil"), "public", "J"),
    ("leaving_grades_protocol", "note", "none", "optional", Some("school"), "public", "F"),
    ("group_overview", "note", "none", "optional", Some("school"), "public", "F"),
    ("message_report", "note", "none", "optional", Some("pupil"), "UO", "F"),
    ("absence_report", "note", "none", "optional", Some("pupil"), "UO", "F"),
    ("remarks_report", "note", "none", "optional", Some("pupil"), "UO", "F"),
    ("assessments", "note", "none", "optional", Some("pupil"), "public", "F"),
    ("emergency_sms", "out", "sms", "never", None, "public", "J"),
];

#[test]
fn every_row_of_section_8_gets_its_decision() {
    let t = table();
    assert_eq!(SECTION_8.len(), 41, "39 keys and 2 conditional variants");
    for (name, dir, channel, archive, folder, access, status) in SECTION_8 {
        let v = example(name);
        let ev = validate(&serde_json::to_vec(&v).expect("json"), 1 << 20).expect("valid");
        let d = t.decide(&ev).unwrap_or_else(|r| panic!("{name}: {r}"));
        let got = serde_json::to_value(&d).expect("json");
        assert_eq!(got["channel"], *channel, "{name}: channel");
        assert_eq!(got["archive"], *archive, "{name}: archive");
        assert_eq!(got["folder"].as_str(), *folder, "{name}: folder");
        assert_eq!(got["access"], *access, "{name}: access");
        assert_eq!(got["journal_status"], *status, "{name}: journal status");
        let post = match *dir {
            "in" => "I",
            "out" => "U",
            _ => "N",
        };
        assert_eq!(got["journal_post_type"], post, "{name}: journal post type");
        assert_eq!(v["direction"], *dir, "{name}: the example's direction");
        // An archived optional document is one that opted in with its preconditions met.
        let expect_archived = match *archive {
            "always" => true,
            "never" => false,
            _ => v["archive_opt_in"].as_bool().unwrap_or(false),
        };
        assert_eq!(d.archived, expect_archived, "{name}: archived");
        if *access == "UO" {
            assert!(d.legal_basis.is_some(), "{name}: UO needs a legal basis");
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const ROLES: &[&str] = &[
        "rektor",
        "skoleeier",
        "kontaktlaerer",
        "laerer",
        "skoleadmin",
    ];

    fn keys() -> Vec<&'static str> {
        dokflyt::event::DocumentType::ALL
            .iter()
            .map(|t| t.key())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any key, any flags, the agreed precondition fields either way: the router
        /// never panics, is deterministic, and never sends a sensitive document by
        /// message/email, notification or SMS.
        #[test]
        fn sensitive_never_leaves_by_message_notification_or_sms(
            key in proptest::sample::select(keys()),
            sensitive: bool,
            opt_in: bool,
            data_checked: bool,
            whole_year: bool,
            grade in 0u8..=10,
            role in proptest::sample::select(ROLES.to_vec()),
            same_municipality: bool,
            direction in proptest::sample::select(vec!["in", "out", "note"]),
        ) {
            let mut v = example("conduct_warning");
            v["document_type"] = key.into();
            v["direction"] = direction.into();
            v["sensitive"] = sensitive.into();
            v["archive_opt_in"] = opt_in.into();
            v["fields"]["data_checked"] = data_checked.into();
            v["fields"]["period"] = if whole_year { "whole_year" } else { "autumn" }.into();
            v["pupil"]["grade_level"] = grade.into();
            v["sender"]["role"] = role.into();
            let number = v["municipality"]["number"].clone();
            v["fields"]["receiving_school"] = serde_json::json!({
                "id": "s2", "name": "Nyskolen",
                "municipality_number": if same_municipality { number } else { "0301".into() }
            });
            let body = serde_json::to_vec(&v).expect("json");
            let ev = validate(&body, 1 << 20).expect("valid");
            let t = table();
            let first = t.decide(&ev);
            let again = t.decide(&ev);
            prop_assert_eq!(&first, &again);
            if let Ok(d) = first {
                if sensitive {
                    prop_assert!(
                        !matches!(d.channel, Channel::MessageEmail | Channel::Notification | Channel::Sms),
                        "{} routed sensitive to {:?}", key, d.channel
                    );
                }
                prop_assert!(d.rejected.is_none());
            }
        }
    }
}
