//! `verify-redaction`: re-runs detection on a redacted output, at least as
//! closely as the redaction looked, and lists every face or plate still
//! visible, except the tracks the record says were kept on purpose.

use crate::analyse::{self, AnalyseOptions};
use crate::detect::{BBox, Class};
use crate::error::Result;
use crate::media::DecodeOptions;
use crate::pipeline::Progress;
use crate::redact::RedactionRecord;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A detection in the output that no redaction covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Residual {
    /// Frame index.
    pub frame: u64,
    /// Seconds from the start.
    pub time: f64,
    /// Face or plate.
    pub class: Class,
    /// Detector score.
    pub score: f32,
    /// Where.
    pub bbox: BBox,
}

/// Detects on `output` with `opts`, decoding with `decode` (on every whole frame, whatever
/// `opts.roi` says) and returns the residual detections
/// scoring at least `min_score`. With the redaction `record`, detections
/// inside a kept track's box are expected and not reported.
///
/// # Errors
/// Decode or detection errors.
pub fn verify(
    output: &Path,
    decode: &DecodeOptions,
    opts: &AnalyseOptions,
    record: Option<&RedactionRecord>,
    min_score: f32,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Residual>> {
    let kept = record.map(|r| r.boxes_by_frame(true)).unwrap_or_default();
    let sets = analyse::worker_detectors(opts)?;
    // Verification always looks at every whole frame, never only where
    // something moved: it must look at least as closely as redaction did.
    let mut residuals = Vec::new();
    analyse::analyse(
        output,
        decode,
        sets,
        opts.tracker,
        progress,
        |frame, dets, _| {
            for d in dets.iter().filter(|d| d.score >= min_score) {
                let expected = kept
                    .get(&frame.index())
                    .is_some_and(|ks| ks.iter().any(|k| d.bbox.covered_by(k) >= 0.5));
                if !expected {
                    residuals.push(Residual {
                        frame: frame.index(),
                        time: frame.time(),
                        class: d.class,
                        score: d.score,
                        bbox: d.bbox,
                    });
                }
            }
        },
    )?;
    Ok(residuals)
}
