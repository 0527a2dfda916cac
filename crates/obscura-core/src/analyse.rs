//! The analysis pass of a subject access redaction: decode, detect faces
//! and plates on a pool of workers (each with its own model sessions), and
//! track the detections in frame order.

use crate::detect::{
    Detection, Detector, FaceDetector, FaceSettings, PlateDetector, PlateSettings,
};
use crate::error::{Error, ErrorKind, Result};
use crate::media::{self, DecodeOptions, DecodedFrame, VideoInfo};
use crate::pipeline::Progress;
use crate::track::{Track, Tracker, TrackerSettings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

/// What to detect and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyseOptions {
    /// Face detection, if wanted.
    pub faces: Option<FaceSettings>,
    /// Plate detection, if wanted.
    pub plates: Option<PlateSettings>,
    /// Tracking.
    pub tracker: TrackerSettings,
    /// Detection workers (0 = one per core).
    pub workers: usize,
}

impl Default for AnalyseOptions {
    fn default() -> Self {
        AnalyseOptions {
            faces: Some(FaceSettings::default()),
            plates: None,
            tracker: TrackerSettings::default(),
            workers: 0,
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
    if set.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "nothing to detect (enable faces and/or plates)",
        ));
    }
    Ok(set)
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

type Job = (u64, DecodedFrame);
type Done = Result<(u64, DecodedFrame, Vec<Detection>)>;

/// Decodes `input`, detects with `sets` (one detector set per worker), and
/// tracks. `on_frame` sees every frame in order with its detections and the
/// track id each joined (for thumbnails).
///
/// # Errors
/// Decode or inference errors.
pub fn analyse(
    input: &Path,
    decode: &DecodeOptions,
    sets: Vec<DetectorSet>,
    tracker: TrackerSettings,
    progress: &mut dyn FnMut(Progress),
    mut on_frame: impl FnMut(&DecodedFrame, &[Detection], &[u32]),
) -> Result<Analysis> {
    let (info, frames) = media::open(input, decode)?;
    let workers = sets.len().max(1);
    let (job_tx, job_rx) = sync_channel::<Job>(workers * 2);
    let (done_tx, done_rx) = sync_channel::<Done>(workers * 2);
    let job_rx: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(job_rx));
    let mut handles = Vec::new();
    for mut set in sets {
        let (rx, tx) = (job_rx.clone(), done_tx.clone());
        handles.push(std::thread::spawn(move || loop {
            let job = match rx.lock() {
                Ok(r) => r.recv(),
                Err(_) => return,
            };
            let Ok((i, frame)) = job else { return };
            let mut all = Vec::new();
            let mut failed = None;
            for d in set.iter_mut() {
                match d.detect(&frame.view()) {
                    Ok(mut v) => all.append(&mut v),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let msg = match failed {
                Some(e) => Err(e),
                None => Ok((i, frame, all)),
            };
            if tx.send(msg).is_err() {
                return;
            }
        }));
    }
    drop(done_tx);

    let mut tracker = Tracker::new(tracker);
    let mut pending: BTreeMap<u64, (DecodedFrame, Vec<Detection>)> = BTreeMap::new();
    let mut next = 0u64;
    let mut sent = 0u64;
    let mut detections = 0u64;
    let mut frames = frames.peekable();
    let result = (|| -> Result<()> {
        loop {
            // Keep the workers fed, without blocking while results wait.
            while sent - next < (workers * 2) as u64 {
                match frames.next() {
                    Some(f) => {
                        let f = f?;
                        job_tx.send((sent, f)).map_err(|_| {
                            Error::new(ErrorKind::Model, "detection worker stopped")
                        })?;
                        sent += 1;
                    }
                    None => break,
                }
            }
            if next == sent && frames.peek().is_none() {
                return Ok(());
            }
            let (i, frame, dets) = done_rx
                .recv()
                .map_err(|_| Error::new(ErrorKind::Model, "detection workers stopped"))??;
            pending.insert(i, (frame, dets));
            while let Some((frame, dets)) = pending.remove(&next) {
                let ids = tracker.update(next, &dets);
                detections += dets.len() as u64;
                on_frame(&frame, &dets, &ids);
                next += 1;
                if next % 8 == 0 {
                    progress(Progress {
                        frames: next,
                        total: info.frames,
                    });
                }
            }
        }
    })();
    drop(job_tx);
    drop(done_rx);
    for h in handles {
        let _ = h.join();
    }
    result.map_err(|e| e.with_path(input))?;
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
}

/// Tracks of a clip with a best-quality thumbnail each.
#[derive(Debug, Clone)]
pub struct TrackListing {
    /// The input's facts.
    pub info: VideoInfo,
    /// One summary per track, by id.
    pub tracks: Vec<TrackSummary>,
    /// Thumbnails by track id, same order.
    pub thumbnails: Vec<crate::sheet::Thumb>,
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
    let workers = if opts.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.workers
    };
    let sets = (0..workers)
        .map(|_| detectors(opts, 1))
        .collect::<Result<Vec<_>>>()?;
    let mut best: std::collections::HashMap<u32, (f32, crate::sheet::Thumb)> = Default::default();
    let analysis = analyse(
        input,
        decode,
        sets,
        opts.tracker,
        progress,
        |frame, dets, ids| {
            for (d, &id) in dets.iter().zip(ids) {
                let q = d.score * d.bbox.area().sqrt();
                if best.get(&id).is_none_or(|b| q > b.0) {
                    best.insert(id, (q, crate::sheet::thumbnail(&frame.view(), &d.bbox)));
                }
            }
        },
    )?;
    let tb = {
        let fps = analysis.info.fps;
        move |f: u64| if fps > 0.0 { f as f64 / fps } else { 0.0 }
    };
    let mut tracks = Vec::new();
    let mut thumbnails = Vec::new();
    for t in &analysis.tracks {
        tracks.push(TrackSummary {
            id: t.id,
            class: t.class,
            first_frame: t.first(),
            last_frame: t.last(),
            first_time: tb(t.first()),
            last_time: tb(t.last()),
            detections: t.detections(),
            best_frame: t.best_frame,
        });
        thumbnails.push(best.remove(&t.id).map(|b| b.1).unwrap_or_else(|| {
            crate::sheet::Thumb(vec![0; crate::sheet::THUMB * crate::sheet::THUMB * 3])
        }));
    }
    Ok(TrackListing {
        info: analysis.info,
        tracks,
        thumbnails,
    })
}
