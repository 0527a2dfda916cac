//! Plates through vehicles, on real footage with the real models: a plate
//! too small for the whole-frame text pass is found inside its vehicle at a
//! higher scale, and a vehicle too small for its plate to be found has its
//! plate zone covered, recorded as such.

use crate::common::*;
use obscura::detect::{
    plate_zone, BBox, Class, Detector, PersonDetector, PlateDetector, PlateSettings,
    PLATE_ZONE_WIDTH, VEHICLE_TILE,
};
use obscura::media::{EncodeOptions, Preset};
use obscura::pipeline::analyse::AnalyseOptions;
use obscura::pipeline::redact::{self, RedactOptions};
use obscura::pipeline::PipelineOptions;
use std::path::Path;
use std::process::Command;

/// vtest.avi's parked van, frame 20, scaled 2.5x into a 1920x1080 frame
/// (the van then about 180 px wide), with a 70x15 px plate reading
/// "AB12 CDE" (10 px text) over the van's own plate. Returns the frame and
/// the plate's box.
fn van_with_a_small_plate(dir: &Path) -> (obscura::media::DecodedFrame, BBox) {
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
    assert!(
        Path::new(font).is_file(),
        "{font} missing: run scripts/setup.sh (fonts-dejavu-core)"
    );
    let panel = dir.join("plate.png");
    run(Command::new("ffmpeg").args([
        "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=0xF5D300:s=70x15", "-vf",
        &format!("drawtext=fontfile={font}:text='AB12 CDE':fontsize=10:fontcolor=black:x=(w-text_w)/2:y=(h-text_h)/2"),
        "-frames:v", "1",
    ]).arg(&panel));
    let scene = dir.join("van.png");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss", "2", "-i"])
        .arg(sample("vtest.avi"))
        .arg("-i")
        .arg(&panel)
        .args([
            "-filter_complex",
            "[0]scale=1920:1080[b];[b][1]overlay=1642:146",
            "-frames:v",
            "1",
        ])
        .arg(&scene));
    let frame = first_frame(&scene);
    let plate = BBox {
        x: 1642.0,
        y: 146.0,
        w: 70.0,
        h: 15.0,
    };
    (frame, plate)
}

#[test]
fn a_plate_too_small_for_the_whole_frame_pass_is_found_inside_its_vehicle() {
    let dir = tempdir();
    let (frame, plate) = van_with_a_small_plate(dir.path());
    let view = frame.view();
    // A box over the plate's text: it lies on the panel and covers most
    // of it (the panel has a margin round the letters).
    let on_plate = |d: &obscura::detect::Detection| {
        d.class == Class::Plate
            && d.bbox.covered_by(&plate) > 0.8
            && plate.covered_by(&d.bbox) > 0.4
    };
    let mut plates = PlateDetector::new(PlateSettings::default(), 2).expect("model loads");
    let whole = plates.detect(&view).expect("detects");
    assert!(
        !whole.iter().any(on_plate),
        "the whole-frame pass (1920 px read at 960) was expected to miss the 10 px text: {whole:?}"
    );
    let mut vehicles = PersonDetector::vehicles_only(1, VEHICLE_TILE, 2).expect("model loads");
    let found = vehicles.detect(&view).expect("detects");
    let van = found
        .iter()
        .find(|d| d.class == Class::Vehicle && plate.covered_by(&d.bbox) > 0.9)
        .unwrap_or_else(|| panic!("no vehicle around the plate: {found:?}"));
    assert!(van.bbox.w >= PLATE_ZONE_WIDTH, "{van:?}");
    assert!(
        found.iter().all(|d| d.class == Class::Vehicle),
        "a vehicles-only detector reports no people: {found:?}"
    );
    let near = plates.detect_near(&view, &found).expect("detects");
    assert!(
        near.iter().any(on_plate),
        "plate not found inside the van: {near:?}"
    );

    // Switched off, the same detector looks nowhere else.
    let mut off = PlateDetector::new(
        PlateSettings {
            vehicles: false,
            ..PlateSettings::default()
        },
        2,
    )
    .expect("model loads");
    assert!(off.detect_near(&view, &found).expect("detects").is_empty());
}

#[test]
fn a_vehicle_too_small_for_its_plate_has_the_plate_zone_covered_and_recorded() {
    // vtest.avi's parked van (about 70 px wide) and the car at the right
    // edge: their plates are about 12 px wide.
    let dir = tempdir();
    let input = dir.path().join("vt.mp4");
    make_clip(
        &sample("vtest.avi"),
        &input,
        &["-ss", "20", "-t", "1", "-c:v", "libx264", "-crf", "16"],
    );
    let opts = |vehicles: bool| RedactOptions {
        pipeline: PipelineOptions {
            encode: EncodeOptions {
                preset: Preset::Ultrafast,
                ..Default::default()
            },
            ..Default::default()
        },
        detect: Some(AnalyseOptions {
            faces: None,
            plates: Some(PlateSettings {
                vehicles,
                ..PlateSettings::default()
            }),
            ..AnalyseOptions::default()
        }),
        ..RedactOptions::new("D Officer", "SAR-2026-011 disclosure")
    };
    let out = dir.path().join("out.mp4");
    let record = redact::redact(&input, &out, &opts(true), &mut |_| {}).expect("redacts");
    assert!(record.counts.plate_zone_tracks >= 1, "{:?}", record.counts);
    // The van's plate, about 12x5 px at (658, 78) in every frame, lies in a
    // drawn plate zone on every frame.
    let van_plate = BBox {
        x: 658.0,
        y: 77.0,
        w: 12.0,
        h: 6.0,
    };
    let zones: Vec<_> = record
        .tracks
        .iter()
        .filter(|t| t.class == Class::PlateZone)
        .collect();
    let in_zone = |f: i64| {
        zones.iter().any(|t| {
            t.boxes.iter().any(|&[tf, x, y, w, h]| {
                let b = BBox {
                    x: x as f32,
                    y: y as f32,
                    w: w as f32,
                    h: h as f32,
                };
                tf == f && van_plate.covered_by(&b) == 1.0
            })
        })
    };
    for f in 0..record.output.frames as i64 {
        assert!(in_zone(f), "frame {f}: the van's plate is in no plate zone");
    }
    // The zone is the vehicle's lower band, not the whole vehicle: the
    // van's roof (y 44-50) stays outside every zone's box.
    let roof = BBox {
        x: 670.0,
        y: 44.0,
        w: 30.0,
        h: 4.0,
    };
    assert!(zones
        .iter()
        .flat_map(|t| &t.boxes)
        .all(|&[_, x, y, w, h]| roof.covered_by(&BBox {
            x: x as f32,
            y: y as f32,
            w: w as f32,
            h: h as f32
        }) < 0.5));
    let again = plate_zone(&BBox {
        x: 0.0,
        y: 0.0,
        w: 100.0,
        h: 50.0,
    });
    assert!(again.y >= 15.0 && again.y + again.h <= 50.0, "{again:?}");

    // Without vehicles nothing finds those plates: the complaint.
    let off = dir.path().join("off.mp4");
    let record = redact::redact(&input, &off, &opts(false), &mut |_| {}).expect("redacts");
    assert_eq!(record.counts.plate_zone_tracks, 0);
    let covered = record
        .tracks
        .iter()
        .flat_map(|t| &t.boxes)
        .any(|&[_, x, y, w, h]| {
            van_plate.covered_by(&BBox {
                x: x as f32,
                y: y as f32,
                w: w as f32,
                h: h as f32,
            }) > 0.5
        });
    assert!(
        !covered,
        "without vehicles a plate was found on the van after all: update this test"
    );
}
