use crate::common::*;
use obscura::media::{self, DecodeOptions, Decoder, ParallelDecoder};
use obscura::ErrorKind;
use std::path::Path;
use std::process::Command;

fn hashes(
    frames: impl Iterator<Item = obscura::Result<media::DecodedFrame>>,
) -> Vec<(u64, i64, String)> {
    frames
        .map(|f| {
            let f = f.expect("decodes");
            (f.index(), f.pts(), f.view().sha256_hex())
        })
        .collect()
}

/// Compares two decodes, naming the first frame that differs.
fn assert_same(got: &[(u64, i64, String)], want: &[(u64, i64, String)], what: &str) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: frame {i} differs: got {:?}, want {:?}",
            got[i], want[i]
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: frame count");
}

fn sequential(path: &Path) -> Vec<(u64, i64, String)> {
    hashes(Decoder::open(path, 0).expect("opens"))
}

/// Segment-parallel decode with short segments, so every keyframe is a
/// boundary; asserts it really was cut.
fn parallel(path: &Path, workers: usize) -> Vec<(u64, i64, String)> {
    let info = media::probe(path).expect("probes");
    let opts = DecodeOptions {
        workers,
        min_segment_frames: 1,
        target_segments: usize::MAX,
        queue: 2,
        ..DecodeOptions::default()
    };
    let dec = ParallelDecoder::start(&info, &opts).expect("starts");
    assert!(
        dec.segments() > 1 || info.keyframes.len() < 2,
        "{} with {} keyframes was not segmented",
        path.display(),
        info.keyframes.len()
    );
    hashes(dec)
}

#[test]
fn frame_counts_match_ffprobe_for_every_sample() {
    for path in all_samples() {
        let want = ffprobe_count_frames(&path);
        let info = media::probe(&path).expect("probes");
        assert_eq!(info.frames, want, "probe of {}", path.display());
        let decoded = Decoder::open(&path, 0).expect("opens").count() as u64;
        assert_eq!(decoded, want, "decode of {}", path.display());
        let (_, frames) = media::open(&path, &DecodeOptions::default()).expect("opens");
        assert_eq!(
            frames.count() as u64,
            want,
            "parallel decode of {}",
            path.display()
        );
    }
}

#[test]
fn probe_reports_the_facts_of_a_clip() {
    let info = media::probe(sample("bigbuckbunny.mp4")).expect("probes");
    assert_eq!((info.width, info.height), (1280, 720));
    assert_eq!(info.codec, "h264");
    assert_eq!(info.pixel_format, "yuv420p");
    assert!((info.fps - 25.0).abs() < 1e-9, "{}", info.fps);
    assert!(
        (info.duration_s - 132.0 / 25.0).abs() < 1e-6,
        "{}",
        info.duration_s
    );
    assert_eq!(info.audio.len(), 1);
    assert_eq!(info.audio[0].codec, "aac");
    assert_eq!(info.keyframes[0].index, 0);
    // MP4's zero creation time means "not set", not 1970.
    assert_eq!(info.creation_time, None);

    let avi = media::probe(sample("vtest.avi")).expect("probes");
    assert_eq!(avi.codec, "msmpeg4v3");
    assert_eq!(avi.frames, 795);
    assert!(avi.audio.is_empty());
    let key_indices: Vec<u64> = avi.keyframes.iter().map(|k| k.index).collect();
    assert!(
        key_indices.windows(2).all(|w| w[0] < w[1]),
        "{key_indices:?}"
    );
}

#[test]
fn frames_come_in_presentation_order_with_times_from_zero() {
    let path = sample("bikes.mp4");
    let info = media::probe(&path).expect("probes");
    let frames = sequential(&path);
    assert_eq!(frames[0].0, 0);
    assert!(frames
        .windows(2)
        .all(|w| w[1].0 == w[0].0 + 1 && w[1].1 > w[0].1));
    let mut dec = Decoder::open(&path, 1).expect("opens");
    let first = dec.next().expect("a frame").expect("decodes");
    assert_eq!(first.time(), 0.0);
    assert_eq!((first.width(), first.height()), (640, 272));
    let second = dec.next().expect("a frame").expect("decodes");
    assert!((second.time() - 1.0 / info.fps).abs() < 1e-6);
    // The stream ends with None, and stays ended.
    let rest: Vec<_> = dec.by_ref().collect();
    assert_eq!(rest.len() as u64, info.frames - 2);
    assert!(dec.next().is_none());
}

#[test]
fn parallel_decode_is_bit_identical_to_sequential() {
    for name in ["bikes.mp4", "vtest.avi"] {
        let path = sample(name);
        let want = sequential(&path);
        assert_eq!(want.len() as u64, ffprobe_count_frames(&path));
        for workers in [2, 3] {
            assert_same(
                &parallel(&path, workers),
                &want,
                &format!("{name} with {workers} workers"),
            );
        }
    }
}

/// Packets in decode order: (pts, is_key).
fn packets(path: &Path) -> Vec<(i64, bool)> {
    let s = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts,flags",
            "-of",
            "csv=p=0",
        ])
        .arg(path));
    s.lines()
        .filter_map(|l| {
            let mut it = l.split(',');
            let pts = it.next()?.parse().ok()?;
            Some((pts, it.next()?.starts_with('K')))
        })
        .collect()
}

#[test]
fn parallel_decode_keeps_open_gop_leading_frames() {
    let dir = tempdir();
    let clip = dir.path().join("open-gop.mp4");
    make_clip(
        &sample("bikes.mp4"),
        &clip,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "50",
            "-bf",
            "3",
            "-x264-params",
            "open-gop=1",
            "-an",
        ],
    );
    // The clip really is open-GOP: after a (non-first) keyframe in decode
    // order come pictures that show before it.
    let pk = packets(&clip);
    let leading = pk
        .iter()
        .enumerate()
        .filter(|(i, (_, key))| *key && *i > 0)
        .filter(|(i, (kpts, _))| {
            pk[i + 1..]
                .iter()
                .take_while(|(_, key)| !key)
                .any(|(p, _)| p < kpts)
        })
        .count();
    assert!(
        leading >= 2,
        "expected open-GOP keyframes with leading pictures, found {leading}"
    );

    let want = sequential(&clip);
    assert_eq!(want.len() as u64, ffprobe_count_frames(&clip));
    for workers in [2, 4] {
        assert_same(
            &parallel(&clip, workers),
            &want,
            &format!("open GOP, {workers} workers"),
        );
    }
}

/// A stream-copy cut that starts between keyframes (what `ffmpeg -ss -c copy`
/// and many recorders' exports write) carries pre-roll packets that an edit
/// list hides: they are not frames of the video, and counting them made
/// every decode look truncated.
#[test]
fn stream_copy_cuts_with_pre_roll_count_only_shown_frames() {
    let dir = tempdir();
    let cut = dir.path().join("cut.mp4");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-ss", "3", "-t", "3", "-i"])
        .arg(sample("bikes.mp4"))
        .args(["-c", "copy", "-an"])
        .arg(&cut);
    run(&mut cmd);
    let shown = ffprobe_count_frames(&cut);
    let info = media::probe(&cut).expect("probes");
    assert_eq!(info.frames, shown, "probe counts shown frames only");
    let want = sequential(&cut);
    assert_eq!(want.len() as u64, shown);
    assert_eq!(want[0].1, 0, "first shown frame at pts 0");
    let (_, frames) = media::open(&cut, &DecodeOptions::default()).expect("opens");
    assert_same(&hashes(frames), &want, "cut, parallel");
}

#[test]
fn many_files_decode_on_a_pool_in_input_order() {
    let mut paths = all_samples();
    paths.push(dir_missing());
    let results = media::decode_files(&paths, 2, |info, frames| {
        let n = frames
            .map(|f| f.map(|_| ()))
            .collect::<obscura::Result<Vec<()>>>()?
            .len();
        Ok((info.path.clone(), n as u64))
    });
    assert_eq!(results.len(), paths.len());
    for (path, r) in paths.iter().zip(&results).take(paths.len() - 1) {
        let (p, n) = r.as_ref().expect("decodes");
        assert_eq!(p, path);
        assert_eq!(*n, ffprobe_count_frames(path));
    }
    let err = results
        .last()
        .expect("one per file")
        .as_ref()
        .expect_err("missing file");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

fn dir_missing() -> std::path::PathBuf {
    home().join("samples").join("no-such-clip.mp4")
}

#[test]
fn dropping_a_parallel_decoder_midway_stops_its_workers() {
    let path = sample("vtest.avi");
    let info = media::probe(&path).expect("probes");
    for _ in 0..20 {
        let mut dec = ParallelDecoder::start(
            &info,
            &DecodeOptions {
                workers: 2,
                min_segment_frames: 1,
                queue: 1,
                ..Default::default()
            },
        )
        .expect("starts");
        let f = dec.next().expect("a frame").expect("decodes");
        assert_eq!(f.index(), 0);
        drop(dec); // must not hang or leak threads blocked on full queues
    }
}

#[test]
fn bad_inputs_give_typed_errors() {
    let dir = tempdir();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is not a video\n".repeat(100)).expect("write");
    let audio = dir.path().join("tone.m4a");
    run(Command::new("ffmpeg")
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
        .arg(&audio));
    for (path, kind) in [
        (dir.path().join("missing.mp4"), ErrorKind::NotFound),
        (empty, ErrorKind::NotMedia),
        (text, ErrorKind::NotMedia),
        (audio, ErrorKind::NoVideo),
    ] {
        let err = media::probe(&path).expect_err("must fail");
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(err.path(), Some(path.as_path()));
        let err = Decoder::open(&path, 0).expect_err("must fail");
        assert_eq!(err.kind(), kind, "{err}");
    }
}

/// Issue 11 item 10: MPEG-4 Part 2 with B-frames, as Xvid/DivX DVR exports
/// hold it. In AVI the reordered pictures carry no pts, so the decoder's
/// picture times cannot be matched to packets: segment-parallel decoding
/// lost 9 of 400 frames on the repro. Such files must decode sequentially
/// by themselves; in Matroska (every pts kept) they are segmented, open GOPs
/// and all, and must still match bit for bit.
#[test]
fn mpeg4_part2_with_b_frames_decodes_every_frame_in_every_mode() {
    let dir = tempdir();
    for kind in [Xvid::BFrames, Xvid::Packed, Xvid::OpenGopMkv] {
        let path = xvid(dir.path(), kind);
        let info = media::probe(&path).expect("probes");
        let want_count = ffprobe_count_frames(&path);
        assert_eq!(info.frames, want_count, "{kind:?}: probe");
        let want = sequential(&path);
        assert_eq!(want.len() as u64, want_count, "{kind:?}: sequential");
        if kind == Xvid::OpenGopMkv {
            assert!(info.timestamps_complete);
            assert!(info.keyframes.iter().any(|k| k.leading_pictures));
            for workers in [2, 3] {
                assert_same(&parallel(&path, workers), &want, &format!("{kind:?}"));
            }
        } else {
            assert!(!info.timestamps_complete, "{kind:?}: dts-only packets");
        }
        // What the CLI and the pipeline use, with segments as short as the
        // keyframes allow.
        let opts = DecodeOptions {
            workers: 3,
            min_segment_frames: 1,
            target_segments: usize::MAX,
            queue: 2,
            ..DecodeOptions::default()
        };
        let (_, frames) = media::open(&path, &opts).expect("opens");
        assert_same(&hashes(frames), &want, &format!("{kind:?}, media::open"));
    }
}

/// Any frame, and every n-th frame, come out as the same pictures a full
/// decode gives, on short closed GOPs with B-frames, on open GOPs (leading
/// pictures decode after their keyframe), and on MPEG-4 part 2 in AVI.
#[test]
fn any_frame_and_every_nth_frame_match_a_full_decode() {
    use media::{EveryNth, FramesFrom};
    let dir = tempdir();
    let short = dir.path().join("gop10.mp4");
    let open = dir.path().join("open-gop.mp4");
    let x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-an"];
    make_clip(
        &sample("bikes.mp4"),
        &short,
        &[&x264[..], &["-g", "10", "-bf", "2"]].concat(),
    );
    make_clip(
        &sample("bikes.mp4"),
        &open,
        &[
            &x264[..],
            &["-g", "30", "-bf", "3", "-x264-params", "open-gop=1"],
        ]
        .concat(),
    );
    let cancel = obscura::Cancel::default();
    for path in [short, open, sample("vtest.avi")] {
        let info = media::probe(&path).expect("probes");
        let full = sequential(&path);
        let last = info.frames - 1;
        let mut wanted = vec![0, 1, info.frames / 2, last];
        for k in info.keyframes.iter().skip(1) {
            wanted.extend([k.index - 1, k.index, k.index + 1]);
        }
        for i in wanted.into_iter().filter(|&i| i <= last) {
            let f = media::frame_at(&info, i, 0).expect("frame_at");
            let got = (f.index(), f.pts(), f.view().sha256_hex());
            assert_eq!(got, full[i as usize], "{}: frame_at({i})", path.display());
        }
        let mid = info.frames / 3;
        let from = hashes(FramesFrom::open(&info, mid, 0, &cancel).expect("opens"));
        assert_same(&from, &full[mid as usize..], "from the middle");
        for every in [3, 25, 60] {
            let sparse =
                hashes(EveryNth::new(info.clone(), 0, every, 0, cancel.clone()).expect("every"));
            let want: Vec<_> = full.iter().filter(|f| f.0 % every == 0).cloned().collect();
            assert_same(
                &sparse,
                &want,
                &format!("{}: every {every}", path.display()),
            );
        }
        // Seeking forwards and back keeps the step from the new frame.
        let mut r = EveryNth::new(info.clone(), 0, 7, 0, cancel.clone()).expect("every");
        assert_eq!(r.next().expect("frame").expect("decodes").index(), 0);
        r.seek(last - 10);
        let f = r.next().expect("frame").expect("decodes");
        assert_eq!(
            (f.index(), f.view().sha256_hex()),
            (last - 10, full[(last - 10) as usize].2.clone())
        );
        assert_eq!(r.next().expect("frame").expect("decodes").index(), last - 3);
        assert!(r.next().is_none());
        r.seek(5);
        assert_eq!(r.next().expect("frame").expect("decodes").index(), 5);
        // Times map to the frame showing then; past the end is an error.
        assert_eq!(
            media::index_at_time(&info, f.time()).expect("time"),
            f.index()
        );
        assert_eq!(
            media::frame_at(&info, info.frames, 0)
                .expect_err("past the end")
                .kind(),
            ErrorKind::InvalidArgument
        );
        assert!(media::index_at_time(&info, -1.0).is_err());
    }
}
