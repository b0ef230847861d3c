//! The outbound exchange: events dokflyt publishes to the school system.
//!
//! Stage: delivery (used by [`super::message`] and [`super::internal`]). Input: a
//! routing key and a JSON body. Output: a persistent, mandatory message on the topic
//! exchange `{prefix}.outbound`, confirmed by the broker. Failure: every error is
//! an [`OutboundError`]; the caller retries. A message no queue would receive
//! (the school system has not bound one) is `Unroutable`, not silently dropped.
//!
//! The exchange is separate from `{prefix}.events`, whose `document.#` binding feeds
//! dokflyt's own queue: an outgoing `document.internal` must not come back in.
//! Routing keys: `message.created`, `school.<school id>.document.internal`.

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::ExchangeKind;
use tokio::sync::Mutex;

use crate::broker::{self, BrokerError};
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0}")]
    Broker(#[from] BrokerError),
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
}

impl OutboundError {
    /// A stable class for the delivery's record.
    pub fn class(&self) -> &'static str {
        match self {
            OutboundError::Broker(BrokerError::Unroutable(_)) => "amqp_unroutable",
            OutboundError::Broker(BrokerError::Nacked) => "amqp_nacked",
            _ => "amqp_unavailable",
        }
    }
}

/// The name of the outbound exchange for a prefix.
pub fn exchange_name(prefix: &str) -> String {
    format!("{prefix}.outbound")
}

/// The routing key of a moving notice for the receiving school.
pub fn internal_routing_key(school_id: &str) -> String {
    let safe: String = school_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("school.{safe}.document.internal")
}

/// A lazily (re)connected confirm channel to the outbound exchange.
pub struct Outbound {
    url: Secret,
    heartbeat_secs: u16,
    pub exchange: String,
    conn: Mutex<Option<(lapin::Connection, lapin::Channel)>>,
}

impl Outbound {
    pub fn new(url: Secret, heartbeat_secs: u16, prefix: &str) -> Outbound {
        Outbound {
            url,
            heartbeat_secs,
            exchange: exchange_name(prefix),
            conn: Mutex::new(None),
        }
    }

    /// Declares the exchange (idempotent).
    pub async fn declare(channel: &lapin::Channel, exchange: &str) -> Result<(), BrokerError> {
        channel
            .exchange_declare(
                broker::amqp_name(exchange)?,
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(())
    }

    /// Publishes one persistent, mandatory message and waits for the confirm.
    /// `message_id` goes into the headers so consumers can drop a repeat.
    pub async fn publish(
        &self,
        routing_key: &str,
        message_id: &str,
        body: &[u8],
    ) -> Result<(), OutboundError> {
        let mut guard = self.conn.lock().await;
        let usable =
            matches!(&*guard, Some((c, ch)) if c.status().connected() && ch.status().connected());
        if !usable {
            let conn = broker::connect(self.url.expose(), self.heartbeat_secs).await?;
            let channel = broker::confirm_channel(&conn).await?;
            Self::declare(&channel, &self.exchange).await?;
            *guard = Some((conn, channel));
        }
        let Some((_, channel)) = guard.as_ref() else {
            return Err(OutboundError::Broker(BrokerError::Nacked));
        };
        let r = broker::publish_confirmed(
            channel,
            &self.exchange,
            routing_key,
            body,
            vec![("x-dokflyt-message-id", message_id.to_string())],
            true,
        )
        .await;
        if let Err(BrokerError::Amqp(_)) = &r {
            *guard = None;
        }
        Ok(r?)
    }
}
