//! The archive deadlines of the optional («kan velges») types: 25 January and
//! 25 June (docs/domain.md §4 table), per school, with what has reached the archive.
//!
//! Stage: archive, reporting. Input: the school year, an optional school, the
//! archive queue. Output: one [`DeadlineRow`] per school × deadline × type due, with
//! counts of `klar` / `arkivert` / `feilet` among the documents of that type in the
//! school year up to the deadline. Failure: the database error.
//!
//! Who is still missing comes from the roster (`roster_pupils`): for the per-pupil
//! types (diploma: 10th grade; final and term grades: 8th–10th grade) the row lists
//! the pupil ids of the school's pupils at those levels with no document of that type
//! queued in the school year up to the deadline. Ids only — the dashboard shows
//! initials. `None` when the roster has no pupils at those levels for the school.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgPool;

/// (document type, due on 25 January, due on 25 June, note) — docs/domain.md §4.
pub const DUE: &[(&str, bool, bool, &str)] = &[
    (
        "term_grades",
        true,
        true,
        "terminkarakterer, to ganger i året",
    ),
    (
        "final_grades",
        false,
        true,
        "standpunktkarakterer, 8.–10. trinn",
    ),
    ("diploma", false, true, "vitnemål, 10. trinn"),
    (
        "leaving_grades_protocol",
        false,
        true,
        "karakterprotokoll, 10. trinn (skolemappe)",
    ),
    (
        "group_overview",
        false,
        true,
        "gruppeoversikter, alle klasser (skolemappe)",
    ),
    ("message_report", false, true, "meldingsrapport ved behov"),
    (
        "absence_report",
        false,
        true,
        "fraværsrapport ved bekymringsfullt fravær, hele året",
    ),
    (
        "remarks_report",
        false,
        true,
        "anmerkningsrapport ved nedsatt orden/oppførsel",
    ),
    ("assessments", true, true, "vurderinger, alle avsluttet"),
];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadlineRow {
    pub school_id: String,
    pub deadline: NaiveDate,
    pub document_type: String,
    pub note: String,
    pub klar: i64,
    pub arkivert: i64,
    pub feilet: i64,
    /// Whether the deadline has passed on `today`.
    pub passed: bool,
    /// Pupils who should have one and have none (roster ids), for per-pupil types.
    pub missing: Option<Vec<String>>,
}

/// The grade levels whose pupils should each have a document of `t`.
pub fn expected_levels(t: &str) -> Option<(i16, i16)> {
    match t {
        "diploma" => Some((10, 10)),
        "final_grades" | "term_grades" => Some((8, 10)),
        _ => None,
    }
}

async fn missing(
    pool: &PgPool,
    school: &str,
    t: &str,
    levels: (i16, i16),
    from: NaiveDate,
    deadline: NaiveDate,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    let expected: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM roster_pupils
          WHERE school_id = $1 AND NOT deleted AND grade_level BETWEEN $2 AND $3",
    )
    .bind(school)
    .bind(levels.0)
    .bind(levels.1)
    .fetch_one(pool)
    .await?;
    if expected == 0 {
        return Ok(None);
    }
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT p.pupil_id FROM roster_pupils p
          WHERE p.school_id = $1 AND NOT p.deleted AND p.grade_level BETWEEN $2 AND $3
            AND NOT EXISTS (
                SELECT 1 FROM archive_queue q JOIN events e ON e.event_id = q.event_id
                 WHERE q.school_id = $1 AND q.document_type = $4
                   AND e.payload #>> '{pupil,id}' = p.pupil_id
                   AND (e.occurred_at AT TIME ZONE 'Europe/Oslo')::date BETWEEN $5 AND $6)
          ORDER BY p.pupil_id",
    )
    .bind(school)
    .bind(levels.0)
    .bind(levels.1)
    .bind(t)
    .bind(from)
    .bind(deadline)
    .fetch_all(pool)
    .await?;
    Ok(Some(ids))
}

/// The two deadlines of the school year `(a, b)`: 25 January b and 25 June b.
pub fn deadlines_of((_, b): (i32, i32)) -> [NaiveDate; 2] {
    [
        NaiveDate::from_ymd_opt(b, 1, 25).unwrap_or_default(),
        NaiveDate::from_ymd_opt(b, 6, 25).unwrap_or_default(),
    ]
}

pub async fn report(
    pool: &PgPool,
    school_year: (i32, i32),
    school: Option<&str>,
    today: NaiveDate,
) -> Result<Vec<DeadlineRow>, sqlx::Error> {
    let start = NaiveDate::from_ymd_opt(school_year.0, 8, 1).unwrap_or_default();
    let types: Vec<String> = DUE.iter().map(|d| d.0.to_string()).collect();
    let [january, june] = deadlines_of(school_year);
    // Counts per (school, type, status) up to each deadline.
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT q.school_id, q.document_type, q.status::text,
                count(*) FILTER (WHERE (e.occurred_at AT TIME ZONE 'Europe/Oslo')::date <= $4),
                count(*) FILTER (WHERE (e.occurred_at AT TIME ZONE 'Europe/Oslo')::date <= $5)
           FROM archive_queue q JOIN events e ON e.event_id = q.event_id
          WHERE q.document_type = ANY($1)
            AND (e.occurred_at AT TIME ZONE 'Europe/Oslo')::date >= $2
            AND ($3::text IS NULL OR q.school_id = $3)
          GROUP BY 1, 2, 3",
    )
    .bind(&types)
    .bind(start)
    .bind(school)
    .bind(january)
    .bind(june)
    .fetch_all(pool)
    .await?;
    let mut schools: Vec<String> = match school {
        Some(s) => vec![s.to_string()],
        None => {
            sqlx::query_scalar("SELECT DISTINCT school_id FROM events ORDER BY 1")
                .fetch_all(pool)
                .await?
        }
    };
    schools.dedup();
    let mut out = Vec::new();
    for s in &schools {
        for (deadline, is_january) in [(january, true), (june, false)] {
            for (t, jan, jun, note) in DUE {
                if (is_january && !jan) || (!is_january && !jun) {
                    continue;
                }
                let mut row = DeadlineRow {
                    school_id: s.clone(),
                    deadline,
                    document_type: t.to_string(),
                    note: note.to_string(),
                    klar: 0,
                    arkivert: 0,
                    feilet: 0,
                    passed: today > deadline,
                    missing: match expected_levels(t) {
                        Some(levels) => missing(pool, s, t, levels, start, deadline).await?,
                        None => None,
                    },
                };
                for (rs, rt, status, by_jan, by_jun) in &rows {
                    if rs != s || rt != t {
                        continue;
                    }
                    let n = if is_january { *by_jan } else { *by_jun };
                    match status.as_str() {
                        "klar" => row.klar += n,
                        "arkivert" => row.arkivert += n,
                        _ => row.feilet += n,
                    }
                }
                out.push(row);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_deadlines_fall_in_the_second_calendar_year() {
        let [j, s] = deadlines_of((2026, 2027));
        assert_eq!(j.to_string(), "2027-01-25");
        assert_eq!(s.to_string(), "2027-06-25");
        // Every type in the table is a key the contract knows.
        for (t, ..) in DUE {
            assert!(
                crate::event::DocumentType::ALL
                    .iter()
                    .any(|d| d.key() == *t),
                "{t}"
            );
        }
    }
}
