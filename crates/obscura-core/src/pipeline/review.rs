//! Review before redaction, for a subject access disclosure: a clip's
//! tracks found once ([`Review::start`]); then the officer's decisions
//! ([`Decisions`]: tracks kept with reasons, boxes drawn, masks lifted
//! under an authorisation) previewed on any frame ([`Review::preview`])
//! exactly as the redaction will draw it; then saved as a redaction record
//! ([`Review::record`]), which a replay
//! ([`RedactOptions::replay`](super::redact::RedactOptions::replay))
//! turns into the output.
//!
//! Exactness comes from sharing, not from care: the preview and the
//! replay draw the same track records (made by the redaction's own
//! `track_records` from the same tracks, with the same kept set, so a kept
//! person's whole box and an obscured person's head band are what the
//! redaction would record), the same moving regions, the same manual boxes,
//! through the same renderer. A lossless replay equals the preview pixel
//! for pixel (tested).

use super::analyse::{self, AnalyseOptions, BestThumbs, TrackSummary};
use super::redact::{
    self, add_moving, boxes_at, check_kept_tracks, count_boxes, drawing_plan, invalid,
    moving_records, plan_of, profile_of, track_records, CameraRef, Counts, DetectionRecord,
    FileRef, KeptTrack, LiftedMask, ManualBox, Plan, RedactOptions, RedactionRecord, Renderer,
    Tool, TrackRecord,
};
use super::Job;
use crate::detect::Class;
use crate::error::{Error, ErrorKind, Result};
use crate::frame::sheet::Thumb;
use crate::mask::camera::LoadedProfile;
use crate::media::{self, DecodedFrame, VideoInfo};
use crate::pipeline::moving::Moving;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the officer decided.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decisions {
    /// Tracks left visible, each with its reason (a kept person's faces and
    /// a kept face's person go with it, as in a redaction).
    pub keep: Vec<KeptTrack>,
    /// Boxes drawn by hand over ranges of frames.
    pub boxes: Vec<ManualBox>,
    /// Privacy masks lifted, each under an authorisation, by an operator.
    pub lifted: Vec<LiftedMask>,
}

/// A clip's tracks, found once, and everything needed to draw any set of
/// decisions on any of its frames.
#[derive(Debug)]
pub struct Review {
    input: PathBuf,
    input_sha256: String,
    opts: RedactOptions,
    settings: AnalyseOptions,
    analysis: analyse::Analysis,
    moving: BTreeMap<u64, Vec<[i64; 4]>>,
    camera: Option<LoadedProfile>,
    tracks: Vec<TrackSummary>,
    thumbnails: Vec<Thumb>,
}

/// What a set of decisions draws.
struct Drawing {
    tracks: Vec<TrackRecord>,
    plan: Plan,
    kept: Plan,
    moving: Vec<[i64; 5]>,
    /// Tracks kept along with a kept one: `(track, the kept one)`.
    linked: Vec<(u32, u32)>,
}

impl Review {
    /// Detects and tracks `input` with `opts`' detection settings (and
    /// finds its moving regions when `opts.moving`), with `sets` if given
    /// (one detector set per worker, as a [`Redactor`](super::Redactor)
    /// keeps them) or models loaded for this call, reporting progress to
    /// `job` and stopping when it is cancelled. `opts`' kept tracks, boxes
    /// and lifted masks are ignored: those are [`Decisions`].
    ///
    /// # Errors
    /// `InvalidArgument` without detection or for invalid options;
    /// `Interrupted` when cancelled; as [`redact::redact`] otherwise.
    pub fn start(
        input: &Path,
        opts: &RedactOptions,
        sets: Option<&mut [analyse::DetectorSet]>,
        job: &mut Job<'_>,
    ) -> Result<Review> {
        let settings = opts.detect.clone().ok_or_else(|| {
            invalid("a review needs detection (faces, plates or people) to find tracks")
        })?;
        let mut opts = RedactOptions {
            keep_tracks: Vec::new(),
            keep_reason: None,
            boxes: Vec::new(),
            unmask: Vec::new(),
            authorisation: None,
            replay: None,
            ..opts.clone()
        };
        opts.pipeline.decode.cancel = job.cancel_token();
        let camera = profile_of(&opts, None)?;
        // Who redacts and why are asked when the record is made.
        redact::validate(
            &RedactOptions {
                operator: "review".into(),
                reason: "review".into(),
                ..opts.clone()
            },
            camera.as_ref(),
        )?;
        let hashing = {
            let input = input.to_path_buf();
            std::thread::spawn(move || crate::hash::file_sha256(&input))
        };
        let info = media::probe(input)?;
        let mut loaded;
        let sets = match sets {
            Some(s) => s,
            None => {
                loaded = analyse::worker_detectors(&settings)?;
                &mut loaded[..]
            }
        };
        let mut motion = Moving::wanted(opts.moving, info.width, info.height)?;
        let mut moving: BTreeMap<u64, Vec<[i64; 4]>> = BTreeMap::new();
        let mut best = BestThumbs::default();
        let analysis = analyse::analyse_each(
            input,
            &redact::ahead_of_detection(&opts.pipeline.decode),
            sets,
            settings.tracker,
            settings.roi_plan(),
            &mut |p| job.report(p),
            &mut |frame, dets, ids, _| {
                best.see(&frame, dets, ids);
                if let Some(m) = motion.as_mut() {
                    moving.insert(frame.index(), m.push(&frame.view())?);
                }
                Ok(())
            },
        )?;
        let input_sha256 = hashing
            .join()
            .map_err(|_| Error::new(ErrorKind::Io, "input hashing thread failed"))?
            .map_err(|e| Error::io(e, "cannot hash input").with_path(input))?;
        let (tracks, thumbnails) = best.listing(&analysis);
        Ok(Review {
            input: input.to_path_buf(),
            input_sha256,
            opts,
            settings,
            analysis,
            moving,
            camera,
            tracks,
            thumbnails,
        })
    }

    /// The clip's facts.
    pub fn info(&self) -> &VideoInfo {
        &self.analysis.info
    }

    /// The tracks offered to the officer, by id.
    pub fn tracks(&self) -> &[TrackSummary] {
        &self.tracks
    }

    /// The ids of the camera profile's privacy masks (none without a
    /// profile): the masks a [`Decisions`] may lift.
    pub fn masks(&self) -> Vec<String> {
        self.camera
            .as_ref()
            .map(|c| c.profile.masks.iter().map(|m| m.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Each offered track's best-quality thumbnail (RGB, square), in the
    /// order of [`Review::tracks`].
    pub fn thumbnails(&self) -> &[Thumb] {
        &self.thumbnails
    }

    /// Checks `d` against the clip and works out what it draws.
    fn drawing(&self, d: &Decisions) -> Result<Drawing> {
        let info = &self.analysis.info;
        let ids: Vec<u32> = d.keep.iter().map(|k| k.id).collect();
        check_kept_tracks(&ids, &self.analysis)?;
        if let Some(k) = d.keep.iter().find(|k| k.reason.trim().is_empty()) {
            return Err(invalid(format!(
                "keeping track {} visible needs a reason",
                k.id
            )));
        }
        for m in &d.lifted {
            redact::validate(
                &RedactOptions {
                    unmask: vec![m.id.clone()],
                    authorisation: Some(m.authorisation.clone()),
                    operator: m.operator.clone(),
                    reason: "review".into(),
                    ..self.opts.clone()
                },
                self.camera.as_ref(),
            )?;
            if m.operator.trim().is_empty() {
                return Err(invalid(format!(
                    "lifting mask {:?} needs the operator who lifts it",
                    m.id
                )));
            }
        }
        let linked = crate::track::kept_with(&ids, &crate::track::owners(&self.analysis.tracks));
        let keep: Vec<u32> = ids
            .iter()
            .copied()
            .chain(linked.iter().map(|l| l.0))
            .collect();
        let (w, h) = (info.width as f32, info.height as f32);
        let tracks = track_records(&self.analysis, &keep, &self.opts, w, h);
        let kept = plan_of(&tracks, true);
        let moving = moving_records(&self.moving, &kept);
        redact::validate_regions(
            &tracks,
            &d.boxes,
            &moving,
            info.width,
            info.height,
            info.frames,
        )?;
        let mut plan = drawing_plan(&tracks);
        add_moving(&mut plan, &moving);
        Ok(Drawing {
            tracks,
            plan,
            kept,
            moving,
            linked,
        })
    }

    /// Frame `index` of the clip with `d` drawn on it exactly as the
    /// redaction draws it: masks (less the lifted ones), then everything
    /// not kept, then the manual boxes.
    ///
    /// # Errors
    /// `InvalidArgument` for decisions that do not fit the clip (a track
    /// that does not exist, a kept track without a reason, a box off the
    /// picture, a mask lifted without authorisation); `Corrupt` when the
    /// clip has no frame `index`; decode errors.
    pub fn preview(&self, d: &Decisions, index: u64) -> Result<DecodedFrame> {
        let drawing = self.drawing(d)?;
        let mut frame = media::frame_at(&self.analysis.info, index, 0)?;
        let unmask: Vec<String> = d.lifted.iter().map(|m| m.id.clone()).collect();
        let mut renderer = Renderer::new(
            self.camera.as_ref().map(|c| &c.profile),
            &unmask,
            self.opts.detection_style,
            self.opts.scene,
        );
        let boxes = boxes_at(&drawing.plan, &d.boxes, index, u64::MAX);
        let kept = drawing.kept.get(&index).map_or(&[][..], Vec::as_slice);
        {
            let mut view = frame.view_mut()?;
            renderer
                .draw(&mut view, &boxes, kept)
                .map_err(|e| e.with_path(&self.input))?;
        }
        Ok(frame)
    }

    /// `d` as a redaction record, by `operator` for `reason`: the review's
    /// saved state, and what a replay redacts from. It names no output
    /// (its `output` is empty: nothing has been written yet) and no masks
    /// applied; the replay's own record has both.
    ///
    /// # Errors
    /// As [`Review::preview`], and `InvalidArgument` without an operator or
    /// a reason.
    pub fn record(
        &self,
        d: &Decisions,
        operator: &str,
        reason: &str,
        case_reference: Option<&str>,
    ) -> Result<RedactionRecord> {
        if operator.trim().is_empty() || reason.trim().is_empty() {
            return Err(invalid(
                "a review's record needs the operator and the reason",
            ));
        }
        let drawing = self.drawing(d)?;
        let info = &self.analysis.info;
        let mut kept_tracks = d.keep.clone();
        kept_tracks.extend(drawing.linked.iter().map(|&(id, via)| {
            let why = d
                .keep
                .iter()
                .find(|k| k.id == via)
                .map_or("", |k| k.reason.as_str());
            KeptTrack {
                id,
                reason: format!("{why} (goes with kept track {via})"),
            }
        }));
        let (obscured_boxes, frames_with_boxes) = count_boxes(&drawing.plan, &d.boxes, info.frames);
        let t = &drawing.tracks;
        let count = |c: Class| t.iter().filter(|x| x.class == c).count();
        let counts = Counts {
            tracks: t.len(),
            face_tracks: count(Class::Face),
            plate_tracks: count(Class::Plate),
            person_tracks: count(Class::Person),
            plate_zone_tracks: count(Class::PlateZone),
            kept_tracks: t.iter().filter(|x| x.kept).count(),
            detections: self.analysis.detections,
            obscured_boxes,
            frames_with_boxes,
        };
        let now = redact::now();
        Ok(RedactionRecord {
            schema: redact::RECORD_SCHEMA.to_string(),
            tool: Tool {
                name: "obscura".into(),
                version: crate::VERSION.into(),
            },
            input: FileRef {
                path: self.input.clone(),
                sha256: self.input_sha256.clone(),
                frames: info.frames,
                declared_frames: info.declared_frames_missing(),
                cut_short: info.cut_short.clone(),
            },
            output: FileRef {
                path: PathBuf::new(),
                sha256: String::new(),
                frames: 0,
                declared_frames: None,
                cut_short: None,
            },
            camera: self.camera.clone().map(CameraRef::of).transpose()?,
            masks_applied: Vec::new(),
            masks_lifted: d.lifted.clone(),
            operator: operator.to_string(),
            reason: reason.to_string(),
            case_reference: case_reference.map(str::to_string),
            encode: self.opts.pipeline.encode.clone(),
            detection: Some(DetectionRecord::of(&self.settings, info, &self.opts)?),
            tracks: drawing.tracks,
            kept_tracks,
            manual_boxes: d.boxes.clone(),
            counts,
            replay_of: None,
            scene: self.opts.scene,
            moving: self.opts.moving,
            moving_boxes: drawing.moving,
            replaced: None,
            started_utc: now.clone(),
            finished_utc: now,
        })
    }
}
