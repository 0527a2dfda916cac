//! Person-level redaction on real CCTV footage with the converted NanoDet
//! model: people are tracked as their own class, a kept person is left
//! untouched, every other person is covered, and verification agrees.

use crate::common::*;
use crate::truth;
use obscura::detect::{Class, Detector, PersonDetector, PersonSettings};
use obscura::mask::camera::Style;
use obscura::media::{DecodeOptions, Decoder, EncodeOptions, Preset};
use obscura::pipeline::analyse::{self, AnalyseOptions};
use obscura::pipeline::redact::{self, PersonRegion, RedactOptions};
use obscura::pipeline::verify;
use obscura::pipeline::PipelineOptions;
use obscura::track::Track;
use std::path::{Path, PathBuf};

/// Two people walking on the left of vtest.avi (20 s in, 2 s, 400x240),
/// lossless, so untouched pixels can be compared exactly.
fn two_people(dir: &Path) -> PathBuf {
    let out = dir.join("two.mp4");
    make_clip(
        &sample("vtest.avi"),
        &out,
        &[
            "-ss",
            "20",
            "-t",
            "2",
            "-vf",
            "crop=400:240:0:100",
            "-c:v",
            "libx264",
            "-qp",
            "0",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    out
}

fn people_only() -> AnalyseOptions {
    AnalyseOptions {
        faces: None,
        plates: None,
        people: Some(PersonSettings::default()),
        ..AnalyseOptions::default()
    }
}

#[test]
fn nanodet_finds_the_people_of_a_cctv_frame() {
    let input = sample("vtest.avi");
    let frame = Decoder::open(&input, 0)
        .expect("opens")
        .nth(200)
        .expect("frame 200")
        .expect("decodes");
    let mut det = PersonDetector::new(PersonSettings::default(), 1).expect("model loads");
    let people: Vec<_> = det
        .detect(&frame.view())
        .expect("detects")
        .into_iter()
        .filter(|d| d.score >= 0.5)
        .collect();
    assert!(people.iter().all(|d| d.class == Class::Person));
    // Standing people in this view are 25-45 px wide and 60-110 px tall.
    let upright = people
        .iter()
        .filter(|d| d.bbox.h > d.bbox.w * 1.5 && (40.0..160.0).contains(&d.bbox.h))
        .count();
    assert!(upright >= 4, "{people:?}");
}

/// The hand-labelled people of vtest.avi (frames 200-345, every 5th):
/// the detector finds them at its default threshold and each keeps one
/// listed track (the figures behind the defaults; `examples/person_truth.rs`
/// prints them all).
#[test]
fn the_labelled_people_are_found_and_keep_one_track_each() {
    let input = sample("vtest.avi");
    let truth =
        truth::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vtest_people.json"))
            .expect("ground truth reads");
    assert_eq!(truth.frames.len(), 30);
    let mut det = PersonDetector::new(PersonSettings::default(), 1).expect("model loads");
    let (mut found, mut labelled) = (0, 0);
    for frame in Decoder::open(&input, 0).expect("opens").take(346) {
        let frame = frame.expect("decodes");
        let Some(l) = truth.frames.iter().find(|l| l.frame == frame.index()) else {
            continue;
        };
        let dets: Vec<_> = det
            .detect(&frame.view())
            .expect("detects")
            .iter()
            .map(|d| (d.bbox, d.score))
            .collect();
        found += truth::matches(l, &dets).0.len();
        labelled += l.people.len();
    }
    // Measured: 0.92 (precision 0.93).
    assert!(
        found as f64 >= 0.9 * labelled as f64,
        "{found} of {labelled}"
    );

    let analysis = truth::track_people(&input).expect("tracks");
    let listed: Vec<&Track> = analysis
        .tracks
        .iter()
        .filter(|t| t.class == Class::Person && t.confirmed)
        .collect();
    let (idf1, _, _, per_person, split, _) = truth::score(&truth, &listed);
    // Measured: IDF1 0.947, 1.12 tracks per person (motmetrics agrees).
    assert!(idf1 >= 0.8, "IDF1 {idf1}: {split:?}");
    assert!(
        per_person <= 1.5,
        "{per_person} tracks per person: {split:?}"
    );
}

#[test]
fn a_kept_person_is_untouched_and_every_other_person_is_covered() {
    let dir = tempdir();
    let input = two_people(dir.path());
    let listing = analyse::list_tracks(
        &input,
        &DecodeOptions::default(),
        &people_only(),
        &mut |_| {},
    )
    .expect("lists");
    let mut people: Vec<_> = listing
        .tracks
        .iter()
        .filter(|t| t.class == Class::Person)
        .collect();
    people.sort_by_key(|t| std::cmp::Reverse(t.detections));
    assert!(people.len() >= 2, "{:?}", listing.tracks);
    let (keep, other) = (people[0].id, people[1].id);

    let out = dir.path().join("out.mp4");
    let opts = RedactOptions {
        pipeline: PipelineOptions {
            encode: EncodeOptions {
                crf: 0,
                preset: Preset::Ultrafast,
                ..Default::default()
            },
            ..Default::default()
        },
        detect: Some(people_only()),
        keep_tracks: vec![keep],
        keep_reason: Some("the requester".into()),
        detection_style: Style::Solid,
        ..RedactOptions::new("D Officer", "SAR-2026-031 disclosure")
    };
    let record = redact::redact(&input, &out, &opts, &mut |_| {}).expect("redacts");
    let detection = record.detection.as_ref().expect("detection recorded");
    assert_eq!(detection.person_region, Some(PersonRegion::Body));
    assert!(detection.models.iter().any(|m| m.name == "nanodet"));
    assert!(record.counts.person_tracks >= 2);

    let track = |id: u32| record.tracks.iter().find(|t| t.id == id).expect("recorded");
    let boxes = |id: u32| -> std::collections::BTreeMap<u64, [i64; 4]> {
        track(id)
            .boxes
            .iter()
            .map(|b| (b[0] as u64, [b[1], b[2], b[3], b[4]]))
            .collect()
    };
    assert!(track(keep).kept && !track(other).kept);
    let (kept, covered) = (boxes(keep), boxes(other));
    let drawn = record.boxes_by_frame(false);
    assert!(
        kept.len() >= 15 && covered.len() >= 15,
        "{} {}",
        kept.len(),
        covered.len()
    );

    let inside = |b: &[i64; 4], x: usize, y: usize| {
        let (x, y) = (x as i64, y as i64);
        x >= b[0] && x < b[0] + b[2] && y >= b[1] && y < b[1] + b[3]
    };
    let src = Decoder::open(&input, 0).expect("opens");
    let red = Decoder::open(&out, 0).expect("opens");
    let (mut same, mut filled) = (0u64, 0u64);
    for (a, b) in src.zip(red) {
        let (a, b) = (a.expect("decodes"), b.expect("decodes"));
        let i = a.index();
        let (ya, yb) = (a.view().luma(), b.view().luma());
        let others: Vec<[i64; 4]> = drawn
            .get(&i)
            .map(|v| {
                v.iter()
                    .map(|d| [d.x as i64, d.y as i64, d.w as i64, d.h as i64])
                    .collect()
            })
            .unwrap_or_default();
        let in_drawn = |x, y| others.iter().any(|d| inside(d, x, y));
        if let Some(k) = kept.get(&i) {
            // The requester's pixels are the source's, bit for bit, except
            // where another box overlaps them.
            for y in 0..ya.height() {
                for x in 0..ya.width() {
                    if inside(k, x, y) && !in_drawn(x, y) {
                        assert_eq!(ya.row(y)[x], yb.row(y)[x], "frame {i} kept pixel ({x},{y})");
                        same += 1;
                    }
                }
            }
        }
        if let Some(c) = covered.get(&i) {
            // The other person is under one solid colour.
            let mut values = std::collections::BTreeSet::new();
            for y in 0..ya.height() {
                for x in 0..ya.width() {
                    if inside(c, x, y) && !kept.get(&i).is_some_and(|k| inside(k, x, y)) {
                        values.insert(yb.row(y)[x]);
                        filled += 1;
                    }
                }
            }
            assert!(
                values.len() <= 2,
                "frame {i}: {} values over person {other}",
                values.len()
            );
        }
    }
    assert!(
        same > 10_000 && filled > 10_000,
        "{same} kept, {filled} covered pixels"
    );

    // Person detection again on the output, at the record's settings: no
    // person is visible but the kept one.
    let residuals = verify::verify(
        &out,
        &DecodeOptions::default(),
        &detection.settings,
        Some(&record),
        0.3,
        &mut |_| {},
    )
    .expect("verifies");
    assert!(residuals.is_empty(), "{residuals:?}");
}

#[test]
fn heads_only_covers_each_head_and_replays() {
    let dir = tempdir();
    let input = two_people(dir.path());
    let out = dir.path().join("heads.mp4");
    let opts = RedactOptions {
        detect: Some(people_only()),
        person_region: PersonRegion::Head,
        ..RedactOptions::new("D Officer", "heads only")
    };
    let record = redact::redact(&input, &out, &opts, &mut |_| {}).expect("redacts");
    let detection = record.detection.as_ref().expect("detection recorded");
    assert_eq!(detection.person_region, Some(PersonRegion::Head));
    // Each drawn person box is a head band, not a standing body (people
    // here are more than twice as tall as wide).
    let person = record
        .tracks
        .iter()
        .filter(|t| t.class == Class::Person)
        .max_by_key(|t| t.detections)
        .expect("a person");
    for b in &person.boxes {
        assert!(
            b[4] > 5 && (b[4] as f32) < b[3] as f32 * 1.5,
            "head band {b:?}"
        );
    }
    // With heads only, a traffic cone the detector took for a person
    // (0.35-0.40 here) is re-detected below its obscured top; real people
    // score 0.5-0.85, so look at what scores as a person at 0.45 (the
    // independent check's threshold).
    let residuals = verify::verify(
        &out,
        &DecodeOptions::default(),
        &detection.settings,
        Some(&record),
        0.45,
        &mut |_| {},
    )
    .expect("verifies");
    assert!(residuals.is_empty(), "{residuals:?}");

    // The replay draws the same head bands.
    let again = dir.path().join("again.mp4");
    let replay = RedactOptions {
        replay: Some(redact::record_path(&out)),
        ..RedactOptions::new("D Officer", "replay check")
    };
    let second = redact::redact(&input, &again, &replay, &mut |_| {}).expect("replays");
    assert_eq!(second.boxes_by_frame(false), record.boxes_by_frame(false));
}

#[test]
fn keeping_a_person_keeps_their_face_and_the_record_says_why() {
    let dir = tempdir();
    let input = two_people(dir.path());
    let both = AnalyseOptions {
        plates: None,
        people: Some(PersonSettings::default()),
        ..AnalyseOptions::default()
    };
    let listing =
        analyse::list_tracks(&input, &DecodeOptions::default(), &both, &mut |_| {}).expect("lists");
    let person = listing
        .tracks
        .iter()
        .filter(|t| t.class == Class::Person && !t.linked.is_empty())
        .max_by_key(|t| t.detections)
        .expect("a person with a face");
    let faces = person.linked.clone();
    for f in &faces {
        let face = listing.tracks.iter().find(|t| t.id == *f).expect("listed");
        assert_eq!(face.class, Class::Face);
        assert_eq!(face.linked, vec![person.id], "a face names its person");
    }

    let out = dir.path().join("kept.mp4");
    let opts = RedactOptions {
        detect: Some(both),
        keep_tracks: vec![person.id],
        keep_reason: Some("the requester".into()),
        ..RedactOptions::new("D Officer", "SAR-2026-032 disclosure")
    };
    let record = redact::redact(&input, &out, &opts, &mut |_| {}).expect("redacts");
    for f in &faces {
        let t = record.tracks.iter().find(|t| t.id == *f).expect("recorded");
        assert!(t.kept, "face {f} of kept person {} is kept", person.id);
        let why = record
            .kept_tracks
            .iter()
            .find(|k| k.id == *f)
            .expect("listed as kept");
        assert_eq!(
            why.reason,
            format!("the requester (goes with kept track {})", person.id)
        );
    }
    // The same ids and tracks as the listing: one analysis. The record also
    // holds the person tracks the listing leaves out (never confirmed:
    // obscured, not offered for keeping).
    for t in &listing.tracks {
        let r = record
            .tracks
            .iter()
            .find(|r| r.id == t.id)
            .expect("recorded");
        assert_eq!((r.class, r.detections), (t.class, t.detections));
    }
    assert!(record
        .tracks
        .iter()
        .filter(|r| !listing.tracks.iter().any(|t| t.id == r.id))
        .all(|r| r.class == Class::Person && !r.kept));
    let residuals = verify::verify(
        &out,
        &DecodeOptions::default(),
        &record.detection.as_ref().expect("detection").settings,
        Some(&record),
        0.45,
        &mut |_| {},
    )
    .expect("verifies");
    assert!(residuals.is_empty(), "{residuals:?}");
}

#[test]
fn moving_covers_a_blob_no_detector_sees_and_replays() {
    let dir = tempdir();
    // A white square crossing a grey picture: no face, plate or person.
    let input = dir.path().join("blob.mp4");
    run(std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=320x240:d=2:r=25",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "color=c=white:s=24x24:d=2:r=25",
            "-filter_complex",
        ])
        .args([
            "[0][1]overlay=x='20+t*100':y=100,format=yuv420p",
            "-c:v",
            "libx264",
            "-qp",
            "0",
        ])
        .arg(&input));
    let out = dir.path().join("out.mp4");
    let opts = RedactOptions {
        pipeline: PipelineOptions {
            encode: EncodeOptions {
                crf: 0,
                preset: Preset::Ultrafast,
                ..Default::default()
            },
            ..Default::default()
        },
        detect: Some(AnalyseOptions {
            plates: None,
            ..AnalyseOptions::default()
        }),
        moving: true,
        detection_style: Style::Solid,
        ..RedactOptions::new("D Officer", "moving regions")
    };
    let record = redact::redact(&input, &out, &opts, &mut |_| {}).expect("redacts");
    assert!(record.moving);
    assert_eq!(record.counts.tracks, 0, "nothing for a detector to see");
    assert!(!record.moving_boxes.is_empty());

    let src = Decoder::open(&input, 0).expect("opens");
    let red = Decoder::open(&out, 0).expect("opens");
    let mut covered = 0;
    for (a, b) in src.zip(red) {
        let (a, b) = (a.expect("decodes"), b.expect("decodes"));
        let i = a.index();
        let (ya, yb) = (a.view().luma(), b.view().luma());
        // A still corner is untouched.
        assert_eq!(ya.row(5)[5], yb.row(5)[5], "frame {i}");
        // The square's centre, from the first frame the motion model
        // compares (the first one teaches it the background).
        let x = (20.0 + i as f64 / 25.0 * 100.0) as usize + 12;
        if i >= 1 && x < 320 {
            assert!(ya.row(112)[x] > 200, "frame {i}: the square is there");
            assert!(yb.row(112)[x] < 100, "frame {i}: the square is obscured");
            covered += 1;
        }
    }
    assert!(covered >= 45, "{covered} frames");

    let again = dir.path().join("again.mp4");
    let replay = RedactOptions {
        pipeline: opts.pipeline.clone(),
        replay: Some(redact::record_path(&out)),
        ..RedactOptions::new("D Officer", "replay check")
    };
    let second = redact::redact(&input, &again, &replay, &mut |_| {}).expect("replays");
    assert!(second.moving);
    assert_eq!(second.moving_boxes, record.moving_boxes);
    let hashes = |p: &Path| -> Vec<String> {
        Decoder::open(p, 0)
            .expect("opens")
            .map(|f| f.expect("decodes").view().sha256_hex())
            .collect()
    };
    assert_eq!(hashes(&out), hashes(&again));

    // A record whose moving regions were tampered with is refused, naming
    // the region, before anything is written.
    for (bad, says) in [
        ([0, -50, -50, 10, 10], "does not lie on the 320x240 picture"),
        ([9999, 10, 10, 10, 10], "outside the clip's 50 frames"),
    ] {
        let mut tampered = record.clone();
        tampered.moving_boxes[0] = bad;
        let path = dir.path().join("tampered.json");
        std::fs::write(&path, serde_json::to_vec(&tampered).expect("json")).expect("write");
        let third = dir.path().join("third.mp4");
        let err = redact::redact(
            &input,
            &third,
            &RedactOptions {
                replay: Some(path),
                ..RedactOptions::new("D Officer", "replay check")
            },
            &mut |_| {},
        )
        .expect_err("refused");
        assert_eq!(err.kind(), obscura::ErrorKind::InvalidArgument);
        assert!(
            err.message().contains("moving region") && err.message().contains(says),
            "{err}"
        );
        assert!(!third.exists());
    }
}
