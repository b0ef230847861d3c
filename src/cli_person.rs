//! The person engineer's command groups, hooked into [`crate::cli`] with a few
//! lines: `dokflyt broker permissions` (the producer and worker accounts) and
//! `dokflyt person-assertion set-key` (the public key a registered client signs
//! person assertions with).
//!
//! Input: the command's arguments, the configured queue prefix and database.
//! Output: the exact `rabbitmqctl` commands on stdout, or with `--apply` their
//! effect (a password for each user created, shown once); a key registered.
//! Failure: an `anyhow` error with the reason; exit code 1.

use std::process::ExitCode;

use clap::Subcommand;
use rand::distr::Alphanumeric;
use rand::RngExt;

use crate::broker::permissions::BrokerUsers;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// The producer account (may only publish to `{prefix}.events`) and the worker
    /// account (everything under `{prefix}.`). Prints the `rabbitmqctl` commands;
    /// `--apply` runs them (users that do not exist are created, and their
    /// passwords printed once).
    Permissions {
        #[arg(long)]
        producer_user: String,
        #[arg(long)]
        worker_user: String,
        /// The virtual host (the broker URL's path; `/` by default).
        #[arg(long, default_value = "/")]
        vhost: String,
        /// Run the commands with `rabbitmqctl` (as a user that may: root on the broker host).
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersonAssertionCommand {
    /// Register (or replace) the public key (PEM: RSA, EC P-256/P-384 or Ed25519)
    /// client NAME signs person assertions with (`iss` = the client id,
    /// `aud` = `person_assertion.audience`).
    SetKey {
        /// The client's name (`dokflyt clients list`).
        #[arg(long)]
        client: String,
        /// The PEM file with the PUBLIC key.
        #[arg(long)]
        key: std::path::PathBuf,
    },
}

pub async fn run_person_assertion(
    settings: &Settings,
    cmd: PersonAssertionCommand,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    match cmd {
        PersonAssertionCommand::SetKey { client, key } => {
            let pem = std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read {}", key.display()))?;
            let pool = crate::db::connect_and_migrate(&settings.database).await?;
            let id = crate::assertion::set_client_key(&pool, &client, &pem).await?;
            println!("assertion key registered for client {client} (iss = {id})");
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn run_broker(settings: &Settings, cmd: BrokerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BrokerCommand::Permissions {
            producer_user,
            worker_user,
            vhost,
            apply,
        } => {
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
                return Ok(ExitCode::SUCCESS);
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
            Ok(ExitCode::SUCCESS)
        }
    }
}
