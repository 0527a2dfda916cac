//! Evidence integrity, kept in the store: the hash-chained, append-only
//! [`audit`] trail; Ed25519 keys that [`sign`] the trail's head and
//! manifests; [`retention`], the 28-day window and evidential holds.
//!
//! These modules use only the [`crate::store`] below them: the workflows
//! that log against the trail (redaction, export, disclosure) live in
//! [`crate::pipeline`].

pub mod audit;
pub mod retention;
pub mod sign;
