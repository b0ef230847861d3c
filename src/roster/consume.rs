//! The roster consumer: roster events from `{prefix}.roster` into the roster tables.
//!
//! Input: deliveries routed with `roster.<entity>`. Output: per delivery, either
//! the change applied (or found stale) and committed, then acked; or — for a body
//! that is not a valid roster event — a row in `dead_letters`, a confirmed publish
//! to `{prefix}.roster.dead-letter` with the reason headers
//! (`x-dokflyt-reason-code`, `x-dokflyt-reason`, `x-dokflyt-event-id`), then an ack.
//! Size: a body over `limits.roster_message_bytes` is dead-lettered `oversize`
//! before any parsing, without its content (an empty body; its size in a header).
//! Reasons name a field path and what is wrong, never a value (see [`super::RosterError`]);
//! a database refusal is recorded by its SQLSTATE only.
//! Failure: a transient database error keeps the delivery unacked and retries with
//! backoff; a lost connection reconnects with backoff. Redeliveries are harmless:
//! the version check makes applying a change twice a no-op.

use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use tokio_util::sync::CancellationToken;

use super::{store, RosterChange};
use crate::broker::{self, BrokerError, Topology};
use crate::config::AmqpSettings;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct RosterConsumer {
    pool: sqlx::PgPool,
    settings: AmqpSettings,
    topology: Topology,
    /// The largest accepted body (`limits.roster_message_bytes`).
    max_bytes: usize,
}

impl RosterConsumer {
    pub fn new(pool: sqlx::PgPool, settings: AmqpSettings, max_bytes: usize) -> RosterConsumer {
        let topology = Topology::new(&settings.prefix, settings.delivery_limit);
        RosterConsumer {
            pool,
            settings,
            topology,
            max_bytes,
        }
    }

    /// Consumes until `shutdown` is cancelled, reconnecting as often as needed.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.session(&shutdown, &mut backoff).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "roster consumer lost the broker; reconnecting")
                }
            }
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
    ) -> Result<(), BrokerError> {
        let conn =
            broker::connect(self.settings.url.expose(), self.settings.heartbeat_secs).await?;
        let channel = broker::confirm_channel(&conn).await?;
        self.topology.declare_roster_and_sms(&channel).await?;
        channel
            .basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                &self.topology.roster_queue,
                "",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        *backoff = FIRST_BACKOFF;
        tracing::info!(queue = %self.topology.roster_queue, "consuming roster events");
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                n = consumer.next() => n,
            };
            match next {
                Some(Ok(delivery)) => {
                    if !self.handle(&channel, &delivery, shutdown).await {
                        break;
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Err(BrokerError::Unroutable("roster consumer cancelled".into())),
            }
        }
        let _ = channel.close(200, "shutdown").await;
        let _ = conn.close(200, "shutdown").await;
        Ok(())
    }

    /// Returns false when shutdown interrupted a retry (the delivery stays unacked).
    async fn handle(&self, channel: &Channel, d: &Delivery, shutdown: &CancellationToken) -> bool {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let outcome = match RosterChange::parse_limited(&d.data, self.max_bytes) {
                Err(e) => {
                    // An oversized body is not parsed, not even for its event id.
                    let id = match e {
                        super::RosterError::Oversize { .. } => None,
                        _ => super::RosterError::event_id_of(&d.data),
                    };
                    self.dead_letter(channel, d, id, e.code(), &e.to_string())
                        .await
                }
                Ok(change) => match store::apply(&self.pool, &change).await {
                    Ok(applied) => {
                        tracing::debug!(event_id = %change.event_id, entity = change.entity.as_str(), ?applied, "roster event");
                        let _ = d.ack(BasicAckOptions::default()).await;
                        Ok(())
                    }
                    Err(e) if e.is_transient() => Err(e.to_string()),
                    Err(e) => {
                        // PostgreSQL's message can quote the value it refused.
                        let state = e.sqlstate();
                        let reason = format!("databasen avviste endringen (SQLSTATE {state})");
                        self.dead_letter(
                            channel,
                            d,
                            Some(change.event_id),
                            "database_rejected",
                            &reason,
                        )
                        .await
                    }
                },
            };
            let Err(why) = outcome else { return true };
            tracing::warn!(reason = %why, "roster event: transient failure; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn dead_letter(
        &self,
        channel: &Channel,
        d: &Delivery,
        event_id: Option<uuid::Uuid>,
        code: &'static str,
        reason: &str,
    ) -> Result<(), String> {
        if let Err(e) = crate::db::dead_letters::record(&self.pool, event_id, code, reason).await {
            if crate::db::is_transient(&e) {
                return Err(format!("database: {e}"));
            }
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
            headers.push(("x-dokflyt-original-size", d.data.len().to_string()));
            &[]
        } else {
            &d.data
        };
        broker::publish_confirmed(
            channel,
            &self.topology.roster_dead_letter_exchange,
            d.routing_key.as_str(),
            body,
            headers,
            false,
        )
        .await
        .map_err(|e| format!("dead-letter publish: {e}"))?;
        tracing::warn!(event_id = ?event_id, reason_code = code, "roster event dead-lettered");
        let _ = d.ack(BasicAckOptions::default()).await;
        Ok(())
    }
}
