//! Whole-frame face detection in tiles (the default input limit) against
//! one run per frame (no limit), on the same frames: recall, extra
//! detections, time and peak memory. The measurement behind
//! `FACE_INPUT_PIXELS`.
//!
//! `cargo run --release --example face_tiles -- CLIP [FRAMES]`
//!
//! A face the single run finds at score >= t counts as recalled when the
//! tiled run has a box over it (IoU >= 0.3) at score >= t - 0.1, and the
//! other way round for an extra. Peak memory is the process's high-water
//! mark, so the tiled run goes first.

use obscura::detect::{BBox, Detection, Detector, FaceDetector, FaceSettings};
use obscura::media::{self, DecodeOptions};
use std::time::Instant;

fn peak_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// Each frame's detections, and seconds per frame.
type Run = (Vec<Vec<Detection>>, f64);

fn run(clip: &str, limit: usize, frames: usize) -> Result<Run, Box<dyn std::error::Error>> {
    let mut det = FaceDetector::new(
        FaceSettings {
            threshold: 0.2,
            ..FaceSettings::default()
        },
        1,
    )?
    .with_input_limit(limit);
    let (_, decoded) = media::open(clip, &DecodeOptions::sequential())?;
    let mut all = Vec::new();
    let t = Instant::now();
    for f in decoded.take(frames) {
        all.push(det.detect(&f?.view())?);
    }
    let per_frame = t.elapsed().as_secs_f64() / all.len().max(1) as f64;
    Ok((all, per_frame))
}

/// Faces of `a` at score >= `t` with a box of `b` over them at >= t - 0.1.
fn found(a: &[Vec<Detection>], b: &[Vec<Detection>], t: f32) -> (usize, usize) {
    let over = |d: &BBox, others: &[Detection]| {
        others
            .iter()
            .any(|o| o.score >= t - 0.1 && o.bbox.iou(d) >= 0.3)
    };
    let (mut n, mut hit) = (0, 0);
    for (i, (fa, fb)) in a.iter().zip(b).enumerate() {
        for d in fa.iter().filter(|d| d.score >= t) {
            n += 1;
            if over(&d.bbox, fb) {
                hit += 1;
            } else if std::env::var_os("FACE_TILES_VERBOSE").is_some() {
                println!("  frame {i}: {:.2} at {:?} unmatched", d.score, d.bbox);
            }
        }
    }
    (n, hit)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let clip = args.next().ok_or("usage: face_tiles CLIP [FRAMES]")?;
    let frames: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(40);
    let limit = obscura::detect::FACE_INPUT_PIXELS;
    let (tiled, t_tiled) = run(&clip, limit, frames)?;
    let mb_tiled = peak_mb();
    let (single, t_single) = run(&clip, 0, frames)?;
    let mb_single = peak_mb();
    println!("{clip}, {} frames, 1 thread", single.len());
    println!(
        "single run: {:.0} ms/frame, peak {mb_single} MB; tiles (limit {limit}): {:.0} ms/frame, peak {mb_tiled} MB",
        t_single * 1e3,
        t_tiled * 1e3
    );
    for t in [0.3f32, 0.5] {
        let (n, hit) = found(&single, &tiled, t);
        let (m, back) = found(&tiled, &single, t);
        println!(
            "score >= {t}: single-run faces {n}, recalled by tiles {hit} ({:.3}); tiled faces {m}, extra {}",
            hit as f64 / n.max(1) as f64,
            m - back
        );
    }
    Ok(())
}
