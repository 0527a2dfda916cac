//! `kill -9` at many points of long commands: whatever moment the process
//! dies, no file under a final name is partial, the audit chain stays
//! valid, the index tells the truth, and the next run cleans up and
//! succeeds.

use super::{obscura, os, sample};
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

fn ffprobe_frames(path: &Path) -> u64 {
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
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
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
    let frames = 795;
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
