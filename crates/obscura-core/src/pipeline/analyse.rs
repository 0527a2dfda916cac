//! The analysis pass of a subject access redaction: decode, detect faces
//! and plates on a pool of workers (each with its own model sessions), and
//! track the detections in frame order.

use crate::detect::person::VEHICLE_THRESHOLD;
use crate::detect::{
    Class, Detection, Detector, FaceDetector, FaceSettings, PersonDetector, PersonSettings,
    PlateDetector, PlateSettings,
};
use crate::error::{Error, ErrorKind, Result};
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
    /// a full-frame pass at a fixed interval; `None` looks at every whole
    /// frame. On by default, with a whole-frame pass every 16 frames and
    /// regions of at least 160 pixels: it recalled every face the
    /// whole-frame detector found on vtest.avi (1217 of 1217 in 795 frames,
    /// 2.9x the speed), a 720p version of it (66 of 66, 3.6x) and the
    /// carphone close-up (120 of 120), measured with
    /// `examples/roi_recall.rs`.
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
}

impl Default for RoiSettings {
    fn default() -> Self {
        RoiSettings {
            full_every: 16,
            block: 16,
            diff: 4,
            margin: 2,
            max_fraction: 0.6,
            min_side: 160,
        }
    }
}

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
    /// Detection boxes by frame, for the last `ROI_LAG + ROI_RECENT` frames.
    recent: BTreeMap<u64, Vec<crate::detect::BBox>>,
    frames: u64,
}

impl RoiPlanner {
    fn new(s: RoiSettings) -> Self {
        RoiPlanner {
            s,
            prev: Vec::new(),
            recent: BTreeMap::new(),
            frames: 0,
        }
    }

    fn block_means(&self, frame: &DecodedFrame) -> (Vec<u16>, usize, usize) {
        let y = frame.view().luma();
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

    /// Regions for `frame`, or `None` for the whole frame. Every frame up to
    /// `frame.index() - ROI_LAG` must have been reported with [`Self::saw`].
    fn plan(&mut self, frame: &DecodedFrame) -> Option<Vec<[usize; 4]>> {
        let i = frame.index();
        let (w, h) = (frame.width(), frame.height());
        let (means, bw, bh) = self.block_means(frame);
        let full = self.frames % self.s.full_every.max(1) == 0 || self.prev.len() != means.len();
        let prev = std::mem::replace(&mut self.prev, means);
        self.frames += 1;
        if full {
            return None;
        }
        let b = self.s.block.max(4);
        let mut active = vec![false; bw * bh];
        for (i, (a, p)) in self.prev.iter().zip(&prev).enumerate() {
            active[i] = a.abs_diff(*p) >= self.s.diff;
        }
        // Only frames at least ROI_LAG behind are certainly finished.
        let recent = match i.checked_sub(ROI_LAG) {
            Some(last) => self
                .recent
                .range(last.saturating_sub(ROI_RECENT)..=last)
                .collect(),
            None => Vec::new(),
        };
        for (_, boxes) in recent {
            for d in boxes {
                let e = d.padded(2.0);
                let x0 = (e.x.max(0.0) as usize / b).min(bw - 1);
                let y0 = (e.y.max(0.0) as usize / b).min(bh - 1);
                let x1 = (((e.x + e.w).max(0.0) as usize) / b).min(bw - 1);
                let y1 = (((e.y + e.h).max(0.0) as usize) / b).min(bh - 1);
                for by in y0..=y1 {
                    active[by * bw + x0..=by * bw + x1].fill(true);
                }
            }
        }
        // Dilate by the margin, then take connected groups' bounding boxes.
        let m = self.s.margin;
        let mut grown = vec![false; bw * bh];
        for by in 0..bh {
            for bx in 0..bw {
                if active[by * bw + bx] {
                    for gy in by.saturating_sub(m)..=(by + m).min(bh - 1) {
                        grown[gy * bw + bx.saturating_sub(m)..=gy * bw + (bx + m).min(bw - 1)]
                            .fill(true);
                    }
                }
            }
        }
        let mut seen = vec![false; bw * bh];
        let mut rects = Vec::new();
        for start in 0..bw * bh {
            if !grown[start] || seen[start] {
                continue;
            }
            let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
            let mut stack = vec![start];
            seen[start] = true;
            while let Some(i) = stack.pop() {
                let (x, y) = (i % bw, i / bw);
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                for (dx, dy) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= bw as i64 || ny >= bh as i64 {
                        continue;
                    }
                    let j = ny as usize * bw + nx as usize;
                    if grown[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
            let grow = |lo: usize, hi: usize, limit: usize| -> (usize, usize) {
                let want = self.s.min_side.min(limit);
                if hi - lo >= want {
                    return (lo, hi);
                }
                let lo = (lo + hi).saturating_sub(want) / 2;
                let lo = lo.min(limit - want);
                (lo, lo + want)
            };
            let (rx, rx1) = grow(x0 * b, ((x1 + 1) * b).min(w), w);
            let (ry, ry1) = grow(y0 * b, ((y1 + 1) * b).min(h), h);
            rects.push([rx, ry, rx1 - rx, ry1 - ry]);
        }
        let rects = merge_overlapping(rects);
        let area: usize = rects.iter().map(|r| r[2] * r[3]).sum();
        if area as f32 > self.s.max_fraction * (w * h) as f32 {
            return None;
        }
        Some(rects)
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
                .filter(|d| d.class != crate::detect::Class::Person)
                .map(|d| d.bbox)
                .collect(),
        );
        let keep_from = frame.saturating_sub(2 * (ROI_LAG + ROI_RECENT));
        self.recent = self.recent.split_off(&keep_from);
    }
}

/// Merges regions whose bounding union costs no more pixels than the two
/// apart (regions grown to the minimum side often overlap), until no pair
/// qualifies: the detector then never looks at the same pixels twice in a
/// frame, and a face across two regions is seen whole.
fn merge_overlapping(mut rects: Vec<[usize; 4]>) -> Vec<[usize; 4]> {
    let area = |r: &[usize; 4]| r[2] * r[3];
    loop {
        let mut merged = false;
        'pairs: for i in 0..rects.len() {
            for j in i + 1..rects.len() {
                let (a, b) = (rects[i], rects[j]);
                let x0 = a[0].min(b[0]);
                let y0 = a[1].min(b[1]);
                let x1 = (a[0] + a[2]).max(b[0] + b[2]);
                let y1 = (a[1] + a[3]).max(b[1] + b[3]);
                let union = [x0, y0, x1 - x0, y1 - y0];
                if area(&union) <= area(&a) + area(&b) {
                    rects[i] = union;
                    rects.swap_remove(j);
                    merged = true;
                    break 'pairs;
                }
            }
        }
        if !merged {
            return rects;
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
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
    (0..workers).map(|_| detectors(opts, 1)).collect()
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

/// A frame to detect on, with the regions to look at (`None`: everywhere).
type Work = (u64, DecodedFrame, Option<Vec<[usize; 4]>>);
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
            let dets = match &rois {
                Some(r) if r.is_empty() => Ok(Vec::new()),
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
    let mut planner = roi.map(RoiPlanner::new);
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
                let rois = planner.as_mut().and_then(|p| p.plan(&f));
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
    let mut best: std::collections::HashMap<u32, (f32, crate::frame::sheet::Thumb)> =
        Default::default();
    let analysis = analyse_with(
        input,
        decode,
        &mut sets,
        opts.tracker,
        opts.roi,
        progress,
        |frame, dets, ids| {
            for (d, &id) in dets.iter().zip(ids) {
                let q = d.score * d.bbox.area().sqrt();
                if best.get(&id).is_none_or(|b| q > b.0) {
                    best.insert(
                        id,
                        (q, crate::frame::sheet::thumbnail(&frame.view(), &d.bbox)),
                    );
                }
            }
        },
    )?;
    let tb = {
        let fps = analysis.info.fps;
        move |f: u64| if fps > 0.0 { f as f64 / fps } else { 0.0 }
    };
    let owners = crate::track::owners(&analysis.tracks);
    let mut tracks = Vec::new();
    let mut thumbnails = Vec::new();
    // A person track never confirmed by a high-score detection is obscured
    // but not offered: it is most often a thing read as a person.
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
        thumbnails.push(best.remove(&t.id).map(|b| b.1).unwrap_or_else(|| {
            crate::frame::sheet::Thumb(vec![
                0;
                crate::frame::sheet::THUMB
                    * crate::frame::sheet::THUMB
                    * 3
            ])
        }));
    }
    Ok(TrackListing {
        info: analysis.info,
        tracks,
        thumbnails,
    })
}
