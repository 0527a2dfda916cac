//! Reading from any frame, and reading sparsely, without decoding what is
//! not wanted.
//!
//! Frame `n` can only be decoded from the keyframe at or before it, so
//! [`FramesFrom`] starts there and drops the frames before `n`: reaching
//! any frame costs at most one group of pictures, not the whole file before
//! it. [`EveryNth`] reads every n-th frame and, where a whole group of
//! pictures lies between two wanted frames, seeks over it instead of
//! decoding it. Frames keep the indices of a decode from the start, so the
//! results are the same frames, bit for bit, as a full decode gives (tested).

use super::{DecodedFrame, Decoder, Keyframe, VideoInfo};
use crate::cancel::Cancel;
use crate::error::{Error, ErrorKind, Result};

/// A seek pays for itself once it skips this many frames: reopening the
/// file and the decoder costs about as much as decoding a few frames.
const SEEK_SAVES_AT_LEAST: u64 = 16;

/// The keyframe a decode must start from to reach frame `index`.
fn key_before(info: &VideoInfo, index: u64) -> Option<&Keyframe> {
    let after = info.keyframes.partition_point(|k| k.index <= index);
    after.checked_sub(1).map(|i| &info.keyframes[i])
}

/// The frame shown at `seconds` from the start of the stream: the last one
/// starting at or before it, at the file's frame rate.
pub fn index_at_time(info: &VideoInfo, seconds: f64) -> Result<u64> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("invalid time {seconds} s (expected a number of seconds >= 0)"),
        ));
    }
    let index = (seconds * info.fps + 1e-6).floor();
    Ok((index as u64).min(info.frames.saturating_sub(1)))
}

/// The frames of a file from one frame on, numbered as in a decode from the
/// start.
#[derive(Debug)]
pub struct FramesFrom {
    pending: Option<DecodedFrame>,
    rest: Decoder,
}

impl FramesFrom {
    /// Opens `info.path` so that the first frame yielded is frame `index`.
    /// `threads` are FFmpeg's inside the decoder (0: its choice).
    ///
    /// # Errors
    /// `InvalidArgument` when `index` is past the last frame; otherwise as
    /// [`Decoder::open`], and decoding errors of the frames before `index`
    /// in its group of pictures.
    pub fn open(info: &VideoInfo, index: u64, threads: usize, cancel: &Cancel) -> Result<Self> {
        if index >= info.frames {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "invalid frame {index}: the file has {} frames (0..{})",
                    info.frames,
                    info.frames.saturating_sub(1)
                ),
            )
            .with_path(&info.path));
        }
        let mut rest = match key_before(info, index) {
            Some(key) => Decoder::open_from(info, key, threads)?,
            None => {
                let mut d = Decoder::open(&info.path, threads)?;
                d.expect_frames(info.frames);
                d
            }
        };
        rest.set_cancel(cancel.clone());
        let mut pending = None;
        for frame in rest.by_ref() {
            let frame = frame?;
            if frame.index() >= index {
                pending = Some(frame);
                break;
            }
        }
        Ok(FramesFrom { pending, rest })
    }
}

impl Iterator for FramesFrom {
    type Item = Result<DecodedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.pending.take() {
            Some(frame) => Some(Ok(frame)),
            None => self.rest.next(),
        }
    }
}

/// Frame `index` of a file, decoded from the keyframe before it.
///
/// # Errors
/// As [`FramesFrom::open`]; `Corrupt` when the file ends before it.
pub fn frame_at(info: &VideoInfo, index: u64, threads: usize) -> Result<DecodedFrame> {
    let mut frames = FramesFrom::open(info, index, threads, &Cancel::default())?;
    match frames.next() {
        Some(frame) => frame,
        None => Err(Error::new(
            ErrorKind::Corrupt,
            format!("the file ends before frame {index}"),
        )
        .with_path(&info.path)),
    }
}

/// Frames `start`, `start + every`, `start + 2·every`, … of a file. Between
/// two wanted frames it keeps decoding, unless a keyframe lets it skip at
/// least a few frames; then it seeks.
#[derive(Debug)]
pub struct EveryNth {
    info: VideoInfo,
    every: u64,
    threads: usize,
    cancel: Cancel,
    /// The next frame wanted.
    next: u64,
    /// The decoder and the index of the next frame it yields.
    frames: Option<(FramesFrom, u64)>,
}

impl EveryNth {
    /// Every `every`-th frame of `info.path` from frame `start` on.
    ///
    /// # Errors
    /// `InvalidArgument` when `every` is 0.
    pub fn new(
        info: VideoInfo,
        start: u64,
        every: u64,
        threads: usize,
        cancel: Cancel,
    ) -> Result<Self> {
        if every == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "invalid step 0 (expected every >= 1)",
            ));
        }
        Ok(EveryNth {
            info,
            every,
            threads,
            cancel,
            next: start,
            frames: None,
        })
    }

    /// The file's facts.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Continues from frame `index` (the next frame yielded), keeping the
    /// step.
    pub fn seek(&mut self, index: u64) {
        self.next = index;
        if self.frames.as_ref().is_some_and(|(_, at)| *at > index) {
            self.frames = None;
        }
    }

    /// Opens a decoder at the next wanted frame when there is none, or when
    /// starting afresh skips enough frames to pay for itself.
    fn position(&mut self) -> Result<()> {
        let key = key_before(&self.info, self.next).map_or(0, |k| k.index);
        let reopen = match &self.frames {
            None => true,
            Some((_, at)) => key >= at + SEEK_SAVES_AT_LEAST,
        };
        if reopen {
            let frames = FramesFrom::open(&self.info, self.next, self.threads, &self.cancel)?;
            self.frames = Some((frames, self.next));
        }
        Ok(())
    }
}

impl Iterator for EveryNth {
    type Item = Result<DecodedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.info.frames {
            self.frames = None;
            return None;
        }
        if let Err(e) = self.position() {
            self.next = u64::MAX;
            return Some(Err(e));
        }
        let (frames, at) = self.frames.as_mut()?;
        for frame in frames.by_ref() {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.next = u64::MAX;
                    return Some(Err(e));
                }
            };
            *at = frame.index() + 1;
            if frame.index() >= self.next {
                // The next frame on the grid start + k·every after this one.
                let past = (frame.index() - self.next) / self.every + 1;
                self.next = self.next.saturating_add(past.saturating_mul(self.every));
                return Some(Ok(frame));
            }
        }
        self.next = u64::MAX;
        None
    }
}
