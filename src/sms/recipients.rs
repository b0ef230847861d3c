//! Who receives an emergency SMS: every pupil, guardian and staff member of the
//! school with a usable mobile number (docs/domain.md §5) — recipients cannot be chosen.
//!
//! Input: a school id; the roster tables. Output: a [`RecipientSet`] — persons per
//! group (reachable and unreachable) and the distinct E.164 numbers, each with the
//! groups it stands for. A guardian with three children at the school, or a staff
//! member who is also a guardian, is one number and gets one SMS.
//! Guardians are those linked to a pupil of the school (with or without parental
//! responsibility: the message is about the school, not about a pupil).
//! Failure: the database error.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::PgExecutor;

use super::number::MobileNumber;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GroupCount {
    /// Persons with a usable mobile number.
    pub reachable: i64,
    /// Persons without one (missing or not a mobile number).
    pub unreachable: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientSet {
    pub pupils: GroupCount,
    pub guardians: GroupCount,
    pub staff: GroupCount,
    /// Distinct numbers → the groups (`pupil`, `guardian`, `staff`) behind each.
    pub numbers: BTreeMap<MobileNumber, BTreeSet<&'static str>>,
}

impl RecipientSet {
    pub fn unreachable(&self) -> i64 {
        self.pupils.unreachable + self.guardians.unreachable + self.staff.unreachable
    }
}

pub async fn for_school<'e, E: PgExecutor<'e>>(
    executor: E,
    school_id: &str,
) -> Result<RecipientSet, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT 'pupil', mobile FROM roster_pupils WHERE school_id = $1 AND NOT deleted
         UNION ALL
         SELECT 'guardian', g.mobile FROM roster_guardians g
          WHERE NOT g.deleted AND EXISTS (
                SELECT 1 FROM roster_guardian_links l
                  JOIN roster_pupils p ON p.pupil_id = l.pupil_id
                 WHERE l.guardian_id = g.guardian_id AND p.school_id = $1 AND NOT p.deleted)
         UNION ALL
         SELECT 'staff', s.mobile FROM roster_staff s
          WHERE NOT s.deleted AND EXISTS (
                SELECT 1 FROM roster_staff_schools x
                 WHERE x.staff_id = s.staff_id AND x.school_id = $1)",
    )
    .bind(school_id)
    .fetch_all(executor)
    .await?;
    let mut set = RecipientSet::default();
    for (group, mobile) in rows {
        let (name, counter): (&'static str, &mut GroupCount) = match group.as_str() {
            "pupil" => ("pupil", &mut set.pupils),
            "guardian" => ("guardian", &mut set.guardians),
            _ => ("staff", &mut set.staff),
        };
        match mobile.as_deref().and_then(MobileNumber::parse) {
            Some(n) => {
                counter.reachable += 1;
                set.numbers.entry(n).or_default().insert(name);
            }
            None => counter.unreachable += 1,
        }
    }
    Ok(set)
}
