//! The decode → process → encode pipeline and the objects services keep:
//! [`Redactor`] (models loaded once, many files), with a [`Job`] per call
//! for progress and cancellation. `transcode` runs the pipeline with no
//! processing; redaction of masks alone plugs its per-frame work into
//! [`run`].

pub mod analyse;
pub mod disclose;
pub mod export;
pub mod indexing;
mod job;
mod moving;
pub mod redact;
mod redactor;
pub mod review;
pub mod verify;

pub use export::Exporter;
pub use indexing::Indexer;
pub use job::Job;
pub use redactor::{redact_logged, Clip, Redactor, RedactorBuilder};

use crate::error::Result;
use crate::frame::FrameViewMut;
use crate::media::{self, DecodeOptions, EncodeOptions, Encoder, VideoInfo};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of a pipeline run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineOptions {
    /// How to decode.
    pub decode: DecodeOptions,
    /// How to encode.
    pub encode: EncodeOptions,
}

/// Where a pipeline run has got to, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Frames done.
    pub frames: u64,
    /// Frames in the input (counted by probe).
    pub total: u64,
}

/// Timing and position of the frame being processed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameInfo {
    /// Frame number in presentation order.
    pub index: u64,
    /// Presentation timestamp in the stream's time base.
    pub pts: i64,
    /// Seconds since the start of the stream.
    pub time: f64,
}

/// What a pipeline run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineSummary {
    /// The input file.
    pub input: PathBuf,
    /// The finished output file.
    pub output: PathBuf,
    /// Frames in the input, counted by probe.
    pub frames_in: u64,
    /// Frames decoded and encoded.
    pub frames_out: u64,
    /// Audio streams copied.
    pub audio_streams: usize,
    /// Timestamp discontinuities in the input that the output closes up
    /// (it starts at 0 and runs on one frame after each jump).
    pub discontinuities: u64,
    /// Index of the video stream used.
    pub video_stream: usize,
    /// Other video streams in the input, left out of the output.
    pub other_video_streams: usize,
    /// The even size an odd-sized input was padded to (black right column
    /// and/or bottom row: H.264 4:2:0 needs even sizes), if it was.
    pub padded_to: Option<(u32, u32)>,
    /// Source seconds the output's 0 corresponds to (also written to the
    /// output as its `source_start_time` tag when not 0).
    pub source_start_s: f64,
    /// The frames the input's header declares, when it declares more than
    /// the input holds (a file cut short): the output has every frame the
    /// input holds (`frames_in`), and this says the source is incomplete.
    pub declared_frames: Option<u64>,
    /// How the input shows it was cut short where its header declares no
    /// frame count ([`VideoInfo::cut_short`](crate::media::VideoInfo::cut_short)):
    /// the output still has every frame the input holds.
    pub cut_short: Option<String>,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
    /// Frames per second achieved.
    pub fps: f64,
}

/// The encoding end of every decode → process → encode pass: the encoder,
/// the frames written, and the check that decides the output is whole
/// (every frame the input holds made it) before the file appears. Both
/// [`run`] and redaction with detection write through it.
pub(crate) struct Sink<'a> {
    input: &'a Path,
    info: &'a VideoInfo,
    encoder: Encoder,
    written: u64,
    started: Instant,
}

impl<'a> Sink<'a> {
    /// Creates the encoder for `output`; `started` is when the pass began
    /// (for the summary's speed).
    pub(crate) fn create(
        input: &'a Path,
        output: &Path,
        info: &'a VideoInfo,
        opts: &EncodeOptions,
        started: Instant,
    ) -> Result<Sink<'a>> {
        Ok(Sink {
            input,
            info,
            encoder: Encoder::create(output, info, opts)?,
            written: 0,
            started,
        })
    }

    /// Encodes one frame.
    pub(crate) fn write(&mut self, frame: &mut media::DecodedFrame) -> Result<()> {
        self.encoder.write(frame)?;
        self.written += 1;
        Ok(())
    }

    /// Frames written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Checks every frame of the input was written, then finishes the
    /// file, still under its temporary name: the caller places it (the
    /// summary's `output` is where it goes).
    pub(crate) fn finish_unplaced(self) -> Result<(PipelineSummary, crate::output::PendingFile)> {
        let (info, input, written) = (self.info, self.input, self.written);
        info.check_all_decoded(written, input, "; no output written")?;
        let (done, out) = self.encoder.finish_unplaced()?;
        let seconds = self.started.elapsed().as_secs_f64();
        let summary = PipelineSummary {
            input: input.to_path_buf(),
            output: done.path,
            frames_in: info.frames,
            frames_out: done.frames,
            audio_streams: done.audio_streams,
            discontinuities: done.discontinuities,
            padded_to: done.padded_to,
            video_stream: info.stream_index,
            other_video_streams: info.video_streams.saturating_sub(1),
            source_start_s: info.start_pts as f64 * info.time_base_f64(),
            declared_frames: info.declared_frames_missing(),
            cut_short: info.cut_short.clone(),
            seconds,
            fps: if seconds > 0.0 {
                written as f64 / seconds
            } else {
                0.0
            },
        };
        Ok((summary, out))
    }
}

/// Decodes `input`, lets `process` change each frame in place, and encodes
/// the result to `output`. The output appears only if every frame made it.
///
/// # Errors
/// Any decode, processing or encode error; no output file is left behind.
pub fn run<P>(
    input: &Path,
    output: &Path,
    opts: &PipelineOptions,
    progress: &mut dyn FnMut(Progress),
    process: P,
) -> Result<PipelineSummary>
where
    P: FnMut(&mut FrameViewMut<'_>, FrameInfo) -> Result<()>,
{
    let (summary, out) = run_unplaced(input, output, opts, progress, process)?;
    out.commit()?;
    Ok(summary)
}

/// As [`run`], but the output stays under its temporary name for the
/// caller to place (with a redaction's record).
pub(crate) fn run_unplaced<P>(
    input: &Path,
    output: &Path,
    opts: &PipelineOptions,
    progress: &mut dyn FnMut(Progress),
    mut process: P,
) -> Result<(PipelineSummary, crate::output::PendingFile)>
where
    P: FnMut(&mut FrameViewMut<'_>, FrameInfo) -> Result<()>,
{
    let started = Instant::now();
    opts.encode.validate()?;
    let (info, frames): (VideoInfo, _) = media::open(input, &opts.decode)?;
    let mut sink = Sink::create(input, output, &info, &opts.encode, started)?;
    for frame in frames {
        let mut frame = frame?;
        let fi = FrameInfo {
            index: frame.index(),
            pts: frame.pts(),
            time: frame.time(),
        };
        {
            let mut view = frame.view_mut().map_err(|e| e.with_path(input))?;
            process(&mut view, fi).map_err(|e| e.with_path(input))?;
        }
        sink.write(&mut frame)?;
        if sink.written() % 16 == 0 {
            progress(Progress {
                frames: sink.written(),
                total: info.frames,
            });
        }
    }
    let done = sink.written();
    let finished = sink.finish_unplaced()?;
    progress(Progress {
        frames: done,
        total: info.frames,
    });
    Ok(finished)
}

/// Re-encodes `input` to H.264/MP4 at `output`, unchanged frame for frame:
/// same frame count, timestamps and duration, audio copied (or dropped).
///
/// # Errors
/// As [`run`].
pub fn transcode(
    input: &Path,
    output: &Path,
    opts: &PipelineOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<PipelineSummary> {
    run(input, output, opts, progress, |_, _| Ok(()))
}
