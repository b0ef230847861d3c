//! The roster: events from their own queue into PostgreSQL (versions decide, not
//! arrival order; deletions are honoured), bad events dead-lettered with a reason,
//! and the bulk import on the real binary.

use crate::common;

use std::time::Duration;

use common::sms_gateway::*;
use serde_json::{json, Value};
use uuid::Uuid;

const T: Duration = Duration::from_secs(60);

fn pupil(id: &str, version: i64, class: &str, mobile: &str) -> Value {
    json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": "pupil",
        "id": id, "version": version, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "upsert",
        "pupil": { "school_id": "s1", "name": "Kari Nordmann", "class": class, "grade_level": 10,
                   "birth_date": "2011-02-03", "mobile": mobile, "protected_address": true }
    })
}

fn delete(entity: &str, id: &str, version: i64) -> Value {
    json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": entity,
        "id": id, "version": version, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "delete"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_events_from_the_queue_are_ordered_by_version_and_bad_ones_dead_lettered() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |_| {}).await;
    let publish = |v: Value| {
        let key = format!("roster.{}", v["entity"].as_str().unwrap_or("unknown"));
        let body = serde_json::to_vec(&v).expect("json");
        let app = &app;
        async move { app.publish_raw(&key, &body).await }
    };
    // Out of order: version 3, then the older 2 (must not win), then 1.
    publish(pupil("p1", 3, "10B", "91111111")).await;
    publish(pupil("p1", 2, "10A", "92222222")).await;
    publish(pupil("p1", 1, "9A", "93333333")).await;
    // Deleted at 5; a late upsert at 4 must not bring it back.
    publish(pupil("p2", 1, "10A", "94444444")).await;
    publish(delete("pupil", "p2", 5)).await;
    publish(pupil("p2", 4, "10A", "95555555")).await;
    // A guardian with two children, then a newer version with one.
    let guardian = |v: i64, children: Value| {
        json!({
            "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": "guardian",
            "id": "g1", "version": v, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "upsert",
            "guardian": { "name": "Ola", "mobile": "+47 400 00 000", "children": children }
        })
    };
    publish(guardian(
        7,
        json!([{"pupil_id": "p9", "parental_responsibility": false}]),
    ))
    .await;
    publish(guardian(
        6,
        json!([{"pupil_id": "p1", "parental_responsibility": true},
                                {"pupil_id": "p2", "parental_responsibility": true}]),
    ))
    .await;
    // Bad ones: not JSON, an upsert without its record, an unknown staff role.
    app.publish_raw("roster.pupil", b"{not json").await;
    let mut no_record = pupil("p3", 1, "1A", "90000000");
    no_record.as_object_mut().expect("object").remove("pupil");
    publish(no_record.clone()).await;
    publish(json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": "staff",
        "id": "st1", "version": 1, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "upsert",
        "staff": { "name": "X", "schools": [{"school_id": "s1", "role": "vaktmester-sjef"}] }
    }))
    .await;

    app.wait_until("all eight good events are recorded", T, || async {
        app.count("SELECT count(*) FROM roster_events").await == 8
            && app.count("SELECT count(*) FROM dead_letters").await == 3
    })
    .await;
    let (class, mobile, version): (String, String, i64) =
        sqlx::query_as("SELECT class, mobile, version FROM roster_pupils WHERE pupil_id = 'p1'")
            .fetch_one(&app.pool)
            .await
            .expect("p1");
    assert_eq!(
        (class.as_str(), mobile.as_str(), version),
        ("10B", "91111111", 3)
    );
    let (deleted, name): (bool, Option<String>) =
        sqlx::query_as("SELECT deleted, name FROM roster_pupils WHERE pupil_id = 'p2'")
            .fetch_one(&app.pool)
            .await
            .expect("p2");
    assert!(deleted, "a late upsert did not resurrect a deleted pupil");
    assert_eq!(name, None, "a deleted pupil's personal data is cleared");
    let links: Vec<String> =
        sqlx::query_scalar("SELECT pupil_id FROM roster_guardian_links WHERE guardian_id = 'g1'")
            .fetch_all(&app.pool)
            .await
            .expect("links");
    assert_eq!(
        links,
        vec!["p9".to_string()],
        "the newer guardian version's links win"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM roster_events WHERE outcome = 'stale'")
            .await,
        4,
        "p1 v2, p1 v1, p2 v4 and g1 v6 arrived after newer versions"
    );

    // The bad ones are in the roster dead-letter queue with their reason codes.
    let mut codes = Vec::new();
    for _ in 0..3 {
        let got = app
            .channel
            .basic_get(
                app.topology.roster_dead_letter_queue.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .expect("get")
            .expect("a dead letter");
        let headers = got
            .delivery
            .properties
            .headers()
            .clone()
            .unwrap_or_default();
        match headers.inner().get("x-dokflyt-reason-code") {
            Some(lapin::types::AMQPValue::LongString(s)) => codes.push(s.to_string()),
            other => panic!("no reason code: {other:?}"),
        }
    }
    codes.sort();
    assert_eq!(
        codes,
        vec![
            "invalid_roster_event",
            "invalid_roster_event",
            "malformed_roster_event"
        ]
    );
    app.stop_and_clean().await;
}

/// `dokflyt roster import FILE.jsonl` on the real binary: a generated school, a bad
/// line reported by number (exit 1), and a second run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_import_cli() {
    let id = Uuid::new_v4().simple().to_string();
    let db = format!("dokflyt_test_{id}");
    let url = format!("postgres://postgres@{}/{db}", common::PG_HOST_PORT);
    let school = generate_school("s-imp", "4601", 300, 400, 30);
    let mut text: String = school.events.iter().map(|e| format!("{e}\n")).collect();
    text.push_str("{\"event_id\": \"nope\"}\n");
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), text).expect("write");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
            .args(["roster", "import"])
            .arg(file.path())
            .env("DOKFLYT_DATABASE_URL", &url)
            .output()
            .expect("runs")
    };
    let out = run();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad line makes the exit code 1"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary json");
    let n = school.events.len();
    assert_eq!(summary["lines"], n + 1);
    assert_eq!(summary["applied"], n);
    assert_eq!(summary["rejected"], 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(":{}: ", n + 1)),
        "the bad line is named: {stderr}"
    );
    assert!(!stderr.contains("Elev 1"), "no personal data in the output");

    let again = run();
    let summary: Value = serde_json::from_slice(&again.stdout).expect("summary json");
    assert_eq!(summary["applied"], 0);
    assert_eq!(summary["stale"], n);

    let pool = sqlx::PgPool::connect(&url).await.expect("pool");
    let pupils: i64 =
        sqlx::query_scalar("SELECT count(*) FROM roster_pupils WHERE school_id = 's-imp'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(pupils, 300);
    let tenth: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM roster_pupils WHERE school_id = 's-imp' AND grade_level = 10 AND NOT deleted",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(
        tenth, 30,
        "the 10th graders can be asked for (archive deadlines)"
    );
    pool.close().await;
    common::drop_database(&db).await;
}

/// The JSON Schema and the Rust types agree: every generated roster event passes
/// both, and each broken variant fails both.
#[test]
fn the_schema_and_the_parser_agree() {
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
    let school = generate_school("s-schema", "4601", 12, 10, 4);
    let mut good = school.events.clone();
    good.push(delete("guardian", "g1", 9));
    for e in &good {
        assert!(v.is_valid(e), "schema refuses {e}");
        assert!(parses(e), "parser refuses {e}");
    }
    let base = pupil("p1", 1, "1A", "91234567");
    let mut bad = Vec::new();
    let mut b = base.clone();
    b["entity"] = json!("guardian");
    bad.push(b);
    let mut b = base.clone();
    b["op"] = json!("delete");
    bad.push(b);
    let mut b = base.clone();
    b["pupil"]["grade_level"] = json!(14);
    bad.push(b);
    let mut b = base.clone();
    b["schema_version"] = json!(2);
    bad.push(b);
    let mut b = base.clone();
    b["surprise"] = json!(true);
    bad.push(b);
    let mut b = school.events[0].clone();
    b["school"]["municipality_number"] = json!("46");
    bad.push(b);
    for e in &bad {
        assert!(!v.is_valid(e), "schema accepts {e}");
        assert!(!parses(e), "parser accepts {e}");
    }
}

/// The reachability report on a roster with gaps: per class, who has no mobile, no
/// email or (guardians) no digital mailbox, and staff without a mobile; from the
/// library and from `dokflyt contacts gaps` on the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reachability_report_lists_who_cannot_be_reached_per_class() {
    let db = common::archive_standin::Db::new().await;
    let ev = |entity: &str, id: &str, body: Value| {
        let mut v = json!({
            "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": entity,
            "id": id, "version": 1, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "upsert",
        });
        v[entity] = body;
        v
    };
    let pupil = |id: &str, class: &str, mobile: Option<&str>, email: Option<&str>| {
        ev(
            "pupil",
            id,
            json!({ "school_id": "s-gap", "name": "Elev", "class": class,
            "grade_level": 8, "birth_date": "2013-01-01", "mobile": mobile, "email": email }),
        )
    };
    let lines = [
        pupil("p1", "8A", Some("91111111"), Some("p1@skole.no")),
        pupil("p2", "8A", None, Some("p2@skole.no")),
        pupil("p3", "9B", Some("93333333"), None),
        ev(
            "guardian",
            "g1",
            json!({ "name": "F", "mobile": "41111111", "email": "g1@x.no",
            "digital_mail": true, "children": [{"pupil_id": "p1", "parental_responsibility": true}] }),
        ),
        ev(
            "guardian",
            "g2",
            json!({ "name": "F", "mobile": "42222222", "email": "g2@x.no",
            "digital_mail": false, "protected_address": true,
            "children": [{"pupil_id": "p2", "parental_responsibility": true}] }),
        ),
        ev(
            "staff",
            "st1",
            json!({ "name": "L", "schools": [{"school_id": "s-gap", "role": "laerer"}] }),
        ),
        ev(
            "staff",
            "st2",
            json!({ "name": "R", "mobile": "99999999",
            "schools": [{"school_id": "s-gap", "role": "rektor"}] }),
        ),
    ];
    let file = tempfile::NamedTempFile::new().expect("tmp");
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(file.path(), text.join("\n") + "\n").expect("write");
    let summary =
        dokflyt::roster::import_file(db.pool(), file.path(), 2, &dokflyt::progress::Silent)
            .await
            .expect("import");
    assert_eq!(summary.rejected, 0, "{:?}", summary.errors);

    let r = dokflyt::roster::gaps::report(db.pool(), "s-gap")
        .await
        .expect("report");
    let class = |c: &str| {
        r.classes
            .iter()
            .find(|x| x.class == c)
            .expect("class")
            .clone()
    };
    let a = class("8A");
    assert_eq!(
        (
            a.pupils,
            a.guardians,
            a.no_mobile,
            a.no_email,
            a.no_digital_mailbox
        ),
        (2, 2, 1, 0, 1)
    );
    let b = class("9B");
    assert_eq!(
        (b.pupils, b.guardians, b.no_mobile, b.no_email),
        (1, 0, 0, 1)
    );
    assert_eq!(r.staff_without_mobile, 1);
    let ids: Vec<(&str, &str)> = r
        .gaps
        .iter()
        .map(|g| (g.kind.as_str(), g.id.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("guardian", "g2"),
            ("pupil", "p2"),
            ("pupil", "p3"),
            ("staff", "st1")
        ]
    );
    let g2 = r.gaps.iter().find(|g| g.id == "g2").expect("g2");
    assert!(g2.no_digital_mailbox && g2.protected_address && !g2.no_mobile);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
        .args(["contacts", "gaps", "--school", "s-gap", "--json"])
        .env("DOKFLYT_CONFIG", "/dev/null")
        .env(
            "DOKFLYT_DATABASE_URL",
            format!("{}/{}", common::archive_standin::PG, db.name),
        )
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["staff_without_mobile"], 1);
    assert_eq!(v["gaps"].as_array().map(Vec::len), Some(4));
    db.drop_db().await;
}
