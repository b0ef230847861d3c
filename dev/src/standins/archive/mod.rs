//! The archive stand-ins, one module: the Fiks Arkiv server ([`fiks`]: schema
//! checks, journal posts by external key, scripted faults, a throughput mode)
//! that the tests and `dokflyt-dev bench archive` send to over HTTP, and the
//! demo's archive ([`refusing`]: the product's offline package refusing a few
//! example documents once, so the dashboard's Feilet tab has entries to fix).
//! The faults of the one are scripted per request ([`Action`]); the refusals of
//! the other are fixed per example ([`REFUSED`]).

pub mod fiks;
pub mod refusing;

pub use fiks::*;
pub use refusing::{DemoArchive, Refusal, REFUSED};
