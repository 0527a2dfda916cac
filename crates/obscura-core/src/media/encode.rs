//! H.264 (libx264) into MP4, keeping the source's frame count, timestamps
//! and duration, with its audio copied through.

use super::decode::DecodedFrame;
use super::probe::VideoInfo;
use super::{is_again, open_input};
use crate::error::{Error, ErrorKind, Result};
use crate::output::PendingFile;
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// x264 speed/size trade-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Preset {
    Ultrafast,
    Superfast,
    Veryfast,
    Faster,
    Fast,
    Medium,
    Slow,
    Slower,
    Veryslow,
}

impl Preset {
    /// All presets, fastest first.
    pub const ALL: [Preset; 9] = [
        Preset::Ultrafast,
        Preset::Superfast,
        Preset::Veryfast,
        Preset::Faster,
        Preset::Fast,
        Preset::Medium,
        Preset::Slow,
        Preset::Slower,
        Preset::Veryslow,
    ];

    /// The name x264 knows it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Ultrafast => "ultrafast",
            Preset::Superfast => "superfast",
            Preset::Veryfast => "veryfast",
            Preset::Faster => "faster",
            Preset::Fast => "fast",
            Preset::Medium => "medium",
            Preset::Slow => "slow",
            Preset::Slower => "slower",
            Preset::Veryslow => "veryslow",
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Preset::ALL.iter().map(|p| p.as_str()).collect();
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "invalid preset {s:?} (expected one of {})",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// What happens to the input's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioPolicy {
    /// Copy every audio stream through unchanged (stream copy).
    #[default]
    Copy,
    /// Leave audio out.
    Drop,
    /// Copy audio that MP4 can hold; re-encode the rest (G.711 `pcm_alaw`
    /// and `pcm_mulaw` from IP cameras, other PCM) to AAC.
    Aac,
}

impl std::fmt::Display for AudioPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AudioPolicy::Copy => "copy",
            AudioPolicy::Drop => "drop",
            AudioPolicy::Aac => "aac",
        })
    }
}

impl std::str::FromStr for AudioPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "copy" => Ok(AudioPolicy::Copy),
            "drop" => Ok(AudioPolicy::Drop),
            "aac" => Ok(AudioPolicy::Aac),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid audio policy {s:?} (expected copy, drop or aac)"),
            )),
        }
    }
}

/// How x264 spreads one encode over its threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Threading {
    /// x264's default: a picture per thread in flight, each with its own
    /// lookahead and reference pictures. Fastest where encoding sets the
    /// pace.
    #[default]
    Frames,
    /// Each picture split into slices over the threads, one picture in
    /// flight: about 60 MB less at 1080p and files about 2% larger, at the
    /// same speed on two cores (measured on 10 s of 1080p: 519 against
    /// 583 MB, 7.7 against 8.0 s). For encodes behind detection, which
    /// sets the pace.
    Slices,
}

/// Encoder settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodeOptions {
    /// Constant rate factor: 0 (lossless) to 51 (worst). 18 is visually
    /// close to the source for CCTV; 23 is x264's default.
    pub crf: u8,
    /// x264 preset.
    pub preset: Preset,
    /// What to do with audio.
    pub audio: AudioPolicy,
    /// Encoder threads (0 = x264's choice).
    pub threads: usize,
    /// How those threads share the work. Records made before this field
    /// read as [`Threading::Frames`], as they were encoded.
    #[serde(default)]
    pub threading: Threading,
    /// Replace an existing file at the output's name (never an input).
    /// Off by default: outputs are never replaced unless asked for. Not part
    /// of what a record stores about the encoding.
    #[serde(skip)]
    pub replace_existing: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            crf: 18,
            preset: Preset::Veryfast,
            audio: AudioPolicy::Copy,
            threads: 0,
            threading: Threading::Frames,
            replace_existing: false,
        }
    }
}

impl EncodeOptions {
    /// Checks every field's range.
    ///
    /// # Errors
    /// `InvalidArgument` naming the field and its valid range.
    pub fn validate(&self) -> Result<()> {
        if self.crf > 51 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid crf {} (expected >= 0, <= 51)", self.crf),
            ));
        }
        if self.threads > 128 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid encoder threads {} (expected <= 128)", self.threads),
            ));
        }
        Ok(())
    }
}

/// Audio packets copied from a second demuxer of the source, written just
/// ahead of the video so the muxer's interleaving buffer stays small.
struct AudioCopy {
    ictx: ff::format::context::Input,
    /// input stream index -> (output stream index, input time base, output time base)
    map: AudioMap,
    pending: Option<ff::Packet>,
    eof: bool,
    /// Streams re-encoded to AAC instead of copied, by input stream index.
    aac: HashMap<usize, AacStream>,
    /// Source seconds of the first video frame, which the output starts at
    /// 0: audio moves by the same amount.
    offset_s: f64,
}

impl AudioCopy {
    /// Takes the output time bases from `octx` and opens the second demuxer
    /// (`None` when there is no audio).
    fn open(
        src_path: &Path,
        octx: &ff::format::context::Output,
        mut map: AudioMap,
        mut aac: HashMap<usize, AacStream>,
    ) -> Result<Option<Self>> {
        for v in map.values_mut() {
            if let Some(s) = octx.stream(v.0) {
                v.2 = s.time_base();
            }
        }
        for a in aac.values_mut() {
            if let Some(s) = octx.stream(a.out_idx) {
                a.out_tb = s.time_base();
            }
        }
        if map.is_empty() {
            return Ok(None);
        }
        Ok(Some(AudioCopy {
            ictx: open_input(src_path)?,
            map,
            pending: None,
            eof: false,
            aac,
            offset_s: 0.0,
        }))
    }

    /// Writes audio packets whose decode time is at or before `until`
    /// seconds (all remaining when `None`).
    fn write_until(
        &mut self,
        octx: &mut ff::format::context::Output,
        until: Option<f64>,
    ) -> Result<()> {
        loop {
            if self.pending.is_none() {
                if self.eof {
                    return Ok(());
                }
                let mut p = ff::Packet::empty();
                match p.read(&mut self.ictx) {
                    Ok(()) => {
                        if self.map.contains_key(&p.stream()) {
                            self.pending = Some(p);
                        }
                        continue;
                    }
                    Err(ff::Error::Eof) => {
                        self.eof = true;
                        return Ok(());
                    }
                    Err(e) => {
                        return Err(Error::new(
                            ErrorKind::Corrupt,
                            format!("audio read error: {e} (file damaged or truncated)"),
                        ))
                    }
                }
            }
            let Some(mut p) = self.pending.take() else {
                continue;
            };
            let Some(&(out_idx, in_tb, out_tb)) = self.map.get(&p.stream()) else {
                continue;
            };
            let t = p
                .dts()
                .or(p.pts())
                .map(|d| d as f64 * f64::from(in_tb) - self.offset_s);
            if let (Some(limit), Some(t)) = (until, t) {
                if t > limit {
                    self.pending = Some(p);
                    return Ok(());
                }
            }
            let shift = if f64::from(in_tb) > 0.0 {
                (self.offset_s / f64::from(in_tb)).round() as i64
            } else {
                0
            };
            if p.pts().is_some_and(|x| x < shift) {
                // Sound from before the first picture: the output starts
                // with the picture.
                continue;
            }
            if let Some(a) = self.aac.get_mut(&p.stream()) {
                a.feed(Some(&p), self.offset_s, octx)?;
                continue;
            }
            if let Some(x) = p.pts() {
                p.set_pts(Some(x - shift));
            }
            if let Some(x) = p.dts() {
                p.set_dts(Some(x - shift));
            }
            p.rescale_ts(in_tb, out_tb);
            p.set_stream(out_idx);
            p.set_position(-1);
            p.write_interleaved(octx)
                .map_err(|e| Error::new(ErrorKind::Encode, format!("cannot write audio: {e}")))?;
        }
    }
}

/// Summary of a finished encode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EncodeSummary {
    /// The output file.
    pub path: PathBuf,
    /// Video frames encoded.
    pub frames: u64,
    /// Audio streams copied.
    pub audio_streams: usize,
    /// Timestamp discontinuities closed up (see [`Encoder::write`]).
    pub discontinuities: u64,
    /// The even size an odd-sized source was padded to (black right column
    /// and/or bottom row), if it was.
    pub padded_to: Option<(u32, u32)>,
}

/// Writes H.264 video (and copied audio) to an MP4 file. The output appears
/// under its name only when [`Encoder::finish`] succeeds.
pub struct Encoder {
    // Field order matters for Drop: the muxer closes its file before the
    // pending output removes it.
    octx: ff::format::context::Output,
    encoder: ff::encoder::Video,
    ost_index: usize,
    enc_tb: ff::Rational,
    ost_tb: ff::Rational,
    default_duration: i64,
    durations: HashMap<i64, i64>,
    audio: Option<AudioCopy>,
    audio_streams: usize,
    frames: u64,
    /// Picture size of the source, which every frame must have.
    src_size: (u32, u32),
    /// The source, which errors about the pictures it sends name.
    src_path: std::path::PathBuf,
    /// The even size odd-sized pictures are padded to.
    padded: Option<(u32, u32)>,
    /// Source pts, output pts and duration of the last frame written.
    last: Option<(i64, i64, i64)>,
    /// Largest step between frames that is not a discontinuity.
    max_step: i64,
    discontinuities: u64,
    out: PendingFile,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dest", &self.out.dest())
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn enc_err(what: &str, e: ff::Error) -> Error {
    Error::new(ErrorKind::Encode, format!("{what}: {e}"))
}

impl Encoder {
    /// Creates `output` (an `.mp4`, `.m4v` or `.mov` file) for the video
    /// described by `info`, timed in the source's own time base so every
    /// frame keeps its timestamp.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad extension or options, or an output that is
    /// the input; `NotFound`/`Io` when the output cannot be written;
    /// `Unsupported` when libx264 is missing or an audio stream cannot be
    /// stored in MP4 (use [`AudioPolicy::Drop`]).
    pub fn create(
        output: impl AsRef<Path>,
        info: &VideoInfo,
        opts: &EncodeOptions,
    ) -> Result<Self> {
        let output = output.as_ref();
        opts.validate()?;
        let ext = output
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let muxer = match ext.as_str() {
            "mp4" | "m4v" => "mp4",
            "mov" => "mov",
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("invalid output extension {ext:?} (expected .mp4, .m4v or .mov)"),
                )
                .with_path(output))
            }
        };
        if info.width == 0 || info.height == 0 {
            return Err(
                Error::new(ErrorKind::Corrupt, "video has no picture size").with_path(&info.path)
            );
        }
        super::init();
        let out = PendingFile::with_policy(output, &[&info.path], opts.replace_existing)?;
        Self::create_at(out, info, opts, muxer).map_err(|e| e.with_path(output))
    }

    /// Opens the muxer and encoder, adds the streams and writes the header
    /// (on error, dropping `out` removes the temporary file).
    fn create_at(
        out: PendingFile,
        info: &VideoInfo,
        opts: &EncodeOptions,
        muxer: &str,
    ) -> Result<Self> {
        let mut octx = super::open_output(out.tmp_path(), Some(muxer))
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot create output: {e}")))?;
        let codec = ff::encoder::find_by_name("libx264").ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                "this FFmpeg has no libx264 encoder (install Debian's libavcodec with x264: run the setup)",
            )
        })?;
        let global_header = octx
            .format()
            .flags()
            .contains(ff::format::Flags::GLOBAL_HEADER);
        let enc_tb = ff::Rational::new(info.time_base.0, info.time_base.1);
        let fps = ff::Rational::new(info.frame_rate.0, info.frame_rate.1);

        let src = open_input(&info.path)?;
        let src_video = src
            .stream(info.stream_index)
            .ok_or_else(|| Error::new(ErrorKind::NoVideo, "video stream vanished"))?;
        let video = VideoSettings {
            enc_tb,
            fps,
            // H.264 in 4:2:0 needs even sizes: odd ones are padded by one
            // black row/column (as `-vf pad=ceil(iw/2)*2:ceil(ih/2)*2` does),
            // so no source pixel is lost, and the summary says so.
            size: (
                info.width + (info.width & 1),
                info.height + (info.height & 1),
            ),
        };
        let encoder = video.open_encoder(codec, info, opts, &src_video, global_header)?;
        let ost_index = video.add_stream(&mut octx, codec, &encoder, &src_video)?;
        let (map, aac) = if opts.audio == AudioPolicy::Drop {
            (HashMap::new(), HashMap::new())
        } else {
            add_audio_streams(&src, &mut octx, opts.audio, global_header, &info.path)?
        };
        drop(src);
        write_header(&mut octx, info)?;
        // The muxer may change stream time bases in write_header: read them now.
        let ost_tb = octx
            .stream(ost_index)
            .map(|s| s.time_base())
            .ok_or_else(|| Error::new(ErrorKind::Encode, "video stream vanished"))?;
        let audio = AudioCopy::open(&info.path, &octx, map, aac)?;
        let audio_streams = audio.as_ref().map_or(0, |a| a.map.len());
        let (enc_w, enc_h) = video.size;
        Ok(Encoder {
            out,
            octx,
            encoder,
            ost_index,
            enc_tb,
            ost_tb,
            default_duration: default_duration(info.fps, enc_tb),
            durations: HashMap::new(),
            audio,
            audio_streams,
            frames: 0,
            src_size: (info.width, info.height),
            src_path: info.path.clone(),
            padded: ((enc_w, enc_h) != (info.width, info.height)).then_some((enc_w, enc_h)),
            last: None,
            max_step: max_step(enc_tb),
            discontinuities: 0,
        })
    }

    /// Encodes one frame. The output starts at 0 (the source's start time
    /// is kept as the `source_start_time` tag) and keeps every step between
    /// frames, except at a discontinuity (a jump back, or forward by more
    /// than [`super::DISCONTINUITY_S`]): there the frame follows the one
    /// before after that frame's duration, and the jump is counted in the
    /// summary.
    ///
    /// # Errors
    /// `Encode` when x264 or the muxer fails.
    pub fn write(&mut self, frame: &mut DecodedFrame) -> Result<()> {
        let size = (frame.inner.width(), frame.inner.height());
        if size != self.src_size {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "the picture size changes mid-stream at frame {}: {}x{} after {}x{}; an MP4 output holds one size (split the recording there and process each part)",
                    frame.index(),
                    size.0,
                    size.1,
                    self.src_size.0,
                    self.src_size.1
                ),
            )
            .with_path(&self.src_path));
        }
        frame.clear_picture_type();
        let src = frame.pts();
        let d = if frame.duration() > 0 {
            frame.duration()
        } else {
            self.default_duration
        };
        let pts = match self.last {
            None => {
                if let Some(a) = self.audio.as_mut() {
                    a.offset_s = src as f64 * f64::from(self.enc_tb);
                }
                0
            }
            Some((last_src, last_out, last_d)) => {
                let step = src.saturating_sub(last_src);
                if step <= 0 || step > self.max_step {
                    self.discontinuities += 1;
                    last_out + last_d.max(1)
                } else {
                    last_out + step
                }
            }
        };
        self.last = Some((src, pts, d));
        frame.inner.set_pts(Some(pts));
        self.durations.insert(pts, d);
        let sent = match self.padded {
            None => self.encoder.send_frame(&frame.inner),
            Some((w, h)) => {
                let padded = pad_frame(&frame.inner, w, h)?;
                self.encoder.send_frame(&padded)
            }
        };
        sent.map_err(|e| enc_err("encoding failed", e).with_path(self.out.dest()))?;
        self.frames += 1;
        self.drain_packets()
    }

    fn drain_packets(&mut self) -> Result<()> {
        let mut packet = ff::Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {
                    let pts = packet.pts();
                    // x264 leaves durations at 0: give each packet its frame's.
                    let d = pts
                        .and_then(|p| self.durations.remove(&p))
                        .unwrap_or(self.default_duration);
                    packet.set_duration(d);
                    packet.set_stream(self.ost_index);
                    packet.rescale_ts(self.enc_tb, self.ost_tb);
                    if let Some(audio) = self.audio.as_mut() {
                        let t = packet
                            .dts()
                            .or(packet.pts())
                            .map(|t| t as f64 * f64::from(self.ost_tb));
                        audio
                            .write_until(&mut self.octx, t)
                            .map_err(|e| e.with_path(self.out.dest()))?;
                    }
                    packet
                        .write_interleaved(&mut self.octx)
                        .map_err(|e| enc_err("cannot write video", e).with_path(self.out.dest()))?;
                }
                Err(e) if is_again(&e) => return Ok(()),
                Err(ff::Error::Eof) => return Ok(()),
                Err(e) => return Err(enc_err("encoding failed", e).with_path(self.out.dest())),
            }
        }
    }

    /// Flushes the encoder, copies the rest of the audio, writes the MP4
    /// index and moves the file into place.
    ///
    /// # Errors
    /// `Encode`/`Io` on failure; the partial file is removed.
    pub fn finish(self) -> Result<EncodeSummary> {
        let (summary, out) = self.finish_unplaced()?;
        out.commit()?;
        Ok(summary)
    }

    /// Finishes the file as [`Encoder::finish`] does but leaves it under its
    /// temporary name, for the caller to place with whatever must appear
    /// with it (a redaction's record). The summary's `path` is where it
    /// will go.
    ///
    /// # Errors
    /// As [`Encoder::finish`].
    pub(crate) fn finish_unplaced(mut self) -> Result<(EncodeSummary, PendingFile)> {
        let dest = self.out.dest().to_path_buf();
        self.encoder
            .send_eof()
            .map_err(|e| enc_err("cannot flush encoder", e).with_path(&dest))?;
        self.drain_packets()?;
        if let Some(audio) = self.audio.as_mut() {
            audio
                .write_until(&mut self.octx, None)
                .map_err(|e| e.with_path(&dest))?;
            let offset_s = audio.offset_s;
            for a in audio.aac.values_mut() {
                a.feed(None, offset_s, &mut self.octx)
                    .map_err(|e| e.with_path(&dest))?;
            }
        }
        self.octx
            .write_trailer()
            .map_err(|e| enc_err("cannot finish MP4", e).with_path(&dest))?;
        let Encoder {
            out,
            octx,
            frames,
            audio_streams,
            discontinuities,
            padded,
            ..
        } = self;
        // Close the file before it is renamed.
        drop(octx);
        Ok((
            EncodeSummary {
                path: out.dest().to_path_buf(),
                frames,
                audio_streams,
                discontinuities,
                padded_to: padded,
            },
            out,
        ))
    }
}

/// Time-base units of one frame at `fps` (at least 1; 1 when unknown).
fn default_duration(fps: f64, enc_tb: ff::Rational) -> i64 {
    if fps > 0.0 && f64::from(enc_tb) > 0.0 {
        ((1.0 / fps) / f64::from(enc_tb)).round().max(1.0) as i64
    } else {
        1
    }
}

/// Largest step between frames, in `enc_tb` units, that is no discontinuity.
fn max_step(enc_tb: ff::Rational) -> i64 {
    if f64::from(enc_tb) > 0.0 {
        (super::DISCONTINUITY_S / f64::from(enc_tb)) as i64
    } else {
        i64::MAX
    }
}

/// How the video is encoded: time base, frame rate and (even) picture size.
struct VideoSettings {
    enc_tb: ff::Rational,
    fps: ff::Rational,
    size: (u32, u32),
}

impl VideoSettings {
    /// Configures and opens the H.264 encoder (x264 options from `opts`).
    fn open_encoder(
        &self,
        codec: ff::Codec,
        info: &VideoInfo,
        opts: &EncodeOptions,
        src_video: &ff::format::stream::Stream,
        global_header: bool,
    ) -> Result<ff::encoder::Video> {
        let mut ctx = ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| enc_err("cannot create H.264 encoder", e))?;
        ctx.set_width(self.size.0);
        ctx.set_height(self.size.1);
        let yuvj = info.pixel_format == "yuvj420p";
        ctx.set_format(if yuvj {
            ff::format::Pixel::YUVJ420P
        } else {
            ff::format::Pixel::YUV420P
        });
        ctx.set_time_base(self.enc_tb);
        if self.fps.numerator() > 0 {
            ctx.set_frame_rate(Some(self.fps));
        }
        {
            // SAFETY: both pointers are valid: the source stream's parameters
            // (owned by the open input `src_video` borrows) and the unopened
            // encoder context. We copy the aspect ratio and colour
            // description so players show the same picture, and set the
            // thread count before the encoder opens.
            unsafe {
                let sp = src_video.parameters().as_ptr();
                let e = ctx.as_mut_ptr();
                (*e).sample_aspect_ratio = (*sp).sample_aspect_ratio;
                (*e).color_range = (*sp).color_range;
                (*e).color_primaries = (*sp).color_primaries;
                (*e).color_trc = (*sp).color_trc;
                (*e).colorspace = (*sp).color_space;
                (*e).chroma_sample_location = (*sp).chroma_location;
                (*e).thread_count = i32::try_from(opts.threads).unwrap_or(0);
            }
        }
        if global_header {
            // OR the bit in: overwriting would clear flags x264 relies on.
            // SAFETY: reads and writes the flags field of the unopened
            // encoder context we own.
            unsafe {
                (*ctx.as_mut_ptr()).flags |= ff::ffi::AV_CODEC_FLAG_GLOBAL_HEADER as i32;
            }
        }
        let mut dict = ff::Dictionary::new();
        dict.set("crf", &opts.crf.to_string());
        dict.set("preset", opts.preset.as_str());
        if opts.threading == Threading::Slices {
            dict.set("x264-params", "sliced-threads=1");
        }
        ctx.open_with(dict)
            .map_err(|e| enc_err("cannot open H.264 encoder", e))
    }

    /// Adds the output video stream for `encoder`; returns its index.
    fn add_stream(
        &self,
        octx: &mut ff::format::context::Output,
        codec: ff::Codec,
        encoder: &ff::encoder::Video,
        src_video: &ff::format::stream::Stream,
    ) -> Result<usize> {
        let mut ost = octx
            .add_stream(codec)
            .map_err(|e| enc_err("cannot add video stream", e))?;
        ost.set_parameters(encoder);
        ost.set_time_base(self.enc_tb);
        super::copy_display_matrix(src_video, &mut ost);
        if self.fps.numerator() > 0 {
            ost.set_avg_frame_rate(self.fps);
        }
        Ok(ost.index())
    }
}

/// Input stream index -> (output stream index, input and output time base).
type AudioMap = HashMap<usize, (usize, ff::Rational, ff::Rational)>;

/// Adds an output stream per audio stream of `src`: copied, re-encoded to AAC, or refused.
fn add_audio_streams(
    src: &ff::format::context::Input,
    octx: &mut ff::format::context::Output,
    policy: AudioPolicy,
    global_header: bool,
    src_path: &Path,
) -> Result<(AudioMap, HashMap<usize, AacStream>)> {
    let mut map = HashMap::new();
    let mut aac = HashMap::new();
    for ist in src.streams() {
        if ist.parameters().medium() != ff::media::Type::Audio {
            continue;
        }
        let id = ist.parameters().id();
        // SAFETY: octx.format() wraps the static AVOutputFormat of
        // the muxer; avformat_query_codec only reads it.
        let ok = unsafe {
            ff::ffi::avformat_query_codec(
                octx.format().as_ptr(),
                id.into(),
                ff::ffi::FF_COMPLIANCE_NORMAL,
            )
        };
        if ok != 1 && policy == AudioPolicy::Aac {
            let a = AacStream::new(&ist, octx, global_header)?;
            map.insert(
                ist.index(),
                (a.out_idx, ist.time_base(), ff::Rational::new(0, 1)),
            );
            aac.insert(ist.index(), a);
            continue;
        }
        if ok != 1 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "audio stream #{} ({}) cannot be copied into MP4; re-encode it (audio aac) or drop it (audio drop)",
                    ist.index(),
                    id.name()
                ),
            )
            .with_path(src_path));
        }
        let mut ost = octx
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(|e| enc_err("cannot add audio stream", e))?;
        ost.set_parameters(ist.parameters());
        // SAFETY: the new stream's codecpar is valid; a source
        // container's codec tag may not be valid in MP4, so let the
        // muxer choose.
        unsafe {
            (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
        }
        map.insert(
            ist.index(),
            (ost.index(), ist.time_base(), ff::Rational::new(0, 1)),
        );
    }
    Ok((map, aac))
}

/// Writes the MP4 header, tagging where the source started (`source_start_time`).
fn write_header(octx: &mut ff::format::context::Output, info: &VideoInfo) -> Result<()> {
    let start_s = info.start_pts as f64 * info.time_base_f64();
    let mut header_opts = ff::Dictionary::new();
    if start_s != 0.0 {
        // The output starts at 0; where the source started is kept.
        let mut meta = ff::Dictionary::new();
        meta.set("source_start_time", &format!("{start_s:.6}"));
        octx.set_metadata(meta);
        header_opts.set("movflags", "use_metadata_tags");
    }
    octx.write_header_with(header_opts)
        .map_err(|e| enc_err("cannot write MP4 header", e))?;
    Ok(())
}

/// `src` (8-bit 4:2:0) on a `w`x`h` canvas: the picture at the top left,
/// black to the right and below, and every property (timestamps, colour,
/// side data) of the source frame.
fn pad_frame(src: &ff::frame::Video, w: u32, h: u32) -> Result<ff::frame::Video> {
    let mut out = ff::frame::Video::new(src.format(), w, h);
    let full_range = src.format() == ff::format::Pixel::YUVJ420P;
    for i in 0..3 {
        let black = match (i, full_range) {
            (0, true) => 0u8,
            (0, false) => 16,
            _ => 128,
        };
        let (sw, sh, ss) = (
            src.plane_width(i) as usize,
            src.plane_height(i) as usize,
            src.stride(i),
        );
        let (dh, ds) = (out.plane_height(i) as usize, out.stride(i));
        let data = src.data(i);
        let dst = out.data_mut(i);
        for y in 0..dh {
            let row = &mut dst[y * ds..(y + 1) * ds];
            if y < sh {
                row[..sw].copy_from_slice(&data[y * ss..y * ss + sw]);
                row[sw..].fill(black);
            } else {
                row.fill(black);
            }
        }
    }
    // SAFETY: both frames are valid and owned here; av_frame_copy_props
    // copies metadata fields and side data, not the picture buffers.
    let ret = unsafe { ff::ffi::av_frame_copy_props(out.as_mut_ptr(), src.as_ptr()) };
    if ret < 0 {
        return Err(Error::new(
            ErrorKind::Io,
            format!("cannot pad the picture: {}", ff::Error::from(ret)),
        ));
    }
    Ok(out)
}

/// One audio stream decoded and re-encoded to AAC (for audio MP4 cannot
/// hold, such as G.711).
struct AacStream {
    decoder: ff::decoder::Audio,
    encoder: ff::encoder::Audio,
    in_tb: ff::Rational,
    out_idx: usize,
    out_tb: ff::Rational,
    channels: usize,
    rate: i32,
    frame_size: usize,
    /// Decoded samples waiting for a full encoder frame, per channel.
    fifo: Vec<Vec<f32>>,
    /// Pts (in samples) of the first sample in `fifo`.
    next_pts: Option<i64>,
    flushed: bool,
}

fn aac_err(what: &str, e: ff::Error) -> Error {
    Error::new(ErrorKind::Encode, format!("AAC audio: {what}: {e}"))
}

impl AacStream {
    fn new(
        ist: &ff::format::stream::Stream,
        octx: &mut ff::format::context::Output,
        global_header: bool,
    ) -> Result<Self> {
        let unsupported = |what: String| {
            Error::new(
                ErrorKind::Unsupported,
                format!(
                    "audio stream #{}: {what}; drop the audio (audio drop)",
                    ist.index()
                ),
            )
        };
        let decoder = ff::codec::context::Context::from_parameters(ist.parameters())
            .and_then(|c| c.decoder().audio())
            .map_err(|e| {
                unsupported(format!(
                    "cannot decode {}: {e}",
                    ist.parameters().id().name()
                ))
            })?;
        let channels = usize::from(decoder.channels()).max(1);
        let rate = i32::try_from(decoder.rate()).unwrap_or(0);
        if rate <= 0 || channels > 8 {
            return Err(unsupported(format!(
                "{} Hz, {channels} channels cannot be encoded to AAC",
                decoder.rate()
            )));
        }
        let codec = ff::encoder::find(ff::codec::Id::AAC)
            .ok_or_else(|| unsupported("this FFmpeg has no AAC encoder".into()))?;
        let mut ctx = ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(|e| aac_err("cannot create encoder", e))?;
        ctx.set_rate(rate);
        ctx.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
        ctx.set_time_base(ff::Rational::new(1, rate));
        ctx.set_bit_rate(64_000 * channels.min(2));
        // SAFETY: the unopened encoder context is ours; the channel layout
        // (the new API and the legacy fields FFmpeg 5 still reads) is set
        // before avcodec_open2, and the flags are ORed in.
        unsafe {
            let p = ctx.as_mut_ptr();
            ff::ffi::av_channel_layout_default(&mut (*p).ch_layout, channels as i32);
            #[allow(deprecated)]
            {
                (*p).channels = channels as i32;
                (*p).channel_layout = (*p).ch_layout.u.mask;
            }
            if global_header {
                (*p).flags |= ff::ffi::AV_CODEC_FLAG_GLOBAL_HEADER as i32;
            }
        }
        let encoder = ctx
            .open_as(codec)
            .map_err(|e| aac_err("cannot open encoder", e))?;
        let frame_size = (encoder.frame_size() as usize).max(1);
        let out_idx = {
            let mut ost = octx
                .add_stream(codec)
                .map_err(|e| aac_err("cannot add stream", e))?;
            ost.set_parameters(&encoder);
            ost.set_time_base(ff::Rational::new(1, rate));
            ost.index()
        };
        Ok(AacStream {
            decoder,
            encoder,
            in_tb: ist.time_base(),
            out_idx,
            out_tb: ff::Rational::new(1, rate),
            channels,
            rate,
            frame_size,
            fifo: vec![Vec::new(); channels],
            next_pts: None,
            flushed: false,
        })
    }

    /// Decodes `packet` (`None` flushes everything) and writes every full
    /// AAC frame it completes. Timestamps are moved back by `offset_s`.
    fn feed(
        &mut self,
        packet: Option<&ff::Packet>,
        offset_s: f64,
        octx: &mut ff::format::context::Output,
    ) -> Result<()> {
        if self.flushed {
            return Ok(());
        }
        match packet {
            Some(p) => {
                if self.next_pts.is_none() {
                    let t = p.pts().or(p.dts()).unwrap_or(0) as f64 * f64::from(self.in_tb);
                    self.next_pts =
                        Some(((t - offset_s) * f64::from(self.rate)).round().max(0.0) as i64);
                }
                // A damaged audio packet is skipped, as FFmpeg's tools do.
                if self.decoder.send_packet(p).is_err() {
                    return Ok(());
                }
            }
            None => {
                let _ = self.decoder.send_eof();
            }
        }
        let mut frame = ff::frame::Audio::empty();
        while self.decoder.receive_frame(&mut frame).is_ok() {
            self.push(&frame)?;
        }
        let last = packet.is_none();
        while self.fifo[0].len() >= self.frame_size || (last && !self.fifo[0].is_empty()) {
            let n = self.fifo[0].len().min(self.frame_size);
            self.encode(n, octx)?;
        }
        if last {
            self.flushed = true;
            self.encoder
                .send_eof()
                .map_err(|e| aac_err("cannot flush", e))?;
            self.drain(octx)?;
        }
        Ok(())
    }

    /// Appends a decoded frame's samples, as f32, to the FIFO.
    fn push(&mut self, frame: &ff::frame::Audio) -> Result<()> {
        use ff::format::sample::Sample as S;
        let n = frame.samples();
        let chans = usize::from(frame.channels()).max(1).min(self.channels);
        let planar = frame.is_planar();
        let (size, read): (usize, fn(&[u8]) -> f32) = match frame.format() {
            S::U8(_) => (1, |b| (f32::from(b[0]) - 128.0) / 128.0),
            S::I16(_) => (2, |b| f32::from(i16::from_ne_bytes([b[0], b[1]])) / 32768.0),
            S::I32(_) => (4, |b| {
                i32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0
            }),
            S::F32(_) => (4, |b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            S::F64(_) => (8, |b| {
                f64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }),
            other => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("audio sample format {other:?} cannot be re-encoded; drop the audio (audio drop)"),
                ))
            }
        };
        let total = usize::from(frame.channels()).max(1);
        for ch in 0..chans {
            let (plane, step, first) = if planar {
                (frame.data(ch), size, 0)
            } else {
                (frame.data(0), size * total, ch * size)
            };
            for i in 0..n {
                let at = first + i * step;
                let Some(b) = plane.get(at..at + size) else {
                    break;
                };
                self.fifo[ch].push(read(b));
            }
        }
        // Channels the frame lacks (never expected) stay silent.
        let len = self.fifo[0].len();
        for f in &mut self.fifo[chans..] {
            f.resize(len, 0.0);
        }
        Ok(())
    }

    fn encode(&mut self, n: usize, octx: &mut ff::format::context::Output) -> Result<()> {
        let layout = ff::ChannelLayout::default(self.channels as i32);
        let mut frame = ff::frame::Audio::new(
            ff::format::Sample::F32(ff::format::sample::Type::Planar),
            n,
            layout,
        );
        frame.set_rate(self.rate as u32);
        for ch in 0..self.channels {
            let rest = self.fifo[ch].split_off(n);
            let samples = std::mem::replace(&mut self.fifo[ch], rest);
            frame.plane_mut::<f32>(ch)[..n].copy_from_slice(&samples);
        }
        let pts = self.next_pts.unwrap_or(0);
        frame.set_pts(Some(pts));
        self.next_pts = Some(pts + n as i64);
        self.encoder
            .send_frame(&frame)
            .map_err(|e| aac_err("encoding failed", e))?;
        self.drain(octx)
    }

    fn drain(&mut self, octx: &mut ff::format::context::Output) -> Result<()> {
        let mut packet = ff::Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {
                    packet.set_stream(self.out_idx);
                    packet.rescale_ts(ff::Rational::new(1, self.rate), self.out_tb);
                    packet
                        .write_interleaved(octx)
                        .map_err(|e| aac_err("cannot write", e))?;
                }
                Err(e) if is_again(&e) => return Ok(()),
                Err(ff::Error::Eof) => return Ok(()),
                Err(e) => return Err(aac_err("encoding failed", e)),
            }
        }
    }
}
