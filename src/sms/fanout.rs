//! The SMS fan-out (`sms::fanout`): fans committed messages out through the broker and sends each
//! (message, number) to the gateway at most once.
//!
//! Input: `sms_messages` rows in status `approved` (and pending `emergency_sms`
//! documents, through [`super::intake`]). Output: recipient rows moved
//! `queued → sending → sent` (or `failed` with a reason), messages `completed`.
//!
//! Two loops:
//! - **dispatcher** — takes in pending `emergency_sms` documents, publishes every
//!   approved, unpublished message as batches of recipient *ids* (no numbers, no
//!   text) to `{prefix}.sms` with publisher confirms, then marks it published; a
//!   sweep republishes recipients left `queued`/`sending` with an expired claim
//!   (a crashed worker's, or a batch the broker dead-lettered).
//! - **sender** — consumes batches; claims each row in one committed statement
//!   (`sending`, `claimed_until`, `attempts + 1`) *before* calling the gateway;
//!   a row claimed before (attempts > 1) or after an ambiguous failure is first
//!   looked up at the gateway by its idempotency key and only sent when the gateway
//!   has no message with that key. Requests are limited by `sms.rate_per_second`
//!   and `sms.concurrency`. The batch is acked after every row in it is settled.
//!
//! Failure: transient gateway errors retry with backoff (`sms.backoff_initial_ms`
//! doubling to `sms.backoff_max_ms`, jittered) up to `sms.max_attempts`,
//! then the number is `failed` (a late delivery report still sets `delivered`);
//! a permanent refusal is `failed` at once. Both loops are broker sessions
//! ([`broker::session`]): a lost connection reconnects with backoff;
//! a crash leaves claims that expire and are swept, never a second SMS.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::{BasicProperties, Channel};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::gateway::{GatewayClient, Lookup, SendOutcome};
use super::{intake, SmsContext};
use crate::backoff::{self, Backoff};
use crate::broker::session::{Declare, Link, Next, Session};
use crate::broker::{self, BrokerError, Topology};
use crate::config::AmqpSettings;

/// Writing a batch's outcomes: five attempts, 100 ms doubling to 1.6 s, jittered;
/// after that the rows stay `sending` and are looked up, never resent.
const SETTLE_RETRY: Backoff =
    Backoff::new(Duration::from_millis(100), Duration::from_millis(1_600)).with_max_attempts(5);

/// Live counters (for the benchmark and tests).
#[derive(Debug, Default)]
pub struct SmsStats {
    pub accepted: AtomicU64,
    pub found_by_lookup: AtomicU64,
    pub failed: AtomicU64,
    /// Dispatcher passes completed (tests wait on it instead of sleeping).
    pub dispatch_passes: AtomicU64,
}

/// One fan-out message on the broker.
#[derive(Debug, Serialize, Deserialize)]
struct Batch {
    message_id: Uuid,
    recipient_ids: Vec<i64>,
}

/// Spaces requests evenly at `per_second`.
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / f64::from(per_second.max(1))),
            next: Mutex::new(Instant::now()),
        }
    }
    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

#[derive(Clone)]
pub struct SmsWorker {
    ctx: SmsContext,
    amqp: AmqpSettings,
    topology: Topology,
    gateway: GatewayClient,
    limiter: Arc<RateLimiter>,
    permits: Arc<Semaphore>,
    /// Retries of one number on transient gateway faults (from `sms.*`).
    send_retry: Backoff,
    pub stats: Arc<SmsStats>,
}

#[derive(sqlx::FromRow)]
struct Claimed {
    id: i64,
    number: String,
    idempotency_key: String,
    attempts: i32,
    text: String,
}

crate::redacted_debug!(Claimed {
    show: [id, idempotency_key, attempts],
    hide: [number, text],
});

impl SmsWorker {
    pub fn new(
        ctx: SmsContext,
        amqp: AmqpSettings,
    ) -> Result<SmsWorker, super::gateway::GatewayError> {
        let gateway = GatewayClient::new(&ctx.settings)?;
        let topology = Topology::new(&amqp.prefix, amqp.delivery_limit);
        Ok(SmsWorker {
            limiter: Arc::new(RateLimiter::new(ctx.settings.rate_per_second)),
            permits: Arc::new(Semaphore::new(ctx.settings.concurrency.max(1))),
            send_retry: Backoff::from_millis(
                ctx.settings.backoff_initial_ms,
                ctx.settings.backoff_max_ms,
            )
            .with_max_attempts(ctx.settings.max_attempts.max(1)),
            ctx,
            amqp,
            topology,
            gateway,
            stats: Arc::new(SmsStats::default()),
        })
    }

    /// Runs the dispatcher and the sender until `shutdown`, each as its own
    /// reconnecting broker session.
    pub async fn run(self, shutdown: CancellationToken) {
        let dispatcher = Session::new("sms dispatcher", &self.amqp, Declare::RosterAndSms);
        let sender = Session::new("sms sender", &self.amqp, Declare::RosterAndSms);
        tokio::join!(
            dispatcher.run(&shutdown, |link| {
                let me = self.clone();
                let shutdown = shutdown.clone();
                async move { me.dispatch_session(link, &shutdown).await }
            }),
            sender.run(&shutdown, |link| {
                let me = self.clone();
                let shutdown = shutdown.clone();
                async move { me.send_session(link, &shutdown).await }
            }),
        );
    }

    // ---- dispatcher -------------------------------------------------------------

    async fn dispatch_session(
        &self,
        link: Link,
        shutdown: &CancellationToken,
    ) -> Result<(), BrokerError> {
        link.established();
        let poll = Duration::from_millis(self.ctx.settings.poll_interval_ms.max(10));
        loop {
            match self.dispatch_once(link.channel()).await {
                Ok(()) => {}
                Err(DispatchError::Broker(e)) => return Err(e),
                Err(DispatchError::Db(e)) => {
                    tracing::warn!(error = %e, "sms dispatcher: database error; trying again")
                }
            }
            self.stats.dispatch_passes.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = self.ctx.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn dispatch_once(&self, channel: &Channel) -> Result<(), DispatchError> {
        let taken = intake::intake_pending(&self.ctx, 20)
            .await
            .map_err(|e| DispatchError::Db(e.to_string()))?;
        if taken > 0 {
            tracing::debug!(taken, "emergency_sms documents taken in");
        }
        let pool = &self.ctx.pool;
        let unpublished: Vec<Uuid> = sqlx::query_scalar(
            "SELECT message_id FROM sms_messages
              WHERE status = 'approved' AND published_at IS NULL ORDER BY created_at LIMIT 10",
        )
        .fetch_all(pool)
        .await?;
        for message_id in unpublished {
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM sms_recipients
                  WHERE message_id = $1 AND status IN ('queued', 'sending') ORDER BY id",
            )
            .bind(message_id)
            .fetch_all(pool)
            .await?;
            self.publish(channel, message_id, &ids).await?;
            sqlx::query("UPDATE sms_messages SET published_at = now(), updated_at = now() WHERE message_id = $1")
                .bind(message_id)
                .execute(pool)
                .await?;
            tracing::info!(%message_id, recipients = ids.len(), "emergency SMS fanned out");
        }
        // Sweep: open rows nobody holds a live claim on for a whole claim period.
        let ttl = self.ctx.settings.claim_ttl_secs as f64;
        let stale: Vec<(Uuid, i64)> = sqlx::query_as(
            "WITH s AS (
                SELECT r.id FROM sms_recipients r JOIN sms_messages m USING (message_id)
                 WHERE m.status = 'approved' AND m.published_at < now() - make_interval(secs => $1)
                   AND r.status IN ('queued', 'sending')
                   AND (r.claimed_until IS NULL OR r.claimed_until < now())
                   AND r.updated_at < now() - make_interval(secs => $1)
                 LIMIT 10000 FOR UPDATE OF r SKIP LOCKED)
             UPDATE sms_recipients r SET updated_at = now() FROM s WHERE r.id = s.id
             RETURNING r.message_id, r.id",
        )
        .bind(ttl)
        .fetch_all(pool)
        .await?;
        if !stale.is_empty() {
            let mut by_message: std::collections::BTreeMap<Uuid, Vec<i64>> = Default::default();
            for (m, id) in stale {
                by_message.entry(m).or_default().push(id);
            }
            for (m, ids) in by_message {
                tracing::info!(message_id = %m, recipients = ids.len(), "sms sweep: republishing unsettled recipients");
                self.publish(channel, m, &ids).await?;
            }
        }
        sqlx::query(
            "UPDATE sms_messages m SET status = 'completed', updated_at = now()
              WHERE m.status = 'approved' AND m.published_at IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM sms_recipients r
                                 WHERE r.message_id = m.message_id AND r.status IN ('queued', 'sending'))",
        )
        .execute(pool)
        .await?;
        Ok(())
    }

    async fn publish(
        &self,
        channel: &Channel,
        message_id: Uuid,
        ids: &[i64],
    ) -> Result<(), DispatchError> {
        let mut confirms = Vec::new();
        for chunk in ids.chunks(self.ctx.settings.batch_size.max(1)) {
            let body = serde_json::to_vec(&Batch {
                message_id,
                recipient_ids: chunk.to_vec(),
            })
            .map_err(|e| DispatchError::Db(e.to_string()))?;
            confirms.push(
                channel
                    .basic_publish(
                        "".into(),
                        broker::amqp_name(&self.topology.sms_queue)?,
                        BasicPublishOptions {
                            mandatory: true,
                            ..BasicPublishOptions::default()
                        },
                        &body,
                        BasicProperties::default()
                            .with_delivery_mode(2)
                            .with_content_type("application/json".into()),
                    )
                    .await
                    .map_err(BrokerError::from)?,
            );
        }
        for c in confirms {
            match c.await.map_err(BrokerError::from)? {
                lapin::Confirmation::Ack(None) | lapin::Confirmation::NotRequested => {}
                lapin::Confirmation::Ack(Some(_)) => {
                    return Err(BrokerError::Unroutable(self.topology.sms_queue.clone()).into())
                }
                lapin::Confirmation::Nack(_) => return Err(BrokerError::Nacked.into()),
            }
        }
        Ok(())
    }

    // ---- sender -----------------------------------------------------------------

    async fn send_session(
        &self,
        link: Link,
        shutdown: &CancellationToken,
    ) -> Result<(), BrokerError> {
        let in_flight = (self.ctx.settings.concurrency / self.ctx.settings.batch_size.max(1)) + 4;
        let prefetch = u16::try_from(in_flight).unwrap_or(u16::MAX);
        let mut deliveries = link.consume(&self.topology.sms_queue, prefetch).await?;
        tracing::info!(queue = %self.topology.sms_queue, "sending emergency SMS");
        let mut tasks = JoinSet::new();
        let end = loop {
            while tasks.try_join_next().is_some() {}
            match deliveries.next(shutdown).await {
                Next::Delivery(delivery) => {
                    let me = self.clone();
                    let sh = shutdown.clone();
                    tasks.spawn(async move {
                        let settled = me.handle_batch(&delivery.data, &sh).await;
                        if settled {
                            let _ = delivery.ack(BasicAckOptions::default()).await;
                        }
                    });
                }
                Next::Shutdown => break Ok(()),
                Next::Lost(e) => break Err(e),
            }
        };
        // Let in-flight sends settle (bounded by the request timeout).
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        end
    }

    /// Returns true when the batch may be acked (every claimed row settled, or the
    /// body unreadable); false leaves it for redelivery.
    #[tracing::instrument(name = "sms_batch", skip_all, fields(message_id = tracing::field::Empty))]
    async fn handle_batch(&self, body: &[u8], shutdown: &CancellationToken) -> bool {
        let batch: Batch = match serde_json::from_slice::<Batch>(body) {
            Ok(b) => {
                tracing::Span::current()
                    .record("message_id", tracing::field::display(&b.message_id));
                b
            }
            Err(_) => {
                tracing::error!("unreadable SMS fan-out batch dropped (its recipients are swept)");
                return true;
            }
        };
        let claimed = match self.claim(&batch.recipient_ids).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, message_id = %batch.message_id, "cannot claim SMS recipients; the batch is redelivered");
                return false;
            }
        };
        let results =
            futures::stream::iter(claimed.into_iter().map(|row| self.send_one(row, shutdown)))
                .buffer_unordered(self.ctx.settings.concurrency.max(1))
                .collect::<Vec<Settled>>()
                .await;
        let unsettled = results.iter().any(|r| matches!(r, Settled::No));
        let outcomes: Vec<Settlement> = results
            .into_iter()
            .filter_map(|r| match r {
                Settled::Recorded(o) => Some(o),
                _ => None,
            })
            .collect();
        // One statement for the whole batch; until it commits the rows stay
        // `sending` and a crash here means a lookup later, never a second send.
        self.settle(&outcomes).await && !unsettled
    }

    async fn claim(&self, ids: &[i64]) -> Result<Vec<Claimed>, sqlx::Error> {
        sqlx::query_as(
            "WITH c AS (
                UPDATE sms_recipients r
                   SET status = 'sending', attempts = r.attempts + 1, updated_at = now(),
                       claimed_until = now() + make_interval(secs => $2)
                  FROM sms_messages m
                 WHERE r.id = ANY($1) AND m.message_id = r.message_id AND m.status = 'approved'
                   AND (r.status = 'queued' OR (r.status = 'sending' AND r.claimed_until < now()))
                RETURNING r.id, r.number, r.idempotency_key, r.attempts, m.text)
             SELECT id, number, idempotency_key, attempts, text FROM c",
        )
        .bind(ids)
        .bind(self.ctx.settings.claim_ttl_secs as f64)
        .fetch_all(&self.ctx.pool)
        .await
    }

    /// Sends one number; its outcome to record, or whether it needs nothing more.
    #[tracing::instrument(name = "sms_send", skip_all, fields(recipient = row.id, attempt = row.attempts))]
    async fn send_one(&self, row: Claimed, shutdown: &CancellationToken) -> Settled {
        let s = &self.ctx.settings;
        // Claimed before by someone (a crash, a timeout): the gateway may have it.
        let mut ambiguous = row.attempts > 1;
        let mut delays = self.send_retry.delays();
        let mut tries: u32 = 0;
        loop {
            tries += 1;
            let permit = match self.permits.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => return Settled::No,
            };
            let mut outcome = None;
            if ambiguous {
                self.limiter.wait().await;
                match self.gateway.lookup(&row.idempotency_key).await {
                    Lookup::Found { gateway_id } => {
                        self.stats.found_by_lookup.fetch_add(1, Ordering::Relaxed);
                        outcome = Some(SendOutcome::Accepted { gateway_id });
                    }
                    Lookup::NotFound => {}
                    Lookup::Transient { reason } => {
                        outcome = Some(SendOutcome::Transient { reason });
                    }
                }
            }
            let outcome = match outcome {
                Some(o) => o,
                None => {
                    self.limiter.wait().await;
                    self.gateway
                        .send(&row.number, &row.text, &row.idempotency_key)
                        .await
                }
            };
            drop(permit);
            let delay = match outcome {
                SendOutcome::Accepted { gateway_id } => {
                    crate::crashpoint::hit(crate::crashpoint::Point::SmsAccepted);
                    self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                    return Settled::Recorded(Settlement {
                        id: row.id,
                        status: "sent",
                        gateway_id: Some(gateway_id),
                        error: None,
                    });
                }
                SendOutcome::Permanent { reason } => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(recipient = row.id, %reason, "SMS refused by the gateway");
                    return Settled::Recorded(Settlement {
                        id: row.id,
                        status: "failed",
                        gateway_id: None,
                        error: Some(reason),
                    });
                }
                SendOutcome::Transient { reason } => {
                    ambiguous = true;
                    let Some(delay) = delays.next() else {
                        self.stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(recipient = row.id, %reason, tries, "SMS gateway unavailable; giving up on this number");
                        let why = format!("gateway unavailable after {tries} attempts: {reason}");
                        return Settled::Recorded(Settlement {
                            id: row.id,
                            status: "failed",
                            gateway_id: None,
                            error: Some(why),
                        });
                    };
                    tracing::debug!(recipient = row.id, %reason, retry_in_ms = delay.as_millis() as u64, "transient gateway error; retrying");
                    delay
                }
            };
            // Keep the claim while retrying; stop if someone else holds the row now.
            let still_mine = sqlx::query(
                "UPDATE sms_recipients SET attempts = attempts + 1, updated_at = now(),
                        claimed_until = now() + make_interval(secs => $2)
                  WHERE id = $1 AND status = 'sending'",
            )
            .bind(row.id)
            .bind(s.claim_ttl_secs as f64)
            .execute(&self.ctx.pool)
            .await;
            match still_mine {
                Ok(r) if r.rows_affected() == 1 => {}
                Ok(_) => return Settled::Elsewhere,
                Err(_) => return Settled::No,
            }
            if !backoff::pause(delay, shutdown).await {
                return Settled::No;
            }
        }
    }

    /// Records the outcomes (only over `sending`: a delivery report may have come first).
    async fn settle(&self, outcomes: &[Settlement]) -> bool {
        if outcomes.is_empty() {
            return true;
        }
        let ids: Vec<i64> = outcomes.iter().map(|o| o.id).collect();
        let statuses: Vec<&str> = outcomes.iter().map(|o| o.status).collect();
        let gateway_ids: Vec<Option<String>> =
            outcomes.iter().map(|o| o.gateway_id.clone()).collect();
        let errors: Vec<Option<String>> = outcomes.iter().map(|o| o.error.clone()).collect();
        let mut delays = SETTLE_RETRY.delays();
        loop {
            let r = sqlx::query(
                "UPDATE sms_recipients r SET status = x.status, updated_at = now(), claimed_until = NULL,
                        gateway_message_id = COALESCE(x.gateway_id, r.gateway_message_id), error = x.error
                   FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS x(id, status, gateway_id, error)
                  WHERE r.id = x.id AND r.status = 'sending'",
            )
            .bind(&ids)
            .bind(&statuses)
            .bind(&gateway_ids)
            .bind(&errors)
            .execute(&self.ctx.pool)
            .await;
            let e = match r {
                Ok(_) => {
                    crate::metrics::sms_recipients(&statuses);
                    return true;
                }
                Err(e) => e,
            };
            let Some(delay) = delays.next() else {
                // The rows stay `sending`; after their claims expire they are
                // looked up, not resent.
                tracing::warn!(error = %e, recipients = ids.len(), "cannot record SMS outcomes; giving up for now");
                return false;
            };
            tracing::warn!(error = %e, recipients = ids.len(), "cannot record SMS outcomes; retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

/// What became of one claimed row.
enum Settled {
    /// Sent or failed: record it.
    Recorded(Settlement),
    /// Another worker holds the row now (our claim lapsed).
    Elsewhere,
    /// Interrupted (shutdown, database): the batch is not acked.
    No,
}

struct Settlement {
    id: i64,
    status: &'static str,
    gateway_id: Option<String>,
    error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum DispatchError {
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("database: {0}")]
    Db(String),
}

impl From<sqlx::Error> for DispatchError {
    fn from(e: sqlx::Error) -> Self {
        DispatchError::Db(e.to_string())
    }
}
