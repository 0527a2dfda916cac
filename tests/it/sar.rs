//! Subject access redaction: detection, tracking, kept tracks, plates,
//! verification and replay, on real footage and the real models.

use crate::common::*;
use obscura::detect::{
    plate_like, BBox, Class, Detection, Detector, FaceDetector, FacePrecision, FaceSettings,
    PlateDetector, PlateReader, PlateSettings,
};
use obscura::frame::FrameView;
use obscura::media::{self, DecodeOptions, Decoder, EncodeOptions, Preset};
use obscura::pipeline::analyse::{self, AnalyseOptions};
use obscura::pipeline::redact::{self, RedactOptions, RedactionRecord};
use obscura::pipeline::PipelineOptions;
use obscura::track::{Source, TrackerSettings};
use obscura::ErrorKind;
use std::path::Path;
use std::process::Command;

fn faces_only(workers: usize) -> AnalyseOptions {
    AnalyseOptions {
        workers,
        plates: None,
        ..Default::default()
    }
}

pub(crate) fn sar_opts(keep: Vec<u32>) -> RedactOptions {
    RedactOptions {
        pipeline: PipelineOptions {
            encode: EncodeOptions {
                crf: 0,
                preset: Preset::Ultrafast,
                ..Default::default()
            },
            ..Default::default()
        },
        detect: Some(faces_only(0)),
        keep_reason: (!keep.is_empty()).then(|| "the requester".to_string()),
        keep_tracks: keep,
        ..RedactOptions::new("D Officer", "SAR-2026-007 disclosure")
    }
}

/// Boxes the record says were drawn, by frame.
fn drawn(record: &RedactionRecord) -> std::collections::BTreeMap<u64, Vec<BBox>> {
    record.boxes_by_frame(false)
}

#[test]
fn every_face_found_in_the_original_is_covered_and_verify_finds_nothing() {
    let dir = tempdir();
    let input = sample("carphone_pristine.mp4");
    let out = dir.path().join("cp.mp4");
    let record = redact::redact(&input, &out, &sar_opts(vec![]), &mut |_| {}).expect("redacts");
    assert_eq!(record.output.frames, 120);
    // Behind detection, x264's threads slice each picture (less memory),
    // and the record says so.
    assert_eq!(record.encode.threading, media::Threading::Slices);
    // Detection ran the 8-bit model, the default.
    assert!(record
        .detection
        .as_ref()
        .is_some_and(|d| d.models[0].name == "centerface-int8"));

    // Independently: every face the float CenterFace finds in the original
    // frames is inside a drawn box in that frame.
    let boxes = drawn(&record);
    let mut det = FaceDetector::new(float_faces(), 2).expect("model loads");
    let mut found = 0;
    for f in Decoder::open(&input, 0).expect("opens") {
        let f = f.expect("decodes");
        for d in det.detect(&f.view()).expect("detects") {
            found += 1;
            let covered = boxes
                .get(&f.index())
                .is_some_and(|bs| bs.iter().any(|b| d.bbox.covered_by(b) >= 0.95));
            assert!(
                covered,
                "frame {}: face {:?} not covered",
                f.index(),
                d.bbox
            );
        }
    }
    assert!(
        found >= 120,
        "the face is found in every frame of this clip ({found})"
    );

    let residuals = obscura::pipeline::verify::verify(
        &out,
        &Default::default(),
        &faces_only(0),
        Some(&record),
        0.3,
        &mut |_| {},
    )
    .expect("verifies");
    assert!(residuals.is_empty(), "{residuals:?}");
}

/// The float face model at the default settings: the reference the 8-bit
/// one is held to.
fn float_faces() -> FaceSettings {
    FaceSettings {
        precision: FacePrecision::Float,
        ..FaceSettings::default()
    }
}

#[test]
fn the_8_bit_face_model_leaves_no_cctv_face_that_the_float_model_finds() {
    // Small CCTV faces (8-12 px, read at 2x) are where 8-bit arithmetic
    // could lose a face: 60 frames of the overhead sample.
    let dir = tempdir();
    let input = dir.path().join("cctv.mp4");
    make_clip(&sample("vtest.avi"), &input, &["-frames:v", "60"]);
    let out = dir.path().join("cctv-redacted.mp4");
    let mut opts = sar_opts(vec![]);
    if let Some(f) = opts.detect.as_mut().and_then(|d| d.faces.as_mut()) {
        f.precision = FacePrecision::Int8;
    }
    let record = redact::redact(&input, &out, &opts, &mut |_| {}).expect("redacts");
    let d = record.detection.as_ref().expect("detection recorded");
    assert_eq!(d.models[0].name, "centerface-int8");
    assert_eq!(
        d.settings.faces.map(|f| f.precision),
        Some(FacePrecision::Int8)
    );
    assert!(
        record.counts.face_tracks >= 5,
        "the people crossing the square are found ({} face tracks)",
        record.counts.face_tracks
    );
    // verify-redaction reads with the float model whatever the record
    // says: every face it finds at 0.5 or more must be obscured.
    let v = obscura::pipeline::verify::verify_redaction(
        &out,
        None,
        None,
        Some(0.5),
        &Default::default(),
        &mut |_| {},
    )
    .expect("verifies");
    assert!(v.residuals.is_empty(), "{:?}", v.residuals);
    // The float model does find faces in the original: the check is not
    // empty for want of faces.
    let mut det = FaceDetector::new(float_faces(), 2).expect("model loads");
    let found: usize = Decoder::open(&input, 0)
        .expect("opens")
        .map(|f| {
            let f = f.expect("decodes");
            det.detect(&f.view())
                .expect("detects")
                .iter()
                .filter(|d| d.score >= 0.5)
                .count()
        })
        .sum();
    assert!(
        found >= 20,
        "float faces at >= 0.5 in the original: {found}"
    );
}

/// Two faces side by side: the sample beside its mirror image.
pub(crate) fn two_faces(dir: &Path) -> std::path::PathBuf {
    let clip = dir.join("two.mp4");
    let src = sample("carphone_pristine.mp4");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src)
        .args([
            "-filter_complex",
            "[0]split[a][b];[b]hflip[c];[a][c]hstack",
            "-c:v",
            "libx264",
            "-crf",
            "10",
            "-preset",
            "veryfast",
        ])
        .arg(&clip));
    clip
}

#[test]
fn faces_left_visible_count_though_verification_reads_the_original_too() {
    // Verification reads the original's frame behind every residual face
    // and sets aside only those where the original shows no face at all
    // (a mosaic's edge read as a face). Faces that were never obscured are
    // in the original too, so every one of them must still count.
    let dir = tempdir();
    let clip = dir.path().join("two-40.mp4");
    make_clip(&two_faces(dir.path()), &clip, &["-frames:v", "40"]);
    let out = dir.path().join("plates-only.mp4");
    let opts = RedactOptions {
        detect: Some(AnalyseOptions {
            faces: None,
            ..Default::default()
        }),
        ..sar_opts(vec![])
    };
    redact::redact(&clip, &out, &opts, &mut |_| {}).expect("redacts");
    // Faces, with the record beside the output.
    let verify = || {
        obscura::pipeline::verify::verify_redaction(
            &out,
            None,
            Some(faces_only(0)),
            None,
            &DecodeOptions::default(),
            &mut |_| {},
        )
        .expect("verifies")
    };
    let v = verify();
    assert!(v.record.is_some(), "the record beside the output is read");
    let faces = v
        .residuals
        .iter()
        .filter(|r| r.class == obscura::detect::Class::Face)
        .count();
    assert!(faces >= 70, "both faces on every frame: {faces}");
    assert!(
        v.made_by_obscuring.is_empty(),
        "nothing set aside: {:?}",
        v.made_by_obscuring
    );

    // A record pointed at another "original" with no face in it (a grey
    // clip of the same size and length, its own sha256) must not excuse
    // the faces: its frames are not the pictures the output was made from.
    let grey = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=352x144:r=30",
            "-frames:v",
            "40",
        ],
        &dir.path().join("grey.mp4"),
    );
    // Rewrites the record beside the output to name `original` as its
    // input, with that file's own sha256.
    let record_path = redact::record_path(&out);
    let point_at = |original: &Path| {
        let mut record: RedactionRecord =
            serde_json::from_slice(&std::fs::read(&record_path).expect("record")).expect("parses");
        record.input.path = original.to_path_buf();
        record.input.sha256 = file_sha256(original);
        std::fs::write(
            &record_path,
            serde_json::to_vec(&record).expect("serialises"),
        )
        .expect("writes");
    };
    point_at(&grey);
    let tampered = verify();
    assert_eq!(tampered.residuals.len(), v.residuals.len());
    assert!(tampered.made_by_obscuring.is_empty());

    // Nor one forged from the output itself with both faces painted grey:
    // most of each frame is the output's picture, but the faces' own
    // pixels are not what the output shows, and the obscuring drew nothing
    // there.
    let forged = ffmpeg(
        &[
            "-i",
            out.to_str().expect("utf-8 path"),
            "-vf",
            "drawbox=x=45:y=14:w=78:h=100:c=gray:t=fill,drawbox=x=229:y=14:w=78:h=100:c=gray:t=fill",
            "-c:v",
            "libx264",
            "-crf",
            "10",
        ],
        &dir.path().join("forged.mp4"),
    );
    point_at(&forged);
    let forged_check = verify();
    assert_eq!(forged_check.residuals.len(), v.residuals.len());
    assert!(forged_check.made_by_obscuring.is_empty());
}

#[test]
fn a_kept_track_stays_untouched_while_the_other_face_is_covered() {
    let dir = tempdir();
    let clip = two_faces(dir.path());
    let listing = analyse::list_tracks(
        &clip,
        &DecodeOptions::default(),
        &faces_only(0),
        &mut |_| {},
    )
    .expect("tracks");
    let long: Vec<_> = listing
        .tracks
        .iter()
        .filter(|t| t.detections >= 100)
        .collect();
    assert_eq!(
        long.len(),
        2,
        "two faces, two long tracks: {:?}",
        listing.tracks
    );
    // Keep the face on the left half.
    let left = long
        .iter()
        .find(|t| listing.tracks.iter().any(|x| x.id == t.id) && t.first_frame == 0)
        .expect("a track from the start");
    let keep = left.id;

    let out = dir.path().join("kept.mp4");
    let record = redact::redact(&clip, &out, &sar_opts(vec![keep]), &mut |_| {}).expect("redacts");
    assert_eq!(record.kept_tracks.len(), 1);
    assert_eq!(record.kept_tracks[0].reason, "the requester");
    let kept = record
        .tracks
        .iter()
        .find(|t| t.id == keep)
        .expect("recorded");
    assert!(kept.kept);
    let other_boxes = drawn(&record);

    // Lossless output: kept pixels equal the input's, except where another
    // track's box overlaps them; the other face is obscured.
    let src = Decoder::open(&clip, 0).expect("opens");
    let red = Decoder::open(&out, 0).expect("opens");
    for (a, b) in src.zip(red) {
        let (a, b) = (a.expect("decodes"), b.expect("decodes"));
        let f = a.index();
        let Some(kb) = kept.boxes.iter().find(|k| k[0] as u64 == f) else {
            continue;
        };
        let (ya, yb) = (a.view().luma(), b.view().luma());
        let others = other_boxes.get(&f).cloned().unwrap_or_default();
        for y in kb[2]..kb[2] + kb[4] {
            for x in kb[1]..kb[1] + kb[3] {
                let inside_other = others.iter().any(|o| {
                    (x as f32) >= o.x
                        && (x as f32) < o.x + o.w
                        && (y as f32) >= o.y
                        && (y as f32) < o.y + o.h
                });
                if !inside_other {
                    assert_eq!(
                        ya.row(y as usize)[x as usize],
                        yb.row(y as usize)[x as usize],
                        "frame {f} kept pixel ({x},{y}) changed"
                    );
                }
            }
        }
    }
    let residuals = obscura::pipeline::verify::verify(
        &out,
        &Default::default(),
        &faces_only(0),
        Some(&record),
        0.3,
        &mut |_| {},
    )
    .expect("verifies");
    assert!(residuals.is_empty(), "other face visible: {residuals:?}");
    // Without the record, the kept face is (rightly) reported.
    let residuals = obscura::pipeline::verify::verify(
        &out,
        &Default::default(),
        &faces_only(0),
        None,
        0.5,
        &mut |_| {},
    )
    .expect("verifies");
    assert!(!residuals.is_empty());
}

/// The real face detector, blind on some frames (called in frame order by
/// a single worker).
struct Blinking {
    inner: FaceDetector,
    calls: u64,
}

impl Detector for Blinking {
    fn detect(&mut self, frame: &FrameView<'_>) -> obscura::Result<Vec<Detection>> {
        let n = self.calls;
        self.calls += 1;
        let dets = self.inner.detect(frame)?;
        Ok(if n % 10 >= 6 { Vec::new() } else { dets })
    }
}

#[test]
fn missed_detections_are_covered_by_interpolation() {
    let det = Blinking {
        inner: FaceDetector::new(FaceSettings::default(), 2).expect("loads"),
        calls: 0,
    };
    let analysis = analyse::analyse(
        &sample("carphone_pristine.mp4"),
        &DecodeOptions::sequential(),
        &mut [vec![Box::new(det)]],
        TrackerSettings::default(),
        &mut |_| {},
        |_, _, _| {},
    )
    .expect("analyses");
    assert_eq!(
        analysis.tracks.len(),
        1,
        "{:?}",
        analysis
            .tracks
            .iter()
            .map(|t| (t.id, t.first(), t.last()))
            .collect::<Vec<_>>()
    );
    let t = &analysis.tracks[0];
    for f in 0..120u64 {
        let b = t
            .boxes
            .get(&f)
            .unwrap_or_else(|| panic!("frame {f} uncovered"));
        let want = match f {
            116.. => Source::Predicted, // blind to the end: held at its predicted place
            _ if f % 10 >= 6 => Source::Interpolated,
            _ => Source::Detected,
        };
        assert_eq!(b.source, want, "frame {f}");
    }
}

#[test]
fn plates_rendered_onto_cctv_frames_are_detected() {
    let dir = tempdir();
    let mut det = PlateDetector::new(PlateSettings::default(), 2).expect("model loads");
    // 768x576 is read at 960x736, in two windows of 544x736 by default
    // (the plates below cross their seam); the same in one run too.
    let mut one_run = PlateDetector::new(PlateSettings::default(), 2)
        .expect("model loads")
        .with_input_limit(0);
    let clean = media::open(sample("vtest.avi"), &DecodeOptions::sequential())
        .expect("opens")
        .1
        .next()
        .expect("frame")
        .expect("decodes");
    let clean_dets = det.detect(&clean.view()).expect("detects");
    for (size, angle) in [(20u32, 0.0f32), (34, 0.08), (48, -0.06)] {
        let (frame, truth) = scene_with_text(dir.path(), "AB12 CDE", "0xF5D300", size, angle);
        for (how, det) in [("in windows", &mut det), ("in one run", &mut one_run)] {
            let dets = det.detect(&frame.view()).expect("detects");
            let hit = dets
                .iter()
                .any(|d| d.bbox.covered_by(&truth) > 0.5 && truth.covered_by(&d.bbox) > 0.3);
            assert!(
                hit,
                "plate of size {size} at {angle} rad not found {how}: {dets:?}"
            );
        }
        // And the clean frame has no plate-shaped text there.
        assert!(
            clean_dets.iter().all(|d| d.bbox.covered_by(&truth) < 0.5),
            "{clean_dets:?}"
        );
    }
}

/// A frame of vtest.avi with `text` rendered in black (DejaVu Sans Bold,
/// `size` px) on a `colour` panel turned by `angle` radians, at (300, 380);
/// returns the frame and the unturned panel's box.
fn scene_with_text(
    dir: &Path,
    text: &str,
    colour: &str,
    size: u32,
    angle: f32,
) -> (media::DecodedFrame, BBox) {
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
    assert!(
        Path::new(font).is_file(),
        "{font} missing: run scripts/setup.sh (fonts-dejavu-core)"
    );
    let panel_w = size * (text.len() as u32 * 3 / 4 + 1);
    let name = format!("{size}-{angle}-{}", text.replace(' ', "_"));
    let panel = dir.join(format!("panel-{name}.png"));
    run(Command::new("ffmpeg").args([
        "-v", "error", "-y", "-f", "lavfi", "-i",
        &format!("color=c={colour}:s={panel_w}x{}", size * 3 / 2),
        "-vf",
        &format!("drawtext=fontfile={font}:text='{text}':fontsize={size}:fontcolor=black:x=(w-text_w)/2:y=(h-text_h)/2,rotate={angle}:c=none:ow=rotw({angle}):oh=roth({angle}),format=rgba"),
        "-frames:v", "1",
    ]).arg(&panel));
    let scene = dir.join(format!("scene-{name}.png"));
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(sample("vtest.avi"))
        .arg("-i")
        .arg(&panel)
        .args(["-filter_complex", "[0][1]overlay=300:380", "-frames:v", "1"])
        .arg(&scene));
    let frame = first_frame(&scene);
    let panel_box = BBox {
        x: 300.0,
        y: 380.0,
        w: panel_w as f32,
        h: (size * 3 / 2) as f32,
    };
    (frame, panel_box)
}

#[test]
fn the_recogniser_confirms_plates_and_rejects_signs() {
    let dir = tempdir();
    let mut reader = PlateReader::new(2).expect("recogniser loads");
    let mut confirming = PlateDetector::new(
        PlateSettings {
            confirm: true,
            ..PlateSettings::default()
        },
        2,
    )
    .expect("models load");
    let mut plain = PlateDetector::new(PlateSettings::default(), 2).expect("model loads");
    for size in [34u32, 48] {
        let (frame, panel) = scene_with_text(dir.path(), "AB12 CDE", "0xF5D300", size, 0.0);
        let (text, score) = reader.read(&frame.view(), &panel).expect("reads");
        assert_eq!(text.replace(' ', ""), "AB12CDE", "read {text:?} at {score}");
        assert!(plate_like(&text) && score > 0.8, "{text:?} {score}");
        let dets = confirming.detect(&frame.view()).expect("detects");
        let plate = dets.iter().find(|d| d.bbox.covered_by(&panel) > 0.5);
        let Some(plate) = plate else {
            panic!("confirmed plate of size {size} missing: {dets:?}")
        };
        // The confirmed plate carries what was read; the unconfirmed
        // detector reads nothing.
        let read = plate.text.as_deref().map(|t| t.replace(' ', ""));
        assert_eq!(read.as_deref(), Some("AB12CDE"), "{plate:?}");
        assert!(plain
            .detect(&frame.view())
            .expect("detects")
            .iter()
            .all(|d| d.text.is_none()));

        // A shop sign of plate-like shape: the geometry filter alone keeps
        // it; the recogniser reads a word, not a plate, and drops it.
        let (frame, panel) = scene_with_text(dir.path(), "BAKERY", "0xFFFFFF", size, 0.0);
        let (text, _) = reader.read(&frame.view(), &panel).expect("reads");
        assert!(!plate_like(&text), "{text:?} taken for a plate");
        let on_sign = |dets: &[Detection]| dets.iter().any(|d| d.bbox.covered_by(&panel) > 0.5);
        assert!(
            on_sign(&plain.detect(&frame.view()).expect("detects")),
            "sign {size} not even a text region"
        );
        assert!(
            !on_sign(&confirming.detect(&frame.view()).expect("detects")),
            "sign {size} confirmed as a plate"
        );
    }
}

#[test]
fn replay_recreates_the_same_frames() {
    let dir = tempdir();
    let input = sample("carphone_pristine.mp4");
    let first = dir.path().join("first.mp4");
    let mut o = sar_opts(vec![]);
    o.boxes = vec!["10-30:0,0,40,30".parse().expect("a box")];
    redact::redact(&input, &first, &o, &mut |_| {}).expect("redacts");
    let second = dir.path().join("second.mp4");
    let replay = RedactOptions {
        pipeline: o.pipeline.clone(),
        replay: Some(redact::record_path(&first)),
        ..RedactOptions::new("D Officer", "replay check")
    };
    let record = redact::redact(&input, &second, &replay, &mut |_| {}).expect("replays");
    assert!(record.replay_of.is_some());
    let hashes = |p: &Path| -> Vec<String> {
        Decoder::open(p, 0)
            .expect("opens")
            .map(|f| f.expect("decodes").view().sha256_hex())
            .collect()
    };
    assert_eq!(hashes(&first), hashes(&second));
    // Replaying onto other footage is refused.
    let err = redact::redact(
        &sample("bikes.mp4"),
        &dir.path().join("x.mp4"),
        &replay,
        &mut |_| {},
    )
    .expect_err("wrong input");
    assert!(err.to_string().contains("sha256"), "{err}");
}

#[test]
fn kept_tracks_need_a_reason_and_must_exist() {
    let dir = tempdir();
    let input = sample("carphone_pristine.mp4");
    let mut o = sar_opts(vec![1]);
    o.keep_reason = None;
    let err =
        redact::redact(&input, &dir.path().join("a.mp4"), &o, &mut |_| {}).expect_err("no reason");
    assert!(err.to_string().contains("keep_reason"), "{err}");
    let o = sar_opts(vec![42]);
    let err = redact::redact(&input, &dir.path().join("a.mp4"), &o, &mut |_| {})
        .expect_err("no such track");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("no track 42"), "{err}");
    assert!("5-2:0,0,10,10".parse::<redact::ManualBox>().is_err());
    assert!("5:0,0,0,10".parse::<redact::ManualBox>().is_err());
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

/// Scene redaction: in a lossless output only the kept track's boxes keep
/// their pixels, everything else is one solid fill; the record says so and
/// a replay re-creates the same frames.
#[test]
fn scene_redaction_leaves_only_the_kept_track_and_replays() {
    let dir = tempdir();
    let input = sample("carphone_pristine.mp4");
    let listing = analyse::list_tracks(
        &input,
        &DecodeOptions::default(),
        &faces_only(0),
        &mut |_| {},
    )
    .expect("lists");
    let keep = listing
        .tracks
        .iter()
        .max_by_key(|t| t.detections)
        .expect("a face track")
        .id;
    let out = dir.path().join("scene.mp4");
    let mut o = sar_opts(vec![keep]);
    o.scene = true;
    o.detection_style = obscura::mask::camera::Style::Solid;
    let record = redact::redact(&input, &out, &o, &mut |_| {}).expect("redacts");
    assert!(record.scene);
    let kept = record.boxes_by_frame(true);
    assert!(kept.len() > 10, "{} frames with the kept track", kept.len());

    let src = Decoder::open(&input, 0).expect("opens");
    let red = Decoder::open(&out, 0).expect("opens");
    let (mut inside, mut outside) = (0u64, 0u64);
    for (a, b) in src.zip(red) {
        let (a, b) = (a.expect("decodes"), b.expect("decodes"));
        let boxes = kept.get(&a.index()).cloned().unwrap_or_default();
        let (ya, yb) = (a.view().luma(), b.view().luma());
        let mut fill = std::collections::BTreeSet::new();
        for y in 0..ya.height() {
            for x in 0..ya.width() {
                let (fx, fy) = (x as f32, y as f32);
                let in_kept = boxes
                    .iter()
                    .any(|k| fx >= k.x && fx < k.x + k.w && fy >= k.y && fy < k.y + k.h);
                if in_kept {
                    assert_eq!(
                        ya.row(y)[x],
                        yb.row(y)[x],
                        "frame {} kept pixel ({x},{y})",
                        a.index()
                    );
                    inside += 1;
                } else {
                    fill.insert(yb.row(y)[x]);
                    outside += 1;
                }
            }
        }
        assert!(
            fill.len() <= 1,
            "frame {}: {} values outside the kept box",
            a.index(),
            fill.len()
        );
    }
    assert!(
        inside > 0 && outside > inside,
        "{inside} kept, {outside} obscured pixels"
    );

    // A replay of the record is a scene redaction too, frame for frame.
    let again = dir.path().join("again.mp4");
    let replay = RedactOptions {
        pipeline: o.pipeline.clone(),
        replay: Some(redact::record_path(&out)),
        ..RedactOptions::new("D Officer", "replay check")
    };
    let second = redact::redact(&input, &again, &replay, &mut |_| {}).expect("replays");
    assert!(second.scene);
    let hashes = |p: &Path| -> Vec<String> {
        Decoder::open(p, 0)
            .expect("opens")
            .map(|f| f.expect("decodes").view().sha256_hex())
            .collect()
    };
    assert_eq!(hashes(&out), hashes(&again));
}

/// Plates are searched only where something moved or a plate was recently
/// found, with a whole-frame pass every 32 frames (the default); every
/// plate that a search of every whole frame finds is still obscured as
/// redaction draws it: a parked plate, one driving across, one that
/// appears half-way. (The whole-frame search also reads a walker's head
/// as text on the odd frame; those are not plates and not counted.)
#[test]
fn plates_searched_in_regions_are_obscured_wherever_a_whole_frame_search_finds_them() {
    let dir = tempdir();
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
    let plate = |text: &str, size: u32, colour: &str, x: &str, y: &str, when: &str| {
        format!(
            "drawtext=fontfile={font}:text='{text}':fontsize={size}:fontcolor=black:box=1:boxcolor={colour}:boxborderw={}:x={x}:y={y}:enable='{when}'",
            size / 4
        )
    };
    let vf = [
        plate("AB12 CDE", 20, "white", "100", "450", "gte(t,0)"),
        plate("KX65 TRW", 16, "yellow", "50+t*120", "150", "gte(t,0)"),
        plate(
            "YT70 HJK",
            18,
            "yellow",
            "500",
            "80+t*30",
            "between(t,1.5,4)",
        ),
    ]
    .join(",");
    let src = sample("vtest.avi");
    let clip = ffmpeg(
        &[
            "-i",
            &src.to_string_lossy(),
            "-t",
            "4",
            "-vf",
            &vf,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "18",
            "-an",
        ],
        &dir.path().join("plates.mp4"),
    );
    let opts = AnalyseOptions {
        faces: None,
        ..AnalyseOptions::default()
    };
    assert!(opts.roi.is_some_and(|r| r.plates));
    let mut sets = analyse::worker_detectors(&opts).expect("models load");
    // A point inside each rendered plate's first letter, on frame `f`
    // (10 frames a second).
    let letters = |f: u64| {
        let t = f as f32 / 10.0;
        let mut at = vec![(110.0, 458.0), (60.0 + 120.0 * t, 157.0)];
        if t >= 1.5 {
            at.push((510.0, 88.0 + 30.0 * t));
        }
        at
    };
    let rendered = |f: u64, b: &BBox| {
        (letters(f).iter()).any(|&(x, y)| x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h)
    };
    // Plates on every whole frame (no regions), then in regions: the
    // tracks, and each frame's plates.
    let mut run = |roi| {
        let mut plates: Vec<(u64, BBox)> = Vec::new();
        let analysis = analyse::analyse_with(
            &clip,
            &DecodeOptions::default(),
            &mut sets,
            opts.tracker,
            roi,
            &mut |_| {},
            |f, dets, _| {
                let seen = dets.iter().filter(|d| d.class == Class::Plate);
                plates.extend(seen.map(|d| (f.index(), d.bbox)));
            },
        )
        .expect("analyses");
        (analysis, plates)
    };
    let (whole, mut found) = run(None);
    found.retain(|(f, b)| rendered(*f, b));
    // The whole-frame search finds the three plates on most of their 105
    // frames.
    assert!(
        found.len() >= 90,
        "{} found: {:?}",
        found.len(),
        whole.tracks
    );
    let (regions, _) = run(opts.roi);
    // What redaction draws: each track box grown by its uncertainty, padded.
    let mut drawn: std::collections::HashMap<u64, Vec<BBox>> = Default::default();
    for t in regions.tracks.iter().filter(|t| t.class == Class::Plate) {
        for (f, b) in &t.boxes {
            let grown = b.bbox.padded(redact::uncertainty(t.class, b.gap));
            drawn
                .entry(*f)
                .or_default()
                .push(redact::pad_box(&grown, 1.3));
        }
    }
    let obscured = |f: u64, p: &BBox| {
        let boxes = drawn.get(&f).map(Vec::as_slice).unwrap_or_default();
        let inside = (0..100)
            .filter(|k| {
                let x = p.x + p.w * ((k % 10) as f32 + 0.5) / 10.0;
                let y = p.y + p.h * ((k / 10) as f32 + 0.5) / 10.0;
                boxes
                    .iter()
                    .any(|b| x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h)
            })
            .count();
        inside >= 90
    };
    let missed: Vec<&(u64, BBox)> = found.iter().filter(|(f, p)| !obscured(*f, p)).collect();
    assert!(
        missed.is_empty(),
        "{} of {} plates left visible: {missed:?}",
        missed.len(),
        found.len()
    );
}
