//! Stage 1 — consume: AMQP deliveries in; ack, dead-letter or retry out.
//!
//! Input: deliveries from the quorum queue `{prefix}.documents`.
//! Output: for each delivery, exactly one of: ack after its effects are committed
//! (or it was a duplicate); dead-letter with reason headers (published with
//! confirms to `{prefix}.dead-letter`, recorded in `dead_letters`) and then ack; or,
//! for a transient failure, keep it unacked and try again with backoff.
//! Size: the body's length is checked before anything else (lapin 2.5 hands a
//! delivery over only once its body has arrived, and exposes no hook on the
//! content header; the broker's `max_message_size` bounds that). An oversized
//! body is never parsed: it is dead-lettered `oversize` with its size in the
//! reason and *without its content* (an empty body), then acked.
//! Failure: a lost connection or a consumer cancelled by the server ends the session;
//! the loop reconnects with backoff and declares the topology again. Unacked
//! messages return to the queue and are de-duplicated by `event_id`. A message that
//! crashes or hangs the worker is dead-lettered by the broker after
//! `x-delivery-limit` deliveries.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::broker::{self, BrokerError, Topology};
use crate::config::AmqpSettings;
use crate::pipeline::{process, Outcome, PipelineContext};

/// Live counters of the consumer, for readiness, the demo and the benchmark.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// True while a consumer is attached to the queue.
    pub connected: AtomicBool,
    pub completed: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub retries: AtomicU64,
    pub reconnects: AtomicU64,
}

/// The consumer loop with its settings.
pub struct Consumer {
    ctx: PipelineContext,
    settings: AmqpSettings,
    topology: Topology,
    stats: Arc<ConsumerStats>,
}

enum SessionEnd {
    Shutdown,
    Lost(String),
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
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
        let mut backoff = FIRST_BACKOFF;
        loop {
            let end = self.session(&shutdown, &mut backoff).await;
            self.stats.connected.store(false, Ordering::SeqCst);
            match end {
                Ok(SessionEnd::Shutdown) => return,
                Ok(SessionEnd::Lost(why)) => {
                    tracing::warn!(reason = %why, "broker session lost; reconnecting")
                }
                Err(e) => tracing::warn!(error = %e, "cannot consume from the broker; retrying"),
            }
            if shutdown.is_cancelled() {
                return;
            }
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn session(
        &self,
        shutdown: &CancellationToken,
        backoff: &mut Duration,
    ) -> Result<SessionEnd, BrokerError> {
        let conn =
            broker::connect(self.settings.url.expose(), self.settings.heartbeat_secs).await?;
        let channel = broker::confirm_channel(&conn).await?;
        self.topology.declare(&channel).await?;
        channel
            .basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                &self.topology.documents_queue,
                "",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let tag = consumer.tag();
        self.stats.connected.store(true, Ordering::SeqCst);
        *backoff = FIRST_BACKOFF;
        tracing::info!(queue = %self.topology.documents_queue, "consuming document events");

        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let end = loop {
            while tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break SessionEnd::Shutdown,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break SessionEnd::Shutdown,
                },
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break SessionEnd::Shutdown,
                n = consumer.next() => n,
            };
            match next {
                Some(Ok(delivery)) => {
                    let worker = DeliveryWorker {
                        ctx: self.ctx.clone(),
                        channel: channel.clone(),
                        topology: self.topology.clone(),
                        stats: self.stats.clone(),
                        shutdown: shutdown.clone(),
                    };
                    tasks.spawn(async move {
                        worker.handle(delivery).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => break SessionEnd::Lost(e.to_string()),
                None => break SessionEnd::Lost("the consumer was cancelled by the server".into()),
            }
        };

        match end {
            SessionEnd::Shutdown => {
                // Stop new deliveries, then let in-flight events finish and ack.
                let _ = channel
                    .basic_cancel(tag.as_str(), BasicCancelOptions::default())
                    .await;
                let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
                    while tasks.join_next().await.is_some() {}
                })
                .await;
                if drained.is_err() {
                    tracing::warn!(
                        "in-flight events did not finish in time; they will be redelivered"
                    );
                }
                let _ = channel.close(200, "shutdown").await;
                let _ = conn.close(200, "shutdown").await;
            }
            SessionEnd::Lost(_) => {
                // In-flight work may still commit; its ack fails and the broker
                // redelivers, which the event_id check turns into a quiet duplicate.
                tasks.detach_all();
            }
        }
        Ok(end)
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
    async fn handle(self, delivery: Delivery) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let size = delivery.data.len();
            let outcome = if size > self.ctx.max_message_bytes {
                let e = crate::pipeline::validate::ValidationError::Oversize {
                    size,
                    limit: self.ctx.max_message_bytes,
                };
                Outcome::Rejected {
                    event_id: None,
                    code: e.code(),
                    reason: e.to_string(),
                }
            } else {
                process(&self.ctx, &delivery.data).await
            };
            let transient = match outcome {
                Outcome::Completed {
                    event_id,
                    duplicate,
                    archived,
                } => {
                    if self.ack(&delivery).await {
                        if duplicate {
                            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(%event_id, "duplicate event acked; effects already committed");
                        } else {
                            self.stats.completed.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%event_id, archived, "event committed");
                        }
                    }
                    return;
                }
                Outcome::Rejected {
                    event_id,
                    code,
                    reason,
                } => match self.dead_letter(&delivery, event_id, code, &reason).await {
                    Ok(()) => return,
                    Err(why) => why,
                },
                Outcome::RetryLater { reason } => reason,
            };
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(reason = %transient, retry_in_ms = backoff.as_millis() as u64, "transient failure; the event stays queued");
            tokio::select! {
                // Not acked: the broker hands it out again after we disconnect.
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn ack(&self, delivery: &Delivery) -> bool {
        match delivery.ack(BasicAckOptions::default()).await {
            Ok(()) => true,
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
        match event_id {
            Some(id) => tracing::warn!(event_id = %id, reason_code = code, "event dead-lettered"),
            None => tracing::warn!(reason_code = code, "unreadable message dead-lettered"),
        }
        self.ack(delivery).await;
        Ok(())
    }
}
