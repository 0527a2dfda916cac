//! [`Redactor`]: the object a service or a disclosure desk keeps to redact
//! many files with one configuration, its models loaded once.

use super::Job;
use crate::error::{Error, Result};
use crate::evidence::audit::Entry;
use crate::evidence::sign::SecretKey;
use crate::mask::camera::{LoadedProfile, Style};
use crate::media::{DecodeOptions, EncodeOptions};
use crate::pipeline::analyse::{self, AnalyseOptions, DetectorSet};
use crate::pipeline::redact::{self, ManualBox, RedactOptions, RedactionRecord};
use crate::store::Store;
use std::path::{Path, PathBuf};

/// Redacts files: a camera's privacy masks, and with detection every face
/// and plate track except those a [`Clip`] keeps, plus manual boxes; each
/// output gets its redaction record and, with an audit trail, a logged
/// entry. Built by [`Redactor::builder`], which checks the whole
/// configuration and loads the models once; [`Redactor::redact`] then runs
/// on any number of files.
///
/// ```no_run
/// use obscura_core::pipeline::{Clip, Job, Redactor};
/// # fn main() -> obscura_core::Result<()> {
/// // Every face and plate is obscured unless told otherwise.
/// let mut redactor = Redactor::builder("A. Officer", "SAR 2026/114")
///     .build()?; // models load here, once
/// for name in ["cam7-0800.mp4", "cam7-0815.mp4"] {
///     let out = format!("redacted-{name}");
///     let record = redactor.redact(&Clip::new(name, &out), &mut Job::new())?;
///     println!("{out}: {} boxes obscured", record.counts.obscured_boxes);
/// }
/// # Ok(())
/// # }
/// ```
pub struct Redactor {
    opts: RedactOptions,
    sets: Vec<DetectorSet>,
    trail: Option<(Store, Option<SecretKey>)>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("opts", &self.opts)
            .field("detection_workers", &self.sets.len())
            .field("audited", &self.trail.is_some())
            .finish()
    }
}

/// Configures a [`Redactor`]; every setting starts at the core's default
/// ([`RedactOptions::default`]: no camera, every face and plate detected,
/// boxes padded 1.3×, mosaic).
#[derive(Debug, Clone)]
pub struct RedactorBuilder {
    opts: RedactOptions,
    db: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// One file to redact, and what is particular to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clip {
    /// The footage.
    pub input: PathBuf,
    /// Where the redacted video goes (its record goes next to it).
    pub output: PathBuf,
    /// Track ids to leave visible (the requester), from a track listing of
    /// this file.
    pub keep_tracks: Vec<u32>,
    /// Why those tracks are kept.
    pub keep_reason: Option<String>,
    /// Regions a detector cannot know about, in this file's frames.
    pub boxes: Vec<ManualBox>,
    /// Re-create the regions of this earlier record instead of detecting.
    pub replay: Option<PathBuf>,
    /// Case or request reference, if any.
    pub case_reference: Option<String>,
}

impl Clip {
    /// `input` redacted into `output`, nothing kept, no manual boxes.
    pub fn new(input: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Self {
        Clip {
            input: input.into(),
            output: output.into(),
            ..Default::default()
        }
    }

    /// Leaves `ids` visible, for `reason`.
    #[must_use]
    pub fn keep(mut self, ids: impl IntoIterator<Item = u32>, reason: impl Into<String>) -> Self {
        self.keep_tracks.extend(ids);
        self.keep_reason = Some(reason.into());
        self
    }

    /// Also obscures `b`.
    #[must_use]
    pub fn with_box(mut self, b: ManualBox) -> Self {
        self.boxes.push(b);
        self
    }

    /// Re-creates the regions of the record at `record`.
    #[must_use]
    pub fn replay(mut self, record: impl Into<PathBuf>) -> Self {
        self.replay = Some(record.into());
        self
    }

    /// Records `reference` as the case or request this is for.
    #[must_use]
    pub fn case(mut self, reference: impl Into<String>) -> Self {
        self.case_reference = Some(reference.into());
        self
    }
}

impl Redactor {
    /// A builder for redactions by `operator` for `reason` (both recorded,
    /// both required).
    pub fn builder(operator: impl Into<String>, reason: impl Into<String>) -> RedactorBuilder {
        RedactorBuilder {
            opts: RedactOptions::new(operator, reason),
            db: None,
            key: None,
        }
    }

    /// A builder starting from `opts` (its per-file fields are ignored:
    /// they come with each [`Clip`]; its `case_reference` is the default
    /// for clips that name none).
    pub fn with_options(opts: RedactOptions) -> RedactorBuilder {
        RedactorBuilder {
            opts,
            db: None,
            key: None,
        }
    }

    /// The configuration every file is redacted with.
    pub fn options(&self) -> &RedactOptions {
        &self.opts
    }

    /// Detection workers holding loaded models (0 without detection).
    pub fn detection_workers(&self) -> usize {
        self.sets.len()
    }

    /// Redacts `clip.input` into `clip.output` and writes the record next to
    /// the output; with an audit trail, logs it there (signing the head
    /// when a key was given) before output and record take their names, so
    /// neither is ever there unlogged, even if the process is killed (see
    /// [`disclose::log_and_place`](super::disclose)); what such a kill left
    /// is settled by the next redaction into the same output. The models
    /// loaded by the builder are reused.
    ///
    /// # Errors
    /// `InvalidArgument` for what is wrong with this clip (a kept track
    /// without a reason or that the file does not hold, a box outside the
    /// picture) before any output appears; `AlreadyExists` when a logged
    /// redaction into this output, cut short, has just been put in place
    /// (unless replacing); otherwise as [`redact::redact`]. A failure
    /// leaves neither output nor record, and logs nothing.
    pub fn redact(&mut self, clip: &Clip, job: &mut Job<'_>) -> Result<RedactionRecord> {
        let mut opts = self.opts.clone();
        opts.keep_tracks.clone_from(&clip.keep_tracks);
        opts.keep_reason.clone_from(&clip.keep_reason);
        opts.boxes.clone_from(&clip.boxes);
        opts.case_reference = clip
            .case_reference
            .clone()
            .or_else(|| self.opts.case_reference.clone());
        // A replay draws what its record says, with the record's
        // detection settings; this redactor's detection is not run for it.
        // refuses one (as the options do).
        opts.replay.clone_from(&clip.replay);
        opts.pipeline.decode.cancel = job.cancel_token();
        let sets = (!self.sets.is_empty() && opts.detect.is_some()).then_some(&mut self.sets[..]);
        let progress = &mut |p| job.report(p);
        match self.trail.as_mut() {
            Some((index, key)) => {
                let trail = (index, key.as_ref());
                redact_logged_using(&clip.input, &clip.output, &opts, sets, trail, progress)
                    .map(|(record, _)| record)
            }
            None => {
                let (record, finished) =
                    redact::redact_using(&clip.input, &clip.output, &opts, sets, progress)?;
                finished.commit()?;
                Ok(record)
            }
        }
    }
}

/// Redacts `input` into `output` as [`redact::redact`] does, and logs the
/// redaction in `index`'s audit trail (the head signed with `key`) before
/// output and record take their names: they wait staged while the entry
/// commits ([`disclose::log_and_place`](super::disclose)), so neither is
/// ever there unlogged, even if the process is killed. What such a kill left
/// beside `output` is settled first: logged staged files are put in place
/// (and, unless replacing, the call stops there with `AlreadyExists`),
/// unlogged ones removed. Returns the record and the entries logged. This
/// is what a [`Redactor`] with an audit trail does for each clip.
///
/// # Errors
/// As [`redact::redact`]; `AlreadyExists` as above; `Database` on
/// database failures. A failure leaves neither output nor record, and
/// logs nothing.
pub fn redact_logged(
    input: &Path,
    output: &Path,
    opts: &RedactOptions,
    index: &mut Store,
    key: Option<&SecretKey>,
    progress: &mut dyn FnMut(super::Progress),
) -> Result<(RedactionRecord, Vec<Entry>)> {
    redact_logged_using(input, output, opts, None, (index, key), progress)
}

fn redact_logged_using(
    input: &Path,
    output: &Path,
    opts: &RedactOptions,
    sets: Option<&mut [DetectorSet]>,
    (index, key): (&mut Store, Option<&SecretKey>),
    progress: &mut dyn FnMut(super::Progress),
) -> Result<(RedactionRecord, Vec<Entry>)> {
    let settled = super::disclose::settle_redaction(index, output)?;
    if let (Some(seq), false) = (settled, opts.pipeline.encode.replace_existing) {
        return Err(Error::new(
            crate::error::ErrorKind::AlreadyExists,
            format!(
                "already exists: the redaction logged at audit entry {seq} had been cut short before its output and record were put in place, and now they are"
            ),
        )
        .with_path(output));
    }
    let (record, finished) = redact::redact_using(input, output, opts, sets, progress)?;
    let entries = super::disclose::log_and_place(index, &record, finished, key)?;
    Ok((record, entries))
}

impl RedactorBuilder {
    /// Obscures the privacy masks of the camera profile at `path`.
    #[must_use]
    pub fn camera(mut self, path: impl Into<PathBuf>) -> Self {
        self.opts.camera = Some(path.into());
        self
    }

    /// Lifts mask `id` under `authorisation` (e.g. a RIPA reference); the
    /// lifting is recorded and, with an audit trail, logged.
    #[must_use]
    pub fn unmask(mut self, id: impl Into<String>, authorisation: impl Into<String>) -> Self {
        self.opts.unmask.push(id.into());
        self.opts.authorisation = Some(authorisation.into());
        self
    }

    /// Whether faces are detected and obscured (on by default), at the
    /// default settings. With neither faces nor plates, only the privacy
    /// masks and manual boxes are drawn.
    #[must_use]
    pub fn faces(mut self, on: bool) -> Self {
        let mut detect = self.opts.detect.take().unwrap_or_else(no_detection);
        detect.faces = on.then(crate::detect::FaceSettings::default);
        self.opts.detect = detect.any().then_some(detect);
        self
    }

    /// Whether number plates are detected and obscured (on by default), at
    /// the default settings. With neither faces nor plates, only the
    /// privacy masks and manual boxes are drawn.
    #[must_use]
    pub fn plates(mut self, on: bool) -> Self {
        let mut detect = self.opts.detect.take().unwrap_or_else(no_detection);
        detect.plates = on.then(crate::detect::PlateSettings::default);
        self.opts.detect = detect.any().then_some(detect);
        self
    }

    /// Whether whole people are detected and obscured (off by default), at
    /// the default settings; what of them is obscured is
    /// [`Self::person_region`].
    #[must_use]
    pub fn people(mut self, on: bool) -> Self {
        let mut detect = self.opts.detect.take().unwrap_or_else(no_detection);
        detect.people = on.then(crate::detect::PersonSettings::default);
        self.opts.detect = detect.any().then_some(detect);
        self
    }

    /// What of a person who is not kept is obscured: the whole body (the
    /// default) or the head region.
    #[must_use]
    pub fn person_region(mut self, region: crate::pipeline::redact::PersonRegion) -> Self {
        self.opts.person_region = region;
        self
    }

    /// Detects with exactly these settings (`None`: masks and boxes only).
    #[must_use]
    pub fn detection(mut self, detect: Option<AnalyseOptions>) -> Self {
        self.opts.detect = detect;
        self
    }

    /// Scene redaction: the whole picture obscured except the kept tracks'
    /// boxes (see [`RedactOptions::scene`]); off by default.
    #[must_use]
    pub fn scene(mut self, on: bool) -> Self {
        self.opts.scene = on;
        self
    }

    /// Whether every region the motion model finds moving is obscured
    /// unless it overlaps a kept track (see [`RedactOptions::moving`]); off
    /// by default.
    #[must_use]
    pub fn moving(mut self, on: bool) -> Self {
        self.opts.moving = on;
        self
    }

    /// Enlarges detection boxes by `pad` about their centre (1 to 3).
    #[must_use]
    pub fn pad(mut self, pad: f32) -> Self {
        self.opts.pad = pad;
        self
    }

    /// How detections and manual boxes are obscured.
    #[must_use]
    pub fn style(mut self, style: Style) -> Self {
        self.opts.detection_style = style;
        self
    }

    /// How to decode.
    #[must_use]
    pub fn decode(mut self, decode: DecodeOptions) -> Self {
        self.opts.pipeline.decode = decode;
        self
    }

    /// How to encode (x264 quality, audio, replacing an existing output).
    #[must_use]
    pub fn encode(mut self, encode: EncodeOptions) -> Self {
        self.opts.pipeline.encode = encode;
        self
    }

    /// Records `reference` as the case for every clip that names none.
    #[must_use]
    pub fn case(mut self, reference: impl Into<String>) -> Self {
        self.opts.case_reference = Some(reference.into());
        self
    }

    /// Logs every redaction in the audit trail of the index at `db`,
    /// signing its head with the Ed25519 key file `key` when given.
    #[must_use]
    pub fn audit(mut self, db: impl Into<PathBuf>, key: Option<PathBuf>) -> Self {
        self.db = Some(db.into());
        self.key = key;
        self
    }

    /// Checks the whole configuration, opens the audit trail and the key,
    /// and loads the models (one session set per detection worker), so
    /// that nothing about the configuration can fail once files are
    /// redacted.
    ///
    /// # Errors
    /// `InvalidArgument` for a missing operator or reason, a pad out of
    /// range, a lifted mask without authorisation or not in the profile,
    /// invalid encoder settings; `NotFound`/`InvalidArgument` for an
    /// unreadable camera profile; `Model`/`Runtime` when a model cannot
    /// load; `Database` or key errors for the audit trail.
    pub fn build(self) -> Result<Redactor> {
        let RedactorBuilder { opts, db, key } = self;
        let camera = opts
            .camera
            .as_deref()
            .map(LoadedProfile::load)
            .transpose()?;
        let general = RedactOptions {
            keep_tracks: Vec::new(),
            keep_reason: None,
            boxes: Vec::new(),
            replay: None,
            ..opts.clone()
        };
        redact::validate(&general, camera.as_ref())?;
        opts.pipeline.encode.validate()?;
        opts.pipeline.decode.validate()?;
        let trail = match db {
            Some(db) => Some((
                Store::open(&db)?,
                key.as_deref().map(SecretKey::load).transpose()?,
            )),
            None => None,
        };
        let sets = match &opts.detect {
            Some(d) => analyse::worker_detectors(d)?,
            None => Vec::new(),
        };
        Ok(Redactor { opts, sets, trail })
    }
}

/// Detection settings with nothing switched on yet.
fn no_detection() -> AnalyseOptions {
    AnalyseOptions {
        faces: None,
        plates: None,
        ..AnalyseOptions::default()
    }
}
