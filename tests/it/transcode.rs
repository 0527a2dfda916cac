use crate::common::*;
use obscura::media::{AudioPolicy, DecodeOptions, EncodeOptions};
use obscura::pipeline::{self, PipelineOptions};
use obscura::ErrorKind;
use std::path::Path;

fn transcode(
    input: &Path,
    output: &Path,
    opts: &PipelineOptions,
) -> obscura::Result<pipeline::PipelineSummary> {
    let mut last = None;
    let r = pipeline::transcode(input, output, opts, &mut |p| last = Some(p));
    if r.is_ok() {
        let p = last.expect("progress was reported");
        assert_eq!(p.frames, p.total);
    }
    r
}

fn assert_same_timing(input: &Path, output: &Path) {
    assert_eq!(ffprobe_count_frames(output), ffprobe_count_frames(input));
    let (a, b) = (ffprobe_frame_times(input), ffprobe_frame_times(output));
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() < 1e-4, "frame {i}: pts {x} in, {y} out");
    }
    let dur = |p: &Path| -> f64 {
        ffprobe_stream(p, "v:0", "duration")
            .parse()
            .expect("a duration")
    };
    assert!(
        (dur(input) - dur(output)).abs() < 1e-3,
        "duration {} in, {} out",
        dur(input),
        dur(output)
    );
}

#[test]
fn transcode_keeps_frames_pts_duration_and_audio() {
    let dir = tempdir();
    let input = sample("bigbuckbunny.mp4");
    let before = file_sha256(&input);
    let out = dir.path().join("bbb.mp4");
    let s = transcode(&input, &out, &PipelineOptions::default()).expect("transcodes");
    assert_eq!(s.frames_out, 132);
    assert_eq!(s.audio_streams, 1);
    assert_same_timing(&input, &out);
    assert_eq!(ffprobe_stream(&out, "v:0", "codec_name"), "h264");
    assert_eq!(ffprobe_stream(&out, "a:0", "codec_name"), "aac");
    // Audio copied bit for bit: same packet count and duration.
    assert_eq!(
        ffprobe_stream(&out, "a:0", "duration"),
        ffprobe_stream(&input, "a:0", "duration")
    );
    assert_eq!(file_sha256(&input), before, "the input must never change");
    // Nothing else left in the output directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("bbb.mp4")]);
}

#[test]
fn transcode_of_avi_cctv_footage_keeps_timing_sequential_and_parallel() {
    let dir = tempdir();
    let input = sample("vtest.avi");
    for (name, decode) in [
        ("seq.mp4", DecodeOptions::sequential()),
        ("par.mp4", DecodeOptions::default()),
    ] {
        let out = dir.path().join(name);
        let opts = PipelineOptions {
            decode,
            encode: EncodeOptions {
                preset: obscura::media::Preset::Ultrafast,
                ..Default::default()
            },
        };
        transcode(&input, &out, &opts).expect("transcodes");
        assert_same_timing(&input, &out);
    }
}

#[test]
fn audio_can_be_dropped() {
    let dir = tempdir();
    let out = dir.path().join("silent.mp4");
    let opts = PipelineOptions {
        encode: EncodeOptions {
            audio: AudioPolicy::Drop,
            ..Default::default()
        },
        ..Default::default()
    };
    let s = transcode(&sample("bigbuckbunny.mp4"), &out, &opts).expect("transcodes");
    assert_eq!(s.audio_streams, 0);
    assert_eq!(ffprobe_stream(&out, "a", "codec_name"), "");
}

#[test]
fn a_stream_cut_short_gives_every_frame_it_holds_and_says_it_was_cut() {
    let dir = tempdir();
    // Index first (faststart), then cut inside a packet: the header
    // promises frames the file no longer has, and its last packet is
    // partial (the demuxer flags it corrupt; it is not a frame).
    let fast = dir.path().join("fast.mp4");
    make_clip(
        &sample("bikes.mp4"),
        &fast,
        &["-c", "copy", "-movflags", "+faststart"],
    );
    let bytes = std::fs::read(&fast).expect("read");
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let info = obscura::media::probe(&cut).expect("probes");
    let declared = info.header_frames.expect("the header declares its frames");
    assert!(info.frames > 0 && info.frames < declared, "{info:?}");
    assert_eq!(info.declared_frames_missing(), Some(declared));
    // FFmpeg's own count of the pictures it decodes from the cut file.
    assert_eq!(info.frames, ffprobe_count_frames(&cut));
    let out = dir.path().join("out.mp4");
    let s = transcode(&cut, &out, &PipelineOptions::default()).expect("transcodes what is there");
    assert_eq!(s.frames_in, info.frames);
    assert_eq!(s.frames_out, info.frames);
    assert_eq!(s.declared_frames, Some(declared));
    assert_eq!(ffprobe_count_frames(&out), info.frames);
    // An intact file says nothing of the kind.
    let whole = transcode(
        &fast,
        &dir.path().join("whole.mp4"),
        &PipelineOptions::default(),
    )
    .expect("transcodes");
    assert_eq!(whole.declared_frames, None);
    assert_eq!(whole.frames_out, declared);
}

/// `bytes` of `src` cut to about `fraction` of its length, ending `tail`
/// bytes past a multiple of `unit` (0: exactly on one).
fn cut_copy(src: &Path, dst: &Path, fraction: f64, unit: usize, tail: usize) {
    let bytes = std::fs::read(src).expect("read");
    let at = (bytes.len() as f64 * fraction) as usize / unit * unit + tail;
    std::fs::write(dst, &bytes[..at]).expect("write");
}

#[test]
fn transport_streams_and_matroska_cut_short_say_so_without_a_declared_count() {
    let dir = tempdir();
    let src = sample("bikes.mp4");
    let transcode_of = |input: &Path, name: &str| {
        transcode(input, &dir.path().join(name), &PipelineOptions::default())
            .expect("transcodes what is there")
    };
    // MPEG-TS (188-byte packets) and M2TS (192) have no frame count in
    // any header: a file that ends inside a packet was cut short.
    for (name, extra, unit) in [
        ("cam.ts", vec!["-c", "copy", "-f", "mpegts"], 188),
        (
            "cam.m2ts",
            vec!["-c", "copy", "-f", "mpegts", "-mpegts_m2ts_mode", "1"],
            192,
        ),
    ] {
        let whole = dir.path().join(name);
        make_clip(&src, &whole, &extra);
        let cut = dir.path().join(format!("cut-{name}"));
        cut_copy(&whole, &cut, 0.5, unit, 77);
        let info = obscura::media::probe(&cut).expect("probes");
        let how = info.cut_short.clone().expect("cut short");
        assert!(
            how.contains(&format!(
                "77 bytes into a {unit}-byte transport-stream packet"
            )),
            "{how}"
        );
        assert_eq!(info.header_frames, None);
        assert_eq!(info.frames, ffprobe_count_frames(&cut));
        let s = transcode_of(&cut, &format!("{name}.mp4"));
        assert_eq!(s.cut_short.as_deref(), Some(how.as_str()));
        assert_eq!((s.frames_in, s.frames_out), (info.frames, info.frames));
        // A whole file, and one cut exactly between packets (which no
        // file structure can tell from a whole one), say nothing.
        assert_eq!(
            obscura::media::probe(&whole).expect("probes").cut_short,
            None
        );
        let even = dir.path().join(format!("even-{name}"));
        cut_copy(&whole, &even, 0.5, unit, 0);
        assert_eq!(
            obscura::media::probe(&even).expect("probes").cut_short,
            None
        );
        assert_eq!(
            transcode_of(&whole, &format!("whole-{name}.mp4")).cut_short,
            None
        );
    }
    // Matroska declares its duration: packets that stop short of it.
    let mkv = dir.path().join("cam.mkv");
    make_clip(&src, &mkv, &["-c", "copy"]);
    let cut = dir.path().join("cut.mkv");
    cut_copy(&mkv, &cut, 0.5, 1, 0);
    let info = obscura::media::probe(&cut).expect("probes");
    let how = info.cut_short.clone().expect("cut short");
    assert!(
        how.starts_with("its header declares 10.0 s but its packets reach"),
        "{how}"
    );
    assert_eq!(info.frames, ffprobe_count_frames(&cut));
    assert_eq!(transcode_of(&cut, "mkv.mp4").cut_short, Some(how));
    assert_eq!(obscura::media::probe(&mkv).expect("probes").cut_short, None);
    // Timestamps that start late are not a shortfall: the declared
    // duration runs from 0.
    let late = dir.path().join("late.mkv");
    make_clip(&src, &late, &["-c", "copy", "-output_ts_offset", "100"]);
    assert_eq!(
        obscura::media::probe(&late).expect("probes").cut_short,
        None
    );
}

#[test]
fn invalid_options_and_outputs_are_refused_before_any_work() {
    let dir = tempdir();
    let input = sample("carphone_pristine.mp4");
    let bad_crf = PipelineOptions {
        encode: EncodeOptions {
            crf: 60,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = transcode(&input, &dir.path().join("a.mp4"), &bad_crf).expect_err("crf 60");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("expected >= 0, <= 51"), "{err}");
    let err = transcode(
        &input,
        &dir.path().join("a.avi"),
        &PipelineOptions::default(),
    )
    .expect_err("avi");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = transcode(&input, &input, &PipelineOptions::default()).expect_err("onto input");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

/// G.711 audio (IP cameras) cannot be copied into MP4: the refusal names
/// the way out, and `AudioPolicy::Aac` re-encodes it (the tone survives:
/// same length, same pitch by zero-crossing count).
#[test]
fn g711_audio_is_refused_for_copy_and_re_encoded_to_aac() {
    let dir = tempdir();
    for (name, codec, channels) in [("alaw.mov", "pcm_alaw", 1), ("mulaw.mkv", "pcm_mulaw", 2)] {
        let input = g711(dir.path(), name, codec, channels);
        let out = dir.path().join(format!("{name}.mp4"));
        let err = transcode(&input, &out, &PipelineOptions::default()).expect_err("copy refused");
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("audio aac"), "{err}");
        assert!(!out.exists());
        let opts = PipelineOptions {
            encode: EncodeOptions {
                audio: AudioPolicy::Aac,
                preset: obscura::media::Preset::Ultrafast,
                ..Default::default()
            },
            ..Default::default()
        };
        let s = transcode(&input, &out, &opts).expect("re-encodes");
        assert_eq!(s.audio_streams, 1);
        assert_eq!(ffprobe_stream(&out, "a:0", "codec_name"), "aac");
        assert_eq!(
            ffprobe_stream(&out, "a:0", "channels"),
            channels.to_string()
        );
        let dur: f64 = ffprobe_stream(&out, "a:0", "duration")
            .parse()
            .expect("a duration");
        assert!((dur - 4.0).abs() < 0.1, "{name}: audio {dur} s");
        // 440 Hz at 8 kHz: 880 zero crossings a second, 0.11 per sample.
        let stats = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-i"])
            .arg(&out)
            .args(["-map", "0:a", "-af", "astats", "-f", "null", "-"])
            .output()
            .expect("ffmpeg runs");
        let text = String::from_utf8_lossy(&stats.stderr);
        let rate: f64 = text
            .lines()
            .rev()
            .find_map(|l| l.split("Zero crossings rate: ").nth(1))
            .and_then(|v| v.trim().parse().ok())
            .expect("astats zero crossings");
        assert!(
            (rate - 0.11).abs() < 0.01,
            "{name}: zero-crossing rate {rate}"
        );
    }
}
