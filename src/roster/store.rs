//! The roster in PostgreSQL: applies a [`RosterChange`] as an upsert by external id
//! or a tombstone, in one transaction.
//!
//! Input: a checked change. Output: [`Applied::Applied`] when its version was
//! higher than the stored one (or the entity was new), [`Applied::Stale`] when an
//! equal or newer version is already stored — out-of-order and redelivered events
//! are thus resolved by version, never by arrival order. A deletion keeps a
//! tombstone row with its version (personal data cleared, links removed) so that an
//! older upsert arriving later cannot bring the entity back. A deleted staff
//! member is a leaver: in the same transaction every grant is revoked and every
//! dashboard session of theirs ended (`grants::store::leaver`).
//! Failure: the database error; the caller decides transient or permanent.

use chrono::NaiveDate;
use sqlx::{PgPool, Postgres, Transaction};

use super::{Entity, Record, RosterChange};

/// Who owns a roster entry (the `source` column): the school system or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Roster events and `roster import`.
    Sync,
    /// `dokflyt roster manual` ([`super::manual`]).
    Manual,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Sync => "sync",
            Source::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    Stale,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    /// The SQLSTATE of a refusal (see [`crate::db::sqlstate`]).
    pub fn sqlstate(&self) -> String {
        match self {
            StoreError::Db(e) => crate::db::sqlstate(e),
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(e) => crate::db::is_transient(e),
        }
    }
}

/// Applies one change in its own transaction.
pub async fn apply(pool: &PgPool, change: &RosterChange) -> Result<Applied, StoreError> {
    let mut tx = pool.begin().await?;
    let won = match &change.record {
        Some(record) => upsert(&mut tx, change, record, Source::Sync).await?,
        None => delete(&mut tx, change, Source::Sync).await?,
    };
    let outcome = if won { "applied" } else { "stale" };
    sqlx::query(
        "INSERT INTO roster_events (event_id, entity, entity_id, version, outcome)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(change.event_id)
    .bind(change.entity.as_str())
    .bind(&change.id)
    .bind(change.version)
    .bind(outcome)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(if won {
        Applied::Applied
    } else {
        Applied::Stale
    })
}

/// Writes an upsert owned by `source`. A change wins over a higher version or
/// over the other source's row: a sync upsert takes over a manual entry (the
/// register now has the person); manual changes to synced rows are refused by
/// [`super::manual`] before they get here.
pub(crate) async fn upsert(
    tx: &mut Transaction<'_, Postgres>,
    c: &RosterChange,
    record: &Record,
    source: Source,
) -> Result<bool, sqlx::Error> {
    let src = source.as_str();
    let won: Option<String> = match record {
        Record::School(s) => {
            let won: Option<String> = sqlx::query_scalar(
                "INSERT INTO roster_schools (school_id, name, municipality_number, org_number,
                    principal_staff_id, version, deleted)
                 VALUES ($1, $2, $3, $4, $5, $6, false)
                 ON CONFLICT (school_id) DO UPDATE SET name = EXCLUDED.name,
                    municipality_number = EXCLUDED.municipality_number,
                    org_number = EXCLUDED.org_number,
                    principal_staff_id = EXCLUDED.principal_staff_id,
                    version = EXCLUDED.version, deleted = false, updated_at = now()
                 WHERE roster_schools.version < EXCLUDED.version
                 RETURNING school_id",
            )
            .bind(&c.id)
            .bind(&s.name)
            .bind(&s.municipality_number)
            .bind(&s.org_number)
            .bind(&s.principal_staff_id)
            .bind(c.version)
            .fetch_optional(&mut **tx)
            .await?;
            if won.is_some() {
                leaders(tx, c, s).await?;
            }
            won
        }
        Record::Pupil(p) => {
            sqlx::query_scalar(
                "INSERT INTO roster_pupils (pupil_id, school_id, name, class, grade_level,
                    birth_date, mobile, email, digital_mail, protected_address, version, deleted,
                    source)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, false, $12)
                 ON CONFLICT (pupil_id) DO UPDATE SET school_id = EXCLUDED.school_id,
                    name = EXCLUDED.name, class = EXCLUDED.class,
                    grade_level = EXCLUDED.grade_level, birth_date = EXCLUDED.birth_date,
                    mobile = EXCLUDED.mobile, email = EXCLUDED.email,
                    digital_mail = EXCLUDED.digital_mail,
                    protected_address = EXCLUDED.protected_address,
                    version = EXCLUDED.version, deleted = false, updated_at = now(),
                    source = EXCLUDED.source
                 WHERE roster_pupils.version < EXCLUDED.version
                    OR roster_pupils.source <> EXCLUDED.source
                 RETURNING pupil_id",
            )
            .bind(&c.id)
            .bind(&p.school_id)
            .bind(&p.name)
            .bind(&p.class)
            .bind(i16::from(p.grade_level))
            .bind(p.birth_date)
            .bind(&p.mobile)
            .bind(&p.email)
            .bind(p.digital_mail)
            .bind(p.protected_address)
            .bind(c.version)
            .bind(src)
            .fetch_optional(&mut **tx)
            .await?
        }
        Record::Guardian(g) => {
            let won: Option<String> = sqlx::query_scalar(
                "INSERT INTO roster_guardians (guardian_id, name, mobile, email, digital_mail,
                    protected_address, version, deleted, source)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8)
                 ON CONFLICT (guardian_id) DO UPDATE SET name = EXCLUDED.name,
                    mobile = EXCLUDED.mobile, email = EXCLUDED.email,
                    digital_mail = EXCLUDED.digital_mail,
                    protected_address = EXCLUDED.protected_address,
                    version = EXCLUDED.version, deleted = false, updated_at = now(),
                    source = EXCLUDED.source
                 WHERE roster_guardians.version < EXCLUDED.version
                    OR roster_guardians.source <> EXCLUDED.source
                 RETURNING guardian_id",
            )
            .bind(&c.id)
            .bind(&g.name)
            .bind(&g.mobile)
            .bind(&g.email)
            .bind(g.digital_mail)
            .bind(g.protected_address)
            .bind(c.version)
            .bind(src)
            .fetch_optional(&mut **tx)
            .await?;
            if won.is_some() {
                let (pupils, resp): (Vec<String>, Vec<bool>) = g
                    .children
                    .iter()
                    .map(|l| (l.pupil_id.clone(), l.parental_responsibility))
                    .unzip();
                // Only this source's links are replaced: the sync never removes a
                // link entered by hand.
                sqlx::query(
                    "DELETE FROM roster_guardian_links WHERE guardian_id = $1 AND source = $2",
                )
                .bind(&c.id)
                .bind(src)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "INSERT INTO roster_guardian_links (guardian_id, pupil_id, parental_responsibility,
                        source)
                     SELECT $1, p, r, $4 FROM unnest($2::text[], $3::bool[]) AS x(p, r)
                     ON CONFLICT (guardian_id, pupil_id) DO UPDATE
                        SET parental_responsibility = EXCLUDED.parental_responsibility,
                            source = EXCLUDED.source",
                )
                .bind(&c.id)
                .bind(pupils)
                .bind(resp)
                .bind(src)
                .execute(&mut **tx)
                .await?;
            }
            won
        }
        Record::Staff(s) => {
            let won: Option<String> = sqlx::query_scalar(
                "INSERT INTO roster_staff (staff_id, name, mobile, email, digital_mail, version, deleted,
                    source)
                 VALUES ($1, $2, $3, $4, $5, $6, false, $7)
                 ON CONFLICT (staff_id) DO UPDATE SET name = EXCLUDED.name,
                    mobile = EXCLUDED.mobile, email = EXCLUDED.email,
                    digital_mail = EXCLUDED.digital_mail,
                    version = EXCLUDED.version, deleted = false, updated_at = now(),
                    source = EXCLUDED.source
                 WHERE roster_staff.version < EXCLUDED.version
                    OR roster_staff.source <> EXCLUDED.source
                 RETURNING staff_id",
            )
            .bind(&c.id)
            .bind(&s.name)
            .bind(&s.mobile)
            .bind(&s.email)
            .bind(s.digital_mail)
            .bind(c.version)
            .bind(src)
            .fetch_optional(&mut **tx)
            .await?;
            if won.is_some() {
                let (schools, roles): (Vec<String>, Vec<String>) = s
                    .schools
                    .iter()
                    .map(|x| (x.school_id.clone(), x.role.clone()))
                    .unzip();
                sqlx::query("DELETE FROM roster_staff_schools WHERE staff_id = $1 AND source = $2")
                    .bind(&c.id)
                    .bind(src)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO roster_staff_schools (staff_id, school_id, role, source)
                     SELECT $1, s, r, $4 FROM unnest($2::text[], $3::text[]) AS x(s, r)
                     ON CONFLICT (staff_id, school_id)
                        DO UPDATE SET role = EXCLUDED.role, source = EXCLUDED.source",
                )
                .bind(&c.id)
                .bind(schools)
                .bind(roles)
                .bind(src)
                .execute(&mut **tx)
                .await?;
                sqlx::query("DELETE FROM roster_school_owners WHERE staff_id = $1")
                    .bind(&c.id)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO roster_school_owners (staff_id, municipality_number)
                     SELECT $1, m FROM unnest($2::text[]) AS x(m) ON CONFLICT DO NOTHING",
                )
                .bind(&c.id)
                .bind(&s.school_owner_for)
                .execute(&mut **tx)
                .await?;
            }
            won
        }
    };
    Ok(won.is_some())
}

/// Writes a deletion by `source`: only a row of the same source is deleted (the
/// sync never deletes a manual entry; its deletion is then stale).
pub(crate) async fn delete(
    tx: &mut Transaction<'_, Postgres>,
    c: &RosterChange,
    source: Source,
) -> Result<bool, sqlx::Error> {
    // A tombstone: the row stays with its version, its personal data is cleared.
    let sql = match c.entity {
        Entity::School => {
            // Schools come only from the sync ($3 is unused).
            "INSERT INTO roster_schools (school_id, version, deleted) VALUES ($1, $2, true)
             ON CONFLICT (school_id) DO UPDATE SET deleted = true, version = EXCLUDED.version,
                principal_staff_id = NULL, updated_at = now()
             WHERE roster_schools.version < EXCLUDED.version AND $3::text IS NOT NULL
             RETURNING school_id"
        }
        Entity::Pupil => {
            "INSERT INTO roster_pupils (pupil_id, version, deleted, source) VALUES ($1, $2, true, $3)
             ON CONFLICT (pupil_id) DO UPDATE SET deleted = true, version = EXCLUDED.version,
                name = NULL, class = NULL, birth_date = NULL, mobile = NULL, email = NULL,
                updated_at = now()
             WHERE roster_pupils.version < EXCLUDED.version AND roster_pupils.source = EXCLUDED.source
             RETURNING pupil_id"
        }
        Entity::Guardian => {
            "INSERT INTO roster_guardians (guardian_id, version, deleted, source) VALUES ($1, $2, true, $3)
             ON CONFLICT (guardian_id) DO UPDATE SET deleted = true, version = EXCLUDED.version,
                name = NULL, mobile = NULL, email = NULL, updated_at = now()
             WHERE roster_guardians.version < EXCLUDED.version AND roster_guardians.source = EXCLUDED.source
             RETURNING guardian_id"
        }
        Entity::Staff => {
            "INSERT INTO roster_staff (staff_id, version, deleted, source) VALUES ($1, $2, true, $3)
             ON CONFLICT (staff_id) DO UPDATE SET deleted = true, version = EXCLUDED.version,
                name = NULL, mobile = NULL, email = NULL, updated_at = now()
             WHERE roster_staff.version < EXCLUDED.version AND roster_staff.source = EXCLUDED.source
             RETURNING staff_id"
        }
    };
    let won: Option<String> = sqlx::query_scalar(sql)
        .bind(&c.id)
        .bind(c.version)
        .bind(source.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    if won.is_some() {
        let links = match c.entity {
            Entity::Guardian => Some("DELETE FROM roster_guardian_links WHERE guardian_id = $1"),
            Entity::Staff => Some(
                "WITH a AS (DELETE FROM roster_staff_schools WHERE staff_id = $1)
                 DELETE FROM roster_school_owners WHERE staff_id = $1",
            ),
            // A deleted pupil's links stay: the recipient query skips deleted pupils,
            // and a pupil re-created with a newer version keeps its guardians.
            Entity::Pupil | Entity::School => None,
        };
        if let Some(sql) = links {
            sqlx::query(sql).bind(&c.id).execute(&mut **tx).await?;
        }
        if c.entity == Entity::Staff {
            // A leaver loses every grant and every dashboard session at once,
            // in this transaction.
            crate::grants::store::leaver(tx, &c.id).await?;
        }
        if c.entity == Entity::School {
            // A deleted school has no principal from that day, and no deputies.
            close_principal(tx, &c.id, c.occurred_on).await?;
            sqlx::query("DELETE FROM roster_school_deputies WHERE school_id = $1")
                .bind(&c.id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(won.is_some())
}

/// Keeps the principal history and the deputies in step with an applied school
/// upsert: a newly named principal closes the previous one's period on the day
/// the new one starts (`principal_since`, else the event's day).
async fn leaders(
    tx: &mut Transaction<'_, Postgres>,
    c: &RosterChange,
    s: &super::SchoolRecord,
) -> Result<(), sqlx::Error> {
    let since = s.principal_since.unwrap_or(c.occurred_on);
    let open: Option<String> = sqlx::query_scalar(
        "SELECT staff_id FROM roster_principal_history WHERE school_id = $1 AND valid_until IS NULL",
    )
    .bind(&c.id)
    .fetch_optional(&mut **tx)
    .await?;
    if open.as_deref() != s.principal_staff_id.as_deref() {
        close_principal(tx, &c.id, since).await?;
        if let Some(p) = &s.principal_staff_id {
            sqlx::query(
                "INSERT INTO roster_principal_history (school_id, staff_id, valid_from)
                 VALUES ($1, $2, $3)",
            )
            .bind(&c.id)
            .bind(p)
            .bind(since)
            .execute(&mut **tx)
            .await?;
        }
    }
    let ids: Vec<&str> = s.deputies.iter().map(|d| d.staff_id.as_str()).collect();
    let froms: Vec<Option<NaiveDate>> = s.deputies.iter().map(|d| d.from).collect();
    let untils: Vec<Option<NaiveDate>> = s.deputies.iter().map(|d| d.until).collect();
    sqlx::query("DELETE FROM roster_school_deputies WHERE school_id = $1")
        .bind(&c.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO roster_school_deputies (school_id, staff_id, valid_from, valid_until)
         SELECT $1, d, f, u FROM unnest($2::text[], $3::date[], $4::date[]) AS x(d, f, u)",
    )
    .bind(&c.id)
    .bind(ids)
    .bind(froms)
    .bind(untils)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends the open principal period of `school` on `day` (exclusive); a period that
/// would end before it began ends on its first day instead.
async fn close_principal(
    tx: &mut Transaction<'_, Postgres>,
    school: &str,
    day: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE roster_principal_history
            SET valid_until = CASE WHEN valid_from IS NOT NULL AND valid_from > $2
                                   THEN valid_from ELSE $2 END
          WHERE school_id = $1 AND valid_until IS NULL",
    )
    .bind(school)
    .bind(day)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `(school_id, name)` of every school with a name (the dashboard shows names).
pub async fn school_names(pool: &PgPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT school_id, name FROM roster_schools WHERE name IS NOT NULL AND name <> ''",
    )
    .fetch_all(pool)
    .await
}

/// Whether `staff_id` is a staff member in the roster now (not deleted): only
/// they can be given a role in the dashboard.
pub async fn staff_is_active(pool: &PgPool, staff_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM roster_staff WHERE staff_id = $1 AND NOT deleted)",
    )
    .bind(staff_id)
    .fetch_one(pool)
    .await
}

/// Whether `staff_id` has left: the roster holds the staff member's tombstone
/// (a deletion). An id the roster never knew has not left.
pub async fn staff_has_left(pool: &PgPool, staff_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM roster_staff WHERE staff_id = $1 AND deleted)")
        .bind(staff_id)
        .fetch_one(pool)
        .await
}

/// A staff member at a school, as the grants page offers them: `(staff_id, name,
/// school_id)`.
pub type StaffAt = (String, String, String);

/// The active staff of `schools` (`None`: every school), of municipality
/// `municipality` when given, by school and name.
pub async fn staff_of_schools(
    pool: &PgPool,
    schools: Option<&[String]>,
    municipality: Option<&str>,
) -> Result<Vec<StaffAt>, sqlx::Error> {
    sqlx::query_as(
        "SELECT st.staff_id, COALESCE(st.name, ''), x.school_id
           FROM roster_staff st
           JOIN roster_staff_schools x ON x.staff_id = st.staff_id
           LEFT JOIN roster_schools s ON s.school_id = x.school_id
          WHERE NOT st.deleted
            AND ($1::text[] IS NULL OR x.school_id = ANY($1))
            AND ($2::text IS NULL OR s.municipality_number = $2)
          ORDER BY x.school_id, st.name, st.staff_id",
    )
    .bind(schools)
    .bind(municipality)
    .fetch_all(pool)
    .await
}
