//! Motion incidents on clips made here with the ffmpeg CLI (a square moving
//! during known frames, a still scene, a brightness step, an ignore-zone,
//! a timestamp jump) and on vtest.avi, sequential against segment-parallel.

use crate::common::{run, sample, tempdir};
use obscura::clock::{self, TimeSource};
use obscura::mask::camera::CameraProfile;
use obscura::motion::{MotionAnalysis, MotionOptions};
use obscura::pipeline::indexing;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const FPS: f64 = 25.0;

/// Makes `name` in `dir`: `secs` seconds of a grey 320x240 scene with
/// light temporal noise at 25 fps, then `stages` (ffmpeg filters separated
/// by `;`, or [`square`]s), H.264 with a keyframe every 2 s, plus `extra`
/// output args.
pub fn synth(dir: &Path, name: &str, secs: u32, stages: &str, extra: &[&str]) -> PathBuf {
    let dst = dir.join(name);
    let mut graph = "[0:v]noise=alls=6:allf=t[s0]".to_string();
    let mut cur = 0;
    for (k, stage) in stages.split(';').filter(|s| !s.is_empty()).enumerate() {
        let next = k + 1;
        match stage.strip_prefix("square:") {
            Some(spec) => {
                let v: Vec<&str> = spec.split(':').collect();
                let (from, to, y) = (v[0], v[1], v[2]);
                graph.push_str(&format!(
                    ";color=c=white:s=40x40:r=25[b{k}];[s{cur}][b{k}]overlay=x='20+100*(t-{from})':y={y}:enable='between(t,{from},{to})':shortest=1[s{next}]"
                ));
            }
            None => graph.push_str(&format!(";[s{cur}]{stage}[s{next}]")),
        }
        cur = next;
    }
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c=0x707070:s=320x240:r=25:d={secs}"))
        .args(["-filter_complex", &graph, "-map", &format!("[s{cur}]")])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "18",
            "-g",
            "50",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .args(extra)
        .arg(&dst);
    run(&mut cmd);
    dst
}

/// A stage for [`synth`]: a white 40x40 square crossing the picture at
/// 100 px/s from x = 20 while `from <= t <= to`.
pub fn square(from: f64, to: f64, y: u32) -> String {
    format!("square:{from}:{to}:{y}")
}

fn analyse(path: &Path, profile: Option<&CameraProfile>, opts: &MotionOptions) -> MotionAnalysis {
    indexing::scan(path, profile, None, opts, &|_| {}).expect("analyses")
}

fn profile(extra: &str) -> CameraProfile {
    let text = format!(
        "camera = 3\nname = \"Test\"\ntown = \"T\"\ndesk = \"A\"\ncoordinates = \"normalised\"\n{extra}"
    );
    CameraProfile::parse(&text, Path::new("test.toml")).expect("valid profile")
}

fn seq() -> MotionOptions {
    MotionOptions {
        segments: 1,
        ..MotionOptions::default()
    }
}

#[test]
fn a_square_moving_during_known_frames_gives_one_event_with_padded_bounds() {
    let dir = tempdir();
    // Frames 100..=150 (4 s to 6 s) hold the moving square.
    let clip = synth(dir.path(), "square.mp4", 10, &square(4.0, 6.0, 100), &[]);
    let a = analyse(&clip, None, &seq());
    assert_eq!(a.frames, 250);
    assert_eq!(a.incidents.len(), 1, "{:?}", a.incidents);
    let i = &a.incidents[0];
    let frame = 1.0 / FPS;
    // Padding rules: 1.5 s before the first moving frame, 2 s after the
    // end of the last one.
    let (want_start, want_end) = (4.0 - 1.5, 6.0 + frame + 2.0);
    assert!(
        (i.start_s - want_start).abs() <= frame + 1e-6,
        "start {} (expected {want_start})",
        i.start_s
    );
    assert!(
        (i.end_s - want_end).abs() <= frame + 1e-6,
        "end {} (expected {want_end})",
        i.end_s
    );
    assert!((4.0..=6.04).contains(&i.peak_s), "peak at {}", i.peak_s);
    // The square's path: x 20..260, y 100..140.
    let [x0, y0, x1, y1] = i.bbox;
    assert!(
        x0 <= 30 && x1 >= 240 && y0 <= 102 && y1 >= 138,
        "{:?}",
        i.bbox
    );
    assert!(y0 >= 90 && y1 <= 150, "{:?}", i.bbox);
    // Heatmap: hot along the square's rows, cold at the top.
    assert_eq!(i.heatmap.len(), 256);
    assert_eq!(i.heatmap.iter().copied().max(), Some(255));
    assert!(i.heatmap[..16 * 4].iter().all(|&v| v == 0));
    assert_eq!(&i.thumbnail[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(a.wall_clock.source, TimeSource::Unknown);
    assert!(i.start_utc.is_none(), "no time is invented");
}

#[test]
fn a_still_scene_and_a_brightness_step_give_no_events() {
    let dir = tempdir();
    let still = synth(dir.path(), "still.mp4", 8, "", &[]);
    let a = analyse(&still, None, &seq());
    assert!(a.incidents.is_empty(), "{:?}", a.incidents);
    assert_eq!(a.recalibrations, 0);
    // Lights on at 4 s, on a textured scene (vtest.avi's first picture).
    let bg = dir.path().join("bg.png");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(sample("vtest.avi"))
        .args(["-frames:v", "1"])
        .arg(&bg));
    let step = dir.path().join("step.mp4");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-framerate", "25", "-i"])
        .arg(&bg)
        .args(["-t", "8", "-vf", "eq=brightness=0.25:enable='gte(t,4)'"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "18",
            "-g",
            "50",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&step));
    let a = analyse(&step, None, &seq());
    assert!(a.incidents.is_empty(), "{:?}", a.incidents);
    assert!(a.recalibrations >= 1, "the step should recalibrate");
}

#[test]
fn an_ignore_zone_suppresses_motion_inside_it() {
    let dir = tempdir();
    let clip = synth(dir.path(), "zone.mp4", 8, &square(3.0, 5.0, 100), &[]);
    let zone =
        "[[ignore_zone]]\nid = \"road\"\npolygon = [[0, 0.35], [1, 0.35], [1, 0.65], [0, 0.65]]\n";
    let with = analyse(&clip, Some(&profile(zone)), &seq());
    assert!(with.incidents.is_empty(), "{:?}", with.incidents);
    let without = analyse(&clip, Some(&profile("")), &seq());
    assert_eq!(without.incidents.len(), 1);
}

fn frames_covered(a: &MotionAnalysis) -> u64 {
    a.incidents
        .iter()
        .map(|i| i.end_frame - i.start_frame + 1)
        .sum()
}

#[test]
fn vtest_events_cover_the_frames_where_people_move() {
    let a = analyse(&sample("vtest.avi"), None, &seq());
    assert_eq!(a.frames, 795);
    assert!(!a.incidents.is_empty());
    // Pedestrians cross the path all through the clip.
    let covered = frames_covered(&a);
    assert!(covered >= 795 * 9 / 10, "{covered} of 795 frames");
    for i in &a.incidents {
        assert!(i.peak_score > 0.002, "{i:?}");
        assert!(i.bbox[2] <= 768 && i.bbox[3] <= 576 && i.bbox[0] < i.bbox[2]);
        assert_eq!(&i.thumbnail[..2], &[0xFF, 0xD8]);
    }
}

/// Events of two runs agree frame for frame, give or take one.
fn assert_same_events(a: &MotionAnalysis, b: &MotionAnalysis) {
    // Frames only: an incident's heatmap and thumbnail would bury them.
    let spans = |m: &MotionAnalysis| -> Vec<(u64, u64)> {
        m.incidents
            .iter()
            .map(|i| (i.start_frame, i.end_frame))
            .collect()
    };
    let (x, y) = (spans(a), spans(b));
    assert_eq!(x.len(), y.len(), "{x:?} vs {y:?}");
    for (p, q) in x.iter().zip(&y) {
        assert!(
            p.0.abs_diff(q.0) <= 1 && p.1.abs_diff(q.1) <= 1,
            "{x:?} vs {y:?}"
        );
    }
}

#[test]
fn segment_parallel_events_match_a_sequential_run() {
    // vtest.avi: keyframes every 250 frames, so with 4 segments and 200
    // warm-up frames the last segment warms up from frame 250.
    let opts = MotionOptions {
        segments: 4,
        warmup_frames: 200,
        thumbnail_width: 0,
        ..MotionOptions::default()
    };
    let path = sample("vtest.avi");
    let par = analyse(&path, None, &opts);
    assert_eq!(par.segments, 4);
    let one = analyse(
        &path,
        None,
        &MotionOptions {
            segments: 1,
            ..opts.clone()
        },
    );
    assert_eq!(one.segments, 1);
    assert_same_events(&par, &one);

    // Quiet stretches and an event across a segment boundary (frame 750
    // of 1500 at 30 s), keyframes every 2 s.
    let dir = tempdir();
    let filters = [
        square(8.0, 10.0, 40),
        square(29.0, 31.5, 100),
        square(50.0, 51.0, 180),
    ]
    .join(";");
    let clip = synth(dir.path(), "long.mp4", 60, &filters, &[]);
    let par = analyse(&clip, None, &opts);
    let one = analyse(
        &clip,
        None,
        &MotionOptions {
            segments: 1,
            ..opts.clone()
        },
    );
    assert_eq!(par.segments, 4);
    assert_eq!(one.incidents.len(), 3, "{:?}", one.incidents);
    assert!(one.incidents[1].start_frame < 750 && one.incidents[1].end_frame > 750);
    assert_same_events(&par, &one);
}

#[test]
fn an_hd_file_indexed_as_one_segment_gives_the_same_incidents_however_it_is_decoded() {
    // 1280x720 (where one decoder with four frame threads per core feeds
    // the analysis), with B-frames: the same incidents, heatmaps and
    // thumbnails as FFmpeg's own choice of threads and as segment-parallel
    // decoding.
    let dir = tempdir();
    let clip = dir.path().join("vtest_720p.mp4");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(sample("vtest.avi"))
        .args(["-t", "20", "-vf", "scale=1280:720", "-c:v", "libx264"])
        .args(["-preset", "veryfast", "-crf", "26", "-g", "50"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&clip));
    let with = |decode_workers| {
        analyse(
            &clip,
            None,
            &MotionOptions {
                decode_workers,
                ..seq()
            },
        )
    };
    let frame_threaded = with(0);
    assert_eq!(frame_threaded.segments, 1);
    assert_eq!(frame_threaded.frames, 200);
    assert!(!frame_threaded.incidents.is_empty());
    assert!(frame_threaded
        .incidents
        .iter()
        .all(|i| !i.thumbnail.is_empty()));
    assert_eq!(with(1).incidents, frame_threaded.incidents);
    assert_eq!(with(2).incidents, frame_threaded.incidents);
}

#[test]
fn wall_clock_comes_from_option_then_creation_time_then_file_name() {
    let dir = tempdir();
    let named = synth(
        dir.path(),
        "cam03_20261105_100000.mp4",
        2,
        "",
        &["-metadata", "creation_time=2026-11-04T09:00:00Z"],
    );
    let p = profile("filename_pattern = \"cam03_%Y%m%d_%H%M%S.mp4\"\n");
    let a = indexing::scan(&named, Some(&p), None, &seq(), &|_| {}).expect("ok");
    assert_eq!(a.wall_clock.source, TimeSource::CreationTime);
    assert_eq!(
        a.wall_clock.start.map(|t| t.to_rfc3339()),
        Some("2026-11-04T09:00:00+00:00".into())
    );
    let explicit = clock::parse_utc("2026-11-06T12:00:00Z");
    let a = indexing::scan(&named, Some(&p), explicit, &seq(), &|_| {}).expect("ok");
    assert_eq!(a.wall_clock.source, TimeSource::Explicit);
    let untagged = synth(dir.path(), "cam03_20261105_100000b.mp4", 2, "", &[]);
    let renamed = dir.path().join("cam03_20261105_100000.mp4");
    std::fs::rename(&untagged, &renamed).expect("rename");
    let a = indexing::scan(&renamed, Some(&p), None, &seq(), &|_| {}).expect("ok");
    assert_eq!(a.wall_clock.source, TimeSource::FilenamePattern);
    assert_eq!(
        a.wall_clock.start.map(|t| t.to_rfc3339()),
        Some("2026-11-05T10:00:00+00:00".into())
    );
}

#[test]
fn a_timestamp_jump_inside_a_file_is_found() {
    let dir = tempdir();
    // 5 s missing after frame 100.
    let clip = synth(
        dir.path(),
        "jump.mp4",
        8,
        "setpts='if(gte(N,100),PTS+5/TB,PTS)'",
        &["-fps_mode", "passthrough"],
    );
    let a = analyse(&clip, None, &seq());
    assert_eq!(a.gaps.len(), 1, "{:?}", a.gaps);
    assert!((a.gaps[0].after_s - 3.96).abs() < 0.05, "{:?}", a.gaps);
    assert!((a.gaps[0].missing_s - 5.0).abs() < 0.05, "{:?}", a.gaps);
}

/// A 320x240 grey clip of `seconds` at 25 fps, x264 with a GOP of 50 and
/// no noise (so its still stretches have tiny inter packets), with the
/// filter graph `graph` (input `[0:v]`, output `[out]`) drawn over it.
fn x264_clip(dir: &Path, name: &str, seconds: u32, graph: &str) -> PathBuf {
    x264_clip_with(dir, name, seconds, graph, &["-preset", "ultrafast"])
}

/// [`x264_clip`] with other encoder options `extra`.
fn x264_clip_with(dir: &Path, name: &str, seconds: u32, graph: &str, extra: &[&str]) -> PathBuf {
    let clip = dir.join(name);
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c=0x707070:s=320x240:r=25:d={seconds}"))
        .args(["-filter_complex", graph, "-map", "[out]"])
        .args(["-c:v", "libx264", "-crf", "18"])
        .args(extra)
        .args(["-g", "50", "-pix_fmt", "yuv420p"])
        .arg(&clip));
    clip
}

/// `clip` analysed in full and with triage (which it has enough still
/// GOPs to use), checked to give the same frames and events; and triage
/// on one thread and on three, checked to give exactly the same result.
fn full_and_triaged(clip: &Path) -> MotionAnalysis {
    let info = obscura::media::probe(clip).expect("probe");
    assert!(indexing::still_share(&info) >= indexing::TRIAGE_MIN_STILL_SHARE);
    let full = analyse(clip, None, &seq());
    let triage = |threads| {
        let mut a = analyse(
            clip,
            None,
            &MotionOptions {
                triage: true,
                threads,
                ..seq()
            },
        );
        a.seconds = 0.0;
        a
    };
    let triaged = triage(3);
    assert_eq!(triaged.frames, full.frames);
    assert_eq!(full.skipped_frames, 0);
    assert!(
        triaged.skipped_frames > 0 && triaged.skipped_frames < triaged.frames,
        "{} of {} frames skipped",
        triaged.skipped_frames,
        triaged.frames
    );
    assert_same_events(&full, &triaged);
    assert_eq!(triage(1), triaged);
    full
}

#[test]
fn triage_skips_still_stretches_and_keeps_the_events() {
    let dir = tempdir();
    // Motion at 5-7 s and 40-42 s of 60 s; the rest is a still picture.
    let graph = "color=c=white:s=40x40:r=25[b0];color=c=white:s=40x40:r=25[b1];\
        [0:v][b0]overlay=x='20+100*(t-5)':y=60:enable='between(t,5,7)':shortest=1[s1];\
        [s1][b1]overlay=x='20+100*(t-40)':y=140:enable='between(t,40,42)':shortest=1[out]";
    let clip = x264_clip(dir.path(), "quiet.mp4", 60, graph);
    let info = obscura::media::probe(&clip).expect("probe");
    let still = info
        .keyframes
        .iter()
        .filter(|k| indexing::gop_looks_still(k))
        .count();
    assert!(
        still >= 20,
        "{still} of {} GOPs look still",
        info.keyframes.len()
    );
    let full = full_and_triaged(&clip);
    assert_eq!(full.incidents.len(), 2, "{:?}", full.incidents);
}

#[test]
fn triage_keeps_the_events_of_open_gop_footage_with_b_frames() {
    let dir = tempdir();
    // Three walk-throughs of 60 s, in GOPs whose B-frames and open-GOP
    // leading pictures refer across keyframes: a run of changing GOPs is
    // decoded from its keyframe without the pictures before it. On this
    // flat picture a moving box's packets are 44-59 bytes (a still GOP's
    // 21): with B-frames they stayed under the old 64-byte floor, and
    // triage found none of the three events.
    let graph = "color=c=white:s=40x40:r=25[b0];color=c=white:s=40x40:r=25[b1];\
        color=c=white:s=40x40:r=25[b2];\
        [0:v][b0]overlay=x='20+100*(t-5)':y=60:enable='between(t,5,7)':shortest=1[s1];\
        [s1][b1]overlay=x='20+100*(t-23)':y=140:enable='between(t,23,25.5)':shortest=1[s2];\
        [s2][b2]overlay=x='240-100*(t-41)':y=100:enable='between(t,41,43)':shortest=1[out]";
    let clip = x264_clip_with(
        dir.path(),
        "open-gop.mp4",
        60,
        graph,
        &[
            "-preset",
            "veryfast",
            "-bf",
            "3",
            "-x264-params",
            "open-gop=1",
        ],
    );
    let info = obscura::media::probe(&clip).expect("probe");
    assert!(
        info.keyframes.iter().filter(|k| k.leading_pictures).count() >= 2,
        "the clip has open-GOP keyframes: {:?}",
        info.keyframes
    );
    let full = full_and_triaged(&clip);
    assert_eq!(full.incidents.len(), 3, "{:?}", full.incidents);
}

#[test]
fn triage_analyses_all_intra_footage_in_full() {
    let dir = tempdir();
    // MJPEG (as many IP cameras record): every frame is a keyframe, so
    // packet sizes say nothing about motion. (Every GOP looked still, and
    // triage skipped every frame and found no event.)
    let graph = "color=c=white:s=40x40:r=25[b0];\
        [0:v][b0]overlay=x='20+100*(t-5)':y=60:enable='between(t,5,7)':shortest=1[out]";
    let clip = dir.path().join("intra.avi");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("color=c=0x707070:s=320x240:r=25:d=20")
        .args(["-filter_complex", graph, "-map", "[out]"])
        .args(["-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p"])
        .arg(&clip));
    let info = obscura::media::probe(&clip).expect("probe");
    assert_eq!(info.keyframes.len() as u64, info.frames);
    assert_eq!(indexing::still_share(&info), 0.0);
    let full = analyse(&clip, None, &seq());
    let triaged = analyse(
        &clip,
        None,
        &MotionOptions {
            triage: true,
            ..seq()
        },
    );
    assert_eq!(triaged.skipped_frames, 0);
    assert_eq!(full.incidents.len(), 1, "{:?}", full.incidents);
    assert_same_events(&full, &triaged);
}

#[test]
fn triage_decodes_on_until_a_mover_that_stopped_has_settled() {
    let dir = tempdir();
    // A box moves at 5-8 s, then stays where it stopped until the end of
    // the 40 s clip: the motion model sees it there until it has learned
    // it into the background (`still_frames`, 1 s), in GOPs whose packets
    // are tiny. (Skipping them, triage ended the event 26 frames early.)
    let graph = "color=c=white:s=40x40:r=25[b0];\
        [0:v][b0]overlay=x='20+80*(min(t,8)-5)':y=100:enable='gte(t,5)':shortest=1[out]";
    let clip = x264_clip(dir.path(), "stops.mp4", 40, graph);
    let info = obscura::media::probe(&clip).expect("probe");
    let after_stop = info
        .keyframes
        .iter()
        .filter(|k| k.index >= 8 * 25 && indexing::gop_looks_still(k))
        .count();
    assert!(
        after_stop >= 10,
        "{after_stop} GOPs after the stop look still"
    );
    let full = full_and_triaged(&clip);
    assert_eq!(full.incidents.len(), 1, "{:?}", full.incidents);
    // The event outlasts the movement and its 2 s of padding.
    assert!(full.incidents[0].end_s > 10.5, "{:?}", full.incidents);
}

/// The picture of frame `index` of `clip`, as the thumbnail encoder makes
/// it from a plain decode.
fn thumbnail_of_frame(clip: &Path, index: u64, width: usize) -> Vec<u8> {
    let decoder = obscura::media::Decoder::open(clip, 1).expect("opens");
    for frame in decoder {
        let frame = frame.expect("decodes");
        if frame.index() == index {
            return obscura::frame::sheet::encode_jpeg(&frame.view(), width).expect("encodes");
        }
    }
    panic!("{} has no frame {index}", clip.display());
}

fn rgb(jpeg: &[u8]) -> image::RgbImage {
    image::load_from_memory(jpeg).expect("a JPEG").to_rgb8()
}

#[test]
fn every_incident_thumbnail_shows_its_peak_frame() {
    let dir = tempdir();
    // Two walk-throughs on a still picture; the second, 4 s long, is cut
    // by a 2 s event cap, so its later pieces peak inside a stretch of
    // motion, not at its best frame (their thumbnails are decoded again).
    let graph = "color=c=white:s=40x40:r=25[b0];color=c=white:s=40x40:r=25[b1];\
        [0:v][b0]overlay=x='20+100*(t-5)':y=60:enable='between(t,5,7)':shortest=1[s1];\
        [s1][b1]overlay=x='20+60*(t-30)':y=140:enable='between(t,30,34)':shortest=1[out]";
    let clip = x264_clip(dir.path(), "walks.mp4", 50, graph);
    let capped = MotionOptions {
        max_event_s: 2.0,
        ..seq()
    };
    let segments = MotionOptions {
        segments: 3,
        warmup_frames: 100,
        ..capped.clone()
    };
    let width = capped.thumbnail_width;
    for opts in [seq(), capped.clone(), segments] {
        let a = analyse(&clip, None, &opts);
        assert!(a.incidents.len() >= 2, "{:?}", a.incidents);
        for i in &a.incidents {
            assert!(
                i.thumbnail == thumbnail_of_frame(&clip, i.peak_frame, width),
                "incident at {}-{} s (segments {}): the thumbnail is not of peak frame {}",
                i.start_s,
                i.end_s,
                opts.segments,
                i.peak_frame
            );
        }
    }
    // Triage analyses pictures decoded without the deblocking filter: the
    // thumbnail is of the peak frame, within a few grey levels.
    let triaged = analyse(
        &clip,
        None,
        &MotionOptions {
            triage: true,
            ..capped
        },
    );
    assert!(triaged.skipped_frames > 0);
    for i in &triaged.incidents {
        let (got, want) = (
            rgb(&i.thumbnail),
            rgb(&thumbnail_of_frame(&clip, i.peak_frame, width)),
        );
        assert_eq!(got.dimensions(), want.dimensions());
        let diff: u64 = got
            .as_raw()
            .iter()
            .zip(want.as_raw())
            .map(|(&a, &b)| u64::from(a.abs_diff(b)))
            .sum();
        let mean = diff as f64 / got.as_raw().len() as f64;
        assert!(
            mean < 2.0,
            "peak frame {}: mean difference {mean}",
            i.peak_frame
        );
    }
}
