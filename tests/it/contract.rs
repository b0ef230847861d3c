//! The event contract v1 kept in step in its three forms: the Rust types and
//! validator (`src/event.rs`, `src/pipeline/validate.rs`, the source of truth), the
//! JSON Schema (`schemas/document-event.v1.schema.json`) and the examples
//! (`examples/events/`, `examples/invalid/`) that `docs/events.md` points producers to.
//!
//! No broker or database: every check runs on files and the pure validator.
//! - every example event passes both the schema and `validate`, and there is exactly
//!   one per document-type key (plus two named variants);
//! - the examples carry the agreed well-known `fields` keys for their type;
//! - every invalid example fails `validate` with the code in its file name, and the
//!   schema-level ones fail the schema too; an oversize body fails as `oversize`;
//! - the schema and the validator agree on which fields are required, on unknown
//!   fields at every level, and on a table of single-field mutations; the few
//!   known differences are pinned so that a change to either side shows up;
//! - rejection reasons never carry a field's value (they reach headers and tables);
//! - `docs/events.md` lists every key with its Norwegian name and every reason code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dokflyt::event::{is_valid_national_id, DocumentType};
use dokflyt::pipeline::validate;
use serde_json::{json, Value};

/// The default `amqp.max_message_bytes`: the 1 MiB limit documented for producers.
const LIMIT: usize = 1024 * 1024;

/// Example files that are a second example of a key, with the key they use.
const VARIANTS: &[(&str, &str)] = &[
    ("pupil_message_sensitive", "pupil_message"),
    ("moving_notice_other_municipality", "moving_notice"),
    // A nynorsk municipality (Sogndal): the demo renders it in nynorsk.
    ("conduct_warning_nynorsk", "conduct_warning"),
    // A municipality in the Sámi administrative area (Kautokeino): North Sámi text beside the Norwegian.
    ("general_information_sami", "general_information"),
    // The same area's emergency SMS with its North Sámi text (`fields.sami_text.text`).
    ("emergency_sms_sami", "emergency_sms"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `(file stem, bytes)` of every `.json` file in `dir`, sorted by name.
fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = root().join(dir);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| (stem(&p), std::fs::read(&p).expect("readable file")))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{} holds no .json files", dir.display());
    out
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .and_then(|s| s.to_str())
        .expect("UTF-8 file name")
        .to_string()
}

fn schema_value() -> Value {
    let path = root().join("schemas/document-event.v1.schema.json");
    let text = std::fs::read_to_string(&path).expect("the schema file exists");
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn schema() -> jsonschema::Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema_value())
        .expect("the schema compiles as draft 2020-12")
}

/// Schema errors as `path: message` lines (empty when valid).
fn schema_errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

fn example(name: &str) -> Value {
    let path = root().join(format!("examples/events/{name}.json"));
    let text = std::fs::read_to_string(&path).expect("example exists");
    serde_json::from_str(&text).expect("example is JSON")
}

fn validator_code(v: &Value) -> Result<(), &'static str> {
    let body = serde_json::to_vec(v).expect("serialisable");
    validate(&body, LIMIT).map(|_| ()).map_err(|e| e.code())
}

fn all_keys() -> BTreeSet<&'static str> {
    DocumentType::ALL.iter().map(|t| t.key()).collect()
}

#[test]
fn every_example_event_passes_the_schema_and_the_validator() {
    let schema = schema();
    let mut checked = 0;
    for (name, bytes) in files("examples/events") {
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{name}.json is not JSON: {e}"));
        let errors = schema_errors(&schema, &value);
        assert!(
            errors.is_empty(),
            "{name}.json fails the schema: {errors:#?}"
        );
        let event = validate(&bytes, LIMIT)
            .unwrap_or_else(|e| panic!("{name}.json fails validate ({}): {e}", e.code()));
        let expected_key = VARIANTS
            .iter()
            .find(|(variant, _)| *variant == name)
            .map_or(name.as_str(), |(_, key)| key);
        assert_eq!(
            event.document_type().key(),
            expected_key,
            "{name}.json names another document_type"
        );
        checked += 1;
    }
    assert_eq!(checked, DocumentType::ALL.len() + VARIANTS.len());
}

#[test]
fn exactly_one_example_per_key_and_the_schema_enum_is_every_key() {
    let stems: BTreeSet<String> = files("examples/events")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let variants: BTreeSet<String> = VARIANTS.iter().map(|(v, _)| v.to_string()).collect();
    let keyed: BTreeSet<&str> = stems
        .iter()
        .filter(|s| !variants.contains(*s))
        .map(String::as_str)
        .collect();
    assert_eq!(
        keyed,
        all_keys(),
        "examples/events must hold exactly one <key>.json per DocumentType::ALL key"
    );
    assert!(variants.is_subset(&stems), "a named variant is missing");

    let schema = schema_value();
    let enum_keys: Vec<&str> = schema["properties"]["document_type"]["enum"]
        .as_array()
        .expect("document_type has an enum")
        .iter()
        .map(|k| k.as_str().expect("enum entries are strings"))
        .collect();
    let enum_set: BTreeSet<&str> = enum_keys.iter().copied().collect();
    assert_eq!(
        enum_keys.len(),
        enum_set.len(),
        "duplicate keys in the enum"
    );
    assert_eq!(
        enum_set,
        all_keys(),
        "schema enum differs from DocumentType::ALL"
    );
}

/// `(key, direction)` for every key whose direction is not `out` (docs/domain.md §8).
const NOT_OUT: &[(&str, &str)] = &[
    ("leave_application", "in"),
    ("sfo_application", "in"),
    ("sfo_change", "in"),
    ("sfo_termination", "in"),
    ("school_transport_application", "in"),
    ("consent", "in"),
    ("leaving_grades_protocol", "note"),
    ("group_overview", "note"),
    ("message_report", "note"),
    ("absence_report", "note"),
    ("remarks_report", "note"),
    ("assessments", "note"),
];

/// Keys whose archive policy is optional ("kan velges"), docs/domain.md §8.
const OPTIONAL_ARCHIVE: &[&str] = &[
    "parent_meeting_minutes",
    "form_question",
    "term_grades",
    "final_grades",
    "diploma",
    "leaving_grades_protocol",
    "group_overview",
    "message_report",
    "absence_report",
    "remarks_report",
    "assessments",
];

const DECISIONS: &[&str] = &[
    "school_place_decision",
    "leave_decision",
    "sfo_decision",
    "sfo_change_decision",
    "sfo_termination_decision",
    "sfo_termination_by_municipality",
    "school_transport_decision",
];

const WARNINGS: &[&str] = &[
    "grade_warning",
    "conduct_warning",
    "missing_assessment_basis_warning",
];

fn non_empty_str(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.trim().is_empty())
}

#[test]
fn examples_carry_the_well_known_fields_of_their_type() {
    let mut protected = 0;
    for (name, bytes) in files("examples/events") {
        let e: Value = serde_json::from_slice(&bytes).expect("JSON");
        let key = e["document_type"].as_str().expect("document_type");
        let f = &e["fields"];
        let body = f["body"].as_array();
        assert!(
            body.is_some_and(|b| !b.is_empty() && b.iter().all(non_empty_str)),
            "{name}: fields.body must be a non-empty array of paragraphs"
        );
        let direction = NOT_OUT
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("out", |(_, d)| d);
        assert_eq!(e["direction"], direction, "{name}: direction");
        let optional = OPTIONAL_ARCHIVE.contains(&key);
        assert_eq!(
            e["archive_opt_in"], optional,
            "{name}: archive_opt_in is true exactly for optional-archive types (their preconditions hold)"
        );
        let grade = e["pupil"]["grade_level"].as_u64();
        match key {
            "term_grades" | "final_grades" | "diploma" | "leaving_grades_protocol" => {
                assert_eq!(f["data_checked"], true, "{name}: data_checked")
            }
            "absence_report" => assert_eq!(f["period"], "whole_year", "{name}: period"),
            "message_report" => assert!(non_empty_str(&f["case_reference"]), "{name}"),
            "remarks_report" => assert_eq!(f["conduct_grade_lowered"], true, "{name}"),
            "assessments" => {
                let a = f["assessments"].as_array().expect("fields.assessments");
                assert!(!a.is_empty(), "{name}: no assessments");
                for item in a {
                    assert!(non_empty_str(&item["subject"]), "{name}: subject");
                    assert_eq!(item["status"], "Avsluttet", "{name}: every one closed");
                }
            }
            "emergency_sms" => {
                assert!(non_empty_str(&f["text"]), "{name}: fields.text");
                assert_eq!(e["sender"]["role"], "rektor", "{name}: sender role");
                assert_eq!(e["sensitive"], false, "{name}: never sensitive");
            }
            "moving_notice" => {
                let r = &f["receiving_school"];
                assert!(
                    non_empty_str(&r["id"]) && non_empty_str(&r["name"]),
                    "{name}"
                );
                let other = r["municipality_number"] != e["municipality"]["number"];
                assert_eq!(other, name == "moving_notice_other_municipality", "{name}");
            }
            "pupil_message" => {
                assert_eq!(e["sensitive"], name == "pupil_message_sensitive", "{name}")
            }
            "form_question" => assert_eq!(e["sensitive"], false, "{name}: forms never sensitive"),
            _ => {}
        }
        match key {
            "final_grades" => assert!(matches!(grade, Some(8..=10)), "{name}: grades 8–10"),
            "diploma" | "leaving_grades_protocol" => assert_eq!(grade, Some(10), "{name}"),
            _ => {}
        }
        if matches!(
            key,
            "leaving_grades_protocol"
                | "group_overview"
                | "message_report"
                | "absence_report"
                | "remarks_report"
        ) {
            assert!(
                f["rows"].as_array().is_some_and(|r| !r.is_empty()),
                "{name}: fields.rows"
            );
        }
        if DECISIONS.contains(&key) {
            assert!(non_empty_str(&f["decision"]), "{name}: decision");
            let date = f["decision_date"].as_str().unwrap_or_default();
            assert!(
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
                "{name}: decision_date"
            );
            assert!(non_empty_str(&f["legal_basis_text"]), "{name}");
            assert!(f["appeal_deadline_weeks"].as_u64().is_some(), "{name}");
            assert!(non_empty_str(&f["appeal_to"]), "{name}");
        }
        if WARNINGS.contains(&key) {
            assert_eq!(e["sensitive"], true, "{name}: warnings are sensitive");
            assert!(
                non_empty_str(&f["term"]) && non_empty_str(&f["subject"]),
                "{name}"
            );
            assert!(
                f["reasons"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty() && r.iter().all(non_empty_str)),
                "{name}: reasons"
            );
            assert!(
                !f["measures"].is_null() && !f["contact"].is_null(),
                "{name}"
            );
        }
        let recipients = e["recipients"].as_array().expect("recipients");
        for r in recipients {
            if let Some(id) = r["national_id"].as_str() {
                assert!(is_valid_national_id(id), "{name}: national id check digits");
            }
            if r["protected_address"] == true {
                protected += 1;
                assert!(
                    r["address"].is_null(),
                    "{name}: a protected address is not sent at all"
                );
            }
        }
        let letter_to_guardians = direction == "out"
            && !matches!(
                key,
                "moving_notice" | "emergency_sms" | "sfo_termination_by_municipality"
            );
        if letter_to_guardians {
            assert!(
                recipients
                    .iter()
                    .any(|r| r["kind"] == "guardian" && r["parental_responsibility"] == true),
                "{name}: nobody with parental responsibility would receive it"
            );
        }
    }
    assert!(
        protected >= 2,
        "at least two examples have a protected address"
    );
}

#[test]
fn the_conduct_warning_is_a_complete_varsel() {
    let e = example("conduct_warning");
    assert_eq!(e["pupil"]["grade_level"], 9);
    assert_eq!(e["sender"]["role"], "kontaktlaerer");
    assert_eq!(e["sensitive"], true);
    assert_eq!(e["direction"], "out");
    let guardians: Vec<&Value> = e["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .filter(|r| r["kind"] == "guardian")
        .collect();
    assert_eq!(guardians.len(), 2);
    for g in &guardians {
        assert_eq!(g["parental_responsibility"], true);
        assert!(is_valid_national_id(g["national_id"].as_str().expect("id")));
    }
    assert_eq!(
        guardians
            .iter()
            .filter(|g| g["protected_address"] == true)
            .count(),
        1
    );
}

/// Files in `examples/invalid/` whose fault the JSON Schema sees too.
const SCHEMA_LEVEL: &[&str] = &[
    "unsupported_schema_version",
    "schema_violation",
    "unknown_document_type",
];

#[test]
fn every_invalid_example_fails_with_the_code_in_its_name() {
    let schema = schema();
    let mut seen = BTreeSet::new();
    for (name, bytes) in files("examples/invalid") {
        let err = match validate(&bytes, LIMIT) {
            Ok(_) => panic!("{name}.json passes validate"),
            Err(e) => e,
        };
        assert_eq!(
            err.code(),
            name,
            "{name}.json fails for another reason: {err}"
        );
        match name.as_str() {
            "not_json" | "not_utf8" => assert!(
                serde_json::from_slice::<Value>(&bytes).is_err(),
                "{name}.json parses as JSON"
            ),
            _ => {
                let v: Value = serde_json::from_slice(&bytes).expect("JSON");
                let errors = schema_errors(&schema, &v);
                if SCHEMA_LEVEL.contains(&name.as_str()) {
                    assert!(!errors.is_empty(), "{name}.json passes the schema");
                }
            }
        }
        seen.insert(name);
    }
    let expected: BTreeSet<String> = [
        "not_json",
        "not_utf8",
        "unsupported_schema_version",
        "schema_violation",
        "unknown_document_type",
        "invalid_field",
    ]
    .map(String::from)
    .into();
    assert_eq!(seen, expected, "one invalid example per validator code");
}

#[test]
fn the_size_limit_is_one_mebibyte() {
    assert_eq!(
        dokflyt::config::Settings::default().amqp.max_message_bytes,
        LIMIT
    );
    let mut body = serde_json::to_vec_pretty(&example("conduct_warning")).expect("JSON");
    // Trailing whitespace keeps the JSON valid: exactly at the limit it passes ...
    body.resize(LIMIT, b' ');
    assert!(validate(&body, LIMIT).is_ok(), "a body of exactly 1 MiB");
    // ... one byte more is refused before it is even read.
    body.push(b' ');
    assert_eq!(validate(&body, LIMIT).unwrap_err().code(), "oversize");
    let mut garbage = vec![0xff_u8; LIMIT + 1];
    garbage[0] = b'{';
    assert_eq!(validate(&garbage, LIMIT).unwrap_err().code(), "oversize");
}

/// Paths (JSON pointers) of every object in the flagship whose keys the contract
/// fixes, with the schema definition that describes it.
const OBJECTS: &[(&str, &str)] = &[
    ("", "/"),
    ("/municipality", "/$defs/municipality"),
    ("/school", "/$defs/school"),
    ("/pupil", "/$defs/pupil"),
    ("/recipients/1", "/$defs/recipient"),
    ("/recipients/1/address", "/$defs/address"),
    ("/sender", "/$defs/sender"),
];

fn schema_required(schema: &Value, def: &str) -> BTreeSet<String> {
    let node = if def == "/" {
        schema
    } else {
        schema.pointer(def).expect("definition exists")
    };
    node["required"]
        .as_array()
        .map(|r| r.iter().map(|k| k.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// A flagship with every optional field present, so removal can be tried for each.
fn full_flagship() -> Value {
    let mut e = example("conduct_warning");
    e["pupil"]["class"] = json!("9B");
    e["recipients"][1]["address"]["country"] = json!("NO");
    e
}

#[test]
fn required_fields_agree_between_schema_and_validator() {
    let schema_json = schema_value();
    let schema = schema();
    let base = full_flagship();
    assert!(schema_errors(&schema, &base).is_empty());
    assert_eq!(validator_code(&base), Ok(()));
    for (path, def) in OBJECTS {
        let object = base
            .pointer(path)
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("flagship has an object at {path:?}"));
        let mut rust_required = BTreeSet::new();
        for key in object.keys() {
            let mut mutated = base.clone();
            mutated
                .pointer_mut(path)
                .and_then(Value::as_object_mut)
                .expect("object")
                .remove(key);
            let by_validator = validator_code(&mutated);
            let by_schema = schema_errors(&schema, &mutated);
            if by_validator.is_err() {
                rust_required.insert(key.clone());
                assert!(
                    !by_schema.is_empty(),
                    "without {path}/{key} the validator fails ({by_validator:?}) but the schema passes"
                );
                let expected = if key == "schema_version" {
                    "unsupported_schema_version"
                } else {
                    "schema_violation"
                };
                assert_eq!(by_validator, Err(expected), "{path}/{key}");
            } else {
                assert!(
                    by_schema.is_empty(),
                    "without {path}/{key} the validator passes but the schema fails: {by_schema:?}"
                );
            }
        }
        assert_eq!(
            rust_required,
            schema_required(&schema_json, def),
            "required keys of {def}"
        );
    }
    // The top level requires exactly what IncomingEvent has no default for.
    assert_eq!(
        schema_required(&schema_json, "/"),
        [
            "event_id",
            "schema_version",
            "occurred_at",
            "municipality",
            "school",
            "document_type",
            "direction",
            "title",
            "sender"
        ]
        .map(String::from)
        .into()
    );
}

#[test]
fn unknown_fields_fail_both_at_every_level() {
    let schema = schema();
    for (path, _) in OBJECTS {
        for unknown in ["sensitiv", "x_extra"] {
            let mut mutated = full_flagship();
            mutated
                .pointer_mut(path)
                .and_then(Value::as_object_mut)
                .expect("object")
                .insert(unknown.into(), json!(true));
            assert_eq!(
                validator_code(&mutated),
                Err("schema_violation"),
                "{path}/{unknown}"
            );
            assert!(
                !schema_errors(&schema, &mutated).is_empty(),
                "the schema accepts {path}/{unknown}"
            );
        }
    }
    // `fields` is the one open object: producers put template data there.
    let mut open = full_flagship();
    open["fields"]["anything_else"] = json!({"nested": [1, 2, 3]});
    assert_eq!(validator_code(&open), Ok(()));
    assert!(schema_errors(&schema, &open).is_empty());
}

/// One change to the flagship and whether the contract accepts it; the validator
/// and the schema must both give that answer. `None` for `code` means accepted.
fn mutation_table() -> Vec<(&'static str, Value, Option<&'static str>)> {
    let long = |n: usize| json!("a".repeat(n));
    vec![
        ("/event_id", json!("not-a-uuid"), Some("schema_violation")),
        (
            "/schema_version",
            json!(2),
            Some("unsupported_schema_version"),
        ),
        (
            "/schema_version",
            json!("1"),
            Some("unsupported_schema_version"),
        ),
        (
            "/occurred_at",
            json!("2026-11-24"),
            Some("schema_violation"),
        ),
        ("/occurred_at", json!("2026-11-24T14:35:00Z"), None),
        ("/municipality/number", json!("469"), Some("invalid_field")),
        (
            "/municipality/number",
            json!("46990"),
            Some("invalid_field"),
        ),
        ("/municipality/number", json!("46a9"), Some("invalid_field")),
        ("/municipality/name", json!("  "), Some("invalid_field")),
        (
            "/school/org_number",
            json!("97412345"),
            Some("invalid_field"),
        ),
        (
            "/school/org_number",
            json!("974 123 452"),
            Some("invalid_field"),
        ),
        ("/school/id", json!(""), Some("invalid_field")),
        (
            "/document_type",
            json!("Conduct_warning"),
            Some("unknown_document_type"),
        ),
        (
            "/document_type",
            json!("homework_excuse"),
            Some("unknown_document_type"),
        ),
        ("/document_type", json!(7), Some("schema_violation")),
        ("/direction", json!("inn"), Some("schema_violation")),
        ("/direction", json!("note"), None),
        ("/sensitive", json!("yes"), Some("schema_violation")),
        ("/archive_opt_in", json!(null), Some("schema_violation")),
        ("/legal_basis", json!(null), None),
        ("/legal_basis", json!(13), Some("schema_violation")),
        ("/title", json!(" \t "), Some("invalid_field")),
        ("/title", long(500), None),
        ("/title", long(501), Some("invalid_field")),
        ("/fields", json!([]), Some("schema_violation")),
        ("/fields", json!(null), Some("schema_violation")),
        ("/fields", json!({}), None),
        ("/pupil", json!(null), None),
        ("/pupil/grade_level", json!(10), None),
        ("/pupil/grade_level", json!(11), Some("invalid_field")),
        ("/pupil/grade_level", json!(-1), Some("schema_violation")),
        (
            "/pupil/birth_date",
            json!("14.03.2012"),
            Some("schema_violation"),
        ),
        ("/pupil/class", json!(null), None),
        ("/pupil/name", json!(""), Some("invalid_field")),
        ("/recipients", json!([]), None),
        ("/recipients", json!(null), Some("schema_violation")),
        (
            "/recipients/0/kind",
            json!("teacher"),
            Some("schema_violation"),
        ),
        ("/recipients/0/kind", json!("staff"), Some("invalid_field")),
        (
            "/recipients/0/national_id",
            json!("1483844201"),
            Some("invalid_field"),
        ),
        (
            "/recipients/0/national_id",
            json!("1483844201a"),
            Some("invalid_field"),
        ),
        ("/recipients/0/national_id", json!(null), None),
        (
            "/recipients/0/email",
            json!("ingrid.solberg"),
            Some("invalid_field"),
        ),
        (
            "/recipients/0/email",
            json!("@eksempel.no"),
            Some("invalid_field"),
        ),
        (
            "/recipients/0/email",
            json!("ingrid@localhost"),
            Some("invalid_field"),
        ),
        ("/recipients/0/email", json!(null), None),
        (
            "/recipients/0/mobile",
            json!("1234567"),
            Some("invalid_field"),
        ),
        (
            "/recipients/0/mobile",
            json!("912a4567"),
            Some("invalid_field"),
        ),
        ("/recipients/0/mobile", json!("+47-912-34-567"), None),
        (
            "/recipients/0/mobile",
            json!("1234567890123456"),
            Some("invalid_field"),
        ),
        (
            "/recipients/0/address",
            json!({"street": "Storgata 1", "postal_code": "6900", "city": "Fjellvik"}),
            None,
        ),
        (
            "/recipients/0/address",
            json!({"street": "Storgata 1"}),
            Some("schema_violation"),
        ),
        (
            "/recipients/1/protected_address",
            json!("ja"),
            Some("schema_violation"),
        ),
        ("/sender/role", json!(""), Some("invalid_field")),
        ("/sender/initials", json!(null), Some("schema_violation")),
    ]
}

/// Sets the value at a JSON pointer, creating the last key when missing.
fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let parent = if parent.is_empty() {
        &mut *v
    } else {
        v.pointer_mut(parent).expect("parent exists")
    };
    match parent {
        Value::Object(map) => {
            map.insert(key.to_string(), new);
        }
        Value::Array(items) => items[key.parse::<usize>().expect("index")] = new,
        other => panic!("cannot set {pointer} in {other}"),
    }
}

#[test]
fn schema_and_validator_agree_on_single_field_mutations() {
    let schema = schema();
    let mut disagreements = BTreeMap::new();
    for (pointer, value, expected) in mutation_table() {
        let mut mutated = full_flagship();
        set(&mut mutated, pointer, value.clone());
        let by_validator = validator_code(&mutated).err();
        let by_schema = schema_errors(&schema, &mutated);
        let label = format!("{pointer} = {value}");
        assert_eq!(by_validator, expected, "validator on {label}");
        if by_schema.is_empty() != expected.is_none() {
            disagreements.insert(label, by_schema);
        }
    }
    assert!(
        disagreements.is_empty(),
        "the schema disagrees with the validator: {disagreements:#?}"
    );
}

#[test]
fn a_wrong_check_digit_is_caught_by_the_validator_alone() {
    // Mod-11 is beyond JSON Schema: the schema passes, the validator refuses.
    let mut e = full_flagship();
    let id = e["recipients"][0]["national_id"]
        .as_str()
        .expect("id")
        .to_string();
    let last = id
        .chars()
        .last()
        .and_then(|c| c.to_digit(10))
        .expect("digit");
    let wrong = format!("{}{}", &id[..10], (last + 1) % 10);
    e["recipients"][0]["national_id"] = json!(wrong);
    assert!(schema_errors(&schema(), &e).is_empty());
    assert_eq!(validator_code(&e), Err("invalid_field"));
}

#[test]
fn known_differences_between_schema_and_validator_are_pinned() {
    // docs/events.md lists these. The schema is stricter on formats (a producer
    // that passes the schema is always accepted) ...
    let schema = schema();
    for (pointer, value) in [
        ("/occurred_at", json!("2026-11-24 14:35:00+01:00")),
        ("/occurred_at", json!("2026-11-24T14:35:00+0100")),
        ("/event_id", json!("bf49b3a4f1ce55c386d1deff3db37b46")),
        (
            "/event_id",
            json!("urn:uuid:bf49b3a4-f1ce-55c3-86d1-deff3db37b46"),
        ),
        ("/pupil/birth_date", json!("2012-3-14")),
    ] {
        let mut e = full_flagship();
        set(&mut e, pointer, value.clone());
        assert_eq!(
            validator_code(&e),
            Ok(()),
            "validator on {pointer} = {value}"
        );
        assert!(
            !schema_errors(&schema, &e).is_empty(),
            "schema on {pointer} = {value}"
        );
    }
    // ... except that JSON Schema cannot tell 9.0 from 9, and the worker refuses a
    // fraction where the contract has an integer.
    for (pointer, value, code) in [
        ("/pupil/grade_level", json!(9.0), "schema_violation"),
        ("/schema_version", json!(1.0), "unsupported_schema_version"),
    ] {
        let mut e = full_flagship();
        set(&mut e, pointer, value.clone());
        assert_eq!(
            validator_code(&e),
            Err(code),
            "validator on {pointer} = {value}"
        );
        assert!(
            schema_errors(&schema, &e).is_empty(),
            "schema on {pointer} = {value}"
        );
    }
}

#[test]
fn rejection_reasons_never_carry_the_value() {
    // The reason goes to the x-dokflyt-reason header and the dead_letters table.
    for (pointer, value) in [
        ("/pupil/grade_level", "Kari Nordmann"),
        ("/pupil/grade_level", "Kari \"Kx\" Nordmann"),
        ("/recipients/0/kind", "Kari Nordmann"),
        ("/pupil/birth_date", "Kari Nordmann"),
        ("/event_id", "Kari Nordmann"),
    ] {
        let mut e = full_flagship();
        set(&mut e, pointer, json!(value));
        let body = serde_json::to_vec(&e).expect("JSON");
        let reason = validate(&body, LIMIT).expect_err("rejected").to_string();
        for part in ["Kari", "Kx", "Nordmann"] {
            assert!(
                !reason.contains(part),
                "{pointer}: reason {reason:?} leaks {part:?}"
            );
        }
    }
}

#[test]
fn the_docs_list_every_key_with_its_name_and_every_code() {
    let docs = std::fs::read_to_string(root().join("docs/events.md")).expect("docs/events.md");
    for t in DocumentType::ALL {
        let row = format!("| `{}` | {} |", t.key(), t.name_nb());
        assert!(docs.contains(&row), "docs/events.md lacks the row {row:?}");
    }
    for code in [
        "oversize",
        "not_utf8",
        "not_json",
        "unsupported_schema_version",
        "unknown_document_type",
        "schema_violation",
        "invalid_field",
        "event_id_conflict",
        "no_recipient",
        "x-dokflyt-reason-code",
        "x-dokflyt-reason",
        "x-dokflyt-event-id",
    ] {
        assert!(
            docs.contains(&format!("`{code}`")),
            "docs/events.md lacks `{code}`"
        );
    }
}
