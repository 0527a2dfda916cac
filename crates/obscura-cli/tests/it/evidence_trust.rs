//! Trust at the command line: read-only commands leave the index's bytes
//! alone, free text cannot forge a line of the audit listing, a killed
//! export leaves nothing under a final name, retention and index report
//! what they refused or found wrong.

use super::{clip, obscura, ok_json, os, sample, vtest_profile, write_profile};
use std::path::{Path, PathBuf};
use std::process::Command;

fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn state(db: &Path) -> (String, std::time::SystemTime) {
    (
        sha256(db),
        std::fs::metadata(db)
            .expect("meta")
            .modified()
            .expect("mtime"),
    )
}

#[test]
fn read_only_commands_leave_the_index_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = d.join("index.db");
    let p = write_profile(d, 1, "North");
    let c = clip(d, "c1_20261102_090000.mp4", 4, &[(1.0, 2.0)], 0);
    ok_json(&obscura(&[
        os("index"),
        os(&c),
        os("--camera"),
        os(&p),
        os("--db"),
        os(&db),
        os("--json"),
    ]));
    let note = obscura(&[
        os("audit"),
        os("note"),
        os("--db"),
        os(&db),
        os("--operator"),
        os("J Smith"),
        os("--subject"),
        os("camera 1"),
        os("--reason"),
        os("review"),
    ]);
    assert!(note.status.success());
    let before = state(&db);
    let runs: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![os("incidents"), os("--db"), os(&db), os("--json")],
        vec![
            os("report"),
            os("--db"),
            os(&db),
            os("--month"),
            os("2026-11"),
        ],
        vec![os("audit"), os("verify"), os("--db"), os(&db)],
        vec![os("audit"), os("list"), os("--db"), os(&db)],
        vec![
            os("retention"),
            os("--db"),
            os(&db),
            os("--dry-run"),
            os("--delete-files"),
        ],
        vec![os("hold"), os("--db"), os(&db), os("--list")],
    ];
    for args in &runs {
        let out = obscura(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(state(&db), before, "{args:?} changed the index file");
    }
}

#[test]
fn a_newline_in_free_text_cannot_forge_an_audit_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("index.db");
    drop(obscura_core::store::Store::open(&db).expect("create"));
    let forged = "viewed\n    2 2026-11-28T10:00:00.000Z disclosure       Chief           all footage — approved {}";
    let out = obscura(&[
        os("audit"),
        os("note"),
        os("--db"),
        os(&db),
        os("--operator"),
        os("J Smith"),
        os("--subject"),
        os("camera 1\r"),
        os("--reason"),
        os(forged),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = obscura(&[os("audit"), os("list"), os("--db"), os(&db)]);
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one entry and the count: {text}");
    assert!(lines[0].contains("camera 1\\r"), "{text}");
    assert!(lines[0].contains("viewed\\n    2 2026"), "{text}");
    assert_eq!(lines[1], "1 entries");
    // The stored value is as given; JSON escapes it by itself.
    let v = ok_json(&obscura(&[
        os("audit"),
        os("list"),
        os("--db"),
        os(&db),
        os("--json"),
    ]));
    assert_eq!(v[0]["reason"], forged);
}

fn export_args<'a>(db: &'a Path, out: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    vec![
        os("export"),
        os("--db"),
        os(db),
        os("--camera"),
        os("7"),
        os("--from"),
        os("2026-11-03 08:15:00"),
        os("--to"),
        os("2026-11-03 08:16:30"),
        os("--exhibit"),
        os("JS/1"),
        os("--operator"),
        os("J Smith"),
        os("--reason"),
        os("assault"),
        os("-o"),
        os(out),
        os("--working-copy"),
        os("--json"),
    ]
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn an_export_killed_mid_run_leaves_no_exhibit_and_the_reference_stays_usable() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = d.join("index.db");
    super::index_vtest_as_camera_7(d, &db);
    let ex = d.join("exhibits");
    let mut child = Command::new(env!("CARGO_BIN_EXE_obscura"))
        .args(export_args(&db, &ex))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let tmp = ex.join(format!(".JS_1.obscura-tmp-{}", child.id()));
    // Kill it while it writes the working copy (after the master).
    let mut seen = false;
    for _ in 0..6000 {
        if names(&tmp).iter().any(|n| n.contains("working")) {
            seen = true;
            break;
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    assert!(seen, "the export finished before it could be killed");
    // Only the temporary folder: no exhibit, nothing logged or held.
    assert_eq!(names(&ex), [format!(".JS_1.obscura-tmp-{}", child.id())]);
    let list = ok_json(&obscura(&[
        os("audit"),
        os("list"),
        os("--db"),
        os(&db),
        os("--json"),
    ]));
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
    let holds = ok_json(&obscura(&[
        os("hold"),
        os("--db"),
        os(&db),
        os("--list"),
        os("--json"),
    ]));
    assert_eq!(holds.as_array().map(Vec::len), Some(0), "{holds}");
    // The same reference again: exported, logged and held, and the killed
    // run's temporary folder is gone.
    let v = ok_json(&obscura(&export_args(&db, &ex)));
    let manifest = PathBuf::from(v["manifest"].as_str().expect("manifest"));
    assert_eq!(manifest, ex.join("JS_1").join("JS_1.manifest.json"));
    assert_eq!(names(&ex), ["JS_1"]);
    let r = obscura(&[os("verify"), os(&manifest)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stdout));
}

/// How many entries of `action` the audit trail of `db` holds.
fn logged(db: &Path, action: &str) -> usize {
    let list = ok_json(&obscura(&[
        os("audit"),
        os("list"),
        os("--db"),
        os(db),
        os("--json"),
    ]));
    (list.as_array().into_iter().flatten())
        .filter(|e| e["action"] == action)
        .count()
}

/// A kill between logging an export and renaming its folder into place
/// leaves `.REF.obscura-placing`; one between making that folder and
/// logging it leaves it unlogged. The next export of the reference settles
/// either, and never places what the trail does not hold.
#[test]
fn an_export_cut_short_around_its_audit_entry_is_settled_by_the_next() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = d.join("index.db");
    super::index_vtest_as_camera_7(d, &db);
    let ex = d.join("exhibits");
    let placing = ex.join(".JS_1.obscura-placing");
    let folder = ex.join("JS_1");
    let exports = || logged(&db, "export");

    // Made but never logged: removed, and the export goes ahead.
    std::fs::create_dir_all(&placing).expect("placing");
    std::fs::write(placing.join("JS_1.manifest.json"), b"{}").expect("write");
    let v = ok_json(&obscura(&export_args(&db, &ex)));
    assert_eq!(names(&ex), ["JS_1"]);
    assert_eq!(exports(), 1);
    let manifest = PathBuf::from(v["manifest"].as_str().expect("manifest"));
    let logged_sha = sha256(&manifest);

    // Logged but not yet in place: the next export puts it in place, says
    // so, and logs nothing new.
    std::fs::rename(&folder, &placing).expect("rename");
    let out = obscura(&export_args(&db, &ex));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("already exists") && err.contains("cut short"),
        "{err}"
    );
    assert_eq!(names(&ex), ["JS_1"]);
    assert_eq!(sha256(&manifest), logged_sha);
    let r = obscura(&[os("verify"), os(&manifest)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stdout));
    assert_eq!(exports(), 1);

    // A placing folder whose manifest is not the logged one is refused and
    // left alone: neither placed nor removed.
    std::fs::rename(&folder, &placing).expect("rename");
    let tampered = placing.join("JS_1.manifest.json");
    let mut bytes = std::fs::read(&tampered).expect("read");
    bytes.push(b'\n');
    std::fs::write(&tampered, &bytes).expect("write");
    let out = obscura(&export_args(&db, &ex));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not the one the audit trail logged"), "{err}");
    assert_eq!(names(&ex), [".JS_1.obscura-placing"]);
    assert_eq!(std::fs::read(&tampered).expect("read"), bytes);
    assert_eq!(exports(), 1);
}

/// With an audit trail, a redaction's output and record wait under staged
/// names until logged. A kill before the commit leaves them staged and
/// unlogged, one after it staged and logged: the next redaction into the
/// same output removes the first and puts the second in place.
#[test]
fn a_redaction_cut_short_around_its_audit_entry_is_settled_by_the_next() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = d.join("index.db");
    let input = clip(d, "in.mp4", 2, &[], 0);
    let out = d.join("out.mp4");
    let record = d.join("out.mp4.redaction.json");
    let staged_as = |p: &Path, how: &str| {
        let name = p.file_name().expect("name").to_string_lossy();
        p.with_file_name(format!(".{name}.obscura-{how}"))
    };
    let staged = |p: &Path| staged_as(p, "placing");
    let redact = || {
        obscura(&[
            os("redact"),
            os(&input),
            os("-o"),
            os(&out),
            os("--no-detect"),
            os("--preset"),
            os("ultrafast"),
            os("--operator"),
            os("D Officer"),
            os("--reason"),
            os("SAR 2026-120"),
            os("--db"),
            os(&db),
        ])
    };
    let redactions = || logged(&db, "redaction");

    // Staged but never logged: removed, and the redaction goes ahead.
    std::fs::write(staged(&out), b"half").expect("write");
    std::fs::write(staged(&record), b"{}").expect("write");
    let first = redact();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        names(d),
        ["in.mp4", "index.db", "out.mp4", "out.mp4.redaction.json"]
    );
    assert_eq!(redactions(), 1);
    let logged = (
        std::fs::read(&out).expect("out"),
        std::fs::read(&record).expect("rec"),
    );

    // Logged but not yet in place: the next redaction into the output puts
    // both in place, says so, and logs nothing new.
    std::fs::rename(&out, staged(&out)).expect("rename");
    std::fs::rename(&record, staged(&record)).expect("rename");
    let again = redact();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(err.contains("cut short"), "{err}");
    assert_eq!(
        names(d),
        ["in.mp4", "index.db", "out.mp4", "out.mp4.redaction.json"]
    );
    assert_eq!(std::fs::read(&out).expect("out"), logged.0);
    assert_eq!(std::fs::read(&record).expect("rec"), logged.1);
    assert_eq!(redactions(), 1);
    let v = obscura(&[os("audit"), os("verify"), os("--db"), os(&db)]);
    assert!(v.status.success());
    // An unsigned trail is not called intact without saying what that
    // cannot show; once its head is signed, it need not.
    let said = String::from_utf8_lossy(&v.stdout);
    assert!(
        said.contains("no head is signed: entries cut off the end of the trail would not show"),
        "{said}"
    );
    let keys = tempfile::tempdir().expect("temp dir");
    let key = keys.path().join("ops.key");
    assert!(obscura(&[os("audit"), os("keygen"), os("--out"), os(&key)])
        .status
        .success());
    let signed = obscura(&[
        os("audit"),
        os("sign"),
        os("--db"),
        os(&db),
        os("--key"),
        os(&key),
    ]);
    assert!(signed.status.success());
    let v = obscura(&[os("audit"), os("verify"), os("--db"), os(&db)]);
    assert!(v.status.success());
    assert!(!String::from_utf8_lossy(&v.stdout).contains("no head is signed"));

    // Staged to be placed (not replacing) while a file took the output's
    // name: that file is never replaced; both stay, and it says why.
    std::fs::rename(&out, staged(&out)).expect("rename");
    std::fs::rename(&record, staged(&record)).expect("rename");
    std::fs::write(&out, b"someone else's").expect("write");
    let blocked = redact();
    assert!(!blocked.status.success());
    assert_eq!(std::fs::read(&out).expect("out"), b"someone else's");
    assert!(staged(&out).is_file());

    // Staged by a run asked to replace (--force): placed over what is there.
    std::fs::rename(staged(&out), staged_as(&out, "replacing")).expect("rename");
    std::fs::rename(staged(&record), staged_as(&record, "replacing")).expect("rename");
    let settled = redact();
    assert!(
        String::from_utf8_lossy(&settled.stderr).contains("cut short"),
        "{}",
        String::from_utf8_lossy(&settled.stderr)
    );
    assert_eq!(std::fs::read(&out).expect("out"), logged.0);
    assert_eq!(std::fs::read(&record).expect("rec"), logged.1);
    assert_eq!(
        names(d),
        ["in.mp4", "index.db", "out.mp4", "out.mp4.redaction.json"]
    );
    assert_eq!(redactions(), 1);
}

#[test]
fn retention_names_a_fifo_it_refused_and_exits_1_and_a_reversed_range_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = d.join("index.db");
    let p = write_profile(d, 1, "North");
    let a = clip(d, "c1_20261002_090000.mp4", 2, &[], 0);
    let b = clip(d, "c1_20261003_090000.mp4", 2, &[], 30);
    ok_json(&obscura(&[
        os("index"),
        os(&a),
        os(&b),
        os("--camera"),
        os(&p),
        os("--db"),
        os(&db),
        os("--json"),
    ]));
    std::fs::remove_file(&b).expect("rm");
    let made = Command::new("mkfifo").arg(&b).status().expect("mkfifo");
    assert!(made.success());
    let out = obscura(&[
        os("retention"),
        os("--db"),
        os(&db),
        os("--delete-files"),
        os("--now"),
        os("2026-12-01"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("obscura: error: ") && lines[0].contains("c1_20261003_090000.mp4"),
        "{stderr}"
    );
    assert!(lines[0].contains("FIFO"), "{stderr}");
    assert!(!a.exists(), "the other recording went as due");

    let out = obscura(&[
        os("incidents"),
        os("--db"),
        os(&db),
        os("--from"),
        os("2026-11-10"),
        os("--to"),
        os("2026-11-01"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("later than to"), "{stderr}");
}

#[test]
fn index_names_duplicates_and_a_truncated_file_is_a_fault() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let db = d.join("index.db");
    let a = d.join("cam07_20261103_081500.avi");
    let whole = std::fs::read(sample("vtest.avi")).expect("read");
    std::fs::write(&a, &whole[..3_000_000]).expect("truncated copy");
    let b = d.join("cam07_20261104_081500.avi");
    std::fs::copy(&a, &b).expect("copy");
    let out = obscura(&[
        os("index"),
        os(&a),
        os(&b),
        os("--camera"),
        os(&vtest_profile()),
        os("--db"),
        os(&db),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("cam07_20261104_081500.avi: duplicate of")
            && stdout.contains("1 duplicate(s)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("cam07_20261103_081500.avi") && stderr.contains("of the 795 frames"),
        "{stderr}"
    );
}
