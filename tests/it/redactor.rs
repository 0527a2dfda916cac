//! The object API: one `Redactor` checks its configuration when built,
//! loads its models once, and redacts many files; a `Job` carries progress
//! and cancellation.

use crate::common::{sample, tempdir};
use obscura::pipeline::{Clip, Job, Redactor};
use obscura::ErrorKind;
use std::sync::{Arc, Mutex};

#[test]
fn one_redactor_redacts_several_files_with_the_models_it_loaded() {
    let dir = tempdir();
    let mut redactor = Redactor::builder("T. Officer", "SAR test")
        .plates(false)
        .build()
        .expect("builds");
    assert!(redactor.detection_workers() >= 1);
    let clip = sample("carphone_pristine.mp4");
    let mut totals = Vec::new();
    for name in ["a.mp4", "b.mp4"] {
        let out = dir.path().join(name);
        let seen = Arc::new(Mutex::new(None));
        let last = Arc::clone(&seen);
        let mut job = Job::new().on_progress(move |p| {
            if let Ok(mut l) = last.lock() {
                *l = Some((p.frames, p.total));
            }
        });
        let record = redactor
            .redact(&Clip::new(&clip, &out), &mut job)
            .expect("redacts");
        assert!(out.is_file());
        assert!(record.counts.tracks >= 1, "the face is a track");
        assert!(record.counts.obscured_boxes > 0);
        assert_eq!(record.operator, "T. Officer");
        let got = *seen.lock().expect("lock");
        assert_eq!(got, Some((record.output.frames, record.output.frames)));
        totals.push((record.counts.tracks, record.counts.obscured_boxes));
    }
    // The same models on the same clip give the same redaction.
    assert_eq!(totals[0], totals[1]);
}

#[test]
fn a_bad_configuration_fails_at_build_before_any_file() {
    let err = Redactor::builder("", "why")
        .build()
        .expect_err("no operator");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = Redactor::builder("who", "why")
        .pad(9.0)
        .build()
        .expect_err("pad out of range");
    assert!(err.to_string().contains("pad"), "{err}");
    let camera =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cameras/vtest.toml");
    let err = Redactor::builder("who", "why")
        .camera(&camera)
        .unmask("no-such-mask", "RIPA/1")
        .build()
        .expect_err("unknown mask");
    assert!(err.to_string().contains("no-such-mask"), "{err}");
    let err = Redactor::builder("who", "why")
        .audit("/nonexistent-dir/x/index.db", None)
        .build()
        .expect_err("unusable trail");
    assert_ne!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn a_clip_is_checked_and_a_cancelled_job_leaves_nothing() {
    let dir = tempdir();
    let mut redactor = Redactor::builder("who", "why")
        .plates(false)
        .build()
        .expect("builds");
    let clip = sample("carphone_pristine.mp4");
    let out = dir.path().join("kept.mp4");
    let err = redactor
        .redact(&Clip::new(&clip, &out).keep([1], " "), &mut Job::new())
        .expect_err("a kept track needs a reason");
    assert!(err.to_string().contains("keep_reason"), "{err}");
    assert!(!out.exists());
    let job = Job::new();
    job.cancel_token().cancel();
    let mut job = job;
    let err = redactor
        .redact(&Clip::new(&clip, &out), &mut job)
        .expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Interrupted, "{err}");
    assert!(!out.exists());
    assert!(!obscura::pipeline::redact::record_path(&out).exists());
    // The redactor still works after a failed and a cancelled call.
    redactor
        .redact(&Clip::new(&clip, &out), &mut Job::new())
        .expect("redacts");
    assert!(out.is_file());
}

#[test]
fn every_face_and_plate_is_detected_unless_switched_off() {
    let redactor = Redactor::builder("who", "why").build().expect("builds");
    let detect = redactor
        .options()
        .detect
        .clone()
        .expect("detection by default");
    assert!(
        detect.faces.is_some() && detect.plates.is_some(),
        "{detect:?}"
    );
    assert_eq!(
        detect,
        obscura::pipeline::analyse::AnalyseOptions::default()
    );
    assert!(redactor.detection_workers() >= 1);

    let faces = Redactor::builder("who", "why")
        .plates(false)
        .build()
        .expect("builds");
    let detect = faces.options().detect.clone().expect("faces");
    assert!(
        detect.faces.is_some() && detect.plates.is_none(),
        "{detect:?}"
    );

    // Neither: masks and manual boxes only, no models loaded.
    let none = Redactor::builder("who", "why")
        .faces(false)
        .plates(false)
        .build()
        .expect("builds");
    assert_eq!(none.options().detect, None);
    assert_eq!(none.detection_workers(), 0);
    let back = Redactor::builder("who", "why")
        .faces(false)
        .plates(false)
        .faces(true)
        .build()
        .expect("builds");
    let detect = back.options().detect.clone().expect("faces again");
    assert!(
        detect.faces.is_some() && detect.plates.is_none(),
        "{detect:?}"
    );
}
