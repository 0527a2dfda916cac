//! Everything that touches FFmpeg (through `ffmpeg-next`) lives in this module:
//! probing, sequential and segment-parallel decoding, H.264/MP4 encoding,
//! and stream copies of a range cut at keyframes (evidential masters).
//!
//! The rest of the crate sees pictures only as [`crate::frame::FrameView`]s
//! lent by [`DecodedFrame`], and media facts only as the plain structs here.
//! Every `unsafe` block carries a `// SAFETY:` comment.

mod convert;
mod decode;
mod encode;
mod parallel;
mod probe;
mod remux;
mod seek;

pub use convert::RgbConverter;
pub use decode::{DecodedFrame, Decoder};
pub use encode::{AudioPolicy, EncodeOptions, Encoder, Preset, Threading};
pub use parallel::{decode_files, open, DecodeOptions, Frames, ParallelDecoder};
pub use probe::{probe, AudioStreamInfo, Keyframe, VideoInfo, DISCONTINUITY_S};
pub use remux::{copy_range, plan_cut, Cut, Remuxed};
pub use seek::{frame_at, index_at_time, EveryNth, FramesFrom};

use crate::error::{Error, ErrorKind, Result};
use ffmpeg_next as ff;
use std::path::Path;
use std::sync::Once;

/// An swscale context that may move to another thread: decoders and
/// converters are handed to worker threads and to Python iterators.
pub(crate) struct Scaler(pub(crate) ff::software::scaling::Context);

// SAFETY: an SwsContext keeps no thread-local state and no reference to the
// thread that made it; FFmpeg only forbids using one context from two
// threads at once. A `Scaler` is owned by one decoder or converter and used
// through `&mut`, so it is only ever used by one thread at a time. It is
// deliberately not `Sync`.
unsafe impl Send for Scaler {}

/// Reads the next packet of `ictx` into `packet`; `false` at the end of the
/// file.
///
/// # Errors
/// `Corrupt` on a read error (a damaged or truncated file).
pub(crate) fn read_packet(
    ictx: &mut ff::format::context::Input,
    packet: &mut ff::Packet,
    path: &Path,
) -> Result<bool> {
    // av_read_frame writes a new reference into the packet without
    // releasing the one it held: reading into a reused packet leaked every
    // packet's buffer, so memory grew with the file's length. Dropping the
    // old packet (replacing it) unreferences it first.
    *packet = ff::Packet::empty();
    match packet.read(ictx) {
        Ok(()) => Ok(true),
        Err(ff::Error::Eof) => Ok(false),
        Err(e) => Err(Error::new(
            ErrorKind::Corrupt,
            format!("read error: {e} (file damaged or truncated)"),
        )
        .with_path(path)),
    }
}

/// Whether the demuxer marked `packet` as pre-roll: decoded for reference
/// but never shown (an edit list that starts between keyframes, as a
/// stream-copy cut writes). Such packets are not frames of the video.
pub(crate) fn is_pre_roll(packet: &ff::Packet) -> bool {
    // SAFETY: reads the flags field of a packet the caller owns.
    let flags = unsafe { (*ff::packet::Ref::as_ptr(packet)).flags };
    flags & ff::ffi::AV_PKT_FLAG_DISCARD != 0
}

/// Initialises FFmpeg once per process and quietens its logging: Obscura
/// reports problems through its own errors. Set `OBSCURA_FFMPEG_LOG` to
/// `error`, `warning`, `info` or `debug` to see FFmpeg's own messages.
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // `init` only registers codecs on old FFmpeg; it cannot fail on 5.x.
        let _ = ff::init();
        fixed_mmap_threshold();
        let level = match std::env::var("OBSCURA_FFMPEG_LOG").as_deref() {
            Ok("error") => ff::util::log::Level::Error,
            Ok("warning") => ff::util::log::Level::Warning,
            Ok("info") => ff::util::log::Level::Info,
            Ok("debug") => ff::util::log::Level::Debug,
            _ => ff::util::log::Level::Quiet,
        };
        ff::util::log::set_level(level);
    });
}

/// Keeps glibc's mmap threshold at its 128 KiB default instead of letting
/// it rise. Decoded pictures are large buffers allocated on decoder threads
/// and freed on the consumer's; once glibc raises the threshold (it does
/// after the first such free) they come from per-thread heaps that
/// fragment, and peak RSS of a segment-parallel transcode grew with the
/// recording's length (386 MB for 10 min of vtest.avi, 682 MB for 60 min).
/// Mapped buffers go back to the system when freed.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        // SAFETY: mallopt only sets an allocator tunable; setting the
        // threshold explicitly is documented to be safe at any time.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}

/// Opens `path` for demuxing, turning FFmpeg's terse errors into ones that
/// say what is wrong with the file.
pub(crate) fn open_input(path: &Path) -> Result<ff::format::context::Input> {
    init();
    let meta =
        std::fs::metadata(path).map_err(|e| Error::io(e, "cannot read input").with_path(path))?;
    if meta.is_dir() {
        return Err(
            Error::new(ErrorKind::NotMedia, "is a directory, not a video file").with_path(path),
        );
    }
    if meta.len() == 0 {
        return Err(Error::new(ErrorKind::NotMedia, "file is empty (0 bytes)").with_path(path));
    }
    let c = c_path(path)?;
    open_input_raw(&c).map_err(|e| {
        let msg = match e {
            ff::Error::InvalidData => {
                "not a recognised media file, or its header is damaged (for MP4: a file cut short before its index was written)".to_string()
            }
            ff::Error::Eof => "file ends before its header is complete (truncated)".to_string(),
            other => format!("cannot open as media: {other}"),
        };
        let kind = match e {
            ff::Error::InvalidData | ff::Error::Eof => ErrorKind::NotMedia,
            _ => ErrorKind::Io,
        };
        Error::new(kind, msg).with_path(path)
    })
}

/// `path` as the C string FFmpeg opens. On Unix any byte string is a valid
/// file name, so names that are not UTF-8 work (ffmpeg-next's own openers
/// panic on them).
fn c_path(path: &Path) -> Result<std::ffi::CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path
        .to_str()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                "file name is not valid Unicode; rename the file",
            )
            .with_path(path)
        })?
        .as_bytes()
        .to_vec();
    std::ffi::CString::new(bytes).map_err(|_| {
        Error::new(ErrorKind::InvalidArgument, "file name contains a NUL byte").with_path(path)
    })
}

/// avformat_open_input + avformat_find_stream_info on any OS path.
fn open_input_raw(
    c: &std::ffi::CStr,
) -> std::result::Result<ff::format::context::Input, ff::Error> {
    let mut ps = std::ptr::null_mut();
    // SAFETY: `c` is a NUL-terminated string that outlives the call; `ps`
    // starts null so avformat_open_input allocates the context, and frees
    // it itself on failure. On success the context is ours: it is closed
    // here if probing its streams fails, or handed to `Input`, whose drop
    // closes it.
    unsafe {
        match ff::ffi::avformat_open_input(
            &mut ps,
            c.as_ptr(),
            std::ptr::null(),
            std::ptr::null_mut(),
        ) {
            0 => match ff::ffi::avformat_find_stream_info(ps, std::ptr::null_mut()) {
                r if r >= 0 => Ok(ff::format::context::Input::wrap(ps)),
                e => {
                    ff::ffi::avformat_close_input(&mut ps);
                    Err(ff::Error::from(e))
                }
            },
            e => Err(ff::Error::from(e)),
        }
    }
}

/// Creates `path` for muxing as `format` (a muxer name), or the format its
/// extension names when `None`; works on any OS path.
pub(crate) fn open_output(
    path: &Path,
    format: Option<&str>,
) -> std::result::Result<ff::format::context::Output, ff::Error> {
    init();
    let c = c_path(path).map_err(|_| ff::Error::InvalidData)?;
    let fmt = format
        .map(|f| std::ffi::CString::new(f).map_err(|_| ff::Error::InvalidData))
        .transpose()?;
    let mut ps = std::ptr::null_mut();
    // SAFETY: both strings are NUL-terminated and outlive the calls. On
    // success avformat_alloc_output_context2 gives us a context with no I/O
    // yet; if avio_open fails we free that context (its `pb` is still
    // null). Otherwise the context and its open `pb` go to `Output`, whose
    // drop closes the I/O and frees the context.
    unsafe {
        let r = ff::ffi::avformat_alloc_output_context2(
            &mut ps,
            std::ptr::null(),
            fmt.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
            c.as_ptr(),
        );
        if r < 0 || ps.is_null() {
            return Err(ff::Error::from(r.min(-1)));
        }
        match ff::ffi::avio_open(&mut (*ps).pb, c.as_ptr(), ff::ffi::AVIO_FLAG_WRITE) {
            r if r >= 0 => Ok(ff::format::context::Output::wrap(ps)),
            e => {
                ff::ffi::avformat_free_context(ps);
                Err(ff::Error::from(e))
            }
        }
    }
}

/// Copies the display matrix (rotation/flip that players apply) of input
/// stream `ist` to output stream `ost`, if it has one. Returns whether it
/// did. Without it a phone or body-camera clip recorded sideways plays
/// sideways after transcode, redaction or export.
pub(crate) fn copy_display_matrix(
    ist: &ff::format::stream::Stream,
    ost: &mut ff::format::stream::StreamMut,
) -> bool {
    let kind = ff::ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX;
    // SAFETY: both streams are valid and owned by open contexts; the input
    // side data (if any) is `size` bytes that stay alive while `ist` is
    // borrowed; av_stream_new_side_data gives a fresh buffer of `size`
    // bytes owned by the output stream (or null), which we fill at once.
    unsafe {
        let mut size = 0usize;
        let data = ff::ffi::av_stream_get_side_data(ist.as_ptr(), kind, &mut size);
        if data.is_null() || size == 0 {
            return false;
        }
        let dst = ff::ffi::av_stream_new_side_data(ost.as_mut_ptr(), kind, size);
        if dst.is_null() {
            return false;
        }
        std::ptr::copy_nonoverlapping(data, dst, size);
        true
    }
}

/// The index of the best video stream, or a `NoVideo` error that lists what
/// the file does contain.
pub(crate) fn video_stream_index(ictx: &ff::format::context::Input, path: &Path) -> Result<usize> {
    if let Some(s) = ictx.streams().best(ff::media::Type::Video) {
        return Ok(s.index());
    }
    let found: Vec<String> = ictx
        .streams()
        .map(|s| {
            let p = s.parameters();
            format!("{:?} {}", p.medium(), p.id().name()).to_lowercase()
        })
        .collect();
    let found = if found.is_empty() {
        "no streams".to_string()
    } else {
        found.join(", ")
    };
    Err(Error::new(
        ErrorKind::NoVideo,
        format!("no video stream (found: {found})"),
    )
    .with_path(path))
}

fn rational(r: ff::Rational) -> (i32, i32) {
    (r.numerator(), r.denominator())
}

fn rational_f64(r: ff::Rational) -> f64 {
    if r.denominator() == 0 {
        0.0
    } else {
        f64::from(r.numerator()) / f64::from(r.denominator())
    }
}

/// True for `AVERROR(EAGAIN)`, FFmpeg's "feed me more / drain me first".
fn is_again(e: &ff::Error) -> bool {
    matches!(e, ff::Error::Other { errno } if *errno == ff::util::error::EAGAIN)
}

/// The FFmpeg libraries Obscura is running against.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LibraryInfo {
    /// libavcodec version, `major.minor.micro`.
    pub avcodec: String,
    /// libavformat version, `major.minor.micro`.
    pub avformat: String,
    /// Whether the libx264 encoder is available.
    pub libx264: bool,
}

/// Versions and capabilities of the FFmpeg libraries in use.
pub fn library_info() -> LibraryInfo {
    init();
    let v = |n: u32| format!("{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff);
    LibraryInfo {
        avcodec: v(ff::codec::version()),
        avformat: v(ff::format::version()),
        libx264: ff::encoder::find_by_name("libx264").is_some(),
    }
}

#[cfg(test)]
mod send_tests {
    fn assert_send<T: Send>() {}

    /// Decoders and converters move into worker threads and Python
    /// iterators.
    #[test]
    fn decoders_and_converters_are_send() {
        assert_send::<super::Decoder>();
        assert_send::<super::Frames>();
        assert_send::<super::RgbConverter>();
    }
}
