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
