//! Builds the service and runs it: one binary, an HTTP server and the queue worker.
//!
//! [`App::build`] connects (database created and migrated), loads and checks the
//! routing table and the templates (refusing to start on an invalid one) and binds
//! the HTTP listener (port 0 in tests). [`App::run_until_stopped`] runs the consumer
//! and the HTTP server until the shutdown token is cancelled, then drains in-flight
//! work and returns. Binaries and tests use the same two calls.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use tokio_util::sync::CancellationToken;

use crate::archive::client::ArchiveClient;
use crate::archive::schedule::{Clock, Schedule, Scheduler, SystemClock};
use crate::archive::transfer::TransferOptions;
use crate::config::Settings;
use crate::pipeline::consume::{Consumer, ConsumerStats};
use crate::pipeline::PipelineContext;
use crate::render::Renderer;
use crate::rules::SharedRules;

pub struct App {
    pub settings: Settings,
    pub ctx: PipelineContext,
    pub stats: Arc<ConsumerStats>,
    /// The configured archive (HTTP or directory).
    pub archive: Arc<dyn ArchiveClient>,
    pub schedule: Schedule,
    /// The transfer's connections (`synchronous_commit = off`, see `db::transfer_pool`).
    pub archive_pool: sqlx::PgPool,
    /// The scheduler's clock (the system clock unless a test injects another).
    pub clock: Arc<dyn Clock>,
    /// The clock grants expire by (the system clock unless a test injects another).
    pub grants_clock: Arc<dyn crate::grants::Clock>,
    /// The scheduler's completed looks at the clock.
    pub schedule_ticks: Arc<std::sync::atomic::AtomicU64>,
    /// The SMS worker's counters.
    pub sms_stats: Arc<crate::sms::fanout::SmsStats>,
    listener: tokio::net::TcpListener,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        // What every TLS client of the service trusts (the command line has
        // installed the same already; a test process, the OS store alone).
        crate::tls::install(&settings.tls)?;
        let rules = SharedRules::load(&settings.paths.rules_dir).with_context(|| {
            format!(
                "the routing table in {} is invalid; the worker does not start",
                settings.paths.rules_dir.display()
            )
        })?;
        let renderer = Renderer::load_with(&settings.paths.templates_dir, settings.letters.clone())
            .with_context(|| {
                format!(
                    "the templates in {} are invalid; the worker does not start",
                    settings.paths.templates_dir.display()
                )
            })?;
        let schedule = Schedule::from_settings(&settings.archive.schedule)
            .context("the archive transfer schedule is invalid; the worker does not start")?;
        let archive = crate::archive::client::from_settings(&settings.archive, None)
            .context("cannot set up the archive client")?;
        crate::broker::permissions::check_credentials(settings.amqp.url.expose())
            .context("the broker account is not acceptable; the worker does not start")?;
        let pool = crate::db::connect_and_migrate(&settings.database)
            .await
            .with_context(|| {
                format!(
                    "cannot prepare the database at {}",
                    settings.database.url.redacted_url()
                )
            })?;
        let archive_pool = crate::db::transfer_pool(&settings.database)
            .context("cannot set up the archive transfer's connections")?;
        let listener = tokio::net::TcpListener::bind(&settings.http.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.http.addr))?;
        dev_token_rule(&settings.http, listener.local_addr()?)?;
        // The process's Prometheus recorder, before anything counts (`/metrics`).
        crate::metrics::install();
        let ctx = PipelineContext {
            pool,
            rules,
            renderer: Arc::new(renderer),
            max_message_bytes: settings.amqp.max_message_bytes,
            render_permits: crate::pipeline::render_permits(settings.amqp.render_threads),
        };
        Ok(App {
            settings,
            ctx,
            stats: Arc::new(ConsumerStats::default()),
            archive,
            schedule,
            archive_pool,
            clock: Arc::new(SystemClock),
            grants_clock: Arc::new(crate::grants::SystemClock),
            schedule_ticks: Default::default(),
            sms_stats: Default::default(),
            listener,
        })
    }

    /// The address the HTTP server listens on (useful with port 0).
    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Runs the consumer and the HTTP server until `shutdown` is cancelled.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer = Consumer::new(
            self.ctx.clone(),
            self.settings.amqp.clone(),
            self.stats.clone(),
        );
        let worker = tokio::spawn(consumer.run(shutdown.clone()));
        // The roster consumer and the emergency-SMS worker (see src/roster, src/sms).
        let sms_ctx = crate::sms::SmsContext::new(self.ctx.pool.clone(), self.settings.sms.clone())
            .with_sami(self.ctx.renderer.sami())
            .with_person_verifier(
                crate::assertion::Verifier::from_settings(self.ctx.pool.clone(), &self.settings)
                    .context("cannot set up the person assertions' identity provider")?,
            );
        let mut sms_worker =
            crate::sms::fanout::SmsWorker::new(sms_ctx.clone(), self.settings.amqp.clone())
                .context("cannot build the SMS gateway client")?;
        sms_worker.stats = self.sms_stats.clone();
        let roster = crate::roster::feed::RosterConsumer::new(
            self.ctx.pool.clone(),
            self.settings.amqp.clone(),
            self.settings.limits.roster_message_bytes,
        );
        let side_workers = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { tokio::join!(roster.run(shutdown.clone()), sms_worker.run(shutdown)) }
        });
        let transfer = TransferOptions::from_settings(&self.settings.archive);
        let scheduler = if self.settings.archive.schedule.enabled {
            let s = Scheduler {
                pool: self.archive_pool.clone(),
                client: self.archive.clone(),
                opts: transfer.clone(),
                schedule: self.schedule.clone(),
                clock: self.clock.clone(),
                poll: std::time::Duration::from_secs(
                    self.settings.archive.schedule.poll_secs.max(1),
                ),
                ticks: self.schedule_ticks.clone(),
            };
            Some(tokio::spawn(s.run(shutdown.clone())))
        } else {
            None
        };
        let delivery = if self.settings.delivery.enabled {
            let channels = crate::channels::worker::Channels::build_with_sami(
                self.ctx.pool.clone(),
                &self.settings.delivery,
                self.settings.amqp.url.clone(),
                self.settings.amqp.heartbeat_secs,
                &self.settings.amqp.prefix,
                self.ctx.renderer.sami(),
            )
            .context("cannot set up the delivery channels")?;
            Some(tokio::spawn(Arc::new(channels).run(shutdown.clone())))
        } else {
            None
        };
        let auth = crate::http::auth::ApiAuth {
            pool: self.ctx.pool.clone(),
            // The start rule (`dev_token_rule`) has already refused a non-loopback
            // listener outside the demo.
            dev_token: Some(self.settings.http.dev_token.clone())
                .filter(|t| !t.expose().is_empty()),
            limits: Arc::new(crate::http::auth::ApiLimits::from_settings(
                &self.settings.http,
            )),
            trust_proxy_headers: self.settings.http.trust_proxy_headers,
        };
        let http_state = crate::http::HttpState {
            ctx: self.ctx.clone(),
            stats: self.stats.clone(),
            auth,
            archive: self.archive.clone(),
            archive_pool: self.archive_pool.clone(),
            transfer,
            sms: sms_ctx.clone(),
            metrics: Arc::new(crate::http::metrics::Scrape::new(
                self.ctx.pool.clone(),
                self.archive_pool.clone(),
                Some(self.schedule.clone()).filter(|_| self.settings.archive.schedule.enabled),
                self.clock.clone(),
                std::time::Duration::from_secs(self.settings.http.metrics_refresh_secs),
            )),
        };
        let mut dashboard = crate::dashboard::DashboardState::new(
            http_state.clone(),
            sms_ctx.clone(),
            self.settings.dashboard.clone(),
            self.settings.assurance.clone(),
        )
        .context("cannot set up the dashboard")?;
        dashboard.role_source = self.settings.access.role_source;
        dashboard.clock = self.grants_clock.clone();
        // Explicit body limits per router (`[limits]`): small JSON on the API,
        // small forms on the dashboard. `RequestBodyLimitLayer` answers 413 on
        // the declared Content-Length before any handler, extractor or sign-in
        // check runs, and stops a chunked body at the limit; `DefaultBodyLimit`
        // sets the same number for axum's own extractors.
        let api = self.settings.limits.api_body_bytes;
        let router = limited(crate::http::router(http_state), api)
            .merge(limited(
                crate::dashboard::routes(dashboard),
                self.settings.limits.dashboard_body_bytes,
            ))
            // One error shape for every `/api` answer, the body limit's 413 included.
            .layer(axum::middleware::from_fn(crate::http::error::json_errors));
        let router = crate::http::request_id::traced(router);
        let http_shutdown = shutdown.clone();
        // The client's address keys the dashboard's sign-in rate limit.
        let server = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { http_shutdown.cancelled().await });
        let (served, worked) = tokio::join!(server, worker);
        served.context("the HTTP server failed")?;
        worked.context("the consumer task failed")?;
        if let Some(s) = scheduler {
            s.await.context("the archive scheduler failed")?;
        }
        if let Some(d) = delivery {
            d.await.context("the delivery workers failed")?;
        }
        side_workers
            .await
            .context("the roster or SMS worker failed")?;
        self.ctx.pool.close().await;
        self.archive_pool.close().await;
        Ok(())
    }
}

/// Why the server must not start with its development token, if it must not.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    #[error(
        "the development token (http.dev_token / DOKFLYT_DEV_TOKEN) is set and the HTTP \
         listener is on {0}, not a loopback address: anyone who can reach it could act as \
         any user. Register clients with `dokflyt clients add` and set \
         DOKFLYT_DEV_TOKEN=\"\" (or dev_token = \"\" under [http]), bind 127.0.0.1, or run the demo (`dokflyt-dev demo`)"
    )]
    DevTokenOffLoopback(std::net::IpAddr),
    #[error(
        "the development token is set and http.trust_proxy_headers says a reverse proxy \
         forwards requests here, which makes the loopback listener reachable from \
         outside; turn the development token off (DOKFLYT_DEV_TOKEN=\"\")"
    )]
    DevTokenBehindProxy,
    #[error(
        "the HTTP listener is on {0}, not a loopback address, and the development token \
         is the published default (`dokflyt-lokal-utvikling`, printed in README): even the \
         demo needs a secret of its own there. Set DOKFLYT_DEV_TOKEN to a long random \
         value (e.g. `openssl rand -hex 32`), or \"\" and register clients"
    )]
    PublishedDevTokenOffLoopback(std::net::IpAddr),
}

/// The development token exists only for the demo (`dokflyt-dev demo`, which sets
/// `http.demo_mode`) or on a loopback listener
/// (and never behind a proxy that forwards outside requests to that listener).
pub fn dev_token_rule(
    http: &crate::config::HttpSettings,
    bound: SocketAddr,
) -> Result<(), StartError> {
    if http.dev_token.expose().is_empty() {
        return Ok(());
    }
    if http.demo_mode {
        // The published default is a credential everyone knows: the demo may listen
        // off loopback only with a secret of the operator's own (docker-compose).
        if !bound.ip().is_loopback() && http.dev_token.expose() == crate::config::DEV_API_TOKEN {
            return Err(StartError::PublishedDevTokenOffLoopback(bound.ip()));
        }
        return Ok(());
    }
    if !bound.ip().is_loopback() {
        return Err(StartError::DevTokenOffLoopback(bound.ip()));
    }
    if http.trust_proxy_headers {
        return Err(StartError::DevTokenBehindProxy);
    }
    Ok(())
}

/// Cancels `token` on SIGTERM or Ctrl-C; reloads the routing table on SIGHUP.
pub fn install_signal_handlers(token: CancellationToken, rules: SharedRules) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot install the SIGTERM handler");
                    return;
                }
            };
            let mut hup = signal(SignalKind::hangup()).ok();
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    _ = term.recv() => break,
                    Some(_) = async { match hup.as_mut() { Some(h) => h.recv().await, None => None } } => {
                        match rules.reload() {
                            Ok(t) => tracing::info!(rules_version = t.version(), "routing table reloaded"),
                            Err(e) => tracing::error!(error = %e, "the new routing table is invalid; the old one keeps serving"),
                        }
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = rules;
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: no new events, finishing in-flight work");
        token.cancel();
    });
}

/// `router` with a body limit of `max` bytes (see `[limits]`).
fn limited<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    max: usize,
) -> axum::Router<S> {
    router
        .layer(DefaultBodyLimit::max(max))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max))
}
