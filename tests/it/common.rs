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
    // MPEG-TS lists the stream under its program too: take the first.
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
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

// ---- Generated bad and awkward inputs (made with the ffmpeg CLI into a temp
// dir, never committed). Each returns the path it wrote.

/// Runs `ffmpeg -v error -y ARGS... DST`, panicking with its stderr on failure.
pub fn ffmpeg(args: &[&str], dst: &Path) -> PathBuf {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]).args(args).arg(dst);
    run(&mut cmd);
    dst.to_path_buf()
}

/// `src` played `times` times in a row, stream-copied (a long recording made
/// of a short one).
pub fn looped(src: &Path, dst: &Path, times: u32) -> PathBuf {
    let loops = times.saturating_sub(1).to_string();
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-stream_loop", &loops, "-i"])
        .arg(src)
        .args(["-c", "copy"])
        .arg(dst);
    run(&mut cmd);
    dst.to_path_buf()
}

/// A copy of `src` with `len` bytes from `offset` overwritten by
/// pseudo-random bytes from `seed` (the same damage on every run).
pub fn corrupt_copy(src: &Path, dst: &Path, offset: usize, len: usize, seed: u64) -> PathBuf {
    let mut bytes = std::fs::read(src).expect("readable");
    let end = (offset + len).min(bytes.len());
    let mut x = seed | 1;
    for b in &mut bytes[offset.min(end)..end] {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
    std::fs::write(dst, bytes).expect("writable");
    dst.to_path_buf()
}

/// MPEG-4 Part 2 in AVI, as older DVRs export it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Xvid {
    /// FFmpeg's mpeg4 encoder, 2 B-frames, 100-frame GOPs (open: the
    /// B-frames after a keyframe show before it). AVI stores no pts for the
    /// reordered pictures.
    BFrames,
    /// libxvid with 2 B-frames: a packed bitstream (P and B in one chunk,
    /// then a 6-byte placeholder), no pts at all.
    Packed,
    /// The same B-frame stream in Matroska, which keeps every pts: the
    /// open-GOP case that segment-parallel decoding really cuts.
    OpenGopMkv,
}

/// The first 40 s of vtest.avi as `kind` (the issue's repro file).
pub fn xvid(dir: &Path, kind: Xvid) -> PathBuf {
    let src = sample("vtest.avi");
    let src = src.to_str().expect("utf-8 sample path");
    let common = ["-i", src, "-t", "40", "-g", "100", "-q:v", "4"];
    let (name, extra): (&str, &[&str]) = match kind {
        Xvid::BFrames => (
            "xvid-bf2.avi",
            &["-c:v", "mpeg4", "-vtag", "XVID", "-bf", "2"],
        ),
        Xvid::Packed => ("xvid-packed.avi", &["-c:v", "libxvid", "-bf", "2"]),
        Xvid::OpenGopMkv => (
            "mpeg4-open-gop.mkv",
            &["-c:v", "mpeg4", "-bf", "2", "-g", "25"],
        ),
    };
    let args: Vec<&str> = common.iter().chain(extra).copied().collect();
    ffmpeg(&args, &dir.join(name))
}

/// vtest.avi with 300 KB overwritten 3 MB in (the issue's damaged copy): the
/// AVI demuxer loses 32 frames and renumbers the rest.
pub fn damaged_avi(dir: &Path) -> PathBuf {
    corrupt_copy(
        &sample("vtest.avi"),
        &dir.join("damaged.avi"),
        3_000_000,
        300_000,
        0x0b5c_0ba5,
    )
}

/// A 30-frame H.264 MP4 (GOP 10) with 2000 bytes overwritten mid-file: two
/// pictures cannot be decoded.
pub fn damaged_mp4(dir: &Path) -> PathBuf {
    let clean = dir.join("small.mp4");
    let bikes = sample("bikes.mp4");
    let bikes = bikes.to_str().expect("utf-8 sample path");
    ffmpeg(
        &[
            "-i", bikes, "-t", "1.2", "-an", "-c:v", "libx264", "-g", "10",
        ],
        &clean,
    );
    let len = std::fs::metadata(&clean).expect("written").len() as usize;
    corrupt_copy(&clean, &dir.join("damaged.mp4"), len / 2, 2000, 0x5eed)
}

/// 4 s of bikes.mp4 as H.264 in MPEG-TS whose clock starts at `offset_s`
/// (NVR exports start wherever the recorder's clock was: 36000 = 10 h).
pub fn ts_at(dir: &Path, name: &str, from_s: u32, offset_s: u32) -> PathBuf {
    let bikes = sample("bikes.mp4");
    let bikes = bikes.to_str().expect("utf-8 sample path");
    let (from, offset) = (from_s.to_string(), offset_s.to_string());
    ffmpeg(
        &[
            "-ss",
            &from,
            "-i",
            bikes,
            "-t",
            "4",
            "-an",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-output_ts_offset",
            &offset,
            "-f",
            "mpegts",
        ],
        &dir.join(name),
    )
}

/// Two 4 s MPEG-TS recordings joined byte for byte (as `cat` or a
/// recorder's restart does): the clock jumps forward by 1000 s, or back by
/// 1000 s when `back`.
pub fn ts_jump(dir: &Path, back: bool) -> PathBuf {
    let early = ts_at(dir, "early.ts", 0, 0);
    let late = ts_at(dir, "late.ts", 4, 1000);
    let (a, b) = if back { (late, early) } else { (early, late) };
    let mut bytes = std::fs::read(a).expect("readable");
    bytes.extend(std::fs::read(b).expect("readable"));
    let dst = dir.join(if back {
        "jump-back.ts"
    } else {
        "jump-forward.ts"
    });
    std::fs::write(&dst, bytes).expect("writable");
    dst
}

/// A 2 s, 175x143 MPEG-4 AVI (odd sizes: H.264 4:2:0 needs even ones).
pub fn odd_size(dir: &Path) -> PathBuf {
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=175x143:d=2",
            "-c:v",
            "mpeg4",
        ],
        &dir.join("odd-175x143.avi"),
    )
}

/// A 1 s, 1x1 grey FFV1 Matroska file.
pub fn one_pixel(dir: &Path) -> PathBuf {
    let raw = dir.join("one-pixel.gray");
    std::fs::write(&raw, [0x80u8; 25]).expect("writable");
    let raw = raw.to_str().expect("utf-8 temp path").to_string();
    ffmpeg(
        &[
            "-f", "rawvideo", "-pix_fmt", "gray", "-s", "1x1", "-r", "25", "-i", &raw, "-c:v",
            "ffv1",
        ],
        &dir.join("one-pixel.mkv"),
    )
}

/// MPEG-TS whose picture size changes after 25 frames (320x240, then
/// 176x144): two recordings joined byte for byte.
pub fn size_change(dir: &Path) -> PathBuf {
    let a = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=320x240:d=1",
            "-c:v",
            "mpeg4",
        ],
        &dir.join("size-a.ts"),
    );
    let b = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=176x144:d=1",
            "-c:v",
            "mpeg4",
        ],
        &dir.join("size-b.ts"),
    );
    let mut bytes = std::fs::read(a).expect("readable");
    bytes.extend(std::fs::read(b).expect("readable"));
    let dst = dir.join("size-change.ts");
    std::fs::write(&dst, bytes).expect("writable");
    dst
}

/// 2 s of bikes.mp4 (stream copy) with a 90° display matrix.
pub fn rotated(dir: &Path) -> PathBuf {
    let bikes = sample("bikes.mp4");
    let bikes = bikes.to_str().expect("utf-8 sample path");
    ffmpeg(
        &[
            "-i",
            bikes,
            "-t",
            "2",
            "-c",
            "copy",
            "-metadata:s:v",
            "rotate=90",
        ],
        &dir.join("rotated.mp4"),
    )
}

/// The display rotation ffprobe reads from a file's first video stream
/// ("" when none).
pub fn ffprobe_rotation(path: &Path) -> String {
    run(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream_side_data=rotation",
            "-of",
            "csv=p=0",
        ])
        .arg(path))
    .trim()
    .trim_matches(',')
    .to_string()
}

/// Matroska with two video streams: 2 s of bikes.mp4 (640x272) and of
/// vtest.avi (768x576).
pub fn two_video_streams(dir: &Path) -> PathBuf {
    let bikes = sample("bikes.mp4");
    let vtest = sample("vtest.avi");
    ffmpeg(
        &[
            "-i",
            bikes.to_str().expect("utf-8"),
            "-i",
            vtest.to_str().expect("utf-8"),
            "-map",
            "0:v",
            "-map",
            "1:v",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
        &dir.join("two-video.mkv"),
    )
}

/// 4 s of bikes.mp4 (video copied) with a 440 Hz tone as G.711 audio
/// (`pcm_alaw` or `pcm_mulaw`, 8 kHz, `channels`), in `name`'s container.
pub fn g711(dir: &Path, name: &str, codec: &str, channels: u32) -> PathBuf {
    let bikes = sample("bikes.mp4");
    let ac = channels.to_string();
    ffmpeg(
        &[
            "-i",
            bikes.to_str().expect("utf-8"),
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=10",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-t",
            "4",
            "-c:v",
            "copy",
            "-c:a",
            codec,
            "-ar",
            "8000",
            "-ac",
            &ac,
        ],
        &dir.join(name),
    )
}

/// The first frame of `path`, decoded.
pub fn first_frame(path: &Path) -> obscura::media::DecodedFrame {
    obscura::media::Decoder::open(path, 0)
        .expect("opens")
        .next()
        .expect("a frame")
        .expect("decodes")
}

#[path = "../support/backends.rs"]
mod backends;
pub use backends::*;
