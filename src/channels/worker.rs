//! The running channel workers: one loop per channel and the SvarUt status poller.
//!
//! Stage: delivery, spawned by `App::run_until_stopped`. Input: the settings.
//! Output: loops that call [`dispatch::run_once`] for their channel (pausing
//! `idle_poll_ms` when nothing is due) and [`svarut::poll_statuses`] every
//! `svarut.poll_interval_secs`, until the shutdown token is cancelled; a claimed
//! batch in flight is finished first. Failure: a database error is logged and the
//! loop waits and goes on; a worker never crashes on input.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::dispatch::{self, DispatchOptions, DispatchSummary};
use super::email::{MailError, Mailer};
use super::internal::InternalSender;
use super::message::{MessageDeps, MessageEmailSender};
use super::notification::NotificationSender;
use super::outbound::Outbound;
use super::svarut::{self, PollSummary, SvarUtClient, SvarUtError, SvarUtSender};
use super::{ChannelError, ChannelSender, WORKER_CHANNELS};
use crate::config::DeliverySettings;
use crate::document::Channel;
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("SvarUt client: {0}")]
    SvarUt(#[from] SvarUtError),
    #[error("email: {0}")]
    Mail(#[from] MailError),
    #[error("contact register: {0}")]
    Register(#[from] crate::contact_register::RegisterError),
}

/// Every sender, built once.
pub struct Channels {
    pub pool: PgPool,
    pub settings: DeliverySettings,
    pub opts: DispatchOptions,
    pub svarut_client: Arc<SvarUtClient>,
    /// The contact register's client (None: off, the event's details are used).
    pub register: Option<Arc<crate::contact_register::ContactRegister>>,
    senders: Vec<Arc<dyn ChannelSender>>,
}

impl Channels {
    /// `amqp_url`/`prefix`: the broker and prefix of the outbound exchange.
    /// Messages carry no Sámi text (see [`Channels::build_with_sami`]).
    pub fn build(
        pool: PgPool,
        settings: &DeliverySettings,
        amqp_url: Secret,
        heartbeat_secs: u16,
        prefix: &str,
    ) -> Result<Channels, WorkerError> {
        Channels::build_with_sami(
            pool,
            settings,
            amqp_url,
            heartbeat_secs,
            prefix,
            Arc::default(),
        )
    }

    /// [`Channels::build`] with the Sámi settings and phrases (the renderer's,
    /// `Renderer::sami`), so messages carry the Sámi text where required.
    pub fn build_with_sami(
        pool: PgPool,
        settings: &DeliverySettings,
        amqp_url: Secret,
        heartbeat_secs: u16,
        prefix: &str,
        sami: Arc<crate::render::sami::SamiTexts>,
    ) -> Result<Channels, WorkerError> {
        let outbound = Arc::new(Outbound::new(amqp_url, heartbeat_secs, prefix));
        let mailer = if settings.email.enabled {
            Some(Arc::new(Mailer::new(&settings.email)?))
        } else {
            None
        };
        let deps = Arc::new(MessageDeps {
            outbound: outbound.clone(),
            mailer,
            portal_url: settings.portal_url.clone(),
            sami,
        });
        let svarut_client = Arc::new(SvarUtClient::new(&settings.svarut)?);
        let register =
            crate::contact_register::ContactRegister::from_settings(&settings.contact_register)?
                .map(Arc::new);
        let senders: Vec<Arc<dyn ChannelSender>> = vec![
            Arc::new(SvarUtSender {
                client: svarut_client.clone(),
            }),
            Arc::new(MessageEmailSender { deps: deps.clone() }),
            Arc::new(NotificationSender { deps }),
            Arc::new(InternalSender { outbound }),
        ];
        Ok(Channels {
            pool,
            opts: DispatchOptions::from_settings(settings),
            settings: settings.clone(),
            svarut_client,
            register,
            senders,
        })
    }

    pub fn sender(&self, channel: Channel) -> Option<Arc<dyn ChannelSender>> {
        self.senders
            .iter()
            .find(|s| s.channel() == channel)
            .cloned()
    }

    /// One dispatch round of one channel.
    pub async fn run_once(&self, channel: Channel) -> Result<DispatchSummary, ChannelError> {
        match self.sender(channel) {
            Some(s) => {
                dispatch::run_once(&self.pool, s, &self.opts, self.register.as_deref()).await
            }
            None => Ok(DispatchSummary::default()),
        }
    }

    /// One SvarUt status poll, ignoring the minimum interval (for tests and the CLI).
    pub async fn poll_svarut_now(&self) -> Result<PollSummary, ChannelError> {
        svarut::poll_statuses(
            &self.pool,
            &self.svarut_client,
            self.settings.svarut.poll_batch,
            Duration::ZERO,
            self.settings.svarut.poll_max_age_days,
        )
        .await
    }

    /// Runs every channel loop and the poller until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tasks = Vec::new();
        for channel in WORKER_CHANNELS {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.push(tokio::spawn(
                async move { me.channel_loop(channel, stop).await },
            ));
        }
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move { me.poll_loop(stop).await }));
        for t in tasks {
            let _ = t.await;
        }
    }

    async fn channel_loop(&self, channel: Channel, stop: CancellationToken) {
        let idle = Duration::from_millis(self.settings.idle_poll_ms.max(10));
        while !stop.is_cancelled() {
            let pause = match self.run_once(channel).await {
                Ok(s) if s.claimed > 0 => continue,
                Ok(_) => idle,
                Err(e) => {
                    tracing::warn!(channel = channel.as_str(), error = %e, "delivery round failed; retrying");
                    idle * 5
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn poll_loop(&self, stop: CancellationToken) {
        let every = Duration::from_secs(self.settings.svarut.poll_interval_secs.max(1));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            match svarut::poll_statuses(
                &self.pool,
                &self.svarut_client,
                self.settings.svarut.poll_batch,
                every,
                self.settings.svarut.poll_max_age_days,
            )
            .await
            {
                Ok(s) if s.asked > 0 => tracing::info!(
                    asked = s.asked,
                    changed = s.changed,
                    "SvarUt statuses polled"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "SvarUt status poll failed"),
            }
        }
    }
}
