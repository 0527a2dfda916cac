//! Motion indexing: the pass that decodes a recording and runs motion
//! analysis over it ([`scan`]), and indexing many files of one camera into
//! the database ([`index_files`]).
//!
//! A long file is cut into segments analysed on their own threads (see
//! [`crate::motion`] for how the segments' warm-up makes them agree with a
//! sequential run). With [`MotionOptions::triage`], GOPs whose packet sizes
//! say the picture is still are skipped without decoding.

use crate::clock::{format_utc, WallClock};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::sheet::encode_jpeg;
use crate::mask::camera::CameraProfile;
use crate::media::{self, Decoder, Keyframe, VideoInfo};
use crate::motion::{
    detect_events, Analyser, EventSpan, FrameMotion, Incident, MotionAnalysis, MotionOptions,
    TimestampGap, HEATMAP_SIZE,
};
use crate::pipeline::{Job, Progress};
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// With [`MotionOptions::triage`], a GOP is skipped when none of its inter
/// packets reaches this fraction of its keyframe's size ...
pub const TRIAGE_FRACTION: f64 = 0.01;

/// ... or this many bytes (flat scenes have tiny keyframes). On a flat
/// 320x240 picture x264's inter packets are 11-23 bytes where nothing
/// changes and 26-59 where a 40x40 box moves or leaves (ultrafast,
/// veryfast and medium presets): at 64, every GOP of a mover crossing it
/// looked still with B-frames, and triage found no events at all.
pub const TRIAGE_MIN_BYTES: u64 = 32;

/// Whether the packet sizes of the GOP starting at `key` say its picture
/// is still (see [`MotionOptions::triage`]). A GOP without inter packets
/// (all-intra footage such as MJPEG, where every frame is a keyframe)
/// says nothing about motion, so it never looks still.
pub fn gop_looks_still(key: &Keyframe) -> bool {
    key.max_inter_bytes > 0
        && (key.max_inter_bytes as f64)
            < (TRIAGE_FRACTION * key.bytes as f64).max(TRIAGE_MIN_BYTES as f64)
}

/// With [`MotionOptions::triage`], the share of a file's frames that must
/// lie in still GOPs for triage to be used: opening a decoder for every
/// run of changing GOPs costs more than the segment-parallel full decode
/// on some codecs when there is little to skip (vtest.avi's MPEG-4, with
/// GOP-by-GOP triage on one thread: 898 against 1248 fps), so such a file
/// is analysed in full.
pub const TRIAGE_MIN_STILL_SHARE: f64 = 0.25;

/// The share of `info`'s frames in GOPs that triage would skip: those
/// whose packets say the picture is still, except the first.
pub fn still_share(info: &VideoInfo) -> f64 {
    let mut keys: Vec<&Keyframe> = info.keyframes.iter().collect();
    keys.sort_by_key(|k| k.index);
    let ends = keys.iter().skip(1).map(|k| k.index).chain([info.frames]);
    let still: u64 = keys
        .iter()
        .zip(ends)
        .skip(1)
        .filter(|(k, _)| gop_looks_still(k))
        .map(|(k, end)| end.saturating_sub(k.index))
        .sum();
    if info.frames == 0 {
        0.0
    } else {
        still as f64 / info.frames as f64
    }
}

/// Per-frame results of a whole file, in order. Scores and times stay in
/// memory (13 bytes a frame); each moving frame's box and heatmap (over
/// 500 bytes) goes to an unnamed temporary file, read back once, in order,
/// for the incidents. So memory does not grow with the footage's length by
/// more than those 13 bytes a frame (3.5 MB for 3 hours at 25 fps).
#[derive(Debug, Default)]
struct Series {
    times: Vec<f64>,
    scores: Vec<f32>,
    moving: Vec<bool>,
    recalibrations: u64,
    /// Frames scored 0 without being decoded (triage).
    skipped: u64,
    spills: Vec<Spill>,
    /// Thumbnails made while analysing, by frame ([`PeakThumbs`]).
    thumbs: Vec<(u64, Vec<u8>)>,
}

/// One frame's duration in seconds (25 fps where the file gives no rate).
fn frame_seconds(info: &VideoInfo) -> f64 {
    if info.fps > 0.0 {
        1.0 / info.fps
    } else {
        0.04
    }
}

/// Which frames get a thumbnail while they are analysed: the first
/// best-scoring frame of each stretch of frames scoring at least `release`
/// that lasts `min_frames` and reaches `trigger`. An incident's peak is the
/// first best-scoring frame of the stretches it holds, so its thumbnail is
/// one of these unless the event cap or a segment's edge cuts a stretch;
/// only then is its picture decoded again. The picture is the one
/// analysed: under triage decoded without the deblocking filter, which at
/// thumbnail size does not show.
#[derive(Debug, Clone, Copy)]
struct PeakThumbs {
    release: f32,
    trigger: f32,
    min_frames: usize,
    /// Thumbnail width; 0 makes none.
    width: usize,
}

impl PeakThumbs {
    fn of(opts: &MotionOptions, frame_s: f64) -> PeakThumbs {
        PeakThumbs {
            release: opts.release,
            trigger: opts.trigger,
            min_frames: crate::motion::min_event_frames(opts, frame_s),
            width: opts.thumbnail_width,
        }
    }
}

/// The best frame so far of the stretch being analysed ([`PeakThumbs`]),
/// held as a reference to the decoded picture, not a copy.
struct PeakWatch {
    rule: PeakThumbs,
    best: Option<(f32, media::DecodedFrame)>,
    frames: usize,
}

impl PeakWatch {
    fn new(rule: PeakThumbs) -> PeakWatch {
        PeakWatch {
            rule,
            best: None,
            frames: 0,
        }
    }

    /// Takes in the next analysed frame, scored `score`.
    fn see(&mut self, frame: &media::DecodedFrame, score: f32, out: &mut Series) -> Result<()> {
        if self.rule.width == 0 {
            return Ok(());
        }
        if score < self.rule.release {
            return self.close(out);
        }
        self.frames += 1;
        if self.best.as_ref().is_none_or(|(s, _)| score > *s) {
            self.best = Some((score, frame.share()?));
        }
        Ok(())
    }

    /// Ends the stretch, keeping its best frame's thumbnail in `out` if the
    /// stretch counts.
    fn close(&mut self, out: &mut Series) -> Result<()> {
        if let Some((score, frame)) = self.best.take() {
            if self.frames >= self.rule.min_frames && score >= self.rule.trigger {
                let jpeg = encode_jpeg(&frame.view(), self.rule.width)?;
                out.thumbs.push((frame.index(), jpeg));
            }
        }
        self.frames = 0;
        Ok(())
    }
}

/// Boxes and heatmaps of moving frames, in frame order, in a temporary
/// file the system removes when it is closed.
#[derive(Debug)]
struct Spill {
    file: std::io::BufWriter<std::fs::File>,
    records: u64,
}

/// A moving frame's box and heatmap (empty when none moved), read back.
type Spilled = (Option<[u16; 4]>, Vec<u16>);

/// Bytes of one spilled frame: a flag and a box, a flag and a heatmap.
const SPILL_RECORD: usize = 1 + 8 + 1 + 2 * HEATMAP_SIZE * HEATMAP_SIZE;

fn spill_err(e: std::io::Error) -> Error {
    Error::io(e, "cannot use the temporary file of motion heatmaps")
}

impl Series {
    fn len(&self) -> usize {
        self.times.len()
    }

    /// Appends one frame's result.
    fn push(&mut self, time: f64, m: FrameMotion) -> Result<()> {
        use std::io::Write;
        self.times.push(time);
        self.scores.push(m.score);
        self.recalibrations += u64::from(m.recalibrated);
        let moving = m.bbox.is_some() || m.heat.is_some();
        self.moving.push(moving);
        if !moving {
            return Ok(());
        }
        let mut rec = [0u8; SPILL_RECORD];
        if let Some(b) = m.bbox {
            rec[0] = 1;
            for (k, v) in b.iter().enumerate() {
                rec[1 + 2 * k..3 + 2 * k].copy_from_slice(&v.to_le_bytes());
            }
        }
        if let Some(h) = &m.heat {
            rec[9] = 1;
            for (k, v) in h.iter().enumerate() {
                rec[10 + 2 * k..12 + 2 * k].copy_from_slice(&v.to_le_bytes());
            }
        }
        let spill = match self.spills.last_mut() {
            Some(spill) => spill,
            None => {
                let file = tempfile::tempfile().map_err(spill_err)?;
                self.spills.push(Spill {
                    file: std::io::BufWriter::new(file),
                    records: 0,
                });
                self.spills
                    .last_mut()
                    .ok_or_else(|| spill_err(std::io::ErrorKind::NotFound.into()))?
            }
        };
        spill.file.write_all(&rec).map_err(spill_err)?;
        spill.records += 1;
        Ok(())
    }

    /// Appends the frames of `next`, which follow this series' frames.
    fn extend(&mut self, next: Series) {
        self.times.extend(next.times);
        self.scores.extend(next.scores);
        self.moving.extend(next.moving);
        self.recalibrations += next.recalibrations;
        self.skipped += next.skipped;
        self.spills.extend(next.spills);
        self.thumbs.extend(next.thumbs);
    }

    /// Reads the moving frames' boxes and heatmaps back, in frame order.
    fn moving_frames(spills: Vec<Spill>) -> impl Iterator<Item = Result<Spilled>> {
        use std::io::{Read, Seek};
        let mut parts = spills.into_iter();
        let mut current: Option<(std::io::BufReader<std::fs::File>, u64)> = None;
        std::iter::from_fn(move || loop {
            if let Some((reader, left)) = current.as_mut() {
                if *left > 0 {
                    *left -= 1;
                    let mut rec = [0u8; SPILL_RECORD];
                    if let Err(e) = reader.read_exact(&mut rec) {
                        return Some(Err(spill_err(e)));
                    }
                    let u16_at = |i: usize| u16::from_le_bytes([rec[i], rec[i + 1]]);
                    let bbox = (rec[0] == 1).then(|| [u16_at(1), u16_at(3), u16_at(5), u16_at(7)]);
                    let heat: Vec<u16> = if rec[9] == 1 {
                        (0..HEATMAP_SIZE * HEATMAP_SIZE)
                            .map(|k| u16_at(10 + 2 * k))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    return Some(Ok((bbox, heat)));
                }
            }
            let spill = parts.next()?;
            let opened = spill
                .file
                .into_inner()
                .map_err(|e| spill_err(e.into_error()))
                .and_then(|mut f| {
                    f.rewind().map_err(spill_err)?;
                    Ok(f)
                });
            match opened {
                Ok(f) => current = Some((std::io::BufReader::new(f), spill.records)),
                Err(e) => return Some(Err(e)),
            }
        })
    }
}

/// Analyses the recording at `path` for `profile`'s camera (its
/// ignore-zones, its file-name pattern), reporting frames done through
/// `progress` (called from worker threads).
///
/// # Errors
/// Any error of probing or decoding (the file is not indexed), or
/// `InvalidArgument` for bad options.
pub fn scan(
    path: &Path,
    profile: Option<&CameraProfile>,
    explicit_start: Option<DateTime<Utc>>,
    opts: &MotionOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<MotionAnalysis> {
    let started = Instant::now();
    opts.validate()?;
    let info = media::probe(path)?;
    scan_probed(info, profile, explicit_start, opts, progress, started)
}

/// As [`scan`], for a file already probed (`info.path`); `started` is
/// when the work on it began, for the reported time.
///
/// # Errors
/// As [`scan`].
pub fn scan_probed(
    info: VideoInfo,
    profile: Option<&CameraProfile>,
    explicit_start: Option<DateTime<Utc>>,
    opts: &MotionOptions,
    progress: &(dyn Fn(u64) + Sync),
    started: Instant,
) -> Result<MotionAnalysis> {
    opts.validate()?;
    let path = info.path.clone();
    let path = path.as_path();
    let (w, h) = (info.width as usize, info.height as usize);
    let ignore: Vec<Vec<[f64; 2]>> = profile
        .map(|p| {
            p.ignore_zones
                .iter()
                .map(|z| p.to_video(&z.polygon, w, h))
                .collect()
        })
        .unwrap_or_default();
    let analyser = Analyser::new(w, h, &ignore, opts).map_err(|e| e.with_path(path))?;
    let plan = plan(&info, opts);
    let segments = plan.len();
    let done = AtomicU64::new(0);
    let tick = |n: u64| {
        let total = done.fetch_add(n, Ordering::Relaxed) + n;
        progress(total);
    };
    let mut series = score(&info, &plan, &analyser, opts, &tick)?;
    let frames = series.len() as u64;
    info.check_all_decoded(frames, path, "; not indexed")?;
    let frame_s = frame_seconds(&info);
    let spans = detect_events(&series.scores, &series.times, frame_s, opts);
    let wall_clock = WallClock::resolve(
        explicit_start,
        info.creation_time.as_deref(),
        profile.and_then(|p| p.filename_pattern.as_deref()),
        path,
    );
    let mut incidents = incidents_of(
        &mut series,
        &spans,
        analyser.factor() as u32,
        (info.width, info.height),
        frame_s,
        &wall_clock,
    )?;
    let mut made: std::collections::HashMap<u64, Vec<u8>> = series.thumbs.drain(..).collect();
    for inc in &mut incidents {
        inc.thumbnail = made.remove(&inc.peak_frame).unwrap_or_default();
    }
    // Peaks whose stretch was cut (see [`PeakThumbs`]) are decoded again.
    let missing: Vec<&mut Incident> = incidents
        .iter_mut()
        .filter(|i| i.thumbnail.is_empty())
        .collect();
    if opts.thumbnail_width > 0 && !missing.is_empty() {
        let wanted: Vec<u64> = missing.iter().map(|i| i.peak_frame).collect();
        let thumbs = thumbnails(
            &info,
            &wanted,
            opts.thumbnail_width,
            opts.resolved_threads(),
            &opts.cancel,
        )?;
        for (inc, t) in missing.into_iter().zip(thumbs) {
            inc.thumbnail = t;
        }
    }
    let sha256 = crate::hash::file_sha256(path)
        .map_err(|e| Error::io(e, "cannot read input").with_path(path))?;
    Ok(MotionAnalysis {
        path: path.to_path_buf(),
        sha256,
        frames,
        duration_s: info.duration_s,
        wall_clock,
        gaps: find_gaps(&series.times, frame_s),
        recalibrations: series.recalibrations,
        skipped_frames: series.skipped,
        segments,
        incidents,
        seconds: started.elapsed().as_secs_f64(),
        width: info.width,
        height: info.height,
        fps: info.fps,
        header_frames: info.header_frames,
        cut_short: info.cut_short.clone(),
    })
}

/// Scores every frame of the file: from packet sizes with triage, as one
/// segment fed by segment-parallel decoding, or segment by segment on a
/// pool of threads.
fn score(
    info: &VideoInfo,
    plan: &[(Keyframe, u64, u64)],
    analyser: &Analyser,
    opts: &MotionOptions,
    tick: &(dyn Fn(u64) + Sync),
) -> Result<Series> {
    let path = info.path.as_path();
    let segments = plan.len();
    let peaks = PeakThumbs::of(opts, frame_seconds(info));
    let triage =
        opts.triage && info.timestamps_complete && still_share(info) >= TRIAGE_MIN_STILL_SHARE;
    let series = if triage {
        triage_series(
            info,
            analyser,
            peaks,
            opts.resolved_threads(),
            tick,
            &opts.cancel,
        )?
    } else if segments <= 1 {
        // One analysis thread, fed by a decoder that uses every core.
        // Scoring a picture is much cheaper than decoding it, so the
        // consumer keeps up and a few pictures of buffer lose no speed: a
        // short file then peaks where a long one does (the default budget
        // held 300 MB of 576p pictures for an 80 s clip). Segment-parallel
        // decoding overlaps the segments only as far as the buffer lets
        // the one ahead run on, which at HD needs a GOP of pictures (150 MB
        // for 50 frames of 1080p); there, one decoder with FFmpeg's frame
        // threads is as fast in far less (1080p Big Buck Bunny, 30 s: 5.0-
        // 5.4 s and 107 MB with a 4-picture buffer, 3.9-4.1 s and 230 MB
        // with 64 pictures, 4.1-4.3 s and 85 MB frame-threaded). Below HD,
        // where frame threads gain less, segments are faster (vtest.avi:
        // 0.6 s against 0.95 s). The frame-threaded decoder gets
        // [`hd_frame_threads`], more threads than cores.
        let decode = media::DecodeOptions {
            workers: opts.decode_workers,
            cancel: opts.cancel.clone(),
            queue: ONE_SEGMENT_QUEUE,
            ..media::DecodeOptions::default()
        };
        let hd = u64::from(info.width) * u64::from(info.height) >= FRAME_THREADS_FROM_PIXELS;
        let frames = if decode.workers == 1 || (decode.workers == 0 && hd) {
            // One decoder asked for (one per file when several files share
            // the cores) keeps FFmpeg's choice of threads.
            let threads = if decode.workers == 1 {
                0
            } else {
                hd_frame_threads()
            };
            let mut d = Decoder::open(path, threads)?;
            d.set_cancel(opts.cancel.clone());
            media::Frames::Sequential(d)
        } else {
            media::Frames::Parallel(media::ParallelDecoder::start(info, &decode)?)
        };
        analyse_frames(
            frames,
            path,
            0,
            u64::MAX,
            &mut analyser.clone(),
            peaks,
            tick,
        )?
    } else {
        let threads = opts.resolved_threads().min(segments);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start threads: {e}")))?;
        let parts: Vec<Result<Series>> = pool.install(|| {
            use rayon::prelude::*;
            plan.par_iter()
                .map(|(key, from, to)| {
                    run_segment(
                        info,
                        key,
                        *from,
                        *to,
                        analyser.clone(),
                        peaks,
                        tick,
                        &opts.cancel,
                    )
                })
                .collect()
        });
        let mut all = Series::default();
        for p in parts {
            all.extend(p?);
        }
        all
    };
    Ok(series)
}

/// The incidents of `spans`: each one's box (in picture pixels, from
/// analysis pixels `factor` times smaller) and heatmap, from one ordered
/// read of the moving frames (events are in order and do not overlap), its
/// peak, and its wall-clock times.
fn incidents_of(
    series: &mut Series,
    spans: &[EventSpan],
    factor: u32,
    (width, height): (u32, u32),
    frame_s: f64,
    wall_clock: &WallClock,
) -> Result<Vec<Incident>> {
    // Boxes and heat of each event, in one ordered read of the moving
    // frames (events are in order and do not overlap).
    let mut boxes = vec![[u32::MAX, u32::MAX, 0, 0]; spans.len()];
    let mut heats = vec![[0u64; HEATMAP_SIZE * HEATMAP_SIZE]; spans.len()];
    let mut spilled = Series::moving_frames(std::mem::take(&mut series.spills));
    let mut k = 0;
    for (i, _) in series.moving.iter().enumerate().filter(|(_, &m)| m) {
        let (bb, heat) = spilled
            .next()
            .ok_or_else(|| spill_err(std::io::ErrorKind::UnexpectedEof.into()))??;
        while k < spans.len() && (spans[k].end_frame as usize) < i {
            k += 1;
        }
        if k == spans.len() || (spans[k].start_frame as usize) > i {
            continue;
        }
        let bbox = &mut boxes[k];
        if let Some(bb) = bb {
            bbox[0] = bbox[0].min(u32::from(bb[0]) * factor);
            bbox[1] = bbox[1].min(u32::from(bb[1]) * factor);
            bbox[2] = bbox[2].max((u32::from(bb[2]) * factor).min(width));
            bbox[3] = bbox[3].max((u32::from(bb[3]) * factor).min(height));
        }
        for (acc, &v) in heats[k].iter_mut().zip(&heat) {
            *acc += u64::from(v);
        }
    }
    let mut incidents = Vec::with_capacity(spans.len());
    for ((span, mut bbox), heat) in spans.iter().zip(boxes).zip(heats) {
        let (a, b) = (span.start_frame as usize, span.end_frame as usize);
        let slice = &series.scores[a..=b];
        let (peak_off, peak_score) = slice.iter().enumerate().fold(
            (0, slice[0]),
            |best, (i, &f)| if f > best.1 { (i, f) } else { best },
        );
        let peak_frame = (a + peak_off) as u64;
        if bbox[0] == u32::MAX {
            bbox = [0, 0, 0, 0];
        }
        let max = heat.iter().copied().max().unwrap_or(0).max(1);
        let heatmap = heat
            .iter()
            .map(|&v| ((v * 255 + max / 2) / max) as u8)
            .collect();
        let start_s = series.times[a];
        let end_s = series.times[b] + frame_s;
        let peak_s = series.times[a + peak_off];
        incidents.push(Incident {
            start_frame: span.start_frame,
            end_frame: span.end_frame,
            start_s,
            end_s,
            start_utc: wall_clock.at(start_s),
            end_utc: wall_clock.at(end_s),
            peak_score,
            peak_s,
            peak_frame,
            bbox,
            heatmap,
            thumbnail: Vec::new(),
        });
    }
    Ok(incidents)
}

/// Decoding from here means from the start of the file.
const FIRST: Keyframe = Keyframe {
    index: 0,
    pts: 0,
    dts: 0,
    leading_pictures: false,
    bytes: 0,
    max_inter_bytes: 0,
};

/// Segments as (keyframe to start decoding at, first frame scored, end
/// frame exclusive).
/// Decoded pictures buffered, all decoders together, when a file is indexed
/// as one segment (the long path holds one picture per thread).
const ONE_SEGMENT_QUEUE: usize = 4;

/// Pictures of at least this many pixels (1280x720) are decoded for a
/// one-segment index by one decoder with FFmpeg's frame threads rather
/// than by segments in parallel (see [`score`]).
const FRAME_THREADS_FROM_PIXELS: u64 = 1280 * 720;

/// Frame threads per core of the decoder that feeds a one-segment index
/// of HD footage, and the most it gets ([`hd_frame_threads`]).
const FRAME_THREADS_PER_CORE: usize = 4;
const MAX_FRAME_THREADS: usize = 16;

/// Frame threads of the one decoder that feeds a one-segment index of HD
/// footage: four per core, at most 16. FFmpeg's own choice (one per core,
/// plus one) leaves cores idle while a picture waits for the rows of the
/// picture it refers to, and the analysis thread takes its share too: on
/// 2 cores, 1080p Big Buck Bunny indexed in 2.75-2.86 s with 3 threads,
/// 2.40-2.52 s (131 MB) with 8, decode-only 2.41-2.55 s; 12 and 16
/// threads were no faster and held more pictures (162 and 194 MB).
fn hd_frame_threads() -> usize {
    (crate::cores() * FRAME_THREADS_PER_CORE).min(MAX_FRAME_THREADS)
}

fn plan(info: &VideoInfo, opts: &MotionOptions) -> Vec<(Keyframe, u64, u64)> {
    let start = FIRST;
    let whole = vec![(start, 0, u64::MAX)];
    let warmup = opts.resolved_warmup();
    let n = match opts.segments {
        0 => {
            // Worth it only when warm-up adds little to each segment.
            let threads = opts.resolved_threads() as u64;
            if threads < 2 {
                1
            } else {
                (info.frames / (4 * warmup)).min(threads) as usize
            }
        }
        n => n,
    };
    if n <= 1 || !info.timestamps_complete || info.frames < 2 {
        return whole;
    }
    let mut keys: Vec<Keyframe> = info.keyframes.clone();
    keys.sort_by_key(|k| k.index);
    let n64 = n as u64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n64 {
        let from = info.frames * i / n64;
        let to = if i + 1 == n64 {
            u64::MAX
        } else {
            info.frames * (i + 1) / n64
        };
        if from >= to {
            continue;
        }
        let need = from.saturating_sub(warmup);
        let key = if from == 0 {
            start
        } else {
            keys.iter()
                .rfind(|k| k.index <= need)
                .copied()
                .unwrap_or(start)
        };
        out.push((key, from, to));
    }
    out
}

/// A decoder from `key` that stops when `cancel` is cancelled.
fn open_decoder(
    info: &VideoInfo,
    key: &Keyframe,
    threads: usize,
    cancel: &crate::Cancel,
) -> Result<Decoder> {
    let mut d = Decoder::open_from(info, key, threads)?;
    d.set_cancel(cancel.clone());
    Ok(d)
}

#[allow(clippy::too_many_arguments)]
fn run_segment(
    info: &VideoInfo,
    key: &Keyframe,
    from: u64,
    to: u64,
    mut analyser: Analyser,
    peaks: PeakThumbs,
    tick: &(dyn Fn(u64) + Sync),
    cancel: &crate::Cancel,
) -> Result<Series> {
    let decoder = open_decoder(info, key, 1, cancel)?;
    analyse_frames(decoder, &info.path, from, to, &mut analyser, peaks, tick)
}

/// Runs `analyser` over `frames`, keeping frames `from..to` and the
/// thumbnails of their peaks.
fn analyse_frames(
    frames: impl Iterator<Item = Result<media::DecodedFrame>>,
    path: &Path,
    from: u64,
    to: u64,
    analyser: &mut Analyser,
    peaks: PeakThumbs,
    tick: &(dyn Fn(u64) + Sync),
) -> Result<Series> {
    let mut out = Series::default();
    let mut watch = PeakWatch::new(peaks);
    let mut pending = 0u64;
    for frame in frames {
        let frame = frame?;
        let idx = frame.index();
        if idx >= to {
            break;
        }
        let m = analyser
            .push(&frame.view())
            .map_err(|e| e.with_path(path))?;
        if idx >= from {
            watch
                .see(&frame, m.score, &mut out)
                .map_err(|e| e.with_path(path))?;
            out.push(frame.time(), m).map_err(|e| e.with_path(path))?;
            pending += 1;
            if pending == 32 {
                tick(pending);
                pending = 0;
            }
        }
    }
    watch.close(&mut out).map_err(|e| e.with_path(path))?;
    tick(pending);
    Ok(out)
}

/// A run of GOPs triage decodes: `first..moving_end` (indices into the
/// sorted keyframes) are GOPs whose packets say the picture changes, and
/// decoding may carry on, while the motion model settles, up to the
/// first frame of GOP `limit` (the next run's first, or the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stretch {
    first: usize,
    moving_end: usize,
    limit: usize,
}

/// The stretches of `keys` (sorted; the first at frame 0) that triage
/// decodes: the maximal runs of GOPs that do not look still (a first GOP
/// whose keyframe is not a real one, `FIRST`, has no packets known, so it
/// does not).
fn stretches(keys: &[Keyframe]) -> Vec<Stretch> {
    let changing: Vec<bool> = keys.iter().map(|k| !gop_looks_still(k)).collect();
    let mut out: Vec<Stretch> = Vec::new();
    let mut g = 0;
    while g < keys.len() {
        if !changing[g] {
            g += 1;
            continue;
        }
        let first = g;
        while g < keys.len() && changing[g] {
            g += 1;
        }
        if let Some(last) = out.last_mut() {
            last.limit = first;
        }
        out.push(Stretch {
            first,
            moving_end: g,
            limit: keys.len(),
        });
    }
    out
}

/// Analysis that decodes only the GOPs packet sizes say are not still,
/// and after each run of them the frames the motion model needs to
/// settle: when a mover stops in view (or the picture freezes with people
/// in it) the model still sees motion there until it has learned the new
/// picture, as a full decode does, so decoding carries on frame by frame
/// while the last frame analysed still scores at or above `release`.
/// (Analysing a still GOP's keyframe again in place of its other pictures
/// is not the same: a GOP whose packets are tiny can still hold a small
/// change, such as a mover leaving.) Skipped frames score 0 at their
/// nominal times.
///
/// Each run is analysed on its own, in parallel on up to `threads`
/// threads: its model starts from the keyframe of the still GOP before it
/// (whose packets say the picture there does not change, so it is the
/// background the run starts from), or from its own first frame at the
/// start of the file. The result does not depend on the thread count.
/// Pictures are decoded without the deblocking filter
/// ([`Decoder::open_from_for_analysis`]): motion is analysed on pictures
/// shrunk several times, where block edges do not show.
fn triage_series(
    info: &VideoInfo,
    analyser: &Analyser,
    peaks: PeakThumbs,
    threads: usize,
    tick: &(dyn Fn(u64) + Sync),
    cancel: &crate::Cancel,
) -> Result<Series> {
    let mut keys: Vec<Keyframe> = info.keyframes.clone();
    keys.sort_by_key(|k| k.index);
    if keys.first().is_none_or(|k| k.index != 0) {
        keys.insert(0, FIRST);
    }
    let runs = stretches(&keys);
    // One decoding thread per run when there are enough runs to keep every
    // thread busy; FFmpeg's own threads otherwise.
    let decode_threads = if runs.len() >= threads { 1 } else { 0 };
    let at = |g: usize| keys.get(g).map_or(info.frames, |k| k.index);
    let parts = longest_first(
        &runs,
        threads,
        |run| at(run.moving_end) - at(run.first),
        |slot: &mut Option<Decoder>, run| {
            triage_run(
                slot,
                info,
                &keys,
                *run,
                analyser.clone(),
                peaks,
                decode_threads,
                tick,
                cancel,
            )
        },
    );
    let frame_s = frame_seconds(info);
    let mut out = Series::default();
    // Skipped frames up to frame `to`, at nominal times after the last one.
    let skip_to = |out: &mut Series, to: u64| -> Result<()> {
        let from = out.len() as u64;
        let base = out.times.last().map_or(0.0, |t| t + frame_s);
        for i in 0..to.saturating_sub(from) {
            out.push(base + i as f64 * frame_s, FrameMotion::default())?;
        }
        out.skipped += to.saturating_sub(from);
        tick(to.saturating_sub(from));
        Ok(())
    };
    for (run, part) in runs.iter().zip(parts) {
        skip_to(&mut out, keys[run.first].index)?;
        out.extend(part?);
    }
    skip_to(&mut out, info.frames)?;
    Ok(out)
}

/// One run of [`triage_series`]: its frames from its first GOP's first
/// frame to where it stopped, decoded by `slot`'s decoder (opened with
/// `threads` when there is none yet).
#[allow(clippy::too_many_arguments)]
fn triage_run(
    slot: &mut Option<Decoder>,
    info: &VideoInfo,
    keys: &[Keyframe],
    run: Stretch,
    mut analyser: Analyser,
    peaks: PeakThumbs,
    threads: usize,
    tick: &(dyn Fn(u64) + Sync),
    cancel: &crate::Cancel,
) -> Result<Series> {
    let at = |g: usize| keys.get(g).map_or(info.frames, |k| k.index);
    let (from, changing_to, limit) = (at(run.first), at(run.moving_end), at(run.limit));
    if run.first > 0 {
        // The background: the still GOP's keyframe before the run (its
        // open-GOP leading pictures belong to the GOP before it).
        let key = &keys[run.first - 1];
        for frame in decoder_at(slot, info, key, threads, false, cancel)? {
            let frame = frame?;
            if frame.index() >= key.index {
                analyser
                    .push(&frame.view())
                    .map_err(|e| e.with_path(&info.path))?;
                break;
            }
        }
    }
    let d = decoder_at(slot, info, &keys[run.first], threads, false, cancel)?;
    let mut out = Series::default();
    let mut watch = PeakWatch::new(peaks);
    let mut pending = 0u64;
    // Whether the last frame analysed still moved.
    let mut settling = false;
    for frame in d {
        let frame = frame?;
        let i = frame.index();
        if i >= limit || (i >= changing_to && !settling) {
            break;
        }
        // Open-GOP leading pictures show before `from`, in the still GOP
        // the model started from; decoded from this keyframe without the
        // pictures they refer to, they may be damaged, so they are not
        // analysed.
        if i < from {
            continue;
        }
        let m = analyser
            .push(&frame.view())
            .map_err(|e| e.with_path(&info.path))?;
        settling = m.score >= peaks.release;
        watch
            .see(&frame, m.score, &mut out)
            .map_err(|e| e.with_path(&info.path))?;
        out.push(frame.time(), m)
            .map_err(|e| e.with_path(&info.path))?;
        pending += 1;
        if pending == 32 {
            tick(pending);
            pending = 0;
        }
    }
    watch.close(&mut out).map_err(|e| e.with_path(&info.path))?;
    tick(pending);
    Ok(out)
}

fn find_gaps(times: &[f64], frame_s: f64) -> Vec<TimestampGap> {
    // A step of more than 1.5 frames, and at least 0.5 s, is missing footage.
    let limit = (frame_s * 1.5).max(frame_s + 0.5);
    times
        .windows(2)
        .filter(|w| w[1] - w[0] > limit)
        .map(|w| TimestampGap {
            after_s: w[0],
            missing_s: w[1] - w[0] - frame_s,
        })
        .collect()
}

/// JPEG thumbnails of the frames `wanted` (indices), `width` pixels wide,
/// in the same order, made on up to `threads` threads. Decodes from the
/// keyframe before each one.
fn thumbnails(
    info: &VideoInfo,
    wanted: &[u64],
    width: usize,
    threads: usize,
    cancel: &crate::Cancel,
) -> Result<Vec<Vec<u8>>> {
    let mut keys: Vec<Keyframe> = info.keyframes.clone();
    keys.sort_by_key(|k| k.index);
    let key_of = |target: u64| {
        keys.iter()
            .rfind(|k| k.index <= target)
            .copied()
            .unwrap_or(FIRST)
    };
    let decode_threads = if wanted.len() >= threads { 1 } else { 0 };
    longest_first(
        wanted,
        threads,
        |&target| target - key_of(target).index,
        |slot: &mut Option<Decoder>, &target| {
            let d = decoder_at(slot, info, &key_of(target), decode_threads, true, cancel)?;
            for frame in d {
                let frame = frame?;
                if frame.index() == target {
                    return encode_jpeg(&frame.view(), width);
                }
            }
            Ok(Vec::new())
        },
    )
    .into_iter()
    .collect()
}

/// `work` done on every item on up to `threads` threads, the items with
/// the largest `cost` first (so one long item does not start last while
/// the other threads sit idle); results in the items' order. Each thread
/// keeps a state of its own across its items (a decoder to reuse),
/// starting from `S::default()`.
fn longest_first<T: Sync, R: Send, S: Default>(
    items: &[T],
    threads: usize,
    cost: impl Fn(&T) -> u64,
    work: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let next = AtomicU64::new(0);
    let done: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                let mut state = S::default();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(&i) = order.get(k) else { break };
                    let r = work(&mut state, &items[i]);
                    if let Ok(mut d) = done.lock() {
                        d[i] = Some(r);
                    }
                }
            });
        }
    });
    done.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// `slot`'s decoder moved to decode from `key`, or one opened there (with
/// `threads`, skipping the deblocking filter unless `exact`) when the slot
/// is empty.
fn decoder_at<'a>(
    slot: &'a mut Option<Decoder>,
    info: &VideoInfo,
    key: &Keyframe,
    threads: usize,
    exact: bool,
    cancel: &crate::Cancel,
) -> Result<&'a mut Decoder> {
    match slot {
        Some(d) => {
            d.restart_from(info, key)?;
            Ok(d)
        }
        None => {
            let mut d = if exact {
                Decoder::open_from(info, key, threads)?
            } else {
                Decoder::open_from_for_analysis(info, key, threads)?
            };
            d.set_cancel(cancel.clone());
            Ok(slot.insert(d))
        }
    }
}

/// What indexing one file did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indexed {
    /// The file.
    pub path: PathBuf,
    /// Frames analysed.
    pub frames: u64,
    /// Duration, seconds.
    pub duration_s: f64,
    /// Wall-clock start, when known.
    pub start_utc: Option<String>,
    /// Where it came from.
    pub time_source: &'static str,
    /// Incidents found.
    pub incidents: usize,
    /// Timestamp jumps inside the file.
    pub gaps: usize,
    /// Whether an earlier index of it was replaced.
    pub replaced: bool,
    /// Another file with the same content (sha256): in the same batch, the
    /// first one given, which is the one stored (this one is not analysed
    /// or stored); or, from an earlier run, the path whose index this one
    /// replaced.
    pub duplicate_of: Option<PathBuf>,
    /// Set when the file decoded to fewer frames than it declares
    /// (truncated or damaged): its incidents are those of the frames
    /// decoded, and the recording is marked damaged in the index.
    pub damaged: Option<String>,
    /// Frames the file declares, when damaged.
    pub expected_frames: Option<u64>,
    /// Segments it was analysed in.
    pub segments: usize,
    /// Of `frames`, those triage did not decode (scored 0 as still).
    pub skipped_frames: u64,
    /// Seconds the analysis and storing took.
    pub seconds: f64,
}

impl Indexed {
    /// Whether this file was not stored because an earlier file of the
    /// same batch has the same content.
    pub fn skipped_as_duplicate(&self) -> bool {
        self.duplicate_of.is_some() && self.frames == 0
    }
}

/// What a batch of files came to, counted once for every shell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BatchTotals {
    /// Files analysed and stored (damaged ones included).
    pub indexed: usize,
    /// Files that failed and were skipped.
    pub failed: usize,
    /// Files not stored because another file of the batch has the same
    /// content.
    pub duplicates: usize,
    /// Stored files that decoded to fewer frames than they declare.
    pub damaged: usize,
    /// Frames analysed over the stored files.
    pub frames: u64,
    /// Incidents found over the stored files.
    pub incidents: usize,
}

impl BatchTotals {
    /// Counts the per-file results of [`Indexer::index`].
    pub fn of(results: &[Result<Indexed>]) -> BatchTotals {
        let mut t = BatchTotals::default();
        for r in results {
            match r {
                Ok(done) if done.skipped_as_duplicate() => t.duplicates += 1,
                Ok(done) => {
                    t.indexed += 1;
                    t.damaged += usize::from(done.damaged.is_some());
                    t.frames += done.frames;
                    t.incidents += done.incidents;
                }
                Err(_) => t.failed += 1,
            }
        }
        t
    }

    /// Whether the batch should be reported as a failure: a file failed or
    /// was damaged.
    pub fn has_failures(&self) -> bool {
        self.failed > 0 || self.damaged > 0
    }
}

/// Analyses `files` of one camera and stores each in the index at `db`,
/// each file in its own transaction. With at least as many files as
/// threads, files run in parallel (each decoded sequentially); otherwise
/// each file is analysed segment-parallel. `progress` receives frames done
/// over all files and the total frames of the files that could be probed
/// (known before any analysis starts).
///
/// Results come back in the order of `files`; one bad file does not stop
/// the others.
///
/// # Errors
/// `Database` if the index cannot be opened (per-file errors are in the
/// returned list).
pub fn index_files(
    db: &Path,
    camera: &CameraProfile,
    files: &[PathBuf],
    explicit_start: Option<DateTime<Utc>>,
    opts: &MotionOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<Result<Indexed>>> {
    opts.validate()?;
    if explicit_start.is_some() && files.len() > 1 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "an explicit start time gives one recording's start: index the files one at a time, or name them with the profile's filename_pattern",
        ));
    }
    // Create and migrate once up front, so workers only open it.
    drop(Store::open(db)?);
    let duplicate_of = duplicates_in(files);
    let probed: Vec<Result<crate::media::VideoInfo>> = files
        .iter()
        .zip(&duplicate_of)
        .map(|(f, d)| match d {
            Some(_) => Err(Error::new(ErrorKind::InvalidArgument, "duplicate")),
            None => crate::media::probe(f),
        })
        .collect();
    let total: u64 = probed.iter().flatten().map(|i| i.frames).sum();
    progress(0, total);
    let probed: Vec<std::sync::Mutex<Option<Result<crate::media::VideoInfo>>>> = probed
        .into_iter()
        .map(|p| std::sync::Mutex::new(Some(p)))
        .collect();
    let (threads, per_file, file_opts) = batch_plan(opts, files.len());
    let done = std::sync::atomic::AtomicU64::new(0);
    // Frames done per file, so each file's running count adds to the
    // total once.
    let last_seen: Vec<std::sync::atomic::AtomicU64> = files
        .iter()
        .map(|_| std::sync::atomic::AtomicU64::new(0))
        .collect();
    let total_frames = total;
    let one = |i: usize, path: &PathBuf| -> Result<Indexed> {
        use std::sync::atomic::Ordering;
        file_opts.cancel.check()?;
        if let Some(j) = duplicate_of[i] {
            return Ok(Indexed::duplicate(path, &files[j]));
        }
        let started = std::time::Instant::now();
        let tick = |n: u64| {
            let before = last_seen[i].swap(n, Ordering::Relaxed);
            let total = done.fetch_add(n.saturating_sub(before), Ordering::Relaxed)
                + n.saturating_sub(before);
            progress(total, total_frames);
        };
        let info = probed[i]
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .unwrap_or_else(|| crate::media::probe(path))?;
        let a = scan_probed(
            info,
            Some(camera),
            explicit_start,
            &file_opts,
            &tick,
            started,
        )?;
        let mut index = Store::open(db)?;
        let stored = index.store(camera, &a)?;
        Ok(Indexed::stored(path, &a, stored))
    };
    if !per_file {
        return Ok(files.iter().enumerate().map(|(i, p)| one(i, p)).collect());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start threads: {e}")))?;
    Ok(pool.install(|| {
        use rayon::prelude::*;
        files
            .par_iter()
            .enumerate()
            .map(|(i, p)| one(i, p))
            .collect()
    }))
}

/// For each file, the earlier file of the batch with the same content, if
/// any: the first given is indexed, the others name it.
fn duplicates_in(files: &[PathBuf]) -> Vec<Option<usize>> {
    let mut first_with: std::collections::HashMap<String, usize> = Default::default();
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let h = crate::hash::regular_file_sha256(f).ok()?;
            match first_with.get(&h) {
                Some(&j) => Some(j),
                None => {
                    first_with.insert(h, i);
                    None
                }
            }
        })
        .collect()
}

/// How a batch of `files` runs: the threads, whether files run in
/// parallel (each decoded sequentially, when there are at least as many
/// files as threads) and the options each file gets.
fn batch_plan(opts: &MotionOptions, files: usize) -> (usize, bool, MotionOptions) {
    let threads = if opts.threads == 0 {
        crate::cores()
    } else {
        opts.threads
    };
    let per_file = files >= threads.max(2);
    let file_opts = if per_file {
        MotionOptions {
            segments: 1,
            decode_workers: 1,
            threads: 1,
            ..opts.clone()
        }
    } else {
        opts.clone()
    };
    (threads, per_file, file_opts)
}

impl Indexed {
    /// A file not analysed because `of`, earlier in the batch, has the
    /// same content.
    fn duplicate(path: &Path, of: &Path) -> Indexed {
        Indexed {
            path: path.to_path_buf(),
            frames: 0,
            duration_s: 0.0,
            start_utc: None,
            time_source: "unknown",
            incidents: 0,
            gaps: 0,
            replaced: false,
            duplicate_of: Some(of.to_path_buf()),
            damaged: None,
            expected_frames: None,
            segments: 0,
            skipped_frames: 0,
            seconds: 0.0,
        }
    }

    /// A file analysed into `a` and stored.
    fn stored(path: &Path, a: &MotionAnalysis, stored: crate::store::Stored) -> Indexed {
        let (damaged, expected_frames) = a.damage();
        Indexed {
            path: path.to_path_buf(),
            frames: a.frames,
            duration_s: a.duration_s,
            start_utc: a.wall_clock.start.as_ref().map(format_utc),
            time_source: a.wall_clock.source.as_str(),
            incidents: stored.incidents,
            gaps: a.gaps.len(),
            replaced: stored.replaced,
            duplicate_of: stored.duplicate_of.map(PathBuf::from),
            damaged,
            expected_frames,
            segments: a.segments,
            skipped_frames: a.skipped_frames,
            seconds: a.seconds,
        }
    }
}

/// Indexes recordings of one camera into one store: the camera profile and
/// the options are checked, and the database created or migrated, once up
/// front, then any number of batches go through [`Indexer::index`]. The
/// CLI's `index` and Python's `obscura.index` are this.
///
/// ```no_run
/// use obscura_core::mask::camera::CameraProfile;
/// use obscura_core::motion::MotionOptions;
/// use obscura_core::pipeline::{indexing::Indexer, Job};
///
/// # fn main() -> obscura_core::Result<()> {
/// let camera = CameraProfile::load("cameras/cam07.toml")?;
/// let indexer = Indexer::new("index.db", camera, MotionOptions::default())?;
/// let files = vec!["cam07_20261102_0700.mp4".into(), "cam07_20261102_0800.mp4".into()];
/// for result in indexer.index(&files, None, &mut Job::new())? {
///     match result {
///         Ok(done) => println!("{}: {} incidents", done.path.display(), done.incidents),
///         Err(e) => eprintln!("{e}"),
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Indexer {
    db: PathBuf,
    camera: CameraProfile,
    options: MotionOptions,
}

impl Indexer {
    /// An indexer of `camera`'s recordings into the store at `db`.
    ///
    /// # Errors
    /// `InvalidArgument` for options out of range; `Database` when the
    /// store cannot be created, opened or migrated.
    pub fn new(
        db: impl AsRef<Path>,
        camera: CameraProfile,
        options: MotionOptions,
    ) -> Result<Self> {
        options.validate()?;
        let db = db.as_ref().to_path_buf();
        drop(Store::open(&db)?);
        Ok(Indexer {
            db,
            camera,
            options,
        })
    }

    /// The camera whose recordings this indexes.
    pub fn camera(&self) -> &CameraProfile {
        &self.camera
    }

    /// The store's path.
    pub fn db(&self) -> &Path {
        &self.db
    }

    /// The motion options every file is analysed with.
    pub fn options(&self) -> &MotionOptions {
        &self.options
    }

    /// Analyses `files` and stores each in its own transaction, as
    /// [`index_files`] does; `start` gives one recording's wall-clock start
    /// when neither its container nor its name does. `job` receives frames
    /// done over all files, and stops the batch when cancelled (files not
    /// finished are left out of the store, and report `Interrupted`).
    ///
    /// # Errors
    /// As [`index_files`]: per-file errors are in the returned list.
    pub fn index(
        &self,
        files: &[PathBuf],
        start: Option<DateTime<Utc>>,
        job: &mut Job<'_>,
    ) -> Result<Vec<Result<Indexed>>> {
        let opts = MotionOptions {
            cancel: job.cancel_token(),
            ..self.options.clone()
        };
        let job = std::sync::Mutex::new(job);
        let progress = |frames: u64, total: u64| {
            if let Ok(mut j) = job.lock() {
                j.report(Progress { frames, total });
            }
        };
        index_files(&self.db, &self.camera, files, start, &opts, &progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GOP starting at frame `index`: still when `still`.
    fn gop(index: u64, still: bool) -> Keyframe {
        Keyframe {
            index,
            pts: index as i64,
            dts: index as i64,
            leading_pictures: false,
            bytes: 100_000,
            max_inter_bytes: if still { 100 } else { 20_000 },
        }
    }

    #[test]
    fn stretches_are_the_runs_of_changing_gops_each_up_to_the_next() {
        let pattern = [false, true, true, false, false, true, false];
        let keys: Vec<Keyframe> = pattern
            .iter()
            .enumerate()
            .map(|(g, &still)| gop(50 * g as u64, still))
            .collect();
        let runs = |first, moving_end, limit| Stretch {
            first,
            moving_end,
            limit,
        };
        assert_eq!(
            stretches(&keys),
            vec![runs(0, 1, 3), runs(3, 5, 6), runs(6, 7, 7)]
        );
        // A still first GOP is skipped like any other; one whose packets
        // are not known (`FIRST`) is decoded.
        let mut quiet = keys.clone();
        quiet[0] = gop(0, true);
        assert_eq!(stretches(&quiet), vec![runs(3, 5, 6), runs(6, 7, 7)]);
        quiet[0] = FIRST;
        assert_eq!(stretches(&quiet)[0], runs(0, 1, 3));
        assert!(stretches(&[gop(0, true), gop(50, true)]).is_empty());
        // All-intra footage (every frame a keyframe, no inter packets):
        // nothing looks still, so it is decoded whole.
        let intra: Vec<Keyframe> = (0..4)
            .map(|i| Keyframe {
                max_inter_bytes: 0,
                ..gop(i, true)
            })
            .collect();
        assert_eq!(stretches(&intra), vec![runs(0, 4, 4)]);
    }

    #[test]
    fn longest_first_does_every_item_once_and_keeps_their_order() {
        let items: Vec<u64> = vec![3, 9, 1, 7, 7, 2];
        for threads in [1, 2, 8] {
            let calls = AtomicU64::new(0);
            let out = longest_first(
                &items,
                threads,
                |&c| c,
                |_: &mut (), &c| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    c * 10
                },
            );
            assert_eq!(out, vec![30, 90, 10, 70, 70, 20]);
            assert_eq!(calls.load(Ordering::Relaxed), 6);
        }
        // On one thread, the costliest go first.
        let seen = std::sync::Mutex::new(Vec::new());
        longest_first(
            &items,
            1,
            |&c| c,
            |_: &mut (), &c| seen.lock().expect("lock").push(c),
        );
        assert_eq!(seen.into_inner().expect("lock"), vec![9, 7, 7, 3, 2, 1]);
        assert!(longest_first(&Vec::<u64>::new(), 2, |&c| c, |_: &mut (), &c| c).is_empty());
        // Each thread keeps its state from item to item.
        let counts = longest_first(
            &items,
            1,
            |&c| c,
            |n: &mut u64, _| {
                *n += 1;
                *n
            },
        );
        assert_eq!(counts, vec![4, 1, 6, 2, 3, 5]);
    }
}
