//! dokflyt-dev — the toolbox beside the product: the demo, the benchmarks and
//! the stand-ins for the national services. Never shipped: the `dokflyt` binary
//! and image carry none of it (`tests/it/toolbox.rs` checks the built binary).
//!
//! Map, bottom up:
//! - [`standins`] — one copy of each fake national service, real servers speaking
//!   the real protocol on localhost: SvarUt ([`standins::svarut`], with its
//!   throwaway key pair from `dev/keys/`), the archive ([`standins::archive`]),
//!   the SMS gateway ([`standins::sms_gateway`]) and the sign-in provider
//!   ([`standins::idp`]). The demo, the benchmarks and the tests (`tests/it`, a
//!   dev-dependency of the product) use the same ones.
//! - [`demo`] — `dokflyt-dev demo`: the product's service fed with the example
//!   events against the stand-ins, every fate printed, the dashboard in every state.
//! - [`bench`] — `dokflyt-dev bench pipeline | archive | render | sms`: throughput
//!   against a baseline measured in the same run.
//! - [`faults`] — `dokflyt-dev faults`: the fault-injection suite (the real binary
//!   under crash points and kills; lost/duplicated/unexpected counted by an oracle).
//! - [`cli`] — the `dokflyt-dev` command line.

pub mod bench;
pub mod cli;
pub mod demo;
pub mod faults;
pub mod standins;
