//! `dokflyt serve`: the worker and the HTTP server, until SIGTERM or Ctrl-C.
//!
//! Input: the settings. Output: the running service ([`App`]); with `--demo` the
//! examples published and their fates printed, against local stand-ins. Failure:
//! anything that stops the start (settings, broker, database, rules, templates)
//! is an error (exit 1); a clean shutdown is exit 0. The database is created
//! and migrated at start, as always.

use std::path::PathBuf;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::exit::Code;
use crate::app::{install_signal_handlers, App};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Development only: publish the example events at start, against local
    /// stand-ins (archive, SvarUt, SMS gateway, sign-in), and print what happened
    /// to each. Allows the development API token on any address.
    #[arg(long)]
    demo: bool,
}

pub async fn run(mut settings: Settings, args: ServeArgs) -> anyhow::Result<Code> {
    let demo = args.demo;
    if demo {
        // The development token is allowed on any address only for the demo.
        settings.http.demo_mode = true;
        // No archive on this machine: the demo archives into an offline package.
        settings.archive.target = crate::config::ArchiveTarget::Directory;
        settings.archive.directory = PathBuf::from("out/demo/arkiv");
    }
    // The demo's local stand-ins (SvarUt) live as long as the server.
    let (settings, demo_services) = if demo {
        let (s, d) = crate::demo::prepare(settings).await?;
        (s, Some(d))
    } else {
        (settings, None)
    };
    tracing::info!(
        amqp = %settings.amqp.url.redacted_url(),
        database = %settings.database.url.redacted_url(),
        http = %settings.http.addr,
        "starting dokflyt"
    );
    let mut app = App::build(settings).await?;
    let addr = app.http_addr()?;
    tracing::info!(%addr, "HTTP server listening (/healthz, /readyz, /api/status)");
    let shutdown = CancellationToken::new();
    install_signal_handlers(shutdown.clone(), app.ctx.rules.clone());
    if let Some(services) = &demo_services {
        // The demo's archive refuses a few documents once (the scheduler, the API's
        // and the dashboard's run-now use it too); the SMS gateway reports deliveries here.
        app.archive = crate::demo::archive_target(&app.settings, app.ctx.pool.clone());
        services.sms.report_to(addr);
        let ctx = app.ctx.clone();
        let settings = app.settings.clone();
        let archive = app.archive.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::demo::run(&settings, &ctx.pool, addr, archive).await {
                eprintln!("demo failed: {e:#}");
            }
        });
    }
    app.run_until_stopped(shutdown).await?;
    Ok(Code::Ok)
}
