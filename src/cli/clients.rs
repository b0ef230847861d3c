//! `dokflyt clients add | list | rotate | revoke`: registering the integrations
//! that may call the API (see [`crate::clients`]).
//!
//! Input: the parsed subcommand and the database (migrated for `add`, `rotate`
//! and `revoke`, which write; read only for `list`, which refuses a database that
//! is not migrated). Output: text on `out` — `add` and `rotate` print the new
//! secret once (it is never stored or shown again); `list` prints names,
//! municipalities, schools, scopes and status, never secrets. Failure: an invalid
//! registration or an unknown client is exit code 2 with the reason on stderr; a
//! database error is an error.

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;
use sqlx::PgPool;

use super::database;
use super::exit::Code;
use crate::clients::{self, ClientError, NewClient, SchoolScope, Scope};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints its secret once.
    Add {
        /// A name to know it by (unique), e.g. `skolesystem-visma`.
        name: String,
        /// The municipality (four-digit kommunenummer) it belongs to.
        #[arg(long, value_name = "NNNN")]
        municipality: String,
        /// The schools it may act for (comma-separated school ids).
        #[arg(long, value_delimiter = ',', conflicts_with = "all_schools")]
        schools: Vec<String>,
        /// Every school of the municipality (needed to act for kommuneadmin or skoleeier).
        #[arg(long)]
        all_schools: bool,
        /// A scope (repeat): documents:read, archive:read, archive:act, sms:request,
        /// contacts:read, status:read, admin.
        #[arg(long = "scope", required = true, value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// List the clients (never their secrets).
    List {
        /// Print JSON instead of one line per client.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret; the old one keeps working for `[http] rotation_overlap_secs`.
    Rotate {
        /// The client's name or id.
        client: String,
    },
    /// Revoke a client: its secrets stop working from its next request.
    Revoke {
        /// The client's name or id.
        client: String,
    },
}

/// The binary's entry: opens the database as the command needs, then [`run`].
pub async fn command(settings: &Settings, cmd: ClientsCommand) -> anyhow::Result<Code> {
    let pool = match cmd {
        ClientsCommand::List { .. } => database::current(settings).await?,
        _ => database::migrated(settings).await?,
    };
    let overlap = Duration::from_secs(settings.http.rotation_overlap_secs);
    run(&pool, overlap, cmd, &mut std::io::stdout()).await
}

/// Runs `cmd` against `pool`, writing to `out` (stdout in the binary).
pub async fn run(
    pool: &PgPool,
    rotation_overlap: Duration,
    cmd: ClientsCommand,
    out: &mut impl Write,
) -> anyhow::Result<Code> {
    let result = match cmd {
        ClientsCommand::Add {
            name,
            municipality,
            schools,
            all_schools,
            scopes,
        } => add(pool, name, municipality, schools, all_schools, &scopes, out).await,
        ClientsCommand::List { json } => {
            let list = clients::list(pool).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                for c in &list {
                    let schools = match &c.client.schools {
                        SchoolScope::All => "alle skoler".to_string(),
                        SchoolScope::Only(l) => l.join(","),
                    };
                    let scopes: Vec<&str> = c.client.scopes.iter().map(|s| s.as_str()).collect();
                    let status = match c.revoked_at {
                        Some(at) => format!("tilbakekalt {}", at.format("%Y-%m-%d %H:%M")),
                        None => format!("aktiv, {} gyldige nøkler", c.live_secrets),
                    };
                    writeln!(
                        out,
                        "{}\t{}\tkommune {}\t{}\t{}\t{}",
                        c.client.name,
                        c.client.id,
                        c.client.municipality_number,
                        schools,
                        scopes.join(" "),
                        status
                    )?;
                }
            }
            Ok(())
        }
        ClientsCommand::Rotate { client } => {
            match clients::rotate(pool, &client, rotation_overlap).await {
                Ok(secret) => {
                    writeln!(out, "{secret}")?;
                    writeln!(
                        out,
                        "Ny nøkkel for «{client}» (vises bare nå). Den gamle virker i {} timer til.",
                        rotation_overlap.as_secs() / 3600
                    )?;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        ClientsCommand::Revoke { client } => match clients::revoke(pool, &client).await {
            Ok(c) => {
                writeln!(
                    out,
                    "«{}» er tilbakekalt; nøklene virker ikke lenger.",
                    c.name
                )?;
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => Ok(Code::Ok),
        Err(e @ (ClientError::Invalid(_) | ClientError::Unknown(_) | ClientError::Exists(_))) => {
            eprintln!("{e}");
            Ok(Code::Invalid)
        }
        Err(ClientError::Db(e)) => Err(e.into()),
    }
}

async fn add(
    pool: &PgPool,
    name: String,
    municipality: String,
    schools: Vec<String>,
    all_schools: bool,
    scopes: &[String],
    out: &mut impl Write,
) -> Result<(), ClientError> {
    let scopes = scopes
        .iter()
        .map(|s| s.parse::<Scope>())
        .collect::<Result<Vec<_>, _>>()?;
    let schools = if all_schools {
        SchoolScope::All
    } else {
        SchoolScope::Only(schools)
    };
    let (client, secret) = clients::add(
        pool,
        &NewClient {
            name,
            municipality_number: municipality,
            schools,
            scopes,
        },
    )
    .await?;
    let io = |e: std::io::Error| ClientError::Invalid(format!("cannot write: {e}"));
    writeln!(out, "{secret}").map_err(io)?;
    writeln!(
        out,
        "Klient «{}» ({}) registrert. Nøkkelen over vises bare nå; bare en hash lagres.",
        client.name, client.id
    )
    .map_err(io)?;
    Ok(())
}
