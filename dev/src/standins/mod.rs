//! The stand-ins for the national services dokflyt talks to: real HTTP servers
//! on localhost speaking the real protocol, one copy each, shared by the demo,
//! the benchmarks and the tests. Never part of the product.
//!
//! - [`svarut`] — SvarUt v2 (send, look-up, status search; decrypts CMS letters
//!   with the throwaway key of `dev/keys/`), scripted status paths and faults.
//! - [`archive`] — the demo's archive: the offline package refusing a few
//!   example documents once.
//! - [`sms_gateway`] — the LINK Mobility-style SMS gateway (fictional numbers only).
//! - [`idp`] — the OpenID Connect provider of the demo's and the tests' sign-in.

pub mod archive;
pub mod idp;
pub mod sms_gateway;
pub mod svarut;
