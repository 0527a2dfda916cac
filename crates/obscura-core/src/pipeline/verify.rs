//! `verify-redaction`: re-runs detection on a redacted output, at least as
//! closely as the redaction looked, and lists every face or plate still
//! visible, except the tracks the record says were kept on purpose.

use crate::detect::{BBox, Class, FacePrecision};
use crate::error::{Error, ErrorKind, Result};
use crate::media::DecodeOptions;
use crate::pipeline::analyse::{self, AnalyseOptions};
use crate::pipeline::redact::{PersonRegion, RedactionRecord};
use crate::pipeline::Progress;
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

/// Detects on `output` with `opts`, decoding with `decode` (on every whole
/// frame, whatever `opts.roi` says, people on every frame whatever their
/// `every`, and faces with the float model whatever their `precision`)
/// and returns the residual detections scoring at least `min_score`. With the redaction `record`, detections
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
    let pad = record
        .and_then(|r| r.detection.as_ref())
        .map_or(crate::pipeline::redact::RedactOptions::default().pad, |d| {
            d.pad
        });
    // A redaction that obscured people's heads only leaves their bodies
    // visible on purpose: a person is then a residual only where their head
    // region is not covered by a drawn box.
    let heads_only = record
        .and_then(|r| r.detection.as_ref())
        .and_then(|d| d.person_region)
        == Some(PersonRegion::Head);
    let drawn = match record {
        Some(r) if heads_only => r.boxes_by_frame(false),
        _ => Default::default(),
    };
    // Verification always looks at every whole frame, never only where
    // something moved, and for people on every frame rather than every
    // few: it must look at least as closely as redaction did. Faces are
    // read with the float model, the reference the 8-bit one answers to.
    let mut every_frame = opts.clone();
    if let Some(p) = every_frame.people.as_mut() {
        p.every = 1;
    }
    if let Some(f) = every_frame.faces.as_mut() {
        f.precision = FacePrecision::Float;
    }
    let opts = &every_frame;
    let mut sets = analyse::worker_detectors(opts)?;
    let mut residuals = Vec::new();
    analyse::analyse(
        output,
        decode,
        &mut sets,
        opts.tracker,
        progress,
        |frame, dets, _| {
            // A plate zone is where a small vehicle's plate may be, not a
            // plate seen: it proves nothing visible. Plates found inside
            // vehicles at a higher scale do count.
            for d in dets
                .iter()
                .filter(|d| d.score >= min_score && d.class != Class::PlateZone)
            {
                let expected = kept
                    .get(&frame.index())
                    .is_some_and(|ks| ks.iter().any(|k| explains(k, &d.bbox, pad)))
                    || (heads_only
                        && d.class == Class::Person
                        && drawn.get(&frame.index()).is_some_and(|bs| {
                            let head = PersonRegion::Head.of(&d.bbox);
                            bs.iter()
                                .any(|b| head.covered_by(b) >= 0.5 || body_below(&d.bbox, b))
                        }));
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

/// Whether person detection `d` is the visible body of a person whose head
/// band `b` was drawn: it starts where the band ends (within a quarter of
/// its own height), lies mostly under it, and is no wider than half again
/// the band. With coarse mosaic over the head, the person detector often
/// finds only the legs and hips below it, whose own head region would be
/// the hips.
fn body_below(d: &BBox, b: &BBox) -> bool {
    let under = ((d.x + d.w).min(b.x + b.w) - d.x.max(b.x)).max(0.0);
    let band_end = b.y + b.h;
    under >= 0.5 * d.w && d.y >= b.y && d.y <= band_end + 0.25 * d.h && d.w <= 1.5 * b.w
}

/// How much larger in area than the padded box a kept box may be, for the
/// difference between the detection the redaction made and the one made
/// again on the encoded output.
const KEPT_SLACK: f32 = 2.0;

/// Whether kept box `k` explains detection `d`: `d` lies (mostly) inside
/// `k`, and `k` is no larger than the redaction's padding of a box like
/// `d` (by `pad`, at least 2x for small faces) makes it. A kept box far
/// larger than the face it would explain (a whole frame, say) is not a
/// tracked face, and explains nothing.
fn explains(k: &BBox, d: &BBox, pad: f32) -> bool {
    let (ka, da) = (k.w * k.h, d.w * d.h);
    let f = if d.w.max(d.h) < 48.0 {
        pad.max(2.0)
    } else {
        pad
    };
    d.covered_by(k) >= 0.5 && ka > 0.0 && ka <= da * f * f * KEPT_SLACK
}

/// Checks a record before it is trusted to excuse anything: it must be the
/// record of `output` (same sha256), and its kept tracks must be what it
/// says (each listed once with a reason, marked kept, with boxes on the
/// picture and within the clip).
///
/// # Errors
/// `InvalidArgument` naming the first inconsistency.
pub fn check_record(output: &Path, record: &RedactionRecord, record_path: &Path) -> Result<()> {
    let bad = |msg: String| Error::new(ErrorKind::InvalidArgument, msg).with_path(record_path);
    let sha = crate::hash::file_sha256(output)
        .map_err(|e| Error::io(e, "cannot hash").with_path(output))?;
    if sha != record.output.sha256 {
        return Err(bad(format!(
            "is not the record of {}: the file's sha256 is {sha}, the record's output is {}",
            output.display(),
            record.output.sha256
        )));
    }
    let info = crate::media::probe(output)?;
    if info.frames != record.output.frames {
        return Err(bad(format!(
            "says the output has {} frames, the file holds {}",
            record.output.frames, info.frames
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for k in &record.kept_tracks {
        if !seen.insert(k.id) {
            return Err(bad(format!("lists kept track {} twice", k.id)));
        }
        if k.reason.trim().is_empty() {
            return Err(bad(format!("kept track {} has no reason", k.id)));
        }
        match record.tracks.iter().find(|t| t.id == k.id) {
            Some(t) if t.kept => {}
            Some(_) => {
                return Err(bad(format!(
                    "lists track {} as kept, but its track is marked obscured",
                    k.id
                )))
            }
            None => {
                return Err(bad(format!(
                    "lists kept track {}, which it does not hold",
                    k.id
                )))
            }
        }
    }
    if let Some(t) = record
        .tracks
        .iter()
        .find(|t| t.kept && !seen.contains(&t.id))
    {
        return Err(bad(format!(
            "marks track {} kept without listing it and its reason among the kept tracks",
            t.id
        )));
    }
    crate::pipeline::redact::validate_regions(
        &record.tracks,
        &record.manual_boxes,
        &record.moving_boxes,
        info.width,
        info.height,
        info.frames,
    )
    .map_err(|e| bad(e.message().to_string()))
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
/// redaction's own settings unless `detect` overrides them (the default
/// detection, [`AnalyseOptions::default`], when neither says; faces when
/// `detect` switches both off), and reports every detection at or
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
        let p = crate::pipeline::redact::record_path(output);
        p.is_file().then_some(p)
    });
    let record = record_path
        .as_deref()
        .map(crate::pipeline::redact::read_record)
        .transpose()?;
    if let (Some(r), Some(p)) = (&record, &record_path) {
        check_record(output, r, p)?;
    }
    // Look at least as closely as the redaction did.
    let mut opts = match (detect, record.as_ref().and_then(|r| r.detection.as_ref())) {
        (Some(d), _) => d,
        (None, Some(d)) => {
            // A record cannot make the check less sensitive than the
            // defaults: its face threshold counts only when it is lower.
            let mut o = d.settings.clone();
            let default = crate::detect::FaceSettings::default().threshold;
            if let Some(f) = o.faces.as_mut() {
                f.threshold = f.threshold.min(default);
            }
            o
        }
        (None, None) => AnalyseOptions::default(),
    };
    if opts.faces.is_none() && opts.plates.is_none() {
        opts.faces = Some(Default::default());
    }
    let min_score = min_score.unwrap_or_else(|| opts.faces.map_or(0.5, |f| f.threshold));
    // NaN would pass everything: no detection compares at least NaN.
    if !(0.0..=1.0).contains(&min_score) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("invalid minimum score {min_score} (expected >= 0, <= 1)"),
        ));
    }
    let residuals = verify(output, decode, &opts, record.as_ref(), min_score, progress)?;
    Ok(Verification {
        output: output.to_path_buf(),
        record: record_path,
        min_score,
        residuals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32, y: f32, w: f32, h: f32) -> BBox {
        BBox { x, y, w, h }
    }

    #[test]
    fn legs_under_a_drawn_head_band_are_that_person_and_a_stranger_is_not() {
        let band = b(100.0, 50.0, 30.0, 40.0);
        assert!(
            body_below(&b(104.0, 88.0, 24.0, 34.0), &band),
            "legs and hips"
        );
        assert!(
            !body_below(&b(104.0, 130.0, 24.0, 34.0), &band),
            "someone lower down"
        );
        assert!(!body_below(&b(150.0, 88.0, 24.0, 34.0), &band), "beside it");
        assert!(!body_below(&b(80.0, 88.0, 80.0, 34.0), &band), "much wider");
        assert!(!body_below(&b(104.0, 20.0, 24.0, 34.0), &band), "above it");
    }
}
