//! The bad-input corpus: files made here with the `ffmpeg` CLI (never
//! committed) in every shape recorders and cameras produce or damage, run
//! through every command that reads footage. For each file and command:
//! no panic; a failure is one clear line naming the file; nothing is left
//! under a final name; the input is unchanged; and where a command
//! succeeds, its frames add up exactly.

use super::{ffprobe_frames, obscura, os};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One corpus file, with its true frame count when it is intact.
struct Case {
    path: PathBuf,
    frames: Option<u64>,
}

fn ffmpeg(args: &[&str]) -> bool {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

fn sha(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|b| hex::encode(Sha256::digest(b)))
}

/// Test pattern source: `n` frames of `w`x`h` at 10 fps.
fn src(w: u32, h: u32, n: u32) -> String {
    format!(
        "testsrc2=size={w}x{h}:rate=10:duration={}",
        f64::from(n) / 10.0
    )
}

/// Builds the corpus in `dir`.
fn build(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name: &str, frames: Option<u64>, args: &[&str]| {
        let path = dir.join(name);
        let mut full: Vec<&str> = args.to_vec();
        let p = path.to_string_lossy().into_owned();
        full.push(&p);
        assert!(ffmpeg(&full), "ffmpeg could not make {name}: {args:?}");
        cases.push(Case { path, frames });
    };
    let s = src(160, 120, 20);
    let base = ["-f", "lavfi", "-i", s.as_str()];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };

    // Codecs and containers.
    add(
        "h264.mp4",
        Some(20),
        &with(&["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    );
    add(
        "h264_bframes.mkv",
        Some(20),
        &with(&["-c:v", "libx264", "-bf", "3", "-g", "8"]),
    );
    add(
        "hevc.mp4",
        Some(20),
        &with(&["-c:v", "libx265", "-x265-params", "log-level=none"]),
    );
    add(
        "mjpeg.avi",
        Some(20),
        &with(&["-c:v", "mjpeg", "-q:v", "5"]),
    );
    add(
        "xvid_bframes.avi",
        Some(20),
        &with(&[
            "-c:v", "mpeg4", "-vtag", "XVID", "-bf", "2", "-g", "10", "-q:v", "4",
        ]),
    );
    add("mpeg2.ts", Some(20), &with(&["-c:v", "mpeg2video"]));
    add(
        "mpeg1.mpg",
        None,
        &with(&["-c:v", "mpeg1video", "-r", "25"]),
    );
    add("vp8.webm", Some(20), &with(&["-c:v", "libvpx"]));
    add(
        "vp9.webm",
        Some(20),
        &with(&["-c:v", "libvpx-vp9", "-deadline", "realtime"]),
    );
    add(
        "av1.mkv",
        Some(20),
        &with(&[
            "-c:v",
            "libsvtav1",
            "-preset",
            "12",
            "-svtav1-params",
            "log-level=0",
        ]),
    );
    add("theora.ogv", Some(20), &with(&["-c:v", "libtheora"]));
    add("flv1.flv", Some(20), &with(&["-c:v", "flv"]));
    add("wmv2.wmv", Some(20), &with(&["-c:v", "wmv2"]));
    add("prores.mov", Some(20), &with(&["-c:v", "prores_ks"]));
    add(
        "ffv1_gray.mkv",
        Some(20),
        &with(&["-c:v", "ffv1", "-pix_fmt", "gray"]),
    );
    add(
        "raw_rgb24.nut",
        Some(20),
        &with(&["-c:v", "rawvideo", "-pix_fmt", "rgb24"]),
    );
    add(
        "h264_10bit.mkv",
        Some(20),
        &with(&["-c:v", "libx264", "-pix_fmt", "yuv420p10le"]),
    );
    add(
        "h264_444.mp4",
        Some(20),
        &with(&["-c:v", "libx264", "-pix_fmt", "yuv444p"]),
    );
    add(
        "h264_422.mkv",
        Some(20),
        &with(&["-c:v", "libx264", "-pix_fmt", "yuv422p"]),
    );
    add("gif.gif", Some(20), &with(&[]));
    add("single_png.png", Some(1), &with(&["-frames:v", "1"]));
    add(
        "interlaced.mkv",
        Some(20),
        &with(&[
            "-c:v",
            "libx264",
            "-flags",
            "+ilme+ildct",
            "-x264opts",
            "tff=1",
        ]),
    );
    // Picture sizes.
    for (name, w, h) in [
        ("odd_175x143.mkv", 175, 143),
        ("tiny_2x2.nut", 2, 2),
        ("one_1x1.nut", 1, 1),
        ("tall_16x2048.mkv", 16, 2048),
    ] {
        // testsrc2 cannot draw a 1x1 picture; testsrc can.
        let s = src(w, h, 10).replacen("testsrc2", "testsrc", 1);
        add(name, Some(10), &["-f", "lavfi", "-i", &s, "-c:v", "ffv1"]);
    }
    let big = src(4096, 2304, 2);
    add(
        "big_4096x2304.mkv",
        Some(2),
        &["-f", "lavfi", "-i", &big, "-c:v", "mjpeg", "-q:v", "20"],
    );
    // Timing: variable frame rate, rotation, a stream starting at 10 hours.
    add(
        "vfr.mkv",
        Some(20),
        &with(&[
            "-vf",
            "setpts='N/10/TB+if(gt(N,10),0.37/TB,0)'",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
        ]),
    );
    add(
        "rotated.mp4",
        Some(20),
        &with(&["-c:v", "libx264", "-metadata:s:v", "rotate=90"]),
    );
    add(
        "start_10h.ts",
        Some(20),
        &with(&["-c:v", "libx264", "-output_ts_offset", "36000"]),
    );
    // Audio alongside: AAC, G.711 A-law, MP3; and audio only.
    let tone = "sine=frequency=440:duration=2";
    add(
        "with_aac.mp4",
        Some(20),
        &with(&[
            "-f",
            "lavfi",
            "-i",
            tone,
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-shortest",
        ]),
    );
    add(
        "with_alaw.mkv",
        Some(20),
        &with(&[
            "-f",
            "lavfi",
            "-i",
            tone,
            "-c:v",
            "libx264",
            "-c:a",
            "pcm_alaw",
            "-ar",
            "8000",
            "-shortest",
        ]),
    );
    add(
        "with_mp3.avi",
        Some(20),
        &with(&[
            "-f",
            "lavfi",
            "-i",
            tone,
            "-c:v",
            "mpeg4",
            "-c:a",
            "libmp3lame",
            "-shortest",
        ]),
    );
    add(
        "audio_only.m4a",
        None,
        &["-f", "lavfi", "-i", tone, "-c:a", "aac"],
    );
    add("audio_only.wav", None, &["-f", "lavfi", "-i", tone]);
    // Two video streams.
    let s2 = src(96, 64, 20);
    add(
        "two_video.mkv",
        Some(20),
        &[
            "-f", "lavfi", "-i", &s, "-f", "lavfi", "-i", &s2, "-map", "0:v", "-map", "1:v",
            "-c:v", "libx264",
        ],
    );

    // Transport streams with timestamp jumps, forward and back, and a
    // resolution change: segments joined byte for byte as NVRs do.
    let seg = |name: &str, w: u32, h: u32, offset: &str| {
        let p = dir.join(format!("seg_{name}.ts"));
        let s = src(w, h, 10);
        let out = p.to_string_lossy().into_owned();
        assert!(ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &s,
            "-c:v",
            "libx264",
            "-output_ts_offset",
            offset,
            &out
        ]));
        std::fs::read(&p).expect("segment")
    };
    let a = seg("a", 160, 120, "0");
    let fwd = seg("fwd", 160, 120, "3600");
    let back = seg("back", 160, 120, "0.2");
    let other = seg("size", 320, 240, "1");
    for (name, parts) in [
        ("jump_forward.ts", vec![&a, &fwd]),
        ("jump_back.ts", vec![&a, &back]),
        ("size_change.ts", vec![&a, &other]),
    ] {
        let p = dir.join(name);
        std::fs::write(
            &p,
            parts
                .iter()
                .flat_map(|b| b.iter().copied())
                .collect::<Vec<u8>>(),
        )
        .expect("write");
        cases.push(Case {
            path: p,
            frames: None,
        });
    }
    for n in ["a", "fwd", "back", "size"] {
        let _ = std::fs::remove_file(dir.join(format!("seg_{n}.ts")));
    }

    // Damage: truncated at several points and overwritten in the middle.
    let intact: Vec<PathBuf> = [
        "h264.mp4",
        "h264_bframes.mkv",
        "xvid_bframes.avi",
        "mpeg2.ts",
        "mjpeg.avi",
        "hevc.mp4",
        "vp9.webm",
    ]
    .iter()
    .map(|n| dir.join(n))
    .collect();
    for p in &intact {
        let bytes = std::fs::read(p).expect("read");
        let stem = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (tag, keep) in [
            ("trunc10", bytes.len() / 10),
            ("trunc60", bytes.len() * 6 / 10),
        ] {
            let q = dir.join(format!("{tag}_{stem}"));
            std::fs::write(&q, &bytes[..keep]).expect("write");
            cases.push(Case {
                path: q,
                frames: None,
            });
        }
        let mut corrupt = bytes.clone();
        let (from, len) = (corrupt.len() / 2, (corrupt.len() / 8).max(16));
        let mut x: u32 = 0x9e37_79b9;
        for b in corrupt.iter_mut().skip(from).take(len) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        let q = dir.join(format!("corrupt_{stem}"));
        std::fs::write(&q, &corrupt).expect("write");
        cases.push(Case {
            path: q,
            frames: None,
        });
    }
    // Not video at all.
    for (name, bytes) in [
        ("empty.mp4", Vec::new()),
        ("text.mp4", b"this is not a video\n".repeat(50)),
        (
            "random.avi",
            (0..20_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        (
            "header_only.mp4",
            std::fs::read(dir.join("h264.mp4")).expect("read")[..64].to_vec(),
        ),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("write");
        cases.push(Case {
            path: p,
            frames: None,
        });
    }
    let d = dir.join("a_folder.mp4");
    std::fs::create_dir(&d).expect("dir");
    cases.push(Case {
        path: d,
        frames: None,
    });
    cases
}

/// What a run must show, success or not: no panic; on failure one line
/// on stderr naming the file. Problems are collected in `problems`, so one
/// run of the test lists them all.
fn check_run(out: &Output, file: &Path, what: &str, problems: &mut Vec<String>) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push(format!("{what} panicked on {name}: {stderr}"));
        return false;
    }
    if out.status.success() {
        return true;
    }
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if !(lines.len() == 1 && lines[0].starts_with("obscura: error: ") && lines[0].contains(&name)) {
        problems.push(format!(
            "{what} on {name}: expected one error line naming the file, got: {}",
            stderr.trim()
        ));
    }
    false
}

/// Records a problem unless `got == want`.
fn soft_eq<T: PartialEq + std::fmt::Debug>(
    problems: &mut Vec<String>,
    got: T,
    want: T,
    what: String,
) {
    if got != want {
        problems.push(format!("{what}: got {got:?}, expected {want:?}"));
    }
}

/// Records a problem unless `ok`.
fn expect(ok: bool, problems: &mut Vec<String>, what: impl FnOnce() -> String) {
    if !ok {
        problems.push(what());
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
fn every_command_meets_bad_input_cleanly_and_counts_frames_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).expect("dir");
    let cases = build(&corpus);
    assert!(cases.len() >= 60, "only {} corpus files", cases.len());
    let before: Vec<Option<String>> = cases.iter().map(|c| sha(&c.path)).collect();
    let profile = dir.path().join("cam.toml");
    std::fs::write(
        &profile,
        "camera = 5\nname = \"c\"\ntown = \"t\"\ndesk = \"d\"\ncoordinates = \"normalised\"\n[[mask]]\nid = \"w\"\nstyle = \"mosaic\"\npolygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]\n",
    )
    .expect("profile");
    let db = dir.path().join("index.db");
    let mut problems = Vec::new();

    for (i, case) in cases.iter().enumerate() {
        let file = &case.path;
        let out_dir = dir.path().join(format!("out{i}"));
        std::fs::create_dir(&out_dir).expect("dir");
        let o = |n: &str| out_dir.join(n);

        let probe = obscura(&[os("probe"), os("--json"), os(file)]);
        let probed = check_run(&probe, file, "probe", &mut problems)
            .then(|| json(&probe)[0]["frames"].as_u64())
            .flatten();
        if let (Some(p), Some(want)) = (probed, case.frames) {
            expect(p == want, &mut problems, || {
                format!("probe of {}: {p} frames, made with {want}", file.display())
            });
        }

        let decode = obscura(&[os("decode"), os(file), os("--json")]);
        if check_run(&decode, file, "decode", &mut problems) {
            soft_eq(
                &mut problems,
                json(&decode)["frames"].as_u64(),
                probed,
                format!("decode of {}", file.display()),
            );
        }

        let transcode = obscura(&[
            os("transcode"),
            os(file),
            os("-o"),
            os(&o("t.mp4")),
            os("--preset"),
            os("ultrafast"),
            os("--json"),
        ]);
        if check_run(&transcode, file, "transcode", &mut problems) {
            let v = json(&transcode);
            soft_eq(
                &mut problems,
                v["frames_out"].as_u64(),
                probed,
                format!("transcode of {}", file.display()),
            );
            soft_eq(
                &mut problems,
                ffprobe_frames(&o("t.mp4")),
                probed,
                format!("frames in the transcode of {}", file.display()),
            );
        }

        let redact = obscura(&[
            os("redact"),
            os(file),
            os("-o"),
            os(&o("r.mp4")),
            os("--camera"),
            os(&profile),
            os("--faces"),
            os("--operator"),
            os("o"),
            os("--reason"),
            os("corpus"),
            os("--preset"),
            os("ultrafast"),
            os("--json"),
        ]);
        if check_run(&redact, file, "redact", &mut problems) {
            let v = json(&redact);
            soft_eq(
                &mut problems,
                v["output"]["frames"].as_u64(),
                probed,
                format!("redact of {}", file.display()),
            );
            soft_eq(
                &mut problems,
                ffprobe_frames(&o("r.mp4")),
                probed,
                format!("frames in the redaction of {}", file.display()),
            );
            let verify = obscura(&[os("verify-redaction"), os(&o("r.mp4"))]);
            let code = verify.status.code();
            expect(matches!(code, Some(0) | Some(2)), &mut problems, || {
                format!(
                    "verify-redaction of the redaction of {}: {code:?} {}",
                    file.display(),
                    String::from_utf8_lossy(&verify.stderr)
                )
            });
        }

        let tracks = obscura(&[
            os("tracks"),
            os(file),
            os("--sheet"),
            os(&o("s.png")),
            os("--json"),
        ]);
        check_run(&tracks, file, "tracks", &mut problems);

        let verify = obscura(&[os("verify-redaction"), os(file), os("--faces")]);
        if verify.status.code() != Some(2) {
            check_run(&verify, file, "verify-redaction", &mut problems);
        }

        let index = obscura(&[
            os("index"),
            os(file),
            os("--camera"),
            os(&profile),
            os("--db"),
            os(&db),
            os("--start"),
            os("2026-11-02 07:00:00"),
        ]);
        check_run(&index, file, "index", &mut problems);

        // Nothing under a final name but the finished outputs.
        for entry in std::fs::read_dir(&out_dir).expect("dir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            expect(!name.contains("obscura-tmp"), &mut problems, || {
                format!("temporary file left: {name}")
            });
            let done = match name.as_str() {
                "t.mp4" => transcode.status.success(),
                "r.mp4" | "r.mp4.redaction.json" => redact.status.success(),
                "s.png" => tracks.status.success(),
                _ => false,
            };
            expect(done, &mut problems, || {
                format!("{name} left by a failed run on {}", file.display())
            });
        }
    }
    let after: Vec<Option<String>> = cases.iter().map(|c| sha(&c.path)).collect();
    for ((c, b), a) in cases.iter().zip(&before).zip(&after) {
        assert_eq!(b, a, "input changed: {}", c.path.display());
    }
    assert!(
        std::fs::read_dir(&corpus)
            .expect("dir")
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().contains("obscura-tmp")),
        "temporary files left beside the inputs"
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
