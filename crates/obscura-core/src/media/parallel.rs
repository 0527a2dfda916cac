//! Segment-parallel decoding of one file, and decoding many files at once.
//!
//! A file is cut at keyframes into segments. Each segment is decoded by its
//! own demuxer and decoder on a worker thread and handed over through a
//! bounded channel; the consumer reads the segments in order, so frames come
//! out in presentation order.
//!
//! Memory is bounded whatever the file's length: at most `workers` segments
//! are in flight (the one being consumed and those ahead of it), and all of
//! them together buffer at most `max_buffer_bytes` of pictures, one shared
//! budget. The segment being consumed may always hand over a picture when it
//! has none waiting, so the budget never stalls the consumer. Pictures that
//! wait are copied out of their decoder's buffer pool, which would otherwise
//! keep every buffer it lent until the segment is done: the pools stay at
//! what decoding needs, and nothing but the budget grows with a slow
//! consumer (transcode of 576p: 225 MB for 80 s and 254 MB for 160 s
//! before, 166 MB for both after). Segments are
//! sized so the ones ahead fit the budget where the keyframes allow it, and
//! a short file is cut as a long one is: whenever the workers outrun the
//! consumer, the ahead segments fill the same budget, so the peak is set by
//! the budget and not by the recording's length or by thread timing.
//!
//! Open GOPs: pictures that follow a keyframe in decode order but show
//! before it belong to the segment before. That segment keeps decoding past
//! the next keyframe until the decoder, which emits pictures in presentation
//! order, hands out a picture at or after it; the next segment drops
//! pictures before its keyframe. So the output is bit-identical to a
//! sequential decode (tested on an x264 open-GOP clip).

use super::decode::{count_mismatch, interrupted, DecodedFrame, Decoder, Span};
use super::probe::{probe, VideoInfo};
use crate::cancel::Cancel;
use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Frames buffered at most, whatever the byte budget allows: small pictures
/// must not let decoders run minutes ahead of a slow consumer. Below the
/// usual segment length, so that every file of two segments or more
/// reaches the same peak (576p decode: 157 MB for 80 s, 170 MB for 1 h;
/// with 256 frames the ahead segment held as much as its GOP, 172 -> 219
/// MB), at no measurable cost in speed.
const MAX_QUEUE: usize = 96;

/// Segments are cut about this long where the keyframes allow. A segment
/// ahead of the consumer buffers all it decodes, so this, and not the
/// budget, sets the peak on short-GOP footage; since every file of two
/// segments or more reaches it, the peak is the same for a minute and for
/// hours. Longer GOPs make longer segments, held to the budget.
const SEGMENT_FRAMES: usize = 64;

/// Frames of a segment that may wait for the consumer while still in their
/// decoder's buffer pool; later ones are copied out of it. A consumer that
/// keeps up never gets this far behind, so fast passes copy nothing.
const POOLED_WAITING: usize = 4;

/// How to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Segments decoded at once. 0 = one per available core; 1 = sequential
    /// decoding with FFmpeg's own threading.
    pub workers: usize,
    /// Threads inside each segment's decoder (0 = FFmpeg's choice). With
    /// several workers, 1 keeps the cores busy without oversubscribing them.
    pub decoder_threads: usize,
    /// Upper bound on decoded pictures held in segment buffers, in bytes,
    /// all segments together.
    pub max_buffer_bytes: usize,
    /// Frames buffered at most, all segments together (0 = derived from
    /// `max_buffer_bytes`).
    pub queue: usize,
    /// Segments are at least this many frames long (each costs a demuxer
    /// open and a decoder warm-up).
    pub min_segment_frames: u64,
    /// How many segments to aim for (0 = four per worker, so one slow
    /// segment does not leave cores idle at the end).
    pub target_segments: usize,
    /// Stops decoding when cancelled: the frames then end with an
    /// `Interrupted` error.
    pub cancel: Cancel,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            workers: 0,
            decoder_threads: 1,
            max_buffer_bytes: 256 << 20,
            queue: 0,
            min_segment_frames: 25,
            target_segments: 0,
            cancel: Cancel::default(),
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
            crate::cores()
        } else {
            self.workers
        }
    }

    /// Checks every setting is in range.
    ///
    /// # Errors
    /// `InvalidArgument` naming the setting and its valid range.
    pub fn validate(&self) -> Result<()> {
        if self.queue > 100_000 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid queue {} (expected <= 100000)", self.queue),
            ));
        }
        if self.workers > 256 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid workers {} (expected <= 256)", self.workers),
            ));
        }
        if self.decoder_threads > 256 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "invalid decoder threads {} (expected <= 256)",
                    self.decoder_threads
                ),
            ));
        }
        Ok(())
    }
}

/// Cuts the stream into segments at keyframes, each about `target` frames
/// long and none shorter than `min_frames`. Returns the spans with their
/// frame counts; one whole-stream span when the file cannot be segmented
/// safely.
pub(super) fn plan_segments(info: &VideoInfo, target: u64, min_frames: u64) -> Vec<(Span, u64)> {
    let whole = vec![(Span::default(), info.frames)];
    if !info.timestamps_complete || info.keyframes.len() < 2 {
        return whole;
    }
    // Keyframes must have distinct, increasing timestamps to serve as
    // boundaries.
    let mut keys: Vec<_> = info.keyframes.iter().filter(|k| k.index > 0).collect();
    keys.sort_by_key(|k| k.pts);
    keys.dedup_by_key(|k| k.pts);
    let min_frames = min_frames.max(1);
    let target = target.max(min_frames);
    let mut spans = Vec::new();
    let mut start = None;
    let mut last_index = 0u64;
    // Whether the current segment starts at a keyframe with leading pictures.
    let mut start_open = false;
    let mut cut = |k: &super::probe::Keyframe, start: &mut Option<(i64, i64)>, last: &mut u64| {
        // Stopping at a closed end keyframe and flushing is exact, except
        // that FFmpeg 5.1's H.264 decoder drops the last picture on flush
        // when decoding began at an open-GOP recovery point (found by the
        // open-GOP test): such segments decode past their end instead.
        spans.push((
            Span {
                start: *start,
                end: Some(k.pts),
                end_closed: !k.leading_pictures && !start_open,
            },
            k.index - *last,
        ));
        *start = Some((k.pts, k.dts));
        *last = k.index;
        start_open = k.leading_pictures;
    };
    // Greedy: end a segment at the last keyframe that keeps it within the
    // target, or at the first one past it when the GOP is longer.
    let mut candidate: Option<&super::probe::Keyframe> = None;
    for k in keys {
        if info.frames.saturating_sub(k.index) < min_frames {
            break;
        }
        let len = k.index - last_index;
        if len > target {
            match candidate.take() {
                Some(c) => {
                    cut(c, &mut start, &mut last_index);
                    if k.index - last_index >= min_frames {
                        candidate = Some(k);
                    }
                }
                None => cut(k, &mut start, &mut last_index),
            }
        } else if len >= min_frames {
            candidate = Some(k);
        }
    }
    if let Some(c) = candidate {
        if info.frames - c.index >= min_frames && c.index > last_index {
            cut(c, &mut start, &mut last_index);
        }
    }
    if spans.is_empty() {
        return whole;
    }
    spans.push((
        Span {
            start,
            ..Span::default()
        },
        info.frames - last_index,
    ));
    spans
}

type Sender = SyncSender<Result<DecodedFrame>>;
type Rx = Receiver<Result<DecodedFrame>>;

/// A segment's channel, made by whichever side reaches the segment first
/// (a channel allocates its whole queue when made: made up front for every
/// segment, they grew with the recording's length).
#[derive(Default)]
enum Slot {
    #[default]
    Unmade,
    /// The worker's half, left for it by the consumer.
    Tx(Sender),
    /// The consumer's half, left for it by the worker.
    Rx(Rx),
    Taken,
}

/// Where the consumer is and how many frames wait for it.
struct Flow {
    /// Index of the segment the consumer is reading.
    consuming: usize,
    /// Frames sent and not yet taken, all segments together.
    buffered: usize,
    /// Frames sent and not yet taken, per segment.
    pending: Vec<usize>,
}

/// What the consumer and the workers share.
struct Shared {
    path: PathBuf,
    threads: usize,
    spans: Vec<Span>,
    /// Queue length of each segment's channel.
    caps: Vec<usize>,
    slots: Vec<Mutex<Slot>>,
    next: AtomicUsize,
    cancel: AtomicBool,
    /// Which segment the consumer reads, and what is buffered.
    state: Mutex<Flow>,
    /// Signalled when the consumer takes a frame or moves on.
    advanced: Condvar,
    /// Frames all segments may buffer together.
    budget: usize,
    /// Segments allowed in flight, counting the one being consumed.
    window: usize,
    /// The caller's token, handed to every segment's decoder.
    user_cancel: Cancel,
}

impl Shared {
    fn stop(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.advanced.notify_all();
    }

    /// The worker's half of segment `i`'s channel.
    fn take_tx(&self, i: usize) -> Option<Sender> {
        let mut slot = self.slots.get(i)?.lock().ok()?;
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Unmade => {
                let (tx, rx) = sync_channel(self.caps.get(i).copied().unwrap_or(1));
                *slot = Slot::Rx(rx);
                Some(tx)
            }
            Slot::Tx(tx) => Some(tx),
            Slot::Rx(rx) => {
                *slot = Slot::Rx(rx);
                None
            }
            Slot::Taken => None,
        }
    }

    /// The consumer's half of segment `i`'s channel.
    fn take_rx(&self, i: usize) -> Option<Rx> {
        let mut slot = self.slots.get(i)?.lock().ok()?;
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Unmade => {
                let (tx, rx) = sync_channel(self.caps.get(i).copied().unwrap_or(1));
                *slot = Slot::Tx(tx);
                Some(rx)
            }
            Slot::Rx(rx) => Some(rx),
            Slot::Tx(tx) => {
                *slot = Slot::Tx(tx);
                None
            }
            Slot::Taken => None,
        }
    }

    /// Blocks until segment `i` is inside the window; false when cancelled.
    fn wait_for_turn(&self, i: usize) -> bool {
        self.wait_until(|f| i < f.consuming + self.window).is_some()
    }

    /// Blocks until `ready` holds; `None` when cancelled.
    fn wait_until(&self, ready: impl Fn(&Flow) -> bool) -> Option<MutexGuard<'_, Flow>> {
        let mut flow = self.state.lock().ok()?;
        loop {
            if self.cancel.load(Ordering::SeqCst) {
                return None;
            }
            if ready(&flow) {
                return Some(flow);
            }
            flow = self.advanced.wait(flow).ok()?;
        }
    }

    /// Takes room in the budget for one frame of segment `i`: there is room,
    /// or `i` is the segment being consumed and has nothing waiting (so the
    /// consumer is never stalled). Returns how many frames of `i` now wait,
    /// this one included; `None` when cancelled.
    fn admit(&self, i: usize) -> Option<usize> {
        let ready = |f: &Flow| {
            f.buffered < self.budget
                || (i == f.consuming && f.pending.get(i).copied().unwrap_or(0) == 0)
        };
        let mut flow = self.wait_until(ready)?;
        flow.buffered += 1;
        Some(flow.pending.get_mut(i).map_or(0, |p| {
            *p += 1;
            *p
        }))
    }

    /// The consumer took a frame of segment `i`.
    fn release(&self, i: usize) {
        if let Ok(mut flow) = self.state.lock() {
            flow.buffered = flow.buffered.saturating_sub(1);
            if let Some(p) = flow.pending.get_mut(i) {
                *p = p.saturating_sub(1);
            }
        }
        self.advanced.notify_all();
    }
}

/// Frames of one file decoded segment by segment on worker threads, yielded
/// in presentation order. Dropping it stops the workers.
pub struct ParallelDecoder {
    current: Option<Rx>,
    current_segment: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    next_index: u64,
    segments: usize,
    done: bool,
    /// Frames probe counted in the file, and in each segment.
    frames: u64,
    expected: Vec<u64>,
    /// Frames handed out from the segment being consumed.
    seg_yielded: u64,
    /// Pts of the last frame handed out.
    last_pts: Option<i64>,
    /// The sequential decoder that took over when a segment did not decode
    /// to what probe counted.
    fallback: Option<Decoder>,
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
        let workers = opts.resolved_workers().max(1);
        let frame_bytes = (info.width as usize * info.height as usize * 3 / 2).max(1);
        let budget = if opts.queue > 0 {
            opts.queue
        } else {
            (opts.max_buffer_bytes / frame_bytes).clamp(2, MAX_QUEUE)
        };
        // What one segment ahead of the consumer may buffer.
        let queue = (budget / workers.saturating_sub(1).max(1)).max(1);
        let target_segments = if opts.target_segments == 0 {
            workers * 4
        } else {
            opts.target_segments
        };
        // Segments are as long as a buffer holds, so a worker can finish its
        // segment ahead of the consumer instead of waiting for it, and a
        // short file buffers what a long one does: peak memory is set by the
        // budget, not by the recording's length. A file too short to give
        // every worker a full buffer is cut into `target_segments` instead.
        let seg = queue.min(SEGMENT_FRAMES);
        let target = if info.frames >= (seg * workers) as u64 {
            seg as u64
        } else {
            info.frames / target_segments as u64
        };
        let plan = if workers > 1 {
            plan_segments(info, target, opts.min_segment_frames)
        } else {
            vec![(Span::default(), info.frames)]
        };
        let n = plan.len();
        let shared = Arc::new(Shared {
            path: info.path.clone(),
            threads: if n == 1 { 0 } else { opts.decoder_threads },
            spans: plan.iter().map(|(s, _)| *s).collect(),
            caps: plan
                .iter()
                .map(|(_, f)| budget.min(usize::try_from(*f).unwrap_or(usize::MAX).max(1)))
                .collect(),
            slots: (0..n).map(|_| Mutex::new(Slot::Unmade)).collect(),
            next: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            state: Mutex::new(Flow {
                consuming: 0,
                buffered: 0,
                pending: vec![0; n],
            }),
            advanced: Condvar::new(),
            budget,
            window: workers,
            user_cancel: opts.cancel.clone(),
        });
        let mut handles = Vec::new();
        for w in 0..workers.min(n) {
            let mine = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("obscura-decode-{w}"))
                .spawn(move || worker(&mine));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    shared.stop();
                    return Err(Error::io(e, "cannot start a decoding thread"));
                }
            }
        }
        Ok(ParallelDecoder {
            current: None,
            current_segment: 0,
            shared,
            workers: handles,
            next_index: 0,
            segments: n,
            done: false,
            frames: info.frames,
            expected: plan.iter().map(|(_, f)| *f).collect(),
            seg_yielded: 0,
            last_pts: None,
            fallback: None,
        })
    }

    /// Number of segments the file was cut into.
    pub fn segments(&self) -> usize {
        self.segments
    }
}

fn worker(shared: &Shared) {
    let mut decoder: Option<Decoder> = None;
    loop {
        let i = shared.next.fetch_add(1, Ordering::SeqCst);
        let Some(span) = shared.spans.get(i) else {
            return;
        };
        if !shared.wait_for_turn(i) {
            return;
        }
        let Some(tx) = shared.take_tx(i) else { return };
        let ready = match decoder.as_mut() {
            Some(d) => d.restart(*span),
            None => Decoder::open_span(&shared.path, shared.threads, *span, true).map(|mut d| {
                d.set_cancel(shared.user_cancel.clone());
                decoder = Some(d);
            }),
        };
        if let Err(e) = ready {
            let _ = tx.send(Err(e));
            shared.stop();
            return;
        }
        let Some(dec) = decoder.as_mut() else { return };
        for item in dec.by_ref() {
            let Some(waiting) = shared.admit(i) else {
                return;
            };
            // Frames that will wait in the queue leave the decoder's pool, so
            // the pools hold what decoding needs and the budget alone bounds
            // what waits (see `DecodedFrame::detach`).
            let item = match item {
                Ok(mut f) if waiting > POOLED_WAITING => f.detach().map(|()| f),
                other => other,
            };
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                // The consumer is gone, or this segment failed: stop all.
                shared.stop();
                return;
            }
            if shared.cancel.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

impl ParallelDecoder {
    fn stop_workers(&mut self) {
        self.shared.stop();
        // Dropping the receivers wakes workers blocked on a full queue.
        self.current = None;
        for slot in &self.shared.slots {
            if let Ok(mut s) = slot.lock() {
                *s = Slot::Taken;
            }
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }

    /// A segment did not decode to what probe counted for it (a damaged
    /// stream, or a file whose keyframes do not cut cleanly): the segments
    /// cannot be trusted to join up, so decoding carries on sequentially
    /// from the start of the file, skipping the frames already handed out.
    /// The result is then exactly a sequential decode's, whatever happened.
    fn fall_back(&mut self) -> Option<Result<DecodedFrame>> {
        self.stop_workers();
        self.done = true;
        let path = self.shared.path.clone();
        let mut d = match Decoder::open(&path, 0) {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        d.set_cancel(self.shared.user_cancel.clone());
        d.expect_frames(self.frames);
        for i in 0..self.next_index {
            match d.next() {
                Some(Ok(f)) => {
                    if i + 1 == self.next_index && Some(f.pts()) != self.last_pts {
                        return Some(Err(Error::new(
                            ErrorKind::Corrupt,
                            format!(
                                "segment-parallel and sequential decoding disagree at frame {i} (damaged stream); decode sequentially"
                            ),
                        )
                        .with_path(&path)));
                    }
                }
                Some(Err(e)) => return Some(Err(e)),
                None => return Some(Err(count_mismatch(&path, i, self.frames))),
            }
        }
        self.fallback = Some(d);
        self.fallback.as_mut()?.next()
    }
}

impl Iterator for ParallelDecoder {
    type Item = Result<DecodedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(d) = self.fallback.as_mut() {
            return d.next();
        }
        if !self.done && self.shared.user_cancel.is_cancelled() {
            self.done = true;
            self.shared.stop();
            return Some(Err(interrupted(&self.shared.path)));
        }
        while !self.done {
            if self.current.is_none() {
                self.current = if self.current_segment < self.segments {
                    self.shared.take_rx(self.current_segment)
                } else {
                    None
                };
                if self.current.is_none() {
                    self.done = true;
                    if self.next_index != self.frames {
                        return Some(Err(count_mismatch(
                            &self.shared.path,
                            self.next_index,
                            self.frames,
                        )));
                    }
                    return None;
                }
            }
            let rx = self.current.as_ref()?;
            let seg = self.current_segment;
            let want = self.expected.get(seg).copied().unwrap_or(0);
            let received = rx.recv();
            if received.is_ok() {
                self.shared.release(seg);
            }
            match received {
                Ok(Ok(mut frame)) => {
                    // A segment must start at its keyframe and hold the
                    // frames probe counted between its keyframes.
                    let start = self.shared.spans.get(seg).and_then(|s| s.start);
                    let misplaced =
                        self.seg_yielded == 0 && start.is_some_and(|(kpts, _)| frame.pts() != kpts);
                    if misplaced || self.seg_yielded >= want {
                        drop(frame);
                        return self.fall_back();
                    }
                    frame.index = self.next_index;
                    self.next_index += 1;
                    self.seg_yielded += 1;
                    self.last_pts = Some(frame.pts());
                    return Some(Ok(frame));
                }
                Ok(Err(e)) => {
                    if e.kind() == ErrorKind::Corrupt {
                        // Let the sequential decode decide what the
                        // damage means.
                        return self.fall_back();
                    }
                    self.done = true;
                    return Some(Err(e));
                }
                // This segment is complete: let the next one into the window.
                Err(_) => {
                    if self.seg_yielded != want {
                        return self.fall_back();
                    }
                    self.current = None;
                    self.current_segment += 1;
                    self.seg_yielded = 0;
                    if let Ok(mut flow) = self.shared.state.lock() {
                        flow.consuming = self.current_segment;
                    }
                    self.shared.advanced.notify_all();
                }
            }
        }
        None
    }
}

impl Drop for ParallelDecoder {
    fn drop(&mut self) {
        self.stop_workers();
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
        let mut d = Decoder::open(&info.path, opts.decoder_threads)?;
        d.set_cancel(opts.cancel.clone());
        d.expect_frames(info.frames);
        Frames::Sequential(d)
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
                dec.expect_frames(info.frames);
                f(&info, &mut dec)
            })
            .collect()
    };
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}
