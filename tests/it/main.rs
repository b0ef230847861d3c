//! dokflyt's integration tests, as one test binary: every module below is one
//! area (its own doc comment says what it covers), `common` is the shared
//! harness (the app on a fresh database, the stand-ins for SvarUt, the archive,
//! the SMS gateway and Maskinporten, the personal-data scanner). One binary links
//! sqlx, lapin and axum once instead of once per file.
//!
//! Run one area with `cargo test --test it archive::` (a module path filter), or
//! one test by name.

mod common;

mod advisories;
mod archive;
mod archive_folders;
mod archive_schedule;
mod archive_staff;
mod arkivmelding;
mod authz_matrix;
mod broker_permissions;
mod cli;
mod clients;
mod contract;
mod dashboard;
mod delivery;
mod demo;
mod faults;
mod grants;
mod krr;
mod layout;
mod limits;
mod metrics;
mod no_personal_data;
mod openapi;
mod pipeline;
mod recipient_policy;
mod render_cli;
mod render_examples;
mod render_languages;
mod render_structure;
mod roster;
mod roster_sources;
mod routing;
mod sms;
mod sms_person;
mod sms_sender;
mod tls;
mod toolbox;
mod tracing;
mod unreachable;
