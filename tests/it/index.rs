//! The SQLite incident index: idempotent re-indexing, queries, reports
//! whose totals are the sum of the incidents, faults between and inside
//! recordings, and a bad file in a batch.

use crate::common::{on_each_backend, tempdir, test_db, Backend};
use crate::motion::{square, synth};
use obscura::clock;
use obscura::mask::camera::CameraProfile;
use obscura::motion::MotionOptions;
use obscura::pipeline::indexing;
use obscura::store::{GroupBy, IncidentFilter, Month, Store};
use obscura::ErrorKind;
use std::path::{Path, PathBuf};

fn profile(camera: u32, town: &str) -> CameraProfile {
    let text = format!(
        "camera = {camera}\nname = \"Cam {camera}\"\ntown = \"{town}\"\ndesk = \"D{}\"\ncoordinates = \"normalised\"\nfilename_pattern = \"cam_%Y%m%d_%H%M%S.mp4\"\n",
        camera % 2
    );
    CameraProfile::parse(&text, Path::new("p.toml")).expect("valid")
}

fn opts() -> MotionOptions {
    MotionOptions {
        threads: 2,
        thumbnail_width: 64,
        ..MotionOptions::default()
    }
}

fn index_ok(db: &Path, p: &CameraProfile, files: &[PathBuf]) -> Vec<indexing::Indexed> {
    indexing::index_files(db, p, files, None, &opts(), &|_, _| {})
        .expect("index opens")
        .into_iter()
        .map(|r| r.expect("indexed"))
        .collect()
}

#[test]
fn reindexing_replaces_and_a_copy_counts_once() {
    on_each_backend(reindexing_replaces_and_a_copy_counts_once_on);
}

fn reindexing_replaces_and_a_copy_counts_once_on(b: Backend) {
    let dir = tempdir();
    let clip = synth(
        dir.path(),
        "cam_20261110_080000.mp4",
        10,
        &[square(1.0, 2.0, 40), square(6.0, 7.0, 150)].join(";"),
        &[],
    );
    let db = test_db(dir.path(), "i.db", b);
    let p = profile(4, "North");
    let first = index_ok(&db, &p, std::slice::from_ref(&clip));
    assert_eq!(first[0].incidents, 2);
    assert!(!first[0].replaced);
    let idx = Store::open(&db).expect("open");
    let before = idx.incidents(&IncidentFilter::default()).expect("list");
    let again = index_ok(&db, &p, std::slice::from_ref(&clip));
    assert!(again[0].replaced);
    // The same footage under the same name elsewhere: one recording.
    std::fs::create_dir(dir.path().join("copy")).expect("dir");
    let copy = dir.path().join("copy/cam_20261110_080000.mp4");
    std::fs::copy(&clip, &copy).expect("copy");
    index_ok(&db, &p, &[copy]);
    let after = idx.incidents(&IncidentFilter::default()).expect("list");
    assert_eq!(idx.recordings(None).expect("list").len(), 1);
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(
            (
                a.start_utc.clone(),
                a.end_utc.clone(),
                a.start_frame,
                a.end_frame
            ),
            (
                b.start_utc.clone(),
                b.end_utc.clone(),
                b.start_frame,
                b.end_frame
            )
        );
    }
    assert_eq!(
        after[0].start_utc.as_deref(),
        Some("2026-11-10T08:00:00.000Z"),
        "1 s of motion, 1.5 s padding: starts at the file's start"
    );
    let images = idx
        .incident_images(after[0].id)
        .expect("read")
        .expect("exists");
    assert_eq!(images.heatmap.len(), 256);
    assert_eq!(&images.thumbnail.expect("a thumbnail")[..2], &[0xFF, 0xD8]);
}

#[test]
fn report_totals_are_the_sum_of_incidents_with_the_previous_month() {
    on_each_backend(report_totals_are_the_sum_of_incidents_with_the_previous_month_on);
}

fn report_totals_are_the_sum_of_incidents_with_the_previous_month_on(b: Backend) {
    let dir = tempdir();
    let db = test_db(dir.path(), "i.db", b);
    let motion = [square(1.0, 2.0, 40), square(6.0, 7.0, 150)].join(";");
    let one = square(3.0, 4.0, 100);
    // A small static mark per file keeps their contents (and hashes) apart.
    let mk = |name: &str, f: &str, k: u32| {
        let mark = format!("drawbox=x={}:y=0:w=8:h=8:color=black:t=fill", k * 9);
        let f = if f.is_empty() {
            mark
        } else {
            format!("{f};{mark}")
        };
        synth(dir.path(), name, 10, &f, &[])
    };
    // Camera 1 (North): two files in November, one in October.
    // Camera 2 (South): one file in November. Camera 5: no incidents.
    let c1 = [
        mk("cam_20261103_100000.mp4", &motion, 1),
        mk("cam_20261120_230000.mp4", &one, 2),
        mk("cam_20261015_090000.mp4", &motion, 3),
    ];
    index_ok(&db, &profile(1, "North"), &c1);
    let c2 = [mk("cam_20261130_235958.mp4", &one, 4)];
    index_ok(&db, &profile(2, "South"), &c2);
    let quiet = [mk("cam_20261101_000000.mp4", "", 5)];
    index_ok(&db, &profile(5, "North"), &quiet);

    let idx = Store::open(&db).expect("open");
    let month: Month = "2026-11".parse().expect("month");
    let nov = IncidentFilter {
        from: Some(month.start()),
        to: Some(month.next().start()),
        ..IncidentFilter::default()
    };
    let listed = idx.incidents(&nov).expect("list");
    for by in [GroupBy::Camera, GroupBy::Town, GroupBy::Desk] {
        let r = idx.report(month, by, true).expect("report");
        assert_eq!(r.total_incidents as usize, listed.len(), "{by:?}");
        assert_eq!(
            r.rows.iter().map(|g| g.incidents).sum::<u64>(),
            r.total_incidents
        );
        let minutes: f64 = listed.iter().map(|i| i.end_s - i.start_s).sum::<f64>() / 60.0;
        assert!((r.total_active_minutes - minutes).abs() < 1e-9);
    }
    let r = idx.report(month, GroupBy::Camera, true).expect("report");
    let groups: Vec<(&str, u64, Option<u64>)> = r
        .rows
        .iter()
        .map(|g| (g.group.as_str(), g.incidents, g.previous_incidents))
        .collect();
    assert_eq!(
        groups,
        vec![("1", 3, Some(2)), ("2", 1, Some(0)), ("5", 0, Some(0))]
    );
    assert_eq!(r.rows[0].change, Some(1));
    assert_eq!(r.rows[0].change_pct, Some(50.0));
    let town = idx.report(month, GroupBy::Town, false).expect("report");
    assert_eq!(town.rows.len(), 2);
    assert_eq!(town.rows[0].group, "North");
    assert_eq!(town.rows[0].incidents, 3);
    assert_eq!(town.rows[0].previous_incidents, None);
    let south = idx
        .incidents(&IncidentFilter {
            town: Some("South".into()),
            ..IncidentFilter::default()
        })
        .expect("list");
    assert_eq!(south.len(), 1);
    assert_eq!(south[0].camera, 2);
    // As users type it: case and surrounding spaces do not matter.
    for typed in ["south", " SOUTH "] {
        let found = idx
            .incidents(&IncidentFilter {
                town: Some(typed.into()),
                ..IncidentFilter::default()
            })
            .expect("list");
        assert_eq!(found, south, "{typed:?}");
    }
}

#[test]
fn gaps_between_recordings_are_faults_and_a_bad_file_is_skipped() {
    on_each_backend(gaps_between_recordings_are_faults_and_a_bad_file_is_skipped_on);
}

fn gaps_between_recordings_are_faults_and_a_bad_file_is_skipped_on(b: Backend) {
    let dir = tempdir();
    let db = test_db(dir.path(), "i.db", b);
    // 8 s recordings starting at 08:00:00, 08:00:08 (contiguous) and
    // 08:01:00 (52 s missing).
    let files = vec![
        synth(dir.path(), "cam_20261112_080000.mp4", 8, "", &[]),
        synth(
            dir.path(),
            "cam_20261112_080008.mp4",
            8,
            "drawbox=x=0:y=0:w=8:h=8:color=black:t=fill",
            &[],
        ),
        dir.path().join("cam_20261112_080030.mp4"),
        synth(
            dir.path(),
            "cam_20261112_080100.mp4",
            8,
            "drawbox=x=9:y=0:w=8:h=8:color=black:t=fill",
            &[],
        ),
    ];
    let good = std::fs::read(&files[0]).expect("read");
    std::fs::write(&files[2], &good[..good.len() / 3]).expect("truncated copy");
    let results =
        indexing::index_files(&db, &profile(9, "East"), &files, None, &opts(), &|_, _| {})
            .expect("index opens");
    assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
    let err = results[2].as_ref().expect_err("truncated file");
    assert!(
        matches!(err.kind(), ErrorKind::NotMedia | ErrorKind::Corrupt),
        "{err}"
    );
    assert_eq!(err.path(), Some(files[2].as_path()));
    let idx = Store::open(&db).expect("open");
    assert_eq!(idx.recordings(Some(9)).expect("list").len(), 3);
    let faults = idx.faults(Some(9), 1.0).expect("faults");
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].kind, "gap_between_recordings");
    assert!((faults[0].seconds - 44.0).abs() < 0.1, "{faults:?}");
    assert!(faults[0].recording.ends_with("cam_20261112_080008.mp4"));
}

#[test]
fn queries_refuse_a_missing_index() {
    on_each_backend(|b| {
        let dir = tempdir();
        // A file that is not there; a PostgreSQL database with no index.
        let db = test_db(dir.path(), "nope.db", b);
        let e = Store::open_existing(&db).expect_err("missing");
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = Store::open_read_only(&db).expect_err("missing");
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    });
}

#[test]
fn identical_copies_in_a_batch_keep_the_first_given_and_name_it() {
    on_each_backend(identical_copies_in_a_batch_keep_the_first_given_and_name_it_on);
}

fn identical_copies_in_a_batch_keep_the_first_given_and_name_it_on(b: Backend) {
    let dir = tempdir();
    let clip = synth(
        dir.path(),
        "cam_20261110_080000.mp4",
        4,
        &square(1.0, 2.0, 40),
        &[],
    );
    let names = [
        "cam_20261111_080000.mp4",
        "cam_20261110_080000.mp4",
        "cam_20261112_080000.mp4",
    ];
    for n in ["cam_20261111_080000.mp4", "cam_20261112_080000.mp4"] {
        std::fs::copy(&clip, dir.path().join(n)).expect("copy");
    }
    let files: Vec<PathBuf> = names.iter().map(|n| dir.path().join(n)).collect();
    let p = profile(4, "North");
    // The same batch twice, into fresh indexes: the same survivor, the
    // first given, and the others name it.
    let dbs: Vec<PathBuf> = (0..2)
        .map(|round| test_db(dir.path(), &format!("i{round}.db"), b))
        .collect();
    for db in &dbs {
        let done = index_ok(db, &p, &files);
        assert_eq!(done[0].duplicate_of, None);
        assert!(done[0].frames > 0);
        for d in &done[1..] {
            assert_eq!(d.duplicate_of.as_deref(), Some(files[0].as_path()));
            assert_eq!((d.frames, d.incidents), (0, 0), "not analysed or stored");
        }
        let idx = Store::open(db).expect("open");
        let kept: Vec<String> = idx
            .recordings(None)
            .expect("list")
            .into_iter()
            .map(|r| r.path)
            .collect();
        let want = std::fs::canonicalize(&files[0]).expect("canon");
        assert_eq!(kept, [want.to_string_lossy().into_owned()]);
    }
    // Indexed later under another name, the copy replaces the earlier
    // index, and says whose.
    let again = index_ok(&dbs[0], &p, &files[2..]);
    let was = std::fs::canonicalize(&files[0]).expect("canon");
    assert_eq!(again[0].duplicate_of.as_deref(), Some(was.as_path()));
}

#[test]
fn a_truncated_recording_is_indexed_as_damaged_and_is_a_fault() {
    on_each_backend(a_truncated_recording_is_indexed_as_damaged_and_is_a_fault_on);
}

fn a_truncated_recording_is_indexed_as_damaged_and_is_a_fault_on(b: Backend) {
    let dir = tempdir();
    let whole = std::fs::read(crate::common::sample("vtest.avi")).expect("read");
    let cut = dir.path().join("cam_20261110_080000.avi");
    std::fs::write(&cut, &whole[..3_000_000]).expect("write");
    let db = test_db(dir.path(), "i.db", b);
    let p = profile(4, "North");
    let done = index_ok(&db, &p, std::slice::from_ref(&cut));
    let info = obscura::media::probe(&cut).expect("probe");
    assert_eq!(done[0].frames, info.frames);
    assert_eq!(done[0].expected_frames, Some(795));
    assert!(
        done[0]
            .damaged
            .as_deref()
            .is_some_and(|d| d.contains(&format!("decoded {} of the 795", info.frames))),
        "{:?}",
        done[0].damaged
    );
    let idx = Store::open(&db).expect("open");
    let rec = &idx.recordings(None).expect("list")[0];
    assert_eq!(rec.expected_frames, Some(795));
    assert!(rec.damaged.is_some());
    let faults = idx.faults(None, 1.0).expect("faults");
    assert!(
        faults.iter().any(|f| f.kind == "damaged_recording"),
        "{faults:?}"
    );
    // The whole file is not damaged.
    let full = dir.path().join("cam_20261111_080000.avi");
    std::fs::write(&full, &whole).expect("write");
    let done = index_ok(&db, &p, &[full]);
    assert_eq!((done[0].damaged.as_deref(), done[0].frames), (None, 795));

    // An MP4 indexed up front (faststart) and cut inside a packet: its
    // last packet is partial, not a frame; the frames before it are
    // indexed, as many as FFmpeg decodes from the cut file.
    let fast = dir.path().join("fast.mp4");
    crate::common::make_clip(
        &crate::common::sample("bikes.mp4"),
        &fast,
        &["-c", "copy", "-movflags", "+faststart"],
    );
    let bytes = std::fs::read(&fast).expect("read");
    let cut = dir.path().join("cam_20261112_080000.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let done = index_ok(&db, &p, std::slice::from_ref(&cut));
    let decodable = crate::common::ffprobe_count_frames(&cut);
    assert_eq!(done[0].frames, decodable);
    let declared = done[0].expected_frames.expect("declared frames");
    assert!(
        decodable > 0 && decodable < declared,
        "{decodable} of {declared}"
    );
    assert!(done[0].damaged.is_some(), "{:?}", done[0]);

    // An MPEG-TS declares no frame count: one that ends inside a packet
    // is marked damaged all the same, with no declared count.
    let ts = dir.path().join("whole.ts");
    crate::common::make_clip(
        &crate::common::sample("bikes.mp4"),
        &ts,
        &["-c", "copy", "-f", "mpegts"],
    );
    let bytes = std::fs::read(&ts).expect("read");
    let cut = dir.path().join("cam_20261113_080000.ts");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 / 188 * 188 + 100]).expect("write");
    let done = index_ok(&db, &p, std::slice::from_ref(&cut));
    assert_eq!(done[0].frames, crate::common::ffprobe_count_frames(&cut));
    assert_eq!(done[0].expected_frames, None);
    assert!(
        done[0]
            .damaged
            .as_deref()
            .is_some_and(|d| d.contains("100 bytes into a 188-byte transport-stream packet")),
        "{:?}",
        done[0]
    );
    let idx = Store::open(&db).expect("open");
    let rec = idx
        .recordings(None)
        .expect("list")
        .into_iter()
        .find(|r| r.path.ends_with("cam_20261113_080000.ts"))
        .expect("stored");
    assert_eq!((rec.expected_frames, rec.damaged.is_some()), (None, true));
}

#[test]
fn incidents_from_after_to_is_an_invalid_argument() {
    on_each_backend(incidents_from_after_to_is_an_invalid_argument_on);
}

fn incidents_from_after_to_is_an_invalid_argument_on(b: Backend) {
    let dir = tempdir();
    let db = test_db(dir.path(), "i.db", b);
    drop(Store::open(&db).expect("create"));
    let idx = Store::open_read_only(&db).expect("open");
    let filter = IncidentFilter {
        from: Some(clock::parse_time_arg("2026-11-10").expect("t")),
        to: Some(clock::parse_time_arg("2026-11-01").expect("t")),
        ..IncidentFilter::default()
    };
    let e = idx.incidents(&filter).expect_err("reversed range");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("later than to"), "{e}");
}

#[test]
fn read_only_opens_change_no_byte_and_an_old_schema_asks_for_an_upgrade() {
    let dir = tempdir();
    let db = dir.path().join("i.db");
    let clip = synth(
        dir.path(),
        "cam_20261110_080000.mp4",
        4,
        &square(1.0, 2.0, 40),
        &[],
    );
    index_ok(&db, &profile(4, "North"), &[clip]);
    // Settle the WAL into the file, as a finished writer leaves it.
    drop(Store::open(&db).expect("open"));
    let before = (
        crate::common::file_sha256(&db),
        std::fs::metadata(&db)
            .expect("meta")
            .modified()
            .expect("mtime"),
    );
    for _ in 0..2 {
        let idx = Store::open_read_only(&db).expect("open read-only");
        idx.incidents(&IncidentFilter::default())
            .expect("incidents");
        idx.report(
            "2026-11".parse::<Month>().expect("month"),
            GroupBy::Camera,
            true,
        )
        .expect("report");
        assert!(idx.verify_audit(None).expect("verify").ok);
        idx.holds(true).expect("holds");
        idx.audit_entries().expect("entries");
    }
    let after = (
        crate::common::file_sha256(&db),
        std::fs::metadata(&db)
            .expect("meta")
            .modified()
            .expect("mtime"),
    );
    assert_eq!(before, after, "a read-only open changed the database file");
    // An index of an older schema is refused read-only, with the way out.
    rusqlite::Connection::open(&db)
        .expect("sqlite")
        .pragma_update(None, "user_version", 2)
        .expect("downgrade");
    let e = Store::open_read_only(&db).expect_err("older schema");
    assert_eq!(e.kind(), ErrorKind::Database);
    assert!(e.to_string().contains("audit upgrade"), "{e}");
}

/// Issue 12: services keep one `Indexer` (options and store checked once)
/// for many batches, with one progress and cancellation handle per call.
#[test]
fn one_indexer_serves_several_batches_with_progress_and_cancel() {
    on_each_backend(one_indexer_serves_several_batches_with_progress_and_cancel_on);
}

fn one_indexer_serves_several_batches_with_progress_and_cancel_on(b: Backend) {
    let dir = tempdir();
    let db = test_db(dir.path(), "i.db", b);
    // Bad options are refused before the store is touched.
    let bad = MotionOptions { width: 8, ..opts() };
    let e = indexing::Indexer::new(&db, profile(3, "West"), bad).expect_err("too narrow");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(!db.exists());
    let indexer = indexing::Indexer::new(&db, profile(3, "West"), opts()).expect("indexer");
    // Different pictures, so the two are two recordings (not copies).
    let clips: Vec<PathBuf> = [
        ("cam_20261111_080000.mp4", 60),
        ("cam_20261111_090000.mp4", 140),
    ]
    .iter()
    .map(|(n, y)| synth(dir.path(), n, 6, &square(1.0, 2.0, *y), &[]))
    .collect();
    let mut seen = Vec::new();
    for clip in &clips {
        let mut job = obscura::pipeline::Job::new().on_progress(|p| seen.push((p.frames, p.total)));
        let done = indexer
            .index(std::slice::from_ref(clip), None, &mut job)
            .expect("batch");
        drop(job);
        assert_eq!(done.len(), 1);
        let done = done.into_iter().next().expect("one").expect("indexed");
        assert_eq!(done.incidents, 1);
        let last = seen.last().copied().expect("progress reported");
        assert_eq!(last, (done.frames, done.frames));
    }
    let idx = Store::open_read_only(&db).expect("open");
    assert_eq!(idx.recordings(Some(3)).expect("rows").len(), 2);
    // A job cancelled before it starts stores nothing and says so per file.
    let third = synth(
        dir.path(),
        "cam_20261111_100000.mp4",
        6,
        &square(3.0, 4.0, 100),
        &[],
    );
    let mut job = obscura::pipeline::Job::new();
    job.cancel_token().cancel();
    let done = indexer
        .index(std::slice::from_ref(&third), None, &mut job)
        .expect("batch");
    let e = done
        .into_iter()
        .next()
        .expect("one")
        .expect_err("cancelled");
    assert_eq!(e.kind(), ErrorKind::Interrupted);
    assert_eq!(idx.recordings(Some(3)).expect("rows").len(), 2);
}
