//! `dokflyt-dev bench …`: throughput benchmarks that print a ratio against a
//! baseline measured in the same run. They start local stand-ins and `python3`
//! (typst, when installed) and create and drop databases of their own.
//!
//! - [`pipeline`] — documents/s through consume → route → render → commit → ack.
//! - [`archive`] — documents/s moved klar → arkivert to a local archive stand-in.
//! - [`render`] — ms/page for a letter and a 20-page report, against typst.
//! - [`sms`] — seconds from the send call to every SMS accepted by a gateway stand-in.

pub mod archive;
pub mod pipeline;
pub mod render;
pub mod sms;

use dokflyt::Secret;
use dokflyt::Settings;

/// Points `settings` at a private database `db_name` on the configured server (the
/// benchmark creates it and drops it afterwards).
fn use_private_database(settings: &mut Settings, db_name: &str) -> anyhow::Result<()> {
    let base = settings.database.url.expose().to_string();
    let Some(i) = base.rfind('/') else {
        anyhow::bail!("cannot derive a bench database from the database URL");
    };
    settings.database.url = Secret::new(format!("{}/{db_name}", &base[..i]));
    Ok(())
}
