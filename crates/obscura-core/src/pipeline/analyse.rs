//! The analysis pass of a subject access redaction: decode, detect faces
//! and plates on a pool of workers (each with its own model sessions), and
//! track the detections in frame order.

use crate::detect::person::VEHICLE_THRESHOLD;
use crate::detect::{
    tile_plan, Class, Detection, Detector, FaceDetector, FaceSettings, PersonDetector,
    PersonSettings, PlateDetector, PlateSettings, Roi, FACE_INPUT_PIXELS, VEHICLE_TILE,
};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::Plane;
use crate::media::{self, DecodeOptions, DecodedFrame, VideoInfo};
use crate::pipeline::Progress;
use crate::track::{Track, Tracker, TrackerSettings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to detect and how. The default is what a subject access disclosure
/// needs: every face and every number plate, at the default settings. It is
/// the one default of `redact`, `tracks` and `verify-redaction` in the
/// core, the CLI and Python, so the track ids a listing gives are the ones
/// a redaction at the same settings keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyseOptions {
    /// Face detection, if wanted.
    pub faces: Option<FaceSettings>,
    /// Plate detection, if wanted.
    pub plates: Option<PlateSettings>,
    /// Person detection, if wanted (off by default: whole people are
    /// obscured only when asked for). Absent in records made before it.
    #[serde(default)]
    pub people: Option<PersonSettings>,
    /// Tracking.
    pub tracker: TrackerSettings,
    /// Detection workers (0 = one per core).
    pub workers: usize,
    /// Detect only where something moved or a face was recently seen, with
    /// a whole-frame pass at a fixed interval, each region read at the
    /// scale its faces need ([`RoiSettings::adaptive`]); `None` looks at
    /// every whole frame at the full scale. On by default, with a
    /// whole-frame pass every 32 frames; recall against whole-frame
    /// detection at the full scale on every frame is measured with
    /// `examples/roi_recall.rs` (README, "Adaptive detection scale").
    pub roi: Option<RoiSettings>,
}

impl Default for AnalyseOptions {
    fn default() -> Self {
        AnalyseOptions {
            faces: Some(FaceSettings::default()),
            plates: Some(PlateSettings::default()),
            people: None,
            tracker: TrackerSettings::default(),
            workers: 0,
            roi: Some(RoiSettings::default()),
        }
    }
}

impl AnalyseOptions {
    /// Whether anything is to be detected (faces, plates or people).
    pub fn any(&self) -> bool {
        self.faces.is_some() || self.plates.is_some() || self.people.is_some()
    }

    /// The region settings detection runs with: adaptive scale only where
    /// the face scale is automatic (a scale set by hand is used everywhere).
    pub fn roi_plan(&self) -> Option<RoiSettings> {
        self.roi.map(|r| RoiSettings {
            adaptive: r.adaptive && self.faces.is_some_and(|f| f.scale == 0.0),
            ..r
        })
    }
}

/// Region-of-interest detection: with a fixed camera most of each frame is
/// static background, so the detector runs only on blocks that changed since
/// the previous frame and around recent detections, plus a whole-frame pass
/// every `full_every` frames for anyone standing still.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoiSettings {
    /// A whole-frame pass every this many frames.
    pub full_every: u64,
    /// Block side in pixels for change detection.
    pub block: usize,
    /// Mean luma change of a block that counts as motion.
    pub diff: u16,
    /// Blocks of context added around moving blocks.
    pub margin: usize,
    /// Above this fraction of the frame, detect on the whole frame.
    pub max_fraction: f32,
    /// Regions are grown to at least this side (pixels), so a crop around
    /// a small movement (a mouth, a hand) still holds the whole face.
    pub min_side: usize,
    /// Choose each region's detection scale from the faces the footage
    /// shows rather than from its width ([`RoiPlanner`]): around a face,
    /// the scale that face needs (more for one found without margin, see
    /// [`SIZE_SCORE`]); where something moved and on whole-frame passes,
    /// the scale that finds faces half the size of the smallest seen
    /// lately with a margin (the full scale until a face is seen, and on every
    /// [`DISCOVERY_EVERY`]th whole-frame pass); where those faces are
    /// large, motion is searched on every [`MOTION_EVERY`]th frame only,
    /// tracks on every frame. Only with the
    /// automatic face scale. Off in records made before it.
    #[serde(default)]
    pub adaptive: bool,
    /// Plates too are searched only in regions, planned on their own
    /// ([`PlateDetector`]'s whole-frame scale, no adaptive scale): around
    /// plates found lately on every frame, where something moved on every
    /// [`Self::plate_motion_every`]th, and the whole frame every
    /// `full_every` frames. Off in records made
    /// before it (their plates were searched on every whole frame).
    #[serde(default)]
    pub plates: bool,
    /// With [`Self::plates`], plates are searched where something moved on
    /// every this many frames (and on a cut, and near the clip's end);
    /// around plates found lately on every frame. A plate first found up
    /// to this many frames late is covered from its first frame by its
    /// track's lead-in, which runs back at the speed of its first two
    /// detections ([`TrackerSettings::lead_frames`], 5). Records made
    /// before it read as 1 (every frame), as they ran.
    #[serde(default = "every_frame")]
    pub plate_motion_every: u64,
}

fn every_frame() -> u64 {
    1
}

impl Default for RoiSettings {
    fn default() -> Self {
        RoiSettings {
            full_every: 32,
            block: 16,
            diff: 4,
            margin: 2,
            max_fraction: 0.6,
            min_side: 160,
            adaptive: true,
            plates: true,
            plate_motion_every: PLATE_MOTION_EVERY,
        }
    }
}

/// With adaptive scale and faces large enough to be read below the full
/// scale, regions that moved are searched on every this many frames; in
/// between only around recent faces. A face first found up to this many
/// frames late is still covered from its first frame by its track's
/// lead-in ([`TrackerSettings::lead_frames`], 5). Where faces are small
/// (read at the full scale), motion is searched on every frame.
pub const MOTION_EVERY: u64 = 2;

/// Plates are searched where something moved on every this many frames
/// ([`RoiSettings::plate_motion_every`]'s default). The text detector is
/// most of the cost of `--plates` on moving footage: on 1080p Big Buck
/// Bunny, scattered motion grown by its margin covers most of the frame
/// on two frames in three, each read whole.
pub const PLATE_MOTION_EVERY: u64 = 2;

/// With adaptive scale, every this many whole-frame passes is read at the
/// full scale whatever faces were seen, to discover faces smaller than any
/// seen so far.
pub const DISCOVERY_EVERY: u64 = 4;

/// With adaptive scale, the faces of this many frames (before the ROI lag)
/// tell how small faces are in the footage.
const SMALL_WINDOW: u64 = 250;

/// Faces scoring at least this tell the footage's face size, and are
/// searched around at the scale their size needs. A face found with less is
/// near the detector's limit at the scale it was found at: read smaller, it
/// is lost. Big Buck Bunny's rabbit, 180-250 px tall, scores 0.40-0.66 at
/// the full scale; at 0.5 it set the footage's size, everything was read at
/// 0.25, and the rabbit was found on no frame of its next shots (recall
/// 0/13 against the full scale's faces, `examples/roi_recall.rs` on the
/// first 7 s of the 1080p clip). Around such a face the region is read at
/// [`UNSURE_FACE_READ`] (not the full scale, which loses large faces too),
/// and a low-score false detection does not lower the scale elsewhere.
const SIZE_SCORE: f32 = 0.7;

/// Around a face scoring under [`SIZE_SCORE`], regions are read for faces
/// this many times smaller than it: it comes out 128 model pixels tall
/// (16 x 8), four times what a confident face is given.
const UNSURE_FACE_READ: f32 = 8.0;

/// Frames between a frame's detections and their use for planning the
/// regions of a later frame. Fixed (not tied to the worker count or to
/// timing) so a clip gives the same regions, detections and track ids on
/// every run and machine.
const ROI_LAG: u64 = 4;

/// Frames of recent detections whose surroundings are searched.
const ROI_RECENT: u64 = 8;

/// Chooses the regions to detect in, frame by frame.
struct RoiPlanner {
    s: RoiSettings,
    prev: Vec<u16>,
    /// Detection boxes by frame, for the last `ROI_LAG + recent_frames`
    /// frames.
    recent: BTreeMap<u64, Vec<(Class, crate::detect::BBox, f32)>>,
    /// How many frames of detections (before the lag) are searched
    /// around: [`ROI_RECENT`], or for plates `full_every`.
    recent_frames: u64,
    /// Without adaptive scale, motion is searched on every this many
    /// frames: 1, or for plates [`RoiSettings::plate_motion_every`].
    motion_every: u64,
    /// With adaptive scale: the height of the smallest face scoring at
    /// least [`SIZE_SCORE`] by frame, for the last [`SMALL_WINDOW`] frames.
    smallest: BTreeMap<u64, f32>,
    /// The second half of a whole-frame pass, for the next frame.
    second_half: Option<Roi>,
    /// The clip's frame count: its last frames are searched for motion
    /// on every frame (no later detection leads a track in).
    total: Option<u64>,
    frames: u64,
}

/// A block of the planning grid to search: how small its faces can be
/// (see [`Roi::smallest`]) and whether something moved there.
#[derive(Clone, Copy)]
struct Mark {
    smallest: f32,
    moved: bool,
}

impl Mark {
    /// This mark on a block already marked `o`: faces as small as either
    /// looks for, moved if either moved.
    fn join(self, o: Option<Mark>) -> Mark {
        match o {
            Some(o) => Mark {
                smallest: o.smallest.min(self.smallest),
                moved: o.moved || self.moved,
            },
            None => self,
        }
    }
}

impl RoiPlanner {
    /// The plates' own planner, with [`RoiSettings::plates`]: what moved
    /// on every frame, and around every plate found in the last
    /// `full_every` frames (it is to be shown plates only), the whole frame
    /// every `full_every` frames, at the one whole-frame scale (no adaptive
    /// scale: that is for faces). A parked car's plate that the detector
    /// finds on some frames only is searched for until the next
    /// whole-frame pass.
    fn for_plates(s: RoiSettings, total: Option<u64>) -> Option<Self> {
        s.plates.then(|| RoiPlanner {
            recent_frames: s.full_every.max(ROI_RECENT),
            motion_every: s.plate_motion_every.max(1),
            ..RoiPlanner::new(
                RoiSettings {
                    adaptive: false,
                    ..s
                },
                total,
            )
        })
    }

    fn new(s: RoiSettings, total: Option<u64>) -> Self {
        RoiPlanner {
            s,
            prev: Vec::new(),
            recent: BTreeMap::new(),
            recent_frames: ROI_RECENT,
            motion_every: 1,
            smallest: BTreeMap::new(),
            second_half: None,
            total,
            frames: 0,
        }
    }

    fn block_means(&self, y: Plane<'_>) -> (Vec<u16>, usize, usize) {
        let b = self.s.block.max(4);
        let (bw, bh) = (y.width().div_ceil(b), y.height().div_ceil(b));
        let mut sum = vec![0u32; bw * bh];
        let mut cnt = vec![0u32; bw * bh];
        for (r, row) in y.rows().enumerate() {
            let base = (r / b) * bw;
            for (bx, chunk) in row.chunks(b).enumerate() {
                sum[base + bx] += chunk.iter().map(|&p| u32::from(p)).sum::<u32>();
                cnt[base + bx] += chunk.len() as u32;
            }
        }
        let means = sum
            .iter()
            .zip(&cnt)
            .map(|(&s, &c)| (s / c.max(1)) as u16)
            .collect();
        (means, bw, bh)
    }

    /// Regions for frame `i` (its luma plane `y`), or `None` for the whole
    /// frame at the full scale. Every frame up to `i - ROI_LAG` must have
    /// been reported with [`Self::saw`].
    fn plan(&mut self, i: u64, y: Plane<'_>) -> Option<Vec<Roi>> {
        let (w, h) = (y.width(), y.height());
        let (means, bw, bh) = self.block_means(y);
        let k = self.frames;
        let every = self.s.full_every.max(1);
        let full = k % every == 0 || self.prev.len() != means.len();
        let prev = std::mem::replace(&mut self.prev, means);
        self.frames += 1;
        // Only frames at least ROI_LAG behind are certainly finished.
        let last = i.checked_sub(ROI_LAG);
        // How small faces can be where nothing tells otherwise: half the
        // smallest seen lately, or any size until one is seen.
        let unknown = match (self.s.adaptive, last) {
            (true, Some(last)) => self
                .smallest
                .range(last.saturating_sub(SMALL_WINDOW)..=last)
                .map(|(_, &h)| h)
                .reduce(f32::min)
                .map_or(0.0, |h| h / 2.0),
            _ => 0.0,
        };
        let mut half_pass = self.second_half.take();
        if full {
            if !self.s.adaptive {
                return None;
            }
            let discover = (k / every) % DISCOVERY_EVERY == 0;
            let smallest = if discover { 0.0 } else { unknown };
            half_pass = self.split_pass(w, h, smallest);
            if half_pass.is_none() {
                return Some(vec![Roi {
                    smallest,
                    ..Roi::whole(w, h)
                }]);
            }
        }
        let mut marks: Vec<Option<Mark>> = vec![None; bw * bh];
        let mark = |marks: &mut Vec<Option<Mark>>, j: usize, m: Mark| {
            marks[j] = Some(m.join(marks[j]));
        };
        // What moved: on every `motion_every`th frame (for faces with
        // adaptive scale, MOTION_EVERY) and on a frame where most of the
        // picture changed (a cut: faces or plates elsewhere than the
        // tracks are), and on the clip's last frames.
        let moved: Vec<usize> = (self.prev.iter().zip(&prev).enumerate())
            .filter(|(_, (a, p))| a.abs_diff(**p) >= self.s.diff)
            .map(|(j, _)| j)
            .collect();
        let cut = moved.len() as f32 > self.s.max_fraction * (bw * bh) as f32;
        // Faces at the limit of the full scale score near the threshold
        // and come and go from frame to frame: where the footage's faces
        // are that small, motion is searched on every frame.
        let auto = FaceSettings::default();
        let every_n = if !self.s.adaptive {
            self.motion_every
        } else if auto.scale_for(w, unknown) >= auto.effective_scale(w) {
            1
        } else {
            MOTION_EVERY
        };
        let ending = self.total.is_some_and(|t| i + every_n >= t);
        // (Not on a whole-frame pass's first half: the halves cover it.)
        if !full && (k % every_n == 0 || cut || ending) {
            for j in moved {
                mark(
                    &mut marks,
                    j,
                    Mark {
                        smallest: unknown,
                        moved: true,
                    },
                );
            }
        }
        self.mark_recent(&mut marks, last, (bw, bh));
        // Dilate what moved by the margin (and, with adaptive scale, the
        // surroundings of faces by one block), then take connected groups'
        // bounding boxes.
        // With faces of a known size, context for them is narrower:
        // one block of margin, and a region side of 8 times half the
        // smallest face (at least 48 pixels) rather than the fixed minimum.
        let known = self.s.adaptive && unknown > 0.0;
        let margin = if known {
            self.s.margin.min(1)
        } else {
            self.s.margin
        };
        let mut grown = dilate(&marks, (bw, bh), margin, true);
        if self.s.adaptive {
            let faces = dilate(&marks, (bw, bh), 1, false);
            for (g, f) in grown.iter_mut().zip(faces) {
                if let Some(f) = f {
                    *g = Some(g.map_or(f, |m| Mark {
                        smallest: m.smallest.min(f.smallest),
                        ..m
                    }));
                }
            }
        }
        let rois = self.regions(&grown, (bw, bh), (w, h), known.then_some(unknown));
        let mut rois = merge_overlapping(rois);
        let area: usize = rois.iter().map(|r| r.rect[2] * r.rect[3]).sum();
        if area as f32 > self.s.max_fraction * (w * h) as f32 {
            if !self.s.adaptive {
                return None;
            }
            let smallest = (rois.iter().chain(&half_pass))
                .map(|r| r.smallest)
                .fold(f32::INFINITY, f32::min);
            return Some(vec![Roi {
                smallest,
                ..Roi::whole(w, h)
            }]);
        }
        // Half a whole-frame pass is read as well as, not merged with, the
        // regions inside it: they give their faces their own crop.
        rois.extend(half_pass);
        Some(rois)
    }

    /// The regions of the grown grid's connected groups, in pixels of a
    /// `w`x`h` frame. Only a region that moved gets the minimum side (a
    /// crop around a mouth or a hand); one around a face holds it whole.
    /// With faces of a `known` size (half the smallest seen), the minimum
    /// side is 8 times that, at least 48 pixels.
    fn regions(
        &self,
        grown: &[Option<Mark>],
        grid: (usize, usize),
        (w, h): (usize, usize),
        known: Option<f32>,
    ) -> Vec<Roi> {
        let b = self.s.block.max(4);
        let mut rois = Vec::new();
        for ([x0, y0, x1, y1], smallest, moved) in components(grown, grid) {
            // Only a region that moved needs the minimum side (a crop
            // around a mouth or a hand); one around a face holds it whole.
            let min_side = if !moved {
                0
            } else if let Some(unknown) = known {
                ((unknown * 8.0) as usize).clamp(48.min(self.s.min_side), self.s.min_side)
            } else {
                self.s.min_side
            };
            let grow = |lo: usize, hi: usize, limit: usize| -> (usize, usize) {
                let want = min_side.min(limit);
                if hi - lo >= want {
                    return (lo, hi);
                }
                let lo = (lo + hi).saturating_sub(want) / 2;
                let lo = lo.min(limit - want);
                (lo, lo + want)
            };
            let (rx, rx1) = grow(x0 * b, ((x1 + 1) * b).min(w), w);
            let (ry, ry1) = grow(y0 * b, ((y1 + 1) * b).min(h), h);
            rois.push(Roi {
                rect: [rx, ry, rx1 - rx, ry1 - ry],
                smallest,
            });
        }
        rois
    }

    /// With adaptive scale, splits a whole-frame pass at `smallest` that is
    /// too large for one model run into two halves, on this frame and the
    /// next, so two workers share it rather than one holding up the frames
    /// behind it: returns this frame's half (`None`: read it whole). They
    /// overlap by a quarter of the height, so a face cut by one half's
    /// edge is whole in the other. The recent faces' own regions are
    /// searched too on those frames: a half is tiled differently from the
    /// whole frame, and a face near a tile edge can score under the
    /// threshold.
    fn split_pass(&mut self, w: usize, h: usize, smallest: f32) -> Option<Roi> {
        let scale = FaceSettings::default().scale_for(w, smallest);
        let tiled = tile_plan(w, h, scale, FACE_INPUT_PIXELS).1.is_some();
        if self.s.full_every < 2 || h < 64 || !tiled {
            return None;
        }
        let cut = h * 5 / 8;
        self.second_half = Some(Roi {
            rect: [0, h - cut, w, cut],
            smallest,
        });
        Some(Roi {
            rect: [0, 0, w, cut],
            smallest,
        })
    }

    /// Marks the blocks around the detections of the frames up to `last`
    /// (the last `ROI_RECENT`): with adaptive scale faces only, each for
    /// faces half its height.
    fn mark_recent(&self, marks: &mut [Option<Mark>], last: Option<u64>, (bw, bh): (usize, usize)) {
        let Some(last) = last else { return };
        let b = self.s.block.max(4);
        for boxes in self
            .recent
            .range(last.saturating_sub(self.recent_frames)..=last)
            .map(|(_, v)| v)
        {
            for (class, d, score) in boxes {
                if self.s.adaptive && *class != Class::Face {
                    continue;
                }
                let smallest = match (self.s.adaptive, *score >= SIZE_SCORE) {
                    (false, _) => 0.0,
                    (true, true) => d.h / 2.0,
                    (true, false) => d.h / UNSURE_FACE_READ,
                };
                let moved = !self.s.adaptive;
                let e = d.padded(2.0);
                let x0 = (e.x.max(0.0) as usize / b).min(bw - 1);
                let y0 = (e.y.max(0.0) as usize / b).min(bh - 1);
                let x1 = (((e.x + e.w).max(0.0) as usize) / b).min(bw - 1);
                let y1 = (((e.y + e.h).max(0.0) as usize) / b).min(bh - 1);
                for by in y0..=y1 {
                    for bx in x0..=x1 {
                        let j = by * bw + bx;
                        marks[j] = Some(Mark { smallest, moved }.join(marks[j]));
                    }
                }
            }
        }
    }

    /// Remembers where faces and plates were found in `frame`. People are
    /// left out: their boxes, padded, covered most of a busy frame and
    /// made every pass a whole-frame one (720p vtest with `--faces
    /// --people`: 15.3 s rather than 10.2 s for 150 frames), and motion
    /// already leads the face detector to anyone walking. So faces are
    /// searched in the same regions with or without people, and find the
    /// same faces (`examples/roi_recall.rs CLIP --people`: 145 of the 146
    /// whole-frame faces either way).
    fn saw(&mut self, frame: u64, dets: &[Detection]) {
        self.recent.insert(
            frame,
            dets.iter()
                .filter(|d| d.class != Class::Person)
                .map(|d| (d.class, d.bbox, d.score))
                .collect(),
        );
        let keep_from = frame.saturating_sub(2 * (ROI_LAG + self.recent_frames));
        self.recent = self.recent.split_off(&keep_from);
        if self.s.adaptive {
            let small = dets
                .iter()
                .filter(|d| d.class == Class::Face && d.score >= SIZE_SCORE)
                .map(|d| d.bbox.h)
                .reduce(f32::min);
            if let Some(h) = small {
                self.smallest.insert(frame, h);
            }
            let keep_from = frame.saturating_sub(SMALL_WINDOW + 2 * ROI_LAG);
            self.smallest = self.smallest.split_off(&keep_from);
        }
    }
}

/// `marks` (a `bw`x`bh` grid) with each mark spread `by` blocks around
/// (only marks that moved, with `only_moved`).
fn dilate(
    marks: &[Option<Mark>],
    (bw, bh): (usize, usize),
    by: usize,
    only_moved: bool,
) -> Vec<Option<Mark>> {
    let mut out = marks.to_vec();
    for y in 0..bh {
        for x in 0..bw {
            let Some(m) = marks[y * bw + x] else { continue };
            if only_moved && !m.moved {
                continue;
            }
            for gy in y.saturating_sub(by)..=(y + by).min(bh - 1) {
                for gx in x.saturating_sub(by)..=(x + by).min(bw - 1) {
                    out[gy * bw + gx] = Some(m.join(out[gy * bw + gx]));
                }
            }
        }
    }
    out
}

/// The connected groups of marked blocks of a `bw`x`bh` grid: their
/// bounding blocks `[x0, y0, x1, y1]` (inclusive), the smallest face any
/// of their blocks looks for, and whether any moved.
fn components(grown: &[Option<Mark>], (bw, bh): (usize, usize)) -> Vec<([usize; 4], f32, bool)> {
    let mut seen = vec![false; bw * bh];
    let mut out = Vec::new();
    for start in 0..bw * bh {
        if grown[start].is_none() || seen[start] {
            continue;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        let (mut smallest, mut moved) = (f32::INFINITY, false);
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % bw, i / bw);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            if let Some(m) = grown[i] {
                smallest = smallest.min(m.smallest);
                moved |= m.moved;
            }
            for (dx, dy) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                if nx < 0 || ny < 0 || nx >= bw as i64 || ny >= bh as i64 {
                    continue;
                }
                let j = ny as usize * bw + nx as usize;
                if grown[j].is_some() && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        out.push(([x0, y0, x1, y1], smallest, moved));
    }
    out
}

/// Merges regions whose bounding union costs no more pixels than the two
/// apart (regions grown to the minimum side often overlap), until no pair
/// qualifies: the detector then never looks at the same pixels twice in a
/// frame, and a face across two regions is seen whole. A merged region
/// looks for faces as small as either did.
fn merge_overlapping(mut rois: Vec<Roi>) -> Vec<Roi> {
    let area = |r: &[usize; 4]| r[2] * r[3];
    loop {
        let mut merged = false;
        'pairs: for i in 0..rois.len() {
            for j in i + 1..rois.len() {
                let (a, b) = (rois[i].rect, rois[j].rect);
                let x0 = a[0].min(b[0]);
                let y0 = a[1].min(b[1]);
                let x1 = (a[0] + a[2]).max(b[0] + b[2]);
                let y1 = (a[1] + a[3]).max(b[1] + b[3]);
                let union = [x0, y0, x1 - x0, y1 - y0];
                if area(&union) <= area(&a) + area(&b) {
                    rois[i] = Roi {
                        rect: union,
                        smallest: rois[i].smallest.min(rois[j].smallest),
                    };
                    rois.swap_remove(j);
                    merged = true;
                    break 'pairs;
                }
            }
        }
        if !merged {
            return rois;
        }
    }
}

/// The detectors one worker owns.
pub type DetectorSet = Vec<Box<dyn Detector>>;

/// Builds one worker's detectors for `opts`, loading the pinned models.
///
/// # Errors
/// `Runtime`/`Model`/`InvalidArgument` from the detectors.
pub fn detectors(opts: &AnalyseOptions, threads: usize) -> Result<DetectorSet> {
    let mut set: DetectorSet = Vec::new();
    if let Some(f) = opts.faces {
        set.push(Box::new(FaceDetector::new(f, threads)?));
    }
    if let Some(p) = opts.plates {
        set.push(Box::new(PlateDetector::new(p, threads)?));
    }
    // Vehicles come from the person model's runs, for the plate detector
    // to look into (`PlateSettings::vehicles`).
    let vehicles = opts.plates.is_some_and(|p| p.vehicles);
    match opts.people {
        Some(p) if vehicles => set.push(Box::new(
            PersonDetector::new(p, threads)?.with_vehicles(VEHICLE_THRESHOLD),
        )),
        Some(p) => set.push(Box::new(PersonDetector::new(p, threads)?)),
        None if vehicles => set.push(Box::new(PersonDetector::vehicles_only(
            PersonSettings::default().every,
            opts.plates.map_or(VEHICLE_TILE, |p| p.vehicle_tile),
            threads,
        )?)),
        None => {}
    }
    if set.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "nothing to detect (enable faces, plates or people)",
        ));
    }
    Ok(set)
}

/// One detector set per worker (`opts.workers`, 0 = one per core), each
/// with its own single-threaded model sessions.
///
/// # Errors
/// As [`detectors`].
pub fn worker_detectors(opts: &AnalyseOptions) -> Result<Vec<DetectorSet>> {
    let cores = crate::cores();
    // Each worker holds its own model sessions (tens of MB): more workers
    // than a few per core only costs memory.
    let most = cores * 2;
    if opts.workers > most {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "invalid detection workers {} (expected 0 for one per core, or 1..={most}: two per core on this machine)",
                opts.workers
            ),
        ));
    }
    let workers = if opts.workers == 0 {
        cores
    } else {
        opts.workers
    };
    // Each worker's sessions load on their own thread: loading is most of
    // a short clip's start-up. Fewer workers than cores get the cores'
    // threads between them (one worker on two cores runs its models on
    // two threads: a tenth slower than two workers, for half the model
    // memory).
    std::thread::scope(|scope| {
        let loading: Vec<_> = (0..workers)
            .map(|_| scope.spawn(move || detectors(opts, (cores / workers).max(1))))
            .collect();
        loading
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::Model,
                        "loading the detection models failed",
                    ))
                })
            })
            .collect()
    })
}

/// Result of the analysis pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The input's facts.
    pub info: VideoInfo,
    /// Tracks with every frame they cover.
    pub tracks: Vec<Track>,
    /// Detections made.
    pub detections: u64,
}

/// The regions of one frame to detect in, by what is searched for
/// (`None`: everywhere).
#[derive(Debug)]
struct Regions {
    /// For faces (and any detector that follows the faces' plan).
    faces: Option<Vec<Roi>>,
    /// For plates, with [`RoiSettings::plates`].
    plates: Option<Vec<Roi>>,
}

impl Regions {
    /// The regions for a detector that searches where `class` can be.
    fn of(&self, class: Class) -> Option<&[Roi]> {
        match class {
            Class::Plate => self.plates.as_deref(),
            _ => self.faces.as_deref(),
        }
    }
}

/// A frame to detect on, with the regions to look at.
type Work = (u64, DecodedFrame, Regions);
/// A frame with what was found on it.
type Found = Result<(u64, DecodedFrame, Vec<Detection>)>;

/// Decodes `input`, detects with `sets` (one detector set per worker), and
/// tracks. `on_frame` sees every frame in order with its detections and the
/// track id each joined (for thumbnails). The sets are borrowed, so one set
/// of loaded models serves any number of files.
///
/// # Errors
/// Decode or inference errors.
pub fn analyse(
    input: &Path,
    decode: &DecodeOptions,
    sets: &mut [DetectorSet],
    tracker: TrackerSettings,
    progress: &mut dyn FnMut(Progress),
    on_frame: impl FnMut(&DecodedFrame, &[Detection], &[u32]),
) -> Result<Analysis> {
    analyse_with(input, decode, sets, tracker, None, progress, on_frame)
}

/// [`analyse`] with region-of-interest detection when `roi` is set.
///
/// # Errors
/// Decode or inference errors.
pub fn analyse_with(
    input: &Path,
    decode: &DecodeOptions,
    sets: &mut [DetectorSet],
    tracker: TrackerSettings,
    roi: Option<RoiSettings>,
    progress: &mut dyn FnMut(Progress),
    mut on_frame: impl FnMut(&DecodedFrame, &[Detection], &[u32]),
) -> Result<Analysis> {
    analyse_each(
        input,
        decode,
        sets,
        tracker,
        roi,
        progress,
        &mut |frame, dets, ids, _| {
            on_frame(&frame, dets, ids);
            Ok(())
        },
    )
}

/// Hands each frame over after tracking it.
pub(crate) type FrameSink<'a> =
    dyn FnMut(DecodedFrame, &[Detection], &[u32], &Tracker) -> Result<()> + 'a;

/// Runs one detector set over the frames it is handed until the work
/// channel closes or the results are no longer wanted.
fn detect_worker(
    set: &mut DetectorSet,
    work: &crossbeam_channel::Receiver<Work>,
    found: &crossbeam_channel::Sender<Found>,
) {
    for (i, frame, rois) in work {
        let mut all = Vec::new();
        let mut failed = None;
        for d in set.iter_mut() {
            if i % d.every().max(1) != 0 {
                continue;
            }
            let dets = match rois.of(d.searches()) {
                Some(r) => d.detect_in(&frame.view(), r),
                None => d.detect(&frame.view()),
            };
            match dets {
                Ok(mut v) => all.append(&mut v),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // Then what some detectors find near the others' detections (plates
        // inside vehicles); vehicles themselves go no further.
        if failed.is_none() {
            for d in set.iter_mut() {
                if i % d.every().max(1) != 0 {
                    continue;
                }
                match d.detect_near(&frame.view(), &all) {
                    Ok(mut v) => all.append(&mut v),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
        }
        all.retain(|d| d.class != Class::Vehicle);
        let msg = match failed {
            Some(e) => Err(e),
            None => Ok((i, frame, all)),
        };
        if found.send(msg).is_err() {
            return;
        }
    }
}

/// [`analyse_with`], handing each frame over (owned, in order) with its
/// detections, their track ids and the tracker as it stands after the
/// frame, so a caller can render frames a fixed lag behind detection
/// ([`Tracker::boxes_at`]) in the same pass.
///
/// The workers are scoped threads, one per detector set, fed through
/// bounded channels: frames in flight stay few whatever the file's length.
pub(crate) fn analyse_each(
    input: &Path,
    decode: &DecodeOptions,
    sets: &mut [DetectorSet],
    tracker: TrackerSettings,
    roi: Option<RoiSettings>,
    progress: &mut dyn FnMut(Progress),
    on_frame: &mut FrameSink<'_>,
) -> Result<Analysis> {
    let (info, frames) = media::open(input, decode)?;
    let workers = sets.len().max(1);
    let (work_tx, work_rx) = crossbeam_channel::bounded::<Work>(workers * 2);
    let (found_tx, found_rx) = crossbeam_channel::bounded::<Found>(workers * 2);
    let mut tracker = Tracker::new(tracker);
    let mut planner = roi.map(|r| RoiPlanner::new(r, Some(info.frames)));
    let plates = sets
        .iter()
        .any(|set| set.iter().any(|d| d.searches() == Class::Plate));
    let mut plate_planner = roi
        .filter(|_| plates)
        .and_then(|r| RoiPlanner::for_plates(r, Some(info.frames)));
    let mut detections = 0u64;
    let next = std::thread::scope(|scope| {
        for set in sets.iter_mut() {
            let (work, found) = (work_rx.clone(), found_tx.clone());
            scope.spawn(move || detect_worker(set, &work, &found));
        }
        drop((work_rx, found_tx));
        let mut pending: BTreeMap<u64, (DecodedFrame, Vec<Detection>)> = BTreeMap::new();
        let (mut next, mut sent) = (0u64, 0u64);
        let mut frames = frames.peekable();
        // Frames in flight: enough to keep the workers busy, and no more
        // than the ROI lag, so planning only ever uses finished frames.
        let in_flight = ((workers * 2) as u64).clamp(1, ROI_LAG);
        let stopped = || Error::new(ErrorKind::Model, "detection workers stopped");
        // Dropping the channels on return (error or not) stops the workers
        // before the scope joins them.
        let (work_tx, found_rx) = (work_tx, found_rx);
        loop {
            // Keep the workers fed, without blocking while results wait.
            while sent - next < in_flight {
                let Some(f) = frames.next() else { break };
                let f = f?;
                let rois = Regions {
                    faces: planner
                        .as_mut()
                        .and_then(|p| p.plan(f.index(), f.view().luma())),
                    plates: plate_planner
                        .as_mut()
                        .and_then(|p| p.plan(f.index(), f.view().luma())),
                };
                work_tx.send((sent, f, rois)).map_err(|_| stopped())?;
                sent += 1;
            }
            if next == sent && frames.peek().is_none() {
                return Ok(next);
            }
            let (i, frame, dets) = found_rx.recv().map_err(|_| stopped())??;
            pending.insert(i, (frame, dets));
            while let Some((frame, dets)) = pending.remove(&next) {
                let ids = tracker.update_seeing(next, &dets, &frame.view());
                if let Some(p) = planner.as_mut() {
                    p.saw(next, &dets);
                }
                if let Some(p) = plate_planner.as_mut() {
                    let plates: Vec<Detection> = dets
                        .iter()
                        .filter(|d| d.class == Class::Plate)
                        .cloned()
                        .collect();
                    p.saw(next, &plates);
                }
                detections += dets.len() as u64;
                on_frame(frame, &dets, &ids, &tracker)?;
                next += 1;
                if next % 8 == 0 {
                    progress(Progress {
                        frames: next,
                        total: info.frames,
                    });
                }
            }
        }
    })
    .map_err(|e: Error| e.with_path(input))?;
    // Whatever looks at frames must have seen every one of them: a check
    // that missed frames must not pass.
    info.check_all_decoded(next, input, "")?;
    let tracks = tracker.finish(next, info.width as f32, info.height as f32);
    Ok(Analysis {
        info,
        tracks,
        detections,
    })
}

/// One track as the officer sees it in `obscura tracks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackSummary {
    /// Track id (what `--keep-track` takes).
    pub id: u32,
    /// Face or plate.
    pub class: crate::detect::Class,
    /// First frame covered.
    pub first_frame: u64,
    /// Last frame covered.
    pub last_frame: u64,
    /// Time of the first frame, seconds.
    pub first_time: f64,
    /// Time of the last frame, seconds.
    pub last_time: f64,
    /// Frames with a detection.
    pub detections: usize,
    /// Frame of the best-quality detection (the thumbnail's).
    pub best_frame: u64,
    /// With people detected: the person track a face belongs to, or the
    /// face tracks of a person ([`crate::track::owners`]). Keeping one
    /// keeps the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked: Vec<u32>,
}

/// Tracks of a clip with a best-quality thumbnail each.
#[derive(Debug, Clone)]
pub struct TrackListing {
    /// The input's facts.
    pub info: VideoInfo,
    /// One summary per track, by id.
    pub tracks: Vec<TrackSummary>,
    /// Thumbnails by track id, same order.
    pub thumbnails: Vec<crate::frame::sheet::Thumb>,
}

impl TrackListing {
    /// Where a contact sheet goes when none is named: `NAME.tracks.png` for
    /// input `NAME`, in the current folder (never beside a read-only
    /// source, never over it: the name always differs from the input's).
    pub fn default_sheet_path(input: &Path) -> PathBuf {
        let mut name = input
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".tracks.png");
        PathBuf::from(name)
    }

    /// Writes the contact sheet, for the officer to pick the requester
    /// from: one cell per track with its best thumbnail, labelled with its
    /// id and class (`#3 face`, `#7 plate`, `#9 person`), its time range and
    /// the tracks that go with it; a person's cell shows their body beside
    /// their best face, and a face's cell shows the body of its person.
    ///
    /// # Errors
    /// `AlreadyExists` when a file is at `path` and `replace` is false,
    /// `InvalidArgument` when `path` is the input, `Io` when the file cannot
    /// be written; nothing is left behind then.
    pub fn write_contact_sheet(&self, path: &Path, replace: bool) -> Result<()> {
        let out = crate::output::PendingFile::with_policy(path, &[&self.info.path], replace)?;
        self.write_contact_sheet_to(out)
    }

    /// Writes the contact sheet into an output claimed beforehand (so that a
    /// name that cannot be written fails before the analysis, not after).
    ///
    /// # Errors
    /// `Io` when the file cannot be written; nothing is left behind then.
    pub fn write_contact_sheet_to(&self, out: crate::output::PendingFile) -> Result<()> {
        use crate::detect::Class;
        let thumb = |id: u32| {
            self.tracks
                .iter()
                .position(|t| t.id == id)
                .map(|i| self.thumbnails[i].clone())
        };
        let cells: Vec<crate::frame::sheet::Cell> = self
            .tracks
            .iter()
            .zip(&self.thumbnails)
            .map(|(t, th)| {
                let class = t.class.name();
                let mut thumbs = vec![th.clone()];
                // Beside a person, their face with the most detections;
                // beside a face, its person.
                let best_linked = t.linked.iter().copied().max_by_key(|id| {
                    self.tracks
                        .iter()
                        .find(|o| o.id == *id)
                        .map_or(0, |o| o.detections)
                });
                thumbs.extend(best_linked.and_then(thumb));
                let with: Vec<String> = t.linked.iter().map(|id| format!("#{id}")).collect();
                let mut lines = vec![
                    format!("#{} {class}", t.id),
                    format!("{:.1}-{:.1} s", t.first_time, t.last_time),
                ];
                if !with.is_empty() {
                    let other = if t.class == Class::Person {
                        "face"
                    } else {
                        "person"
                    };
                    lines.push(format!("{other} {}", with.join(" ")));
                }
                crate::frame::sheet::Cell { thumbs, lines }
            })
            .collect();
        crate::frame::sheet::write_contact_sheet(out, &cells)
    }
}

/// The best-quality thumbnail of each track seen so far: the detection
/// with the highest score times the square root of its area.
#[derive(Debug, Default)]
pub(crate) struct BestThumbs(std::collections::HashMap<u32, (f32, crate::frame::sheet::Thumb)>);

impl BestThumbs {
    /// Takes in one frame's detections and the track each joined.
    pub(crate) fn see(&mut self, frame: &DecodedFrame, dets: &[Detection], ids: &[u32]) {
        for (d, &id) in dets.iter().zip(ids) {
            let q = d.score * d.bbox.area().sqrt();
            if self.0.get(&id).is_none_or(|b| q > b.0) {
                self.0.insert(
                    id,
                    (q, crate::frame::sheet::thumbnail(&frame.view(), &d.bbox)),
                );
            }
        }
    }

    /// The tracks an officer is offered, with their thumbnails. A person
    /// track never confirmed by a high-score detection is obscured but not
    /// offered: it is most often a thing read as a person.
    pub(crate) fn listing(
        mut self,
        analysis: &Analysis,
    ) -> (Vec<TrackSummary>, Vec<crate::frame::sheet::Thumb>) {
        let tb = {
            let fps = analysis.info.fps;
            move |f: u64| if fps > 0.0 { f as f64 / fps } else { 0.0 }
        };
        let owners = crate::track::owners(&analysis.tracks);
        let mut tracks = Vec::new();
        let mut thumbnails = Vec::new();
        for t in analysis
            .tracks
            .iter()
            .filter(|t| t.class != crate::detect::Class::Person || t.confirmed)
        {
            let linked = owners
                .iter()
                .filter_map(|&(f, p)| match t.class {
                    crate::detect::Class::Face if f == t.id => Some(p),
                    crate::detect::Class::Person if p == t.id => Some(f),
                    _ => None,
                })
                .collect();
            tracks.push(TrackSummary {
                id: t.id,
                class: t.class,
                first_frame: t.first(),
                last_frame: t.last(),
                first_time: tb(t.first()),
                last_time: tb(t.last()),
                detections: t.detections(),
                best_frame: t.best_frame,
                linked,
            });
            thumbnails.push(self.0.remove(&t.id).map(|b| b.1).unwrap_or_else(|| {
                crate::frame::sheet::Thumb(vec![
                    0;
                    crate::frame::sheet::THUMB
                        * crate::frame::sheet::THUMB
                        * 3
                ])
            }));
        }
        (tracks, thumbnails)
    }
}

/// Detects and tracks `input` and returns its tracks with thumbnails.
///
/// # Errors
/// As [`analyse`] and [`detectors`].
pub fn list_tracks(
    input: &Path,
    decode: &DecodeOptions,
    opts: &AnalyseOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrackListing> {
    let mut sets = worker_detectors(opts)?;
    let mut best = BestThumbs::default();
    let analysis = analyse_with(
        input,
        decode,
        &mut sets,
        opts.tracker,
        opts.roi_plan(),
        progress,
        |frame, dets, ids| best.see(frame, dets, ids),
    )?;
    let (tracks, thumbnails) = best.listing(&analysis);
    Ok(TrackListing {
        info: analysis.info,
        tracks,
        thumbnails,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;

    /// A flat grey `w`x`h` luma plane with a white square of side `side`
    /// at `(x, y)` (none when `side` is 0).
    fn luma(w: usize, h: usize, square: (usize, usize, usize)) -> Vec<u8> {
        let (x0, y0, side) = square;
        let mut data = vec![100u8; w * h];
        for y in y0..(y0 + side).min(h) {
            data[y * w + x0..y * w + (x0 + side).min(w)].fill(250);
        }
        data
    }

    fn plan(p: &mut RoiPlanner, i: u64, w: usize, h: usize, data: &[u8]) -> Option<Vec<Roi>> {
        let y = Plane::new(data, w, w, h).expect("plane");
        p.plan(i, y)
    }

    fn face(x: f32, y: f32, side: f32) -> Detection {
        Detection {
            class: Class::Face,
            bbox: BBox {
                x,
                y,
                w: side,
                h: side,
            },
            score: 0.9,
            text: None,
        }
    }

    /// A large face on frame 0, nothing on the others.
    fn large_face_on_first(i: u64) -> Vec<Detection> {
        if i == 0 {
            vec![face(200.0, 20.0, 80.0)]
        } else {
            Vec::new()
        }
    }

    #[test]
    fn a_large_face_is_searched_around_at_the_scale_it_needs_and_sets_the_motion_scale() {
        let (w, h) = (320, 240);
        let still = luma(w, h, (0, 0, 0));
        let mut p = RoiPlanner::new(RoiSettings::default(), None);
        // The first pass discovers: whole frame, any face size.
        assert_eq!(plan(&mut p, 0, w, h, &still), Some(vec![Roi::whole(w, h)]));
        p.saw(0, &[face(100.0, 60.0, 80.0)]);
        for i in 1..ROI_LAG {
            assert_eq!(plan(&mut p, i, w, h, &still), Some(vec![]), "frame {i}");
            p.saw(i, &[]);
        }
        // Once frame 0 is ROI_LAG behind, its face is searched around, for
        // faces down to half its height: 16 / 40 = 0.4x.
        let rois = plan(&mut p, ROI_LAG, w, h, &still).expect("regions");
        assert_eq!(rois.len(), 1, "{rois:?}");
        let r = rois[0];
        assert_eq!(r.smallest, 40.0);
        assert!(r.rect[0] <= 60 && r.rect[0] + r.rect[2] >= 220, "{r:?}");
        let scale = FaceSettings::default().scale_for(w, r.smallest);
        assert!((scale - 0.4).abs() < 1e-6, "{scale}");
        // Something moving elsewhere is searched (on a motion frame) for
        // faces half the smallest seen.
        p.saw(ROI_LAG, &[]);
        let mut i = ROI_LAG + 1;
        while (p.frames) % MOTION_EVERY != 0 {
            plan(&mut p, i, w, h, &still);
            p.saw(i, &[]);
            i += 1;
        }
        let moved = luma(w, h, (0, 200, 32));
        let rois = plan(&mut p, i, w, h, &moved).expect("regions");
        let low = rois.iter().find(|r| r.rect[1] + r.rect[3] >= 232);
        assert_eq!(low.map(|r| r.smallest), Some(40.0), "{rois:?}");
    }

    #[test]
    fn a_face_found_without_margin_neither_sets_the_footage_size_nor_is_read_small() {
        let (w, h) = (320, 240);
        let still = luma(w, h, (0, 0, 0));
        let mut p = RoiPlanner::new(RoiSettings::default(), None);
        plan(&mut p, 0, w, h, &still);
        // An 80-pixel face at 0.6: found, but near the detector's limit.
        let unsure = Detection {
            score: 0.6,
            ..face(100.0, 60.0, 80.0)
        };
        p.saw(0, &[unsure]);
        for i in 1..ROI_LAG {
            plan(&mut p, i, w, h, &still);
            p.saw(i, &[]);
        }
        // Around it, faces an eighth of its height (it is read 128 model
        // pixels tall, not 32).
        let rois = plan(&mut p, ROI_LAG, w, h, &still).expect("regions");
        assert_eq!(rois.len(), 1, "{rois:?}");
        assert_eq!(rois[0].smallest, 80.0 / UNSURE_FACE_READ);
        // The footage's face size is still unknown: motion elsewhere is
        // searched for faces of any size.
        p.saw(ROI_LAG, &[]);
        let moved = luma(w, h, (0, 200, 32));
        let rois = plan(&mut p, ROI_LAG + 1, w, h, &moved).expect("regions");
        let low = rois.iter().find(|r| r.rect[1] + r.rect[3] >= 232);
        assert_eq!(low.map(|r| r.smallest), Some(0.0), "{rois:?}");
        // The same face at 0.9 sets both.
        let mut p = RoiPlanner::new(RoiSettings::default(), None);
        plan(&mut p, 0, w, h, &still);
        p.saw(0, &[face(100.0, 60.0, 80.0)]);
        // (Motion is then searched on every other frame: to one.)
        for i in 1..=ROI_LAG + 1 {
            plan(&mut p, i, w, h, &still);
            p.saw(i, &[]);
        }
        assert_eq!(p.frames % MOTION_EVERY, 0);
        let rois = plan(&mut p, ROI_LAG + 2, w, h, &moved).expect("regions");
        let low = rois.iter().find(|r| r.rect[1] + r.rect[3] >= 232);
        assert_eq!(low.map(|r| r.smallest), Some(40.0), "{rois:?}");
    }

    #[test]
    fn with_large_faces_motion_is_searched_on_every_other_frame_and_on_a_cut() {
        let (w, h) = (320, 240);
        let mut p = RoiPlanner::new(RoiSettings::default(), None);
        let mut searched = Vec::new();
        for i in 0..9u64 {
            // A square walking right, 8 pixels a frame; a large face seen
            // (and left) on the first frame.
            let data = luma(w, h, (20 + 8 * i as usize, 100, 24));
            let rois = plan(&mut p, i, w, h, &data).expect("regions");
            if i > ROI_LAG + ROI_RECENT {
                searched.push(!rois.is_empty());
            }
            p.saw(i, &large_face_on_first(i));
        }
        let mut i = 9;
        while searched.len() < 4 {
            let data = luma(w, h, (20 + 8 * i as usize, 100, 24));
            let rois = plan(&mut p, i, w, h, &data).expect("regions");
            if i > ROI_LAG + ROI_RECENT {
                searched.push(!rois.is_empty());
            }
            p.saw(i, &[]);
            i += 1;
        }
        assert_eq!(searched.iter().filter(|&&s| s).count(), 2, "{searched:?}");
        assert!(searched.windows(2).all(|w| w[0] != w[1]), "{searched:?}");
        // With faces as small as the full scale reads (or none seen),
        // every frame.
        let mut p = RoiPlanner::new(RoiSettings::default(), None);
        for i in 0..6u64 {
            let data = luma(w, h, (20 + 8 * i as usize, 100, 24));
            let rois = plan(&mut p, i, w, h, &data).expect("regions");
            assert!(!rois.is_empty(), "frame {i}");
            p.saw(i, &[]);
        }
        // A cut (every block changes) on a frame off the motion cadence is
        // read whole.
        let mut p = RoiPlanner::new(RoiSettings::default(), None);
        let still = luma(w, h, (0, 0, 0));
        for i in 0..8u64 {
            plan(&mut p, i, w, h, &still);
            p.saw(i, &large_face_on_first(i));
        }
        assert_eq!(p.frames % MOTION_EVERY, 0);
        plan(&mut p, 8, w, h, &still);
        p.saw(8, &[]);
        let cut = vec![20u8; w * h];
        let rois = plan(&mut p, 9, w, h, &cut).expect("regions");
        assert_eq!(rois.len(), 1);
        assert_eq!(rois[0].rect, [0, 0, w, h]);
    }

    #[test]
    fn a_whole_frame_pass_too_large_for_one_run_is_shared_by_two_frames() {
        let (w, h) = (768, 576);
        let still = luma(w, h, (0, 0, 0));
        let mut p = RoiPlanner::new(RoiSettings::default(), None);
        let first = plan(&mut p, 0, w, h, &still).expect("regions");
        p.saw(0, &[]);
        let second = plan(&mut p, 1, w, h, &still).expect("regions");
        assert_eq!(
            first,
            vec![Roi {
                rect: [0, 0, w, 360],
                smallest: 0.0
            }]
        );
        assert_eq!(
            second,
            vec![Roi {
                rect: [0, 216, w, 360],
                smallest: 0.0
            }]
        );
        // Without adaptive scale (a scale set by hand), a whole pass is
        // the whole frame, on one frame.
        let fixed = RoiSettings {
            adaptive: false,
            ..RoiSettings::default()
        };
        let mut p = RoiPlanner::new(fixed, None);
        assert_eq!(plan(&mut p, 0, w, h, &still), None);
    }

    #[test]
    fn the_last_frames_are_searched_for_motion_on_every_frame() {
        let (w, h) = (320, 240);
        let mut p = RoiPlanner::new(RoiSettings::default(), Some(20));
        let mut searched = Vec::new();
        for i in 0..20u64 {
            let data = luma(w, h, (20 + 8 * i as usize, 180, 24));
            let rois = plan(&mut p, i, w, h, &data).expect("regions");
            searched.push(!rois.is_empty());
            // A large face on the first frame sets the cadence; its own
            // region is searched until frame ROI_LAG + ROI_RECENT.
            p.saw(i, &large_face_on_first(i));
        }
        // Off the cadence, 13, 15 and 17 are not searched; 19 is, within
        // MOTION_EVERY of the end.
        assert_eq!(MOTION_EVERY, 2);
        assert_eq!(
            searched[13..],
            [false, true, false, true, false, true, true]
        );
    }

    fn plate(x: f32, y: f32) -> Detection {
        Detection {
            class: Class::Plate,
            bbox: BBox {
                x,
                y,
                w: 60.0,
                h: 14.0,
            },
            score: 0.9,
            text: None,
        }
    }

    #[test]
    fn plates_are_searched_around_plates_on_every_frame_and_where_something_moved_on_every_other() {
        let (w, h) = (320, 240);
        let still = luma(w, h, (0, 0, 0));
        let mut p = RoiPlanner::for_plates(RoiSettings::default(), None).expect("on by default");
        // The first frame is read whole, then nothing while nothing moves.
        assert_eq!(plan(&mut p, 0, w, h, &still), None);
        p.saw(0, &[plate(200.0, 30.0)]);
        for i in 1..ROI_LAG {
            assert_eq!(plan(&mut p, i, w, h, &still), Some(vec![]), "frame {i}");
            p.saw(i, &[]);
        }
        // Once the plate's frame is ROI_LAG behind, around it, on every
        // frame until the next whole-frame pass could have found it again,
        // and no more.
        let recent = RoiSettings::default().full_every;
        for i in ROI_LAG..=ROI_LAG + recent {
            if i == recent {
                assert_eq!(plan(&mut p, i, w, h, &still), None, "frame {i}");
                p.saw(i, &[]);
                continue;
            }
            let rois = plan(&mut p, i, w, h, &still).expect("regions");
            assert_eq!(rois.len(), 1, "frame {i}: {rois:?}");
            let r = rois[0].rect;
            assert!(r[0] <= 200 && r[0] + r[2] >= 260 && r[1] <= 30 && r[1] + r[3] >= 44);
            p.saw(i, &[]);
        }
        let i = ROI_LAG + recent + 1;
        assert_eq!(plan(&mut p, i, w, h, &still), Some(vec![]));
        p.saw(i, &[]);
        // Motion is searched on every PLATE_MOTION_EVERY frames, and a cut
        // (every block changes) off that cadence is read whole.
        let mut searched = Vec::new();
        for (k, i) in (i + 1..i + 7).enumerate() {
            let data = luma(w, h, (20 + 8 * k, 100, 24));
            let rois = plan(&mut p, i, w, h, &data).expect("regions");
            searched.push(
                rois.iter()
                    .any(|r| r.rect[1] <= 100 && r.rect[1] + r.rect[3] >= 124),
            );
            p.saw(i, &[]);
        }
        assert_eq!(PLATE_MOTION_EVERY, 2);
        assert_eq!(searched.iter().filter(|&&s| s).count(), 3, "{searched:?}");
        assert!(searched.windows(2).all(|w| w[0] != w[1]), "{searched:?}");
        let i = i + 7;
        let off = if searched[5] { i } else { i + 1 };
        if off > i {
            plan(&mut p, i, w, h, &still);
            p.saw(i, &[]);
        }
        assert_eq!(plan(&mut p, off, w, h, &vec![20u8; w * h]), None);
        p.saw(off, &[]);
        // Records made before the setting read as every frame.
        let old: RoiSettings = serde_json::from_str(
            r#"{"full_every":32,"block":16,"diff":4,"margin":2,"max_fraction":0.6,"min_side":160,"adaptive":true,"plates":true}"#,
        )
        .expect("parses");
        assert_eq!(old.plate_motion_every, 1);
        let mut q = RoiPlanner::for_plates(old, None).expect("plates on");
        plan(&mut q, 0, w, h, &still);
        q.saw(0, &[]);
        for (k, i) in (1..5u64).enumerate() {
            let data = luma(w, h, (20 + 8 * k, 100, 24));
            assert!(!plan(&mut q, i, w, h, &data).expect("regions").is_empty());
            q.saw(i, &[]);
        }
        // Every full_every frames the whole frame (once the picture is
        // back from the cut).
        plan(&mut p, 99, w, h, &still);
        p.saw(99, &[]);
        let mut whole = 0;
        for i in 0..RoiSettings::default().full_every {
            whole += usize::from(plan(&mut p, 100 + i, w, h, &still).is_none());
            p.saw(100 + i, &[]);
        }
        assert_eq!(whole, 1);
    }

    #[test]
    fn plates_follow_the_faces_plan_in_records_made_before_their_own() {
        // A record's settings without the field: plates on every whole
        // frame, as they ran.
        let old: RoiSettings = serde_json::from_str(
            r#"{"full_every":32,"block":16,"diff":4,"margin":2,"max_fraction":0.6,"min_side":160,"adaptive":true}"#,
        )
        .expect("parses");
        assert!(!old.plates);
        assert!(RoiPlanner::for_plates(old, None).is_none());
        let regions = Regions {
            faces: Some(vec![Roi::whole(4, 4)]),
            plates: None,
        };
        assert!(regions.of(Class::Plate).is_none());
        assert_eq!(regions.of(Class::Face).map(<[Roi]>::len), Some(1));
        assert!(RoiSettings::default().plates);
    }

    #[test]
    fn a_scale_set_by_hand_turns_adaptive_scale_off() {
        let mut opts = AnalyseOptions::default();
        assert!(opts.roi_plan().is_some_and(|r| r.adaptive));
        opts.faces = Some(FaceSettings {
            scale: 1.0,
            ..FaceSettings::default()
        });
        assert!(opts.roi_plan().is_some_and(|r| !r.adaptive));
    }
}
