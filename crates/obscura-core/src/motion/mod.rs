//! Motion analysis: per-frame scores on the luma plane, and incidents
//! (motion events) with wall-clock times, ready for the [`crate::store`].
//! Frames in, events out: decoding a file for it is
//! [`crate::pipeline::indexing`]'s work.
//!
//! ## Per frame ([`Analyser`])
//! 1. The luma plane is averaged down by the smallest integer factor `k`
//!    that makes it at most [`MotionOptions::width`] pixels wide (each
//!    analysis pixel averages `k` columns of the middle two rows of its
//!    `k`x`k` block) (never converted to RGB; chroma
//!    is not read), then blurred with a 3x3 binomial kernel (σ ≈ 0.85).
//! 2. It is compared with a running-average background (learning rate
//!    [`MotionOptions::learning_rate`], 0.01 by default); a pixel moves when
//!    it differs by more than [`MotionOptions::threshold`] grey levels.
//!    A pixel that differs from the background but stays unchanged from
//!    frame to frame for [`MotionOptions::still_frames`] frames is
//!    something that stopped, and goes into the background at once.
//! 3. Moving pixels inside the camera's ignore-zones are dropped; the rest
//!    are grouped into 8-connected regions and regions smaller than
//!    [`MotionOptions::min_region`] pixels (noise, rain drops) are dropped.
//! 4. The score is the fraction of the analysed area (the frame less its
//!    ignore-zones) covered by the remaining regions.
//! 5. When more than [`MotionOptions::recalibrate`] of the analysed area
//!    changes at once (lights switched, IR day/night switch, camera moved),
//!    the background is reset to the current picture and the frame scores 0:
//!    a global change recalibrates, it never fires an event.
//!
//! ## Events ([`detect_events`])
//! Frames are active with hysteresis (on at [`MotionOptions::trigger`], off
//! below [`MotionOptions::release`]); runs of active frames shorter than
//! [`MotionOptions::min_event_s`] are dropped; the rest are padded by
//! [`MotionOptions::pre_s`] before and [`MotionOptions::post_s`] after,
//! merged when they overlap or lie within [`MotionOptions::merge_gap_s`],
//! and cut into pieces no longer than [`MotionOptions::max_event_s`]. The
//! defaults follow DVR-Scan's (0.1 s minimum, 1.5 s before, 2 s after).
//!
//! ## Parallel within a file ([`crate::pipeline::indexing::scan`])
//! A long file is cut into segments analysed on their own threads. Each
//! segment's decoder starts at a keyframe at least
//! [`MotionOptions::warmup_frames`] before the segment, and the background
//! model learns on those frames without scoring them, so by the segment's
//! first frame it has forgotten its different start (the residual weight
//! is `(1 - rate)^warmup`). The per-frame scores of all segments are then
//! joined and events are found on the joined series, so events that cross
//! a boundary are stitched by construction. Tests check that the events
//! match a sequential run to within one frame.
//!
//! ## Wall-clock time ([`crate::clock::WallClock`])
//! A recording's start comes from, in this order: an explicit option, the
//! container's `creation_time`, the camera profile's `filename_pattern`.
//! When none gives one, the record says so; no time is ever invented.

use crate::clock::WallClock;
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{FrameView, Plane, Spans};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::PathBuf;

/// Side of the activity heatmap grid.
pub const HEATMAP_SIZE: usize = 16;

/// Options of motion analysis and event detection. [`Default`] gives the
/// documented defaults; [`MotionOptions::validate`] checks ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionOptions {
    /// Largest width of the analysis picture in pixels (the luma plane is
    /// shrunk by the smallest integer factor that gets it there).
    pub width: usize,
    /// Background learning rate per frame, 0 < rate < 1.
    pub learning_rate: f32,
    /// Grey-level difference from the background above which a pixel moves.
    pub threshold: u8,
    /// Frames a pixel must differ from the background while not changing
    /// from frame to frame before the background takes it (something that
    /// stopped); 0 = only the running average learns.
    pub still_frames: u8,
    /// Smallest connected region (analysis pixels) that counts as motion.
    pub min_region: usize,
    /// Score (moving fraction) at which a frame becomes active.
    pub trigger: f32,
    /// Score below which an active stretch ends (hysteresis; <= trigger).
    pub release: f32,
    /// Fraction of the analysed area changing at once that resets the
    /// background instead of firing.
    pub recalibrate: f32,
    /// Minimum length of motion for an event, seconds.
    pub min_event_s: f64,
    /// Padding before an event, seconds.
    pub pre_s: f64,
    /// Padding after an event, seconds.
    pub post_s: f64,
    /// Events closer than this (after padding) are merged, seconds.
    pub merge_gap_s: f64,
    /// Longest event, seconds; longer motion is cut into several events.
    pub max_event_s: f64,
    /// Frames the background learns on before a segment starts (0 = enough
    /// for the start state to weigh under 1%: `ln(100) / rate`).
    pub warmup_frames: u64,
    /// Segments per file: 0 = decided from the file's length and
    /// `threads`; 1 = sequential.
    pub segments: usize,
    /// Threads for segments (0 = one per core).
    pub threads: usize,
    /// With one segment: segment-parallel decode workers feeding the one
    /// analysis thread (0 = one per core below 1280x720 and, from there,
    /// one decoder with four frame threads per core, at most 16; 1 = one
    /// decoder with FFmpeg's choice of threads at every size).
    pub decode_workers: usize,
    /// Triage: skip decoding whole GOPs whose every inter packet is tiny
    /// (see [`crate::pipeline::indexing::gop_looks_still`]: a still
    /// picture); their frames score 0, except those after motion, decoded
    /// until the model has settled. Faster on quiet footage, at the cost of
    /// missing motion too small to show in packet sizes. The runs of GOPs
    /// that change are analysed in parallel, each from the still picture
    /// before it, on pictures decoded without the deblocking filter; a
    /// file with under
    /// [`crate::pipeline::indexing::TRIAGE_MIN_STILL_SHARE`] of its frames
    /// in still GOPs, or whose timestamps do not allow seeking, is
    /// analysed in full instead.
    pub triage: bool,
    /// Width of the JPEG thumbnail at each event's peak (0 = none).
    pub thumbnail_width: usize,
    /// Stops the analysis when cancelled (`Interrupted`; nothing is stored).
    pub cancel: crate::Cancel,
}

impl Default for MotionOptions {
    fn default() -> Self {
        MotionOptions {
            width: 320,
            learning_rate: 0.01,
            threshold: 25,
            still_frames: 25,
            min_region: 6,
            trigger: 0.002,
            release: 0.001,
            recalibrate: 0.5,
            min_event_s: 0.1,
            pre_s: 1.5,
            post_s: 2.0,
            merge_gap_s: 0.0,
            max_event_s: 600.0,
            warmup_frames: 0,
            segments: 0,
            threads: 0,
            decode_workers: 0,
            triage: false,
            thumbnail_width: 320,
            cancel: crate::Cancel::default(),
        }
    }
}

fn bad(msg: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

impl MotionOptions {
    /// Checks every option against its valid range.
    ///
    /// # Errors
    /// `InvalidArgument` naming the option and its range.
    pub fn validate(&self) -> Result<()> {
        if !(32..=4096).contains(&self.width) {
            return Err(bad(format!(
                "invalid analysis width {} (expected >= 32, <= 4096)",
                self.width
            )));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate < 1.0) {
            return Err(bad(format!(
                "invalid learning rate {} (expected > 0, < 1)",
                self.learning_rate
            )));
        }
        if self.threshold == 0 {
            return Err(bad("invalid threshold 0 (expected >= 1, <= 255)".into()));
        }
        if self.min_region > 1_000_000 {
            return Err(bad(format!(
                "invalid minimum region {} (expected <= 1000000)",
                self.min_region
            )));
        }
        let frac = |name: &str, v: f32| {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(bad(format!("invalid {name} {v} (expected > 0, <= 1)")))
            }
        };
        frac("trigger", self.trigger)?;
        frac("release", self.release)?;
        frac("recalibration fraction", self.recalibrate)?;
        if self.release > self.trigger {
            return Err(bad(format!(
                "invalid release {} (expected <= trigger {})",
                self.release, self.trigger
            )));
        }
        for (name, v) in [
            ("minimum event length", self.min_event_s),
            ("padding before", self.pre_s),
            ("padding after", self.post_s),
            ("merge gap", self.merge_gap_s),
        ] {
            if !(v.is_finite() && (0.0..=3600.0).contains(&v)) {
                return Err(bad(format!(
                    "invalid {name} {v} s (expected >= 0, <= 3600)"
                )));
            }
        }
        if !(self.max_event_s.is_finite() && self.max_event_s >= 1.0) {
            return Err(bad(format!(
                "invalid maximum event length {} s (expected >= 1)",
                self.max_event_s
            )));
        }
        if self.threads > 256 || self.decode_workers > 256 || self.segments > 4096 {
            return Err(bad(format!(
                "invalid threads {} / decode workers {} / segments {} (expected <= 256 / <= 256 / <= 4096)",
                self.threads, self.decode_workers, self.segments
            )));
        }
        if self.thumbnail_width > 4096 {
            return Err(bad(format!(
                "invalid thumbnail width {} (expected <= 4096)",
                self.thumbnail_width
            )));
        }
        Ok(())
    }

    /// Frames a segment's background learns on before it scores: the
    /// option, or by default enough for a 100x smaller residual weight of
    /// its start.
    pub fn resolved_warmup(&self) -> u64 {
        if self.warmup_frames > 0 {
            self.warmup_frames
        } else {
            (100f64.ln() / f64::from(self.learning_rate)).ceil() as u64
        }
    }

    /// Analysis threads: the option, or one per available core.
    pub fn resolved_threads(&self) -> usize {
        if self.threads == 0 {
            crate::cores()
        } else {
            self.threads
        }
    }
}

/// What one frame's analysis found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrameMotion {
    /// Moving fraction of the analysed area, 0..1.
    pub score: f32,
    /// Bounding box of the moving regions in analysis pixels,
    /// `[x0, y0, x1, y1]` with exclusive ends.
    pub bbox: Option<[u16; 4]>,
    /// Whether a global change reset the background on this frame.
    pub recalibrated: bool,
    /// Moving pixels per heatmap cell (row-major 16x16), when any moved.
    pub heat: Option<Box<[u16; HEATMAP_SIZE * HEATMAP_SIZE]>>,
    /// Each moving region's box in analysis pixels, `[x0, y0, x1, y1]`
    /// with exclusive ends, in no particular order.
    pub regions: Vec<[u16; 4]>,
}

/// The per-frame motion model of one camera view: background, ignore-zone
/// mask and scratch buffers. Feed it every frame in order with
/// [`Analyser::push`].
#[derive(Debug, Clone)]
pub struct Analyser {
    src_w: usize,
    src_h: usize,
    factor: usize,
    w: usize,
    h: usize,
    rate: f32,
    threshold: f32,
    min_region: usize,
    recalibrate: f32,
    /// 1 where pixels count, 0 inside ignore-zones.
    include: Vec<u8>,
    analysed: usize,
    background: Vec<f32>,
    primed: bool,
    grey: Vec<u8>,
    acc: Vec<u32>,
    cols: Vec<u32>,
    previous: Vec<u8>,
    still: Vec<u8>,
    take: Vec<u8>,
    still_frames: u8,
    still_threshold: u8,
    small: Vec<u16>,
    tmp: Vec<u16>,
    moving: Vec<u8>,
    runs: Vec<Run>,
    parent: Vec<u32>,
}

/// The root of label `x` in the union-find `parent`, halving the path on
/// the way.
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

/// A run of moving pixels in row `y`, columns `x0..x1`, with its region
/// label.
#[derive(Debug, Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
    label: u32,
}

impl Analyser {
    /// An analyser for `width`x`height` frames; `ignore` holds polygons in
    /// video pixel coordinates.
    ///
    /// # Errors
    /// `InvalidArgument` for bad options, a frame smaller than 16x16, or
    /// ignore-zones covering the whole frame.
    pub fn new(
        width: usize,
        height: usize,
        ignore: &[Vec<[f64; 2]>],
        opts: &MotionOptions,
    ) -> Result<Self> {
        opts.validate()?;
        if width < 16 || height < 16 {
            return Err(bad(format!(
                "invalid frame size {width}x{height} for motion analysis (expected each >= 16)"
            )));
        }
        let factor = width.div_ceil(opts.width).max(1);
        let (w, h) = (width / factor, height / factor);
        let mut include = vec![1u8; w * h];
        let scale = 1.0 / factor as f64;
        for poly in ignore {
            let scaled: Vec<[f64; 2]> = poly.iter().map(|p| [p[0] * scale, p[1] * scale]).collect();
            for (y, a, b) in Spans::rasterise(&scaled, w, h).iter() {
                include[y * w + a..y * w + b].fill(0);
            }
        }
        let analysed = include.iter().filter(|&&v| v == 1).count();
        if analysed == 0 {
            return Err(bad(
                "the ignore-zones cover the whole frame: nothing is left to analyse".into(),
            ));
        }
        Ok(Analyser {
            src_w: width,
            src_h: height,
            factor,
            w,
            h,
            rate: opts.learning_rate,
            threshold: f32::from(opts.threshold),
            min_region: opts.min_region.max(1),
            recalibrate: opts.recalibrate,
            include,
            analysed,
            background: vec![0.0; w * h],
            primed: false,
            grey: vec![0; w * h],
            acc: vec![0; w],
            previous: vec![0; w * h],
            still: vec![0; w * h],
            take: vec![0; w * h],
            still_frames: if opts.still_frames == 0 {
                u8::MAX
            } else {
                opts.still_frames
            },
            still_threshold: opts.threshold / 2,
            cols: vec![0; w * factor],
            small: vec![0; w],
            tmp: vec![0; w * h],
            moving: vec![0; w * h],
            runs: Vec::new(),
            parent: Vec::new(),
        })
    }

    /// Analysis picture size `(width, height)`.
    pub fn analysis_size(&self) -> (usize, usize) {
        (self.w, self.h)
    }

    /// The integer factor frames are shrunk by.
    pub fn factor(&self) -> usize {
        self.factor
    }

    /// Analyses the next frame of the sequence.
    ///
    /// # Errors
    /// `InvalidArgument` if the frame's size differs from the analyser's.
    pub fn push(&mut self, frame: &FrameView<'_>) -> Result<FrameMotion> {
        self.push_luma(frame.luma())
    }

    /// As [`Analyser::push`], from the luma plane alone.
    ///
    /// # Errors
    /// `InvalidArgument` if the plane's size differs from the analyser's.
    pub fn push_luma(&mut self, luma: Plane<'_>) -> Result<FrameMotion> {
        if luma.width() != self.src_w || luma.height() != self.src_h {
            return Err(bad(format!(
                "frame size changed to {}x{} (the analysis was set up for {}x{})",
                luma.width(),
                luma.height(),
                self.src_w,
                self.src_h
            )));
        }
        self.shrink_and_blur(luma);
        if !self.primed {
            for (b, &g) in self.background.iter_mut().zip(&self.grey) {
                *b = f32::from(g);
            }
            self.previous.copy_from_slice(&self.grey);
            self.primed = true;
            return Ok(FrameMotion::default());
        }
        // Compare with the background, then let the background learn. A
        // pixel that differs from the background but has not changed since
        // the previous frame for `still_frames` frames in a row is a thing
        // that stopped (a parked car, a person standing, the still picture
        // of a paused feed): the background takes it at once, instead of
        // the running average firing for the ~100 frames it needs.
        // Three simple passes, each over one or two element types, so the
        // compiler vectorises them.
        let (rate, thr, still_thr) = (self.rate, self.threshold, self.still_threshold);
        let absorb = self.still_frames;
        for (((m, &b), &g), &inc) in self
            .moving
            .iter_mut()
            .zip(&self.background)
            .zip(&self.grey)
            .zip(&self.include)
        {
            *m = u8::from((f32::from(g) - b).abs() > thr) & inc;
        }
        for ((((t, c), p), &g), &m) in self
            .take
            .iter_mut()
            .zip(self.still.iter_mut())
            .zip(self.previous.iter_mut())
            .zip(&self.grey)
            .zip(&self.moving)
        {
            let still = u8::from(g.abs_diff(*p) <= still_thr);
            *p = g;
            let n = c.saturating_add(1) * (m & still);
            let take = u8::from(n >= absorb);
            *c = n * (1 - take);
            *t = take;
        }
        for ((b, &g), &t) in self.background.iter_mut().zip(&self.grey).zip(&self.take) {
            let g = f32::from(g);
            let learnt = *b + rate * (g - *b);
            *b = if t == 1 { g } else { learnt };
        }
        let changed: usize = self.moving.iter().map(|&m| usize::from(m)).sum();
        if changed as f32 > self.recalibrate * self.analysed as f32 {
            for (b, &g) in self.background.iter_mut().zip(&self.grey) {
                *b = f32::from(g);
            }
            return Ok(FrameMotion {
                recalibrated: true,
                ..FrameMotion::default()
            });
        }
        if changed < self.min_region {
            return Ok(FrameMotion::default());
        }
        Ok(self.regions())
    }

    /// Box-average by `factor`, then a 3x3 binomial blur, into `grey`.
    /// Written as plain slice loops the compiler vectorises.
    fn shrink_and_blur(&mut self, luma: Plane<'_>) {
        let (w, h, k) = (self.w, self.h, self.factor);
        // grey = sum * inv >> 24 divides by k*k with rounding close enough
        // for a threshold test (within one grey level).
        // At most the middle two rows of each block are read: the blur
        // that follows smooths more than the rows left out would, and
        // reading less of a large picture is most of the saving.
        let rows = k.min(2);
        let skip = (k - rows) / 2;
        let inv = ((1u64 << 24) / (k * rows) as u64) as u32;
        let (acc, cols) = (&mut self.acc, &mut self.cols);
        for y in 0..h {
            // Sum the rows column by column (vectorises), then each run of
            // k columns.
            cols.fill(0);
            for sy in y * k + skip..y * k + skip + rows {
                for (c, &p) in cols.iter_mut().zip(&luma.row(sy)[..w * k]) {
                    *c += u32::from(p);
                }
            }
            match k {
                1 => acc.copy_from_slice(cols),
                2 => {
                    for (a, c) in acc.iter_mut().zip(cols.chunks_exact(2)) {
                        *a = c[0] + c[1];
                    }
                }
                3 => {
                    for (a, c) in acc.iter_mut().zip(cols.chunks_exact(3)) {
                        *a = c[0] + c[1] + c[2];
                    }
                }
                4 => {
                    for (a, c) in acc.iter_mut().zip(cols.chunks_exact(4)) {
                        *a = (c[0] + c[1]) + (c[2] + c[3]);
                    }
                }
                6 => {
                    for (a, c) in acc.iter_mut().zip(cols.chunks_exact(6)) {
                        *a = (c[0] + c[1]) + (c[2] + c[3]) + (c[4] + c[5]);
                    }
                }
                _ => {
                    for (a, c) in acc.iter_mut().zip(cols.chunks_exact(k)) {
                        *a = c.iter().sum();
                    }
                }
            }
            let small = &mut self.small[..w];
            for (s, &a) in small.iter_mut().zip(acc.iter()) {
                *s = ((u64::from(a) * u64::from(inv) + (1 << 23)) >> 24) as u16;
            }
            // Horizontal [1 2 1] pass into tmp, edges replicated.
            let out = &mut self.tmp[y * w..(y + 1) * w];
            out[0] = 3 * small[0] + small[1.min(w - 1)];
            out[w - 1] = small[w.saturating_sub(2)] + 3 * small[w - 1];
            for ((o, l), (c, r)) in out[1..w - 1]
                .iter_mut()
                .zip(&small[..w - 2])
                .zip(small[1..w - 1].iter().zip(&small[2..]))
            {
                *o = l + 2 * c + r;
            }
        }
        // Vertical [1 2 1] pass into grey.
        for y in 0..h {
            let up = &self.tmp[y.saturating_sub(1) * w..][..w];
            let mid = &self.tmp[y * w..][..w];
            let down = &self.tmp[(y + 1).min(h - 1) * w..][..w];
            let out = &mut self.grey[y * w..(y + 1) * w];
            for (((o, &u), &m), &d) in out.iter_mut().zip(up).zip(mid).zip(down) {
                *o = ((u + 2 * m + d + 8) >> 4) as u8;
            }
        }
    }

    /// 8-connected regions of `moving`; keeps those of at least
    /// `min_region` pixels and measures them.
    ///
    /// Works on runs of moving pixels rather than on pixels: each row's
    /// runs join the runs of the row above that touch them (diagonals
    /// included), in a union-find over run labels. A busy picture has
    /// many moving pixels but few runs, and the per-pixel work left is
    /// straight-line counting. The regions come out in the order of their
    /// first pixel in raster order, as a pixel-by-pixel labelling gives
    /// them (tested against one).
    fn regions(&mut self) -> FrameMotion {
        let (w, h) = (self.w, self.h);
        self.parent.clear();
        self.runs.clear();
        let mut above = 0..0;
        for y in 0..h {
            let row = &self.moving[y * w..(y + 1) * w];
            let first = self.runs.len();
            let mut p = above.start;
            let mut x = 0;
            while let Some(off) = row[x..].iter().position(|&m| m != 0) {
                let x0 = x + off;
                let x1 = x0 + row[x0..].iter().position(|&m| m == 0).unwrap_or(w - x0);
                x = x1;
                // Runs above touch this one when they reach column x0 - 1
                // and start at column x1 at most.
                while p < above.end && (self.runs[p].x1 as usize) < x0 {
                    p += 1;
                }
                let mut label = u32::MAX;
                let mut q = p;
                while q < above.end && (self.runs[q].x0 as usize) <= x1 {
                    let n = find(&mut self.parent, self.runs[q].label);
                    if label == u32::MAX {
                        label = n;
                    } else if n != label {
                        let (lo, hi) = (label.min(n), label.max(n));
                        self.parent[hi as usize] = lo;
                        label = lo;
                    }
                    q += 1;
                }
                if label == u32::MAX {
                    label = self.parent.len() as u32;
                    self.parent.push(label);
                }
                self.runs.push(Run {
                    y: y as u32,
                    x0: x0 as u32,
                    x1: x1 as u32,
                    label,
                });
            }
            above = first..self.runs.len();
        }
        let n = self.parent.len();
        let mut area = vec![0usize; n];
        for r in self.runs.iter_mut() {
            r.label = find(&mut self.parent, r.label);
            area[r.label as usize] += (r.x1 - r.x0) as usize;
        }
        let mut moving = 0usize;
        let mut bbox = [usize::MAX, usize::MAX, 0, 0];
        let mut boxes: Vec<[usize; 4]> = vec![[usize::MAX, usize::MAX, 0, 0]; n];
        let mut heat = Box::new([0u16; HEATMAP_SIZE * HEATMAP_SIZE]);
        for r in &self.runs {
            if area[r.label as usize] < self.min_region {
                continue;
            }
            let (y, x0, x1) = (r.y as usize, r.x0 as usize, r.x1 as usize);
            moving += x1 - x0;
            bbox = [
                bbox[0].min(x0),
                bbox[1].min(y),
                bbox[2].max(x1),
                bbox[3].max(y + 1),
            ];
            let b = &mut boxes[r.label as usize];
            *b = [b[0].min(x0), b[1].min(y), b[2].max(x1), b[3].max(y + 1)];
            // Column x falls in heatmap cell x * HEATMAP_SIZE / w: count
            // the run's columns cell by cell.
            let cells = &mut heat[y * HEATMAP_SIZE / h * HEATMAP_SIZE..][..HEATMAP_SIZE];
            let mut x = x0;
            while x < x1 {
                let c = x * HEATMAP_SIZE / w;
                let next = ((c + 1) * w).div_ceil(HEATMAP_SIZE).min(x1);
                let count = u16::try_from(next - x).unwrap_or(u16::MAX);
                cells[c] = cells[c].saturating_add(count);
                x = next;
            }
        }
        if moving == 0 {
            return FrameMotion::default();
        }
        let b16 = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
        let regions = boxes
            .iter()
            .filter(|r| r[2] > r[0])
            .map(|r| r.map(b16))
            .collect();
        FrameMotion {
            score: moving as f32 / self.analysed as f32,
            bbox: Some([b16(bbox[0]), b16(bbox[1]), b16(bbox[2]), b16(bbox[3])]),
            recalibrated: false,
            heat: Some(heat),
            regions,
        }
    }
}

/// An event as a range of frames, before it is described.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EventSpan {
    /// First frame of the event (padding included).
    pub start_frame: u64,
    /// Last frame of the event, inclusive.
    pub end_frame: u64,
}

/// The fewest frames of `frame_s` seconds that make an event of
/// [`MotionOptions::min_event_s`].
pub(crate) fn min_event_frames(opts: &MotionOptions, frame_s: f64) -> usize {
    ((opts.min_event_s / frame_s.max(1e-6)) - 1e-6)
        .ceil()
        .max(1.0) as usize
}

/// Finds events in a series of per-frame `scores` at `times` (seconds of
/// each frame; `frame_s` is one frame's duration), with hysteresis,
/// minimum length, padding, merging and the length cap of `opts`.
pub fn detect_events(
    scores: &[f32],
    times: &[f64],
    frame_s: f64,
    opts: &MotionOptions,
) -> Vec<EventSpan> {
    let n = scores.len().min(times.len());
    if n == 0 {
        return Vec::new();
    }
    let min_frames = min_event_frames(opts, frame_s);
    // Active runs with hysteresis.
    let mut runs = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &s) in scores.iter().enumerate().take(n) {
        let on = match start {
            Some(_) => s >= opts.release,
            None => s >= opts.trigger,
        };
        match (on, start) {
            (true, None) => start = Some(i),
            (false, Some(a)) => {
                runs.push((a, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(a) = start {
        runs.push((a, n - 1));
    }
    let first = times[0];
    let last_end = times[n - 1] + frame_s;
    // Padded, merged time ranges.
    let mut ranges: Vec<(f64, f64)> = Vec::new();
    for (a, b) in runs {
        if b + 1 - a < min_frames {
            continue;
        }
        let s = (times[a] - opts.pre_s).max(first);
        let e = (times[b] + frame_s + opts.post_s).min(last_end);
        match ranges.last_mut() {
            Some(r) if s <= r.1 + opts.merge_gap_s + 1e-9 => r.1 = r.1.max(e),
            _ => ranges.push((s, e)),
        }
    }
    // Frames whose display interval starts in [s, e), with the cap.
    let mut events = Vec::new();
    let eps = frame_s * 1e-3;
    for (s, e) in ranges {
        let a = times[..n].partition_point(|&t| t < s - eps);
        let b = times[..n].partition_point(|&t| t < e - eps);
        if b <= a {
            continue;
        }
        let max_frames = ((opts.max_event_s / frame_s.max(1e-6)).floor() as usize).max(1);
        let mut from = a;
        while from < b {
            let to = (from + max_frames).min(b);
            events.push(EventSpan {
                start_frame: from as u64,
                end_frame: (to - 1) as u64,
            });
            from = to;
        }
    }
    events
}

/// A jump in a recording's timestamps: frames missing inside the file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct TimestampGap {
    /// Media time of the last frame before the jump, seconds.
    pub after_s: f64,
    /// Length of the missing stretch, seconds.
    pub missing_s: f64,
}

/// One incident: an event described for the index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// First frame (padding included).
    pub start_frame: u64,
    /// Last frame, inclusive.
    pub end_frame: u64,
    /// Start, media seconds.
    pub start_s: f64,
    /// End (end of the last frame), media seconds.
    pub end_s: f64,
    /// Start, wall-clock UTC, when the recording's start is known.
    pub start_utc: Option<DateTime<Utc>>,
    /// End, wall-clock UTC, when known.
    pub end_utc: Option<DateTime<Utc>>,
    /// Highest score in the event.
    pub peak_score: f32,
    /// Media seconds of the peak.
    pub peak_s: f64,
    /// Frame of the peak.
    pub peak_frame: u64,
    /// Bounding box of all motion in the event, video pixels,
    /// `[x0, y0, x1, y1]` with exclusive ends.
    pub bbox: [u32; 4],
    /// Activity per cell of a 16x16 grid over the frame, row-major,
    /// 255 = the busiest cell.
    #[serde(skip)]
    pub heatmap: Vec<u8>,
    /// JPEG of the frame at the peak (empty when thumbnails are off).
    #[serde(skip)]
    pub thumbnail: Vec<u8>,
}

/// The motion analysis of one recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MotionAnalysis {
    /// The file.
    pub path: PathBuf,
    /// sha256 of the file's bytes.
    pub sha256: String,
    /// Picture width, pixels.
    pub width: u32,
    /// Picture height, pixels.
    pub height: u32,
    /// Frames per second (average).
    pub fps: f64,
    /// Frames the file's header declares, when it does: more than
    /// `frames` means a truncated or damaged file.
    pub header_frames: Option<u64>,
    /// How the file shows it was cut short where its header declares no
    /// frame count ([`VideoInfo::cut_short`](crate::media::VideoInfo::cut_short)).
    pub cut_short: Option<String>,
    /// Frames analysed.
    pub frames: u64,
    /// Duration, seconds.
    pub duration_s: f64,
    /// Wall-clock start.
    pub wall_clock: WallClock,
    /// Timestamp jumps inside the file.
    pub gaps: Vec<TimestampGap>,
    /// Frames where a global change reset the background.
    pub recalibrations: u64,
    /// Segments the file was analysed in.
    pub segments: usize,
    /// Of `frames`, those triage did not decode (in GOPs whose packets say
    /// the picture is still: scored 0); 0 without triage.
    pub skipped_frames: u64,
    /// The incidents.
    pub incidents: Vec<Incident>,
    /// Seconds the analysis took.
    pub seconds: f64,
}

impl MotionAnalysis {
    /// Whether fewer frames decoded than the file declares, or the file
    /// otherwise shows it was cut short (truncated or damaged): the fault
    /// in words and the declared count, if it declares one.
    pub fn damage(&self) -> (Option<String>, Option<u64>) {
        match (self.header_frames, &self.cut_short) {
            (Some(h), _) if h > self.frames => (
                Some(format!(
                    "truncated or damaged: decoded {} of the {h} frames the file declares",
                    self.frames
                )),
                Some(h),
            ),
            (_, Some(how)) => (
                Some(format!(
                    "truncated: {how}; decoded the {} frames it holds",
                    self.frames
                )),
                None,
            ),
            _ => (None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OwnedFrame;

    fn frame_with_square(x: usize, y: usize, size: usize, bg: u8) -> OwnedFrame {
        let mut f = OwnedFrame::filled(320, 240, [bg, 128, 128]).expect("valid");
        {
            let mut v = f.view_mut();
            let p = v.plane_mut(0);
            for row in y..y + size {
                p.row_mut(row)[x..x + size].fill(230);
            }
        }
        f
    }

    /// The pixel-by-pixel labelling `regions` replaced, as the reference
    /// its runs must agree with.
    fn regions_by_pixels(
        moving: &[u8],
        (w, h): (usize, usize),
        min_region: usize,
        analysed: usize,
    ) -> FrameMotion {
        let mut labels = vec![0u32; w * h];
        let mut parent = vec![0u32];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if moving[i] == 0 {
                    labels[i] = 0;
                    continue;
                }
                let mut label = 0u32;
                let mut neighbours = [0u32; 4];
                if x > 0 {
                    neighbours[0] = labels[i - 1];
                }
                if y > 0 {
                    let up = i - w;
                    neighbours[1] = labels[up];
                    if x > 0 {
                        neighbours[2] = labels[up - 1];
                    }
                    if x + 1 < w {
                        neighbours[3] = labels[up + 1];
                    }
                }
                for n in neighbours {
                    if n == 0 {
                        continue;
                    }
                    if label == 0 {
                        label = find(&mut parent, n);
                    } else {
                        let (a, b) = (find(&mut parent, label), find(&mut parent, n));
                        if a != b {
                            let (lo, hi) = (a.min(b), a.max(b));
                            parent[hi as usize] = lo;
                            label = lo;
                        }
                    }
                }
                if label == 0 {
                    label = parent.len() as u32;
                    parent.push(label);
                }
                labels[i] = label;
            }
        }
        let n = parent.len();
        let mut area = vec![0usize; n];
        for l in labels.iter_mut() {
            if *l != 0 {
                let r = find(&mut parent, *l);
                *l = r;
                area[r as usize] += 1;
            }
        }
        let mut moving = 0usize;
        let mut bbox = [usize::MAX, usize::MAX, 0, 0];
        let mut boxes: Vec<[usize; 4]> = vec![[usize::MAX, usize::MAX, 0, 0]; n];
        let mut heat = Box::new([0u16; HEATMAP_SIZE * HEATMAP_SIZE]);
        for y in 0..h {
            let cy = y * HEATMAP_SIZE / h;
            for x in 0..w {
                let l = labels[y * w + x];
                if l == 0 || area[l as usize] < min_region {
                    continue;
                }
                moving += 1;
                bbox = [
                    bbox[0].min(x),
                    bbox[1].min(y),
                    bbox[2].max(x + 1),
                    bbox[3].max(y + 1),
                ];
                let r = &mut boxes[l as usize];
                *r = [r[0].min(x), r[1].min(y), r[2].max(x + 1), r[3].max(y + 1)];
                let cell = &mut heat[cy * HEATMAP_SIZE + x * HEATMAP_SIZE / w];
                *cell = cell.saturating_add(1);
            }
        }
        if moving == 0 {
            return FrameMotion::default();
        }
        let b16 = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
        let regions = boxes
            .iter()
            .filter(|r| r[2] > r[0])
            .map(|r| r.map(b16))
            .collect();
        FrameMotion {
            score: moving as f32 / analysed as f32,
            bbox: Some([b16(bbox[0]), b16(bbox[1]), b16(bbox[2]), b16(bbox[3])]),
            recalibrated: false,
            heat: Some(heat),
            regions,
        }
    }

    /// A random moving mask: blobs of `density` on a sparse speckle, so
    /// runs merge, fork, touch diagonally and stay single pixels.
    fn random_mask(w: usize, h: usize, density: u32, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut m: Vec<u8> = (0..w * h).map(|_| u8::from(next() % 100 < 3)).collect();
        for _ in 0..density {
            let (cx, cy) = ((next() % w as u64) as usize, (next() % h as u64) as usize);
            let (rw, rh) = (1 + (next() % 12) as usize, 1 + (next() % 9) as usize);
            for y in cy..(cy + rh).min(h) {
                for x in cx..(cx + rw).min(w) {
                    m[y * w + x] = u8::from(next() % 8 != 0);
                }
            }
        }
        m
    }

    #[test]
    fn run_labelling_finds_the_regions_pixel_labelling_finds() {
        let mut cases = 0;
        for (w, h) in [(320, 180), (97, 61), (16, 16), (1, 40), (40, 1)] {
            for density in [0, 5, 40, 300, 3000] {
                for min_region in [1, 4, 30] {
                    for seed in 1..4u64 {
                        let o = MotionOptions {
                            min_region,
                            ..opts()
                        };
                        // regions() reads only the mask, its size and these.
                        let mut a = Analyser::new(320, 320, &[], &o).expect("valid");
                        (a.w, a.h, a.analysed) = (w, h, w * h);
                        a.moving = random_mask(w, h, density, seed * 7919 + density as u64);
                        let want = regions_by_pixels(&a.moving, (w, h), a.min_region, a.analysed);
                        assert_eq!(
                            a.regions(),
                            want,
                            "{w}x{h} density {density} min {min_region} seed {seed}"
                        );
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 225);
    }

    fn opts() -> MotionOptions {
        MotionOptions {
            width: 160,
            ..MotionOptions::default()
        }
    }

    #[test]
    fn a_moving_square_scores_and_a_brightness_step_recalibrates() {
        let mut a = Analyser::new(320, 240, &[], &opts()).expect("valid");
        assert_eq!(a.analysis_size(), (160, 120));
        let still = OwnedFrame::filled(320, 240, [60, 128, 128]).expect("valid");
        assert_eq!(a.push(&still.view()).expect("same size").score, 0.0);
        assert_eq!(a.push(&still.view()).expect("same size").score, 0.0);
        let m = a
            .push(&frame_with_square(100, 100, 40, 60).view())
            .expect("same size");
        assert!(m.score > 0.02 && m.score < 0.03, "{}", m.score);
        let bb = m.bbox.expect("moved");
        assert!(
            bb[0] <= 50 && bb[2] >= 70 && bb[1] <= 50 && bb[3] >= 70,
            "{bb:?}"
        );
        let heat = m.heat.expect("moved");
        assert!(heat[7 * 16 + 6] > 0 && heat[0] == 0);
        let bright = OwnedFrame::filled(320, 240, [160, 128, 128]).expect("valid");
        let m = a.push(&bright.view()).expect("same size");
        assert!(m.recalibrated && m.score == 0.0);
        assert_eq!(a.push(&bright.view()).expect("same size").score, 0.0);
    }

    #[test]
    fn something_that_stops_joins_the_background_after_still_frames() {
        let o = MotionOptions {
            still_frames: 5,
            ..opts()
        };
        let mut a = Analyser::new(320, 240, &[], &o).expect("valid");
        let still = OwnedFrame::filled(320, 240, [60, 128, 128]).expect("valid");
        a.push(&still.view()).expect("ok");
        let parked = frame_with_square(100, 100, 40, 60);
        let scores: Vec<f32> = (0..8)
            .map(|_| a.push(&parked.view()).expect("ok").score)
            .collect();
        // Appears (1 frame), then unchanged for 5 frames: taken in.
        assert!(scores[..6].iter().all(|&s| s > 0.02), "{scores:?}");
        assert!(scores[6..].iter().all(|&s| s == 0.0), "{scores:?}");
        // When it leaves, the spot it left is news for another 5 frames.
        let left: Vec<f32> = (0..8)
            .map(|_| a.push(&still.view()).expect("ok").score)
            .collect();
        assert!(left[0] > 0.02 && left[7] == 0.0, "{left:?}");
    }

    #[test]
    fn ignore_zones_and_small_specks_do_not_count() {
        let zone = vec![[180.0, 80.0], [260.0, 80.0], [260.0, 160.0], [180.0, 160.0]];
        let mut a = Analyser::new(320, 240, &[zone], &opts()).expect("valid");
        let still = OwnedFrame::filled(320, 240, [60, 128, 128]).expect("valid");
        a.push(&still.view()).expect("ok");
        let m = a
            .push(&frame_with_square(200, 100, 40, 60).view())
            .expect("ok");
        assert_eq!(m.score, 0.0);
        let m = a
            .push(&frame_with_square(20, 20, 2, 60).view())
            .expect("ok");
        assert_eq!(m.score, 0.0, "a 2-pixel speck is noise");
        let err = a.push(&OwnedFrame::filled(32, 32, [0; 3]).expect("ok").view());
        assert_eq!(err.expect_err("size").kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn events_follow_hysteresis_min_length_padding_merge_and_cap() {
        let fps = 10.0;
        let times: Vec<f64> = (0..300).map(|i| f64::from(i) / fps).collect();
        let mut scores = vec![0.0f32; 300];
        // 1 frame blip (too short at 0.2 s minimum), one 2 s stretch, and two
        // stretches 1 s apart that padding merges.
        scores[20] = 0.5;
        scores[100..120].fill(0.01);
        scores[110] = 0.0015; // between release and trigger: stays on
        scores[200..205].fill(0.01);
        scores[215..220].fill(0.01);
        let o = MotionOptions {
            min_event_s: 0.2,
            ..MotionOptions::default()
        };
        let ev = detect_events(&scores, &times, 0.1, &o);
        assert_eq!(
            ev,
            vec![
                EventSpan {
                    start_frame: 85,
                    end_frame: 139
                },
                EventSpan {
                    start_frame: 185,
                    end_frame: 239
                },
            ]
        );
        let capped = detect_events(
            &scores,
            &times,
            0.1,
            &MotionOptions {
                max_event_s: 2.0,
                ..o.clone()
            },
        );
        assert_eq!(capped.len(), 6);
        assert_eq!(
            capped[0],
            EventSpan {
                start_frame: 85,
                end_frame: 104
            }
        );
        assert!(detect_events(&[], &[], 0.1, &o).is_empty());
    }

    #[test]
    fn options_name_their_range() {
        let e = MotionOptions {
            width: 8,
            ..MotionOptions::default()
        }
        .validate()
        .expect_err("too narrow");
        assert!(e.to_string().contains("expected >= 32"), "{e}");
        let e = MotionOptions {
            release: 0.5,
            ..MotionOptions::default()
        }
        .validate()
        .expect_err("release above trigger");
        assert!(e.to_string().contains("expected <= trigger"), "{e}");
    }
}
