//! Issue 16, item 6: no personal data in logs, dead-letter reasons or broker
//! headers.
//!
//! Realistic traffic goes through a real worker (RabbitMQ, PostgreSQL): every
//! example event, bad document events of every reason code the pipeline can
//! give (their bad values are names, national ids and phone numbers on purpose),
//! roster events good and bad. Everything the worker logs — at TRACE, every
//! crate, into a buffer this test owns — the `dead_letters` rows and every
//! header of every dead letter on both dead-letter queues then go through a
//! scanner for valid fødselsnummer (11 digits, both mod-11 check digits right),
//! Norwegian mobile numbers (8 digits starting with 4 or 9, optionally +47) and
//! the names and addresses in the fixtures. It must find nothing.
//!
//! (Dead-letter *bodies* are the producer's own message, kept so a person can
//! fix and republish it; they are not scanned. An oversized body is not kept.)

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::scan::{personal_strings, scan, Buffer};
use common::sms_gateway::{spawn_sms_app, GatewayStandIn};
use common::{conduct_warning, fnr_for, TestApp};
use lapin::options::BasicGetOptions;
use lapin::types::AMQPValue;
use serde_json::{json, Value};
use uuid::Uuid;

const T: Duration = Duration::from_secs(120);

/// Every log line of the process at TRACE, every crate (not only `dokflyt`,
/// as the harness captures elsewhere), into the harness's capture buffer.
/// Every async test of this module calls it first.
fn captured_logs() -> (common::WideCapture, Buffer) {
    (common::capture_everything(), common::scan::buffer())
}

#[test]
fn the_scanner_finds_what_it_looks_for() {
    let names: BTreeSet<String> = ["Kari Nordmann".to_string(), "Nordmann".to_string()].into();
    let fnr = fnr_for("150180");
    for leak in [
        format!("reason: invalid type: string \"{fnr}\""),
        "mobile=+4791234567 x".to_string(),
        "tlf. 912 34 567".to_string(),
        "+47 400 00 000".to_string(),
        "tlf.91234567".to_string(),
        "got `String(\"Kari Nordmann\")`".to_string(),
    ] {
        assert!(!scan("t", &leak, &names).is_empty(), "missed in {leak:?}");
    }
    for clean in [
        "event_id=4f1b1a3e-4123-4567-9123-456789012345 reason_code=not_json".to_string(),
        "feltet «recipients[0].kind» har feil type".to_string(),
        "Nordmanns".to_string(),
        "2026-11-30T23:54:19.912345678Z size=1048576".to_string(),
        "timeout=Some(2.47439859s) elapsed_secs=0.42018435".to_string(),
    ] {
        assert!(
            scan("t", &clean, &names).is_empty(),
            "false alarm in {clean:?}"
        );
    }
}

// ---- the traffic -----------------------------------------------------------------

fn examples() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json"))
        .collect()
}

fn roster(entity: &str, id: &str, record: Value) -> Value {
    let mut v = json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": entity,
        "id": id, "version": 1, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "upsert",
    });
    v[entity] = record;
    v
}

async fn drain(app: &TestApp, queue: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    while let Some(msg) = app
        .channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
    {
        let headers = msg
            .delivery
            .properties
            .headers()
            .clone()
            .unwrap_or_default();
        let mut hs = Vec::new();
        for (k, v) in headers.inner() {
            let text = match v {
                AMQPValue::LongString(s) => s.to_string(),
                other => format!("{other:?}"),
            };
            hs.push((k.to_string(), text));
        }
        out.push(hs);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_in_logs_dead_letters_or_headers() {
    let (_wide, logs) = captured_logs();
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |s| {
        s.archive.schedule.enabled = false;
    })
    .await;

    let mut names: BTreeSet<String> = BTreeSet::new();
    let fnr = fnr_for("150180");
    let phone = "91234567";
    names.insert("Kari Nordmann".into());
    names.insert("Ola Nordmann".into());
    names.insert("Nordmann".into());

    // -- document events: every example, then the bad ones --------------------------
    let mut published_docs = 0u64;
    let mut public: BTreeSet<String> = BTreeSet::new();
    for ex in examples() {
        personal_strings(&ex, &mut names);
        for org in [&ex["school"]["name"], &ex["municipality"]["name"]] {
            for word in org.as_str().unwrap_or("").split([' ', '-']) {
                public.insert(word.to_string());
            }
        }
        app.publish(&ex).await;
        published_docs += 1;
    }
    // A surname that is also a school's name ("Bakken skole") is not personal
    // data there; whole names are still scanned for.
    names.retain(|n| n.contains(' ') || !public.contains(n));
    let base = conduct_warning(Uuid::new_v4());
    personal_strings(&base, &mut names);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = conduct_warning(Uuid::new_v4());
        f(&mut v);
        serde_json::to_vec(&v).expect("json")
    };
    let mut bad: Vec<(&str, Vec<u8>)> = vec![
        (
            "not_json",
            format!("{{\"name\": \"Kari Nordmann\", \"national_id\": \"{fnr}\", \"mobile\": \"{phone}\"").into_bytes(),
        ),
        ("not_utf8", {
            let mut b = format!("{{\"name\": \"Kari Nordmann {fnr} {phone}\"").into_bytes();
            b.push(0xff);
            b
        }),
        (
            "unsupported_schema_version",
            with(&|v| v["schema_version"] = json!(fnr.parse::<u64>().expect("digits"))),
        ),
        ("schema_violation", with(&|v| v["pupil"]["grade_level"] = json!("Kari Nordmann"))),
        ("schema_violation", with(&|v| v["recipients"][0]["kind"] = json!("Ola Nordmann"))),
        (
            "schema_violation",
            with(&|v| v["recipients"][0]["national_id"] = json!(fnr.parse::<u64>().expect("digits"))),
        ),
        ("schema_violation", with(&|v| v["recipients"][0]["mobile"] = json!(91234567))),
        ("schema_violation", with(&|v| v["Kari Nordmann"] = json!(phone))),
        ("schema_violation", with(&|v| v["pupil"]["birth_date"] = json!(format!("Kari {fnr}")))),
        ("schema_violation", with(&|v| v["event_id"] = json!(format!("Kari Nordmann {phone}")))),
        (
            "schema_violation",
            with(&|v| v["recipients"][0]["address"]["city"] = json!(["Kari Nordmann"])),
        ),
        ("unknown_document_type", with(&|v| v["document_type"] = json!(format!("Kari Nordmann {fnr}")))),
        ("invalid_field", with(&|v| v["recipients"][0]["mobile"] = json!(format!("Kari {phone}")))),
        ("invalid_field", with(&|v| v["recipients"][0]["email"] = json!("Kari Nordmann"))),
        ("invalid_field", with(&|v| v["recipients"][0]["name"] = json!("   "))),
        (
            "oversize",
            with(&|v| v["fields"]["padding"] = json!(format!("Kari Nordmann {fnr} {phone} ").repeat(40_000))),
        ),
        ("sensitive_not_allowed", with(&|v| v["document_type"] = json!("absence_notice"))),
        ("direction_mismatch", with(&|v| v["direction"] = json!("in"))),
        ("no_recipient", with(&|v| {
            v["recipients"][0]["parental_responsibility"] = json!(false);
            v["recipients"][1]["parental_responsibility"] = json!(false);
        })),
    ];
    // The other refusals of the routing table, from the examples.
    let example = |t: &str, f: &dyn Fn(&mut Value)| {
        let mut v = examples()
            .into_iter()
            .find(|e| e["document_type"] == t)
            .expect("an example of the type");
        v["event_id"] = json!(Uuid::new_v4().to_string());
        f(&mut v);
        serde_json::to_vec(&v).expect("json")
    };
    bad.push((
        "not_authorised",
        example("emergency_sms", &|v| {
            v["sender"]["role"] = json!("kontaktlaerer")
        }),
    ));
    bad.push((
        "precondition_failed",
        example("term_grades", &|v| {
            v["fields"]["data_checked"] = json!(false)
        }),
    ));
    bad.push((
        "no_rule",
        example("moving_notice", &|v| {
            v["fields"]
                .as_object_mut()
                .expect("fields")
                .remove("receiving_school");
        }),
    ));
    bad.push((
        "missing_pupil",
        with(&|v| {
            v.as_object_mut()
                .expect("object")
                .remove("pupil")
                .map(|_| ())
                .unwrap_or(())
        }),
    ));
    // A template filter that fails on the producer's data (tera's `join` on a string).
    let mut meeting = examples()
        .into_iter()
        .find(|e| e["document_type"] == "meeting_invitation")
        .expect("the meeting invitation example");
    meeting["event_id"] = json!(Uuid::new_v4().to_string());
    meeting["fields"]["meeting"]["participants"] =
        json!(format!("Kari Nordmann, tlf. {phone}, {fnr}"));
    bad.push(("render_failed", serde_json::to_vec(&meeting).expect("json")));
    // The same event id as an example, with other content.
    let mut conflict = examples()
        .into_iter()
        .find(|e| e["document_type"] == "conduct_warning")
        .expect("the conduct warning example");
    conflict["title"] = json!(format!("Kari Nordmann {fnr} {phone}"));
    bad.push((
        "event_id_conflict",
        serde_json::to_vec(&conflict).expect("json"),
    ));
    // The examples first, so the conflict meets a committed event.
    app.wait_until("the examples are processed", T, || async {
        let s = &app.stats;
        use std::sync::atomic::Ordering::SeqCst;
        s.completed.load(SeqCst) + s.duplicates.load(SeqCst) + s.dead_lettered.load(SeqCst)
            >= published_docs
    })
    .await;
    let examples_dead = app
        .stats
        .dead_lettered
        .load(std::sync::atomic::Ordering::SeqCst);
    for (_, body) in &bad {
        app.publish_raw("document.test", body).await;
    }

    // -- roster events -----------------------------------------------------------------
    let pupil = json!({ "school_id": "s1", "name": "Kari Nordmann", "class": "10B", "grade_level": 10,
                        "birth_date": "2011-02-03", "mobile": phone, "email": "kari@example.no" });
    let guardian = json!({ "name": "Ola Nordmann", "mobile": "+47 400 00 000",
                           "children": [{"pupil_id": "p1", "parental_responsibility": true}] });
    let staff = json!({ "name": "Åse Ødegård", "mobile": "+4791234568",
                        "schools": [{"school_id": "s1", "role": "rektor"}] });
    names.insert("Åse Ødegård".into());
    let good_roster = vec![
        roster("pupil", "p1", pupil.clone()),
        roster("guardian", "g1", guardian.clone()),
        roster("staff", "st1", staff.clone()),
    ];
    let mut bad_roster: Vec<(&str, Vec<u8>)> = vec![(
        "malformed_roster_event",
        format!("{{\"name\": \"Kari Nordmann\", \"mobile\": \"{phone}\", \"id\": \"{fnr}\"")
            .into_bytes(),
    )];
    let mut rb = |code: &'static str, f: &dyn Fn(&mut Value)| {
        let mut v = roster("pupil", "p2", pupil.clone());
        f(&mut v);
        bad_roster.push((code, serde_json::to_vec(&v).expect("json")));
    };
    rb("malformed_roster_event", &|v| {
        v["pupil"]["grade_level"] = json!("Ola Nordmann")
    });
    rb("malformed_roster_event", &|v| {
        v["pupil"]["mobile"] = json!(91234567)
    });
    rb("malformed_roster_event", &|v| {
        v["pupil"]["Kari Nordmann"] = json!(phone)
    });
    rb("malformed_roster_event", &|v| {
        v["entity"] = json!(format!("Kari {fnr}"))
    });
    rb("unsupported_schema_version", &|v| {
        v["schema_version"] = json!(fnr.parse::<u64>().expect("digits"))
    });
    rb("invalid_roster_event", &|v| {
        v["pupil"]["grade_level"] = json!(14)
    });
    rb("invalid_roster_event", &|v| {
        v["guardian"] = json!({"name": "Ola Nordmann"})
    });
    rb("oversize", &|v| {
        v["pupil"]["class"] = json!(format!("Kari Nordmann {phone} ").repeat(5_000))
    });
    {
        let mut v = roster("staff", "st2", staff.clone());
        v["staff"]["schools"][0]["role"] = json!("Kari Nordmann");
        bad_roster.push((
            "invalid_roster_event",
            serde_json::to_vec(&v).expect("json"),
        ));
    }
    for v in &good_roster {
        let key = format!("roster.{}", v["entity"].as_str().expect("entity"));
        app.publish_raw(&key, &serde_json::to_vec(v).expect("json"))
            .await;
    }
    for (_, body) in &bad_roster {
        app.publish_raw("roster.pupil", body).await;
    }

    let want_dead = examples_dead as i64 + (bad.len() + bad_roster.len()) as i64;
    app.wait_until("every bad event is dead-lettered", T, || async {
        app.count("SELECT count(*) FROM dead_letters").await >= want_dead
            && app.count("SELECT count(*) FROM roster_events").await >= good_roster.len() as i64
    })
    .await;

    // Every intended reason code happened (so no case passed by not running).
    let codes: BTreeSet<String> = sqlx::query_scalar("SELECT reason_code FROM dead_letters")
        .fetch_all(&app.pool)
        .await
        .expect("codes")
        .into_iter()
        .collect();
    for (code, _) in bad.iter().chain(bad_roster.iter()) {
        assert!(
            codes.contains(*code),
            "no dead letter with {code}; got {codes:?}"
        );
    }

    // -- the scan ----------------------------------------------------------------------
    let mut findings = Vec::new();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT reason_code, reason FROM dead_letters ORDER BY reason_code")
            .fetch_all(&app.pool)
            .await
            .expect("dead letters");
    for (code, reason) in &rows {
        findings.extend(scan(&format!("dead_letters row {code}"), reason, &names));
    }
    let mut headers = drain(&app, &app.topology.dead_letter_queue).await;
    let roster_headers = drain(&app, &app.topology.roster_dead_letter_queue).await;
    assert_eq!(
        headers.len() + roster_headers.len(),
        rows.len(),
        "one dead-letter message per row"
    );
    headers.extend(roster_headers);
    for hs in &headers {
        for (k, v) in hs {
            findings.extend(scan(&format!("header {k}"), v, &names));
        }
    }
    // Let the last log lines land, then stop (shutdown logs too).
    app.stop_and_clean().await;
    let log = logs.text();
    assert!(
        log.contains("event dead-lettered") && log.contains("roster event dead-lettered"),
        "the log capture works"
    );
    findings.extend(scan("log", &log, &names));
    assert!(
        findings.is_empty(),
        "personal data found ({} places):\n{}",
        findings.len(),
        findings.join("\n")
    );
}

/// The reproduce error (the dashboard's «Produser på nytt» page and the JSON
/// API show the same text): a stored event that no longer renders because a
/// template filter fails on its data names the template line, never the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reproduce_error_names_the_template_not_the_data() {
    let _wide = captured_logs();
    let app = common::spawn_app().await;
    let id = common::flow::queue(&app, "school_transport_application").await;
    // The stored event as an older producer might have sent it: a string where
    // the template expects a list (tera's `join` then quotes the string).
    sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{fields,attachments}', to_jsonb($2::text))
          WHERE event_id = $1",
    )
    .bind(id)
    .bind("Kari Nordmann, tlf. 91234567")
    .execute(&app.pool)
    .await
    .expect("update");
    let school = common::flow::example("school_transport_application", id)["school"]["id"]
        .as_str()
        .expect("school")
        .to_string();
    let r = reqwest::Client::new()
        .post(format!(
            "http://{}/api/archive/documents/{id}/reproduce",
            app.http
        ))
        .bearer_auth(&app.api_secret)
        .header("X-Dokflyt-User", "k.admin")
        .header("X-Dokflyt-Role", "kommuneadmin")
        .header("X-Dokflyt-Schools", school)
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.expect("json");
    let text = body.to_string();
    assert!(text.contains("filteret «join» feilet"), "{text}");
    let names: BTreeSet<String> = ["Kari Nordmann".to_string()].into();
    let found = scan("the reproduce error", &text, &names);
    assert!(found.is_empty(), "{found:?}");
    app.stop_and_clean().await;
}

/// Grants and a leaver (issue 24): the audit rows of giving, expiring, renewing
/// and revoking a grant, and of ending a leaver's sessions, and everything logged
/// meanwhile, hold ids and roles only — not the staff member's name, phone
/// number or email from the roster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_and_leaver_audit_rows_hold_ids_and_roles_only() {
    use dokflyt::access::{Actor, Role};
    use dokflyt::grants::store;
    let (_wide, logs) = captured_logs();
    let app = common::spawn_app().await;
    let staff = json!({ "name": "Åse Ødegård", "mobile": "+4791234568",
        "email": "ase.odegard@example.no",
        "schools": [{ "school_id": "s1", "role": "laerer" }] });
    let names: BTreeSet<String> = [
        "Åse Ødegård".to_string(),
        "Ødegård".to_string(),
        "ase.odegard@example.no".to_string(),
    ]
    .into();
    common::sms_gateway::load_roster(&app.pool, &[roster("staff", "st1", staff)]).await;
    let rektor = Actor::new("oidc:rektor", Role::Rektor, vec!["s1".into()]).expect("actor");
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&chrono::Utc)
    };
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("day");
    store::create(
        &app.pool,
        &rektor,
        &store::NewGrant {
            grantee: "st1",
            role: Role::Team,
            school_id: "s1",
            municipality_number: None,
            expires_on: day("2027-07-31"),
        },
        at("2026-12-01T10:00:00Z"),
    )
    .await
    .expect("grant");
    store::record_expiries(
        &app.pool,
        None,
        day("2027-08-01"),
        at("2027-08-01T08:00:00Z"),
    )
    .await
    .expect("expiry");
    store::renew_school(
        &app.pool,
        &rektor,
        &store::Renewal {
            school: "s1",
            roles: &[Role::Team],
            except_grantee: None,
            today: day("2027-08-01"),
            until: day("2028-07-31"),
        },
        at("2027-08-01T08:00:00Z"),
    )
    .await
    .expect("renewal");
    let mut gone = roster("staff", "st1", Value::Null);
    gone["op"] = json!("delete");
    gone["version"] = json!(2);
    gone.as_object_mut().expect("object").remove("staff");
    common::sms_gateway::load_roster(&app.pool, &[gone]).await;
    let rows: Vec<(String, Option<String>, Option<String>, Value)> = sqlx::query_as(
        "SELECT action, target, reason, details FROM audit_log
          WHERE action LIKE 'grant.%' OR action = 'dashboard.sessions_ended'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    let actions: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "grant.create",
            "grant.expire",
            "grant.renew",
            "grant.revoke",
            "dashboard.sessions_ended"
        ]
        .into(),
        "every kind of row was written"
    );
    let mut findings = Vec::new();
    for (action, target, reason, details) in &rows {
        let text = format!("{target:?} {reason:?} {details}");
        findings.extend(scan(&format!("audit_log {action}"), &text, &names));
    }
    app.stop_and_clean().await;
    findings.extend(scan("log", &logs.text(), &names));
    assert!(
        findings.is_empty(),
        "personal data found:\n{}",
        findings.join("\n")
    );
}
