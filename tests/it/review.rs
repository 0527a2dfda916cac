//! Review before redaction: the preview of the officer's decisions is
//! what the replay of the review's record writes, pixel for pixel.

use crate::common::*;
use crate::sar::{sar_opts, two_faces};
use obscura::frame::FrameView;
use obscura::media::Decoder;
use obscura::pipeline::redact::{self, KeptTrack, ManualBox, RedactOptions};
use obscura::pipeline::review::{Decisions, Review};
use obscura::pipeline::Job;
use obscura::ErrorKind;

/// The visible samples of a picture, Y then U then V.
fn samples(v: &FrameView<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..3 {
        let p = v.plane(i);
        for y in 0..p.height() {
            out.extend_from_slice(&p.row(y)[..p.width()]);
        }
    }
    out
}

#[test]
fn a_review_previews_exactly_what_the_replay_of_its_record_writes() {
    let dir = tempdir();
    let clip = two_faces(dir.path());
    let opts = sar_opts(vec![]);
    let review = Review::start(&clip, &opts, None, &mut Job::new()).expect("finds tracks");
    assert_eq!(review.thumbnails().len(), review.tracks().len());
    let long: Vec<_> = review
        .tracks()
        .iter()
        .filter(|t| t.detections >= 100)
        .collect();
    assert_eq!(long.len(), 2, "{:?}", review.tracks());
    let keep = long
        .iter()
        .find(|t| t.first_frame == 0)
        .expect("a track from the start")
        .id;
    let box_over: ManualBox = "10-20:0,0,40,30".parse().expect("a box");
    let d = Decisions {
        keep: vec![KeptTrack {
            id: keep,
            reason: "the requester".into(),
        }],
        boxes: vec![box_over],
        lifted: Vec::new(),
    };
    let frames = [0u64, 15, 60, 119];
    let previews: Vec<Vec<u8>> = frames
        .iter()
        .map(|&f| samples(&review.preview(&d, f).expect("previews").view()))
        .collect();
    // Something is drawn: the other face, and the box on frame 15.
    let source: Vec<Vec<u8>> = {
        let mut by_index = std::collections::BTreeMap::new();
        for f in Decoder::open(&clip, 0).expect("opens") {
            let f = f.expect("decodes");
            if frames.contains(&f.index()) {
                by_index.insert(f.index(), samples(&f.view()));
            }
        }
        by_index.into_values().collect()
    };
    for (p, s) in previews.iter().zip(&source) {
        assert_ne!(p, s, "the preview draws over the other face");
    }

    // The review's saved state is a redaction record; its replay writes
    // the output (lossless here, so pixels can be compared).
    let record = review
        .record(&d, "D Officer", "SAR-2026-007 disclosure", Some("SAR/7"))
        .expect("a record");
    assert!(record.output.sha256.is_empty(), "nothing written yet");
    assert_eq!(record.kept_tracks[0].reason, "the requester");
    let draft = dir.path().join("review.redaction.json");
    std::fs::write(&draft, serde_json::to_vec(&record).expect("json")).expect("write");
    let out = dir.path().join("disclosed.mp4");
    let done = redact::redact(
        &clip,
        &out,
        &RedactOptions {
            replay: Some(draft.clone()),
            ..sar_opts(vec![])
        },
        &mut |_| {},
    )
    .expect("replays");
    assert_eq!(done.tracks, record.tracks);
    assert_eq!(done.kept_tracks, record.kept_tracks);
    assert_eq!(done.manual_boxes, record.manual_boxes);
    assert_eq!(done.counts.obscured_boxes, record.counts.obscured_boxes);
    assert!(done.replay_of.is_some());
    let mut written = std::collections::BTreeMap::new();
    for f in Decoder::open(&out, 0).expect("opens") {
        let f = f.expect("decodes");
        if frames.contains(&f.index()) {
            written.insert(f.index(), samples(&f.view()));
        }
    }
    for ((f, p), w) in frames.iter().zip(&previews).zip(written.values()) {
        assert!(p == w, "frame {f}: the output is not the preview");
    }
}

#[test]
fn decisions_that_do_not_fit_the_clip_are_refused() {
    let dir = tempdir();
    let input = sample("carphone_pristine.mp4");
    let review = Review::start(&input, &sar_opts(vec![]), None, &mut Job::new()).expect("tracks");
    let id = review.tracks()[0].id;
    let bad = [
        Decisions {
            keep: vec![KeptTrack {
                id: 9999,
                reason: "x".into(),
            }],
            ..Default::default()
        },
        Decisions {
            keep: vec![KeptTrack {
                id,
                reason: " ".into(),
            }],
            ..Default::default()
        },
        Decisions {
            boxes: vec!["0-5:500,10,40,40".parse().expect("box")],
            ..Default::default()
        },
        Decisions {
            lifted: vec![redact::LiftedMask {
                id: "window".into(),
                authorisation: "RIPA/1".into(),
                operator: "D Officer".into(),
            }],
            ..Default::default()
        },
    ];
    for d in &bad {
        let e = review.preview(d, 0).expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{d:?}: {e}");
        assert!(review.record(d, "D Officer", "SAR", None).is_err());
    }
    let past_the_end = review.preview(&Decisions::default(), 10_000);
    assert!(past_the_end.is_err());
    let _ = dir;
}
