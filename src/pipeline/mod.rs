//! The document pipeline, one module per stage, in data-flow order:
//! consume → validate → route → render → deliver → enqueue_archive.

pub mod route;
pub mod validate;
