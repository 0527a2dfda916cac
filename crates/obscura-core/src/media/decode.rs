//! Sequential decoding, and the span logic that segment-parallel decoding
//! runs once per segment.

use super::{is_again, open_input, rational_f64, video_stream_index};
use crate::cancel::Cancel;
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{FrameView, FrameViewMut, Plane, PlaneMut};
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

/// A decoded picture in presentation order. It lends its planes as a
/// [`FrameView`] without copying.
pub struct DecodedFrame {
    pub(super) inner: ff::frame::Video,
    pub(super) pts: i64,
    pub(super) index: u64,
    pub(super) time: f64,
    pub(super) duration: i64,
}

impl std::fmt::Debug for DecodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedFrame")
            .field("index", &self.index)
            .field("pts", &self.pts)
            .field("time", &self.time)
            .field("width", &self.width())
            .field("height", &self.height())
            .finish()
    }
}

impl DecodedFrame {
    /// Presentation timestamp in the stream's time base.
    pub fn pts(&self) -> i64 {
        self.pts
    }

    /// Frame number in presentation order, from 0.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Seconds since the start of the video stream.
    pub fn time(&self) -> f64 {
        self.time
    }

    /// How long the frame shows, in the stream's time base (0 if unknown).
    pub fn duration(&self) -> i64 {
        self.duration
    }

    /// Picture width.
    pub fn width(&self) -> usize {
        self.inner.width() as usize
    }

    /// Picture height.
    pub fn height(&self) -> usize {
        self.inner.height() as usize
    }

    /// The picture's planes, borrowed from the decoder's buffer.
    pub fn view(&self) -> FrameView<'_> {
        let f = &self.inner;
        let plane = |i: usize| {
            Plane::new(
                f.data(i),
                f.stride(i),
                f.plane_width(i) as usize,
                f.plane_height(i) as usize,
            )
        };
        // The decoder output is always normalised to 8-bit 4:2:0 with
        // positive strides (see `Decoder::normalise`), so these cannot fail.
        match (plane(0), plane(1), plane(2)) {
            (Ok(y), Ok(u), Ok(v)) => match FrameView::new(y, u, v) {
                Ok(view) => view,
                Err(e) => unreachable!("decoder produced a non-4:2:0 frame: {e}"),
            },
            _ => unreachable!("decoder produced a plane that does not fit its buffer"),
        }
    }

    /// The picture's planes for writing. Decoded frames share buffers with
    /// the decoder's reference pictures, so this first makes the buffers the
    /// frame's own (copying them only if they are shared).
    ///
    /// # Errors
    /// `Io` if memory for the copy cannot be allocated.
    pub fn view_mut(&mut self) -> Result<FrameViewMut<'_>> {
        // SAFETY: `inner` owns a valid AVFrame; av_frame_make_writable either
        // leaves it untouched or replaces its buffers with private copies.
        let ret = unsafe { ff::ffi::av_frame_make_writable(self.inner.as_mut_ptr()) };
        if ret < 0 {
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot make frame writable: {}", ff::Error::from(ret)),
            ));
        }
        let (w, h) = (self.width(), self.height());
        let (cw, ch) = crate::frame::chroma_size(w, h);
        let strides = [
            self.inner.stride(0),
            self.inner.stride(1),
            self.inner.stride(2),
        ];
        // SAFETY: only takes the pointer; every dereference is below.
        let ptr = unsafe { self.inner.as_mut_ptr() };
        let mut planes = Vec::with_capacity(3);
        for (i, (pw, ph)) in [(w, h), (cw, ch), (cw, ch)].into_iter().enumerate() {
            // SAFETY: the three data pointers of a writable YUV420P frame point
            // to three distinct buffers of at least stride*plane_height bytes
            // each, exclusively ours after av_frame_make_writable, and they
            // stay alive for as long as `self` is mutably borrowed.
            let slice = unsafe {
                let data = (*ptr).data[i];
                std::slice::from_raw_parts_mut(data, strides[i] * ph)
            };
            planes.push(PlaneMut::new(slice, strides[i], pw, ph)?);
        }
        let mut it = planes.into_iter();
        match (it.next(), it.next(), it.next()) {
            (Some(y), Some(u), Some(v)) => FrameViewMut::new(y, u, v),
            _ => unreachable!("three planes were pushed"),
        }
    }

    /// Another handle on the same picture: a new reference to its buffers,
    /// nothing copied. Writing through either handle's
    /// [`view_mut`](Self::view_mut) first gives that handle buffers of its
    /// own, so the other never changes.
    ///
    /// # Errors
    /// `Io` if the reference cannot be made (out of memory).
    pub(crate) fn share(&self) -> Result<DecodedFrame> {
        let mut inner = ff::frame::Video::empty();
        // SAFETY: `inner` owns a fresh, empty AVFrame, which is what
        // av_frame_ref needs as its destination; `self.inner` owns a valid
        // decoded AVFrame, whose reference-counted buffers gain one
        // reference and stay alive until both frames are freed.
        let ret = unsafe { ff::ffi::av_frame_ref(inner.as_mut_ptr(), self.inner.as_ptr()) };
        if ret < 0 {
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot share a decoded frame: {}", ff::Error::from(ret)),
            ));
        }
        Ok(DecodedFrame {
            inner,
            pts: self.pts,
            index: self.index,
            time: self.time,
            duration: self.duration,
        })
    }

    /// Moves the picture out of the decoder's buffer pool into buffers of
    /// its own. A pool keeps every buffer it ever lent until the decoder is
    /// closed and the last picture released, so pictures held long after
    /// decoding (queued ahead of a slow consumer) would otherwise grow each
    /// segment decoder's pool to the whole queue; copied out, they are freed
    /// as they are dropped and the pools stay at what decoding itself needs.
    ///
    /// # Errors
    /// `Io` if memory for the copy cannot be allocated.
    pub(super) fn detach(&mut self) -> Result<()> {
        let mut copy = ff::frame::Video::empty();
        copy.set_format(self.inner.format());
        copy.set_width(self.inner.width());
        copy.set_height(self.inner.height());
        // SAFETY: `copy` owns a fresh AVFrame with its format and size set,
        // which is what av_frame_get_buffer needs; `self.inner` owns a valid
        // decoded AVFrame of that format and size, so av_frame_copy copies
        // plane by plane within both frames' buffers, and av_frame_copy_props
        // copies only metadata.
        let ret = unsafe {
            let dst = copy.as_mut_ptr();
            let src = self.inner.as_ptr();
            let mut ret = ff::ffi::av_frame_get_buffer(dst, 0);
            if ret >= 0 {
                ret = ff::ffi::av_frame_copy(dst, src);
            }
            if ret >= 0 {
                ret = ff::ffi::av_frame_copy_props(dst, src);
            }
            ret
        };
        if ret < 0 {
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot copy a decoded frame: {}", ff::Error::from(ret)),
            ));
        }
        self.inner = copy;
        Ok(())
    }

    /// Clears the picture type the decoder set, so an encoder chooses its own.
    pub(super) fn clear_picture_type(&mut self) {
        self.inner.set_kind(ff::picture::Type::None);
    }
}

/// A stream with more damaged packets than this is given up on.
const MAX_DECODE_ERRORS: u64 = 100_000;

/// Errors after the end of input was sent (one at most per picture still
/// in the decoder's threads) beyond which the decoder is given up on.
const MAX_DRAIN_ERRORS: u64 = 1_000;

/// Which part of the stream a decoder covers: all of it, or one segment
/// between two keyframes for segment-parallel decoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Span {
    /// The keyframe to start at: (pts, dts). `None` starts at the beginning.
    pub start: Option<(i64, i64)>,
    /// The pts of the keyframe that starts the next segment. Frames from it
    /// on are left to that segment. `None` runs to the end.
    pub end: Option<i64>,
    /// The end keyframe has no open-GOP leading pictures: every picture of
    /// this span precedes it in decode order, so feeding can stop there.
    pub end_closed: bool,
}

/// The span that decodes `info.path` from `key` to the end; `None` when
/// decoding starts at the beginning of the file (at the first keyframe,
/// or when the file's timestamps do not allow a seek).
fn span_from(info: &super::VideoInfo, key: &super::Keyframe) -> Option<Span> {
    (key.index != 0 && info.timestamps_complete).then_some(Span {
        start: Some((key.pts, key.dts)),
        end: None,
        end_closed: false,
    })
}

/// Sequential decoder over one file's video stream. Yields frames in
/// presentation order; the end of the stream is `None`.
///
/// Frames in any pixel format other than 8-bit 4:2:0 are converted to it
/// (`yuv420p`; `yuvj420p` keeps its full range).
pub struct Decoder {
    path: PathBuf,
    ictx: ff::format::context::Input,
    decoder: ff::decoder::Video,
    stream_index: usize,
    threads: usize,
    /// Whether the in-loop deblocking filter runs (see
    /// [`Decoder::open_from_for_analysis`]).
    deblock: bool,
    time_base: f64,
    start_pts: i64,
    span: Span,
    /// Reached the start keyframe of the span (always true without a start).
    started: bool,
    /// No more packets will be sent; the decoder is draining.
    draining: bool,
    done: bool,
    next_index: u64,
    last_pts: Option<i64>,
    decode_errors: u64,
    /// Of `decode_errors`, those after draining began.
    drain_errors: u64,
    /// A packet the demuxer flagged corrupt, held back until the next one
    /// shows it is not the last of the file (see [`super::probe`]: the
    /// last packet of a file cut short is not a frame).
    held: Option<ff::Packet>,
    /// The packet read after `held`, sent once `held` has been.
    queued: Option<ff::Packet>,
    /// The end of the span was read while a packet was held: drain once
    /// it has been sent.
    drain_next: bool,
    /// Frames the file holds by probe's count, when known: the stream then
    /// ends with a `Corrupt` error if a different number decodes.
    expected: Option<u64>,
    scaler: Option<super::Scaler>,
    cancel: Cancel,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("path", &self.path)
            .field("stream_index", &self.stream_index)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// Opens `path` for sequential decoding with FFmpeg's own threading
    /// (`threads` = 0 lets FFmpeg pick one per core).
    ///
    /// # Errors
    /// As [`super::probe`] for unreadable, non-media or video-less files.
    pub fn open(path: impl AsRef<Path>, threads: usize) -> Result<Self> {
        Decoder::open_span(path.as_ref(), threads, Span::default(), true)
    }

    /// Opens `info.path` to decode from `key`, one of the keyframes probe
    /// found, to the end of the stream. Frames are numbered as in a decode
    /// from the start (the first one yielded is `key.index`), so work on a
    /// later part of a file does not decode everything before it.
    ///
    /// Falls back to decoding from the start when the file's timestamps do
    /// not allow a seek (`info.timestamps_complete` false); the frames
    /// before `key` are then yielded too, with their own indices.
    ///
    /// # Errors
    /// As [`Decoder::open`].
    pub fn open_from(
        info: &super::VideoInfo,
        key: &super::Keyframe,
        threads: usize,
    ) -> Result<Self> {
        Decoder::open_keyed(info, key, threads, true)
    }

    /// As [`Decoder::open_from`], for analysis that looks at pictures
    /// shrunk many times (motion): the codec's in-loop deblocking filter
    /// is skipped, which makes H.264 decoding about a third faster at
    /// 1080p. Pictures then show block edges, and small errors build up
    /// from a keyframe to the next, both far below what a shrunk picture
    /// shows; they are not the pictures the encoder saw, so never use this
    /// for anything that is shown or written.
    ///
    /// # Errors
    /// As [`Decoder::open`].
    pub fn open_from_for_analysis(
        info: &super::VideoInfo,
        key: &super::Keyframe,
        threads: usize,
    ) -> Result<Self> {
        Decoder::open_keyed(info, key, threads, false)
    }

    fn open_keyed(
        info: &super::VideoInfo,
        key: &super::Keyframe,
        threads: usize,
        deblock: bool,
    ) -> Result<Self> {
        let span = span_from(info, key);
        let mut d = Decoder::open_span(&info.path, threads, span.unwrap_or_default(), deblock)?;
        if span.is_some() {
            d.next_index = key.index;
        }
        d.expect_frames(info.frames);
        Ok(d)
    }

    pub(super) fn open_span(
        path: &Path,
        threads: usize,
        span: Span,
        deblock: bool,
    ) -> Result<Self> {
        let mut ictx = open_input(path)?;
        let stream_index = video_stream_index(&ictx, path)?;
        let (decoder, time_base, start_pts) =
            open_codec(&ictx, stream_index, threads, deblock, path)?;
        if let Some((_, dts)) = span.start {
            seek_before(&mut ictx, stream_index, dts, path)?;
        }
        Ok(Decoder {
            path: path.to_path_buf(),
            ictx,
            decoder,
            stream_index,
            threads,
            deblock,
            time_base,
            start_pts,
            span,
            started: span.start.is_none(),
            draining: false,
            done: false,
            next_index: 0,
            last_pts: None,
            decode_errors: 0,
            drain_errors: 0,
            held: None,
            queued: None,
            drain_next: false,
            expected: None,
            scaler: None,
            cancel: Cancel::default(),
        })
    }

    /// Moves this decoder, opened on `info.path`, to decode from `key` as
    /// [`Decoder::open_from`] would, without opening the file again (which
    /// probes the stream: about 17 ms at 1080p).
    ///
    /// # Errors
    /// When the seek fails.
    pub fn restart_from(&mut self, info: &super::VideoInfo, key: &super::Keyframe) -> Result<()> {
        let span = span_from(info, key);
        self.restart(span.unwrap_or_default())?;
        if span.is_some() {
            self.next_index = key.index;
        }
        Ok(())
    }

    /// Moves this decoder to another span of the same file: seeks, and
    /// opens a fresh codec. (Flushing the old one would keep its picture
    /// buffer pool, which only ever grows: a worker whose previous segment
    /// is still queued for the consumer while it decodes the next one
    /// doubles its pool, and over a long file every worker's pool reached
    /// twice its share of the buffer budget. A fresh codec's pool holds only
    /// the pictures in flight; the old pool is freed when the consumer has
    /// released its last picture.)
    pub(super) fn restart(&mut self, span: Span) -> Result<()> {
        if let Some((_, dts)) = span.start {
            seek_before(&mut self.ictx, self.stream_index, dts, &self.path)?;
        } else {
            self.ictx = open_input(&self.path)?;
        }
        let (decoder, _, _) = open_codec(
            &self.ictx,
            self.stream_index,
            self.threads,
            self.deblock,
            &self.path,
        )?;
        self.decoder = decoder;
        self.span = span;
        self.started = span.start.is_none();
        self.draining = false;
        self.drain_errors = 0;
        self.held = None;
        self.queued = None;
        self.drain_next = false;
        self.done = false;
        self.next_index = 0;
        self.last_pts = None;
        Ok(())
    }

    /// Holds this decoder to `frames`, the count [`super::probe`] made of the
    /// file's frames: if a different number decodes (a damaged stream:
    /// packets that yield no picture, or more pictures than packets), the
    /// stream ends with a `Corrupt` error saying how many decoded, instead
    /// of ending quietly. [`super::open`] always does this.
    pub fn expect_frames(&mut self, frames: u64) {
        self.expected = Some(frames);
    }

    /// Stops this decoder when `cancel` is cancelled: the next frame asked
    /// for is an `Interrupted` error, and the stream ends after it.
    pub fn set_cancel(&mut self, cancel: Cancel) {
        self.cancel = cancel;
    }

    /// Packets the decoder rejected as damaged so far (they are skipped, as
    /// FFmpeg's own tools do, up to a bound). A rejected packet loses its
    /// picture, so a decoder held to probe's count
    /// ([`Decoder::expect_frames`]) ends in a `Corrupt` error saying how
    /// many decoded; pictures the decoder repaired by concealment are not
    /// counted here.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Reads and sends one packet, or starts draining at the end.
    fn feed(&mut self) -> Result<()> {
        if let Some(p) = self.queued.take() {
            return self.send(&p);
        }
        if self.drain_next {
            self.drain_next = false;
            return self.drain();
        }
        let mut packet = ff::Packet::empty();
        loop {
            if !super::read_packet(&mut self.ictx, &mut packet, &self.path)? {
                if self.held.take().is_some() {
                    // The file ends inside this packet: not a frame.
                    self.decode_errors += 1;
                }
                return self.drain();
            }
            if packet.stream() != self.stream_index {
                continue;
            }
            let ts = packet.pts().or(packet.dts());
            if self.span.end_closed && packet.is_key() && ts.is_some() && ts == self.span.end {
                if let Some(h) = self.held.take() {
                    self.drain_next = true;
                    return self.send(&h);
                }
                return self.drain();
            }
            if !self.started {
                let Some((kpts, kdts)) = self.span.start else {
                    unreachable!("only spans with a start begin unstarted")
                };
                if packet.is_key() && ts == Some(kpts) {
                    self.started = true;
                } else if packet.dts().is_some_and(|d| d > kdts) {
                    // The seek landed past our keyframe: start over from the
                    // beginning of the file and skip up to it.
                    self.ictx = open_input(&self.path)?;
                    continue;
                } else {
                    continue;
                }
            }
            if packet.is_corrupt() {
                match self.held.replace(packet.clone()) {
                    Some(prev) => return self.send(&prev),
                    None => continue,
                }
            }
            if let Some(prev) = self.held.take() {
                self.queued = Some(packet.clone());
                return self.send(&prev);
            }
            return self.send(&packet);
        }
    }

    /// Sends one packet; a packet the decoder rejects is counted as damaged.
    fn send(&mut self, packet: &ff::Packet) -> Result<()> {
        match self.decoder.send_packet(packet) {
            Ok(()) => Ok(()),
            Err(e) if is_again(&e) => {
                // FFmpeg only refuses input when output is waiting, and
                // we drain output before every packet.
                Err(Error::new(
                    ErrorKind::Corrupt,
                    "decoder refused input while no output was pending",
                )
                .with_path(&self.path))
            }
            Err(_) => {
                self.decode_errors += 1;
                Ok(())
            }
        }
    }

    fn drain(&mut self) -> Result<()> {
        self.draining = true;
        match self.decoder.send_eof() {
            Ok(()) | Err(ff::Error::Eof) => Ok(()),
            Err(e) => Err(
                Error::new(ErrorKind::Corrupt, format!("cannot flush decoder: {e}"))
                    .with_path(&self.path),
            ),
        }
    }

    fn in_span(&self, pts: i64) -> bool {
        self.span.start.is_none_or(|(k, _)| pts >= k) && self.span.end.is_none_or(|e| pts < e)
    }

    fn normalise(&mut self, frame: ff::frame::Video) -> Result<ff::frame::Video> {
        use ff::format::Pixel;
        let strides_ok = (0..3).all(|i| {
            // SAFETY: reads one linesize of a valid decoded frame.
            unsafe { (*frame.as_ptr()).linesize[i] > 0 }
        });
        if matches!(frame.format(), Pixel::YUV420P | Pixel::YUVJ420P) && strides_ok {
            return Ok(frame);
        }
        let (w, h, fmt) = (frame.width(), frame.height(), frame.format());
        let stale = self.scaler.as_ref().is_none_or(|s| {
            s.0.input().format != fmt || s.0.input().width != w || s.0.input().height != h
        });
        if stale {
            self.scaler = Some(super::Scaler(
                ff::software::scaling::Context::get(
                    fmt,
                    w,
                    h,
                    Pixel::YUV420P,
                    w,
                    h,
                    ff::software::scaling::Flags::BICUBIC,
                )
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Unsupported,
                        format!("cannot convert pixel format {fmt:?} to yuv420p: {e}"),
                    )
                    .with_path(&self.path)
                })?,
            ));
        }
        let mut out = ff::frame::Video::empty();
        if let Some(s) = self.scaler.as_mut() {
            s.0.run(&frame, &mut out).map_err(|e| {
                Error::new(
                    ErrorKind::Corrupt,
                    format!("pixel format conversion failed: {e}"),
                )
                .with_path(&self.path)
            })?;
        }
        out.set_pts(frame.pts());
        // SAFETY: copies timing fields between two valid frames.
        unsafe {
            (*out.as_mut_ptr()).best_effort_timestamp = (*frame.as_ptr()).best_effort_timestamp;
        }
        Ok(out)
    }

    fn next_frame(&mut self) -> Result<Option<DecodedFrame>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let mut frame = ff::frame::Video::empty();
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    let duration = frame.packet().duration.max(0);
                    let pts = frame
                        .timestamp()
                        .or(frame.pts())
                        .unwrap_or_else(|| self.last_pts.map_or(0, |p| p + duration.max(1)));
                    if self.span.end.is_some_and(|e| pts >= e) {
                        // Pictures come out in presentation order, so every
                        // picture of this span, including the next keyframe's
                        // open-GOP leading pictures (which show before it),
                        // has been delivered: the segment is complete.
                        self.done = true;
                        continue;
                    }
                    if !self.in_span(pts) {
                        continue;
                    }
                    self.last_pts = Some(pts);
                    let inner = self.normalise(frame)?;
                    let index = self.next_index;
                    self.next_index += 1;
                    return Ok(Some(DecodedFrame {
                        inner,
                        pts,
                        index,
                        time: (pts - self.start_pts) as f64 * self.time_base,
                        duration,
                    }));
                }
                Err(e) if is_again(&e) => {
                    if self.draining {
                        // Nothing more will come.
                        self.done = true;
                    } else {
                        self.feed()?;
                    }
                }
                Err(ff::Error::Eof) => {
                    self.done = true;
                    if self.next_index == 0 && self.span == Span::default() {
                        return Err(Error::new(
                            ErrorKind::Corrupt,
                            format!(
                                "no picture could be decoded ({} damaged packets)",
                                self.decode_errors
                            ),
                        )
                        .with_path(&self.path));
                    }
                }
                Err(e) => {
                    // A damaged packet's error comes back here, with frame
                    // threads a few pictures late (also while draining, as
                    // when a file ends in a packet cut short): the pictures
                    // after it still come, so it is counted, not fatal.
                    self.decode_errors += 1;
                    self.drain_errors += u64::from(self.draining);
                    if self.decode_errors > MAX_DECODE_ERRORS
                        || self.drain_errors > MAX_DRAIN_ERRORS
                    {
                        self.done = true;
                        return Err(
                            Error::new(ErrorKind::Corrupt, format!("decoder failed: {e}"))
                                .with_path(&self.path),
                        );
                    }
                }
            }
        }
    }
}

impl Iterator for Decoder {
    type Item = Result<DecodedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.done && self.cancel.is_cancelled() {
            self.done = true;
            return Some(Err(interrupted(&self.path)));
        }
        match self.next_frame() {
            Ok(Some(f)) => match self.expected {
                Some(n) if f.index >= n => {
                    // More pictures than the file has frames: count them
                    // all, so the error says how many.
                    let mut got = f.index + 1;
                    drop(f);
                    loop {
                        match self.next_frame() {
                            Ok(Some(_)) => got += 1,
                            Ok(None) => break,
                            Err(e) => {
                                self.done = true;
                                return Some(Err(e));
                            }
                        }
                    }
                    self.done = true;
                    self.expected = None;
                    Some(Err(count_mismatch(&self.path, got, n)))
                }
                _ => Some(Ok(f)),
            },
            Ok(None) => match self.expected.take() {
                Some(n) if self.next_index != n => {
                    Some(Err(count_mismatch(&self.path, self.next_index, n)))
                }
                _ => None,
            },
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The error a decode that did not yield the file's frames ends with.
pub(super) fn count_mismatch(path: &Path, got: u64, want: u64) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!("decoded {got} of the {want} frames the file holds (damaged stream)"),
    )
    .with_path(path)
}

/// The error a cancelled decoder ends with.
pub(super) fn interrupted(path: &Path) -> Error {
    Error::new(
        ErrorKind::Interrupted,
        "interrupted before the end of the video",
    )
    .with_path(path)
}

/// Opens a decoder for stream `stream_index` of `ictx`, with `threads`
/// threads (0 = FFmpeg's choice), and the in-loop deblocking filter
/// unless `deblock` is false. Returns it with the stream's time base
/// (seconds per unit) and start pts.
fn open_codec(
    ictx: &ff::format::context::Input,
    stream_index: usize,
    threads: usize,
    deblock: bool,
    path: &Path,
) -> Result<(ff::decoder::Video, f64, i64)> {
    let stream = ictx
        .stream(stream_index)
        .ok_or_else(|| Error::new(ErrorKind::NoVideo, "video stream vanished").with_path(path))?;
    let mut ctx =
        ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| {
            Error::new(
                ErrorKind::Unsupported,
                format!("cannot set up decoder: {e}"),
            )
            .with_path(path)
        })?;
    let threads = i32::try_from(threads).unwrap_or(0);
    // SAFETY: `ctx` owns a freshly allocated, not yet opened
    // AVCodecContext. thread_count and thread_type must both be set
    // before avcodec_open2 (called by `.video()` below), otherwise
    // thread_type stays 0 and threading is silently off; pkt_timebase
    // lets the decoder compute best-effort timestamps. skip_loop_filter is
    // set here too, so every frame thread's copy of the context has it.
    unsafe {
        let p = ctx.as_mut_ptr();
        (*p).thread_count = threads;
        (*p).thread_type = ff::ffi::FF_THREAD_FRAME | ff::ffi::FF_THREAD_SLICE;
        (*p).pkt_timebase = stream.time_base().into();
        if !deblock {
            (*p).skip_loop_filter = ff::ffi::AVDiscard::AVDISCARD_ALL;
        }
    }
    let decoder = ctx.decoder().video().map_err(|e| {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "cannot open decoder for {}: {e}",
                stream.parameters().id().name()
            ),
        )
        .with_path(path)
    })?;
    let start = stream.start_time();
    let start_pts = if start == ff::ffi::AV_NOPTS_VALUE {
        0
    } else {
        start
    };
    Ok((decoder, rational_f64(stream.time_base()), start_pts))
}

/// Seeks so that the next packet read is at or before the keyframe with
/// decode timestamp `dts`.
fn seek_before(
    ictx: &mut ff::format::context::Input,
    stream_index: usize,
    dts: i64,
    path: &Path,
) -> Result<()> {
    let index = i32::try_from(stream_index)
        .map_err(|_| Error::new(ErrorKind::Unsupported, "stream index out of range"))?;
    // SAFETY: `ictx` owns an open AVFormatContext; avformat_seek_file only
    // repositions its I/O and demuxer state. max_ts = dts asks for a position
    // at or before the keyframe.
    let ret =
        unsafe { ff::ffi::avformat_seek_file(ictx.as_mut_ptr(), index, i64::MIN, dts, dts, 0) };
    if ret < 0 {
        // Some demuxers cannot seek: read from the start instead.
        *ictx = open_input(path)?;
    }
    Ok(())
}
