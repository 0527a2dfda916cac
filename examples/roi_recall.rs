//! Recall and speed of region-of-interest face detection against
//! whole-frame detection on the same clip: the measurement behind `--roi`.
//!
//! `cargo run --release --example roi_recall -- CLIP [--people]`
//!
//! With `--people`, the region-of-interest runs also detect people (as
//! `redact --faces --people` does), and only face tracks count as covering
//! a face.
//!
//! A whole-frame detection (score >= 0.5) counts as recalled when the ROI
//! run's tracks cover it (box padded 1.3x as redaction draws it) in that
//! frame: what matters for redaction is that the face is obscured.

use obscura::detect::BBox;
use obscura::media::DecodeOptions;
use obscura::pipeline::analyse::{self, AnalyseOptions, RoiSettings};
use std::collections::HashMap;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clip = std::env::args()
        .nth(1)
        .ok_or("usage: roi_recall CLIP [--people]")?;
    let people = std::env::args().nth(2).is_some_and(|a| a == "--people");
    let opts = AnalyseOptions::default();
    // One set of loaded models serves every pass below.
    let mut sets = analyse::worker_detectors(&opts)?;
    let roi_opts = AnalyseOptions {
        people: people.then(Default::default),
        ..AnalyseOptions::default()
    };
    let mut roi_sets = if people {
        analyse::worker_detectors(&roi_opts)?
    } else {
        Vec::new()
    };

    let mut truth: HashMap<u64, Vec<BBox>> = HashMap::new();
    let t = Instant::now();
    let full = analyse::analyse(
        clip.as_ref(),
        &DecodeOptions::default(),
        &mut sets,
        opts.tracker,
        &mut |_| {},
        |f, dets, _| {
            truth.insert(
                f.index(),
                dets.iter()
                    .filter(|d| d.score >= 0.5)
                    .map(|d| d.bbox)
                    .collect(),
            );
        },
    )?;
    let t_full = t.elapsed().as_secs_f64();

    for full_every in [4u64, 8, 16] {
        let roi = RoiSettings {
            full_every,
            ..Default::default()
        };
        let t = Instant::now();
        let r = analyse::analyse_with(
            clip.as_ref(),
            &DecodeOptions::default(),
            if people { &mut roi_sets } else { &mut sets },
            opts.tracker,
            Some(roi),
            &mut |_| {},
            |_, _, _| {},
        )?;
        let t_roi = t.elapsed().as_secs_f64();
        let mut covered: HashMap<u64, Vec<BBox>> = HashMap::new();
        for tr in r
            .tracks
            .iter()
            .filter(|t| t.class != obscura::detect::Class::Person)
        {
            for (f, b) in &tr.boxes {
                covered.entry(*f).or_default().push(b.bbox.padded(1.3));
            }
        }
        let (mut n, mut hit) = (0usize, 0usize);
        for (f, faces) in &truth {
            for face in faces {
                n += 1;
                if covered
                    .get(f)
                    .is_some_and(|bs| bs.iter().any(|b| face.covered_by(b) >= 0.9))
                {
                    hit += 1;
                }
            }
        }
        println!(
            "full every {full_every:>2}: recall {hit}/{n} = {:.3}; {:.2} fps vs whole-frame {:.2} fps ({:.2}x)",
            hit as f64 / n.max(1) as f64,
            full.info.frames as f64 / t_roi,
            full.info.frames as f64 / t_full,
            t_full / t_roi
        );
    }
    Ok(())
}
