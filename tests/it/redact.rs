use crate::common::*;
use obscura::mask::camera::{CameraProfile, LoadedProfile};
use obscura::media::{EncodeOptions, Preset};
use obscura::pipeline::redact::{self, RedactOptions};
use obscura::pipeline::PipelineOptions;
use obscura::ErrorKind;
use std::path::{Path, PathBuf};

fn profile_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cameras")
}

const HEADER: &str = "camera = 3\nname = \"High St\"\ntown = \"Exampleton\"\ndesk = \"A\"\n[reference]\nwidth = 640\nheight = 480\n";

fn parse_err(body: &str) -> String {
    let text = format!("{HEADER}{body}");
    let err = CameraProfile::parse(&text, Path::new("cam3.toml")).expect_err("must be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let msg = err.to_string();
    assert!(msg.starts_with("cam3.toml: "), "{msg}");
    msg
}

#[test]
fn invalid_profiles_name_the_file_field_and_valid_range() {
    let m = parse_err("[[mask]]\nid = \"w\"\nstyle = \"mosaic\"\npolygon = []\n");
    assert!(
        m.contains("mask[0]") && m.contains("polygon") && m.contains("expected >= 3"),
        "{m}"
    );
    let m =
        parse_err("[[mask]]\nid = \"w\"\nstyle = \"mosaic\"\npolygon = [[0,0],[10,10],[20,20]]\n");
    assert!(m.contains("degenerate") && m.contains("zero area"), "{m}");
    let m =
        parse_err("[[mask]]\nid = \"w\"\nstyle = \"mosaic\"\npolygon = [[0,0],[nan,10],[20,0]]\n");
    assert!(
        m.contains("polygon[1]") && m.contains("not a number"),
        "{m}"
    );
    let m =
        parse_err("[[mask]]\nid = \"w\"\nstyle = \"mosaic\"\npolygon = [[0,0],[-1,10],[20,0]]\n");
    assert!(
        m.contains("polygon[1]") && m.contains("expected >= 0"),
        "{m}"
    );
    let m =
        parse_err("[[mask]]\nid = \"w\"\nstyle = \"swirl\"\npolygon = [[0,0],[10,10],[20,0]]\n");
    assert!(
        m.contains("swirl") && m.contains("mosaic, blur, solid"),
        "{m}"
    );
    let m = parse_err(
        "[[mask]]\nid = \"w\"\nstyle = \"solid\"\npolygon = [[0,0],[10,10],[20,0]]\n[[mask]]\nid = \"w\"\nstyle = \"blur\"\npolygon = [[0,0],[10,10],[20,0]]\n",
    );
    assert!(
        m.contains("mask[1]") && m.contains("duplicate mask id"),
        "{m}"
    );
    let m = parse_err(
        "[[mask]]\nid = \"w\"\nstyle = \"solid\"\ntile = 2\npolygon = [[0,0],[10,10],[20,0]]\n",
    );
    assert!(
        m.contains("tile") && m.contains("expected >= 4, <= 512"),
        "{m}"
    );
    let m = parse_err("[[mask]]\nid = \"w\"\nstyle = \"solid\"\npolgon = [[0,0],[10,10],[20,0]]\n");
    assert!(m.contains("polgon"), "{m}");
    let err = CameraProfile::parse(
        "camera = 1\nname = \"n\"\ntown = \"t\"\ndesk = \"d\"\n",
        Path::new("c.toml"),
    )
    .expect_err("no reference");
    assert!(err.to_string().contains("reference"), "{err}");
    let err = LoadedProfile::load("/nonexistent/cam.toml").expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

fn opts(camera: Option<PathBuf>) -> RedactOptions {
    RedactOptions {
        pipeline: PipelineOptions {
            encode: EncodeOptions {
                preset: Preset::Ultrafast,
                ..Default::default()
            },
            ..Default::default()
        },
        camera,
        // Masks only: these tests are about the camera's privacy masks.
        detect: None,
        operator: "J Smith (operator 114)".into(),
        reason: "Code of Practice privacy masks".into(),
        ..Default::default()
    }
}

#[test]
fn lifting_a_mask_needs_an_authorisation_and_a_known_mask() {
    let dir = tempdir();
    let out = dir.path().join("out.mp4");
    let input = sample("vtest.avi");
    let mut o = opts(Some(profile_dir().join("vtest.toml")));
    o.unmask = vec!["block-b-windows".into()];
    let err = redact::redact(&input, &out, &o, &mut |_| {}).expect_err("no authorisation");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("authorisation"), "{err}");
    o.authorisation = Some("RIPA/2026/0042".into());
    o.unmask = vec!["no-such-mask".into()];
    let err = redact::redact(&input, &out, &o, &mut |_| {}).expect_err("unknown mask");
    assert!(
        err.to_string().contains("block-b-windows"),
        "lists the masks: {err}"
    );
    let mut o = opts(Some(profile_dir().join("vtest.toml")));
    o.operator = " ".into();
    assert!(redact::redact(&input, &out, &o, &mut |_| {}).is_err());
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "nothing written"
    );
}

#[test]
fn redacting_keeps_timing_and_the_record_hashes_match_the_files() {
    let dir = tempdir();
    let input = sample("vtest.avi");
    let out = dir.path().join("cam7-redacted.mp4");
    let mut o = opts(Some(profile_dir().join("vtest.toml")));
    o.unmask = vec!["block-a-door".into()];
    o.authorisation = Some("RIPA/2026/0042".into());
    o.case_reference = Some("SAR-2026-118".into());
    let record = redact::redact(&input, &out, &o, &mut |_| {}).expect("redacts");

    assert_eq!(ffprobe_count_frames(&out), ffprobe_count_frames(&input));
    let (a, b) = (ffprobe_frame_times(&input), ffprobe_frame_times(&out));
    assert_eq!(a.len(), b.len());
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-4));

    let on_disk: redact::RedactionRecord =
        serde_json::from_slice(&std::fs::read(redact::record_path(&out)).expect("record written"))
            .expect("JSON");
    assert_eq!(on_disk, record);
    assert_eq!(record.schema, redact::RECORD_SCHEMA);
    assert_eq!(record.input.sha256, file_sha256(&input));
    assert_eq!(record.output.sha256, file_sha256(&out));
    assert_eq!(record.output.frames, 795);
    // Masks only: encoding sets the pace, with x264's own threading.
    assert_eq!(record.encode.threading, obscura::media::Threading::Frames);
    let camera = record.camera.as_ref().expect("camera recorded");
    assert_eq!(
        camera.sha256,
        file_sha256(&profile_dir().join("vtest.toml"))
    );
    let applied: Vec<_> = record.masks_applied.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(applied, ["block-b-windows", "block-a-windows"]);
    assert!(record
        .masks_applied
        .iter()
        .all(|m| m.pixels > 0 && m.frames == 795));
    assert_eq!(record.masks_lifted.len(), 1);
    assert_eq!(record.masks_lifted[0].authorisation, "RIPA/2026/0042");
    assert_eq!(record.masks_lifted[0].operator, "J Smith (operator 114)");
    assert!(record.started_utc <= record.finished_utc);
}

#[test]
fn masked_pixels_are_obscured_in_the_output_and_the_rest_survives() {
    // Decode a lossless redaction and compare with the source frame by frame
    // on the luma plane: inside the mosaic mask the picture is replaced;
    // away from the masks it is the source's.
    let dir = tempdir();
    let input = sample("vtest.avi");
    let out = dir.path().join("lossless.mp4");
    let mut o = opts(Some(profile_dir().join("vtest.toml")));
    o.pipeline.encode.crf = 0;
    redact::redact(&input, &out, &o, &mut |_| {}).expect("redacts");
    let src = obscura::media::Decoder::open(&input, 0).expect("opens");
    let red = obscura::media::Decoder::open(&out, 0).expect("opens");
    let mut frames = 0;
    for (a, b) in src.zip(red).step_by(50) {
        let (a, b) = (a.expect("decodes"), b.expect("decodes"));
        let (ya, yb) = (a.view().luma(), b.view().luma());
        // Inside block-b-windows (326..572, 33..84): replaced.
        let inside_same = (40..80)
            .flat_map(|y| (330..570).map(move |x| (x, y)))
            .filter(|&(x, y)| ya.row(y)[x] == yb.row(y)[x])
            .count();
        assert!(
            inside_same < 40 * 240 / 5,
            "mask barely changed: {inside_same} equal pixels"
        );
        // Far from every mask: identical (crf 0 is lossless in luma).
        for y in 200..400 {
            assert_eq!(ya.row(y), yb.row(y), "row {y} of frame {}", a.index());
        }
        frames += 1;
    }
    assert!(frames >= 15);
}
