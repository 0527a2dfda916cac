//! `verify-redaction`: re-runs detection on a redacted output, at least as
//! closely as the redaction looked, and lists every face or plate still
//! visible, except the tracks the record says were kept on purpose.

use crate::detect::{BBox, Class, Detection, FacePrecision};
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
                let ks = kept.get(&frame.index()).map_or(&[][..], Vec::as_slice);
                let expected = ks.iter().any(|k| explains(k, &d.bbox, pad))
                    || part_of_kept_face(d, dets, ks, pad)
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

/// Whether `d`, not itself a face, lies within a face that a kept box
/// explains in the same frame: part of the person kept on purpose, as when
/// the text detector reads a kept requester's eye and brow as a plate
/// (0.79 on the console's two-face clip). The face must be found again on
/// this frame and `d` must lie inside the face's own box, not just the
/// kept box's padding, where someone else's plate could be.
fn part_of_kept_face(d: &Detection, dets: &[Detection], kept: &[BBox], pad: f32) -> bool {
    d.class != Class::Face
        && dets.iter().any(|f| {
            f.class == Class::Face
                && d.bbox.covered_by(&f.bbox) >= KEPT_FACE_COVER
                && kept.iter().any(|k| explains(k, &f.bbox, pad))
        })
}

/// How much of a detection must lie inside a kept face's box to be part of
/// that face.
const KEPT_FACE_COVER: f32 = 0.8;

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
    /// Faces the obscuring made, not counted as residuals: the same frame
    /// of the original (the record's input, same sha256, the picture the
    /// output was made from) shows nothing the face model scores even
    /// [`ORIGINAL_FACE_FLOOR`] anywhere on the detection's box, and the
    /// box's pixels outside the drawn boxes are the original's: the
    /// pattern is a mosaic's edge against what lies beside it, not a face
    /// left visible.
    pub made_by_obscuring: Vec<Residual>,
}

/// A face detection in the output is a face left visible unless the same
/// frame of the original shows nothing scoring this much anywhere on its
/// box: a third of the redaction threshold, so a face the original's
/// context made score lower still counts.
pub const ORIGINAL_FACE_FLOOR: f32 = 0.1;

/// At most this many frames of the original are read to sort residual
/// faces; past it, every residual counts (the redaction has failed
/// anyway).
const MAX_ORIGINAL_FRAMES: usize = 100;

/// The most the original may differ from the output, as the median over
/// 16x16 blocks of their mean absolute luma difference, for it to count as
/// the output's source: encoding moves a block by a few levels; obscured
/// regions are the minority of blocks a median ignores.
const SOURCE_DIFFERENCE: f64 = 6.0;

/// Whether `original` is plausibly the picture `output` was made from:
/// same size, and the median 16x16 block differs by at most
/// [`SOURCE_DIFFERENCE`] luma levels.
fn same_picture(
    original: &crate::frame::FrameView<'_>,
    output: &crate::frame::FrameView<'_>,
) -> bool {
    let (w, h) = (original.width(), original.height());
    if (w, h) != (output.width(), output.height()) || w < 16 || h < 16 {
        return false;
    }
    let (a, b) = (original.luma(), output.luma());
    let mut blocks = Vec::with_capacity((w / 16) * (h / 16));
    for by in 0..h / 16 {
        for bx in 0..w / 16 {
            let mut sum = 0u32;
            for y in by * 16..by * 16 + 16 {
                let (ra, rb) = (
                    &a.row(y)[bx * 16..bx * 16 + 16],
                    &b.row(y)[bx * 16..bx * 16 + 16],
                );
                sum += ra
                    .iter()
                    .zip(rb)
                    .map(|(p, q)| u32::from(p.abs_diff(*q)))
                    .sum::<u32>();
            }
            blocks.push(f64::from(sum) / 256.0);
        }
    }
    blocks.sort_by(f64::total_cmp);
    blocks[blocks.len() / 2] <= SOURCE_DIFFERENCE
}

/// Splits `residuals` into those that count and the faces the obscuring
/// made (see [`Verification::made_by_obscuring`]). Every residual counts
/// when the original cannot be used: not found where the record says, a
/// different file (sha256), another frame count, too many frames, or a
/// frame that is not the picture the output's frame was made from (a
/// record pointed at another video, say).
fn made_by_obscuring(
    output: &Path,
    record: &RedactionRecord,
    residuals: Vec<Residual>,
    faces: crate::detect::FaceSettings,
) -> Result<(Vec<Residual>, Vec<Residual>)> {
    use crate::detect::{Detector, FaceDetector, FaceSettings};
    let frames: std::collections::BTreeSet<u64> = residuals
        .iter()
        .filter(|r| r.class == Class::Face)
        .map(|r| r.frame)
        .collect();
    let original = &record.input.path;
    let usable = !frames.is_empty()
        && frames.len() <= MAX_ORIGINAL_FRAMES
        && record.input.frames == record.output.frames
        && original.is_file()
        && crate::hash::file_sha256(original).is_ok_and(|h| h == record.input.sha256);
    let (info, out_info) = match usable
        .then(|| crate::media::probe(original).and_then(|i| Ok((i, crate::media::probe(output)?))))
    {
        Some(Ok(infos)) => infos,
        _ => return Ok((residuals, Vec::new())),
    };
    let mut detector = FaceDetector::new(
        FaceSettings {
            threshold: ORIGINAL_FACE_FLOOR,
            precision: FacePrecision::Float,
            ..faces
        },
        0,
    )?;
    let drawn = record.boxes_by_frame(false);
    // Per frame, the residual faces that may be set aside.
    let mut aside: std::collections::BTreeMap<u64, Vec<BBox>> = Default::default();
    for f in frames {
        let (Ok(frame), Ok(out)) = (
            crate::media::frame_at(&info, f, 0),
            crate::media::frame_at(&out_info, f, 0),
        ) else {
            return Ok((residuals, Vec::new()));
        };
        if !same_picture(&frame.view(), &out.view()) {
            return Ok((residuals, Vec::new()));
        }
        let found = detector.detect(&frame.view())?;
        let boxes = drawn.get(&f).map_or(&[][..], Vec::as_slice);
        aside.insert(
            f,
            residuals
                .iter()
                .filter(|r| {
                    r.frame == f
                        && r.class == Class::Face
                        && !found.iter().any(|d| r.bbox.covered_by(&d.bbox) > 0.0)
                        && unchanged_outside(&frame.view(), &out.view(), &r.bbox, boxes)
                })
                .map(|r| r.bbox)
                .collect(),
        );
    }
    Ok(residuals
        .into_iter()
        .partition(|r| !aside.get(&r.frame).is_some_and(|bs| bs.contains(&r.bbox))))
}

/// Whether the pixels of `bbox` outside every `drawn` box are the
/// original's, within [`SOURCE_DIFFERENCE`] luma levels on average: the
/// obscuring changes pixels only inside drawn boxes, so a face made by it
/// lies on unchanged picture beside them (at least a quarter of the box).
/// A face painted out of a forged "original" but visible in the output
/// fails this.
fn unchanged_outside(
    original: &crate::frame::FrameView<'_>,
    output: &crate::frame::FrameView<'_>,
    bbox: &BBox,
    drawn: &[BBox],
) -> bool {
    let (w, h) = (original.width(), original.height());
    let x0 = (bbox.x.max(0.0) as usize).min(w);
    let y0 = (bbox.y.max(0.0) as usize).min(h);
    let x1 = ((bbox.x + bbox.w).ceil().max(0.0) as usize).min(w);
    let y1 = ((bbox.y + bbox.h).ceil().max(0.0) as usize).min(h);
    let inside = |x: usize, y: usize| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        drawn
            .iter()
            .any(|b| px >= b.x && px < b.x + b.w && py >= b.y && py < b.y + b.h)
    };
    let (a, b) = (original.luma(), output.luma());
    let (mut sum, mut n) = (0u64, 0u64);
    for y in y0..y1 {
        let (ra, rb) = (a.row(y), b.row(y));
        for x in (x0..x1).filter(|&x| !inside(x, y)) {
            sum += u64::from(ra[x].abs_diff(rb[x]));
            n += 1;
        }
    }
    // At least a quarter of the box must be picture the obscuring left
    // alone, to compare.
    let total = ((x1 - x0) * (y1 - y0)) as u64;
    n > 0 && n * 4 >= total && sum as f64 / n as f64 <= SOURCE_DIFFERENCE
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
    let (residuals, made) = match (&record, opts.faces) {
        (Some(r), Some(faces)) => made_by_obscuring(output, r, residuals, faces)?,
        _ => (residuals, Vec::new()),
    };
    Ok(Verification {
        output: output.to_path_buf(),
        record: record_path,
        min_score,
        residuals,
        made_by_obscuring: made,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32, y: f32, w: f32, h: f32) -> BBox {
        BBox { x, y, w, h }
    }

    fn det(class: Class, bbox: BBox) -> Detection {
        Detection {
            class,
            bbox,
            score: 0.8,
            text: None,
        }
    }

    #[test]
    fn text_inside_a_kept_face_found_again_is_that_face_and_text_beside_it_is_not() {
        let face = b(230.0, 20.0, 80.0, 96.0);
        // The kept box: the face padded 1.3x.
        let kept = [b(218.0, 5.6, 104.0, 124.8)];
        let eye = det(Class::Plate, b(269.0, 63.0, 20.0, 18.0));
        let found = [det(Class::Face, face), eye.clone()];
        assert!(
            part_of_kept_face(&eye, &found, &kept, 1.3),
            "the kept face's eye"
        );
        assert!(
            !part_of_kept_face(&eye, std::slice::from_ref(&eye), &kept, 1.3),
            "no face found again there: the kept box alone explains no plate"
        );
        assert!(
            !part_of_kept_face(&eye, &found, &[], 1.3),
            "a face that was not kept"
        );
        let margin = det(Class::Plate, b(219.0, 100.0, 30.0, 12.0));
        assert!(
            !part_of_kept_face(&margin, &found, &kept, 1.3),
            "in the kept box's padding but not the face: someone else's plate"
        );
        let small_face = det(Class::Face, b(270.0, 60.0, 10.0, 11.0));
        assert!(
            !part_of_kept_face(&small_face, &found, &kept, 1.3),
            "faces answer to the kept boxes alone"
        );
        let whole = [b(0.0, 0.0, 352.0, 144.0)];
        assert!(
            !part_of_kept_face(&eye, &found, &whole, 1.3),
            "a kept box far larger than the face explains nothing"
        );
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
