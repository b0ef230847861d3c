//! Who may send a school's emergency SMS from a document event (issue 16, item 3).
//!
//! Stage: the pipeline, after routing, for every event routed to the `sms` channel
//! (and again when the SMS worker takes the committed document in).
//! Input: the school id, the sender's user id from the event (the school system's
//! staff id, the same id the roster uses) and the day of the event (`occurred_at`
//! in the producer's offset). Output: the [`SenderRoute`] the roster gives this
//! person for this school on that day:
//! - the school's principal on that day (`roster_principal_history`, kept from
//!   the school events' `principal_staff_id` / `principal_since`);
//! - a deputy named in the school event (`deputies`, with optional period);
//! - a school owner (skoleeier) of the school's municipality (`school_owner_for`
//!   in the person's staff event).
//!
//! The role the event claims is not evidence: only the roster decides.
//! Failure: anyone else (or an unknown school, or a deleted staff member) is
//! [`SenderError::NotAuthorised`]; the pipeline dead-letters the event with
//! reason code `not_authorised` and [`NOT_AUTHORISED_NB`], which names no person.
//! A database error is [`SenderError::Db`] (the caller decides transient or not).

use chrono::NaiveDate;

use crate::access::Role;

/// The Norwegian reason of a refused sender; it names no person.
pub const NOT_AUTHORISED_NB: &str = "Avsenderen er ikke rektor, stedfortreder for rektor eller skoleeier for denne skolen i elevregisteret på datoen for hendelsen";

/// Why the roster lets this person send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderRoute {
    Principal,
    Deputy,
    SchoolOwner,
}

impl SenderRoute {
    /// The role the message and the audit log record for this sender.
    pub fn role(self) -> Role {
        match self {
            SenderRoute::Principal | SenderRoute::Deputy => Role::Rektor,
            SenderRoute::SchoolOwner => Role::Skoleeier,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("{}", NOT_AUTHORISED_NB)]
    NotAuthorised,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl SenderError {
    pub const CODE: &'static str = "not_authorised";
}

/// What the roster says about `user` at `school` on `day`, and the school's
/// municipality (for the audit log and the cost ledger).
pub async fn check<'e, E>(
    db: E,
    school: &str,
    user: &str,
    day: NaiveDate,
) -> Result<(SenderRoute, Option<String>), SenderError>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: Option<(bool, bool, bool, Option<String>)> = sqlx::query_as(
        "SELECT
            EXISTS (SELECT 1 FROM roster_principal_history h
                     WHERE h.school_id = s.school_id AND h.staff_id = $2
                       AND (h.valid_from IS NULL OR h.valid_from <= $3)
                       AND (h.valid_until IS NULL OR h.valid_until > $3)),
            EXISTS (SELECT 1 FROM roster_school_deputies d
                     WHERE d.school_id = s.school_id AND d.staff_id = $2
                       AND (d.valid_from IS NULL OR d.valid_from <= $3)
                       AND (d.valid_until IS NULL OR d.valid_until >= $3)),
            EXISTS (SELECT 1 FROM roster_school_owners o
                     WHERE o.staff_id = $2 AND o.municipality_number = s.municipality_number),
            s.municipality_number
           FROM roster_schools s
          WHERE s.school_id = $1 AND NOT s.deleted
            AND EXISTS (SELECT 1 FROM roster_staff st WHERE st.staff_id = $2 AND NOT st.deleted)",
    )
    .bind(school)
    .bind(user)
    .bind(day)
    .fetch_optional(db)
    .await?;
    match row {
        Some((true, _, _, m)) => Ok((SenderRoute::Principal, m)),
        Some((_, true, _, m)) => Ok((SenderRoute::Deputy, m)),
        Some((_, _, true, m)) => Ok((SenderRoute::SchoolOwner, m)),
        _ => Err(SenderError::NotAuthorised),
    }
}

/// [`check`] for a document event: its school, sender and day.
pub async fn check_event(
    pool: &sqlx::PgPool,
    event: &crate::event::IncomingEvent,
) -> Result<(SenderRoute, Option<String>), SenderError> {
    check(
        pool,
        &event.school.id,
        &event.sender.user_id,
        event
            .occurred_at
            .with_timezone(&chrono_tz::Europe::Oslo)
            .date_naive(),
    )
    .await
}

/// Writes a refused event sender to the audit log (`sms.send`, refused), as the
/// person the event names: the audit log is where a refusal's who is kept.
pub async fn audit_refusal(
    pool: &sqlx::PgPool,
    event: &crate::event::IncomingEvent,
) -> Result<(), sqlx::Error> {
    let actor = crate::access::Actor {
        user: event.sender.user_id.clone(),
        role: event.sender.role.parse().unwrap_or(Role::System),
        schools: vec![event.school.id.clone()],
        municipality_number: None,
    };
    let target = event.event_id.to_string();
    crate::audit::record(
        pool,
        &crate::audit::Entry {
            actor: &actor,
            school_id: Some(&event.school.id),
            action: "sms.send",
            target: Some(&target),
            outcome: crate::audit::Verdict::Refused,
            reason: Some(SenderError::CODE),
            details: serde_json::json!({ "source": "event" }),
        },
    )
    .await?;
    Ok(())
}
