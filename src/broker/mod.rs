//! AMQP adapter: connection, topology, the reconnecting session of every consumer
//! ([`session`]), publishing with publisher confirms, and the broker accounts
//! ([`permissions`]).
//!
//! Used by the three consumers (documents, roster, SMS fan-out) through
//! [`session`], by `dokflyt publish`, the outbound exchange, the demo and the
//! benchmark. lapin runs on the process's tokio runtime (one I/O thread per
//! connection, no executor of its own). Declarations are idempotent, so every
//! (re)connect declares the whole topology again; a queue that was deleted under a
//! running worker is recreated.
//! Failure: every error here is a [`BrokerError`]; all of them are transient for the
//! pipeline (reconnect with backoff) except a `PRECONDITION_FAILED` on declare, which
//! means an existing queue has other arguments and needs an operator.

pub(crate) mod permissions;
pub(crate) mod session;
mod topology;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString, ShortStringError};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};

pub use topology::Topology;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker did not confirm the publish (nack)")]
    Nacked,
    #[error("the broker returned the message as unroutable (no queue bound for routing key {0})")]
    Unroutable(String),
    #[error("{0}")]
    Credentials(#[from] permissions::PermissionsError),
    #[error("the broker did not complete the connection handshake within {0} s")]
    ConnectTimeout(u64),
    #[error("the consumer was cancelled by the server (its queue was deleted, or a failover)")]
    ConsumerCancelled,
    #[error("a queue, exchange or routing key is longer than AMQP allows: {0}")]
    NameTooLong(#[from] ShortStringError),
}

/// A queue, exchange or routing key as AMQP carries it (at most 255 bytes): an
/// error, not a panic, for a longer one (a routing key can come from an event).
pub fn amqp_name(name: &str) -> Result<ShortString, BrokerError> {
    Ok(ShortString::try_new(name)?)
}

/// Opens a connection with the configured heartbeat. `url` is used as given, with
/// `heartbeat=N` added to its query unless it already sets one. The `guest`
/// account is refused unless the broker is on loopback ([`permissions`]). An
/// `amqps://` URL trusts what the process trusts ([`crate::tls::current`]).
pub async fn connect(url: &str, heartbeat_secs: u16) -> Result<Connection, BrokerError> {
    connect_with(url, heartbeat_secs, &crate::tls::current()).await
}

/// [`connect`] with the given trust for `amqps://` (the OS store, which lapin
/// loads itself, and the bundle's certificates).
pub async fn connect_with(
    url: &str,
    heartbeat_secs: u16,
    trust: &crate::tls::Trust,
) -> Result<Connection, BrokerError> {
    permissions::check_credentials(url)?;
    let url = if url.contains("heartbeat=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&heartbeat={heartbeat_secs}")
    } else {
        format!("{url}?heartbeat={heartbeat_secs}")
    };
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("dokflyt-{}", std::process::id())));
    // A handshake that stalls (a half-open TCP path, a paused broker) must not
    // hold a reconnect loop, and with it a graceful shutdown, for ever: two
    // heartbeats, at least 10 s, then it counts as a failed attempt (retried).
    let limit = (2 * u64::from(heartbeat_secs)).max(10);
    match tokio::time::timeout(std::time::Duration::from_secs(limit), async {
        lapin::DefaultConnectionBuilder::new()?
            .with_uri_str(url)
            .with_properties(props)
            .with_tls_config(trust.amqp_config())
            .connect()
            .await
    })
    .await
    {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(BrokerError::ConnectTimeout(limit)),
    }
}

/// A channel in confirm mode: every publish on it is awaited until the broker confirms.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, BrokerError> {
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// Headers for a published message.
pub type Headers = Vec<(&'static str, String)>;

/// Publishes one persistent message and waits for the broker's confirm. With
/// `mandatory`, a message no queue would receive is an error, not a silent drop.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    headers: Headers,
    mandatory: bool,
) -> Result<(), BrokerError> {
    let mut table = FieldTable::default();
    for (k, v) in headers {
        table.insert(
            ShortString::from(k),
            AMQPValue::LongString(LongString::from(v)),
        );
    }
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/json"))
        .with_headers(table);
    let confirm = channel
        .basic_publish(
            amqp_name(exchange)?,
            amqp_name(routing_key)?,
            BasicPublishOptions {
                mandatory,
                ..BasicPublishOptions::default()
            },
            body,
            props,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_returned)) => Err(BrokerError::Unroutable(routing_key.into())),
        Confirmation::Nack(_) => Err(BrokerError::Nacked),
        Confirmation::NotRequested => Ok(()),
    }
}

/// Publishes one event body as a producer would: to the events exchange, with the
/// routing key `document.<document_type>` read from the body (or `document.unknown`:
/// the worker then dead-letters it with the reason), persistent, mandatory, confirmed.
pub async fn publish_event(
    channel: &Channel,
    topology: &Topology,
    body: &[u8],
) -> Result<String, BrokerError> {
    let key = routing_key_for(body);
    publish_confirmed(channel, &topology.events_exchange, &key, body, vec![], true).await?;
    Ok(key)
}

/// The routing key of an event body: `document.<document_type>` when the body says,
/// else `document.unknown`.
pub fn routing_key_for(body: &[u8]) -> String {
    let key = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("document_type")?.as_str().map(str::to_owned))
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or_else(|| "unknown".into());
    document_routing_key(&key)
}

/// The routing key producers use for a document event of type `key`.
pub fn document_routing_key(key: &str) -> String {
    format!("document.{key}")
}
