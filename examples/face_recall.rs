//! How many frames CenterFace finds a face in, per threshold and detection
//! scale, and how fast: the measurement behind the detector defaults.
//!
//! `cargo run --release --example face_recall -- CLIP [FRAMES]`

use obscura::detect::{Detector, FaceDetector, FaceSettings};
use obscura::media::{self, DecodeOptions};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let clip = args.next().ok_or("usage: face_recall CLIP [FRAMES]")?;
    let limit: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(40);
    println!("{clip}, first {limit} frames: frames with a face (detections), seconds per frame");
    for scale in [1.0f32, 1.5, 2.0] {
        // Detect once at the lowest threshold, count per threshold.
        let mut det = FaceDetector::new(
            FaceSettings {
                threshold: 0.2,
                scale,
                ..FaceSettings::default()
            },
            2,
        )?;
        let (_, frames) = media::open(&clip, &DecodeOptions::sequential())?;
        let thresholds = [0.2f32, 0.3, 0.5];
        let mut frames_with = [0usize; 3];
        let mut dets = [0usize; 3];
        let started = Instant::now();
        let mut n = 0;
        for f in frames.take(limit) {
            let f = f?;
            let found = det.detect(&f.view())?;
            for (i, t) in thresholds.iter().enumerate() {
                let k = found.iter().filter(|d| d.score > *t).count();
                dets[i] += k;
                frames_with[i] += usize::from(k > 0);
            }
            n += 1;
        }
        let spf = started.elapsed().as_secs_f64() / n.max(1) as f64;
        let cells: Vec<String> = thresholds
            .iter()
            .zip(frames_with.iter().zip(&dets))
            .map(|(t, (f, d))| format!("t{t}: {f} ({d})"))
            .collect();
        println!("scale {scale}: {}  {spf:.3} s/frame", cells.join("  "));
    }
    Ok(())
}
