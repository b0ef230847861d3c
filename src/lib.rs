//! dokflyt — routes and archives school documents for Norwegian municipalities.
//!
//! School systems publish *document events* to RabbitMQ; dokflyt validates each one,
//! routes it by the municipality's routing table, renders the letter or archive copy
//! as PDF, records what is to be delivered, and queues archive copies (status `klar`)
//! for the twice-daily transfer to the Noark 5 archive.
//!
//! ```text
//!  RabbitMQ ──► consume ──► validate ──► route ──► render ──► deliver ──► enqueue_archive ──► ack
//!   (quorum      (bytes)   (Validated  (Routed    (Rendered   (delivery   (one PostgreSQL
//!    queue)                  Event)    Document)  Document)    intents)    transaction)
//!                   │            │          │          │                         │
//!                   └────────────┴──────────┴──────────┴─► dead-letter queue ◄───┘ (permanent: reason header)
//!                                                          retry with backoff      (transient: nothing acked)
//! ```
//!
//! Map of the crate:
//! - [`event`] — the wire contract (document event v1) and the §8 document-type keys.
//! - [`pipeline`] — the stages above, one module each, and [`pipeline::Outcome`].
//! - [`rules`] — the routing table loaded from `routing-rules/`.
//! - [`render`] — templates and PDF; the målform and the Sámi text beside the
//!   Norwegian (`render::language`, `render::sami`, also used by messages and SMS).
//! - [`broker`] — AMQP connection, topology and publishing with confirms.
//! - [`db`] — PostgreSQL pool, migrations, one module per table's queries.
//! - [`archive`] — archive statuses (`klar`, `arkivert`, `feilet`) and the transfer
//!   to the archive (Fiks Arkiv arkivmelding, receipts, HTTP/directory clients).
//! - [`channels`] — delivery: SvarUt letters, in-app messages and email, notices,
//!   internal moving notices; claimed from `deliveries`, sent once, tracked.
//! - [`http`] — health, readiness and the JSON API.
//! - [`config`] — settings: defaults, then a TOML file, then `DOKFLYT_*` variables.
//! - [`access`] — who is asking: roles (§6) and the acting user.
//! - [`clients`] — registered API clients: municipality, schools, scopes, secrets.
//! - [`audit`] — the audit log of staff actions and authorization decisions.
//! - [`roster`] — schools, pupils, guardians, staff from roster events (own queue, bulk import).
//! - [`sms`] — emergency SMS: preview, authorization, cost ledger, fan-out, gateway, delivery reports.
//! - [`dashboard`] — the archive staff's pages (OpenID Connect sign-in, sessions, CSRF).
//! - [`assurance`] — how strongly a person signed in (acr/amr → low/substantial/high)
//!   and the level each action requires.
//! - [`assertion`] — proof of the person acting over the API (ID token or a JWT signed
//!   by the client's key), single-use `jti`; [`jwt`] verifies tokens for it and the dashboard.
//! - [`redact`] — `Debug` without personal data; [`capped`] — bounded reads of answers;
//!   [`text`] — month names and word-by-word masking shared by titles.
//! - [`app`] — builds the whole service and runs it until shutdown.
//! - [`redact`] — `Debug` that hides personal fields (`redacted_debug!`).
//! - [`capped`] — reading HTTP answers (archive, SvarUt) with a size cap.

pub mod access;
pub mod app;
pub mod archive;
pub mod assertion;
pub mod assurance;
pub mod audit;
pub mod bench;
pub mod bench_archive;
pub mod bench_render;
pub mod broker;
pub mod capped;
pub mod channels;
pub mod cli;
pub mod cli_clients;
pub mod cli_person;
pub mod clients;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod demo;
pub mod event;
pub mod http;
pub mod jwt;
pub mod pipeline;
pub mod redact;
pub mod render;
pub mod roster;
pub mod rules;
pub mod sms;
pub mod text;
pub mod xml;

#[cfg(test)]
mod build_inputs {
    //! The Docker image's build stage must copy every file that `src/` includes at
    //! compile time (`include_str!` / `include_bytes!`); there is no Docker engine
    //! here to find out by building.

    use std::path::Path;

    /// The top-level entries the Dockerfile's build stage copies (`COPY x ./x`).
    fn copied_by_dockerfile(dockerfile: &str) -> Vec<String> {
        // The lines of the first stage: from the first `FROM` to the next.
        dockerfile
            .lines()
            .skip_while(|l| !l.starts_with("FROM "))
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !l.starts_with("FROM "))
            .map(|(_, l)| l)
            .filter_map(|l| l.trim().strip_prefix("COPY "))
            .filter(|l| !l.starts_with("--from"))
            .flat_map(|l| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                parts[..parts.len().saturating_sub(1)]
                    .iter()
                    .map(|p| p.trim_end_matches('/').to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn included_paths(dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                included_paths(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for macro_name in ["include_str!(", "include_bytes!("] {
                    for piece in text.split(macro_name).skip(1) {
                        let Some(lit) = piece.trim_start().strip_prefix('"') else {
                            continue;
                        };
                        let Some(end) = lit.find('"') else { continue };
                        // This test's own mention of the macro names is no path.
                        if lit[..end].is_empty() || lit[..end].contains(' ') {
                            continue;
                        }
                        let resolved = p.parent().unwrap_or(Path::new(".")).join(&lit[..end]);
                        out.push((p.display().to_string(), resolved.display().to_string()));
                    }
                }
            }
        }
    }

    #[test]
    fn the_dockerfile_copies_everything_src_includes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
        let copied = copied_by_dockerfile(&dockerfile);
        assert!(copied.iter().any(|c| c == "src"), "{copied:?}");
        let mut included = Vec::new();
        included_paths(&root.join("src"), &mut included);
        assert!(included.len() > 10, "found the include_str! uses");
        let root = root.canonicalize().expect("root");
        for (file, path) in included {
            let abs = Path::new(&path)
                .canonicalize()
                .unwrap_or_else(|_| panic!("{file} includes {path}, which does not exist"));
            let rel = abs.strip_prefix(&root).expect("inside the repository");
            let top = rel
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .unwrap_or_default();
            assert!(
                copied.contains(&top),
                "{file} includes {}, but the Dockerfile's build stage does not copy {top}/",
                rel.display()
            );
        }
    }
}
