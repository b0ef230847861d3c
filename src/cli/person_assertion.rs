//! `dokflyt person-assertion set-key`: the public key a registered client signs
//! person assertions with (proof of who acts, for emergency SMS over the API).
//!
//! Input: the client's name, a PEM file with its PUBLIC key; the database
//! (migrated: this writes). Output: a bokmål confirmation with the `iss` the
//! client must use. Failure: a file that cannot be read, a private key, an
//! unknown client or a database error is an error (exit 1).

use anyhow::Context;
use clap::Subcommand;

use super::database;
use super::exit::Code;
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum PersonAssertionCommand {
    /// Register (or replace) the public key a client signs person assertions with.
    ///
    /// PEM: RSA, EC P-256/P-384 or Ed25519. The assertions carry `iss` = the client
    /// id and `aud` = `person_assertion.audience`.
    SetKey {
        /// The client's name (`dokflyt clients list`).
        #[arg(long, value_name = "NAME")]
        client: String,
        /// The PEM file with the PUBLIC key.
        #[arg(long, value_name = "FILE.pem")]
        key: std::path::PathBuf,
    },
}

pub async fn run(settings: &Settings, cmd: PersonAssertionCommand) -> anyhow::Result<Code> {
    let PersonAssertionCommand::SetKey { client, key } = cmd;
    let pem = std::fs::read_to_string(&key)
        .with_context(|| format!("kan ikke lese {}", key.display()))?;
    let pool = database::migrated(settings).await?;
    let id = crate::assertion::set_client_key(&pool, &client, &pem).await?;
    println!("Nøkkel for personbekreftelser registrert for klient {client} (iss = {id}).");
    Ok(Code::Ok)
}
