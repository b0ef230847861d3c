//! `dokflyt publish FILE...` (developer tool, hidden from `--help`): publishes
//! event files to the events exchange, as a school system would.
//!
//! Input: event files (JSON), `[amqp]`. Output: one line per file once the broker
//! confirmed it. Failure: a file that cannot be read, a broker that cannot be
//! reached or refuses (also `guest` outside loopback) is an error (exit 1); files
//! before it stay published. Hidden because it sends real documents on their
//! way: in production only the school systems publish.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::display_name;
use super::exit::Code;
use crate::broker::{self, Topology};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Event files (JSON).
    #[arg(required = true, value_name = "EVENT.json")]
    files: Vec<PathBuf>,
}

pub async fn run(settings: &Settings, args: PublishArgs) -> anyhow::Result<Code> {
    let conn = broker::connect(settings.amqp.url.expose(), settings.amqp.heartbeat_secs)
        .await
        .with_context(|| format!("cannot connect to {}", settings.amqp.url.redacted_url()))?;
    let channel = broker::confirm_channel(&conn).await?;
    let topology = Topology::new(&settings.amqp.prefix, settings.amqp.delivery_limit);
    topology.declare(&channel).await?;
    for file in &args.files {
        let body =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let key = broker::publish_event(&channel, &topology, &body)
            .await
            .with_context(|| format!("publishing {}", file.display()))?;
        println!("published {} ({key}), confirmed", display_name(file));
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(Code::Ok)
}
