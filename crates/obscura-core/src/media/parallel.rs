//! Segment-parallel decoding of one file, and decoding many files at once.
//!
//! A file is cut at keyframes into segments. Each segment is decoded by its
//! own demuxer and decoder on a worker thread and handed over through a
//! bounded channel; the consumer reads the segments in order, so frames come
//! out in presentation order and memory stays bounded by
//! `workers x queue` frames whatever the file's length.
//!
//! Open GOPs: pictures that follow a keyframe in decode order but show
//! before it belong to the segment before. That segment keeps decoding past
//! the next keyframe until the decoder, which emits pictures in presentation
//! order, hands out a picture at or after it; the next segment drops
//! pictures before its keyframe. So the output is bit-identical to a
//! sequential decode (tested on an x264 open-GOP clip).

use super::decode::{DecodedFrame, Decoder, Span};
use super::probe::{probe, VideoInfo};
use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Segments decoded at once. 0 = one per available core; 1 = sequential
    /// decoding with FFmpeg's own threading.
    pub workers: usize,
    /// Threads inside each segment's decoder (0 = FFmpeg's choice). With
    /// several workers, 1 keeps the cores busy without oversubscribing them.
    pub decoder_threads: usize,
    /// Frames buffered per segment in flight.
    pub queue: usize,
    /// Segments are at least this many frames long (short ones cost a
    /// demuxer open and a decoder warm-up each).
    pub min_segment_frames: u64,
    /// How many segments to aim for (0 = four per worker, so one slow
    /// segment does not leave cores idle at the end).
    pub target_segments: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            workers: 0,
            decoder_threads: 1,
            queue: 8,
            min_segment_frames: 120,
            target_segments: 0,
        }
    }
}

impl DecodeOptions {
    /// Sequential decoding with FFmpeg's frame and slice threading.
    pub fn sequential() -> Self {
        DecodeOptions {
            workers: 1,
            decoder_threads: 0,
            ..DecodeOptions::default()
        }
    }

    fn resolved_workers(&self) -> usize {
        if self.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.workers
        }
    }

    fn validate(&self) -> Result<()> {
        if self.queue == 0 || self.queue > 1024 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid queue {} (expected >= 1, <= 1024)", self.queue),
            ));
        }
        if self.workers > 256 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid workers {} (expected <= 256)", self.workers),
            ));
        }
        Ok(())
    }
}

/// Cuts the stream into segments at keyframes, about `target` of them, none
/// shorter than `min_frames`. Returns one whole-stream span when the file
/// cannot be segmented safely.
pub(super) fn plan_segments(
    info: &VideoInfo,
    workers: usize,
    target: usize,
    min_frames: u64,
) -> Vec<Span> {
    let whole = vec![Span::default()];
    if workers <= 1 || !info.timestamps_complete || info.keyframes.len() < 2 {
        return whole;
    }
    // Keyframes must have distinct, increasing timestamps to serve as
    // boundaries.
    let mut keys: Vec<_> = info.keyframes.iter().filter(|k| k.index > 0).collect();
    keys.sort_by_key(|k| k.pts);
    keys.dedup_by_key(|k| k.pts);
    let target = info.frames / (target.max(1) as u64);
    let target = target.max(min_frames.max(1));
    let mut bounds: Vec<(i64, i64)> = Vec::new();
    let mut last_index = 0u64;
    for k in keys {
        if k.index - last_index >= target && info.frames - k.index >= target / 2 {
            bounds.push((k.pts, k.dts));
            last_index = k.index;
        }
    }
    if bounds.is_empty() {
        return whole;
    }
    let mut spans = Vec::with_capacity(bounds.len() + 1);
    let mut start = None;
    for &b in &bounds {
        spans.push(Span {
            start,
            end: Some(b.0),
        });
        start = Some(b);
    }
    spans.push(Span { start, end: None });
    spans
}

type Slot = Mutex<Option<SyncSender<Result<DecodedFrame>>>>;

/// Frames of one file decoded segment by segment on worker threads, yielded
/// in presentation order. Dropping it stops the workers.
pub struct ParallelDecoder {
    receivers: std::vec::IntoIter<Receiver<Result<DecodedFrame>>>,
    current: Option<Receiver<Result<DecodedFrame>>>,
    cancel: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    next_index: u64,
    segments: usize,
    done: bool,
}

impl std::fmt::Debug for ParallelDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelDecoder")
            .field("segments", &self.segments)
            .field("workers", &self.workers.len())
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl ParallelDecoder {
    /// Starts decoding `info.path` with `opts`.
    ///
    /// # Errors
    /// `InvalidArgument` for out-of-range options. Errors in the file come
    /// through the iterator.
    pub fn start(info: &VideoInfo, opts: &DecodeOptions) -> Result<Self> {
        opts.validate()?;
        let workers = opts.resolved_workers();
        let target = if opts.target_segments == 0 {
            workers * 4
        } else {
            opts.target_segments
        };
        let spans = plan_segments(info, workers, target, opts.min_segment_frames);
        let n = spans.len();
        let mut receivers = Vec::with_capacity(n);
        let mut slots: Vec<Slot> = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = sync_channel(opts.queue);
            receivers.push(rx);
            slots.push(Mutex::new(Some(tx)));
        }
        let slots = Arc::new(slots);
        let spans = Arc::new(spans);
        let next = Arc::new(AtomicUsize::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let threads = if n == 1 { 0 } else { opts.decoder_threads };
        let mut handles = Vec::new();
        for w in 0..workers.min(n) {
            let (slots, spans, next, cancel) =
                (slots.clone(), spans.clone(), next.clone(), cancel.clone());
            let path = info.path.clone();
            let handle = std::thread::Builder::new()
                .name(format!("obscura-decode-{w}"))
                .spawn(move || worker(&path, threads, &spans, &slots, &next, &cancel))
                .map_err(|e| Error::io(e, "cannot start a decoding thread"))?;
            handles.push(handle);
        }
        Ok(ParallelDecoder {
            receivers: receivers.into_iter(),
            current: None,
            cancel,
            workers: handles,
            next_index: 0,
            segments: n,
            done: false,
        })
    }

    /// Number of segments the file was cut into.
    pub fn segments(&self) -> usize {
        self.segments
    }
}

fn worker(
    path: &Path,
    threads: usize,
    spans: &[Span],
    slots: &[Slot],
    next: &AtomicUsize,
    cancel: &AtomicBool,
) {
    loop {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        let (Some(span), Some(slot)) = (spans.get(i), slots.get(i)) else {
            return;
        };
        let tx = match slot.lock() {
            Ok(mut guard) => guard.take(),
            Err(_) => return,
        };
        let Some(tx) = tx else { return };
        let decoder = match Decoder::open_span(path, threads, *span) {
            Ok(d) => d,
            Err(e) => {
                let _ = tx.send(Err(e));
                cancel.store(true, Ordering::Relaxed);
                return;
            }
        };
        for item in decoder {
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                // The consumer is gone, or this segment failed: stop all.
                cancel.store(true, Ordering::Relaxed);
                return;
            }
            if cancel.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

impl Iterator for ParallelDecoder {
    type Item = Result<DecodedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if self.current.is_none() {
                self.current = self.receivers.next();
                if self.current.is_none() {
                    self.done = true;
                    return None;
                }
            }
            let rx = self.current.as_ref()?;
            match rx.recv() {
                Ok(Ok(mut frame)) => {
                    frame.index = self.next_index;
                    self.next_index += 1;
                    return Some(Ok(frame));
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                // This segment is complete.
                Err(_) => self.current = None,
            }
        }
        None
    }
}

impl Drop for ParallelDecoder {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        // Dropping the receivers wakes workers blocked on a full queue.
        self.current = None;
        self.receivers = Vec::new().into_iter();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

/// Frames of one file, from whichever decoder suits the file and options.
#[derive(Debug)]
pub enum Frames {
    /// Sequential decoding.
    Sequential(Decoder),
    /// Segment-parallel decoding.
    Parallel(ParallelDecoder),
}

impl Iterator for Frames {
    type Item = Result<DecodedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Frames::Sequential(d) => d.next(),
            Frames::Parallel(d) => d.next(),
        }
    }
}

/// Probes `path` and opens it for decoding: segment-parallel when `opts`
/// allows more than one worker and the file has usable keyframes, otherwise
/// sequential. Returns the probe result alongside the frames.
///
/// # Errors
/// As [`probe`], plus `InvalidArgument` for out-of-range options.
pub fn open(path: impl AsRef<Path>, opts: &DecodeOptions) -> Result<(VideoInfo, Frames)> {
    opts.validate()?;
    let info = probe(path)?;
    let frames = if opts.resolved_workers() <= 1 {
        Frames::Sequential(Decoder::open(&info.path, opts.decoder_threads)?)
    } else {
        Frames::Parallel(ParallelDecoder::start(&info, opts)?)
    };
    Ok((info, frames))
}

/// Runs `f` over the frames of each file, the files spread over a rayon pool
/// of `threads` threads (0 = one per core). Each file is decoded sequentially
/// on its own thread; results come back in the order of `paths`.
///
/// # Errors
/// Each file's result is separate: one bad file does not stop the others.
pub fn decode_files<T, F>(paths: &[PathBuf], threads: usize, f: F) -> Vec<Result<T>>
where
    T: Send,
    F: Fn(&VideoInfo, &mut dyn Iterator<Item = Result<DecodedFrame>>) -> Result<T> + Sync,
{
    let run = || {
        use rayon::prelude::*;
        paths
            .par_iter()
            .map(|p| {
                let info = probe(p)?;
                let mut dec = Decoder::open(p, 1)?;
                f(&info, &mut dec)
            })
            .collect()
    };
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}
