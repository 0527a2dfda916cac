//! Evidence integrity on real footage: the audit chain catches every kind
//! of tampering, signatures need the right key, exports hold exactly the
//! frames covering the range, verify names a changed frame, and retention
//! never touches held or in-window recordings.

use crate::common::{
    drop_trigger, on_each_backend, raw_sql, run, sample, sql_text, tempdir, test_db, Backend,
};
use obscura::clock;
use obscura::evidence::audit::{Action, Entry, NewEntry, Problem};
use obscura::evidence::retention::{HoldTarget, RetentionOptions};
use obscura::evidence::sign::SecretKey;
use obscura::mask::camera::CameraProfile;
use obscura::media::{self, DecodeOptions, Decoder};
use obscura::motion::MotionOptions;
use obscura::pipeline::export::{self, ExportRequest};
use obscura::pipeline::indexing;
use obscura::store::Store;
use std::path::{Path, PathBuf};
use std::process::Command;

fn trail(db: &Path, n: usize) {
    let mut idx = Store::open(db).expect("open");
    for i in 0..n {
        idx.append_audit(
            &NewEntry::new("J Smith", Action::Note, format!("camera 7 #{i}"), "review")
                .with_details(serde_json::json!({ "i": i })),
        )
        .expect("append");
    }
}

/// Rewrites the trail as an attacker with the database file would:
/// triggers dropped, rows replaced.
fn tamper(db: &Path, edit: impl FnOnce(&mut Vec<Entry>)) {
    let mut entries = Store::open(db)
        .expect("open")
        .audit_entries()
        .expect("read");
    edit(&mut entries);
    drop_trigger(db, "audit_no_update", "audit");
    drop_trigger(db, "audit_no_delete", "audit");
    let mut sql = String::from("DELETE FROM audit;");
    for e in &entries {
        let t = |v: &str| sql_text(Some(v));
        sql.push_str(&format!(
            "INSERT INTO audit (seq, utc, operator, action, subject, reason, details, prev_hash,
                entry_hash, sig_ref) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {});",
            e.seq,
            t(&e.utc),
            t(&e.operator),
            t(&e.action),
            t(&e.subject),
            t(&e.reason),
            t(&e.details),
            t(&e.prev_hash),
            t(&e.entry_hash),
            sql_text(e.sig_ref.as_deref())
        ));
    }
    raw_sql(db, &sql).expect("rewrite the trail");
}

fn first_bad(db: &Path) -> (i64, Problem) {
    let r = Store::open(db)
        .expect("open")
        .verify_audit(None)
        .expect("verify");
    assert!(!r.ok);
    let b = r.first_bad.expect("a bad entry");
    (b.seq, b.problem)
}

#[test]
fn the_chain_detects_edits_deletions_insertions_and_reordering() {
    on_each_backend(the_chain_detects_edits_deletions_insertions_and_reordering_on);
}

fn the_chain_detects_edits_deletions_insertions_and_reordering_on(b: Backend) {
    let dir = tempdir();
    let fresh = |name: &str| {
        let db = test_db(dir.path(), name, b);
        trail(&db, 6);
        let r = Store::open(&db)
            .expect("open")
            .verify_audit(None)
            .expect("ok");
        assert!(r.ok && r.entries == 6, "{r:?}");
        db
    };
    // The triggers refuse ordinary edits.
    let db = fresh("plain.db");
    let err = raw_sql(&db, "UPDATE audit SET reason = 'x' WHERE seq = 2").expect_err("append-only");
    assert!(err.contains("append-only"), "{err}");
    let err = raw_sql(&db, "DELETE FROM audit WHERE seq = 2").expect_err("append-only");
    assert!(err.contains("append-only"), "{err}");
    if b == Backend::Postgres {
        let err = raw_sql(&db, "TRUNCATE audit").expect_err("append-only");
        assert!(err.contains("append-only"), "{err}");
    }
    assert!(
        Store::open(&db)
            .expect("open")
            .verify_audit(None)
            .expect("verify")
            .ok
    );

    // One byte flipped in an entry.
    let db = fresh("flip.db");
    tamper(&db, |v| {
        let mut b = v[3].subject.clone().into_bytes();
        b[0] ^= 0x01;
        v[3].subject = String::from_utf8(b).expect("ascii");
    });
    assert_eq!(first_bad(&db), (4, Problem::Altered));

    // One deleted, with and without renumbering the rest.
    let db = fresh("delete.db");
    tamper(&db, |v| {
        v.remove(2);
    });
    assert_eq!(first_bad(&db), (3, Problem::Deleted));
    let db = fresh("delete-renumber.db");
    tamper(&db, |v| {
        v.remove(2);
        for e in v.iter_mut().skip(2) {
            e.seq -= 1;
        }
    });
    assert_eq!(first_bad(&db), (3, Problem::Deleted));

    // One inserted: a well-formed entry chained to entry 2, the rest
    // renumbered after it.
    let db = fresh("insert.db");
    tamper(&db, |v| {
        let mut forged = v[1].clone();
        forged.seq = 3;
        forged.subject = "forged".into();
        forged.prev_hash = v[1].entry_hash.clone();
        forged.entry_hash = forged.computed_hash();
        for e in v.iter_mut().skip(2) {
            e.seq += 1;
        }
        v.insert(2, forged);
    });
    assert_eq!(first_bad(&db), (3, Problem::Inserted));

    // Two reordered: rows 3 and 4 swap places.
    let db = fresh("reorder.db");
    tamper(&db, |v| {
        v.swap(2, 3);
        v[2].seq = 3;
        v[3].seq = 4;
    });
    assert_eq!(first_bad(&db), (3, Problem::Reordered));
}

#[test]
fn head_signatures_need_the_right_key_and_catch_a_cut_tail() {
    on_each_backend(head_signatures_need_the_right_key_and_catch_a_cut_tail_on);
}

fn head_signatures_need_the_right_key_and_catch_a_cut_tail_on(b: Backend) {
    let dir = tempdir();
    let db = test_db(dir.path(), "signed.db", b);
    trail(&db, 4);
    let key = SecretKey::generate().expect("key");
    let other = SecretKey::generate().expect("key");
    let mut idx = Store::open(&db).expect("open");
    let sig = idx.sign_audit_head(&key).expect("sign").expect("head");
    assert_eq!(sig.seq, 4);
    let good = idx.verify_audit(Some(&key.public_key())).expect("verify");
    assert!(good.ok, "{good:?}");
    assert_eq!(good.unsigned_entries, Some(0));
    let wrong = idx.verify_audit(Some(&other.public_key())).expect("verify");
    assert!(!wrong.ok);
    assert_eq!(
        wrong.first_bad.as_ref().map(|b| b.problem),
        Some(Problem::Signature)
    );
    // A signature forged with another key under the stored public key.
    drop(idx);
    let forged = other.sign(b"obscura.audit-head/1\n4\nnothing\n");
    let forge = format!(
        "UPDATE audit_signatures SET signature = {}",
        sql_text(Some(&forged))
    );
    // Signatures are append-only: the trigger refuses, so the forger drops it.
    let err = raw_sql(&db, &forge).expect_err("append-only");
    assert!(err.contains("append-only"), "{err}");
    drop_trigger(&db, "audit_signatures_no_update", "audit_signatures");
    raw_sql(&db, &forge).expect("forge");
    let r = Store::open(&db)
        .expect("open")
        .verify_audit(None)
        .expect("verify");
    assert!(!r.ok, "{r:?}");
    // Cutting the tail leaves a valid-looking chain: the signed head shows it.
    let db2 = test_db(dir.path(), "cut.db", b);
    trail(&db2, 4);
    Store::open(&db2)
        .expect("open")
        .sign_audit_head(&key)
        .expect("sign");
    tamper(&db2, |v| {
        v.truncate(3);
    });
    let r = Store::open(&db2)
        .expect("open")
        .verify_audit(Some(&key.public_key()))
        .expect("verify");
    assert!(!r.ok);
    let b = r.first_bad.expect("bad");
    assert_eq!((b.seq, b.problem), (4, Problem::Signature), "{}", b.message);
}

/// Many writers appending at once (threads, each with its own connection,
/// as separate processes or machines would have) make one chain: every
/// entry there once, each writer's in its own order, the chain valid.
#[test]
fn eight_writers_at_once_make_one_valid_chain() {
    on_each_backend(|b| {
        let dir = tempdir();
        let db = test_db(dir.path(), "busy.db", b);
        drop(Store::open(&db).expect("create"));
        std::thread::scope(|s| {
            for w in 0..8 {
                let db = &db;
                s.spawn(move || {
                    let mut idx = Store::open(db).expect("open");
                    for i in 0..50 {
                        idx.append_audit(&NewEntry::new(
                            format!("writer {w}"),
                            Action::Note,
                            format!("w{w} #{i}"),
                            "load test",
                        ))
                        .expect("append");
                    }
                });
            }
        });
        let idx = Store::open(&db).expect("open");
        let r = idx.verify_audit(None).expect("verify");
        assert!(r.ok && r.entries == 400, "{b:?}: {r:?}");
        let entries = idx.audit_entries().expect("entries");
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=400).collect::<Vec<i64>>());
        for w in 0..8 {
            let mine: Vec<&str> = entries
                .iter()
                .filter(|e| e.operator == format!("writer {w}"))
                .map(|e| e.subject.as_str())
                .collect();
            let want: Vec<String> = (0..50).map(|i| format!("w{w} #{i}")).collect();
            assert_eq!(mine, want, "{b:?}: writer {w}");
        }
        // On PostgreSQL the writers queue on the advisory lock, so their
        // entries interleave: they really ran at once. (SQLite's busy
        // handler lets the writer holding the lock take it again, so there
        // they tend to run one after another.)
        if b == Backend::Postgres {
            let switches = entries
                .windows(2)
                .filter(|p| p[0].operator != p[1].operator)
                .count();
            assert!(switches > 7, "only {switches} changes of writer");
        }
    });
}

fn vtest_profile() -> CameraProfile {
    CameraProfile::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/cameras/vtest.toml"
    )))
    .expect("profile")
}

fn index_at(db: &Path, file: &Path, start: &str) {
    let opts = MotionOptions {
        threads: 2,
        thumbnail_width: 0,
        ..MotionOptions::default()
    };
    let r = indexing::index_files(
        db,
        &vtest_profile(),
        &[file.to_path_buf()],
        Some(clock::parse_time_arg(start).expect("time")),
        &opts,
        &|_, _| {},
    )
    .expect("index");
    r.into_iter().for_each(|r| {
        r.expect("indexed");
    });
}

fn request(dir: &Path, from: &str, to: &str, exhibit: &str) -> ExportRequest {
    ExportRequest {
        camera: 7,
        from: clock::parse_time_arg(from).expect("from"),
        to: clock::parse_time_arg(to).expect("to"),
        exhibit: exhibit.into(),
        operator: "J Smith".into(),
        reason: "assault outside the library".into(),
        out_dir: dir.join("exhibits"),
        working_copy: false,
        hold: true,
        decode: DecodeOptions::default(),
    }
}

fn frame_hashes(path: &Path) -> Vec<String> {
    let (_, frames) = media::open(path, &DecodeOptions::default()).expect("open");
    frames
        .map(|f| f.expect("frame").view().sha256_hex())
        .collect()
}

/// `ffmpeg -f framehash -hash sha256`: what anyone can check with.
fn ffmpeg_framehash(path: &Path) -> Vec<String> {
    let out = run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-f", "framehash", "-hash", "sha256", "-"]));
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next())
        .map(|h| h.trim().to_string())
        .collect()
}

#[test]
fn an_export_holds_exactly_the_frames_covering_the_range_and_verify_names_a_changed_frame() {
    on_each_backend(
        an_export_holds_exactly_the_frames_covering_the_range_and_verify_names_a_changed_frame_on,
    );
}

fn an_export_holds_exactly_the_frames_covering_the_range_and_verify_names_a_changed_frame_on(
    b: Backend,
) {
    let dir = tempdir();
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let rec = d.join("cam07_a.avi");
    std::fs::copy(sample("vtest.avi"), &rec).expect("copy");
    let rec_sha = crate::common::file_sha256(&rec);
    index_at(&db, &rec, "2026-11-03 08:15:00");
    let mut idx = Store::open(&db).expect("open");
    let key = SecretKey::generate().expect("key");
    // 10 fps, keyframes every 250 frames: 08:15:20.05..08:15:30 is frames
    // 200..299, inside the GOPs starting at 0 and 250: the copy is 0..500.
    let mut req = request(d, "2026-11-03T08:15:20.05Z", "2026-11-03 08:15:30", "JS/1");
    req.working_copy = true;
    let done = export::export(&mut idx, &req, Some(&key), &mut |_| {}).expect("export");
    assert_eq!(crate::common::file_sha256(&rec), rec_sha, "input untouched");
    let m = export::read_manifest(&done.manifest).expect("manifest");
    assert_eq!(m.masters.len(), 1);
    let master = &m.masters[0];
    assert_eq!(
        (
            master.cut.covers_first,
            master.cut.covers_last,
            master.cut.first_frame,
            master.cut.end_frame
        ),
        (200, 299, 0, 500)
    );
    assert_eq!(master.start_utc, "2026-11-03T08:15:00.000Z");
    assert_eq!(master.end_utc, "2026-11-03T08:15:50.000Z");
    assert_eq!(master.source.sha256, rec_sha);
    assert_eq!(master.frames[200].utc, "2026-11-03T08:15:20.000Z");
    // The master's frames are the source's frames 0..500, bit for bit, and
    // ffmpeg computes the same per-frame hashes.
    let path = done.masters[0].clone();
    let got = frame_hashes(&path);
    let want: Vec<String> = Decoder::open(&rec, 0)
        .expect("source")
        .take(500)
        .map(|f| f.expect("frame").view().sha256_hex())
        .collect();
    assert_eq!(got, want);
    let listed: Vec<String> = master.frames.iter().map(|f| f.sha256.clone()).collect();
    assert_eq!(listed, want);
    assert_eq!(ffmpeg_framehash(&path), want);
    assert_eq!(media::probe(&path).expect("probe").codec, "msmpeg4v3");
    // Logged and held.
    let r = idx.verify_audit(Some(&key.public_key())).expect("verify");
    assert!(r.ok, "{r:?}");
    let actions: Vec<String> = idx
        .audit_entries()
        .expect("entries")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["hold", "export"]);
    assert_eq!(idx.holds(true).expect("holds").len(), 1);

    // A range starting on a keyframe and ending mid-GOP.
    let req = request(d, "2026-11-03 08:15:25", "2026-11-03 08:15:26", "JS/2");
    let two = export::export(&mut idx, &req, None, &mut |_| {}).expect("export");
    let m2 = export::read_manifest(&two.manifest).expect("manifest");
    assert_eq!(
        (m2.masters[0].cut.first_frame, m2.masters[0].cut.end_frame),
        (250, 500)
    );
    assert_eq!(m2.masters[0].frames[0].source_index, 250);
    // The same exhibit again is refused, nothing overwritten.
    let e = export::export(&mut idx, &req, None, &mut |_| {}).expect_err("exists");
    assert_eq!(e.kind(), obscura::ErrorKind::InvalidArgument);

    let verify = |pk: Option<&obscura::evidence::sign::PublicKey>| {
        export::verify_manifest(&done.manifest, pk, &DecodeOptions::default(), &mut |_| {})
            .expect("verify")
    };
    let ok = verify(Some(&key.public_key()));
    assert!(ok.ok, "{ok:?}");
    assert_eq!(ok.files.len(), 2, "master and working copy");
    let other = SecretKey::generate().expect("key");
    let wrong = verify(Some(&other.public_key()));
    assert!(!wrong.ok);
    assert!(!wrong.signature.expect("checked").ok);

    // One frame changed: a byte in the middle of the last picture before
    // the keyframe at 250 (nothing refers to it, so only it changes).
    let packets = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts,pos,size",
            "-of",
            "compact=p=0",
        ])
        .arg(&path));
    // Lines of `key=value|key=value` (ffprobe orders the keys itself).
    let field = |l: &str, k: &str| -> Option<u64> {
        l.split('|')
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
    };
    let (pos, size) = packets
        .lines()
        .find(|l| field(l, "pts") == Some(249))
        .and_then(|l| Some((field(l, "pos")?, field(l, "size")?)))
        .expect("packet 249");
    let original = std::fs::read(&path).expect("read");
    let mut bytes = original.clone();
    bytes[(pos + size / 2) as usize] ^= 0x55;
    std::fs::write(&path, &bytes).expect("write");
    let bad = verify(None);
    assert!(!bad.ok);
    let f = &bad.files[0];
    assert_ne!(f.actual_sha256.as_deref(), Some(f.expected_sha256.as_str()));
    assert_eq!(f.bad_frames.first().map(|b| b.index), Some(249), "{f:?}");
    assert_eq!(f.bad_frame_count, 1, "{f:?}");
    assert!(bad
        .first_bad_frame
        .as_deref()
        .is_some_and(|s| s.contains("frame 249")));

    // A master cut short: the missing frames are named.
    std::fs::write(&path, &original[..original.len() * 3 / 5]).expect("truncate");
    let bad = verify(None);
    assert!(!bad.ok);
    assert!(bad.files[0].bad_frame_count > 0);

    // An edited manifest breaks its signature.
    std::fs::write(&path, &original).expect("restore");
    assert!(verify(Some(&key.public_key())).ok);
    let text = std::fs::read_to_string(&done.manifest).expect("read");
    std::fs::write(
        &done.manifest,
        text.replace("assault outside", "assault inside"),
    )
    .expect("edit");
    let r = verify(Some(&key.public_key()));
    assert!(!r.ok && !r.signature.expect("sig").ok);
}

#[test]
fn b_frame_h264_exports_cut_at_keyframes_and_verify() {
    on_each_backend(b_frame_h264_exports_cut_at_keyframes_and_verify_on);
}

fn b_frame_h264_exports_cut_at_keyframes_and_verify_on(b: Backend) {
    let dir = tempdir();
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let rec = d.join("bikes.mp4");
    std::fs::copy(sample("bikes.mp4"), &rec).expect("copy");
    index_at(&db, &rec, "2026-11-04 10:00:00");
    let mut idx = Store::open(&db).expect("open");
    let req = request(d, "2026-11-04 10:00:02", "2026-11-04 10:00:04", "B/1");
    let done = export::export(&mut idx, &req, None, &mut |_| {}).expect("export");
    let m = export::read_manifest(&done.manifest).expect("manifest");
    let c = &m.masters[0].cut;
    let info = media::probe(&rec).expect("probe");
    let keys: Vec<u64> = info.keyframes.iter().map(|k| k.index).collect();
    assert!(keys.contains(&c.first_frame));
    assert!(c.first_frame <= c.covers_first && c.covers_last < c.end_frame);
    // No whole GOP too many: no keyframe between the range and the cut ends.
    assert!(!keys
        .iter()
        .any(|&k| (k > c.first_frame && k <= c.covers_first)
            || (k > c.covers_last && k < c.end_frame)));
    let want: Vec<String> = {
        let key = info
            .keyframes
            .iter()
            .find(|k| k.index == c.first_frame)
            .expect("key");
        Decoder::open_from(&info, key, 0)
            .expect("open")
            .take((c.end_frame - c.first_frame) as usize)
            .map(|f| f.expect("frame").view().sha256_hex())
            .collect()
    };
    assert_eq!(frame_hashes(&done.masters[0]), want);
    let r = export::verify_manifest(&done.manifest, None, &DecodeOptions::default(), &mut |_| {})
        .expect("verify");
    assert!(r.ok, "{r:?}");
}

fn paths(idx: &Store) -> Vec<String> {
    let mut v: Vec<String> = idx
        .recordings(None)
        .expect("list")
        .into_iter()
        .map(|r| r.path)
        .collect();
    v.sort();
    v
}

#[test]
fn retention_never_removes_held_or_recent_recordings_and_is_idempotent() {
    on_each_backend(retention_never_removes_held_or_recent_recordings_and_is_idempotent_on);
}

fn retention_never_removes_held_or_recent_recordings_and_is_idempotent_on(b: Backend) {
    let dir = tempdir();
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let copy = |src: &str, name: &str| -> PathBuf {
        let p = d.join(name);
        std::fs::copy(sample(src), &p).expect("copy");
        std::fs::canonicalize(&p).expect("canon")
    };
    let old = copy("vtest.avi", "old.avi");
    let held = copy("bikes.mp4", "held.mp4");
    let recent = copy("carphone_pristine.mp4", "recent.mp4");
    index_at(&db, &old, "2026-10-01 08:00:00");
    index_at(&db, &held, "2026-10-02 08:00:00");
    index_at(&db, &recent, "2026-11-20 08:00:00");
    let mut idx = Store::open(&db).expect("open");
    idx.place_hold(
        &HoldTarget::Recording(held.clone()),
        "OP-9",
        "J Smith",
        "evidence in an open case",
        None,
    )
    .expect("hold");
    let before = paths(&idx);
    let mut opts = RetentionOptions::new(28);
    opts.now = clock::parse_time_arg("2026-11-28 00:00:00").expect("now");
    opts.delete_files = true;
    opts.dry_run = true;
    let dry = idx.retention(&opts, None).expect("dry run");
    assert_eq!(dry.purged.len(), 1);
    assert_eq!(dry.purged[0].recording.path, old.to_string_lossy());
    assert_eq!(dry.purged[0].file, "would_delete");
    assert_eq!(paths(&idx), before, "a dry run changes nothing");
    assert!(old.exists());

    opts.dry_run = false;
    let first = idx.retention(&opts, None).expect("purge");
    assert_eq!(first.purged.len(), 1);
    assert_eq!(first.purged[0].file, "deleted");
    assert_eq!(first.held.len(), 1);
    assert_eq!(first.in_window, 1);
    assert!(!old.exists() && held.exists() && recent.exists());
    let after = paths(&idx);
    let second = idx.retention(&opts, None).expect("again");
    assert!(second.purged.is_empty());
    assert_eq!(paths(&idx), after, "running it twice: the same result");
    assert_eq!(after.len(), 2);

    // Logged: the hold and the purge, and the chain holds.
    let entries = idx.audit_entries().expect("entries");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    // The file deletion is two-phase: the intent, committed before the
    // file was touched, then the outcome naming it.
    assert_eq!(actions, ["hold", "retention_intent", "retention_purge"]);
    let purge: serde_json::Value = serde_json::from_str(&entries[2].details).expect("json");
    assert_eq!(purge["file"], "deleted");
    assert_eq!(purge["intent_seq"], entries[1].seq);
    assert!(idx.verify_audit(None).expect("verify").ok);
    // Released, the held recording goes on the next run.
    idx.release_hold("OP-9", "J Smith", "case closed", None)
        .expect("release");
    let third = idx.retention(&opts, None).expect("after release");
    assert_eq!(third.purged.len(), 1);
    assert!(!held.exists() && recent.exists());
}

/// A short clip that differs from the others by its mark (so each has its
/// own sha256), made with the ffmpeg CLI.
fn tiny_clip(dir: &Path, name: &str, mark: u32) -> PathBuf {
    let p = dir.join(name);
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=10:duration=2")
        .args(["-vf"])
        .arg(format!("drawbox=x={mark}:y=0:w=4:h=4:color=black:t=fill"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&p));
    std::fs::canonicalize(&p).expect("canon")
}

fn mkfifo(p: &Path) {
    run(Command::new("mkfifo").arg(p));
}

/// Runs `f` on a thread and fails the test (instead of hanging it) if it
/// has not returned after a generous while.
fn no_hang<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(300))
        .unwrap_or_else(|_| panic!("{what} hung"))
}

fn actions(idx: &Store) -> Vec<String> {
    idx.audit_entries()
        .expect("entries")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[test]
fn retention_deletes_in_two_phases_and_refuses_a_directory_or_fifo_without_stopping() {
    on_each_backend(
        retention_deletes_in_two_phases_and_refuses_a_directory_or_fifo_without_stopping_on,
    );
}

fn retention_deletes_in_two_phases_and_refuses_a_directory_or_fifo_without_stopping_on(b: Backend) {
    let dir = tempdir();
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let recs: Vec<PathBuf> = (0..4)
        .map(|i| tiny_clip(d, &format!("r{i}.mp4"), 10 + 20 * i))
        .collect();
    for (i, r) in recs.iter().enumerate() {
        index_at(&db, r, &format!("2026-10-0{} 08:00:00", i + 1));
    }
    // Recording 1 is now a directory, recording 2 a FIFO.
    std::fs::remove_file(&recs[1]).expect("rm");
    std::fs::create_dir(&recs[1]).expect("dir");
    std::fs::remove_file(&recs[2]).expect("rm");
    mkfifo(&recs[2]);
    let mut opts = RetentionOptions::new(28);
    opts.now = clock::parse_time_arg("2026-11-28 00:00:00").expect("now");
    opts.delete_files = true;

    // The dry run applies the same checks: it names the two faults.
    opts.dry_run = true;
    let dry = {
        let (db, opts) = (db.clone(), opts.clone());
        no_hang("a dry run", move || {
            Store::open_read_only(&db)
                .expect("open")
                .retention(&opts, None)
        })
    }
    .expect("dry run");
    assert_eq!(dry.faults.len(), 2, "{dry:?}");
    assert_eq!(dry.purged.len(), 2);
    assert!(dry.purged.iter().all(|p| p.file == "would_delete"));

    opts.dry_run = false;
    let report = {
        let (db, opts) = (db.clone(), opts.clone());
        no_hang("retention", move || {
            Store::open(&db).expect("open").retention(&opts, None)
        })
    }
    .expect("retention runs to the end");
    let deleted: Vec<&str> = report
        .purged
        .iter()
        .map(|p| p.recording.path.as_str())
        .collect();
    assert_eq!(
        deleted,
        [
            recs[0].to_str().expect("utf-8"),
            recs[3].to_str().expect("utf-8")
        ]
    );
    assert!(report.purged.iter().all(|p| p.file == "deleted"));
    assert!(!recs[0].exists() && !recs[3].exists());
    let mut faults: Vec<(&str, &str)> = report
        .faults
        .iter()
        .map(|f| (f.path.as_str(), f.message.as_str()))
        .collect();
    faults.sort();
    assert_eq!(faults.len(), 2);
    assert_eq!(faults[0].0, recs[1].to_str().expect("utf-8"));
    assert!(
        faults[0].1.contains("a directory, not a regular file"),
        "{faults:?}"
    );
    assert_eq!(faults[1].0, recs[2].to_str().expect("utf-8"));
    assert!(
        faults[1].1.contains("a FIFO, not a regular file"),
        "{faults:?}"
    );
    // The directory and the FIFO are untouched and still indexed; the
    // trail has an intent and an outcome for each deleted file.
    assert!(recs[1].is_dir());
    let idx = Store::open(&db).expect("open");
    assert_eq!(
        paths(&idx),
        [
            recs[1].to_string_lossy().into_owned(),
            recs[2].to_string_lossy().into_owned()
        ]
    );
    assert_eq!(
        actions(&idx),
        [
            "retention_intent",
            "retention_purge",
            "retention_intent",
            "retention_purge"
        ]
    );
    assert!(idx.verify_audit(None).expect("verify").ok);
}

#[test]
fn retention_completes_or_retries_an_intent_a_crash_left_behind() {
    on_each_backend(retention_completes_or_retries_an_intent_a_crash_left_behind_on);
}

fn retention_completes_or_retries_an_intent_a_crash_left_behind_on(b: Backend) {
    let dir = tempdir();
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let gone = tiny_clip(d, "gone.mp4", 10);
    let still = tiny_clip(d, "still.mp4", 50);
    index_at(&db, &gone, "2026-10-01 08:00:00");
    index_at(&db, &still, "2026-10-02 08:00:00");
    // What a run killed after committing its intents leaves: the intents
    // logged, one file already deleted, the other not yet; both still
    // indexed.
    let mut idx = Store::open(&db).expect("open");
    for r in [&gone, &still] {
        let sha = crate::common::file_sha256(r);
        let e = idx
            .append_audit(
                &NewEntry::new(
                    "obscura retention",
                    Action::RetentionIntent,
                    r.to_string_lossy(),
                    "retention period of 28 days elapsed",
                )
                .with_details(serde_json::json!({ "sha256": sha })),
            )
            .expect("intent");
        raw_sql(
            &db,
            &format!(
                "INSERT INTO retention_pending (sha256, path, intent_seq) VALUES ({}, {}, {})",
                sql_text(Some(&sha)),
                sql_text(Some(&r.to_string_lossy())),
                e.seq
            ),
        )
        .expect("pending");
    }
    std::fs::remove_file(&gone).expect("rm");
    // A dry run reports both as unfinished and changes nothing.
    let mut opts = RetentionOptions::new(28);
    opts.now = clock::parse_time_arg("2026-11-28 00:00:00").expect("now");
    opts.dry_run = true;
    let dry = idx.retention(&opts, None).expect("dry");
    assert_eq!(dry.faults.len(), 2, "{dry:?}");
    assert_eq!(paths(&idx).len(), 2);
    // The next run (even one that deletes no files) completes both: the
    // gone file recorded as missing, the other deleted now.
    opts.dry_run = false;
    let r = idx.retention(&opts, None).expect("run");
    assert!(r.faults.is_empty(), "{r:?}");
    let outcome: Vec<(&str, &str, Option<i64>)> = r
        .purged
        .iter()
        .map(|p| (p.recording.path.as_str(), p.file, p.intent_seq))
        .collect();
    assert_eq!(
        outcome,
        [
            (gone.to_str().expect("utf-8"), "missing", Some(1)),
            (still.to_str().expect("utf-8"), "deleted", Some(2))
        ]
    );
    assert!(!still.exists());
    assert!(paths(&idx).is_empty());
    assert_eq!(
        actions(&idx),
        [
            "retention_intent",
            "retention_intent",
            "retention_purge",
            "retention_purge"
        ]
    );
    assert!(idx.verify_audit(None).expect("verify").ok);
}

#[test]
fn a_dry_run_keeps_a_changed_file_as_the_real_run_does() {
    on_each_backend(a_dry_run_keeps_a_changed_file_as_the_real_run_does_on);
}

fn a_dry_run_keeps_a_changed_file_as_the_real_run_does_on(b: Backend) {
    let dir = tempdir();
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let rec = tiny_clip(d, "reused.mp4", 30);
    index_at(&db, &rec, "2026-10-01 08:00:00");
    // The recorder has since reused the name.
    std::fs::copy(tiny_clip(d, "other.mp4", 90), &rec).expect("reuse");
    let mut idx = Store::open(&db).expect("open");
    let mut opts = RetentionOptions::new(28);
    opts.now = clock::parse_time_arg("2026-11-28 00:00:00").expect("now");
    opts.delete_files = true;
    opts.dry_run = true;
    let dry = idx.retention(&opts, None).expect("dry");
    assert_eq!(dry.purged[0].file, "changed");
    opts.dry_run = false;
    let real = idx.retention(&opts, None).expect("real");
    assert_eq!(real.purged[0].file, "changed");
    assert!(rec.exists());
}

/// Rewrites the trail from `edit_seq` on as an attacker who knows the
/// entry hash would: the entry edited, every hash after it recomputed.
fn rewrite_from(db: &Path, edit_seq: i64) {
    tamper(db, |v| {
        let i = v.iter().position(|e| e.seq == edit_seq).expect("entry");
        v[i].reason = "nothing happened".into();
        for k in i..v.len() {
            if k > 0 {
                v[k].prev_hash = v[k - 1].entry_hash.clone();
            }
            v[k].entry_hash = v[k].computed_hash();
        }
    });
}

#[test]
fn deleting_the_newest_signature_and_rewriting_the_entries_is_caught() {
    on_each_backend(deleting_the_newest_signature_and_rewriting_the_entries_is_caught_on);
}

fn deleting_the_newest_signature_and_rewriting_the_entries_is_caught_on(b: Backend) {
    let dir = tempdir();
    let key = SecretKey::generate().expect("key");
    let signed_trail = |name: &str| -> PathBuf {
        let db = test_db(dir.path(), name, b);
        trail(&db, 2);
        let mut idx = Store::open(&db).expect("open");
        idx.sign_audit_head(&key).expect("sign 1");
        drop(idx);
        trail(&db, 2);
        let mut idx = Store::open(&db).expect("open");
        idx.sign_audit_head(&key).expect("sign 2");
        drop(idx);
        trail(&db, 4);
        let r = Store::open(&db)
            .expect("open")
            .verify_audit(Some(&key.public_key()))
            .expect("verify");
        assert!(r.ok, "{r:?}");
        assert_eq!(r.entries, 8);
        db
    };
    // The signatures are append-only.
    let db = signed_trail("plain.db");
    let err = raw_sql(&db, "DELETE FROM audit_signatures WHERE seq = 4").expect_err("append-only");
    assert!(err.contains("append-only"), "{err}");

    // The newest signature deleted (triggers dropped first), entry 3
    // edited and every hash after it recomputed.
    let db = signed_trail("newest.db");
    drop_trigger(&db, "audit_signatures_no_delete", "audit_signatures");
    raw_sql(
        &db,
        "DELETE FROM audit_signatures WHERE id = (SELECT max(id) FROM audit_signatures)",
    )
    .expect("delete");
    rewrite_from(&db, 3);
    let r = Store::open(&db)
        .expect("open")
        .verify_audit(Some(&key.public_key()))
        .expect("verify");
    assert!(!r.ok, "{r:?}");
    let b = r.first_bad.expect("bad");
    assert_eq!((b.seq, b.problem), (5, Problem::Signature), "{}", b.message);
    assert!(
        b.message.contains("no longer in the trail"),
        "{}",
        b.message
    );

    // The older signature deleted: the newer one no longer follows it.
    let db = signed_trail("older.db");
    drop_trigger(&db, "audit_signatures_no_delete", "audit_signatures");
    raw_sql(
        &db,
        "DELETE FROM audit_signatures WHERE id = (SELECT min(id) FROM audit_signatures)",
    )
    .expect("delete");
    let r = Store::open(&db)
        .expect("open")
        .verify_audit(Some(&key.public_key()))
        .expect("verify");
    assert!(!r.ok, "{r:?}");
    assert_eq!(r.first_bad.map(|b| b.problem), Some(Problem::Signature));

    // An entry at or before a signed head edited: the head's hash changes.
    let db = signed_trail("before.db");
    rewrite_from(&db, 2);
    let r = Store::open(&db)
        .expect("open")
        .verify_audit(Some(&key.public_key()))
        .expect("verify");
    assert!(!r.ok, "{r:?}");
    assert_eq!(r.first_bad.map(|b| b.problem), Some(Problem::Signature));
}

#[test]
fn an_export_is_one_folder_placed_whole_and_a_failed_one_leaves_no_folder() {
    on_each_backend(an_export_is_one_folder_placed_whole_and_a_failed_one_leaves_no_folder_on);
}

fn an_export_is_one_folder_placed_whole_and_a_failed_one_leaves_no_folder_on(b: Backend) {
    let dir = tempdir();
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let rec = d.join("cam07_a.avi");
    std::fs::copy(sample("vtest.avi"), &rec).expect("copy");
    index_at(&db, &rec, "2026-11-03 08:15:00");
    let mut idx = Store::open(&db).expect("open");
    let mut req = request(d, "2026-11-03 08:15:25", "2026-11-03 08:15:26", "JS/1");
    req.out_dir = d.join("new/exhibits");
    let done = export::export(&mut idx, &req, None, &mut |_| {}).expect("export");
    let folder = d.join("new/exhibits/JS_1");
    assert_eq!(done.manifest, folder.join("JS_1.manifest.json"));
    assert_eq!(
        entries_of(&d.join("new/exhibits")),
        ["JS_1"],
        "only the exhibit's folder, no temporary one"
    );
    assert_eq!(entries_of(&folder).len(), 2, "master and manifest");

    // A source that changed since it was indexed: refused, and no folder
    // (not even the empty parent this export would have created) remains.
    let mut bytes = std::fs::read(&rec).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&rec, &bytes).expect("write");
    let mut req = request(d, "2026-11-03 08:15:25", "2026-11-03 08:15:26", "JS/2");
    req.out_dir = d.join("other/exhibits");
    let e = export::export(&mut idx, &req, None, &mut |_| {}).expect_err("changed source");
    assert_eq!(e.kind(), obscura::ErrorKind::Corrupt);
    assert!(!d.join("other").exists(), "no empty exhibit folder left");
    // Into the existing directory: nothing added there either.
    req.out_dir = d.join("new/exhibits");
    export::export(&mut idx, &req, None, &mut |_| {}).expect_err("changed source");
    assert_eq!(entries_of(&d.join("new/exhibits")), ["JS_1"]);
    assert_eq!(
        actions(&idx),
        ["hold", "export"],
        "the failed ones not logged"
    );

    // A source replaced by a FIFO is refused at once, never opened.
    std::fs::remove_file(&rec).expect("rm");
    mkfifo(&rec);
    let mut req = request(d, "2026-11-03 08:15:25", "2026-11-03 08:15:26", "JS/3");
    req.out_dir = d.join("new/exhibits");
    let db2 = db.clone();
    let e = no_hang("an export of a FIFO", move || {
        let mut idx = Store::open(&db2).expect("open");
        export::export(&mut idx, &req, None, &mut |_| {})
    })
    .expect_err("a FIFO");
    assert!(e.to_string().contains("a FIFO, not a regular file"), "{e}");
    assert_eq!(entries_of(&d.join("new/exhibits")), ["JS_1"]);
}

fn entries_of(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn verify_counts_only_regular_files_in_the_folder_and_reports_extras_and_no_masters() {
    on_each_backend(
        verify_counts_only_regular_files_in_the_folder_and_reports_extras_and_no_masters_on,
    );
}

fn verify_counts_only_regular_files_in_the_folder_and_reports_extras_and_no_masters_on(b: Backend) {
    let dir = tempdir();
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let rec = d.join("cam07_a.avi");
    std::fs::copy(sample("vtest.avi"), &rec).expect("copy");
    index_at(&db, &rec, "2026-11-03 08:15:00");
    let mut idx = Store::open(&db).expect("open");
    let req = request(d, "2026-11-03 08:15:25", "2026-11-03 08:15:26", "V/1");
    let done = export::export(&mut idx, &req, None, &mut |_| {}).expect("export");
    let verify = |m: &Path| {
        let m = m.to_path_buf();
        no_hang("verify", move || {
            export::verify_manifest(&m, None, &DecodeOptions::default(), &mut |_| {})
        })
    };
    assert!(verify(&done.manifest).expect("verify").ok);
    let master = done.masters[0].clone();
    let original = std::fs::read(&master).expect("read");

    // The master replaced by a FIFO, then by a symlink to /dev/zero: each
    // refused at once, naming why.
    std::fs::remove_file(&master).expect("rm");
    mkfifo(&master);
    let r = verify(&done.manifest).expect("report");
    assert!(!r.ok);
    let why = r.files[0].error.clone().unwrap_or_default();
    assert!(why.contains("a FIFO, not a regular file"), "{why}");
    std::fs::remove_file(&master).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &master).expect("symlink");
    let r = verify(&done.manifest).expect("report");
    assert!(!r.ok);
    let why = r.files[0].error.clone().unwrap_or_default();
    assert!(why.contains("symbolic link, not a regular file"), "{why}");
    std::fs::remove_file(&master).expect("rm");
    std::fs::write(&master, &original).expect("restore");
    assert!(verify(&done.manifest).expect("verify").ok);

    // A manifest that is itself a FIFO is refused, not read.
    let fifo = d.join("fifo.manifest.json");
    mkfifo(&fifo);
    let e = verify(&fifo).expect_err("a FIFO");
    assert!(e.to_string().contains("not a regular file"), "{e}");

    // A file the manifest does not list: named, and a failure.
    let folder = done.manifest.parent().expect("folder").to_path_buf();
    std::fs::write(folder.join("planted.avi"), b"x").expect("plant");
    let r = verify(&done.manifest).expect("report");
    assert!(!r.ok);
    assert_eq!(r.extra_files, ["planted.avi"]);
    assert!(
        r.problems.iter().any(|p| p.contains("planted.avi")),
        "{:?}",
        r.problems
    );
    std::fs::remove_file(folder.join("planted.avi")).expect("rm");

    // A manifest listing no master proves nothing: a failure.
    let text = std::fs::read_to_string(&done.manifest).expect("read");
    let mut m: serde_json::Value = serde_json::from_str(&text).expect("json");
    m["masters"] = serde_json::json!([]);
    let empty = folder.join("V_1.manifest.json");
    std::fs::write(&empty, serde_json::to_vec_pretty(&m).expect("json")).expect("write");
    let r = verify(&empty).expect("report");
    assert!(!r.ok);
    assert!(
        r.problems.iter().any(|p| p.contains("no master")),
        "{:?}",
        r.problems
    );
}

/// One `Exporter` (store opened and key loaded once) serves several
/// exports, each with its own job: progress reaches every frame, both are
/// signed and verify, and a cancelled job leaves no folder and no entry.
#[test]
fn one_exporter_serves_several_exports_with_progress_and_cancel() {
    on_each_backend(one_exporter_serves_several_exports_with_progress_and_cancel_on);
}

fn one_exporter_serves_several_exports_with_progress_and_cancel_on(b: Backend) {
    use obscura::pipeline::{Exporter, Job};
    let dir = tempdir();
    let d = dir.path();
    let db = test_db(d, "index.db", b);
    let rec = d.join("cam07_a.avi");
    std::fs::copy(sample("vtest.avi"), &rec).expect("copy");
    assert_eq!(
        Exporter::new(&db, None).expect_err("no store yet").kind(),
        obscura::ErrorKind::NotFound,
        "an exporter needs an indexed store; it does not create one"
    );
    index_at(&db, &rec, "2026-11-03 08:15:00");
    let key = SecretKey::generate().expect("key");
    let public = key.public_key();
    let mut exporter = Exporter::new(&db, Some(key)).expect("exporter");
    for (i, exhibit) in ["JS/1", "JS/2"].into_iter().enumerate() {
        let req = request(d, "2026-11-03 08:15:25", "2026-11-03 08:15:27", exhibit);
        let mut last = None;
        let mut job = Job::new().on_progress(|p| last = Some((p.frames, p.total)));
        let done = exporter.export(&req, &mut job).expect("export");
        drop(job);
        assert_eq!(
            last,
            Some((done.frames, done.frames)),
            "export {i}: progress ends at every frame"
        );
        assert!(done.signature.is_some());
        let report = export::verify_manifest(
            &done.manifest,
            Some(&public),
            &DecodeOptions::default(),
            &mut |_| {},
        )
        .expect("verify");
        assert!(report.ok, "{exhibit}: {report:?}");
    }
    let cancel = obscura::Cancel::new();
    cancel.cancel();
    let req = request(d, "2026-11-03 08:15:25", "2026-11-03 08:15:27", "JS/3");
    let e = exporter
        .export(&req, &mut Job::new().with_cancel(cancel))
        .expect_err("cancelled");
    assert_eq!(e.kind(), obscura::ErrorKind::Interrupted);
    assert_eq!(entries_of(&d.join("exhibits")), ["JS_1", "JS_2"]);
    let idx = Store::open(&db).expect("open");
    // Each export holds its sources under its own reference; the cancelled
    // one logged nothing.
    assert_eq!(actions(&idx), ["hold", "export", "hold", "export"]);
}
