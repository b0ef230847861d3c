//! The exchanges and queues dokflyt owns, declared idempotently at every connect.
//!
//! ```text
//! producer ──document.<type>──► {p}.events (topic, durable)
//!                                   │  binding document.#
//!                                   ▼
//!                               {p}.documents (quorum; x-delivery-limit, DLX, at-least-once,
//!                                   │          reject-publish)
//!             over the limit /      ▼
//!             rejected by dokflyt ► {p}.dead-letter (fanout) ──► {p}.documents.dead-letter (quorum)
//! ```
//!
//! The roster and the emergency-SMS fan-out have their own queues:
//! ```text
//! producer ──roster.<entity>──► {p}.events ──binding roster.#──► {p}.roster (quorum)
//!     bad roster event ──► {p}.roster.dead-letter (fanout) ──► {p}.roster.dead-letter (classic, durable)
//! SMS worker ──(default exchange)──► {p}.sms (classic, durable; batches of recipient ids, no personal data)
//! ```
//! `{p}` is the configured prefix, so tests and several installations share a broker.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use super::{amqp_name, BrokerError};

/// The names of everything dokflyt declares, derived from one prefix.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Topic exchange producers publish document events to.
    pub events_exchange: String,
    /// Quorum queue the worker consumes document events from.
    pub documents_queue: String,
    /// Dead-letter exchange (fanout).
    pub dead_letter_exchange: String,
    /// Queue holding every dead-lettered event with its reason headers.
    pub dead_letter_queue: String,
    /// Deliveries of one message before the broker dead-letters it.
    pub delivery_limit: u32,
    /// Quorum queue of roster events (routing keys `roster.#`).
    pub roster_queue: String,
    /// Dead-letter exchange (fanout) and queue of bad roster events.
    pub roster_dead_letter_exchange: String,
    pub roster_dead_letter_queue: String,
    /// Quorum queue of emergency-SMS fan-out batches.
    pub sms_queue: String,
}

impl Topology {
    pub fn new(prefix: &str, delivery_limit: u32) -> Topology {
        Topology {
            events_exchange: format!("{prefix}.events"),
            documents_queue: format!("{prefix}.documents"),
            dead_letter_exchange: format!("{prefix}.dead-letter"),
            dead_letter_queue: format!("{prefix}.documents.dead-letter"),
            delivery_limit,
            roster_queue: format!("{prefix}.roster"),
            roster_dead_letter_exchange: format!("{prefix}.roster.dead-letter"),
            roster_dead_letter_queue: format!("{prefix}.roster.dead-letter"),
            sms_queue: format!("{prefix}.sms"),
        }
    }

    /// The events exchange (topic) and the documents' dead-letter exchange (fanout):
    /// every consumer's queue hangs off them.
    async fn declare_exchanges(&self, channel: &Channel) -> Result<(), BrokerError> {
        channel
            .exchange_declare(
                amqp_name(&self.events_exchange)?,
                ExchangeKind::Topic,
                durable_exchange(),
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                amqp_name(&self.dead_letter_exchange)?,
                ExchangeKind::Fanout,
                durable_exchange(),
                FieldTable::default(),
            )
            .await?;
        Ok(())
    }

    /// A quorum queue that dead-letters to `dlx` after `delivery_limit` deliveries,
    /// at least once, and refuses publishes when full.
    fn quorum_with_dlx(&self, dlx: &str) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), text("quorum"));
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(self.delivery_limit as i32),
        );
        args.insert("x-dead-letter-exchange".into(), text(dlx));
        args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
        args.insert("x-overflow".into(), text("reject-publish"));
        args
    }

    /// Declares everything; safe to call on every connect.
    pub async fn declare(&self, channel: &Channel) -> Result<(), BrokerError> {
        self.declare_exchanges(channel).await?;
        let mut dlq_args = FieldTable::default();
        dlq_args.insert("x-queue-type".into(), text("quorum"));
        declare_bound(
            channel,
            &self.dead_letter_queue,
            dlq_args,
            &self.dead_letter_exchange,
            "",
        )
        .await?;
        declare_bound(
            channel,
            &self.documents_queue,
            self.quorum_with_dlx(&self.dead_letter_exchange),
            &self.events_exchange,
            "document.#",
        )
        .await
    }

    /// The roster queue with its own dead-letter queue, and the SMS fan-out queue
    /// (plus the two exchanges they hang off). Declared by the roster consumer and
    /// the SMS worker instead of [`Topology::declare`]: they never touch the
    /// documents queue, and tools that run only the document consumer create none
    /// of these.
    pub async fn declare_roster_and_sms(&self, channel: &Channel) -> Result<(), BrokerError> {
        self.declare_exchanges(channel).await?;
        channel
            .exchange_declare(
                amqp_name(&self.roster_dead_letter_exchange)?,
                ExchangeKind::Fanout,
                durable_exchange(),
                FieldTable::default(),
            )
            .await?;
        // Classic durable queues here: one quorum queue (a Raft group) per
        // installation is enough for the roster, and the SMS queue only carries
        // recipient ids whose truth is in PostgreSQL (the sweep republishes).
        let mut dlq_args = FieldTable::default();
        dlq_args.insert("x-queue-type".into(), text("classic"));
        declare_bound(
            channel,
            &self.roster_dead_letter_queue,
            dlq_args,
            &self.roster_dead_letter_exchange,
            "",
        )
        .await?;
        declare_bound(
            channel,
            &self.roster_queue,
            self.quorum_with_dlx(&self.roster_dead_letter_exchange),
            &self.events_exchange,
            "roster.#",
        )
        .await?;
        // Persistent batches on a classic durable queue; a lost or unreadable batch
        // costs nothing: its recipients stay open in PostgreSQL and are swept.
        let mut sms_args = FieldTable::default();
        sms_args.insert("x-queue-type".into(), text("classic"));
        channel
            .queue_declare(amqp_name(&self.sms_queue)?, durable_queue(), sms_args)
            .await?;
        Ok(())
    }
}

impl Topology {
    /// Deletes every queue and exchange of both declarations, best effort (what
    /// is already gone is skipped): the teardown of a test's or a benchmark's
    /// private prefix.
    pub async fn remove(&self, channel: &Channel) {
        for q in [
            &self.documents_queue,
            &self.dead_letter_queue,
            &self.roster_queue,
            &self.roster_dead_letter_queue,
            &self.sms_queue,
        ] {
            if let Ok(q) = amqp_name(q) {
                let _ = channel.queue_delete(q, Default::default()).await;
            }
        }
        for x in [
            &self.events_exchange,
            &self.dead_letter_exchange,
            &self.roster_dead_letter_exchange,
        ] {
            if let Ok(x) = amqp_name(x) {
                let _ = channel.exchange_delete(x, Default::default()).await;
            }
        }
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// A durable queue with `args`, bound to `exchange` by `key`.
async fn declare_bound(
    channel: &Channel,
    queue: &str,
    args: FieldTable,
    exchange: &str,
    key: &str,
) -> Result<(), BrokerError> {
    channel
        .queue_declare(amqp_name(queue)?, durable_queue(), args)
        .await?;
    channel
        .queue_bind(
            amqp_name(queue)?,
            amqp_name(exchange)?,
            amqp_name(key)?,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.to_string()))
}
