//! School folders and the school year against the stand-in archive (which validates
//! every message against the Fiks Arkiv opprett schema): the rollover reports what
//! is not archived, closes the old folders, creates the new ones once with the
//! archive's case numbers and the right case owner; principals; deadlines.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use common::archive_standin::{Action, Db, StandIn, PG};
use dokflyt::access::Actor;
use dokflyt::archive::{deadlines, folders};
use dokflyt::archive::{run_now, TransferOptions};
use dokflyt::archive::{ArchiveClient, HttpArchiveClient};
use dokflyt::config::ArchiveSettings;

const SCHOOL: &str = "fjellvik-ungdomsskole";

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn client(archive: &StandIn) -> Arc<dyn ArchiveClient> {
    Arc::new(HttpArchiveClient::new(&archive.url(), Duration::from_secs(5)).expect("client"))
}

fn opts() -> TransferOptions {
    TransferOptions::from_settings(&ArchiveSettings {
        concurrency: 1,
        max_attempts: 1,
        school_access_group: "Elevarkiv {school_name}".into(),
        ..ArchiveSettings::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollover_reports_the_failed_document_and_creates_the_new_folders_once() {
    let db = Db::new().await;
    let admin = Actor::cli();
    folders::set_principal(
        db.pool(),
        &admin,
        SCHOOL,
        "ab",
        date("2020-01-01"),
        date("2027-06-30"),
    )
    .await
    .expect("principal");
    folders::set_principal(
        db.pool(),
        &admin,
        SCHOOL,
        "rh",
        date("2027-08-01"),
        date("2027-06-30"),
    )
    .await
    .expect("next principal");

    let archive = StandIn::start(vec![], Duration::ZERO).await;
    let opts = opts();
    // The folder of the closing year exists (created by last year's rollover).
    let r = folders::rollover(
        db.pool(),
        client(&archive).as_ref(),
        &opts.build,
        &admin,
        (2026, 2027),
    )
    .await
    .expect("rollover 2026/2027");
    assert_eq!(r.folders.len(), 0, "no school known before any event");

    let failing = db.queue("conduct_warning").await;
    let report = db.queue("group_overview").await;
    // conduct_warning is queued first: the archive refuses it; group_overview is archived
    // in the school folder, as a case with AB (the principal on its date) as case owner.
    let script_archive = StandIn::start(vec![Action::Ugyldig], Duration::ZERO).await;
    run_now(db.pool(), client(&script_archive), &opts)
        .await
        .expect("transfer");
    assert_eq!(db.row(failing).await.status, "feilet");
    assert_eq!(db.row(report).await.status, "arkivert");
    assert!(script_archive.with(|a| a.invalid.is_empty()));

    let r = folders::rollover(
        db.pool(),
        client(&archive).as_ref(),
        &opts.build,
        &admin,
        (2026, 2027),
    )
    .await
    .expect("rollover 2026/2027");
    assert_eq!(r.folders.len(), 1);
    let r = folders::rollover(
        db.pool(),
        client(&archive).as_ref(),
        &opts.build,
        &admin,
        (2027, 2028),
    )
    .await
    .expect("rollover 2027/2028");
    assert_eq!(r.closing_year, "2026/2027");
    let not_archived: Vec<_> = r
        .not_archived
        .iter()
        .map(|d| (d.event_id, d.status.as_str()))
        .collect();
    assert_eq!(not_archived, vec![(failing, "feilet")]);
    assert_eq!(r.closed, vec![SCHOOL.to_string()]);
    assert_eq!(r.folders.len(), 1);
    let f = &r.folders[0];
    assert_eq!(f.title, "Skolemappe – Fjellvik ungdomsskole 2027/2028");
    assert_eq!(f.case_owner.as_deref(), Some("RH"));
    assert!(f.failed.is_none(), "{f:?}");
    let key = format!("skolemappe/{SCHOOL}/2027-2028");
    let seq = archive
        .with(|a| a.case_numbers.get(&key).copied())
        .expect("created in the archive");
    assert_eq!(f.case_number, Some(format!("2026/{seq}")));
    let stored: (Option<i32>, Option<i32>, String, Option<String>) = sqlx::query_as(
        "SELECT case_year, case_sequence, status, case_owner FROM school_folders
          WHERE school_id = $1 AND school_year = '2027/2028'",
    )
    .bind(SCHOOL)
    .fetch_one(db.pool())
    .await
    .expect("folder row");
    assert_eq!(
        stored,
        (Some(2026), Some(seq), "open".into(), Some("RH".into()))
    );

    // Running it again creates nothing new in the archive.
    let again = folders::rollover(
        db.pool(),
        client(&archive).as_ref(),
        &opts.build,
        &admin,
        (2027, 2028),
    )
    .await
    .expect("rerun");
    assert!(again.folders[0].existing);
    assert_eq!(again.folders[0].case_number, Some(format!("2026/{seq}")));
    assert!(archive.with(|a| a.folders_created.values().all(|n| *n == 1)));
    assert!(
        archive.with(|a| a.invalid.is_empty()),
        "{:?}",
        archive.with(|a| a.invalid.clone())
    );
    assert_eq!(
        db.count("SELECT count(*) FROM audit_log WHERE action = 'archive.rollover'")
            .await,
        4
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_refusing_the_folder_is_reported_not_fatal() {
    let db = Db::new().await;
    db.queue("conduct_warning").await;
    let archive = StandIn::start(vec![Action::Ugyldig], Duration::ZERO).await;
    let r = folders::rollover(
        db.pool(),
        client(&archive).as_ref(),
        &opts().build,
        &Actor::cli(),
        (2027, 2028),
    )
    .await
    .expect("the rollover itself completes");
    assert_eq!(r.folders.len(), 1);
    assert!(r.folders[0]
        .failed
        .as_deref()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(r.folders[0].case_number, None);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_principal_from_the_command_line_is_recorded_and_audited() {
    let db = Db::new().await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dokflyt"))
            .args(args)
            .env("DOKFLYT_CONFIG", "/dev/null")
            .env("DOKFLYT_DATABASE_URL", format!("{PG}/{}", db.name))
            .output()
            .expect("runs")
    };
    let ok = run(&[
        "schools",
        "set-principal",
        SCHOOL,
        "--initials",
        "kn",
        "--from",
        "2026-08-01",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("KN"));
    let bad = run(&[
        "schools",
        "set-principal",
        SCHOOL,
        "--initials",
        "k",
        "--from",
        "2026-08-01",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let rows: Vec<(String, NaiveDate)> =
        sqlx::query_as("SELECT initials, valid_from FROM school_principals WHERE school_id = $1")
            .bind(SCHOOL)
            .fetch_all(db.pool())
            .await
            .expect("rows");
    assert_eq!(rows, vec![("KN".to_string(), date("2026-08-01"))]);
    assert_eq!(
        db.count("SELECT count(*) FROM audit_log WHERE action = 'schools.set_principal' AND actor LIKE 'cli:%'")
            .await,
        1
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_count_the_optional_types_per_school_and_deadline() {
    let db = Db::new().await;
    db.queue("group_overview").await;
    db.queue("term_grades").await;
    let archive = StandIn::start(vec![], Duration::ZERO).await;
    run_now(db.pool(), client(&archive), &opts())
        .await
        .expect("transfer");
    db.queue("term_grades").await;
    // The roster: the example's pupil and one more 9th grader, plus a 7th grader.
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/events/term_grades.json"),
        )
        .expect("example"),
    )
    .expect("json");
    let pupil = example["pupil"]["id"]
        .as_str()
        .expect("pupil id")
        .to_string();
    for (id, level) in [
        (pupil.as_str(), 9),
        ("elev-uten-karakter", 9),
        ("elev-7", 7),
    ] {
        sqlx::query(
            "INSERT INTO roster_pupils (pupil_id, school_id, grade_level, version) VALUES ($1, $2, $3, 1)",
        )
        .bind(id)
        .bind(SCHOOL)
        .bind(level as i16)
        .execute(db.pool())
        .await
        .expect("roster pupil");
    }
    let rows = deadlines::report(db.pool(), (2026, 2027), Some(SCHOOL), date("2027-02-01"))
        .await
        .expect("report");
    let find = |t: &str, d: &str| {
        rows.iter()
            .find(|r| r.document_type == t && r.deadline == date(d))
            .unwrap_or_else(|| panic!("{t} {d} in {rows:?}"))
    };
    let jan = find("term_grades", "2027-01-25");
    assert!(jan.passed);
    assert_eq!((jan.klar, jan.arkivert, jan.feilet), (1, 1, 0));
    // Who should have term grades (8th–10th grade) and has none.
    assert_eq!(jan.missing, Some(vec!["elev-uten-karakter".to_string()]));
    // No 10th graders in the roster: nobody known to be missing a diploma.
    assert_eq!(find("diploma", "2027-06-25").missing, None);
    let jun = find("group_overview", "2027-06-25");
    assert!(!jun.passed);
    assert_eq!((jun.klar, jun.arkivert, jun.feilet), (0, 1, 0));
    // group_overview is not due in January; diploma only in June.
    assert!(!rows
        .iter()
        .any(|r| r.document_type == "group_overview" && r.deadline == date("2027-01-25")));
    assert!(rows
        .iter()
        .any(|r| r.document_type == "diploma" && r.deadline == date("2027-06-25")));
    db.drop_db().await;
}
