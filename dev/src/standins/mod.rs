//! The stand-ins for the national services dokflyt talks to: real HTTP servers
//! on localhost speaking the real protocol, one copy each, shared by the demo,
//! the benchmarks and the tests. Never part of the product.
//!
//! - [`svarut`] — SvarUt v2 (send, look-up, status search; decrypts CMS letters
//!   with the throwaway key of `dev/keys/`), scripted status paths and faults.
//! - [`archive`] — the Fiks Arkiv server (schema checks, scripted faults, a
//!   throughput mode) and the demo's offline package refusing a few examples once.
//! - [`sms_gateway`] — the LINK Mobility-style SMS gateway (the tests' faults, the
//!   demo's fictional numbers and delivery reports).
//! - [`krr`] — the contact and reservation register's lookup service
//!   (`POST /rest/v1/personer`), its persons, an outage switch and a call log.
//! - [`maskinporten`] — Maskinporten's token endpoint (JWT bearer grants).
//! - [`idp`] — OpenID Connect providers: the demo's and the dashboard tests'
//!   sign-in, and the issuer of person assertions.
//!
//! Where the tests and the demo need different behaviour, it is an option of the
//! one stand-in (fault injection for the tests, fixed refusals for the demo),
//! never a second copy.

pub mod archive;
pub mod idp;
pub mod krr;
pub mod maskinporten;
pub mod sms_gateway;
pub mod svarut;
