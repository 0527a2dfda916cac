//! The person detector and tracker against hand-labelled people: the
//! measurement behind the person defaults.
//!
//! `cargo run --release --example person_truth -- vtest.avi tests/data/vtest_people.json [MOT.txt]`
//!
//! 1. **Detection.** Precision and recall of NanoDet on the labelled frames,
//!    per tiling and threshold. A detection matches a labelled person at
//!    IoU >= 0.5 (greedy, best score first); one mostly inside an `ignore`
//!    region counts neither way.
//! 2. **Identity.** The clip is tracked as `tracks --people` tracks it
//!    (people only: faces and plates do not change person tracks), and the
//!    person tracks' boxes on the labelled frames are scored against the
//!    labelled identities: IDF1 (Ristani et al. 2016: the share of boxes on
//!    the best one-to-one pairing of labelled people and tracks) and how
//!    many tracks each labelled person is split into.
//!
//! Person tracks are scored twice: the ones `tracks` lists (confirmed by a
//! detection at the tracker's `high` score) and all of them (the others are
//! obscured too, but are mostly things read as people).
//!
//! With a third argument, the track boxes on the labelled frames are also
//! written there in MOTChallenge form (`frame,id,x,y,w,h,1,-1,-1,-1`), so an
//! independent implementation (the `motmetrics` package) can check the
//! identity figures.

use obscura::detect::{Class, Detector, PersonDetector, PersonSettings};
use obscura::frame::BBox;
use obscura::media::{self, DecodeOptions};
use obscura::track::Track;
use std::collections::BTreeMap;
use std::time::Instant;
#[path = "../tests/it/truth.rs"]
mod truth;
use truth::{matches, score, Labelled, Truth};

fn detection(clip: &str, truth: &Truth) -> Result<(), Box<dyn std::error::Error>> {
    println!("detection: labelled people found at IoU >= 0.5 (precision, recall), ms per frame");
    let labelled: BTreeMap<u64, &Labelled> = truth.frames.iter().map(|l| (l.frame, l)).collect();
    let last = labelled.keys().next_back().copied().unwrap_or(0);
    let people: usize = truth.frames.iter().map(|l| l.people.len()).sum();
    for max_tile in [800usize, 416, 300] {
        let settings = PersonSettings {
            threshold: 0.2,
            max_tile,
            ..PersonSettings::default()
        };
        let mut det = PersonDetector::new(settings, 2)?;
        let thresholds = [0.25f32, 0.35, 0.45];
        let mut tp = [0usize; 3];
        let mut fp = [0usize; 3];
        let mut spent = 0.0;
        let (info, frames) = media::open(clip, &DecodeOptions::sequential())?;
        for f in frames {
            let f = f?;
            if f.index() > last {
                break;
            }
            let Some(l) = labelled.get(&f.index()) else {
                continue;
            };
            let started = Instant::now();
            let found = det.detect(&f.view())?;
            spent += started.elapsed().as_secs_f64();
            for (k, t) in thresholds.iter().enumerate() {
                let kept: Vec<(BBox, f32)> = found
                    .iter()
                    .filter(|d| d.score >= *t)
                    .map(|d| (d.bbox, d.score))
                    .collect();
                let (pairs, false_pos) = matches(l, &kept);
                tp[k] += pairs.len();
                fp[k] += false_pos;
            }
        }
        let cells: Vec<String> = (0..3)
            .map(|k| {
                format!(
                    "t{}: P {:.2} R {:.2}",
                    thresholds[k],
                    tp[k] as f64 / (tp[k] + fp[k]).max(1) as f64,
                    tp[k] as f64 / people.max(1) as f64
                )
            })
            .collect();
        let (w, h) = (info.width as usize, info.height as usize);
        println!(
            "tiles of <= {max_tile} px ({} per frame): {}  {:.0} ms",
            obscura::detect::person::tiles(w, h, max_tile).len(),
            cells.join("  "),
            spent * 1000.0 / truth.frames.len().max(1) as f64
        );
    }
    Ok(())
}

fn identity(
    clip: &str,
    truth: &Truth,
    mot: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let analysis = truth::track_people(clip.as_ref())?;
    let seconds = started.elapsed().as_secs_f64();
    let all: Vec<&Track> = analysis
        .tracks
        .iter()
        .filter(|t| t.class == Class::Person)
        .collect();
    let listed: Vec<&Track> = all.iter().copied().filter(|t| t.confirmed).collect();
    println!(
        "identity: {} frames tracked in {seconds:.1} s; on the {} labelled frames:",
        analysis.info.frames,
        truth.frames.len()
    );
    for (name, tracks) in [
        ("listed (confirmed)", &listed),
        ("all (also obscured)", &all),
    ] {
        let (idf1, idp, idr, per_person, _, _) = score(truth, tracks);
        println!(
            "  {name} person tracks: {}: IDF1 {idf1:.3} (IDP {idp:.3}, IDR {idr:.3}), \
             {per_person:.2} tracks per labelled person",
            tracks.len()
        );
    }
    let (.., split, rows) = score(truth, &listed);
    for (person, ids) in &split {
        println!("  person {person}: listed tracks {ids:?}");
    }
    if let Some(path) = mot {
        // Never over an existing file (an input, an earlier run's output).
        use std::io::Write;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?
            .write_all(rows.as_bytes())?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: person_truth CLIP TRUTH.json [MOT.txt]";
    let clip = args.next().ok_or(usage)?;
    let truth = truth::load(args.next().ok_or(usage)?.as_ref())?;
    let mot = args.next();
    detection(&clip, &truth)?;
    identity(&clip, &truth, mot.as_deref())
}
