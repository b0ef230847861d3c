//! One broker session, written once: connect, declare, consume, and on a loss
//! reconnect with backoff, until shutdown.
//!
//! Used by the three consumers (documents: `pipeline::consume`, roster:
//! `roster::feed`, the SMS fan-out: `sms::fanout`, whose dispatcher runs a
//! publishing session the same way).
//! Input: the AMQP settings, which part of the topology to declare ([`Declare`]),
//! a [`Backoff`] and a body: an async closure that runs one session on an open,
//! declared confirm channel ([`Link`]) and returns `Ok(())` at shutdown or the
//! error that ended the session.
//! Output: [`Session::run`] returns only once `shutdown` is cancelled (then the
//! channel and the connection are closed with 200). Each attempt is
//! [`broker::connect`](super::connect) (its handshake is bounded, so a stalled
//! reconnect cannot hold a shutdown) → confirm channel → declare → body.
//! Failure: a failed connect or declare, a lost connection and a consumer that
//! the server cancelled (a deleted queue, a failover: the delivery stream ends)
//! all end the attempt: it is logged at WARN with the reason (never message
//! content), counted in `reconnects`, and retried after the next backoff delay
//! (jittered; the delays start over once a session reached its consumer,
//! [`Link::consume`] / [`Link::established`]). Nothing is acked by the session
//! itself: unacked deliveries of a lost session return to the queue.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use tokio_util::sync::CancellationToken;

use super::{BrokerError, Topology};
use crate::backoff::{self, Backoff};
use crate::config::AmqpSettings;

/// Reconnects of every broker session: 100 ms doubling to 30 s, jittered, for ever.
pub const RECONNECT: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));

/// Which declaration a session makes on every connect (all are idempotent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declare {
    /// [`Topology::declare`]: the documents queue and its dead-letter queue.
    Documents,
    /// [`Topology::declare_roster_and_sms`]: the roster queue, its dead-letter
    /// queue and the SMS fan-out queue.
    RosterAndSms,
}

/// What a session shows the rest of the process (readiness, the benchmark, tests).
#[derive(Debug, Default, Clone)]
pub struct SessionStatus {
    /// True while the session's consumer is attached to its queue.
    pub connected: Arc<AtomicBool>,
    /// Sessions that ended other than by shutdown (each followed by a reconnect).
    pub reconnects: Arc<AtomicU64>,
}

/// A reconnecting broker session (see the module header).
pub struct Session {
    /// For the logs: which worker this session belongs to.
    name: &'static str,
    amqp: AmqpSettings,
    topology: Topology,
    declare: Declare,
    backoff: Backoff,
    status: SessionStatus,
}

impl Session {
    pub fn new(name: &'static str, amqp: &AmqpSettings, declare: Declare) -> Session {
        Session {
            name,
            topology: Topology::new(&amqp.prefix, amqp.delivery_limit),
            amqp: amqp.clone(),
            declare,
            backoff: RECONNECT,
            status: SessionStatus::default(),
        }
    }

    /// Reports through `status` (shared with whoever reads it).
    pub fn with_status(mut self, status: SessionStatus) -> Session {
        self.status = status;
        self
    }

    /// Runs `body` on a fresh connection until `shutdown`, reconnecting with
    /// backoff whenever the connection, the declaration or the body fails.
    pub async fn run<F, Fut>(&self, shutdown: &CancellationToken, mut body: F)
    where
        F: FnMut(Link) -> Fut,
        Fut: Future<Output = Result<(), BrokerError>>,
    {
        let mut delays = self.backoff.delays();
        loop {
            let established = Arc::new(AtomicBool::new(false));
            let opened = tokio::select! {
                _ = shutdown.cancelled() => return,
                o = self.open() => o,
            };
            let ended = match opened {
                Ok((conn, channel)) => {
                    let link = Link {
                        channel: channel.clone(),
                        established: established.clone(),
                        connected: self.status.connected.clone(),
                    };
                    let ended = body(link).await;
                    self.status.connected.store(false, Ordering::SeqCst);
                    if ended.is_ok() {
                        let _ = channel.close(200, "shutdown".into()).await;
                        let _ = conn.close(200, "shutdown".into()).await;
                        return;
                    }
                    ended
                }
                Err(e) => Err(e),
            };
            if shutdown.is_cancelled() {
                return;
            }
            if established.load(Ordering::SeqCst) {
                delays = self.backoff.delays();
            }
            let delay = delays.next().unwrap_or(self.backoff.max);
            if let Err(e) = ended {
                tracing::warn!(
                    session = self.name,
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "broker session lost; reconnecting"
                );
            }
            self.status.reconnects.fetch_add(1, Ordering::Relaxed);
            crate::metrics::broker_reconnect(self.name);
            if !backoff::pause(delay, shutdown).await {
                return;
            }
        }
    }

    /// Connects (handshake bounded), opens a confirm channel, declares.
    async fn open(&self) -> Result<(lapin::Connection, Channel), BrokerError> {
        let conn = super::connect(self.amqp.url.expose(), self.amqp.heartbeat_secs).await?;
        let channel = super::confirm_channel(&conn).await?;
        match self.declare {
            Declare::Documents => self.topology.declare(&channel).await?,
            Declare::RosterAndSms => self.topology.declare_roster_and_sms(&channel).await?,
        }
        Ok((conn, channel))
    }
}

/// One session's open, declared confirm channel, handed to the body.
#[derive(Clone)]
pub struct Link {
    channel: Channel,
    /// Set once the session reached its consumer: the backoff starts over.
    established: Arc<AtomicBool>,
    /// The session's `connected` flag.
    connected: Arc<AtomicBool>,
}

impl Link {
    /// The channel (confirm mode) for publishing and acking.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Marks the session as running for a body that does not consume (a
    /// publisher): the next loss starts the backoff over.
    pub fn established(&self) {
        self.established.store(true, Ordering::SeqCst);
        self.connected.store(true, Ordering::SeqCst);
    }

    /// Sets the prefetch and starts consuming `queue` with manual acks.
    pub async fn consume(&self, queue: &str, prefetch: u16) -> Result<Deliveries, BrokerError> {
        self.channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let consumer = self
            .channel
            .basic_consume(
                super::amqp_name(queue)?,
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.established();
        Ok(Deliveries {
            consumer,
            channel: self.channel.clone(),
        })
    }
}

/// The deliveries of one consumer.
pub struct Deliveries {
    consumer: lapin::Consumer,
    channel: Channel,
}

/// What [`Deliveries::next`] saw.
// A delivery is moved out once and handed on; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Next {
    Delivery(Delivery),
    /// `shutdown` was cancelled.
    Shutdown,
    /// The session is over: the connection failed or the server cancelled the consumer.
    Lost(BrokerError),
}

impl Deliveries {
    /// The next delivery, unless shutdown or the end of the session comes first.
    pub async fn next(&mut self, shutdown: &CancellationToken) -> Next {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Next::Shutdown,
            n = self.consumer.next() => n,
        };
        match next {
            Some(Ok(delivery)) => Next::Delivery(delivery),
            Some(Err(e)) => Next::Lost(e.into()),
            None => Next::Lost(BrokerError::ConsumerCancelled),
        }
    }

    /// Stops new deliveries (before a graceful drain); in-flight ones can still be acked.
    pub async fn cancel(&self) {
        let _ = self
            .channel
            .basic_cancel(self.consumer.tag(), BasicCancelOptions::default())
            .await;
    }
}
