//! The `obscura` binary end to end: exit codes, one-line errors, JSON output,
//! and no output left behind on failure.

use backends::{backends, raw_sql, test_db, Backend};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod console;
mod evidence_trust;

fn home() -> PathBuf {
    match std::env::var_os("OBSCURA_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/obscura"),
    }
}

fn sample(name: &str) -> PathBuf {
    let p = home().join("samples").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/setup.sh`",
        p.display()
    );
    p
}

fn obscura(args: &[&std::ffi::OsStr]) -> Output {
    obscura_with_env(args, &[])
}

/// [`obscura`] with these environment variables set.
fn obscura_with_env(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_obscura"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .envs(env.iter().copied())
        .output()
        .expect("runs")
}

fn os(s: &(impl AsRef<std::ffi::OsStr> + ?Sized)) -> &std::ffi::OsStr {
    s.as_ref()
}

/// A failed run: non-zero exit, exactly one line on stderr that names the
/// file, no panic or backtrace.
fn assert_clean_failure(out: &Output, names: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(lines[0].starts_with("obscura: error: "), "{stderr}");
    let name = names.file_name().expect("a file name").to_string_lossy();
    assert!(
        lines[0].contains(name.as_ref()),
        "error should name {name}: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "{stderr}"
    );
}

/// Frames the reference decoder decodes (`ffprobe -count_frames`), if it can.
fn ffprobe_frames(path: &Path) -> Option<u64> {
    let out = Command::new("ffprobe")
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
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn probe_json_has_one_object_per_file() {
    let files = [sample("carphone_pristine.mp4"), sample("vtest.avi")];
    let out = obscura(&[os("probe"), os("--json"), os(&files[0]), os(&files[1])]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let arr = v.as_array().expect("an array");
    assert_eq!(arr.len(), 2);
    for key in [
        "path",
        "width",
        "height",
        "fps",
        "frames",
        "duration_s",
        "codec",
    ] {
        assert!(arr.iter().all(|o| o.get(key).is_some()), "missing {key}");
    }
    assert_eq!(arr[0]["frames"], 120);
    assert_eq!(arr[1]["frames"], 795);
    assert_eq!(arr[1]["width"], 768);
}

#[test]
fn transcode_writes_the_output_and_a_json_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("out.mp4");
    let out = obscura(&[
        os("transcode"),
        os(&sample("carphone_pristine.mp4")),
        os("-o"),
        os(&out_path),
        os("--preset"),
        os("ultrafast"),
        os("--json"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["frames_out"], 120);
    assert_eq!(v["frames_in"], 120);
    assert_eq!(entries(dir.path()), vec!["out.mp4"]);
}

#[test]
fn bad_inputs_fail_cleanly_with_no_output_left() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let empty = d.join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    let text = d.join("readme.mp4");
    std::fs::write(&text, "not a video at all\n".repeat(200)).expect("write");
    // An MP4 with its index at the end, cut in half: the index is gone.
    let bytes = std::fs::read(sample("bigbuckbunny.mp4")).expect("read");
    let half = d.join("half.mp4");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).expect("write");
    let tone = d.join("tone.m4a");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=1",
            "-c:a",
            "aac",
        ])
        .arg(&tone)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success());

    let before = entries(d);
    for input in [d.join("missing.mp4"), empty, text, half, tone] {
        let out_path = d.join("out.mp4");
        let out = obscura(&[os("transcode"), os(&input), os("-o"), os(&out_path)]);
        assert_clean_failure(&out, &input);
        let out = obscura(&[os("probe"), os(&input)]);
        assert_clean_failure(&out, &input);
        assert_eq!(
            entries(d),
            before,
            "nothing may be left behind for {}",
            input.display()
        );
    }
}

#[test]
fn unwritable_outputs_fail_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a_file = dir.path().join("plain.txt");
    std::fs::write(&a_file, b"x").expect("write");
    let input = sample("carphone_pristine.mp4");
    for out_path in [
        a_file.join("out.mp4"),                          // parent is a file
        dir.path().join("no/such/dir/out.mp4"),          // parent missing
        PathBuf::from("/proc/obscura-cannot-write.mp4"), // refused even to root
    ] {
        let out = obscura(&[os("transcode"), os(&input), os("-o"), os(&out_path)]);
        assert_clean_failure(&out, &out_path);
        assert!(!out_path.exists());
    }
    assert_eq!(entries(dir.path()), vec!["plain.txt"]);
}

/// Ctrl-C stops a long run at the next frame: exit 130, one message, and no
/// output or temporary file left behind.
#[test]
fn ctrl_c_stops_cleanly_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.mp4");
    // A clip long enough that the signal lands mid-run, even on a fast machine.
    let child = Command::new(env!("CARGO_BIN_EXE_obscura"))
        .args([
            os("redact"),
            sample("bigbuckbunny.mp4").as_os_str(),
            os("-o"),
        ])
        .arg(&out)
        .args(["--operator", "t", "--reason", "t", "--faces", "--plates"])
        .args(["--face-scale", "2", "--full-every", "1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let done = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn invalid_options_name_the_valid_range() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = sample("carphone_pristine.mp4");
    let out_path = dir.path().join("out.mp4");
    let out = obscura(&[
        os("transcode"),
        os(&input),
        os("-o"),
        os(&out_path),
        os("--preset"),
        os("warp"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("expected one of ultrafast"), "{stderr}");
    let out = obscura(&[
        os("transcode"),
        os(&input),
        os("-o"),
        os(&out_path),
        os("--crf"),
        os("52"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("expected >= 0, <= 51"), "{stderr}");
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn doctor_passes_on_a_set_up_machine() {
    let out = obscura(&[os("doctor"), os("--json")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let failed: Vec<_> = v
        .as_array()
        .expect("array")
        .iter()
        .filter(|c| c["ok"] != true)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(out.status.success());
}

#[test]
fn doctor_explains_a_broken_runtime_and_corrupt_model_without_panicking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).expect("mkdir");
    // A truncated CenterFace: wrong hash.
    let real = std::fs::read(home().join("models/centerface.onnx")).expect("set up");
    std::fs::write(models.join("centerface.onnx"), &real[..real.len() / 3]).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_obscura"))
        .args(["doctor", "--json"])
        .env("OBSCURA_HOME", dir.path())
        .env("OBSCURA_ORT_LIB", "/etc/hostname") // not a shared library
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let by_name = |n: &str| {
        v.as_array()
            .expect("array")
            .iter()
            .find(|c| c["name"] == n)
            .cloned()
            .expect("present")
    };
    let rt = by_name("onnxruntime");
    assert_eq!(rt["ok"], false);
    assert!(
        rt["detail"]
            .as_str()
            .expect("text")
            .contains("cannot load ONNX Runtime"),
        "{rt}"
    );
    let cf = by_name("model centerface");
    assert_eq!(cf["ok"], false);
    assert!(
        cf["detail"].as_str().expect("text").contains("expected"),
        "{cf}"
    );
}

#[test]
fn loading_the_models_writes_nothing_outside_obscuras_home() {
    // ONNX Runtime's own telemetry wrote a database with a device id under
    // $HOME/.cache/Microsoft on every start.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_obscura"))
        .args(["doctor", "--json"])
        .env("HOME", dir.path())
        .env("OBSCURA_HOME", home())
        .env_remove("ORT_DISABLE_TELEMETRY")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: Vec<_> = walkdir(dir.path());
    assert!(written.is_empty(), "written under HOME: {written:?}");
}

/// Every path under `dir`.
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("reads").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn doctor_says_how_the_models_memory_is_held() {
    let runtime_check = |arena: Option<&str>| {
        let env: Vec<(&str, &str)> = arena
            .map(|a| ("OBSCURA_ORT_ARENA", a))
            .into_iter()
            .collect();
        let out = obscura_with_env(&[os("doctor"), os("--json")], &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        v.as_array()
            .expect("array")
            .iter()
            .find(|c| c["name"] == "onnxruntime")
            .cloned()
            .expect("present")
    };
    for (arena, says) in [
        (None, "one shared arena"),
        (Some("shared"), "one shared arena"),
        (Some("per-session"), "one arena per session"),
    ] {
        let rt = runtime_check(arena);
        assert_eq!(rt["ok"], true, "{arena:?}: {rt}");
        assert!(
            rt["detail"].as_str().expect("text").contains(says),
            "{arena:?}: {rt}"
        );
    }
    let rt = runtime_check(Some("huge"));
    assert_eq!(rt["ok"], false, "{rt}");
    assert!(
        rt["detail"]
            .as_str()
            .expect("text")
            .contains("invalid OBSCURA_ORT_ARENA"),
        "{rt}"
    );
}

fn vtest_profile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cameras/vtest.toml")
}

#[test]
fn redact_writes_output_and_record_and_prints_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("cam7.mp4");
    let out = obscura(&[
        os("redact"),
        os(&sample("vtest.avi")),
        os("-o"),
        os(&out_path),
        os("--camera"),
        os(&vtest_profile()),
        os("--operator"),
        os("A Officer"),
        os("--reason"),
        os("privacy masks"),
        os("--no-detect"),
        os("--preset"),
        os("ultrafast"),
        os("--json"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["schema"], "obscura.redaction/2");
    assert_eq!(v["output"]["frames"], 795);
    assert_eq!(v["masks_applied"].as_array().expect("array").len(), 3);
    assert_eq!(
        entries(dir.path()),
        vec!["cam7.mp4", "cam7.mp4.redaction.json"]
    );
}

#[test]
fn unmask_without_authorisation_is_refused_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("cam7.mp4");
    let out = obscura(&[
        os("redact"),
        os(&sample("vtest.avi")),
        os("-o"),
        os(&out_path),
        os("--camera"),
        os(&vtest_profile()),
        os("--operator"),
        os("A Officer"),
        os("--reason"),
        os("looking in"),
        os("--unmask"),
        os("block-b-windows"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("authorisation"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn an_invalid_profile_is_refused_naming_file_and_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let prof = dir.path().join("cam1.toml");
    std::fs::write(
        &prof,
        "camera = 1\nname = \"n\"\ntown = \"t\"\ndesk = \"d\"\n[reference]\nwidth = 640\nheight = 480\n[[mask]]\nid = \"a\"\nstyle = \"mosaic\"\npolygon = [[1,1],[2,2]]\n",
    )
    .expect("write");
    let out_path = dir.path().join("o.mp4");
    let out = obscura(&[
        os("redact"),
        os(&sample("carphone_pristine.mp4")),
        os("-o"),
        os(&out_path),
        os("--camera"),
        os(&prof),
        os("--operator"),
        os("x"),
        os("--reason"),
        os("y"),
    ]);
    assert_clean_failure(&out, &prof);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mask[0]") && stderr.contains("expected >= 3"),
        "{stderr}"
    );
    assert_eq!(entries(dir.path()), vec!["cam1.toml"]);
}

#[test]
fn sar_workflow_tracks_then_redact_then_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = sample("carphone_pristine.mp4");
    let sheet = dir.path().join("sheet.png");
    // Faces only, as the redaction below: the same settings give the
    // same track ids.
    let out = obscura(&[
        os("tracks"),
        os(&input),
        os("--faces"),
        os("--json"),
        os("--sheet"),
        os(&sheet),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let tracks = v["tracks"].as_array().expect("tracks");
    assert_eq!(tracks.len(), 1, "{v}");
    assert_eq!(tracks[0]["class"], "face");
    let png = std::fs::read(&sheet).expect("contact sheet written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let red = dir.path().join("red.mp4");
    let out = obscura(&[
        os("redact"),
        os(&input),
        os("-o"),
        os(&red),
        os("--faces"),
        os("--operator"),
        os("D"),
        os("--reason"),
        os("SAR"),
        os("--preset"),
        os("ultrafast"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = obscura(&[os("verify-redaction"), os(&red), os("--json")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The unredacted input fails verification with exit code 2.
    let out = obscura(&[os("verify-redaction"), os(&input), os("--faces")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("residual detection"));
}

/// Faces and plates are detected unless told otherwise, by `redact` and
/// `tracks` alike, so a listing's ids are the ones the redaction keeps;
/// `--no-detect` draws masks and boxes only; contradictions are refused.
#[test]
fn redaction_detects_faces_and_plates_unless_told_otherwise() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = sample("carphone_pristine.mp4");
    let redact = |name: &str, extra: &[&str]| {
        let out_path = dir.path().join(name);
        let mut args = vec![
            os("redact"),
            os(&input),
            os("-o"),
            os(&out_path),
            os("--operator"),
            os("o"),
            os("--reason"),
            os("defaults"),
            os("--preset"),
            os("ultrafast"),
            os("--json"),
        ];
        args.extend(extra.iter().map(os));
        (obscura(&args), out_path)
    };
    let json = |out: &Output| -> serde_json::Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let (out, _) = redact("default.mp4", &[]);
    let default = json(&out);
    let settings = &default["detection"]["settings"];
    assert!(settings["faces"].is_object(), "{settings}");
    assert!(settings["plates"].is_object(), "{settings}");
    assert!(default["counts"]["obscured_boxes"].as_u64() > Some(0));

    // The listing at the same (default) settings names the same tracks.
    let out = obscura(&[
        os("tracks"),
        os(&input),
        os("--sheet"),
        os(&dir.path().join("s.png")),
        os("--json"),
    ]);
    let listed: Vec<(u64, String)> = json(&out)["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .map(|t| (t["id"].as_u64().unwrap_or(0), t["class"].to_string()))
        .collect();
    let redacted: Vec<(u64, String)> = default["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .map(|t| (t["id"].as_u64().unwrap_or(0), t["class"].to_string()))
        .collect();
    assert!(!listed.is_empty());
    assert_eq!(listed, redacted);

    let (out, _) = redact("faces.mp4", &["--faces"]);
    let faces = json(&out);
    assert!(faces["detection"]["settings"]["faces"].is_object());
    assert!(faces["detection"]["settings"]["plates"].is_null());

    let (out, _) = redact("none.mp4", &["--no-detect"]);
    let none = json(&out);
    assert!(none["detection"].is_null(), "{}", none["detection"]);
    assert_eq!(none["counts"]["obscured_boxes"], 0);
    assert!(
        none.get("scene").is_none(),
        "only a scene redaction says so"
    );
    // A scene redaction is recorded as one (and a replay may not change it).
    let (out, _) = redact("scene.mp4", &["--faces", "--scene"]);
    assert_eq!(json(&out)["scene"], true);

    // Contradictions are usage errors, and nothing is written.
    let (out, path) = redact("both.mp4", &["--faces", "--no-detect"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!path.exists());
    let record = dir.path().join("default.mp4.redaction.json");
    let record = record.to_string_lossy().into_owned();
    for flag in ["--plates", "--scene"] {
        let (out, path) = redact("replay.mp4", &["--replay", &record, flag]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(!path.exists());
    }
    let out = obscura(&[
        os("verify-redaction"),
        os(&dir.path().join("default.mp4")),
        os("--no-detect"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("always detects"));
}

#[test]
fn a_missing_model_or_runtime_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("o.mp4");
    let run = |home: &Path| {
        Command::new(env!("CARGO_BIN_EXE_obscura"))
            .args(["redact"])
            .arg(sample("carphone_pristine.mp4"))
            .arg("-o")
            .arg(&out_path)
            .args(["--faces", "--operator", "x", "--reason", "y"])
            .env("OBSCURA_HOME", home)
            .output()
            .expect("runs")
    };
    let empty = dir.path().join("empty-home");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let out = run(&empty);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("setup.sh") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!out_path.exists());
}

#[test]
fn a_missing_or_corrupt_person_model_is_one_clear_error_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A home with the runtime and the other models, but no person model.
    let home_dir = dir.path().join("home");
    let models = home_dir.join("models");
    std::fs::create_dir_all(&models).expect("mkdir");
    std::os::unix::fs::symlink(home().join("lib"), home_dir.join("lib")).expect("link");
    for m in [
        "centerface.onnx",
        "centerface-int8.onnx",
        "centerface-int8.onnx.sha256",
        "ch_PP-OCRv4_det_infer.onnx",
        "ch_PP-OCRv4_rec_infer.onnx",
    ] {
        std::os::unix::fs::symlink(home().join("models").join(m), models.join(m)).expect("link");
    }
    let out_path = dir.path().join("o.mp4");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_obscura"))
            .args(["redact"])
            .arg(sample("carphone_pristine.mp4"))
            .arg("-o")
            .arg(&out_path)
            .args(["--people", "--operator", "x", "--reason", "y"])
            .env("OBSCURA_HOME", &home_dir)
            .output()
            .expect("runs")
    };
    let check = |out: Output, says: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("nanodet") && stderr.contains(says) && stderr.contains("setup.sh"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!out_path.exists());
    };
    check(run(), "not been converted");
    // The converted model cut short after the setup checked it.
    let real = std::fs::read(home().join("models/nanodet-m-416.onnx")).expect("set up");
    std::fs::write(models.join("nanodet-m-416.onnx"), &real[..real.len() / 2]).expect("write");
    std::fs::copy(
        home().join("models/nanodet-m-416.onnx.sha256"),
        models.join("nanodet-m-416.onnx.sha256"),
    )
    .expect("copy");
    check(run(), "has sha256");
    // A stamp that is not a hash.
    std::fs::write(models.join("nanodet-m-416.onnx.sha256"), "garbage\n").expect("write");
    check(run(), "unreadable");
}

/// A 320x240 25 fps clip of `secs` seconds, grey with light noise, with a
/// white square crossing it during each `(from, to)` and a small static
/// mark at `mark` px (so clips differ in content), H.264.
fn clip(dir: &Path, name: &str, secs: u32, squares: &[(f64, f64)], mark: u32) -> PathBuf {
    let dst = dir.join(name);
    let mut graph =
        format!("[0:v]noise=alls=6:allf=t,drawbox=x={mark}:y=0:w=8:h=8:color=black:t=fill[s0]");
    for (k, (from, to)) in squares.iter().enumerate() {
        graph.push_str(&format!(
            ";color=c=white:s=40x40:r=25[b{k}];[s{k}][b{k}]overlay=x='20+100*(t-{from})':y=100:enable='between(t,{from},{to})':shortest=1[s{}]",
            k + 1
        ));
    }
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c=0x707070:s=320x240:r=25:d={secs}"))
        .args(["-filter_complex", &graph, "-map"])
        .arg(format!("[s{}]", squares.len()))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&dst)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dst
}

fn write_profile(dir: &Path, camera: u32, town: &str) -> PathBuf {
    let p = dir.join(format!("cam{camera}.toml"));
    std::fs::write(
        &p,
        format!(
            "camera = {camera}\nname = \"Cam {camera}\"\ntown = \"{town}\"\ndesk = \"A\"\ncoordinates = \"normalised\"\nfilename_pattern = \"c{camera}_%Y%m%d_%H%M%S.mp4\"\n"
        ),
    )
    .expect("write profile");
    p
}

fn ok_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn index_incidents_and_report_agree_in_json_and_csv() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = d.join("index.db");
    let p1 = write_profile(d, 1, "North");
    let p2 = write_profile(d, 2, "South");
    let nov1 = clip(
        d,
        "c1_20261102_090000.mp4",
        10,
        &[(1.0, 2.0), (6.0, 7.0)],
        0,
    );
    let oct1 = clip(d, "c1_20261020_090000.mp4", 10, &[(3.0, 4.0)], 10);
    let nov2 = clip(d, "c2_20261115_120000.mp4", 10, &[(3.0, 4.0)], 20);
    let v = ok_json(&obscura(&[
        os("index"),
        os(&nov1),
        os(&oct1),
        os("--camera"),
        os(&p1),
        os("--db"),
        os(&db),
        os("--json"),
    ]));
    assert_eq!(v["indexed"], 2);
    assert_eq!(v["incidents"], 3);
    let out = obscura(&[
        os("index"),
        os(&nov2),
        os("--camera"),
        os(&p2),
        os("--db"),
        os(&db),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 incident(s)") && text.contains("filename_pattern"),
        "{text}"
    );

    let all = ok_json(&obscura(&[
        os("incidents"),
        os("--db"),
        os(&db),
        os("--json"),
    ]));
    assert_eq!(all.as_array().expect("array").len(), 4);
    let nov = ok_json(&obscura(&[
        os("incidents"),
        os("--db"),
        os(&db),
        os("--from"),
        os("2026-11-01"),
        os("--to"),
        os("2026-12-01"),
        os("--json"),
    ]));
    let nov = nov.as_array().expect("array");
    assert_eq!(nov.len(), 3);
    let north = ok_json(&obscura(&[
        os("incidents"),
        os("--db"),
        os(&db),
        os("--town"),
        os("North"),
        os("--json"),
    ]));
    assert!(north
        .as_array()
        .expect("array")
        .iter()
        .all(|i| i["camera"] == 1));
    let csv = obscura(&[
        os("incidents"),
        os("--db"),
        os(&db),
        os("--camera"),
        os("2"),
        os("--csv"),
    ]);
    assert!(csv.status.success());
    let csv = String::from_utf8_lossy(&csv.stdout);
    let lines: Vec<_> = csv.lines().collect();
    assert!(lines[0].starts_with("id,camera,camera_name,town,desk,recording,start_utc"));
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].contains(",2026-11-15T12:00:01.520Z,"), "{csv}");

    let report = ok_json(&obscura(&[
        os("report"),
        os("--db"),
        os(&db),
        os("--month"),
        os("2026-11"),
        os("--compare"),
        os("previous"),
        os("--json"),
    ]));
    assert_eq!(report["total_incidents"], nov.len());
    let rows = report["rows"].as_array().expect("rows");
    let sum: u64 = rows
        .iter()
        .map(|r| r["incidents"].as_u64().expect("n"))
        .sum();
    assert_eq!(sum as usize, nov.len());
    assert_eq!(rows[0]["group"], "1");
    assert_eq!(rows[0]["previous_incidents"], 1);
    assert_eq!(rows[0]["change"], 1);
    let minutes: f64 = nov
        .iter()
        .map(|i| i["end_s"].as_f64().expect("s") - i["start_s"].as_f64().expect("s"))
        .sum::<f64>()
        / 60.0;
    let total = report["total_active_minutes"].as_f64().expect("minutes");
    assert!((total - minutes).abs() < 1e-9, "{total} vs {minutes}");
    // `none` is the month alone; anything else is refused in one line.
    let alone = ok_json(&obscura(&[
        os("report"),
        os("--db"),
        os(&db),
        os("--month"),
        os("2026-11"),
        os("--compare"),
        os("none"),
        os("--json"),
    ]));
    assert_eq!(alone["total_incidents"], nov.len());
    assert!(alone["rows"][0]["previous_incidents"].is_null(), "{alone}");
    let bad = obscura(&[
        os("report"),
        os("--db"),
        os(&db),
        os("--month"),
        os("2026-11"),
        os("--compare"),
        os("yesterday"),
    ]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid comparison period \"yesterday\""),
        "{stderr}"
    );
    let csv = obscura(&[
        os("report"),
        os("--db"),
        os(&db),
        os("--month"),
        os("2026-11"),
        os("--by"),
        os("town"),
        os("--csv"),
    ]);
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(
        csv.starts_with("month,town,cameras,incidents,active_minutes"),
        "{csv}"
    );
    assert!(csv.contains("2026-11,North,1 Cam 1,2,"), "{csv}");
    assert!(csv.contains("2026-11,South,2 Cam 2,1,"), "{csv}");
    let thumbs = d.join("thumbs");
    let out = obscura(&[
        os("incidents"),
        os("--db"),
        os(&db),
        os("--thumbnails"),
        os(&thumbs),
    ]);
    assert!(out.status.success());
    assert_eq!(entries(&thumbs).len(), 4);
}

#[test]
fn two_indexing_processes_at_once_lose_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = d.join("shared.db");
    let p = write_profile(d, 3, "East");
    let files: Vec<PathBuf> = (0..6)
        .map(|i| {
            clip(
                d,
                &format!("c3_20261105_0{i}0000.mp4"),
                6,
                &[(2.0, 3.0)],
                i * 9,
            )
        })
        .collect();
    let spawn = |part: &[PathBuf]| {
        Command::new(env!("CARGO_BIN_EXE_obscura"))
            .arg("index")
            .args(part)
            .args([
                os("--camera"),
                os(&p),
                os("--db"),
                os(&db),
                os("--threads"),
                os("1"),
            ])
            .arg("--json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawns")
    };
    let a = spawn(&files[..3]);
    let b = spawn(&files[3..]);
    let a = a.wait_with_output().expect("a finishes");
    let b = b.wait_with_output().expect("b finishes");
    let (va, vb) = (ok_json(&a), ok_json(&b));
    assert_eq!(
        (va["indexed"].as_u64(), vb["indexed"].as_u64()),
        (Some(3), Some(3))
    );
    let reported = va["incidents"].as_u64().expect("n") + vb["incidents"].as_u64().expect("n");
    assert_eq!(reported, 6, "one square per clip");
    let listed = ok_json(&obscura(&[
        os("incidents"),
        os("--db"),
        os(&db),
        os("--json"),
    ]));
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len() as u64, reported);
    let mut recordings: Vec<&str> = listed
        .iter()
        .map(|i| i["recording"].as_str().expect("path"))
        .collect();
    recordings.dedup();
    assert_eq!(recordings.len(), 6);
}

#[test]
fn a_corrupt_file_in_a_batch_is_reported_and_skipped() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = d.join("index.db");
    let p = write_profile(d, 4, "West");
    let good = clip(d, "c4_20261101_080000.mp4", 6, &[(2.0, 3.0)], 0);
    let bytes = std::fs::read(&good).expect("read");
    let bad = d.join("c4_20261101_090000.mp4");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).expect("write");
    let out = obscura(&[
        os("index"),
        os(&bad),
        os(&good),
        os("--camera"),
        os(&p),
        os("--db"),
        os(&db),
    ]);
    assert_clean_failure(&out, &bad);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("indexed 1 of 2 file(s)"), "{stdout}");
    let listed = ok_json(&obscura(&[
        os("incidents"),
        os("--db"),
        os(&db),
        os("--json"),
    ]));
    assert_eq!(listed.as_array().expect("array").len(), 1);

    let missing = d.join("nope.db");
    let out = obscura(&[
        os("report"),
        os("--db"),
        os(&missing),
        os("--month"),
        os("2026-11"),
    ]);
    assert_clean_failure(&out, &missing);
    assert!(!missing.exists(), "queries never create an index");
    let out = obscura(&[
        os("report"),
        os("--db"),
        os(&db),
        os("--month"),
        os("2026-13"),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected YYYY-MM"));
}

/// Runs obscura and returns (exit code, stdout JSON).
fn json_run(args: &[&std::ffi::OsStr]) -> (Option<i32>, serde_json::Value) {
    let out = obscura(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON expected ({e}): {stderr}"));
    (out.status.code(), v)
}

/// The whole evidence workflow through the CLI, on an SQLite file and on
/// PostgreSQL (`--db postgres://...`).
#[test]
fn evidence_end_to_end_export_verify_redact_disclose_audit() {
    for b in backends() {
        eprintln!("-- on {b:?}");
        evidence_end_to_end_export_verify_redact_disclose_audit_on(b);
    }
}

/// vtest.avi copied into `d` as camera 7's recording from 2026-11-03
/// 08:15:00 and indexed into `db`; returns the copy.
fn index_vtest_as_camera_7(d: &Path, db: &Path) -> PathBuf {
    let rec = d.join("cam07_20261103_081500.avi");
    std::fs::copy(sample("vtest.avi"), &rec).expect("copy");
    ok_json(&obscura(&[
        os("index"),
        os(&rec),
        os("--camera"),
        os(&vtest_profile()),
        os("--db"),
        os(db),
        os("--json"),
    ]));
    rec
}

fn evidence_end_to_end_export_verify_redact_disclose_audit_on(b: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let rec = index_vtest_as_camera_7(d, &db);
    let key = d.join("signing.key");
    let out = obscura(&[os("audit"), os("keygen"), os("--out"), os(&key)]);
    assert!(out.status.success());
    let public = d.join("signing.key.pub");
    let ex = d.join("exhibits");
    let (code, v) = json_run(&[
        os("export"),
        os("--db"),
        os(&db),
        os("--camera"),
        os("7"),
        os("--from"),
        os("2026-11-03 08:15:30"),
        os("--to"),
        os("2026-11-03 08:15:40"),
        os("--exhibit"),
        os("JS/1"),
        os("--operator"),
        os("J Smith"),
        os("--reason"),
        os("assault"),
        os("-o"),
        os(&ex),
        os("--key"),
        os(&key),
        os("--json"),
    ]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["frames"], 250);
    let manifest = PathBuf::from(v["manifest"].as_str().expect("path"));
    let master = PathBuf::from(v["masters"][0].as_str().expect("path"));
    let verify = |key: &Path| {
        json_run(&[
            os("verify"),
            os(&manifest),
            os("--public-key"),
            os(key),
            os("--json"),
        ])
    };
    let (code, v) = verify(&public);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["ok"], true);
    // Another key: exit 2.
    let other = d.join("other.key");
    assert!(
        obscura(&[os("audit"), os("keygen"), os("--out"), os(&other)])
            .status
            .success()
    );
    let (code, _) = verify(&d.join("other.key.pub"));
    assert_eq!(code, Some(2));
    // A changed byte in the master: exit 2 and the frame named.
    let original = std::fs::read(&master).expect("read");
    let mut bytes = original.clone();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&master, &bytes).expect("write");
    let (code, v) = verify(&public);
    assert_eq!(code, Some(2));
    assert!(
        v["first_bad_frame"]
            .as_str()
            .is_some_and(|s| s.contains("frame")),
        "{v}"
    );
    assert_eq!(v["files"][0]["ok"], false);
    std::fs::write(&master, &original).expect("restore");

    // A redaction with a lifted mask, logged; then its disclosure.
    let red = d.join("cam7.mp4");
    let out = obscura(&[
        os("redact"),
        os(&rec),
        os("-o"),
        os(&red),
        os("--camera"),
        os(&vtest_profile()),
        os("--unmask"),
        os("block-b-windows"),
        os("--authorisation"),
        os("RIPA-2026-77"),
        os("--operator"),
        os("A Officer"),
        os("--reason"),
        os("directed surveillance"),
        os("--no-detect"),
        os("--preset"),
        os("ultrafast"),
        os("--db"),
        os(&db),
        os("--key"),
        os(&key),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let disclose = [
        os("disclose"),
        os(&red),
        os("--db"),
        os(&db),
        os("--recipient"),
        os("Data subject (SAR 2026-118)"),
        os("--reason"),
        os("subject access request"),
        os("--operator"),
        os("A Officer"),
        os("--json"),
    ];
    // A record edited after its redaction was logged (its output still
    // the recorded one) is not disclosed, and nothing is logged.
    let record = d.join("cam7.mp4.redaction.json");
    let logged_record = std::fs::read(&record).expect("record");
    let mut edited: serde_json::Value = serde_json::from_slice(&logged_record).expect("json");
    edited["reason"] = "routine".into();
    std::fs::write(&record, serde_json::to_vec(&edited).expect("json")).expect("edit");
    let out = obscura(&disclose);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not the record logged"), "{err}");
    // verify-redaction with the trail refuses it as well, before detecting.
    let out = obscura(&[os("verify-redaction"), os(&red), os("--db"), os(&db)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("not the record logged"), "{err}");
    std::fs::write(&record, &logged_record).expect("restore");
    let (code, v) = json_run(&disclose);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["action"], "disclosure");
    let details: serde_json::Value =
        serde_json::from_str(v["details"].as_str().expect("details")).expect("json");
    assert_eq!(details["redaction_entry"], 3, "{details}");
    let (_, list) = json_run(&[os("audit"), os("list"), os("--db"), os(&db), os("--json")]);
    let actions: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        ["hold", "export", "redaction", "mask_lifted", "disclosure"]
    );
    let lifted = &list[3]["details"];
    assert!(lifted.as_str().expect("text").contains("RIPA-2026-77"));

    let audit_verify = |pk: &Path| {
        json_run(&[
            os("audit"),
            os("verify"),
            os("--db"),
            os(&db),
            os("--public-key"),
            os(pk),
            os("--json"),
        ])
    };
    let (code, v) = audit_verify(&public);
    assert_eq!(code, Some(0), "{v}");
    let (code, _) = audit_verify(&d.join("other.key.pub"));
    assert_eq!(code, Some(2));
    // Edit the redaction entry behind the triggers' back: exit 2, entry 3.
    raw_sql(
        &db,
        if b == Backend::Postgres {
            "DROP TRIGGER audit_no_update ON audit; UPDATE audit SET reason = 'routine' WHERE seq = 3;"
        } else {
            "DROP TRIGGER audit_no_update; UPDATE audit SET reason = 'routine' WHERE seq = 3;"
        },
    )
    .expect("tamper");
    let (code, v) = audit_verify(&public);
    assert_eq!(code, Some(2));
    assert_eq!(v["first_bad"]["seq"], 3, "{v}");
    assert_eq!(v["first_bad"]["problem"], "altered");

    // Retention: the exported recording is held, so nothing goes.
    let (code, v) = json_run(&[
        os("retention"),
        os("--db"),
        os(&db),
        os("--days"),
        os("1"),
        os("--dry-run"),
        os("--json"),
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(v["purged"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["held"].as_array().map(Vec::len), Some(1), "{v}");
}

#[test]
fn two_processes_appending_at_once_keep_one_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("trail.db");
    // An index database (the trail lives in it).
    drop(rusqlite::Connection::open(&db).expect("create"));
    // (`hold --list` only reads now, and refuses to migrate: upgrade it.)
    let out = obscura(&[os("audit"), os("upgrade"), os("--db"), os(&db)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    const EACH: usize = 25;
    let writer = |name: &'static str| {
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 0..EACH {
                let out = obscura(&[
                    os("audit"),
                    os("note"),
                    os("--db"),
                    os(&db),
                    os("--operator"),
                    os(name),
                    os("--subject"),
                    os(&format!("camera 7 review {i}")),
                    os("--reason"),
                    os("concurrency"),
                ]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        })
    };
    let a = writer("A");
    let b = writer("B");
    a.join().expect("a");
    b.join().expect("b");
    let (code, v) = json_run(&[os("audit"), os("verify"), os("--db"), os(&db), os("--json")]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["entries"], 2 * EACH as u64);
    let (_, list) = json_run(&[os("audit"), os("list"), os("--db"), os(&db), os("--json")]);
    let list = list.as_array().expect("array");
    for who in ["A", "B"] {
        assert_eq!(list.iter().filter(|e| e["operator"] == who).count(), EACH);
    }
}
#[path = "../../../../tests/support/backends.rs"]
mod backends;
mod corpus;
mod kill;
mod trust;

/// A PostgreSQL URL that cannot be used is one clear error line naming the
/// server (never the password), for readers and writers alike; a database
/// with no index is "not found" for the commands that only read.
#[test]
fn a_bad_postgres_url_is_one_clear_error_line_without_the_password() {
    let dir = tempfile::tempdir().expect("tmp");
    let clip = dir.path().join("cam.avi");
    std::fs::copy(sample("vtest.avi"), &clip).expect("copy");
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let url = format!("postgres://someone:s3cret-pw@127.0.0.1:{closed}/index");
    for args in [
        vec![os("incidents"), os("--db"), os(&url)],
        vec![os("audit"), os("verify"), os("--db"), os(&url)],
        vec![
            os("index"),
            os(&clip),
            os("--camera"),
            os(&vtest_profile()),
            os("--db"),
            os(&url),
        ],
    ] {
        let out = obscura(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("postgres://someone@127.0.0.1:{closed}/index"))
                && stderr.contains("cannot connect to PostgreSQL"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("s3cret"), "the password leaked: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = obscura(&[os("incidents"), os("--db"), os("postgres://[::1")]);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    // A reachable database Obscura has not used: nothing to read.
    if backends().contains(&Backend::Postgres) {
        let db = test_db(dir.path(), "unused", Backend::Postgres);
        let out = obscura(&[os("incidents"), os("--db"), os(&db)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("no Obscura index"), "{stderr}");
    }
}
