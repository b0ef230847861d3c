//! Roster sources: the "never by hand" list from both sides. Entries the sync owns
//! (from the real roster queue) refuse every manual change with a Norwegian
//! reason; entries by hand are allowed for people not in the register and are
//! never deleted by the sync; `contacts gaps` names them; the CLI refuses with
//! exit 3.

use crate::common;

use std::time::Duration;

use common::sms_gateway::*;
use dokflyt::roster::manual::{self, ManualError};
use dokflyt::roster::Entity;
use serde_json::{json, Value};
use uuid::Uuid;

const T: Duration = Duration::from_secs(60);

fn upsert(entity: &str, id: &str, version: i64, record: Value) -> Value {
    let mut v = json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": entity,
        "id": id, "version": version, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "upsert",
    });
    v[entity] = record;
    v
}

fn delete(entity: &str, id: &str, version: i64) -> Value {
    json!({
        "event_id": Uuid::new_v4().to_string(), "schema_version": 1, "entity": entity,
        "id": id, "version": version, "occurred_at": "2026-11-23T08:00:00+01:00", "op": "delete"
    })
}

fn pupil_record(mobile: Option<&str>) -> Value {
    json!({ "school_id": "s-src", "name": "Elev", "class": "5A", "grade_level": 5,
            "birth_date": "2016-01-01", "mobile": mobile })
}

fn refused(r: Result<(), ManualError>) -> String {
    match r {
        Err(ManualError::Synced(reason)) => reason.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_by_hand_on_synced_entries_and_the_sync_never_deletes_manual_ones() {
    let gw = GatewayStandIn::start().await;
    let app = spawn_sms_app(&gw, |_| {}).await;
    let publish = |v: Value| {
        let key = format!("roster.{}", v["entity"].as_str().unwrap_or("unknown"));
        let body = serde_json::to_vec(&v).expect("json");
        let app = &app;
        async move { app.publish_raw(&key, &body).await }
    };
    // The sync owns a pupil, a guardian linked to it and a teacher.
    publish(upsert("pupil", "p1", 1, pupil_record(Some("91111111")))).await;
    publish(upsert(
        "guardian",
        "g1",
        1,
        json!({ "name": "F", "children": [{"pupil_id": "p1", "parental_responsibility": true}] }),
    ))
    .await;
    publish(upsert(
        "staff",
        "st1",
        1,
        json!({ "name": "L", "schools": [{"school_id": "s-src", "role": "laerer"}] }),
    ))
    .await;
    app.wait_until("the three synced entries are applied", T, || async {
        app.count("SELECT count(*) FROM roster_events WHERE outcome = 'applied'")
            .await
            == 3
    })
    .await;
    let pool = &app.pool;

    // Never by hand: add/edit/remove synced pupils, guardians, staff; remove a synced link.
    let reason = refused(manual::put(pool, Entity::Pupil, "p1", pupil_record(None)).await);
    assert_eq!(
        reason,
        "Eleven kommer fra skolesystemet og kan ikke endres her"
    );
    refused(manual::remove(pool, Entity::Pupil, "p1").await);
    refused(manual::put(pool, Entity::Guardian, "g1", json!({ "name": "X" })).await);
    refused(manual::remove(pool, Entity::Guardian, "g1").await);
    refused(
        manual::put(
            pool,
            Entity::Staff,
            "st1",
            json!({ "name": "L", "schools": [{"school_id": "s-src", "role": "rektor"}] }),
        )
        .await,
    );
    refused(manual::remove(pool, Entity::Staff, "st1").await);
    assert!(refused(manual::unlink(pool, "g1", "p1").await).contains("skolesystemet"));
    let (mobile, role): (Option<String>, String) = sqlx::query_as(
        "SELECT p.mobile, ss.role FROM roster_pupils p, roster_staff_schools ss
          WHERE p.pupil_id = 'p1' AND ss.staff_id = 'st1'",
    )
    .fetch_one(pool)
    .await
    .expect("rows");
    assert_eq!(
        (mobile.as_deref(), role.as_str()),
        (Some("91111111"), "laerer"),
        "nothing refused was written"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM roster_guardian_links WHERE guardian_id = 'g1'")
            .await,
        1
    );

    // By hand is allowed for people not in the register: a principal, a
    // special-needs teacher, a guardian with a foreign id linked to a synced pupil.
    manual::put(
        pool,
        Entity::Staff,
        "rektor-m",
        json!({ "name": "R", "schools": [{"school_id": "s-src", "role": "rektor"}] }),
    )
    .await
    .expect("manual principal");
    manual::put(
        pool,
        Entity::Staff,
        "spes-m",
        json!({ "name": "S", "schools": [{"school_id": "s-src", "role": "laerer"}] }),
    )
    .await
    .expect("manual special-needs teacher");
    manual::put(
        pool,
        Entity::Guardian,
        "SE-19800101-1234",
        json!({ "name": "U", "mobile": "+46701234567",
                "children": [{"pupil_id": "p1", "parental_responsibility": true}] }),
    )
    .await
    .expect("manual guardian with a foreign id");
    // ... and edited by hand.
    manual::put(
        pool,
        Entity::Staff,
        "spes-m",
        json!({ "name": "S", "mobile": "98765432",
                "schools": [{"school_id": "s-src", "role": "laerer"}] }),
    )
    .await
    .expect("manual edit of a manual entry");

    // The sync deletes them all (high versions) and rewrites g1 without links:
    // manual entries and the manual link stay.
    publish(delete("staff", "rektor-m", 1000)).await;
    publish(delete("staff", "spes-m", 1000)).await;
    publish(delete("guardian", "SE-19800101-1234", 1000)).await;
    publish(upsert(
        "guardian",
        "g1",
        2,
        json!({ "name": "F", "children": [] }),
    ))
    .await;
    app.wait_until("the four sync events are recorded", T, || async {
        app.count("SELECT count(*) FROM roster_events").await == 7
    })
    .await;
    assert_eq!(
        app.count(
            "SELECT count(*) FROM roster_staff WHERE staff_id IN ('rektor-m', 'spes-m')
              AND NOT deleted AND source = 'manual'"
        )
        .await,
        2,
        "the sync never deletes a manual staff member"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM roster_guardian_links l JOIN roster_guardians g USING (guardian_id)
              WHERE g.guardian_id = 'SE-19800101-1234' AND NOT g.deleted
                AND g.source = 'manual' AND l.source = 'manual'"
        )
        .await,
        1,
        "the sync never deletes a manual guardian or its link"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM roster_staff_schools WHERE staff_id = 'rektor-m'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM roster_guardian_links WHERE guardian_id = 'g1'")
            .await,
        0,
        "the sync itself may remove its own links"
    );

    // `contacts gaps` names the manual entries (library and binary).
    let r = dokflyt::roster::gaps::report(pool, "s-src")
        .await
        .expect("report");
    let mut manual_ids: Vec<(String, String)> = r
        .manual
        .iter()
        .map(|m| (m.kind.clone(), m.id.clone()))
        .collect();
    manual_ids.sort();
    assert_eq!(
        manual_ids,
        vec![
            ("guardian".to_string(), "SE-19800101-1234".to_string()),
            ("staff".to_string(), "rektor-m".to_string()),
            ("staff".to_string(), "spes-m".to_string()),
        ]
    );
    assert!(
        r.gaps.iter().any(|g| g.id == "rektor-m" && g.manual),
        "a manual entry with a gap is marked"
    );
    assert!(r.gaps.iter().any(|g| g.id == "st1" && !g.manual));
    let url = format!(
        "postgres://postgres@{}/{}",
        common::PG_HOST_PORT,
        app.database
    );
    let bin = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
            .args(args)
            .env("DOKFLYT_DATABASE_URL", &url)
            .output()
            .expect("runs")
    };
    let out = bin(&["contacts", "gaps", "--school", "s-src"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("manuelle oppføringer") && stdout.contains("ansatt rektor-m"),
        "{stdout}"
    );
    let out = bin(&[
        "roster", "manual", "remove", "--entity", "pupil", "--id", "p1",
    ]);
    assert_eq!(out.status.code(), Some(3), "a synced pupil: refused");
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Eleven kommer fra skolesystemet og kan ikke endres her"));

    // Removal by hand of manual entries is allowed; the manual link too.
    manual::unlink(pool, "SE-19800101-1234", "p1")
        .await
        .expect("manual unlink");
    let out = bin(&[
        "roster", "manual", "remove", "--entity", "staff", "--id", "spes-m",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", out);
    assert_eq!(
        app.count("SELECT count(*) FROM roster_staff WHERE staff_id = 'spes-m' AND deleted")
            .await,
        1
    );
    // A sync upsert of a manual id takes it over: the register now has the person.
    publish(upsert(
        "staff",
        "rektor-m",
        1,
        json!({ "name": "R", "schools": [{"school_id": "s-src", "role": "rektor"}] }),
    ))
    .await;
    app.wait_until("the takeover is applied", T, || async {
        app.count(
            "SELECT count(*) FROM roster_staff WHERE staff_id = 'rektor-m' AND source = 'sync'",
        )
        .await
            == 1
    })
    .await;
    refused(manual::remove(pool, Entity::Staff, "rektor-m").await);
    app.stop_and_clean().await;
}
