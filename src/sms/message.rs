//! Committing an emergency SMS message: the message row, one recipient row per
//! distinct number (status `queued`, with its idempotency key) and — when it may be
//! sent now — its cost-ledger row, in the caller's transaction.
//!
//! Input: a [`NewMessage`] and the [`RecipientSet`]. Output: the rows; nothing is
//! sent here (the worker sends only what is committed). Failure: the database
//! error; the transaction rolls back and nothing exists.

use sha2::{Digest, Sha256};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::cost::Price;
use super::recipients::RecipientSet;

/// The idempotency key of (message, number): sent to the gateway as `refId`.
pub fn idempotency_key(message_id: Uuid, number: &str) -> String {
    let digest = Sha256::digest(format!("{message_id}:{number}").as_bytes());
    format!("dokflyt-{}", &hex::encode(digest)[..40])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    AwaitingApproval,
    Approved,
    Refused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingApproval => "awaiting_approval",
            Status::Approved => "approved",
            Status::Refused => "refused",
        }
    }
}

pub struct NewMessage<'a> {
    pub message_id: Uuid,
    pub school_id: &'a str,
    pub source: &'static str,
    pub event_id: Option<Uuid>,
    pub preview_token: Option<Uuid>,
    pub requested_by: &'a str,
    pub role: &'a str,
    pub on_owner_instruction: bool,
    pub reason: &'a str,
    pub text: &'a str,
    pub encoding: &'static str,
    pub segments: i64,
    pub price: Price,
    pub status: Status,
    pub status_reason: Option<&'a str>,
}

/// Writes the message, its recipients (unless refused) and, when approved, its ledger row.
pub async fn commit(
    tx: &mut Transaction<'_, Postgres>,
    m: &NewMessage<'_>,
    recipients: &RecipientSet,
) -> Result<(), sqlx::Error> {
    let refused = m.status == Status::Refused;
    let numbers = if refused {
        0
    } else {
        recipients.numbers.len() as i64
    };
    let cost = super::cost::cost_ore(numbers, m.segments, m.price);
    sqlx::query(
        "INSERT INTO sms_messages (message_id, school_id, source, event_id, preview_token,
            requested_by, role, on_owner_instruction, reason, text, encoding, segments,
            numbers, price_ore, cost_ore, status, status_reason, price_valid_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(m.message_id)
    .bind(m.school_id)
    .bind(m.source)
    .bind(m.event_id)
    .bind(m.preview_token)
    .bind(m.requested_by)
    .bind(m.role)
    .bind(m.on_owner_instruction)
    .bind(m.reason)
    .bind(m.text)
    .bind(m.encoding)
    .bind(m.segments as i32)
    .bind(numbers as i32)
    .bind(m.price.ore)
    .bind(cost)
    .bind(m.status.as_str())
    .bind(m.status_reason)
    .bind(m.price.valid_from)
    .execute(&mut **tx)
    .await?;
    if refused {
        return Ok(());
    }
    let mut nums = Vec::with_capacity(recipients.numbers.len());
    let mut groups = Vec::with_capacity(recipients.numbers.len());
    let mut keys = Vec::with_capacity(recipients.numbers.len());
    for (n, g) in &recipients.numbers {
        keys.push(idempotency_key(m.message_id, n.as_str()));
        nums.push(n.as_str().to_string());
        groups.push(g.iter().copied().collect::<Vec<_>>().join(","));
    }
    sqlx::query(
        "INSERT INTO sms_recipients (message_id, number, groups, idempotency_key)
         SELECT $1, n, string_to_array(g, ','), k
           FROM unnest($2::text[], $3::text[], $4::text[]) AS x(n, g, k)",
    )
    .bind(m.message_id)
    .bind(nums)
    .bind(groups)
    .bind(keys)
    .execute(&mut **tx)
    .await?;
    if m.status == Status::Approved {
        book(tx, m.message_id).await?;
    }
    Ok(())
}

/// Books a message's cost in the ledger (once: the message id is unique there).
pub async fn book(tx: &mut Transaction<'_, Postgres>, message_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sms_cost_ledger (school_id, message_id, sms_count, price_ore, price_valid_from, cost_ore)
         SELECT school_id, message_id, numbers::bigint * segments, price_ore, price_valid_from, cost_ore
           FROM sms_messages WHERE message_id = $1
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The school an emergency message belongs to, if it exists.
pub async fn school_of(
    pool: &sqlx::PgPool,
    message_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT school_id FROM sms_messages WHERE message_id = $1")
        .bind(message_id)
        .fetch_optional(pool)
        .await
}
