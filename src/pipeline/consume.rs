//! Stage 1 — consume: AMQP deliveries in; ack, dead-letter or retry out.
//!
//! Input: deliveries from the quorum queue `{prefix}.documents`.
//! Output: for each delivery, exactly one of: ack after its effects are committed
//! (or it was a duplicate); dead-letter with reason headers (published with
//! confirms to `{prefix}.dead-letter`, recorded in `dead_letters`) and then ack; or,
//! for a transient failure, keep it unacked and try again with backoff ([`RETRY`]).
//! Size: the body's length is checked before anything else (lapin hands a
//! delivery over only once its body has arrived, and exposes no hook on the
//! content header; the broker's `max_message_size` bounds that). An oversized
//! body is never parsed: it is dead-lettered `oversize` with its size in the
//! reason and *without its content* (an empty body), then acked.
//! Failure: a lost connection or a consumer cancelled by the server ends the session;
//! [`broker::session`] reconnects with backoff and declares the topology again. Unacked
//! messages return to the queue and are de-duplicated by `event_id`. A message that
//! crashes or hangs the worker is dead-lettered by the broker after
//! `x-delivery-limit` deliveries.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::Channel;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::{self, Backoff};
use crate::broker::session::{Declare, Link, Next, Session, SessionStatus};
use crate::broker::{self, BrokerError, Topology};
use crate::config::AmqpSettings;
use crate::pipeline::{process, Disposition, PipelineContext};

/// Live counters of the consumer, for readiness, the demo and the benchmark.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// True while a consumer is attached to the queue (kept by the broker session).
    pub connected: Arc<AtomicBool>,
    pub completed: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub retries: AtomicU64,
    /// Broker sessions lost and re-established (kept by the broker session).
    pub reconnects: Arc<AtomicU64>,
}

/// The consumer loop with its settings.
pub struct Consumer {
    ctx: PipelineContext,
    settings: AmqpSettings,
    topology: Topology,
    stats: Arc<ConsumerStats>,
}

/// A delivery whose processing failed transiently is tried again after these
/// delays (100 ms doubling to 30 s, jittered), for as long as it takes.
pub const RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
/// How long a graceful shutdown waits for in-flight events.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Consumer {
    pub fn new(
        ctx: PipelineContext,
        settings: AmqpSettings,
        stats: Arc<ConsumerStats>,
    ) -> Consumer {
        let topology = Topology::new(&settings.prefix, settings.delivery_limit);
        Consumer {
            ctx,
            settings,
            topology,
            stats,
        }
    }

    /// Consumes until `shutdown` is cancelled, reconnecting as often as needed.
    pub async fn run(self, shutdown: CancellationToken) {
        let session = Session::new("documents", &self.settings, Declare::Documents).with_status(
            SessionStatus {
                connected: self.stats.connected.clone(),
                reconnects: self.stats.reconnects.clone(),
            },
        );
        let me = Arc::new(self);
        session
            .run(&shutdown, |link| {
                let me = me.clone();
                let shutdown = shutdown.clone();
                async move { me.session(link, &shutdown).await }
            })
            .await;
    }

    /// One session: deliveries handed to at most `concurrency` tasks; at shutdown
    /// the consumer is cancelled and in-flight events finish and ack.
    async fn session(&self, link: Link, shutdown: &CancellationToken) -> Result<(), BrokerError> {
        let mut deliveries = link
            .consume(&self.topology.documents_queue, self.settings.prefetch)
            .await?;
        tracing::info!(queue = %self.topology.documents_queue, "consuming document events");

        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let lost = loop {
            while tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break None,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break None,
                },
            };
            match deliveries.next(shutdown).await {
                Next::Delivery(delivery) => {
                    let worker = DeliveryWorker {
                        ctx: self.ctx.clone(),
                        channel: link.channel().clone(),
                        topology: self.topology.clone(),
                        stats: self.stats.clone(),
                        shutdown: shutdown.clone(),
                    };
                    tasks.spawn(async move {
                        worker.handle(delivery).await;
                        drop(permit);
                    });
                }
                Next::Shutdown => break None,
                Next::Lost(e) => break Some(e),
            }
        };

        if let Some(e) = lost {
            // In-flight work may still commit; its ack fails and the broker
            // redelivers, which the event_id check turns into a quiet duplicate.
            tasks.detach_all();
            return Err(e);
        }
        // Stop new deliveries, then let in-flight events finish and ack.
        deliveries.cancel().await;
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("in-flight events did not finish in time; they will be redelivered");
        }
        Ok(())
    }
}

/// Handles one delivery to its end.
struct DeliveryWorker {
    ctx: PipelineContext,
    channel: Channel,
    topology: Topology,
    stats: Arc<ConsumerStats>,
    shutdown: CancellationToken,
}

impl DeliveryWorker {
    /// One delivery, in the span `consume`; `pipeline::process` opens the
    /// event's span under it.
    #[tracing::instrument(name = "consume", skip_all, fields(
        delivery_tag = delivery.delivery_tag,
        redelivered = delivery.redelivered,
        event_id = tracing::field::Empty,
    ))]
    async fn handle(self, delivery: Delivery) {
        let mut delays = RETRY.delays();
        let arrived = std::time::Instant::now();
        loop {
            let size = delivery.data.len();
            let outcome = if size > self.ctx.max_message_bytes {
                let e = crate::pipeline::validate::ValidationError::Oversize {
                    size,
                    limit: self.ctx.max_message_bytes,
                };
                Disposition::Rejected {
                    event_id: None,
                    code: e.code(),
                    reason: e.to_string(),
                }
            } else {
                process(&self.ctx, &delivery.data).await
            };
            if let Some(id) = outcome.event_id() {
                tracing::Span::current().record("event_id", tracing::field::display(id));
            }
            let transient = match outcome {
                Disposition::Completed {
                    event_id,
                    duplicate,
                    archived,
                } => {
                    if !duplicate {
                        crate::crashpoint::hit(crate::crashpoint::Point::ConsumerCommitted);
                    }
                    if self.ack(&delivery).await {
                        if duplicate {
                            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                            crate::metrics::event(crate::metrics::EventOutcome::Duplicate, arrived);
                            tracing::info!(%event_id, "duplicate event acked; effects already committed");
                        } else {
                            self.stats.completed.fetch_add(1, Ordering::Relaxed);
                            crate::metrics::event(crate::metrics::EventOutcome::Completed, arrived);
                            tracing::debug!(%event_id, archived, "event committed");
                        }
                    }
                    return;
                }
                Disposition::Rejected {
                    event_id,
                    code,
                    reason,
                } => match self.dead_letter(&delivery, event_id, code, &reason).await {
                    Ok(()) => {
                        crate::metrics::event(crate::metrics::EventOutcome::DeadLettered, arrived);
                        return;
                    }
                    Err(why) => why,
                },
                Disposition::RetryLater { reason } => reason,
            };
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            crate::metrics::event(crate::metrics::EventOutcome::Retry, arrived);
            let delay = delays.next().unwrap_or(RETRY.max);
            tracing::warn!(reason = %transient, retry_in_ms = delay.as_millis() as u64, "transient failure; the event stays queued");
            // Not acked: the broker hands it out again after we disconnect.
            if !backoff::pause(delay, &self.shutdown).await {
                return;
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) -> bool {
        match delivery.ack(BasicAckOptions::default()).await {
            Ok(true) => true,
            Ok(false) => {
                // The channel ended under this delivery (lapin poisons its ackers).
                tracing::warn!("ack not sent: the channel is gone; the event will be redelivered");
                false
            }
            Err(e) => {
                // The channel is gone; the message will be redelivered and deduplicated.
                tracing::warn!(error = %e, "ack failed; the event will be redelivered");
                false
            }
        }
    }

    /// Records, publishes to the dead-letter exchange (confirmed), then acks.
    /// Returns Err with a reason when a transient failure means: try again later.
    async fn dead_letter(
        &self,
        delivery: &Delivery,
        event_id: Option<uuid::Uuid>,
        code: &'static str,
        reason: &str,
    ) -> Result<(), String> {
        if let Err(e) =
            crate::db::dead_letters::record(&self.ctx.pool, event_id, code, reason).await
        {
            if crate::db::is_transient(&e) {
                return Err(format!("database: {e}"));
            }
            tracing::error!(error = %e, "cannot record a dead letter; dead-lettering anyway");
        }
        let mut headers = vec![
            ("x-dokflyt-reason-code", code.to_string()),
            ("x-dokflyt-reason", reason.to_string()),
        ];
        if let Some(id) = event_id {
            headers.push(("x-dokflyt-event-id", id.to_string()));
        }
        // An oversized body is not copied: the dead letter carries the reason only.
        let body: &[u8] = if code == "oversize" {
            headers.push(("x-dokflyt-original-size", delivery.data.len().to_string()));
            &[]
        } else {
            &delivery.data
        };
        broker::publish_confirmed(
            &self.channel,
            &self.topology.dead_letter_exchange,
            delivery.routing_key.as_str(),
            body,
            headers,
            false,
        )
        .await
        .map_err(|e| format!("dead-letter publish: {e}"))?;
        self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        crate::metrics::dead_letter("documents", code);
        match event_id {
            Some(id) => tracing::warn!(event_id = %id, reason_code = code, "event dead-lettered"),
            None => tracing::warn!(reason_code = code, "unreadable message dead-lettered"),
        }
        self.ack(delivery).await;
        Ok(())
    }
}
