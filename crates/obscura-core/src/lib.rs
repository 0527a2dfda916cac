//! # obscura-core
//!
//! The library behind Obscura, a video analytics and redaction tool for
//! public-space CCTV control rooms.
//!
//! ## Layout
//! - [`media`]: the only code that talks to FFmpeg. [`media::probe`] reads a
//!   file's facts with exact frame counts; [`media::open`] decodes it,
//!   segment-parallel at keyframes with output bit-identical to a sequential
//!   decode; [`media::Encoder`] writes H.264/MP4 that keeps every frame's
//!   timestamp and copies audio through; [`media::decode_files`] runs many
//!   files on a rayon pool.
//! - [`frame`]: the planar YUV 4:2:0 view every analysis works on, so the
//!   same code runs on decoded video, synthetic test frames and arrays from
//!   Python.
//! - [`pipeline`]: decode → process → encode, with progress reporting.
//!   [`pipeline::transcode`] is the plain run; redaction plugs in per-frame
//!   work.
//! - [`onnx`]: the only code that talks to ONNX Runtime, loaded at run time
//!   from the library the setup fetched; [`models`]: the pinned model
//!   manifest and checks of the files on disk.
//! - [`camera`]: validated camera profiles (masks, ignore-zones);
//!   [`mask`]: polygon rasterisation and the irreversible obscuring kernels;
//!   [`redact`]: masks, tracked faces and plates and manual boxes applied on
//!   every frame, with a redaction record that can be replayed.
//! - [`detect`]: face (CenterFace) and plate (PP-OCRv4 + plate geometry)
//!   detectors behind one trait; [`track`]: tracks with gaps filled both
//!   ways; [`analyse`]: the parallel detect-and-track pass, with
//!   region-of-interest detection; [`verify`]: re-detection on an output;
//!   [`sheet`]: track thumbnails and the contact sheet.
//! - [`motion`]: motion scores on the luma plane, incidents with
//!   wall-clock times, segment-parallel within a file;
//!   [`index`]: the SQLite incident index (cameras, recordings, incidents),
//!   its queries and monthly reports.
//! - Evidence integrity: [`audit`], the hash-chained, append-only audit
//!   trail in the index database (every redaction, lifted mask, export,
//!   disclosure, hold and purge), verified entry by entry; [`export`],
//!   evidential exports (stream-copied masters cut at keyframes, working
//!   copies, a manifest with per-frame hashes) and their verification;
//!   [`retention`], the retention window and evidential holds; [`sign`],
//!   Ed25519 keys for signing the trail's head and manifests.
//! - [`output`]: outputs are written under a temporary name and renamed only
//!   when complete, and never over an input.
//! - [`error`]: one [`Error`] type with an [`ErrorKind`] to match on;
//!   [`cancel`]: a [`Cancel`] token that stops any decoding pass cleanly.
//!
//! ## Example
//! ```no_run
//! use obscura_core::media::{self, DecodeOptions};
//!
//! # fn main() -> obscura_core::Result<()> {
//! let (info, frames) = media::open("clip.mp4", &DecodeOptions::default())?;
//! println!("{}x{} at {:.2} fps, {} frames", info.width, info.height, info.fps, info.frames);
//! for frame in frames {
//!     let frame = frame?;
//!     let luma = frame.view().luma();
//!     let mean = luma.rows().flatten().map(|&p| u64::from(p)).sum::<u64>()
//!         / (luma.width() * luma.height()) as u64;
//!     println!("frame {} at {:.3}s: mean luma {mean}", frame.index(), frame.time());
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod analyse;
pub mod audit;
pub mod camera;
pub mod cancel;
pub mod detect;
pub mod doctor;
pub mod error;
pub mod export;
pub mod frame;
pub mod hash;
pub mod index;
pub mod mask;
pub mod media;
pub mod models;
pub mod motion;
pub mod onnx;
pub mod output;
pub mod pipeline;
pub mod redact;
pub mod retention;
pub mod sheet;
pub mod sign;
pub mod track;
pub mod verify;

pub use cancel::Cancel;
pub use error::{Error, ErrorKind, Result};

/// Where the setup keeps models, the ONNX Runtime library and sample
/// footage: `$OBSCURA_HOME`, or `~/.cache/obscura`.
pub fn home() -> std::path::PathBuf {
    match std::env::var_os("OBSCURA_HOME") {
        Some(h) if !h.is_empty() => std::path::PathBuf::from(h),
        _ => std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_default()
            .join(".cache")
            .join("obscura"),
    }
}

/// The version of this library, as recorded in reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
