//! `dokflyt serve`: the worker and the HTTP server, until SIGTERM or Ctrl-C.
//!
//! Input: the settings. Output: the running service ([`App`]). Failure: anything
//! that stops the start (settings, broker, database, rules, templates) is an
//! error (exit 1); a clean shutdown is exit 0. The database is created and
//! migrated at start, as always. The demo (the examples against local stand-ins)
//! is not here: `dokflyt-dev demo` (`dev/`) builds the same [`App`] around them.

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::exit::Code;
use crate::app::{install_signal_handlers, App};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct ServeArgs {}

pub async fn run(settings: Settings, _args: ServeArgs) -> anyhow::Result<Code> {
    tracing::info!(
        amqp = %settings.amqp.url.redacted_url(),
        database = %settings.database.url.redacted_url(),
        http = %settings.http.addr,
        "starting dokflyt"
    );
    let app = App::build(settings).await?;
    let addr = app.http_addr()?;
    tracing::info!(%addr, "HTTP server listening (/healthz, /readyz, /api/status)");
    let shutdown = CancellationToken::new();
    install_signal_handlers(shutdown.clone(), app.ctx.rules.clone());
    app.run_until_stopped(shutdown).await?;
    Ok(Code::Ok)
}
