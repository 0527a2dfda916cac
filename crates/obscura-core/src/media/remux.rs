//! Stream copy of a time range: the evidential master. Packets are copied
//! as they are (no decoding, no re-encoding) into the same container format,
//! cut at keyframes so that every copied picture decodes exactly as it does
//! in the source.
//!
//! ## Cut semantics
//! Frame `i` shows from its time `t_i` to `t_{i+1}`. For a requested range
//! `[from, to)` (media seconds from the start of the stream):
//! - the frames *covering* it run from the last frame with `t <= from` to
//!   the last frame with `t < to`;
//! - the copy starts at the keyframe at or before the first covering frame
//!   (the start of the file if there is none), and ends just before the
//!   first keyframe after the last covering frame that has no open-GOP
//!   leading pictures (or at the end of the file): whole GOPs, so nothing
//!   in the copy depends on a picture outside it.
//!
//! In presentation order the master holds exactly the source frames
//! `first_frame..end_frame`. Packets are taken in decode order from the
//! start keyframe up to the end keyframe, keeping those whose timestamp
//! lies in `[start, end)`; open-GOP leading pictures of the start keyframe
//! (which show before it and reference the GOP before) are left out.
//! Audio packets that start in the same span are copied too. Timestamps
//! are shifted so the copy starts at 0; their spacing is untouched.

use super::probe::{Keyframe, VideoInfo};
use super::{is_pre_roll, open_input, rational_f64, read_packet};
use crate::error::{Error, ErrorKind, Result};
use crate::output::PendingFile;
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where a copy is cut, in source frames and times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cut {
    /// First source frame copied (presentation order).
    pub first_frame: u64,
    /// Source frame after the last one copied (exclusive).
    pub end_frame: u64,
    /// First source frame showing during the requested range.
    pub covers_first: u64,
    /// Last source frame showing during the requested range.
    pub covers_last: u64,
    /// Source pts of the first frame copied.
    pub start_pts: i64,
    /// Source pts where the copy ends (the next keyframe), if not at the end.
    pub end_pts: Option<i64>,
    /// Source media seconds of the first frame copied.
    pub start_s: f64,
    /// Source media seconds where the copy ends.
    pub end_s: f64,
}

impl Cut {
    /// Frames in the copy.
    pub fn frames(&self) -> u64 {
        self.end_frame - self.first_frame
    }
}

/// What a stream copy wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remuxed {
    /// The cut.
    pub cut: Cut,
    /// Video packets copied (one per frame).
    pub video_packets: u64,
    /// Audio packets copied.
    pub audio_packets: u64,
    /// Container format written (FFmpeg muxer name).
    pub container: String,
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

/// Plans the cut of `[from_s, to_s)` given every frame's pts in
/// presentation order (`pts`, sorted), the keyframes, the stream's start
/// pts and time base.
///
/// # Errors
/// `InvalidArgument` when the range is empty or lies outside the stream.
pub fn plan_cut(
    pts: &[i64],
    keyframes: &[Keyframe],
    start_pts: i64,
    time_base: f64,
    duration_s: f64,
    from_s: f64,
    to_s: f64,
) -> Result<Cut> {
    if !from_s.is_finite() || !to_s.is_finite() || to_s <= from_s {
        return Err(invalid(format!(
            "invalid range {from_s:.3}..{to_s:.3} s (expected an end after the start)"
        )));
    }
    let t = |p: i64| (p - start_pts) as f64 * time_base;
    let Some(&first_pts) = pts.first() else {
        return Err(invalid("the stream has no frames".into()));
    };
    if to_s <= t(first_pts) || from_s >= duration_s {
        return Err(invalid(format!(
            "range {from_s:.3}..{to_s:.3} s is outside the recording (0..{duration_s:.3} s)"
        )));
    }
    let covers_first = pts.partition_point(|&p| t(p) <= from_s).saturating_sub(1) as u64;
    let covers_last = (pts.partition_point(|&p| t(p) < to_s).max(1) - 1) as u64;
    let mut keys: Vec<&Keyframe> = keyframes.iter().collect();
    keys.sort_by_key(|k| k.index);
    let start = keys.iter().rev().find(|k| k.index <= covers_first);
    let (first_frame, start_pts_cut) = match start {
        Some(k) => (k.index, k.pts),
        None => (0, first_pts),
    };
    let end = keys
        .iter()
        .find(|k| k.index > covers_last && !k.leading_pictures);
    let (end_frame, end_pts) = match end {
        Some(k) => (k.index, Some(k.pts)),
        None => (pts.len() as u64, None),
    };
    Ok(Cut {
        first_frame,
        end_frame,
        covers_first,
        covers_last,
        start_pts: start_pts_cut,
        end_pts,
        start_s: t(start_pts_cut),
        end_s: end_pts.map_or(duration_s, t),
    })
}

/// Every video frame's pts in presentation order (one pass over the
/// packets, no decoding).
fn frame_pts(info: &VideoInfo) -> Result<Vec<i64>> {
    let mut ictx = open_input(&info.path)?;
    let mut out = Vec::with_capacity(info.frames as usize);
    let mut packet = ff::Packet::empty();
    while read_packet(&mut ictx, &mut packet, &info.path)? {
        // Counted as probe counts: pre-roll is not a frame.
        if packet.stream() != info.stream_index || is_pre_roll(&packet) {
            continue;
        }
        let ts = match packet.pts().or(packet.dts()) {
            Some(t) => t,
            None => out.last().map_or(0, |t| t + 1),
        };
        out.push(ts);
    }
    out.sort_unstable();
    Ok(out)
}

/// Copies the source frames covering `[from_s, to_s)` (media seconds from
/// the start of the video stream), cut at keyframes as described in the
/// module documentation, into `out`'s temporary file, in the container
/// format its name's extension names (use the source's own). The caller
/// commits `out`.
///
/// # Errors
/// `InvalidArgument` for an empty range or one outside the file;
/// `Unsupported` when the file's timestamps are incomplete (a cut needs
/// them) or the container cannot be written; `Corrupt` on read errors or
/// when the packets copied do not match the frames planned; `Encode` when
/// writing fails.
pub fn copy_range(info: &VideoInfo, from_s: f64, to_s: f64, out: &PendingFile) -> Result<Remuxed> {
    let path = &info.path;
    if !info.timestamps_complete {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "video packets without presentation timestamps: cannot cut a stream copy at keyframes",
        )
        .with_path(path));
    }
    let pts = frame_pts(info)?;
    let cut = plan_cut(
        &pts,
        &info.keyframes,
        info.start_pts,
        info.time_base_f64(),
        info.duration_s,
        from_s,
        to_s,
    )?;
    let start_dts = info
        .keyframes
        .iter()
        .find(|k| k.pts == cut.start_pts && k.index == cut.first_frame)
        .map(|k| k.dts);
    super::init();
    let mut ictx = open_input(path)?;
    let mut octx = super::open_output(out.tmp_path(), None).map_err(|e| {
        Error::new(
            ErrorKind::Unsupported,
            format!("cannot write this container for a stream copy: {e}"),
        )
        .with_path(out.dest())
    })?;
    let container = octx.format().name().to_string();
    let (map, video_tb) = add_copy_streams(&ictx, &mut octx, info.stream_index, out)?;
    octx.write_header()
        .map_err(|e| write_err(out, "cannot write the container header", e))?;
    let mut copy = PacketCopy::new(&cut, start_dts, map, video_tb, &octx, info.stream_index);
    let mut packet = ff::Packet::empty();
    while read_packet(&mut ictx, &mut packet, path)? {
        copy.write(&mut packet, &mut octx, out)?;
    }
    octx.write_trailer()
        .map_err(|e| write_err(out, "cannot finish the container", e))?;
    drop(octx);
    let (video_packets, audio_packets) = (copy.video_packets, copy.audio_packets);
    if video_packets != cut.frames() {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "stream copy took {video_packets} video packets for the {} frames {}..{} (irregular stream)",
                cut.frames(),
                cut.first_frame,
                cut.end_frame
            ),
        )
        .with_path(path));
    }
    Ok(Remuxed {
        cut,
        video_packets,
        audio_packets,
        container,
    })
}

/// An `Encode` error for a failed write of `out`'s stream copy.
fn write_err(out: &PendingFile, what: &str, e: ff::Error) -> Error {
    Error::new(ErrorKind::Encode, format!("{what}: {e}")).with_path(out.dest())
}

/// Source stream -> (output stream, source time base).
type StreamMap = HashMap<usize, (usize, ff::Rational)>;

/// Adds a copy of video stream `vidx` and of each audio stream; returns the map and video time base.
fn add_copy_streams(
    ictx: &ff::format::context::Input,
    octx: &mut ff::format::context::Output,
    vidx: usize,
    out: &PendingFile,
) -> Result<(StreamMap, ff::Rational)> {
    let mut map = StreamMap::new();
    let mut video_tb = ff::Rational::new(1, 1);
    for ist in ictx.streams() {
        let medium = ist.parameters().medium();
        let is_video = ist.index() == vidx;
        if !is_video && medium != ff::media::Type::Audio {
            continue;
        }
        let mut ost = octx
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(|e| write_err(out, "cannot add stream", e))?;
        ost.set_parameters(ist.parameters());
        ost.set_time_base(ist.time_base());
        if is_video {
            super::copy_display_matrix(&ist, &mut ost);
            ost.set_avg_frame_rate(ist.avg_frame_rate());
            video_tb = ist.time_base();
        }
        map.insert(ist.index(), (ost.index(), ist.time_base()));
    }
    Ok((map, video_tb))
}

/// Which packets of the source go into the copy, and their new timestamps.
struct PacketCopy<'a> {
    cut: &'a Cut,
    vidx: usize,
    map: StreamMap,
    /// Output stream -> its time base once the header is written.
    out_tb: HashMap<usize, ff::Rational>,
    video_tb: ff::Rational,
    /// The copied span in source seconds, for audio.
    start_abs: f64,
    end_abs: f64,
    /// Source decode timestamp that becomes 0 in the copy.
    offset_video: Option<i64>,
    /// Whether the start keyframe has been read.
    started: bool,
    /// Whether the end keyframe has been read.
    video_done: bool,
    video_packets: u64,
    audio_packets: u64,
}

impl<'a> PacketCopy<'a> {
    /// Prepares to copy `cut`, with output time bases read from `octx` after its header.
    fn new(
        cut: &'a Cut,
        start_dts: Option<i64>,
        map: StreamMap,
        video_tb: ff::Rational,
        octx: &ff::format::context::Output,
        vidx: usize,
    ) -> Self {
        let out_tb = map
            .values()
            .filter_map(|&(o, _)| octx.stream(o).map(|s| (o, s.time_base())))
            .collect();
        let vtb = rational_f64(video_tb);
        PacketCopy {
            cut,
            vidx,
            map,
            out_tb,
            video_tb,
            start_abs: cut.start_pts as f64 * vtb,
            end_abs: cut.end_pts.map_or(f64::INFINITY, |p| p as f64 * vtb),
            offset_video: start_dts,
            started: cut.first_frame == 0 && start_dts.is_none(),
            video_done: false,
            video_packets: 0,
            audio_packets: 0,
        }
    }

    /// Writes `packet` to `octx`, shifted and rescaled, if the copy takes it.
    fn write(
        &mut self,
        packet: &mut ff::Packet,
        octx: &mut ff::format::context::Output,
        out: &PendingFile,
    ) -> Result<()> {
        let sidx = packet.stream();
        let Some(&(oidx, in_tb)) = self.map.get(&sidx) else {
            return Ok(());
        };
        let taken = if sidx == self.vidx {
            self.take_video(packet)
        } else {
            self.take_audio(packet, in_tb)
        };
        if !taken {
            return Ok(());
        }
        let otb = self
            .out_tb
            .get(&oidx)
            .copied()
            .unwrap_or(ff::Rational::new(0, 1));
        packet.rescale_ts(in_tb, otb);
        packet.set_stream(oidx);
        packet.set_position(-1);
        packet
            .write_interleaved(octx)
            .map_err(|e| write_err(out, "cannot write packet", e))
    }

    /// Whether a video packet lies in the cut; if so it is shifted and counted.
    fn take_video(&mut self, packet: &mut ff::Packet) -> bool {
        let cut = self.cut;
        let ts = packet.pts().or(packet.dts());
        if self.video_done {
            return false;
        }
        if !self.started {
            if packet.is_key() && ts == Some(cut.start_pts) {
                self.started = true;
            } else {
                return false;
            }
        }
        if packet.is_key() && cut.end_pts.is_some() && ts == cut.end_pts {
            self.video_done = true;
            return false;
        }
        let Some(ts) = ts else { return false };
        if ts < cut.start_pts || cut.end_pts.is_some_and(|e| ts >= e) {
            return false;
        }
        let offset = *self.offset_video.get_or_insert(packet.dts().unwrap_or(ts));
        shift(packet, offset);
        self.video_packets += 1;
        true
    }

    /// Whether an audio packet starts inside the video span; if so it is shifted and counted.
    fn take_audio(&mut self, packet: &mut ff::Packet, in_tb: ff::Rational) -> bool {
        let Some(ts) = packet.pts().or(packet.dts()) else {
            return false;
        };
        let t = ts as f64 * rational_f64(in_tb);
        if t < self.start_abs || t >= self.end_abs {
            return false;
        }
        let Some(ov) = self.offset_video else {
            return false;
        };
        let offset = ff::Rescale::rescale(&ov, self.video_tb, in_tb);
        shift(packet, offset);
        self.audio_packets += 1;
        true
    }
}

fn shift(packet: &mut ff::Packet, offset: i64) {
    if let Some(p) = packet.pts() {
        packet.set_pts(Some(p - offset));
    }
    if let Some(d) = packet.dts() {
        packet.set_dts(Some(d - offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(index: u64, leading: bool) -> Keyframe {
        Keyframe {
            index,
            pts: index as i64,
            dts: index as i64,
            leading_pictures: leading,
            bytes: 0,
            max_inter_bytes: 0,
        }
    }

    #[test]
    fn cuts_enclose_the_range_in_whole_gops() {
        let pts: Vec<i64> = (0..100).collect();
        let keys = [key(0, false), key(25, false), key(50, true), key(75, false)];
        // 1 frame per second.
        let c = plan_cut(&pts, &keys, 0, 1.0, 100.0, 30.5, 40.0).expect("cut");
        assert_eq!(
            (c.covers_first, c.covers_last, c.first_frame, c.end_frame),
            (30, 39, 25, 75),
            "the keyframe at 50 has leading pictures: the cut runs to 75"
        );
        let c = plan_cut(&pts, &keys, 0, 1.0, 100.0, 25.0, 25.5).expect("cut");
        assert_eq!((c.first_frame, c.end_frame), (25, 75));
        let c = plan_cut(&pts, &keys, 0, 1.0, 100.0, 80.0, 500.0).expect("cut");
        assert_eq!((c.first_frame, c.end_frame, c.end_pts), (75, 100, None));
        let c = plan_cut(&pts, &keys, 0, 1.0, 100.0, 0.0, 24.0).expect("cut");
        assert_eq!((c.first_frame, c.end_frame), (0, 25));
        assert!(plan_cut(&pts, &keys, 0, 1.0, 100.0, 10.0, 10.0).is_err());
        assert!(plan_cut(&pts, &keys, 0, 1.0, 100.0, 100.0, 120.0).is_err());
    }
}
