//! Nothing lost, nothing misstated, no forgery accepted: regression tests
//! for the adversarial findings (outputs over inputs and records, forged or
//! invalid records, unbounded arguments, silent no-op profiles, temporary
//! files).

use super::{assert_clean_failure, entries, obscura, obscura_with_env, os, sample};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Output;

fn sha(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("readable")))
}

fn ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A copy of the carphone clip (a face, 120 frames of 176x144) in `dir`.
fn carphone(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(sample("carphone_pristine.mp4"), &p).expect("copy");
    p
}

/// A profile with one mask, in normalised coordinates.
fn profile(dir: &Path, name: &str, extra: &str, polygon: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "camera = 3\nname = \"c\"\ntown = \"t\"\ndesk = \"d\"\ncoordinates = \"normalised\"\n{extra}\n[[mask]]\nid = \"w\"\nstyle = \"mosaic\"\npolygon = {polygon}\n"
        ),
    )
    .expect("write profile");
    p
}

const SMALL_MASK: &str = "[[0.1, 0.1], [0.3, 0.1], [0.3, 0.3], [0.1, 0.3]]";

/// `obscura redact` with the flags every test here shares; masks and boxes
/// only (`--no-detect`) unless `extra` names faces or plates.
fn redact(input: &Path, output: &Path, extra: &[&std::ffi::OsStr]) -> Output {
    redact_with_env(input, output, extra, &[])
}

/// [`redact`] with these environment variables set.
fn redact_with_env(
    input: &Path,
    output: &Path,
    extra: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> Output {
    let mut args = redact_args(input, output, extra);
    args.push(os("--json"));
    obscura_with_env(&args, env)
}

/// The arguments of [`redact`], without `--json`.
fn redact_args<'a>(
    input: &'a Path,
    output: &'a Path,
    extra: &[&'a std::ffi::OsStr],
) -> Vec<&'a std::ffi::OsStr> {
    let detects = extra.iter().any(|a| *a == "--faces" || *a == "--plates");
    let mut args = vec![
        os("redact"),
        os(input),
        os("-o"),
        os(output),
        os("--operator"),
        os("A Officer"),
        os("--reason"),
        os("SAR 1"),
        os("--preset"),
        os("ultrafast"),
    ];
    if !detects {
        args.push(os("--no-detect"));
    }
    args.extend_from_slice(extra);
    args
}

#[test]
fn a_contact_sheet_never_replaces_the_input_or_an_existing_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = carphone(dir.path(), "f.mp4");
    let before = sha(&input);
    for force in [false, true] {
        let mut args = vec![os("tracks"), os(&input), os("--sheet"), os(&input)];
        if force {
            args.push(os("--force"));
        }
        let out = obscura(&args);
        assert_clean_failure(&out, &input);
        assert_eq!(sha(&input), before, "the input was changed");
        assert_eq!(entries(dir.path()), vec!["f.mp4"]);
    }
    // An existing sheet is kept unless replacing is asked for.
    let sheet = dir.path().join("sheet.png");
    std::fs::write(&sheet, b"earlier sheet").expect("write");
    let out = obscura(&[os("tracks"), os(&input), os("--sheet"), os(&sheet)]);
    assert_clean_failure(&out, &sheet);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&sheet).expect("read"), b"earlier sheet");
    let out = obscura(&[
        os("tracks"),
        os(&input),
        os("--sheet"),
        os(&sheet),
        os("--force"),
        os("--json"),
    ]);
    ok(&out);
    assert_eq!(&std::fs::read(&sheet).expect("read")[..4], b"\x89PNG");
}

#[test]
fn outputs_and_records_are_never_silently_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let input = carphone(d, "in.mp4");
    let prof = profile(d, "cam.toml", "", SMALL_MASK);
    let out_path = d.join("out.mp4");
    let record = d.join("out.mp4.redaction.json");
    let first = ok(&redact(&input, &out_path, &[os("--camera"), os(&prof)]));
    assert_eq!(first["output"]["frames"], 120);
    let (out_sha, record_bytes) = (sha(&out_path), std::fs::read(&record).expect("record"));

    // Again to the same name: refused before any work, nothing touched.
    let again = redact(&input, &out_path, &[os("--camera"), os(&prof)]);
    assert_clean_failure(&again, &out_path);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(sha(&out_path), out_sha);
    assert_eq!(std::fs::read(&record).expect("record"), record_bytes);

    // Replaying a record to its own output's name would replace the record
    // being replayed: refused even with --force.
    let replay = redact(
        &input,
        &out_path,
        &[os("--replay"), os(&record), os("--force")],
    );
    assert_clean_failure(&replay, &record);
    assert_eq!(std::fs::read(&record).expect("record"), record_bytes);

    // A camera profile that sits at OUTPUT.redaction.json is an input.
    let odd = d.join("odd.mp4");
    let odd_prof = profile(d, "odd.mp4.redaction.json", "", SMALL_MASK);
    let prof_bytes = std::fs::read(&odd_prof).expect("profile");
    let out = redact(
        &input,
        &odd,
        &[os("--camera"), os(&odd_prof), os("--force")],
    );
    assert_clean_failure(&out, &odd_prof);
    assert_eq!(std::fs::read(&odd_prof).expect("profile"), prof_bytes);
    assert!(!odd.exists());

    // With --force the output is replaced, the old record is kept under a
    // new name, and the new record says what it replaced.
    let forced = ok(&redact(
        &input,
        &out_path,
        &[os("--camera"), os(&prof), os("--force")],
    ));
    let replaced = &forced["replaced"];
    assert_eq!(replaced["output_sha256"], out_sha.as_str());
    let record_sha = hex::encode(Sha256::digest(&record_bytes));
    assert_eq!(replaced["record_sha256"], record_sha.as_str());
    let kept = PathBuf::from(replaced["record_kept_as"].as_str().expect("kept as"));
    assert_eq!(std::fs::read(&kept).expect("kept record"), record_bytes);
    assert_eq!(sha(&input), sha(&sample("carphone_pristine.mp4")));
    assert!(entries(d).iter().all(|n| !n.contains("obscura-tmp")));
}

#[test]
fn verify_redaction_refuses_a_record_that_is_not_the_files_or_excuses_too_much() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let input = carphone(d, "in.mp4");
    let red = d.join("red.mp4");
    let record = ok(&redact(&input, &red, &[os("--faces")]));
    assert_eq!(
        obscura(&[os("verify-redaction"), os(&red)]).status.code(),
        Some(0)
    );

    // The real record, offered for the unredacted clip: not its record.
    let real_record = d.join("red.mp4.redaction.json");
    let out = obscura(&[
        os("verify-redaction"),
        os(&input),
        os("--record"),
        os(&real_record),
    ]);
    assert_clean_failure(&out, &real_record);
    assert!(
        stderr(&out).contains("is not the record of"),
        "{}",
        stderr(&out)
    );

    // A forged record for the unredacted clip whose "kept track" covers
    // every whole frame: it hashes right, but a whole frame is no face's
    // box, so the face is still reported.
    let forged = d.join("forged.mp4");
    std::fs::copy(&input, &forged).expect("copy");
    let mut fake = record.clone();
    fake["output"]["sha256"] = sha(&forged).into();
    fake["output"]["path"] = forged.to_string_lossy().into_owned().into();
    let boxes: Vec<serde_json::Value> = (0..120)
        .map(|f| serde_json::json!([f, 0, 0, 176, 144]))
        .collect();
    fake["tracks"] = serde_json::json!([{
        "id": 1, "class": "face", "kept": true, "detections": 120, "boxes": boxes
    }]);
    fake["kept_tracks"] = serde_json::json!([{ "id": 1, "reason": "the requester" }]);
    let fake_path = d.join("forged.mp4.redaction.json");
    std::fs::write(&fake_path, serde_json::to_vec(&fake).expect("json")).expect("write");
    let out = obscura(&[os("verify-redaction"), os(&forged), os("--json")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // A record claiming a high threshold cannot make the check blind.
    let mut blunt = fake.clone();
    blunt["tracks"] = serde_json::json!([]);
    blunt["kept_tracks"] = serde_json::json!([]);
    blunt["detection"]["settings"]["faces"]["threshold"] = 0.99.into();
    std::fs::write(&fake_path, serde_json::to_vec(&blunt).expect("json")).expect("write");
    let out = obscura(&[os("verify-redaction"), os(&forged)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Kept tracks must be what the record says: a listed track it does not
    // hold, or one without a reason, is refused.
    for (kept, why) in [
        (
            serde_json::json!([{ "id": 9, "reason": "x" }]),
            "does not hold",
        ),
        (serde_json::json!([{ "id": 1, "reason": " " }]), "no reason"),
    ] {
        fake["kept_tracks"] = kept;
        std::fs::write(&fake_path, serde_json::to_vec(&fake).expect("json")).expect("write");
        let out = obscura(&[os("verify-redaction"), os(&forged)]);
        assert_clean_failure(&out, &fake_path);
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    }
}

#[test]
fn records_and_boxes_are_validated_and_bounded_by_the_clip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let input = carphone(d, "in.mp4");

    // A range far past the end is bounded by the clip's 120 frames (this
    // aborted on allocation before).
    let out_path = d.join("boxed.mp4");
    let v = ok(&redact(
        &input,
        &out_path,
        &[os("--box"), os("0-999999999999:0,0,10,10")],
    ));
    assert_eq!(v["counts"]["obscured_boxes"], 120);
    assert_eq!(v["counts"]["frames_with_boxes"], 120);

    // A box that starts after the end, or lies off the picture, is refused.
    for (arg, why) in [
        ("500-600:0,0,10,10", "within the clip"),
        ("0-5:-50,-50,10,10", "does not lie on"),
        ("0-5:176,0,10,10", "does not lie on"),
    ] {
        let o = d.join("bad.mp4");
        let out = redact(&input, &o, &[os("--box"), os(arg)]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(why), "{arg}: {}", stderr(&out));
        assert!(!o.exists());
    }

    // A replay record with negative boxes claiming to obscure a face, or a
    // huge manual range, is refused or bounded: never misstated.
    let record_path = d.join("boxed.mp4.redaction.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).expect("record")).expect("json");
    let mut neg = record.clone();
    neg["tracks"] = serde_json::json!([{
        "id": 1, "class": "face", "kept": false, "detections": 62,
        "boxes": (0..62).map(|f| serde_json::json!([f, -400, -400, 50, 50])).collect::<Vec<_>>()
    }]);
    let neg_path = d.join("neg.json");
    std::fs::write(&neg_path, serde_json::to_vec(&neg).expect("json")).expect("write");
    let o = d.join("replayed.mp4");
    let out = redact(&input, &o, &[os("--replay"), os(&neg_path)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not lie on"), "{}", stderr(&out));
    assert!(!o.exists());

    let mut huge = record;
    huge["manual_boxes"] =
        serde_json::json!([{ "first": 0, "last": 999_999_999_999u64, "rect": [0, 0, 10, 10] }]);
    let huge_path = d.join("huge.json");
    std::fs::write(&huge_path, serde_json::to_vec(&huge).expect("json")).expect("write");
    let v = ok(&redact(&input, &o, &[os("--replay"), os(&huge_path)]));
    assert_eq!(v["counts"]["obscured_boxes"], 120);

    // One worker per core is plenty; a thousand would hold a thousand
    // copies of the models.
    let out = redact(
        &input,
        &d.join("w.mp4"),
        &[os("--faces"), os("--detect-workers"), os("1000")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid detection workers 1000"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn profiles_that_would_do_nothing_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let input = carphone(d, "in.mp4");
    // A mask wholly outside the picture, and a sliver thinner than a pixel.
    for (name, poly) in [
        ("outside.toml", "[[1.5, 1.5], [2.0, 1.5], [2.0, 2.0]]"),
        (
            "sliver.toml",
            "[[0.1, 0.1], [0.9, 0.1], [0.9, 0.1001], [0.1, 0.1001]]",
        ),
    ] {
        let prof = profile(d, name, "", poly);
        let o = d.join("o.mp4");
        let out = redact(&input, &o, &[os("--camera"), os(&prof)]);
        assert!(!out.status.success(), "{name}");
        assert!(
            stderr(&out).contains("covers no pixel"),
            "{name}: {}",
            stderr(&out)
        );
        assert!(!o.exists());
    }
    // A file-name pattern that cannot give a time is refused at load.
    for pattern in ["cam_%Q.mp4", "cam_%Y%m%d_%H%M%", "cam.mp4", "cam_%Y.mp4"] {
        let prof = profile(
            d,
            "pattern.toml",
            &format!("filename_pattern = \"{pattern}\""),
            SMALL_MASK,
        );
        let out = redact(&input, &d.join("p.mp4"), &[os("--camera"), os(&prof)]);
        assert_clean_failure(&out, &prof);
        assert!(
            stderr(&out).contains("filename_pattern"),
            "{pattern}: {}",
            stderr(&out)
        );
        std::fs::remove_file(&prof).expect("remove");
    }
}

#[test]
fn long_names_work_and_stale_temporaries_are_cleaned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let input = carphone(d, "in.mp4");
    // A temporary file left by a run that was killed: its process is gone.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("wait");
    let stale = d.join(format!(".out.mp4.obscura-tmp-{dead}.mp4"));
    std::fs::write(&stale, b"half an output").expect("write");

    let long = d.join(format!("{}.mp4", "a".repeat(240)));
    let out = obscura(&[
        os("transcode"),
        os(&input),
        os("-o"),
        os(&long),
        os("--preset"),
        os("ultrafast"),
        os("--json"),
    ]);
    assert_eq!(ok(&out)["frames_out"], 120);
    assert!(long.is_file());
    assert!(!stale.exists(), "a stale temporary file was left");
}

#[test]
fn settings_given_are_used_or_refused_never_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let input = carphone(d, "in.mp4");
    // `tracks` detects faces (and plates) by default: at the scale and
    // threshold given.
    let out = obscura(&[
        os("tracks"),
        os(&input),
        os("--face-scale"),
        os("1000"),
        os("--sheet"),
        os(&d.join("s.png")),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid detection scale 1000"),
        "{}",
        stderr(&out)
    );
    // A NaN minimum score would let every detection through.
    let out = obscura(&[
        os("verify-redaction"),
        os(&input),
        os("--faces"),
        os("--min-score"),
        os("NaN"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid minimum score"),
        "{}",
        stderr(&out)
    );
}

/// `obscura redact --faces --plates` of carphone into `dir/name` with
/// `$OBSCURA_ORT_ARENA` set to `arena`.
fn redact_with_arena(dir: &Path, name: &str, arena: &str) -> Output {
    redact_with_env(
        &sample("carphone_pristine.mp4"),
        &dir.join(name),
        &[os("--faces"), os("--plates")],
        &[("OBSCURA_ORT_ARENA", arena)],
    )
}

#[test]
fn the_models_memory_arena_changes_memory_not_what_is_obscured() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut found = Vec::new();
    for (arena, name) in [("shared", "s.mp4"), ("per-session", "p.mp4")] {
        let out = redact_with_arena(dir.path(), name, arena);
        assert!(
            out.status.success(),
            "{arena}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{name}.redaction.json"))).expect("record"),
        )
        .expect("JSON record");
        assert!(
            record["counts"]["obscured_boxes"].as_u64().expect("count") > 0,
            "{arena}: carphone's face was not obscured: {}",
            record["counts"]
        );
        found.push((
            record["output"]["sha256"].clone(),
            record["tracks"].clone(),
            record["counts"].clone(),
        ));
    }
    assert_eq!(
        found[0], found[1],
        "the shared arena changed what was found or written"
    );
    // A setting it does not know is refused before any output appears.
    let out = redact_with_arena(dir.path(), "bad.mp4", "pooled");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid OBSCURA_ORT_ARENA \"pooled\"") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(!entries(dir.path()).iter().any(|e| e.starts_with("bad")));
}

/// bikes.mp4 stream-copied to `whole` (with `extra` output options), and
/// its first `keep(length)` bytes written to `cut`.
fn copy_and_cut(whole: &Path, extra: &[&str], cut: &Path, keep: impl Fn(usize) -> usize) {
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(sample("bikes.mp4"))
        .args(["-c", "copy"])
        .args(extra)
        .arg(whole)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success());
    let bytes = std::fs::read(whole).expect("read");
    std::fs::write(cut, &bytes[..keep(bytes.len())]).expect("write");
}

#[test]
fn a_recording_cut_short_is_redacted_in_full_and_the_record_says_it_was_cut() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fast = dir.path().join("fast.mp4");
    let cut = dir.path().join("cut.mp4");
    copy_and_cut(&fast, &["-movflags", "+faststart"], &cut, |len| len / 2);
    let out = dir.path().join("out.mp4");
    let run = redact(&cut, &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let record: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON");
    let held = record["input"]["frames"].as_u64().expect("frames");
    let declared = record["input"]["declared_frames"]
        .as_u64()
        .expect("declared frames in the record");
    assert!(held > 0 && held < declared, "{held} of {declared}");
    assert_eq!(record["output"]["frames"].as_u64(), Some(held));
    assert!(record["output"].get("declared_frames").is_none());
    // Without --json the officer is told.
    let out2 = dir.path().join("out2.mp4");
    let text = obscura(&redact_args(&cut, &out2, &[]));
    assert!(text.status.success());
    let said = String::from_utf8_lossy(&text.stdout);
    assert!(
        said.contains(&format!(
            "holds {held} of the {declared} frames its header declares"
        )),
        "{said}"
    );
    // An intact input's record has no such field.
    let whole = redact(&fast, &dir.path().join("whole.mp4"), &[]);
    let record: serde_json::Value = serde_json::from_slice(&whole.stdout).expect("JSON");
    assert!(record["input"].get("declared_frames").is_none(), "{record}");
}

#[test]
fn a_transport_stream_cut_short_is_redacted_in_full_and_the_record_says_how() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ts = dir.path().join("cam.ts");
    let cut = dir.path().join("cut.ts");
    copy_and_cut(&ts, &["-f", "mpegts"], &cut, |len| len / 2 / 188 * 188 + 50);
    let out = dir.path().join("out.mp4");
    let run = redact(&cut, &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let record: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON");
    let how = record["input"]["cut_short"]
        .as_str()
        .expect("cut_short in the record");
    assert_eq!(
        how,
        "the file ends 50 bytes into a 188-byte transport-stream packet"
    );
    assert!(record["input"].get("declared_frames").is_none());
    assert_eq!(record["output"]["frames"], record["input"]["frames"]);
    assert!(record["output"].get("cut_short").is_none());
    // Without --json the officer is told.
    let text = obscura(&redact_args(&cut, &dir.path().join("out2.mp4"), &[]));
    assert!(text.status.success());
    let said = String::from_utf8_lossy(&text.stdout);
    assert!(
        said.contains(&format!("the source was cut short: {how}; all ")),
        "{said}"
    );
    // probe and decode say it too, and say nothing of the whole file.
    for cmd in ["probe", "decode"] {
        let said = obscura(&[os(cmd), cut.as_os_str()]);
        assert!(said.status.success());
        let said = String::from_utf8_lossy(&said.stdout);
        assert!(
            said.contains(&format!("cut.ts: cut short: {how}\n")),
            "{said}"
        );
        let whole = obscura(&[os(cmd), ts.as_os_str()]);
        assert!(!String::from_utf8_lossy(&whole.stdout).contains("cut short"));
    }
    let whole = redact(&ts, &dir.path().join("whole.mp4"), &[]);
    let record: serde_json::Value = serde_json::from_slice(&whole.stdout).expect("JSON");
    assert!(record["input"].get("cut_short").is_none(), "{record}");
}
