//! `dokflyt broker permissions`: the producer and worker accounts on RabbitMQ.
//!
//! Input: the two user names, the virtual host, the configured queue prefix.
//! Output: the exact `rabbitmqctl` commands on stdout, or with `--apply` their
//! effect (a password for each user created, shown once). Failure: an `anyhow`
//! error with the reason (a name that is not allowed, `rabbitmqctl` failing);
//! exit 1.

use clap::Subcommand;
use rand::distr::Alphanumeric;
use rand::RngExt;

use super::exit::Code;
use crate::broker::permissions::BrokerUsers;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// The producer and worker accounts and their permissions.
    ///
    /// The producer may only publish to `{prefix}.events`; the worker has
    /// everything under `{prefix}.`. Prints the `rabbitmqctl` commands; `--apply`
    /// runs them (users that do not exist are created, and their passwords printed
    /// once).
    Permissions {
        /// The school systems' account: may publish to `{prefix}.events` only.
        #[arg(long, value_name = "USER")]
        producer_user: String,
        /// dokflyt's own account: configures, writes and reads everything under `{prefix}.`.
        #[arg(long, value_name = "USER")]
        worker_user: String,
        /// The virtual host (the broker URL's path; `/` by default).
        #[arg(long, default_value = "/")]
        vhost: String,
        /// Run the commands with `rabbitmqctl` (as a user that may: root on the broker host).
        #[arg(long)]
        apply: bool,
    },
}

pub fn run(settings: &Settings, cmd: BrokerCommand) -> anyhow::Result<Code> {
    let BrokerCommand::Permissions {
        producer_user,
        worker_user,
        vhost,
        apply,
    } = cmd;
    let users = BrokerUsers {
        vhost,
        prefix: settings.amqp.prefix.clone(),
        producer: producer_user,
        worker: worker_user,
    };
    if !apply {
        for line in users.commands()? {
            println!("{line}");
        }
        return Ok(Code::Ok);
    }
    let created = users.apply(|_| {
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect()
    })?;
    for g in users.grants() {
        println!(
            "permissions set: {} configure '{}' write '{}' read '{}'",
            g.user, g.configure, g.write, g.read
        );
    }
    for (user, password) in created {
        println!("user created: {user} password: {password}");
    }
    Ok(Code::Ok)
}
