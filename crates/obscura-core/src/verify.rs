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
use std::path::{Path, PathBuf};

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

/// What [`verify_redaction`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// The redacted video checked.
    pub output: PathBuf,
    /// The redaction record used, if one was given or found next to it.
    pub record: Option<PathBuf>,
    /// Detections below this score were not reported.
    pub min_score: f32,
    /// Every face or plate still visible, in frame order.
    pub residuals: Vec<Residual>,
}

/// The officer's last check before disclosure: finds the redaction record
/// (`record`, or `OUTPUT.redaction.json` if it exists), detects with the
/// redaction's own settings unless `detect` overrides them (faces at the
/// default settings when neither says), and reports every detection at or
/// above `min_score` (default: the face threshold used, else 0.5) that no
/// kept track explains.
///
/// # Errors
/// An unreadable record, decode or detection errors.
pub fn verify_redaction(
    output: &Path,
    record: Option<&Path>,
    detect: Option<AnalyseOptions>,
    min_score: Option<f32>,
    decode: &DecodeOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Verification> {
    let record_path = record.map(Path::to_path_buf).or_else(|| {
        let p = crate::redact::record_path(output);
        p.is_file().then_some(p)
    });
    let record = record_path
        .as_deref()
        .map(crate::redact::read_record)
        .transpose()?;
    // Look at least as closely as the redaction did.
    let mut opts = match (detect, record.as_ref().and_then(|r| r.detection.as_ref())) {
        (Some(d), _) => d,
        (None, Some(d)) => d.settings.clone(),
        (None, None) => AnalyseOptions::default(),
    };
    if opts.faces.is_none() && opts.plates.is_none() {
        opts.faces = Some(Default::default());
    }
    let min_score = min_score.unwrap_or_else(|| opts.faces.map_or(0.5, |f| f.threshold));
    let residuals = verify(output, decode, &opts, record.as_ref(), min_score, progress)?;
    Ok(Verification {
        output: output.to_path_buf(),
        record: record_path,
        min_score,
        residuals,
    })
}
