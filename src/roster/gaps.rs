//! The reachability report: who at a school cannot be reached on which channel,
//! to check before a mass message (docs/domain.md §2, seed 004).
//!
//! Stage: beside the pipeline, a read-only report on the roster. Input: a school id.
//! Output: a [`GapReport`] — per class, the pupils and guardians with no mobile
//! (no SMS), no email, or no digital mailbox (SvarUt falls back to print, or is held
//! for a protected address), and the staff without a mobile. People are listed by
//! their roster ids (the school system shows the names), never logged. Entries
//! entered by hand (source `manual`) are marked and listed. Failure: the
//! database error.

use serde::Serialize;
use sqlx::PgPool;

/// One person who is missing something.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Gap {
    pub id: String,
    /// `pupil`, `guardian` or `staff`.
    pub kind: String,
    /// The pupil's class (for a guardian: the class of the child at this school).
    pub class: Option<String>,
    pub no_mobile: bool,
    pub no_email: bool,
    pub no_digital_mailbox: bool,
    /// A protected address: letters only digitally; without a mailbox they are held.
    pub protected_address: bool,
    /// Entered by hand (`dokflyt roster manual`), not from the school system.
    pub manual: bool,
}

/// An entry at the school entered by hand (source `manual`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ManualEntry {
    pub id: String,
    /// `pupil`, `guardian` or `staff`.
    pub kind: String,
}

/// Counts of one class.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq, utoipa::ToSchema)]
pub struct ClassCounts {
    pub class: String,
    pub pupils: i64,
    pub guardians: i64,
    pub no_mobile: i64,
    pub no_email: i64,
    pub no_digital_mailbox: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GapReport {
    pub school_id: String,
    pub classes: Vec<ClassCounts>,
    pub staff_without_mobile: i64,
    /// Everyone with at least one gap.
    pub gaps: Vec<Gap>,
    /// Every person at the school entered by hand (with or without gaps).
    pub manual: Vec<ManualEntry>,
}

type GapRow = (String, String, Option<String>, bool, bool, bool, bool, bool);

pub async fn report(pool: &PgPool, school_id: &str) -> Result<GapReport, sqlx::Error> {
    // Pupils of the school, their guardians (one row per guardian and class), staff.
    let rows: Vec<GapRow> = sqlx::query_as(
        "WITH pupils AS (
            SELECT pupil_id, class, mobile, email, digital_mail, protected_address, source
              FROM roster_pupils WHERE school_id = $1 AND NOT deleted),
         guardians AS (
            SELECT DISTINCT ON (g.guardian_id) g.guardian_id, p.class, g.mobile, g.email,
                   g.digital_mail, g.protected_address, g.source
              FROM roster_guardians g
              JOIN roster_guardian_links l ON l.guardian_id = g.guardian_id
              JOIN pupils p ON p.pupil_id = l.pupil_id
             WHERE NOT g.deleted
             ORDER BY g.guardian_id, p.class),
         staff AS (
            SELECT s.staff_id, s.mobile, s.email, s.digital_mail, s.source
              FROM roster_staff s JOIN roster_staff_schools ss ON ss.staff_id = s.staff_id
             WHERE ss.school_id = $1 AND NOT s.deleted)
         SELECT pupil_id, 'pupil', class, coalesce(mobile, '') = '', coalesce(email, '') = '',
                NOT digital_mail, protected_address, source = 'manual' FROM pupils
         UNION ALL
         SELECT guardian_id, 'guardian', class, coalesce(mobile, '') = '', coalesce(email, '') = '',
                NOT digital_mail, protected_address, source = 'manual' FROM guardians
         UNION ALL
         SELECT staff_id, 'staff', NULL, coalesce(mobile, '') = '', coalesce(email, '') = '',
                NOT digital_mail, false, source = 'manual' FROM staff
         ORDER BY 2, 3, 1",
    )
    .bind(school_id)
    .fetch_all(pool)
    .await?;
    let mut classes: Vec<ClassCounts> = Vec::new();
    let mut staff_without_mobile = 0;
    let mut gaps = Vec::new();
    let mut manual_entries = Vec::new();
    for (id, kind, class, no_mobile, no_email, no_dm, protected, manual) in rows {
        if manual {
            manual_entries.push(ManualEntry {
                id: id.clone(),
                kind: kind.clone(),
            });
        }
        if kind == "staff" {
            if no_mobile {
                staff_without_mobile += 1;
                gaps.push(Gap {
                    id,
                    kind,
                    class: None,
                    no_mobile,
                    no_email,
                    no_digital_mailbox: no_dm,
                    protected_address: false,
                    manual,
                });
            }
            continue;
        }
        let name = class.clone().unwrap_or_else(|| "(uten klasse)".into());
        let idx = match classes.iter().position(|c| c.class == name) {
            Some(i) => i,
            None => {
                classes.push(ClassCounts {
                    class: name,
                    ..ClassCounts::default()
                });
                classes.len() - 1
            }
        };
        let c = &mut classes[idx];
        if kind == "pupil" {
            c.pupils += 1;
        } else {
            c.guardians += 1;
        }
        c.no_mobile += i64::from(no_mobile);
        c.no_email += i64::from(no_email);
        // A pupil's own digital mailbox rarely matters; guardians get the letters.
        let dm_gap = no_dm && kind == "guardian";
        c.no_digital_mailbox += i64::from(dm_gap);
        if no_mobile || no_email || dm_gap {
            gaps.push(Gap {
                id,
                kind,
                class,
                no_mobile,
                no_email,
                no_digital_mailbox: dm_gap,
                protected_address: protected,
                manual,
            });
        }
    }
    classes.sort_by(|a, b| a.class.cmp(&b.class));
    Ok(GapReport {
        school_id: school_id.to_string(),
        classes,
        staff_without_mobile,
        gaps,
        manual: manual_entries,
    })
}
