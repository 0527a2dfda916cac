//! # Obscura
//!
//! Video analytics and redaction for public-space CCTV control rooms: exact,
//! fast decoding of recorded footage, fixed privacy masks, face and plate
//! redaction for subject access requests, and motion-based incident
//! indexing.
//!
//! This crate is a thin facade: everything lives in [`obscura_core`] and is
//! re-exported here, so `obscura::media::probe` and
//! `obscura_core::media::probe` are the same function.
#![deny(missing_docs)]

pub use obscura_core::*;

/// The README's Rust examples, compiled by `cargo test --doc` so they keep
/// up with the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
