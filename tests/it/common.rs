//! Shared helpers: sample footage from the setup's cache, ffprobe, temp dirs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the setup put models and footage.
pub fn home() -> PathBuf {
    match std::env::var_os("OBSCURA_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/obscura"),
    }
}

/// A sample clip fetched by `scripts/setup.sh`. Missing footage fails the
/// test (never skips it): the suite is meant to run on real video.
pub fn sample(name: &str) -> PathBuf {
    let p = home().join("samples").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/setup.sh` (the README's test command does)",
        p.display()
    );
    p
}

/// All sample clips.
pub fn all_samples() -> Vec<PathBuf> {
    [
        "carphone_pristine.mp4",
        "bikes.mp4",
        "bigbuckbunny.mp4",
        "vtest.avi",
    ]
    .iter()
    .map(|n| sample(n))
    .collect()
}

/// Runs a command, panicking with its stderr if it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ffprobe -count_frames`: frames the reference decoder decodes.
pub fn ffprobe_count_frames(path: &Path) -> u64 {
    let s = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path));
    s.trim()
        .parse()
        .unwrap_or_else(|e| panic!("ffprobe said {s:?}: {e}"))
}

/// Presentation times (seconds, as ffprobe prints them) of every video frame.
pub fn ffprobe_frame_times(path: &Path) -> Vec<f64> {
    let s = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=best_effort_timestamp_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path));
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_end_matches(',').parse().expect("a time"))
        .collect()
}

/// A stream's duration field as ffprobe reports it.
pub fn ffprobe_stream(path: &Path, selector: &str, entry: &str) -> String {
    run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            selector,
            "-show_entries",
            &format!("stream={entry}"),
            "-of",
            "csv=p=0",
        ])
        .arg(path))
    .trim()
    .to_string()
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Makes an H.264 clip with the ffmpeg CLI from `src`, with extra x264 args.
pub fn make_clip(src: &Path, dst: &Path, extra: &[&str]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-i"])
        .arg(src)
        .args(extra)
        .arg(dst);
    run(&mut cmd);
}

/// SHA-256 of a file's bytes.
pub fn file_sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).expect("readable")))
}
