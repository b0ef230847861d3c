//! Manual roster entries: people the school system's register does not hold
//! (principals, special-needs staff, people with foreign ids), entered by hand
//! with `dokflyt roster manual`.
//!
//! Stage: beside the roster sync, the one path for changes by hand. Input: an
//! entity, an id and (for `put`) its record, the same JSON as in a roster event.
//! Output: the entry written with source `manual` (a new version each time, in one
//! transaction through [`store::upsert`] / [`store::delete`]). Failure: a change
//! to an entry the sync owns — add, edit or remove a synced pupil, guardian or
//! staff member, remove a synced guardian link, change a school — is refused
//! with a Norwegian reason ([`ManualError::Synced`]); an invalid record is
//! [`ManualError::Invalid`]; the database error otherwise. Reasons never hold
//! names or contact details, only the kind of entry.

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, Source};
use super::{Entity, Op, Record, RosterChange, RosterEvent};

#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    /// The sync owns the entry; the text is the Norwegian reason.
    #[error("{0}")]
    Synced(&'static str),
    #[error("finnes ikke som manuell oppføring")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The reason a change to a synced entry of `entity` is refused.
pub fn synced_reason(entity: Entity) -> &'static str {
    match entity {
        Entity::Pupil => "Eleven kommer fra skolesystemet og kan ikke endres her",
        Entity::Guardian => "Den foresatte kommer fra skolesystemet og kan ikke endres her",
        Entity::Staff => "Den ansatte kommer fra skolesystemet og kan ikke endres her",
        Entity::School => "Skoler kommer fra skolesystemet og kan ikke endres her",
    }
}

/// The reason removing a synced guardian link is refused.
pub const SYNCED_LINK: &str =
    "Koblingen mellom foresatt og elev kommer fra skolesystemet og kan ikke fjernes her";

/// The query reading an entry's source, per entity (schools: none, sync only).
fn current_sql(entity: Entity) -> Option<&'static str> {
    match entity {
        Entity::Pupil => Some(
            "SELECT source, version, deleted FROM roster_pupils WHERE pupil_id = $1 FOR UPDATE",
        ),
        Entity::Guardian => Some(
            "SELECT source, version, deleted FROM roster_guardians WHERE guardian_id = $1
             FOR UPDATE",
        ),
        Entity::Staff => {
            Some("SELECT source, version, deleted FROM roster_staff WHERE staff_id = $1 FOR UPDATE")
        }
        Entity::School => None,
    }
}

/// The stored `(source, version, deleted)` of an entry, locked for this transaction.
async fn current(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    entity: Entity,
    id: &str,
) -> Result<Option<(String, i64, bool)>, ManualError> {
    let sql = current_sql(entity).ok_or(ManualError::Synced(synced_reason(entity)))?;
    Ok(sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?)
}

/// Adds or edits the manual entry `id`. Refused when the sync owns the id (also a
/// synced entry the sync has deleted: that id is the register's).
pub async fn put(
    pool: &PgPool,
    entity: Entity,
    id: &str,
    record: serde_json::Value,
) -> Result<(), ManualError> {
    let mut tx = pool.begin().await?;
    let version = match current(&mut tx, entity, id).await? {
        Some((source, _, _)) if source == Source::Sync.as_str() => {
            return Err(ManualError::Synced(synced_reason(entity)))
        }
        Some((_, v, _)) => v + 1,
        None => 0,
    };
    let mut event = serde_json::json!({
        "event_id": Uuid::new_v4(), "schema_version": super::ROSTER_SCHEMA_VERSION,
        "entity": entity, "id": id, "version": version,
        "occurred_at": Utc::now().fixed_offset(), "op": Op::Upsert,
    });
    event[entity.as_str()] = record;
    let event: RosterEvent = serde_path_to_error::deserialize(event).map_err(|e| {
        let (path, problem) = crate::document::describe_serde_error(&e);
        ManualError::Invalid(format!("feltet «{path}» {problem}"))
    })?;
    let change =
        RosterChange::from_event(event).map_err(|e| ManualError::Invalid(e.to_string()))?;
    let record: &Record = change
        .record
        .as_ref()
        .ok_or_else(|| ManualError::Invalid("posten mangler".into()))?;
    store::upsert(&mut tx, &change, record, Source::Manual).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes the manual entry `id` (a tombstone, as a sync deletion; a manual staff
/// member removed loses grants and sessions). Refused when the sync owns it.
pub async fn remove(pool: &PgPool, entity: Entity, id: &str) -> Result<(), ManualError> {
    let mut tx = pool.begin().await?;
    let version = match current(&mut tx, entity, id).await? {
        Some((source, _, _)) if source == Source::Sync.as_str() => {
            return Err(ManualError::Synced(synced_reason(entity)))
        }
        Some((_, _, true)) | None => return Err(ManualError::NotFound),
        Some((_, v, false)) => v + 1,
    };
    let change = RosterChange {
        event_id: Uuid::new_v4(),
        entity,
        id: id.to_string(),
        version,
        occurred_on: Utc::now().date_naive(),
        record: None,
    };
    store::delete(&mut tx, &change, Source::Manual).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes the guardian link `guardian`–`pupil` entered by hand. Refused when the
/// sync owns the link.
pub async fn unlink(pool: &PgPool, guardian: &str, pupil: &str) -> Result<(), ManualError> {
    let mut tx = pool.begin().await?;
    let source: Option<String> = sqlx::query_scalar(
        "SELECT source FROM roster_guardian_links WHERE guardian_id = $1 AND pupil_id = $2
         FOR UPDATE",
    )
    .bind(guardian)
    .bind(pupil)
    .fetch_optional(&mut *tx)
    .await?;
    match source.as_deref() {
        None => return Err(ManualError::NotFound),
        Some("manual") => {}
        Some(_) => return Err(ManualError::Synced(SYNCED_LINK)),
    }
    sqlx::query("DELETE FROM roster_guardian_links WHERE guardian_id = $1 AND pupil_id = $2")
        .bind(guardian)
        .bind(pupil)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
