//! `kill -9` at many points of long commands: whatever moment the process
//! dies, no file under a final name is partial, the audit chain stays
//! valid, the index tells the truth, and the next run cleans up and
//! succeeds.

use super::{ffprobe_frames, obscura, os, sample};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn spawn(args: &[&std::ffi::OsStr]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_obscura"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns")
}

/// Kills `child` with SIGKILL after `ms` milliseconds (if it still runs);
/// whether it had finished.
fn kill_after(mut child: Child, ms: u64) -> bool {
    std::thread::sleep(Duration::from_millis(ms));
    if let Ok(Some(status)) = child.try_wait() {
        return status.success();
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

fn audit_ok(db: &Path) {
    if db.exists() {
        let out = obscura(&[os("audit"), os("verify"), os("--db"), os(db)]);
        assert!(
            out.status.success(),
            "audit chain broken: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Delays (ms) spread over a run of a few seconds, start to finish.
const DELAYS: [u64; 8] = [30, 120, 300, 600, 1000, 1600, 2500, 4000];

#[test]
fn kill_9_during_transcode_and_redact_leaves_nothing_partial() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let input = sample("vtest.avi");
    let frames = Some(795);
    let db = d.join("trail.db");
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cameras/vtest.toml");
    for (i, ms) in DELAYS.iter().enumerate() {
        let t = d.join(format!("t{i}.mp4"));
        let done = kill_after(
            spawn(&[
                os("transcode"),
                os(&input),
                os("-o"),
                os(&t),
                os("--preset"),
                os("ultrafast"),
            ]),
            *ms,
        );
        if t.exists() {
            assert_eq!(
                ffprobe_frames(&t),
                frames,
                "transcode killed at {ms} ms left a partial {}",
                t.display()
            );
        } else {
            assert!(!done);
        }

        let r = d.join(format!("r{i}.mp4"));
        let record = d.join(format!("r{i}.mp4.redaction.json"));
        kill_after(
            spawn(&[
                os("redact"),
                os(&input),
                os("-o"),
                os(&r),
                os("--camera"),
                os(&profile),
                os("--operator"),
                os("o"),
                os("--reason"),
                os("kill test"),
                os("--no-detect"),
                os("--preset"),
                os("ultrafast"),
                os("--db"),
                os(&db),
            ]),
            *ms,
        );
        if r.exists() {
            assert_eq!(
                ffprobe_frames(&r),
                frames,
                "redact killed at {ms} ms left a partial output"
            );
            assert!(record.exists(), "an output without its record");
            let list = obscura(&[os("audit"), os("list"), os("--db"), os(&db), os("--json")]);
            assert!(
                String::from_utf8_lossy(&list.stdout).contains(&*r.to_string_lossy()),
                "an output with no audit entry"
            );
        }
        if record.exists() {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&record).expect("record"))
                    .expect("a whole record");
            assert!(r.exists(), "a record without its output");
            let sha = {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(std::fs::read(&r).expect("output")))
            };
            assert_eq!(v["output"]["sha256"], sha.as_str());
        }
        audit_ok(&db);
    }
    // The next run into the same folder removes what the killed runs left.
    let again = d.join("again.mp4");
    let out = obscura(&[
        os("transcode"),
        os(&input),
        os("-o"),
        os(&again),
        os("--preset"),
        os("ultrafast"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<String> = std::fs::read_dir(d)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("obscura-tmp"))
        .collect();
    assert!(left.is_empty(), "stale temporaries left: {left:?}");
}

#[test]
fn kill_9_during_index_keeps_the_index_truthful() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let db = d.join("index.db");
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cameras/vtest.toml");
    let rec = d.join("cam07_20261102_070000.avi");
    std::fs::copy(sample("vtest.avi"), &rec).expect("copy");
    for ms in DELAYS {
        kill_after(
            spawn(&[
                os("index"),
                os(&rec),
                os("--camera"),
                os(&profile),
                os("--db"),
                os(&db),
            ]),
            ms,
        );
        if db.exists() {
            let out = obscura(&[os("incidents"), os("--db"), os(&db), os("--json")]);
            assert!(
                out.status.success(),
                "index unreadable after a kill at {ms} ms: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            audit_ok(&db);
        }
    }
    let out = obscura(&[
        os("index"),
        os(&rec),
        os("--camera"),
        os(&profile),
        os("--db"),
        os(&db),
        os("--json"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(
        &obscura(&[os("incidents"), os("--db"), os(&db), os("--json")]).stdout,
    )
    .expect("json");
    let recordings: std::collections::BTreeSet<String> = rows
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["recording"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        recordings.len(),
        1,
        "one recording, indexed once: {recordings:?}"
    );
}

/// Three distinct ten-second recordings of camera 7 on 2026-10-01, indexed.
fn indexed_recordings(d: &Path, db: &Path) -> Vec<std::path::PathBuf> {
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cameras/vtest.toml");
    let mut recs = Vec::new();
    for (i, hour) in ["07", "08", "09"].iter().enumerate() {
        let rec = d.join(format!("cam07_20261001_{hour}0000.avi"));
        let status = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-ss",
                &format!("{}", i * 10),
                "-t",
                "10",
                "-i",
            ])
            .arg(sample("vtest.avi"))
            .args(["-c", "copy"])
            .arg(&rec)
            .status()
            .expect("ffmpeg");
        assert!(status.success());
        recs.push(rec);
    }
    let mut args = vec![os("index")];
    args.extend(recs.iter().map(os));
    args.extend([os("--camera"), os(&profile), os("--db"), os(db)]);
    let out = obscura(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    recs
}

#[test]
fn kill_9_during_export_and_retention_keeps_the_trail_and_index_truthful() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let db = d.join("index.db");
    let recs = indexed_recordings(d, &db);
    let ex = d.join("exhibits");
    let export = |reference: &str| -> Vec<std::ffi::OsString> {
        [
            "export",
            "--db",
            &db.to_string_lossy(),
            "--camera",
            "7",
            "--from",
            "2026-10-01 07:00:02",
            "--to",
            "2026-10-01 07:00:08",
            "--exhibit",
            reference,
            "--operator",
            "o",
            "--reason",
            "kill test",
            "-o",
            &ex.to_string_lossy(),
            "--working-copy",
            "--no-hold",
        ]
        .iter()
        .map(std::ffi::OsString::from)
        .collect()
    };
    for ms in [5, 40, 150, 400, 900] {
        let args = export("JS/9");
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let finished = kill_after(spawn(&args), ms);
        audit_ok(&db);
        let manifest = ex.join("JS_9").join("JS_9.manifest.json");
        let logged = || {
            let list = obscura(&[os("audit"), os("list"), os("--db"), os(&db), os("--json")]);
            String::from_utf8_lossy(&list.stdout).contains("JS/9")
        };
        if !ex.join("JS_9").exists() && logged() {
            // Killed between logging and renaming into place: the logged
            // exhibit waits whole, and the next export puts it in place.
            assert!(ex.join(".JS_9.obscura-placing").is_dir());
            let again = obscura(&args);
            assert!(
                !again.status.success() && ex.join("JS_9").is_dir(),
                "{}",
                String::from_utf8_lossy(&again.stderr)
            );
        }
        if ex.join("JS_9").exists() {
            // Placed whole or not at all, and logged when placed.
            let v = obscura(&[os("verify"), os(&manifest)]);
            assert!(
                v.status.success(),
                "a placed exhibit fails verify after a kill at {ms} ms: {}",
                String::from_utf8_lossy(&v.stdout)
            );
            assert!(logged(), "an exhibit on disk with no audit entry");
            break;
        }
        assert!(!finished, "the export finished but placed nothing");
    }

    // Retention, killed at several points: every file either still there
    // and still indexed, or deleted with an audit entry; a final run
    // completes whatever was left half done.
    for ms in [1, 5, 15, 40] {
        kill_after(
            spawn(&[
                os("retention"),
                os("--db"),
                os(&db),
                os("--days"),
                os("28"),
                os("--now"),
                os("2026-12-01"),
                os("--delete-files"),
            ]),
            ms,
        );
        audit_ok(&db);
    }
    let out = obscura(&[
        os("retention"),
        os("--db"),
        os(&db),
        os("--days"),
        os("28"),
        os("--now"),
        os("2026-12-01"),
        os("--delete-files"),
        os("--json"),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    audit_ok(&db);
    for r in &recs {
        assert!(!r.exists(), "{} outlived its retention", r.display());
    }
    let trail = String::from_utf8_lossy(
        &obscura(&[os("audit"), os("list"), os("--db"), os(&db), os("--json")]).stdout,
    )
    .into_owned();
    for r in &recs {
        let name = r
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            trail.contains(&name),
            "{name} deleted without an audit entry"
        );
    }
}
