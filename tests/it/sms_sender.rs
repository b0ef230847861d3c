//! Emergency SMS from events: the sender check against the roster (issue 16,
//! item 3), through the real broker path (events published to RabbitMQ, the
//! pipeline on PostgreSQL, the SMS gateway stand-in).
//!
//! Only the school's principal on the event's day, a deputy named in the roster
//! (within their period) or a school owner of the school's municipality may send;
//! everyone else, whatever role the event claims, is dead-lettered
//! `not_authorised` with a reason that names no person, and audited.

use crate::common;

use std::time::Duration;

use common::sms_gateway::*;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(120);
const SCHOOL: &str = "s-snd";

fn roster_event(entity: &str, id: &str, version: i64, on: &str, record: Value) -> Value {
    let mut e = json!({
        "event_id": uuid::Uuid::new_v4().to_string(), "schema_version": 1,
        "entity": entity, "id": id, "version": version,
        "occurred_at": format!("{on}T08:00:00+01:00"), "op": "upsert",
    });
    e[entity] = record;
    e
}

fn sms_event(user: &str, role: &str, day: &str) -> Value {
    json!({
        "event_id": uuid::Uuid::new_v4().to_string(),
        "schema_version": 1,
        "occurred_at": format!("{day}T07:05:00+01:00"),
        "municipality": { "number": "4601", "name": "Fjellvik kommune" },
        "school": { "id": SCHOOL, "name": "Fjellvik skole", "org_number": "974123452" },
        "document_type": "emergency_sms",
        "direction": "out",
        "sensitive": false,
        "archive_opt_in": false,
        "legal_basis": null,
        "title": "Beredskapsmelding",
        "fields": { "text": "Skolen er stengt i dag. Ny info i appen kl. 12." },
        "pupil": null,
        "recipients": [],
        "sender": { "user_id": user, "name": "Hilde Strand", "role": role, "initials": "HIST" }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_principal_on_the_day_a_named_deputy_or_the_school_owner_may_send() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| s.sms.max_messages_per_hour = 100).await;
    // Staff 0 is the principal from 2026-11-20 (the generated roster's day).
    let mut events = generate_school(SCHOOL, "4601", 6, 5, 5).events;
    // From 2026-12-01 staff 3 is the principal; staff 1 is a deputy without end,
    // staff 2 a deputy only from 2027-01-01.
    events.push(roster_event(
        "school",
        SCHOOL,
        2,
        "2026-11-25",
        json!({
            "name": "Fjellvik skole", "municipality_number": "4601",
            "principal_staff_id": format!("{SCHOOL}-st-3"), "principal_since": "2026-12-01",
            "deputies": [
                { "staff_id": format!("{SCHOOL}-st-1") },
                { "staff_id": format!("{SCHOOL}-st-2"), "from": "2027-01-01" }
            ]
        }),
    ));
    for (id, muni) in [("owner-own", "4601"), ("owner-other", "4602")] {
        events.push(roster_event(
            "staff",
            id,
            1,
            "2026-11-20",
            json!({ "name": "Skoleeier", "school_owner_for": [muni] }),
        ));
    }
    load_roster(&app.pool, &events).await;

    let st = |n: u32| format!("{SCHOOL}-st-{n}");
    let cases: Vec<(Value, bool, &str)> = vec![
        (
            sms_event(&st(0), "rektor", "2026-11-23"),
            true,
            "principal on that day",
        ),
        (
            sms_event(&st(0), "rektor", "2026-12-05"),
            false,
            "former principal",
        ),
        (
            sms_event(&st(3), "rektor", "2026-12-05"),
            true,
            "new principal",
        ),
        (
            sms_event(&st(3), "rektor", "2026-11-23"),
            false,
            "principal not yet",
        ),
        (sms_event(&st(1), "rektor", "2026-12-05"), true, "deputy"),
        (
            sms_event(&st(2), "rektor", "2026-12-05"),
            false,
            "deputy not yet",
        ),
        (
            sms_event("owner-own", "skoleeier", "2026-12-05"),
            true,
            "school owner",
        ),
        (
            sms_event("owner-other", "skoleeier", "2026-12-05"),
            false,
            "other municipality's owner",
        ),
        (
            sms_event(&st(4), "rektor", "2026-12-05"),
            false,
            "a teacher claiming rektor",
        ),
        (
            sms_event("nobody", "rektor", "2026-12-05"),
            false,
            "unknown to the roster",
        ),
    ];
    for (e, _, _) in &cases {
        app.publish(e).await;
    }
    let accepted = cases.iter().filter(|c| c.1).count() as i64;
    let refused = cases.len() as i64 - accepted;
    app.wait_until("every event decided", T, || async {
        app.count("SELECT count(*) FROM sms_messages").await == accepted
            && app.count("SELECT count(*) FROM dead_letters").await == refused
    })
    .await;

    let dead = app.drain_dead_letters().await;
    assert_eq!(dead.len() as i64, refused);
    for (e, ok, what) in &cases {
        let id = e["event_id"].as_str().expect("id");
        let in_messages = app
            .count(&format!(
                "SELECT count(*) FROM sms_messages WHERE event_id = '{id}' AND status IN ('approved', 'completed')"
            ))
            .await;
        let dead_here = dead.iter().find(|d| d.1.as_deref() == Some(id));
        if *ok {
            assert_eq!(in_messages, 1, "{what}: sent");
            assert!(dead_here.is_none(), "{what}");
        } else {
            assert_eq!(in_messages, 0, "{what}: not sent");
            assert_eq!(
                dead_here.map(|d| d.0.as_str()),
                Some("not_authorised"),
                "{what}"
            );
        }
    }
    // The reason names no person: not the name, not the user id.
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM dead_letters WHERE reason_code = 'not_authorised'")
            .fetch_all(&app.pool)
            .await
            .expect("reasons");
    assert_eq!(reasons.len() as i64, refused);
    for r in &reasons {
        assert_eq!(r, dokflyt::sms::NOT_AUTHORISED_NB);
        for word in ["Hilde", "Strand", "HIST", "nobody", "owner-other", SCHOOL] {
            assert!(!r.contains(word), "{r}");
        }
    }
    // Refusals are audited (the audit log is where a refusal's who is kept).
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action = 'sms.send' AND outcome = 'refused'"
        )
        .await,
        refused
    );
    // The recorded role is the roster's, not the event's.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM sms_messages WHERE requested_by = '{}' AND role = 'rektor'",
            st(1)
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM sms_messages WHERE requested_by = 'owner-own' AND role = 'skoleeier'")
            .await,
        1
    );
    app.stop_and_clean().await;
}

/// The principal history: a new principal closes the old period on its first
/// day; a deleted school has no principal from the deletion's day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roster_keeps_the_principals_history_and_the_deputies() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |_| {}).await;
    let school = |v: i64, on: &str, principal: &str, since: Option<&str>, deputies: Value| {
        roster_event(
            "school",
            "s-hist",
            v,
            on,
            json!({ "name": "S", "municipality_number": "4601", "principal_staff_id": principal,
                    "principal_since": since, "deputies": deputies }),
        )
    };
    load_roster(
        &app.pool,
        &[
            school(1, "2026-08-01", "a", None, json!([{ "staff_id": "d1" }])),
            // The same principal again: no new period.
            school(2, "2026-09-01", "a", None, json!([])),
            school(3, "2026-10-01", "b", Some("2026-10-15"), json!([])),
        ],
    )
    .await;
    let rows: Vec<(String, Option<chrono::NaiveDate>, Option<chrono::NaiveDate>)> = sqlx::query_as(
        "SELECT staff_id, valid_from, valid_until FROM roster_principal_history
          WHERE school_id = 's-hist' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("history");
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    assert_eq!(
        rows,
        vec![
            ("a".to_string(), d("2026-08-01"), d("2026-10-15")),
            ("b".to_string(), d("2026-10-15"), None),
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM roster_school_deputies WHERE school_id = 's-hist'")
            .await,
        0,
        "the deputy list is replaced as a whole"
    );
    let mut del = roster_event("school", "s-hist", 4, "2026-11-01", json!(null));
    del["op"] = json!("delete");
    del.as_object_mut().expect("object").remove("school");
    load_roster(&app.pool, &[del]).await;
    assert_eq!(
        app.count(
            "SELECT count(*) FROM roster_principal_history
              WHERE school_id = 's-hist' AND valid_until IS NULL"
        )
        .await,
        0
    );
    app.stop_and_clean().await;
}

/// The roster schema and the parser agree on the new fields.
#[test]
fn the_schema_and_the_parser_agree_on_deputies_and_school_owners() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/roster-event.v1.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json");
    let v = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("compiles");
    let parses = |e: &Value| {
        dokflyt::roster::RosterChange::parse(&serde_json::to_vec(e).expect("json")).is_ok()
    };
    let good_school = roster_event(
        "school",
        "s",
        1,
        "2026-11-20",
        json!({ "name": "S", "municipality_number": "4601", "principal_staff_id": "a",
                "principal_since": "2026-08-01",
                "deputies": [{ "staff_id": "d", "from": "2026-08-01", "until": "2027-06-30" }] }),
    );
    let good_staff = roster_event(
        "staff",
        "o",
        1,
        "2026-11-20",
        json!({ "name": "O", "school_owner_for": ["4601", "4602"] }),
    );
    // The demo's roster (examples/roster) too.
    let demo = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/roster/fjellvik-ungdomsskole.jsonl"),
    )
    .expect("demo roster");
    let demo: Vec<Value> = demo
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    for e in demo.iter().chain([&good_school, &good_staff]) {
        assert!(v.is_valid(e), "schema refuses {e}");
        assert!(parses(e), "parser refuses {e}");
    }
    let mut bad = Vec::new();
    let mut b = good_school.clone();
    b["school"]["deputies"] = json!([{ "from": "2026-08-01" }]);
    bad.push(b);
    let mut b = good_school.clone();
    b["school"]["principal_since"] = json!("1. august");
    bad.push(b);
    let mut b = good_staff.clone();
    b["staff"]["school_owner_for"] = json!(["46011"]);
    bad.push(b);
    for e in &bad {
        assert!(!v.is_valid(e), "schema accepts {e}");
        assert!(!parses(e), "parser accepts {e}");
    }
    // What the schema cannot say, the parser refuses: a deputy named twice, a
    // period that ends before it starts.
    let mut b = good_school.clone();
    b["school"]["deputies"] = json!([{ "staff_id": "d" }, { "staff_id": "d" }]);
    assert!(!parses(&b));
    let mut b = good_school.clone();
    b["school"]["deputies"] =
        json!([{ "staff_id": "d", "from": "2027-01-01", "until": "2026-01-01" }]);
    assert!(!parses(&b));
}
