//! School folders and the school year: principals (case owners), the rollover.
//!
//! Stage: archive, yearly (30 June) and on staff request. Input: the archive client,
//! the stored documents and principals, an [`Actor`]. Output: `school_principals`
//! rows (`dokflyt schools set-principal`), `school_folders` rows with the archive's
//! case numbers, and a [`RolloverReport`] listing every document of the closing
//! year that is not `arkivert`. Failure: [`FolderError`] for bad input or the
//! database; an archive that refuses or cannot be reached does not stop the
//! rollover — the school is reported as failed with a Norwegian explanation, and
//! running the rollover again is safe (the folder's external key makes the archive
//! answer «Eksisterende» instead of creating a second folder).
//!
//! The old school year's folders are marked closed here. Closing the case in the
//! archive itself (saksstatus «Avsluttet») is an update message that Fiks Arkiv's
//! opprett schema does not cover; the report says so and the archive staff close it.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use sqlx::PgPool;

use super::arkivmelding::{access_group, build_school_folder, BuildOptions, SchoolFolder};
use super::client::ArchiveClient;
use crate::access::Actor;
use crate::audit::{self, Entry, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Parses "2026/2027" (consecutive years).
pub fn parse_school_year(s: &str) -> Result<(i32, i32), FolderError> {
    let bad = || FolderError::Invalid(format!("«{s}» er ikke et skoleår (skriv f.eks. 2026/2027)"));
    let (a, b) = s.trim().split_once('/').ok_or_else(bad)?;
    let (a, b): (i32, i32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if b != a + 1 || !(2000..=2100).contains(&a) {
        return Err(bad());
    }
    Ok((a, b))
}

/// The school year `given` ("2026/2027"), or the one `today` falls in.
pub fn school_year_or_current(
    given: Option<&str>,
    today: NaiveDate,
) -> Result<(i32, i32), FolderError> {
    match given {
        Some(y) => parse_school_year(y),
        None => Ok(super::arkivmelding::school_year(today)),
    }
}

fn year_label((a, b): (i32, i32)) -> String {
    format!("{a}/{b}")
}

/// Initials as the archive knows its users: 2–10 letters, upper case.
pub fn normalise_initials(s: &str) -> Result<String, FolderError> {
    let up = s.trim().to_uppercase();
    let n = up.chars().count();
    if (2..=10).contains(&n) && up.chars().all(|c| c.is_alphabetic()) {
        Ok(up)
    } else {
        Err(FolderError::Invalid(format!(
            "«{s}» er ikke gyldige initialer (2–10 bokstaver, som brukeren i arkivet)"
        )))
    }
}

/// Records the principal of `school_id` from `from`: the case owner of the school's
/// folders from that date (history kept). Open folders get the new case owner at once
/// when `from` has come. Audited.
pub async fn set_principal(
    pool: &PgPool,
    actor: &Actor,
    school_id: &str,
    initials: &str,
    from: NaiveDate,
    today: NaiveDate,
) -> Result<u64, FolderError> {
    let initials = normalise_initials(initials)?;
    let school_id = school_id.trim();
    if school_id.is_empty() {
        return Err(FolderError::Invalid("skolen mangler".into()));
    }
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO school_principals (school_id, valid_from, initials, recorded_by)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (school_id, valid_from) DO UPDATE
            SET initials = EXCLUDED.initials, recorded_at = now(), recorded_by = EXCLUDED.recorded_by",
    )
    .bind(school_id)
    .bind(from)
    .bind(&initials)
    .bind(&actor.user)
    .execute(&mut *tx)
    .await?;
    let updated = if from <= today {
        sqlx::query(
            "UPDATE school_folders SET case_owner = $2 WHERE school_id = $1 AND status = 'open'",
        )
        .bind(school_id)
        .bind(&initials)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        0
    };
    audit::record_in(
        &mut *tx,
        &Entry {
            actor,
            school_id: Some(school_id),
            action: "schools.set_principal",
            target: Some(school_id),
            outcome: Verdict::Granted,
            reason: None,
            details: serde_json::json!({ "initials": initials, "from": from, "open_folders_updated": updated }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// A document of the closing year that has not reached the archive.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct NotArchived {
    pub school_id: String,
    pub document_type: String,
    pub status: String,
    pub event_id: uuid::Uuid,
}

/// One school's new folder.
#[derive(Debug, Clone, Serialize)]
pub struct NewFolder {
    pub school_id: String,
    pub title: String,
    pub case_owner: Option<String>,
    /// "2026/1234" when the archive gave a case number.
    pub case_number: Option<String>,
    pub existing: bool,
    /// Why the folder could not be created (Norwegian), when it could not.
    pub failed: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RolloverReport {
    pub closing_year: String,
    pub new_year: String,
    pub not_archived: Vec<NotArchived>,
    /// Schools whose folder of the closing year was marked closed.
    pub closed: Vec<String>,
    pub folders: Vec<NewFolder>,
}

/// The schools dokflyt knows (the roster's, then any other school it has seen events
/// from), with their name.
async fn known_schools(pool: &PgPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT school_id, COALESCE(name, school_id) FROM roster_schools WHERE NOT deleted
         UNION
         SELECT * FROM (
            SELECT DISTINCT ON (school_id) school_id,
                   COALESCE(payload #>> '{school,name}', school_id)
              FROM events
             WHERE school_id NOT IN (SELECT school_id FROM roster_schools)
             ORDER BY school_id, received_at DESC) e
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
}

/// The principal of `school_id` on `date`.
pub async fn principal_on(
    pool: &PgPool,
    school_id: &str,
    date: NaiveDate,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT initials FROM school_principals WHERE school_id = $1 AND valid_from <= $2
          ORDER BY valid_from DESC LIMIT 1",
    )
    .bind(school_id)
    .bind(date)
    .fetch_optional(pool)
    .await
}

/// The rollover to `new_year`: report, close the old folders, create the new ones.
pub async fn rollover(
    pool: &PgPool,
    client: &dyn ArchiveClient,
    opts: &BuildOptions,
    actor: &Actor,
    new_year: (i32, i32),
) -> Result<RolloverReport, FolderError> {
    rollover_with_progress(
        pool,
        client,
        opts,
        actor,
        new_year,
        &crate::progress::Silent,
    )
    .await
}

/// [`rollover`], telling `progress` of every school whose new folder is done
/// (`dokflyt archive rollover` shows it).
pub async fn rollover_with_progress(
    pool: &PgPool,
    client: &dyn ArchiveClient,
    opts: &BuildOptions,
    actor: &Actor,
    new_year: (i32, i32),
    progress: &dyn crate::progress::Progress,
) -> Result<RolloverReport, FolderError> {
    let closing = (new_year.0 - 1, new_year.0);
    let start = NaiveDate::from_ymd_opt(closing.0, 8, 1)
        .ok_or_else(|| FolderError::Invalid("ugyldig skoleår".into()))?;
    let end = NaiveDate::from_ymd_opt(new_year.0, 8, 1)
        .ok_or_else(|| FolderError::Invalid("ugyldig skoleår".into()))?;
    let not_archived: Vec<NotArchived> = sqlx::query_as(
        "SELECT q.school_id, q.document_type, q.status::text AS status, q.event_id
           FROM archive_queue q JOIN events e ON e.event_id = q.event_id
          WHERE q.status <> 'arkivert'
            AND (e.occurred_at AT TIME ZONE 'Europe/Oslo')::date >= $1
            AND (e.occurred_at AT TIME ZONE 'Europe/Oslo')::date < $2
          ORDER BY q.school_id, q.status, q.document_type, q.event_id",
    )
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    let closed: Vec<String> = sqlx::query_scalar(
        "UPDATE school_folders SET status = 'closed', closed_at = now()
          WHERE school_year = $1 AND status = 'open' RETURNING school_id",
    )
    .bind(year_label(closing))
    .fetch_all(pool)
    .await?;

    let mut folders = Vec::new();
    let schools = known_schools(pool).await?;
    progress.set_total(schools.len() as u64);
    for (school_id, school_name) in schools {
        let owner = principal_on(pool, &school_id, end).await?;
        let folder = SchoolFolder {
            school_id: school_id.clone(),
            school_name: school_name.clone(),
            school_year: new_year,
            case_owner: owner.clone(),
            access_group: access_group(&opts.school_access_group, &school_id, &school_name),
        };
        let key = folder.key();
        let xml = build_school_folder(&folder, opts);
        let (case, existing, failed, receipt, system_id) = match client
            .create_folder(&key, &xml)
            .await
        {
            Ok(d) => (
                d.receipt.case_year.zip(d.receipt.case_sequence),
                d.receipt.existing,
                None,
                Some(d.verbatim),
                Some(d.receipt.system_id),
            ),
            Err(e) => {
                tracing::warn!(school = %school_id, class = e.class(), "rollover: the school folder was not created");
                (
                    None,
                    false,
                    Some(e.explanation_nb()),
                    e.answer().map(str::to_string),
                    None,
                )
            }
        };
        sqlx::query(
            "INSERT INTO school_folders (school_id, school_year, school_name, folder_key, title,
                    case_owner, case_year, case_sequence, archive_system_id, receipt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (school_id, school_year) DO UPDATE SET
                case_owner = EXCLUDED.case_owner,
                case_year = COALESCE(EXCLUDED.case_year, school_folders.case_year),
                case_sequence = COALESCE(EXCLUDED.case_sequence, school_folders.case_sequence),
                archive_system_id = COALESCE(EXCLUDED.archive_system_id, school_folders.archive_system_id),
                receipt = COALESCE(EXCLUDED.receipt, school_folders.receipt)",
        )
        .bind(&school_id)
        .bind(year_label(new_year))
        .bind(&school_name)
        .bind(&key)
        .bind(folder.title())
        .bind(&owner)
        .bind(case.map(|c| c.0))
        .bind(case.map(|c| c.1))
        .bind(&system_id)
        .bind(&receipt)
        .execute(pool)
        .await?;
        folders.push(NewFolder {
            school_id,
            title: folder.title(),
            case_owner: owner,
            case_number: case.map(|(y, n)| format!("{y}/{n}")),
            existing,
            failed,
        });
        progress.advance(1);
    }
    let report = RolloverReport {
        closing_year: year_label(closing),
        new_year: year_label(new_year),
        not_archived,
        closed,
        folders,
    };
    audit::record(
        pool,
        &Entry {
            actor,
            school_id: None,
            action: "archive.rollover",
            target: Some(&report.new_year),
            outcome: Verdict::Granted,
            reason: None,
            details: serde_json::json!({
                "not_archived": report.not_archived.len(),
                "closed": report.closed.len(),
                "created": report.folders.iter().filter(|f| f.failed.is_none()).count(),
                "failed": report.folders.iter().filter(|f| f.failed.is_some()).count(),
            }),
        },
    )
    .await?;
    Ok(report)
}

/// Whether the automatic rollover is due on `date` (30 June or later in June/July)
/// and has not run: no school folder of the coming year exists yet.
pub async fn rollover_due(
    pool: &PgPool,
    date: NaiveDate,
) -> Result<Option<(i32, i32)>, sqlx::Error> {
    let due = (date.month() == 6 && date.day() == 30) || date.month() == 7;
    if !due {
        return Ok(None);
    }
    let year = (date.year(), date.year() + 1);
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM school_folders WHERE school_year = $1)
             OR NOT EXISTS (SELECT 1 FROM events)",
    )
    .bind(year_label(year))
    .fetch_one(pool)
    .await?;
    Ok((!exists).then_some(year))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn school_years_and_initials() {
        assert_eq!(parse_school_year("2026/2027").expect("ok"), (2026, 2027));
        assert!(parse_school_year("2026/2028").is_err());
        assert!(parse_school_year("2026").is_err());
        assert_eq!(normalise_initials(" rh ").expect("ok"), "RH");
        assert_eq!(normalise_initials("Øå").expect("ok"), "ØÅ");
        assert!(normalise_initials("R").is_err());
        assert!(normalise_initials("R.H").is_err());
    }
}
