//! The oracle of the fault-injection suite: what became of every event, computed
//! after a scenario from the database, the queues and the stand-ins' own records
//! — never from the worker's word about itself.
//!
//! Input: the [`World`] (published event ids, database, stand-ins) at the end of
//! a scenario. Output: [`Counts`]:
//! - `lost` — a published event with no terminal state: neither dead-lettered nor
//!   committed with every delivery `sent`/`delivered`/`failed`/`held`, its archive
//!   row `arkivert`/`feilet` and its emergency SMS `completed`/`refused` with every
//!   number `sent`/`delivered`/`failed`;
//! - `duplicated` — external effects beyond the first per idempotency key: SvarUt
//!   forsendelser per `eksternReferanse`, journal posts created per external key,
//!   SMS accepted per `refId`;
//! - `unexpected` — an external effect whose key belongs to no published event;
//! - `dead_lettered` — rows in `dead_letters`;
//! - `recovered` — in-doubt effects found again instead of repeated: SvarUt
//!   look-ups that found the forsendelse, archive receipts «Eksisterende», SMS
//!   look-ups that found the message, and redelivered events the consumer
//!   recognised as already committed.
//!
//! Email has no stand-in with records in this suite (email is off; an email in
//! doubt is held by design, never resent), so it is not counted here.
//! Failure: a database error is returned.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use uuid::Uuid;

use super::world::World;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub events: usize,
    pub lost: i64,
    pub duplicated: i64,
    pub unexpected: i64,
    pub dead_lettered: i64,
    pub recovered: i64,
    /// Effects seen by the stand-ins: SvarUt forsendelser, journal posts, SMS.
    pub svarut: usize,
    pub journal_posts: usize,
    pub sms: usize,
    /// `recovered` by source: SvarUt look-ups found, «Eksisterende» receipts, SMS
    /// look-ups found, redeliveries recognised by the consumer.
    pub recovered_by: [i64; 4],
}

impl Counts {
    /// lost, duplicated and unexpected are all zero.
    pub fn holds(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.unexpected == 0
    }
}

/// Published events without a terminal state.
pub const NOT_TERMINAL: &str = "
SELECT count(*) FROM unnest($1::uuid[]) AS p(id)
WHERE NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.event_id = p.id)
  AND NOT (
    EXISTS (SELECT 1 FROM events e WHERE e.event_id = p.id)
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = p.id
                    AND d.status NOT IN ('sent', 'delivered', 'failed', 'held'))
    AND NOT EXISTS (SELECT 1 FROM archive_queue a WHERE a.event_id = p.id AND a.status = 'klar')
    AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = p.id AND e.document_type = 'emergency_sms'
                    AND NOT EXISTS (SELECT 1 FROM sms_messages m WHERE m.event_id = p.id
                                    AND m.status IN ('completed', 'refused')))
    AND NOT EXISTS (SELECT 1 FROM sms_messages m JOIN sms_recipients r ON r.message_id = m.message_id
                    WHERE m.event_id = p.id AND r.status IN ('queued', 'sending')))";

/// How many of the published events have no terminal state yet.
pub async fn not_terminal(world: &World) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(NOT_TERMINAL)
        .bind(&world.published)
        .fetch_one(&world.pool)
        .await?)
}

/// The event id a SvarUt `eksternReferanse` (`<event id>:<12 hex>`) belongs to.
fn event_of_ref(r: &str) -> Option<Uuid> {
    r.split(':').next()?.parse().ok()
}

/// Counts everything (module doc).
pub async fn count(world: &World) -> anyhow::Result<Counts> {
    let published: HashSet<Uuid> = world.published.iter().copied().collect();
    let lost = not_terminal(world).await?;

    let svarut = world.svarut.per_ekstern_ref();
    let journal = world.archive.with(|a| a.created.clone());
    let sms = world.sms.per_ref();
    let sms_keys: HashSet<String> = sqlx::query_scalar(
        "SELECT r.idempotency_key FROM sms_recipients r
           JOIN sms_messages m ON m.message_id = r.message_id
          WHERE m.event_id = ANY($1)",
    )
    .bind(&world.published)
    .fetch_all(&world.pool)
    .await?
    .into_iter()
    .collect();

    let extra = |n: usize| n.saturating_sub(1) as i64;
    let duplicated = svarut.values().map(|n| extra(*n)).sum::<i64>()
        + journal.values().map(|n| extra(*n as usize)).sum::<i64>()
        + sms.values().map(|n| extra(*n)).sum::<i64>();
    let unexpected = svarut
        .keys()
        .filter(|k| !event_of_ref(k).is_some_and(|e| published.contains(&e)))
        .count()
        + journal
            .keys()
            .filter(|k| !k.parse::<Uuid>().is_ok_and(|e| published.contains(&e)))
            .count()
        + sms.keys().filter(|k| !sms_keys.contains(*k)).count();

    let dead_lettered: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&world.pool)
        .await?;
    let existing: i64 =
        sqlx::query_scalar("SELECT count(*) FROM archive_queue WHERE receipt_existing")
            .fetch_one(&world.pool)
            .await?;
    let recovered_by = [
        world.svarut.lookups_found() as i64,
        existing,
        world.sms.lookups_found.load(Ordering::SeqCst) as i64,
        world.duplicates_acked.load(Ordering::Relaxed) as i64,
    ];
    let recovered = recovered_by.iter().sum();
    Ok(Counts {
        events: world.published.len(),
        lost,
        duplicated,
        unexpected: unexpected as i64,
        dead_lettered,
        recovered,
        svarut: svarut.values().sum(),
        journal_posts: journal.len(),
        sms: sms.values().sum(),
        recovered_by,
    })
}
