//! `probe`: what a video file holds, with exact counts rather than header claims.

use super::{is_pre_roll, open_input, rational, rational_f64, read_packet, video_stream_index};
use crate::error::{Error, ErrorKind, Result};
use ffmpeg_next as ff;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A keyframe of the video stream: a point where decoding can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Keyframe {
    /// Its frame index in presentation order.
    pub index: u64,
    /// Presentation timestamp, in the stream's time base.
    pub pts: i64,
    /// Decode timestamp, in the stream's time base.
    pub dts: i64,
    /// Whether pictures that show before this keyframe follow it in decode
    /// order (open-GOP leading pictures).
    pub leading_pictures: bool,
    /// Size of the keyframe's packet in bytes.
    pub bytes: u64,
    /// Largest packet after it, up to the next keyframe in decode order
    /// (0 if none): small ones mean a still picture, a cue for skipping the
    /// stretch without decoding it.
    pub max_inter_bytes: u64,
}

/// One audio stream of the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioStreamInfo {
    /// Stream index in the container.
    pub index: usize,
    /// Codec name (`aac`, `mp3`, `pcm_s16le`, ...).
    pub codec: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
}

/// What `probe` found in a video file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoInfo {
    /// The file probed.
    pub path: PathBuf,
    /// Container format name as FFmpeg reports it (`mov,mp4,m4a,3gp,3g2,mj2`, `avi`).
    pub container: String,
    /// Video codec name (`h264`, `msmpeg4v3`, ...).
    pub codec: String,
    /// Index of the video stream in the container.
    pub stream_index: usize,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Pixel format of the coded pictures (`yuv420p`, ...).
    pub pixel_format: String,
    /// Average frame rate as a fraction (numerator, denominator).
    pub frame_rate: (i32, i32),
    /// Average frame rate in frames per second.
    pub fps: f64,
    /// Time base of the video stream's timestamps (numerator, denominator).
    pub time_base: (i32, i32),
    /// First presentation timestamp of the video stream (time base units).
    pub start_pts: i64,
    /// Duration of the video stream in seconds, from the first frame's start
    /// to the last frame's end, measured from the packets.
    pub duration_s: f64,
    /// Duration the container header states, in seconds, if it states one.
    pub container_duration_s: Option<f64>,
    /// Number of video frames, counted packet by packet (not read from the header).
    pub frames: u64,
    /// Number of frames the header claims, if it claims any. May disagree
    /// with `frames` when the header lies or the file is truncated.
    pub header_frames: Option<u64>,
    /// Keyframes in decode order.
    pub keyframes: Vec<Keyframe>,
    /// `creation_time` tag of the container or video stream, if tagged (ISO 8601).
    pub creation_time: Option<String>,
    /// Audio streams.
    pub audio: Vec<AudioStreamInfo>,
    /// Timestamp discontinuities: places where the video's decode
    /// timestamps jump back, or forward by more than
    /// [`DISCONTINUITY_S`] (an MPEG-TS recorder restarting its clock, a
    /// spliced export). Outputs close such gaps up (see
    /// [`super::Encoder`]); `duration_s` counts each as one frame.
    pub discontinuities: u64,
    /// Video streams in the file. Obscura works on one, `stream_index`
    /// (FFmpeg's choice of the best); the others are left out of every
    /// output, and commands say so.
    pub video_streams: usize,
    /// Whether every video packet carries a presentation timestamp.
    /// Segment-parallel decoding, seeking to a keyframe and stream-copy cuts
    /// need them; without them decoding falls back to sequential (and cuts
    /// are refused).
    pub timestamps_complete: bool,
    /// How the file shows it was cut short, in words, where its header
    /// declares no frame count to check the frames against (those are
    /// [`VideoInfo::declared_frames_missing`]): an MPEG-TS file that ends
    /// inside a transport-stream packet, or a Matroska file whose header
    /// declares a longer duration than its packets reach. Every frame it
    /// holds is still decoded; this is what a record or summary reports
    /// beside it. `None` when nothing says so (a file cut exactly between
    /// packets and without a declared length cannot be told from a whole
    /// one).
    pub cut_short: Option<String>,
}

impl VideoInfo {
    /// The frame count the header declares when it declares more frames
    /// than the file holds: a file cut short (a recording stopped by a
    /// power cut) or whose header lies. Every frame the file holds is
    /// still decoded; this is what a record or summary reports beside it.
    pub fn declared_frames_missing(&self) -> Option<u64> {
        self.header_frames.filter(|&h| h > self.frames)
    }

    /// Checks that a pass over `path` saw every frame probe counted: work
    /// that missed frames (a damaged stream) must not pass. `outcome` says
    /// what the failure means for the caller's output, if anything.
    ///
    /// # Errors
    /// `Corrupt` naming both counts.
    pub fn check_all_decoded(&self, decoded: u64, path: &Path, outcome: &str) -> Result<()> {
        if decoded == self.frames {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "decoded {decoded} of the {} frames the file holds (damaged stream){outcome}",
                self.frames
            ),
        )
        .with_path(path))
    }

    /// Seconds per time-base unit.
    pub fn time_base_f64(&self) -> f64 {
        let (n, d) = self.time_base;
        if d == 0 {
            0.0
        } else {
            f64::from(n) / f64::from(d)
        }
    }
}

/// A jump in a video stream's timestamps larger than this many seconds (or
/// any jump back) is a discontinuity, not a gap in the recording: FFmpeg's
/// own `-dts_delta_threshold` default for formats such as MPEG-TS.
pub const DISCONTINUITY_S: f64 = 10.0;

/// Probes `path`: stream facts from the header, then one pass over the
/// packets (no decoding) to count frames, find keyframes and measure the
/// duration exactly.
///
/// # Errors
/// `NotFound`/`Io` when the file cannot be read, `NotMedia` when it is not a
/// media file, `NoVideo` when it has no video stream, `Unsupported` when no
/// decoder exists for the codec, `Corrupt` on a read error in the middle.
pub fn probe(path: impl AsRef<Path>) -> Result<VideoInfo> {
    let path = path.as_ref();
    let mut ictx = open_input(path)?;
    let vidx = video_stream_index(&ictx, path)?;

    let container = ictx.format().name().to_string();
    let container_duration_s =
        (ictx.duration() > 0).then(|| ictx.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE));
    let container_creation_time = ictx.metadata().get("creation_time").map(str::to_string);
    let video_streams = count_video_streams(&ictx);
    let audio = audio_streams(&ictx);
    let stream = VideoStreamFacts::read(&ictx, vidx, path, container_creation_time)?;

    let tb = rational_f64(stream.time_base);
    let stream_tbs: Vec<f64> = ictx
        .streams()
        .map(|s| rational_f64(s.time_base()))
        .collect();
    // SAFETY: reads one plain field of the open format context we own.
    let from_header = unsafe {
        (*ictx.as_ptr()).duration_estimation_method
            == ff::ffi::AVDurationEstimationMethod::AVFMT_DURATION_FROM_STREAM
    };
    let mut scan = PacketScan::new(tb);
    scan.read_all(&mut ictx, vidx, path, &stream_tbs)?;
    if scan.timestamps.is_empty() {
        return Err(Error::new(ErrorKind::Corrupt, "video stream has no packets").with_path(path));
    }
    if scan.timestamps_complete
        && container == "avi"
        && !keys_where_index_says(&ictx, vidx, &scan.key_positions)
    {
        scan.timestamps_complete = false;
    }
    let mut sorted = scan.timestamps.clone();
    sorted.sort_unstable();
    let first = sorted[0];
    let start_pts = if stream.start != ff::ffi::AV_NOPTS_VALUE {
        stream.start
    } else {
        first
    };
    let fps = rational_f64(stream.frame_rate);
    let duration = scan.duration(&sorted, fps, tb);
    if scan.jumped_back {
        // Sorting by timestamp no longer gives presentation order.
        scan.timestamps_complete = false;
    }
    // Matroska's declared duration runs from timestamp 0 (not from the
    // first packet) to the end of the last: it is compared with how far
    // the packets reach from 0, so a file whose timestamps start late is
    // not taken for one cut short.
    let cut_short = ends_inside_ts_packet(path, &container).or_else(|| {
        let declared =
            container_duration_s.filter(|_| from_header && container.contains("matroska"))?;
        header_duration_unreached(declared, scan.end_s, fps)
    });
    Ok(VideoInfo {
        path: path.to_path_buf(),
        container,
        codec: stream.codec_id.name().to_string(),
        stream_index: vidx,
        width: u32::try_from(stream.width).unwrap_or(0),
        height: u32::try_from(stream.height).unwrap_or(0),
        pixel_format: stream.pixel_format,
        frame_rate: rational(stream.frame_rate),
        fps,
        time_base: rational(stream.time_base),
        start_pts,
        duration_s: duration as f64 * tb,
        container_duration_s,
        frames: scan.timestamps.len() as u64,
        header_frames: stream.header_frames,
        keyframes: scan.keyframes(&sorted),
        creation_time: stream.creation_time,
        audio,
        discontinuities: scan.discontinuities,
        video_streams,
        timestamps_complete: scan.timestamps_complete,
        cut_short,
    })
}

/// Transport-stream packet sizes: plain, M2TS/Blu-ray (4-byte timecode
/// first), and with 16 bytes of Reed-Solomon parity.
const TS_PACKET_SIZES: [(u64, u64); 3] = [(188, 0), (192, 4), (204, 0)];

/// For an MPEG-TS file, whether its length is not a whole number of
/// packets (the size found from the sync bytes at its start): a file
/// cut short mid-packet, in words. `None` for other containers, for a
/// whole number of packets, and when the packet size cannot be told.
fn ends_inside_ts_packet(path: &Path, container: &str) -> Option<String> {
    use std::io::Read;
    if container != "mpegts" {
        return None;
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(4 * 204 + 4)
        .read_to_end(&mut head)
        .ok()?;
    let len = std::fs::metadata(path).ok()?.len();
    let (size, _) = TS_PACKET_SIZES.iter().copied().find(|&(size, sync)| {
        (0..4u64).all(|k| {
            usize::try_from(k * size + sync)
                .ok()
                .and_then(|i| head.get(i))
                == Some(&0x47)
        })
    })?;
    let rem = len % size;
    (rem != 0)
        .then(|| format!("the file ends {rem} bytes into a {size}-byte transport-stream packet"))
}

/// Whether `held_s`, how far the file's packets reach from timestamp 0,
/// falls short of the `declared_s` its header states by more than a
/// second and two frames: a file cut short, in words.
fn header_duration_unreached(declared_s: f64, held_s: f64, fps: f64) -> Option<String> {
    let slack = 1.0 + if fps > 0.0 { 2.0 / fps } else { 0.0 };
    (held_s.is_finite() && held_s >= 0.0 && declared_s - held_s > slack).then(|| {
        format!("its header declares {declared_s:.1} s but its packets reach {held_s:.1} s")
    })
}

/// Counts the file's video streams, leaving out attached pictures (cover art).
fn count_video_streams(ictx: &ff::format::context::Input) -> usize {
    ictx.streams()
        .filter(|s| {
            s.parameters().medium() == ff::media::Type::Video
                && !s
                    .disposition()
                    .contains(ff::format::stream::Disposition::ATTACHED_PIC)
        })
        .count()
}

/// Describes each audio stream of the file, in stream order.
fn audio_streams(ictx: &ff::format::context::Input) -> Vec<AudioStreamInfo> {
    let mut audio = Vec::new();
    for s in ictx.streams() {
        let params = s.parameters();
        if params.medium() == ff::media::Type::Audio {
            // SAFETY: `params` wraps the stream's live AVCodecParameters,
            // owned by `ictx`, which outlives this read of two plain fields.
            let (rate, channels) = unsafe {
                let p = params.as_ptr();
                ((*p).sample_rate, (*p).ch_layout.nb_channels)
            };
            audio.push(AudioStreamInfo {
                index: s.index(),
                codec: params.id().name().to_string(),
                sample_rate: u32::try_from(rate).unwrap_or(0),
                channels: u16::try_from(channels).unwrap_or(0),
            });
        }
    }
    audio
}

/// What the header says about the video stream probe works on.
struct VideoStreamFacts {
    codec_id: ff::codec::Id,
    width: i32,
    height: i32,
    pixel_format: String,
    /// The container's `creation_time` tag, else the stream's, unless unset.
    creation_time: Option<String>,
    time_base: ff::Rational,
    frame_rate: ff::Rational,
    header_frames: Option<u64>,
    /// The stream's start time (`AV_NOPTS_VALUE` when not stated).
    start: i64,
}

impl VideoStreamFacts {
    /// Reads stream `vidx`'s facts (`Unsupported` without a decoder for its codec).
    fn read(
        ictx: &ff::format::context::Input,
        vidx: usize,
        path: &Path,
        creation_time: Option<String>,
    ) -> Result<Self> {
        let stream = ictx.stream(vidx).ok_or_else(|| {
            Error::new(ErrorKind::NoVideo, "video stream vanished").with_path(path)
        })?;
        let creation_time =
            creation_time.or_else(|| stream.metadata().get("creation_time").map(str::to_string));
        let params = stream.parameters();
        let codec_id = params.id();
        if ff::codec::decoder::find(codec_id).is_none() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("no decoder for video codec {}", codec_id.name()),
            )
            .with_path(path));
        }
        // SAFETY: `params` wraps the stream's live AVCodecParameters, owned
        // by `ictx`, which outlives this read of three plain fields.
        let (width, height, raw_format) = unsafe {
            let p = params.as_ptr();
            ((*p).width, (*p).height, (*p).format)
        };
        let mut frame_rate = stream.avg_frame_rate();
        if frame_rate.denominator() == 0 || frame_rate.numerator() == 0 {
            frame_rate = stream.rate();
        }
        Ok(VideoStreamFacts {
            codec_id,
            width,
            height,
            pixel_format: pixel_format_name(raw_format),
            // MP4 writes 0 (1970-01-01) when nobody set the time: that is no time.
            creation_time: creation_time.filter(|t| !t.starts_with("1970-01-01T00:00:00")),
            time_base: stream.time_base(),
            frame_rate,
            header_frames: u64::try_from(stream.frames()).ok().filter(|&n| n > 0),
            start: stream.start_time(),
        })
    }
}

/// A keyframe as found: pts, dts, leading pictures, bytes, max inter bytes.
type KeyPacket = (i64, i64, bool, u64, u64);

/// The tally of one pass over the video packets (no decoding).
struct PacketScan {
    /// Each frame's timestamp, in decode order.
    timestamps: Vec<i64>,
    /// Keyframes, in decode order.
    keys: Vec<KeyPacket>,
    /// Each keyframe's decode timestamp and byte position in the file.
    key_positions: Vec<(Option<i64>, isize)>,
    /// Whether every packet so far carried a presentation timestamp.
    timestamps_complete: bool,
    /// Latest end (timestamp plus duration) of any packet.
    end_max: i64,
    /// Largest step between decode timestamps that is not a discontinuity.
    max_step: i64,
    discontinuities: u64,
    /// Whether any discontinuity jumped back.
    jumped_back: bool,
    /// Decode-order timestamp of the previous packet, and the stretch of
    /// continuous timestamps so far: the start of the current run, and the
    /// sum of the finished runs' lengths.
    prev_dts: Option<i64>,
    run_start: i64,
    runs_len: i64,
    /// Latest end of any packet of any stream, seconds.
    end_s: f64,
}

impl PacketScan {
    /// An empty tally for a stream whose time base is `tb` seconds.
    fn new(tb: f64) -> Self {
        PacketScan {
            timestamps: Vec::new(),
            keys: Vec::new(),
            key_positions: Vec::new(),
            timestamps_complete: true,
            end_max: i64::MIN,
            max_step: if tb > 0.0 {
                (DISCONTINUITY_S / tb) as i64
            } else {
                i64::MAX
            },
            discontinuities: 0,
            jumped_back: false,
            prev_dts: None,
            run_start: 0,
            runs_len: 0,
            end_s: f64::NEG_INFINITY,
        }
    }

    /// Reads every packet of `ictx`, tallying video stream `vidx`'s
    /// (pre-roll left out), and how far every stream's packets reach
    /// (`stream_tbs`: each stream's time base, seconds).
    fn read_all(
        &mut self,
        ictx: &mut ff::format::context::Input,
        vidx: usize,
        path: &Path,
        stream_tbs: &[f64],
    ) -> Result<()> {
        let mut packet = ff::Packet::empty();
        // A packet the demuxer flagged corrupt is counted once another
        // follows it: the last packet of a file cut short (the demuxer
        // returns what bytes there are, flagged corrupt) is not a frame.
        // The decoder holds such packets back the same way.
        let mut held: Option<ff::Packet> = None;
        while read_packet(ictx, &mut packet, path).map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "{} after {} video packets",
                    e.message(),
                    self.timestamps.len()
                ),
            )
            .with_path(path)
        })? {
            if let (Some(tb), Some(t)) = (
                stream_tbs.get(packet.stream()),
                packet.pts().or(packet.dts()),
            ) {
                let end = t.saturating_add(packet.duration().max(0)) as f64 * tb;
                self.end_s = self.end_s.max(end);
            }
            if packet.stream() != vidx {
                continue;
            }
            if is_pre_roll(&packet) {
                continue;
            }
            if let Some(h) = held.take() {
                self.add(&h);
            }
            if packet.is_corrupt() {
                held = Some(packet.clone());
            } else {
                self.add(&packet);
            }
        }
        Ok(())
    }

    /// Tallies one video packet.
    fn add(&mut self, packet: &ff::Packet) {
        if let Some(d) = packet.dts().or(packet.pts()) {
            self.follow_dts(d);
        }
        // A packet with a decode timestamp only (AVI with B-frames, packed
        // or not, and other dts-only containers) is counted, but the
        // decoder's picture times then cannot be matched to the packets':
        // keyframe positions, segment boundaries and cuts would all be
        // guesses, so such files decode sequentially and are not cut.
        if packet.pts().is_none() {
            self.timestamps_complete = false;
        }
        let ts = match packet.pts().or(packet.dts()) {
            Some(t) => t,
            None => self.timestamps.last().map_or(0, |t| t + 1),
        };
        self.end_max = self
            .end_max
            .max(ts.saturating_add(packet.duration().max(0)));
        let bytes = packet.size() as u64;
        if packet.is_key() {
            self.key_positions.push((packet.dts(), packet.position()));
            self.keys
                .push((ts, packet.dts().unwrap_or(ts), false, bytes, 0));
        } else if let Some(k) = self.keys.last_mut() {
            if ts < k.0 {
                k.2 = true;
            }
            k.4 = k.4.max(bytes);
        }
        self.timestamps.push(ts);
    }

    /// Follows the decode timestamps' runs, counting a jump back or far forward.
    fn follow_dts(&mut self, d: i64) {
        match self.prev_dts {
            None => self.run_start = d,
            Some(p) if d < p || d - p > self.max_step => {
                self.discontinuities += 1;
                self.jumped_back |= d < p;
                self.runs_len += p - self.run_start;
                self.run_start = d;
            }
            Some(_) => {}
        }
        self.prev_dts = Some(d);
    }

    /// The duration in time-base units, from the sorted (non-empty) frame timestamps.
    fn duration(&self, sorted: &[i64], fps: f64, tb: f64) -> i64 {
        let first = sorted[0];
        // A last packet with no duration still shows for one nominal frame.
        let last = sorted[sorted.len() - 1];
        let end = if self.end_max > last {
            self.end_max
        } else if fps > 0.0 && tb > 0.0 {
            last + (1.0 / fps / tb).round() as i64
        } else {
            last
        };
        let nominal = if fps > 0.0 && tb > 0.0 {
            (1.0 / fps / tb).round() as i64
        } else {
            1
        };
        if self.discontinuities > 0 {
            // Each continuous run, plus one frame for each jump and the last.
            self.runs_len
                + self.prev_dts.map_or(0, |p| p - self.run_start)
                + nominal * (self.discontinuities as i64 + 1)
        } else {
            end - first
        }
    }

    /// The keyframes, indexed in presentation order by the sorted frame timestamps.
    fn keyframes(&self, sorted: &[i64]) -> Vec<Keyframe> {
        self.keys
            .iter()
            .map(
                |&(pts, dts, leading_pictures, bytes, max_inter_bytes)| Keyframe {
                    index: sorted.partition_point(|&t| t < pts) as u64,
                    pts,
                    dts,
                    leading_pictures,
                    bytes,
                    max_inter_bytes,
                },
            )
            .collect()
    }
}

/// Whether seeking to each keyframe lands on the packet that reading the
/// file from the start found there. AVI timestamps are packet counters:
/// after damage the demuxer resynchronises and numbers the packets it still
/// finds from where it lost count, while a seek goes by the index, so the
/// two disagree about which picture carries which timestamp (on a copy of
/// vtest.avi with 300 KB overwritten, every frame after the damage). Such a
/// file must be decoded from the start only.
fn keys_where_index_says(
    ictx: &ff::format::context::Input,
    vidx: usize,
    keys: &[(Option<i64>, isize)],
) -> bool {
    let Some(stream) = ictx.stream(vidx) else {
        return false;
    };
    for &(dts, pos) in keys {
        let Some(dts) = dts else { return false };
        // SAFETY: the stream belongs to `ictx`, which is open and not being
        // read (the function takes a mutable pointer but only searches the
        // index); the entry returned (or null) points into its index, which
        // lives as long as the stream, and is read at once.
        let entry_pos = unsafe {
            let e = ff::ffi::avformat_index_get_entry_from_timestamp(
                stream.as_ptr().cast_mut(),
                dts,
                ff::ffi::AVSEEK_FLAG_ANY | ff::ffi::AVSEEK_FLAG_BACKWARD,
            );
            if e.is_null() || (*e).timestamp != dts {
                None
            } else {
                Some((*e).pos)
            }
        };
        // An AVI index entry points at the chunk header, 8 bytes before
        // the data a packet's position names.
        if let Some(p) = entry_pos {
            if pos >= 0 && p != pos as i64 && p + 8 != pos as i64 {
                return false;
            }
        }
    }
    true
}

/// FFmpeg's name for the pixel format the demuxer wrote as a plain integer.
///
/// The integer is matched against FFmpeg's own table of pixel-format
/// descriptors rather than converted into the `AVPixelFormat` enum: a value
/// the enum does not hold (a newer FFmpeg, a damaged header) would be
/// undefined behaviour as an enum, and here is simply "unknown".
fn pixel_format_name(raw: i32) -> String {
    let mut desc: *const ff::ffi::AVPixFmtDescriptor = std::ptr::null();
    loop {
        // SAFETY: av_pix_fmt_desc_next walks FFmpeg's static descriptor
        // table, taking null or a pointer it returned before, and returns
        // null after the last entry.
        desc = unsafe { ff::ffi::av_pix_fmt_desc_next(desc) };
        if desc.is_null() {
            return "unknown".to_string();
        }
        // SAFETY: `desc` is a non-null entry of the static table.
        let id = unsafe { ff::ffi::av_pix_fmt_desc_get_id(desc) };
        if id as i32 == raw {
            // SAFETY: a descriptor's name is a static NUL-terminated string.
            let name = unsafe { (*desc).name };
            if name.is_null() {
                return "unknown".to_string();
            }
            // SAFETY: checked non-null above; static for the process.
            return unsafe { std::ffi::CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned();
        }
    }
}
