//! The roster feed (`roster::feed`): roster events from `{prefix}.roster` into the roster tables.
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
//! backoff ([`RETRY`]); a lost connection or a cancelled consumer ends the broker
//! session, which reconnects with backoff ([`broker::session`]). Redeliveries are harmless:
//! the version check makes applying a change twice a no-op.

use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::Channel;
use tokio_util::sync::CancellationToken;

use super::{store, RosterChange};
use crate::backoff::{self, Backoff};
use crate::broker::session::{Declare, Link, Next, Session};
use crate::broker::{self, BrokerError, Topology};
use crate::config::AmqpSettings;

/// A roster event whose change failed transiently is applied again after these
/// delays (100 ms doubling to 30 s, jittered), for as long as it takes.
const RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));

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
        let session = Session::new("roster", &self.settings, Declare::RosterAndSms);
        let me = std::sync::Arc::new(self);
        session
            .run(&shutdown, |link| {
                let me = me.clone();
                let shutdown = shutdown.clone();
                async move { me.session(link, &shutdown).await }
            })
            .await;
    }

    /// One session: deliveries one at a time, each settled before the next.
    async fn session(&self, link: Link, shutdown: &CancellationToken) -> Result<(), BrokerError> {
        let mut deliveries = link
            .consume(&self.topology.roster_queue, self.settings.prefetch)
            .await?;
        tracing::info!(queue = %self.topology.roster_queue, "consuming roster events");
        loop {
            match deliveries.next(shutdown).await {
                Next::Delivery(delivery) => {
                    if !self.handle(link.channel(), &delivery, shutdown).await {
                        return Ok(());
                    }
                }
                Next::Shutdown => return Ok(()),
                Next::Lost(e) => return Err(e),
            }
        }
    }

    /// Returns false when shutdown interrupted a retry (the delivery stays unacked).
    async fn handle(&self, channel: &Channel, d: &Delivery, shutdown: &CancellationToken) -> bool {
        let mut delays = RETRY.delays();
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
            let delay = delays.next().unwrap_or(RETRY.max);
            tracing::warn!(reason = %why, retry_in_ms = delay.as_millis() as u64, "roster event: transient failure; retrying");
            if !backoff::pause(delay, shutdown).await {
                return false;
            }
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
        crate::metrics::dead_letter("roster", code);
        tracing::warn!(event_id = ?event_id, reason_code = code, "roster event dead-lettered");
        let _ = d.ack(BasicAckOptions::default()).await;
        Ok(())
    }
}
