//! Redacts several clips with one [`Redactor`]: the models load once, in
//! `build()`, and every clip reuses them. The timings printed show it: the
//! build takes the model load, each clip only its own work.
//!
//! `cargo run --release --example redact_many -- OUT_DIR [CLIP...]`
//!
//! Without clips it redacts the three sample clips the setup fetched
//! (`carphone_pristine.mp4`, `bikes.mp4`, `vtest.avi` in
//! `$OBSCURA_HOME/samples`, default `~/.cache/obscura/samples`).

use obscura::pipeline::{Clip, Job, Redactor};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let out_dir = PathBuf::from(args.next().ok_or("usage: redact_many OUT_DIR [CLIP...]")?);
    let mut clips: Vec<PathBuf> = args.map(PathBuf::from).collect();
    if clips.is_empty() {
        let home = std::env::var_os("OBSCURA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/obscura")))
            .ok_or("set OBSCURA_HOME")?;
        clips = ["carphone_pristine.mp4", "bikes.mp4", "vtest.avi"]
            .iter()
            .map(|n| home.join("samples").join(n))
            .collect();
    }
    std::fs::create_dir_all(&out_dir)?;

    let t = Instant::now();
    // Every face and plate, the default.
    let mut redactor = Redactor::builder("example", "redact_many example").build()?;
    println!(
        "models loaded once: {} detection worker(s) in {:.2} s",
        redactor.detection_workers(),
        t.elapsed().as_secs_f64()
    );

    for input in &clips {
        let name = input.file_stem().ok_or("a clip without a name")?;
        let output = out_dir.join(name).with_extension("mp4");
        let t = Instant::now();
        let mut job = Job::new();
        let record = redactor.redact(&Clip::new(input, &output), &mut job)?;
        println!(
            "{} -> {}: {} frames, {} track(s), {} box(es) obscured in {:.2} s (no model load)",
            input.display(),
            output.display(),
            record.output.frames,
            record.counts.tracks,
            record.counts.obscured_boxes,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
