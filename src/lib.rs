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
//! - [`render`] — templates and PDF.
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
pub mod xml;
