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
//! Map of the crate, bottom up (a module imports only modules above it in this
//! list or in its own group; no cycle among the top-level modules). Modules that
//! nothing outside the crate uses (the binary, the tests, `dev/`) are private:
//! `backoff`, `capped`, `jwt`, `redact` and `text`, and 26 submodules (the
//! settings sections behind `config`'s re-exports, `render::{context, layout,
//! pdf}`, `http::{archive, contacts, deliveries, openapi, sms}`, `sms::{authz,
//! intake}`, `channels::{dispatch, internal}`, `dashboard::{sms_pages, stepup}`,
//! `pipeline::enqueue_archive`, `broker::topology`, `rules::file`); the rest are
//! public because the command line, the tests or the toolbox call into them.
//! The crate root re-exports what they use most (the service, its settings, the
//! document's states, the pipeline's entry points); each feature room re-exports
//! its own entry points, and the submodules behind them are `pub(crate)` (the
//! pipeline's stages, `archive::{client, transfer}`, `sms::{fanout, gateway,
//! number, sender, dlr, message}`, `channels::{worker, email}`, `roster::{import,
//! store}`, `dashboard::pages`, `rules::explain`, `broker::{permissions, session}`).
//!
//! Leaves (import nothing of the crate, or only each other):
//! - [`secret`] — `Secret`: a value that never prints; `redact` — `Debug` that
//!   hides personal fields (`redacted_debug!`); `capped` — bounded reads of HTTP
//!   answers; `text` — month names and word-by-word masking; [`xml`] — escaping;
//!   [`calendar`] — days as Oslo counts them; [`progress`] — where long operations
//!   report how far they are (the command line shows it); [`metrics`] — what the
//!   stages count for Prometheus (the families, the recorder; `http::metrics`
//!   serves them); [`crashpoint`] — named crash points for the fault-injection
//!   suite (`DOKFLYT_CRASH_AT`, inert when unset).
//! - [`event`] — the wire contract (document event v1) and the §8 document-type keys.
//! - [`access`] — who is asking: roles (§6) and the acting user; [`audit`] — the
//!   audit log; [`assurance`] — how strongly a person signed in (low/substantial/high);
//!   `jwt` — token verification; [`clients`] — registered API clients.
//!
//! Vocabulary and settings:
//! - [`config`] — every settings section: defaults, then a TOML file, then
//!   `DOKFLYT_SECTION__KEY` variables (`config::env`).
//! - [`document`] — the document's states (`ValidatedEvent` → `RoutedDocument` →
//!   `RenderedDocument` → `DeliveryPlan`) and the routing decision they carry.
//! - [`recipient_policy`] — who may receive a document, asked by every output.
//!
//! Adapters and the stages' engines:
//! - [`rules`] — the routing table loaded from `routing-rules/`.
//! - [`render`] — templates and PDF; the målform and the Sámi text beside the
//!   Norwegian (`config::letters`, `render::sami`, also used by messages and SMS).
//! - [`db`] — PostgreSQL pool, migrations, the `documents` writer; which module
//!   owns which table.
//! - [`tls`] — what every outgoing TLS connection trusts: the OS store plus
//!   `tls.ca_bundle` (reqwest, lapin's `amqps`, lettre); [`telemetry`] — logs,
//!   spans and their OTLP export.
//! - `backoff` — the retry policy (exponential, jittered) every retry and reconnect
//!   states its numbers in.
//! - [`broker`] — AMQP connection, topology, publishing with confirms, and the one
//!   reconnecting session (`broker::session`) the documents, roster and SMS consumers run in.
//! - [`maskinporten`] — access tokens for SvarUt, the archive and the register; [`oidc`] — the
//!   OpenID Connect client of the dashboard's sign-in and of person assertions.
//! - [`assertion`] — proof of the person acting over the API (ID token or a JWT
//!   signed by the client's key), single-use `jti`.
//! - [`contact_register`] — the national contact and reservation register (KRR):
//!   batched, cached lookups of guardians behind Maskinporten, whose answers the
//!   recipient policy applies.
//!
//! Features:
//! - [`grants`] — roles given in the dashboard per school, ending with the school
//!   year; the grant matrix; a leaver's revocation (called by the roster).
//! - [`roster`] — schools, pupils, guardians, staff from roster events (own queue, bulk import).
//! - [`sms`] — emergency SMS: preview, authorization, cost ledger, fan-out, gateway, delivery reports.
//! - [`pipeline`] — the stages above, one module each, [`pipeline::Disposition`] and
//!   [`pipeline::reproduce`] (validate → route → render outside the consumer).
//! - [`archive`] — archive statuses (`klar`, `arkivert`, `feilet`) and the transfer
//!   to the archive (Fiks Arkiv arkivmelding, receipts, HTTP/directory clients),
//!   school folders, the staff's actions.
//! - [`channels`] — delivery: SvarUt letters, in-app messages and email, notices,
//!   internal moving notices; claimed from `deliveries`, sent once, tracked.
//!
//! Doors and the binary:
//! - [`http`] — health, readiness and the JSON API.
//! - [`dashboard`] — the staff's pages (OpenID Connect sign-in, sessions, CSRF).
//! - [`app`] — builds the whole service and runs it until shutdown.
//! - [`cli`] — the `dokflyt` commands, one file per command group (`cli/`), the
//!   exit-code table (`cli::exit`), progress bars and lines (`cli::progress`).
//!
//! Not in this crate: the demo, the benchmarks and every stand-in for a national
//! service (SvarUt, the archive, the SMS gateway, Maskinporten, the identity
//! provider) live in the workspace member `dev/` (the `dokflyt-dev` crate and
//! binary), which the tests share as a dev-dependency; the product binary carries
//! none of them (`tests/it/toolbox.rs` checks the built binary).

pub mod access;
pub mod app;
pub mod archive;
pub mod assertion;
pub mod assurance;
pub mod audit;
mod backoff;
pub mod broker;
pub mod calendar;
mod capped;
pub mod channels;
pub mod cli;
pub mod clients;
pub mod config;
pub mod contact_register;
pub mod crashpoint;
pub mod dashboard;
pub mod db;
pub mod document;
pub mod event;
pub mod grants;
pub mod http;
mod jwt;
pub mod maskinporten;
pub mod metrics;
pub mod oidc;
pub mod pipeline;
pub mod progress;
pub mod recipient_policy;
mod redact;
pub mod render;
pub mod roster;
pub mod rules;
pub mod secret;
pub mod sms;
pub mod telemetry;
mod text;
pub mod tls;
pub mod xml;

// What the binary, the tests and the toolbox use most, at the crate root: the
// service, its settings, the document's states and the pipeline's entry points.
// Feature rooms (`archive`, `sms`, `channels`, `roster`, …) re-export their own
// entry points, so their internal submodules stay private to the crate.
pub use app::App;
pub use broker::Topology;
pub use config::{Secret, Settings};
pub use document::{
    Channel, DeliveryPlan, Rejection, RenderedDocument, RoutedDocument, RoutingDecision,
    ValidatedEvent,
};
pub use event::{DocumentType, IncomingEvent};
pub use pipeline::{process, Disposition, PipelineContext};
pub use render::Renderer;
pub use rules::RoutingTable;

#[cfg(test)]
mod build_inputs {
    //! The Docker image's build stage must copy every file that `src/` and `dev/src`
    //! include at compile time (`include_str!` / `include_bytes!`) and every crate of
    //! the workspace; the product image holds the product only, the demo image the
    //! toolbox. There is no Docker engine here to find out by building.

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

    /// The stages of a Dockerfile: (name after `AS`, the stage's text).
    fn stages(dockerfile: &str) -> Vec<(String, String)> {
        dockerfile
            .split("\nFROM ")
            .skip(1)
            .map(|stage| {
                let head = stage.lines().next().unwrap_or_default();
                let name = head
                    .split_once(" AS ")
                    .map(|(_, n)| n.trim().to_string())
                    .unwrap_or_default();
                (name, stage.to_string())
            })
            .collect()
    }

    /// The toolchain image is pinned to an exact release, and every image (the
    /// product's and the demo's) runs as a user that is not root.
    #[test]
    fn the_image_is_pinned_and_runs_as_a_user() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
        let toolchain = dockerfile
            .lines()
            .find_map(|l| l.strip_prefix("FROM rust:"))
            .expect("a rust: build stage");
        let version = toolchain.split(['-', ' ']).next().unwrap_or_default();
        assert_eq!(
            version
                .split('.')
                .filter(|p| p.parse::<u32>().is_ok())
                .count(),
            3,
            "the toolchain image must name an exact release (rust:X.Y.Z-…), not {toolchain:?}"
        );
        let runtime: Vec<(String, String)> = stages(&dockerfile)
            .into_iter()
            .filter(|(_, text)| text.contains("ENTRYPOINT"))
            .collect();
        assert_eq!(runtime.len(), 2, "the product and the demo image");
        for (name, stage) in runtime {
            let user = stage
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("USER "))
                .unwrap_or_else(|| panic!("the {name} image names its USER"));
            assert!(
                !["root", "0", "0:0"].contains(&user.trim()),
                "the {name} image runs as {user}"
            );
        }
    }

    /// `docker build .` (the last stage) is the product: the `dokflyt` binary
    /// built alone, with its rules and templates, and nothing of `dev/` or the
    /// examples; the toolbox binary goes only into the `demo` target.
    #[test]
    fn the_product_image_holds_the_product_only() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
        let stages = stages(&dockerfile);
        let build = &stages.first().expect("a build stage").1;
        assert!(
            build.contains("cargo build --release --locked -p dokflyt --bin dokflyt"),
            "the build stage builds the product alone: {build}"
        );
        let (name, product) = stages.last().expect("a last stage");
        assert_eq!(name, "product", "the default target is the product");
        assert!(product.contains("ENTRYPOINT [\"dokflyt\"]"), "{product}");
        for forbidden in ["dokflyt-dev", "examples", "dev/", "build-demo"] {
            assert!(
                !product.contains(forbidden),
                "the product image takes {forbidden}: {product}"
            );
        }
        let (_, demo) = stages
            .iter()
            .find(|(n, _)| n == "demo")
            .expect("a `demo` target");
        assert!(demo.contains("ENTRYPOINT [\"dokflyt-dev\"]"), "{demo}");
    }

    /// docker-compose never ships a credential: the API secret is the operator's
    /// own (`${VAR:?…}` makes compose refuse to start without it), and the published
    /// development token appears nowhere in it.
    #[test]
    fn compose_requires_the_operators_own_api_credential() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let compose =
            std::fs::read_to_string(root.join("docker-compose.yml")).expect("docker-compose.yml");
        assert!(
            !compose.contains(crate::config::DEV_API_TOKEN),
            "docker-compose.yml carries the published development token"
        );
        let line = compose
            .lines()
            .find(|l| l.trim_start().starts_with("DOKFLYT_DEV_TOKEN:"))
            .expect("the dokflyt service sets DOKFLYT_DEV_TOKEN");
        assert!(
            line.contains("${DOKFLYT_DEV_TOKEN:?"),
            "DOKFLYT_DEV_TOKEN must be required from the operator's environment: {line}"
        );
        // The service is the demo: the Dockerfile's `demo` target (the toolbox
        // binary), never the product image with a demo switch.
        assert!(
            compose.contains("target: demo"),
            "compose builds the demo target"
        );
        assert!(
            compose.contains("command: [\"demo\"]"),
            "compose runs `dokflyt-dev demo`"
        );
        assert!(!compose.contains("--demo"), "the product has no --demo");
    }

    #[test]
    fn the_dockerfile_copies_everything_src_includes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
        let copied = copied_by_dockerfile(&dockerfile);
        // Every crate of the workspace: cargo reads every member's manifest.
        for member in ["src", "dev", "Cargo.toml", "Cargo.lock"] {
            assert!(copied.iter().any(|c| c == member), "{member}: {copied:?}");
        }
        let mut included = Vec::new();
        included_paths(&root.join("src"), &mut included);
        included_paths(&root.join("dev/src"), &mut included);
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
