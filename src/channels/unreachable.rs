//! Nobody silently unreachable: the school's task for a guardian no channel can
//! reach with a document, and the reachability report that counts them.
//!
//! Stage: delivery. Input: a delivery that ended without reaching its guardian —
//! held by the recipient policy (protected address, reserved in the contact
//! register, the register unavailable past its wait), failed for want of any
//! address, or reported `IKKE_LEVERT` by SvarUt. Output: one `unreachable_tasks`
//! row per (document, guardian) with the guardian's initials, never a name or id
//! in the clear; the dashboard lists the open ones and records who resolved them.
//! Failure: `sqlx::Error` to the caller; a delivery whose stored event names no
//! guardian with that id records nothing.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::event::{Recipient, RecipientKind};

/// Why no channel reaches the guardian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Reserved against digital communication, and a protected address: neither
    /// digital nor paper.
    ReservedProtectedAddress,
    /// A protected address and no digital mailbox.
    ProtectedAddress,
    /// Reserved against digital communication, and no postal address.
    ReservedNoAddress,
    /// Neither a digital mailbox nor a postal address.
    NoAddress,
    /// The contact register did not answer within the wait; the delivery was held.
    RegisterUnavailable,
    /// SvarUt could deliver the letter neither digitally nor on paper.
    SvarutNotDelivered,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::ReservedProtectedAddress,
        Reason::ProtectedAddress,
        Reason::ReservedNoAddress,
        Reason::NoAddress,
        Reason::RegisterUnavailable,
        Reason::SvarutNotDelivered,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::ReservedProtectedAddress => "reserved_protected_address",
            Reason::ProtectedAddress => "protected_address",
            Reason::ReservedNoAddress => "reserved_no_address",
            Reason::NoAddress => "no_address",
            Reason::RegisterUnavailable => "register_unavailable",
            Reason::SvarutNotDelivered => "svarut_not_delivered",
        }
    }

    /// What the school reads (bokmål).
    pub fn text_nb(self) -> &'static str {
        match self {
            Reason::ReservedProtectedAddress => "Foresatt har reservert seg mot digital kommunikasjon og har fortrolig adresse. Dokumentet kan verken sendes digitalt eller på papir.",
            Reason::ProtectedAddress => "Foresatt har fortrolig adresse og ingen digital postkasse. Brevet kan ikke skrives ut med adresse.",
            Reason::ReservedNoAddress => "Foresatt har reservert seg mot digital kommunikasjon og har ingen postadresse i skolesystemet.",
            Reason::NoAddress => "Foresatt har verken digital postkasse eller postadresse i skolesystemet.",
            Reason::RegisterUnavailable => "Kontakt- og reservasjonsregisteret svarte ikke på lenge, og sendingen ble stoppet.",
            Reason::SvarutNotDelivered => "SvarUt kunne ikke levere brevet, verken digitalt eller på papir.",
        }
    }

    /// The short label of the report (bokmål).
    pub fn label_nb(self) -> &'static str {
        match self {
            Reason::ReservedProtectedAddress => "Reservert og fortrolig adresse",
            Reason::ProtectedAddress => "Fortrolig adresse uten digital postkasse",
            Reason::ReservedNoAddress => "Reservert uten postadresse",
            Reason::NoAddress => "Ingen adresse",
            Reason::RegisterUnavailable => "Kontaktregisteret svarte ikke",
            Reason::SvarutNotDelivered => "SvarUt: ikke levert",
        }
    }

    pub fn parse(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The reason a delivery's final class means, if it means the guardian is out
    /// of reach (`reserved`: the contact register said so for this delivery).
    pub fn of_class(class: &str, reserved: bool) -> Option<Reason> {
        match (class, reserved) {
            ("protected_address_not_digital", true) => Some(Reason::ReservedProtectedAddress),
            ("protected_address_not_digital", false) => Some(Reason::ProtectedAddress),
            ("no_address", true) => Some(Reason::ReservedNoAddress),
            ("no_address", false) => Some(Reason::NoAddress),
            ("register_unavailable", _) => Some(Reason::RegisterUnavailable),
            ("svarut_ikke_levert", _) => Some(Reason::SvarutNotDelivered),
            _ => None,
        }
    }
}

/// `Kari Nordmann` → `K.N.`
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .flat_map(|c| c.to_uppercase().chain(std::iter::once('.')))
        .collect()
}

/// Records the task for delivery `delivery_id`'s guardian (once per document and
/// guardian). True when a task was created now.
pub async fn record(pool: &PgPool, delivery_id: i64, reason: Reason) -> Result<bool, sqlx::Error> {
    let row: Option<(uuid::Uuid, String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT d.event_id, d.recipient_id, d.channel, e.payload
           FROM deliveries d JOIN events e ON e.event_id = d.event_id
          WHERE d.id = $1",
    )
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    let Some((event_id, recipient_id, channel, payload)) = row else {
        return Ok(false);
    };
    let guardian = payload["recipients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["id"].as_str() == Some(recipient_id.as_str()))
        .find_map(|r| serde_json::from_value::<Recipient>(r.clone()).ok())
        .filter(|r| r.kind == RecipientKind::Guardian);
    let Some(guardian) = guardian else {
        return Ok(false);
    };
    let n = sqlx::query(
        "INSERT INTO unreachable_tasks
            (event_id, recipient_id, school_id, document_type, initials, delivery_id, channel,
             reason, reason_nb)
         SELECT $1, $2, doc.school_id, doc.document_type, $3, $4, $5, $6, $7
           FROM documents doc WHERE doc.event_id = $1
         ON CONFLICT (event_id, recipient_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(&recipient_id)
    .bind(initials(&guardian.name))
    .bind(delivery_id)
    .bind(&channel)
    .bind(reason.code())
    .bind(reason.text_nb())
    .execute(pool)
    .await?
    .rows_affected();
    if n == 1 {
        tracing::info!(
            delivery_id,
            event_id = %event_id,
            reason = reason.code(),
            "no channel reaches the guardian; a task for the school"
        );
    }
    Ok(n == 1)
}

/// The school's open tasks and its reachability report (the API's answer).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SchoolTasks {
    pub school_id: String,
    pub open: Vec<Task>,
    pub report: Vec<ReportRow>,
}

/// One task as the dashboard shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Task {
    pub id: i64,
    pub event_id: uuid::Uuid,
    pub school_id: String,
    pub document_type: String,
    pub initials: String,
    pub channel: String,
    pub reason: String,
    pub reason_nb: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
}

/// The open tasks of `schools` (`None`: every school), oldest first (at most 500).
pub async fn open_tasks(
    pool: &PgPool,
    schools: Option<Vec<String>>,
) -> Result<Vec<Task>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_id, school_id, document_type, initials, channel, reason, reason_nb,
                created_at, resolved_at, resolved_by
           FROM unreachable_tasks
          WHERE resolved_at IS NULL AND ($1::text[] IS NULL OR school_id = ANY($1))
          ORDER BY created_at, id LIMIT 500",
    )
    .bind(schools)
    .fetch_all(pool)
    .await
}

/// One task by id.
pub async fn task_by_id(pool: &PgPool, id: i64) -> Result<Option<Task>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_id, school_id, document_type, initials, channel, reason, reason_nb,
                created_at, resolved_at, resolved_by
           FROM unreachable_tasks WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Marks task `id` resolved by `user`. False when it was resolved already.
pub async fn resolve(pool: &PgPool, id: i64, user: &str) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE unreachable_tasks SET resolved_at = now(), resolved_by = $2
          WHERE id = $1 AND resolved_at IS NULL",
    )
    .bind(id)
    .bind(user)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// One line of the reachability report: a school's open and resolved tasks of
/// one reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    pub school_id: String,
    pub reason: String,
    pub open: i64,
    pub resolved: i64,
}

/// The reachability report of `schools` (`None`: every school).
pub async fn report(
    pool: &PgPool,
    schools: Option<Vec<String>>,
) -> Result<Vec<ReportRow>, sqlx::Error> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT school_id, reason,
                count(*) FILTER (WHERE resolved_at IS NULL),
                count(*) FILTER (WHERE resolved_at IS NOT NULL)
           FROM unreachable_tasks
          WHERE $1::text[] IS NULL OR school_id = ANY($1)
          GROUP BY school_id, reason ORDER BY school_id, reason",
    )
    .bind(schools)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(school_id, reason, open, resolved)| ReportRow {
            school_id,
            reason,
            open,
            resolved,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_reasons() {
        assert_eq!(
            Reason::of_class("protected_address_not_digital", true),
            Some(Reason::ReservedProtectedAddress)
        );
        assert_eq!(
            Reason::of_class("no_address", false),
            Some(Reason::NoAddress)
        );
        assert_eq!(
            Reason::of_class("svarut_ikke_levert", false),
            Some(Reason::SvarutNotDelivered)
        );
        assert_eq!(Reason::of_class("in_doubt", false), None);
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.code()), Some(r));
        }
        assert_eq!(initials("kari  Nordmann"), "K.N.");
    }
}
