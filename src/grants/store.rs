//! The grants in PostgreSQL (`access_grants`), each change in one transaction
//! with its audit-log row.
//!
//! Input: a decided change (the caller asked [`super::may_grant`] first), the
//! acting [`Actor`], and the instant of the injected clock. Output: the grant
//! rows, the grants in force for a person ([`in_force_for`]), the ids renewed or
//! revoked. A leaver ([`leaver`], called by the roster inside its own
//! transaction) loses every live grant and every dashboard session at once.
//! Failure: the database error; nothing is changed without its audit row.
//! Audit rows hold ids and roles only (the grantee's staff id, never a name).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};

use super::Held;
use crate::access::{Actor, Role};
use crate::audit::{self, Entry, Verdict};

/// A grant as the dashboard lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct GrantRow {
    pub id: i64,
    pub grantee: String,
    pub role: String,
    pub school_id: String,
    pub municipality_number: Option<String>,
    pub granted_by: String,
    pub granted_by_role: String,
    pub granted_at: DateTime<Utc>,
    pub expires_on: NaiveDate,
    pub renewed_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, grantee, role, school_id, municipality_number, granted_by,
    granted_by_role, granted_at, expires_on, renewed_at, revoked_at";

/// The actor the audit log names for what no person did (expiry, a leaver).
fn system(who: &str) -> Actor {
    Actor {
        user: who.to_string(),
        role: Role::System,
        schools: Vec::new(),
        municipality_number: None,
    }
}

fn details(g: &GrantRow) -> serde_json::Value {
    json!({
        "grant_id": g.id,
        "grantee": g.grantee,
        "role": g.role,
        "expires_on": g.expires_on,
    })
}

async fn audit_grant(
    tx: &mut Transaction<'_, Postgres>,
    actor: &Actor,
    action: &str,
    g: &GrantRow,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    let target = g.id.to_string();
    audit::record_in(
        &mut **tx,
        &Entry {
            actor,
            school_id: Some(&g.school_id),
            action,
            target: Some(&target),
            outcome: Verdict::Granted,
            reason,
            details: details(g),
        },
    )
    .await?;
    Ok(())
}

/// What a new grant holds.
pub struct NewGrant<'a> {
    pub grantee: &'a str,
    pub role: Role,
    pub school_id: &'a str,
    pub municipality_number: Option<&'a str>,
    pub expires_on: NaiveDate,
}

/// Stores a grant by `granter` at `now` (a live grant of the same person, role
/// and school is given again: new granter, new end), audited as `grant.create`.
pub async fn create(
    pool: &PgPool,
    granter: &Actor,
    new: &NewGrant<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<GrantRow> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "INSERT INTO access_grants (grantee, role, school_id, municipality_number,
                granted_by, granted_by_role, granted_at, expires_on)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (grantee, role, school_id) WHERE revoked_at IS NULL
         DO UPDATE SET granted_by = EXCLUDED.granted_by,
            granted_by_role = EXCLUDED.granted_by_role, granted_at = EXCLUDED.granted_at,
            expires_on = EXCLUDED.expires_on, expiry_recorded_at = NULL,
            municipality_number = EXCLUDED.municipality_number
         RETURNING {COLUMNS}"
    );
    // The statement is built from constants only.
    let row: GrantRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(new.grantee.trim())
        .bind(new.role.as_str())
        .bind(new.school_id)
        .bind(new.municipality_number)
        .bind(&granter.user)
        .bind(granter.role.as_str())
        .bind(now)
        .bind(new.expires_on)
        .fetch_one(&mut *tx)
        .await?;
    audit_grant(&mut tx, granter, "grant.create", &row, None).await?;
    tx.commit().await?;
    Ok(row)
}

/// A grant by id (revoked or not).
pub async fn get(pool: &PgPool, id: i64) -> sqlx::Result<Option<GrantRow>> {
    let sql = format!("SELECT {COLUMNS} FROM access_grants WHERE id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Revokes live grant `id` with `reason`, audited as `grant.revoke`; `None` when
/// it is not live.
pub async fn revoke(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<GrantRow>> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "UPDATE access_grants SET revoked_at = $2, revoked_by = $3, revoke_reason = $4
          WHERE id = $1 AND revoked_at IS NULL RETURNING {COLUMNS}"
    );
    let row: Option<GrantRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(now)
        .bind(&actor.user)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(g) = &row {
        audit_grant(&mut tx, actor, "grant.revoke", g, Some(reason)).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// The live (unrevoked) grants of `schools` (`None`: every school), of
/// municipality `municipality` when given; in force and expired alike.
pub async fn list(
    pool: &PgPool,
    schools: Option<&[String]>,
    municipality: Option<&str>,
) -> sqlx::Result<Vec<GrantRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM access_grants
          WHERE revoked_at IS NULL
            AND ($1::text[] IS NULL OR school_id = ANY($1))
            AND ($2::text IS NULL OR municipality_number = $2)
          ORDER BY school_id, role, grantee"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(schools)
        .bind(municipality)
        .fetch_all(pool)
        .await
}

/// The grants of staff member `staff_id` in force on `today` (an Oslo date).
pub async fn in_force_for(
    pool: &PgPool,
    staff_id: &str,
    today: NaiveDate,
) -> sqlx::Result<Vec<Held>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT role, school_id FROM access_grants
          WHERE grantee = $1 AND revoked_at IS NULL AND expires_on >= $2",
    )
    .bind(staff_id)
    .bind(today)
    .fetch_all(pool)
    .await?;
    // A stored role this build does not know grants nothing.
    Ok(rows
        .into_iter()
        .filter_map(|(role, school_id)| {
            Some(Held {
                role: role.parse().ok()?,
                school_id,
            })
        })
        .collect())
}

/// Writes `grant.expire` to the audit log, once, for every live grant that has
/// expired by `today` (of `staff_id` when given, else of every person).
/// Returns how many expiries were recorded now.
pub async fn record_expiries(
    pool: &PgPool,
    staff_id: Option<&str>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> sqlx::Result<usize> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "UPDATE access_grants SET expiry_recorded_at = $3
          WHERE revoked_at IS NULL AND expiry_recorded_at IS NULL AND expires_on < $2
            AND ($1::text IS NULL OR grantee = $1)
          RETURNING {COLUMNS}"
    );
    let rows: Vec<GrantRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(staff_id)
        .bind(today)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
    let who = system("system:skoleår");
    for g in &rows {
        audit_grant(&mut tx, &who, "grant.expire", g, None).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// What a renewal covers: the expired live grants of `school` whose role is in
/// `roles` (the roles the renewer may grant there), except the renewer's own
/// (`except_grantee`), renewed to `until`.
pub struct Renewal<'a> {
    pub school: &'a str,
    pub roles: &'a [Role],
    pub except_grantee: Option<&'a str>,
    /// The Oslo date now: grants that ended before it are expired.
    pub today: NaiveDate,
    pub until: NaiveDate,
}

/// Renews what `r` covers, each grant audited as `grant.renew`. Returns the
/// grants renewed.
pub async fn renew_school(
    pool: &PgPool,
    actor: &Actor,
    r: &Renewal<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<GrantRow>> {
    let roles: Vec<&str> = r.roles.iter().map(|x| x.as_str()).collect();
    let mut tx = pool.begin().await?;
    let sql = format!(
        "UPDATE access_grants SET expires_on = $4, renewed_at = $5, renewed_by = $6,
                expiry_recorded_at = NULL
          WHERE school_id = $1 AND role = ANY($2) AND revoked_at IS NULL AND expires_on < $3
            AND ($7::text IS NULL OR grantee <> $7)
          RETURNING {COLUMNS}"
    );
    let rows: Vec<GrantRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(r.school)
        .bind(&roles)
        .bind(r.today)
        .bind(r.until)
        .bind(now)
        .bind(&actor.user)
        .bind(r.except_grantee)
        .fetch_all(&mut *tx)
        .await?;
    for g in &rows {
        audit_grant(&mut tx, actor, "grant.renew", g, None).await?;
    }
    tx.commit().await?;
    Ok(rows)
}

/// The reason a leaver's grants are revoked with.
pub const LEAVER_REASON: &str = "Sluttet: fjernet fra elevregisteret";

/// A staff member removed from the roster (a leaver): revokes every live grant
/// and ends every dashboard session signed in with that staff id, inside the
/// roster's transaction `tx`, each audited (`grant.revoke`, and
/// `dashboard.sessions_ended` with the count). Returns (grants, sessions).
pub async fn leaver(
    tx: &mut Transaction<'_, Postgres>,
    staff_id: &str,
) -> sqlx::Result<(usize, u64)> {
    let who = system("system:elevregister");
    let sql = format!(
        "UPDATE access_grants SET revoked_at = now(), revoked_by = $2, revoke_reason = $3
          WHERE grantee = $1 AND revoked_at IS NULL RETURNING {COLUMNS}"
    );
    let rows: Vec<GrantRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(staff_id)
        .bind(&who.user)
        .bind(LEAVER_REASON)
        .fetch_all(&mut **tx)
        .await?;
    for g in &rows {
        audit_grant(tx, &who, "grant.revoke", g, Some(LEAVER_REASON)).await?;
    }
    // The sessions table belongs to `dashboard::session`; this is its one other
    // writer (the roster cannot reach the dashboard without a module cycle).
    let ended = sqlx::query("DELETE FROM dashboard_sessions WHERE staff_id = $1")
        .bind(staff_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if ended > 0 || !rows.is_empty() {
        audit::record_in(
            &mut **tx,
            &Entry {
                actor: &who,
                school_id: None,
                action: "dashboard.sessions_ended",
                target: Some(staff_id),
                outcome: Verdict::Granted,
                reason: Some(LEAVER_REASON),
                details: json!({ "sessions": ended, "grants_revoked": rows.len() }),
            },
        )
        .await?;
    }
    Ok((rows.len(), ended))
}
