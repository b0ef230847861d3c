//! dokflyt — routes and archives school documents for Norwegian municipalities.
pub mod event;
pub mod pipeline;
pub mod render;
pub mod rules;
