//! Recall and speed of region-of-interest face detection against
//! whole-frame detection at the full automatic scale on every frame with
//! the float model, on the same clip: the measurement behind
//! `--full-every`, the adaptive scale and the 8-bit face model.
//!
//! `cargo run --release --example roi_recall -- CLIP [--people | --plates]`
//!
//! With `--people`, the region-of-interest runs also detect people (as
//! `redact --faces --people` does), and only face tracks count as covering
//! a face.
//!
//! With `--plates`, plates instead of faces: the truth is the plate
//! detector on every whole frame, against plates searched on every whole
//! frame with region-of-interest faces (`RoiSettings::plates` off, as
//! before it) and in their own regions (the default). Only plate tracks
//! count as covering a plate.
//!
//! A whole-frame detection (score >= 0.5) counts as recalled when one of
//! the ROI run's track boxes, padded 1.3x, covers it in that frame; and
//! "as drawn" when the boxes redaction draws (enlarged by their
//! uncertainty, padded as `pad_box` pads) obscure 90% of it between them:
//! what matters for redaction is that the face is obscured.

use obscura::detect::{BBox, Class, FacePrecision, FaceSettings};
use obscura::media::DecodeOptions;
use obscura::pipeline::analyse::{self, AnalyseOptions, RoiSettings};
use obscura::pipeline::redact::{pad_box, uncertainty};
use std::collections::HashMap;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clip = std::env::args()
        .nth(1)
        .ok_or("usage: roi_recall CLIP [--people | --plates]")?;
    let mode = std::env::args().nth(2);
    let people = mode.as_deref() == Some("--people");
    let plates = mode.as_deref() == Some("--plates");
    let wanted = if plates { Class::Plate } else { Class::Face };
    // The truth: the float model (the reference verify-redaction reads
    // with) on every whole frame; the runs measured use the default model.
    // For plates, the plate detector alone on every whole frame.
    let opts = AnalyseOptions::default();
    let truth_opts = if plates {
        AnalyseOptions {
            faces: None,
            ..AnalyseOptions::default()
        }
    } else {
        AnalyseOptions {
            faces: opts.faces.map(|f| FaceSettings {
                precision: FacePrecision::Float,
                ..f
            }),
            ..AnalyseOptions::default()
        }
    };
    let mut truth_sets = analyse::worker_detectors(&truth_opts)?;
    let roi_opts = AnalyseOptions {
        people: people.then(Default::default),
        faces: if plates { None } else { opts.faces },
        ..AnalyseOptions::default()
    };
    let mut sets = analyse::worker_detectors(&roi_opts)?;

    let mut truth: HashMap<u64, Vec<BBox>> = HashMap::new();
    let t = Instant::now();
    let full = analyse::analyse(
        clip.as_ref(),
        &DecodeOptions::default(),
        &mut truth_sets,
        opts.tracker,
        &mut |_| {},
        |f, dets, _| {
            truth.insert(
                f.index(),
                dets.iter()
                    .filter(|d| d.class == wanted && d.score >= 0.5)
                    .map(|d| d.bbox)
                    .collect(),
            );
        },
    )?;
    let t_full = t.elapsed().as_secs_f64();

    // The fixed scale (every region read at the full automatic scale, a
    // whole-frame pass every 16 frames: the default before adaptive scale)
    // against the default.
    let fixed = RoiSettings {
        full_every: 16,
        adaptive: false,
        ..Default::default()
    };
    let runs = if plates {
        vec![
            (
                "plates on every whole frame",
                RoiSettings {
                    plates: false,
                    ..Default::default()
                },
            ),
            (
                "plates in regions, motion on every frame",
                RoiSettings {
                    plate_motion_every: 1,
                    ..Default::default()
                },
            ),
            ("default (plates in regions)", RoiSettings::default()),
        ]
    } else {
        vec![
            ("fixed scale, whole every 16", fixed),
            ("default (adaptive scale)", RoiSettings::default()),
        ]
    };
    for (name, roi) in runs {
        let t = Instant::now();
        let r = analyse::analyse_with(
            clip.as_ref(),
            &DecodeOptions::default(),
            &mut sets,
            opts.tracker,
            Some(roi),
            &mut |_| {},
            |_, _, _| {},
        )?;
        let t_roi = t.elapsed().as_secs_f64();
        // Tracked boxes padded 1.3x (one box covering the face), and as
        // redaction draws them (a box guessed between or before detections
        // enlarged by its uncertainty, then padded 1.3x, 2x under 32
        // pixels; the face obscured by their union).
        let mut covered: HashMap<u64, Vec<BBox>> = HashMap::new();
        let mut drawn: HashMap<u64, Vec<BBox>> = HashMap::new();
        for tr in r.tracks.iter().filter(|t| t.class == wanted) {
            for (f, b) in &tr.boxes {
                covered.entry(*f).or_default().push(b.bbox.padded(1.3));
                let grown = b.bbox.padded(uncertainty(tr.class, b.gap));
                drawn.entry(*f).or_default().push(pad_box(&grown, 1.3));
            }
        }
        let (mut n, mut hit, mut hit_drawn) = (0usize, 0usize, 0usize);
        let within = |boxes: &HashMap<u64, Vec<BBox>>, f: &u64, face: &BBox| {
            boxes
                .get(f)
                .is_some_and(|bs| bs.iter().any(|b| face.covered_by(b) >= 0.9))
        };
        // What is obscured is the union of the drawn boxes: at least 90% of
        // the face's area (sampled on a 10x10 grid) inside one or another.
        let obscured = |boxes: &HashMap<u64, Vec<BBox>>, f: &u64, face: &BBox| {
            let Some(bs) = boxes.get(f) else { return false };
            let inside = (0..100)
                .filter(|k| {
                    let x = face.x + face.w * ((k % 10) as f32 + 0.5) / 10.0;
                    let y = face.y + face.h * ((k / 10) as f32 + 0.5) / 10.0;
                    bs.iter()
                        .any(|b| x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h)
                })
                .count();
            inside >= 90
        };
        let mut missed = Vec::new();
        for (f, faces) in &truth {
            for face in faces {
                n += 1;
                hit += usize::from(within(&covered, f, face));
                if obscured(&drawn, f, face) {
                    hit_drawn += 1;
                } else {
                    missed.push((*f, *face));
                }
            }
        }
        missed.sort_by_key(|m| m.0);
        println!(
            "{name}: recall {hit}/{n} = {:.3} (as drawn: {hit_drawn}/{n} = {:.3}); {:.2} fps vs whole-frame {:.2} fps ({:.2}x)",
            hit as f64 / n.max(1) as f64,
            hit_drawn as f64 / n.max(1) as f64,
            full.info.frames as f64 / t_roi,
            full.info.frames as f64 / t_full,
            t_full / t_roi
        );
        for (f, b) in missed.iter().take(10) {
            println!(
                "  not covered as drawn: frame {f}, {:.0}x{:.0} at ({:.0}, {:.0})",
                b.w, b.h, b.x, b.y
            );
        }
    }
    Ok(())
}
