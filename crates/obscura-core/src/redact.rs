//! Redaction: decode, obscure the camera's privacy masks on every frame,
//! encode, and write a redaction record next to the output once the output
//! is complete.
//!
//! A mask may be lifted only under a recorded authorisation (for example a
//! RIPA reference) and a named operator; the record says which masks were
//! lifted, under what, and by whom.

use crate::camera::{LoadedProfile, Style};
use crate::error::{Error, ErrorKind, Result};
use crate::mask::MaskSet;
use crate::media::EncodeOptions;
use crate::output::PendingFile;
use crate::pipeline::{self, PipelineOptions, Progress};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Schema identifier of the redaction record written by this version.
pub const RECORD_SCHEMA: &str = "obscura.redaction/1";

/// What to redact and on whose authority.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// When the work started (UTC, RFC 3339).
    pub started_utc: String,
    /// When the output and record were complete (UTC, RFC 3339).
    pub finished_utc: String,
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

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn validate(opts: &RedactOptions, camera: Option<&LoadedProfile>) -> Result<()> {
    if opts.operator.trim().is_empty() {
        return Err(invalid("an operator is required (--operator NAME)"));
    }
    if opts.reason.trim().is_empty() {
        return Err(invalid("a reason is required (--reason TEXT)"));
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
            "lifting a mask needs an authorisation reference (--authorisation REF, e.g. a RIPA reference) and an operator",
        ));
    }
    let Some(camera) = camera else {
        return Err(invalid("--unmask needs a camera profile (--camera FILE)"));
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

/// Redacts `input` into `output` and writes the record next to it.
///
/// # Errors
/// `InvalidArgument` for a missing operator or reason, a lifted mask without
/// authorisation, or an invalid profile; otherwise as
/// [`pipeline::transcode`]. On error neither output nor record is left.
pub fn redact(
    input: &Path,
    output: &Path,
    opts: &RedactOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<RedactionRecord> {
    let started_utc = now();
    let camera = opts
        .camera
        .as_deref()
        .map(LoadedProfile::load)
        .transpose()?;
    validate(opts, camera.as_ref())?;
    // Claim the record's name too before any work, so an unwritable place
    // fails fast.
    let record_out = PendingFile::new(record_path(output), &[input])?;

    let input_hash = {
        let input = input.to_path_buf();
        std::thread::spawn(move || crate::hash::file_sha256(&input))
    };

    let mut masks: Option<(usize, usize, MaskSet)> = None;
    let summary = pipeline::run(input, output, &opts.pipeline, progress, |frame, _| {
        if let Some(cam) = &camera {
            let (w, h) = (frame.width(), frame.height());
            if masks.as_ref().is_none_or(|m| (m.0, m.1) != (w, h)) {
                masks = Some((w, h, MaskSet::new(&cam.profile, w, h, &opts.unmask)));
            }
            if let Some((_, _, set)) = &masks {
                set.apply(frame);
            }
        }
        Ok(())
    })?;

    let cleanup = |e: Error| {
        let _ = std::fs::remove_file(&summary.output);
        e
    };
    let input_sha = input_hash
        .join()
        .map_err(|_| Error::new(ErrorKind::Io, "input hashing thread failed"))
        .and_then(|r| r.map_err(|e| Error::io(e, "cannot hash input").with_path(input)))
        .map_err(cleanup)?;
    let output_sha = crate::hash::file_sha256(&summary.output)
        .map_err(|e| cleanup(Error::io(e, "cannot hash output").with_path(output)))?;

    let masks_applied = masks
        .map(|(_, _, set)| {
            set.regions()
                .iter()
                .map(|(id, r)| AppliedMask {
                    id: id.clone(),
                    style: r.style(),
                    tile_px: r.tile(),
                    pixels: r.luma().area(),
                    frames: summary.frames_out,
                })
                .collect()
        })
        .unwrap_or_default();
    let masks_lifted = opts
        .unmask
        .iter()
        .map(|id| LiftedMask {
            id: id.clone(),
            authorisation: opts.authorisation.clone().unwrap_or_default(),
            operator: opts.operator.clone(),
        })
        .collect();
    let camera = camera
        .map(|c| -> Result<CameraRef> {
            Ok(CameraRef {
                profile: serde_json::to_value(&c.profile).map_err(|e| {
                    Error::new(ErrorKind::Io, format!("cannot serialise profile: {e}"))
                })?,
                path: c.path,
                sha256: c.sha256,
            })
        })
        .transpose()
        .map_err(cleanup)?;
    let record = RedactionRecord {
        schema: RECORD_SCHEMA.to_string(),
        tool: Tool {
            name: "obscura".into(),
            version: crate::VERSION.into(),
        },
        input: FileRef {
            path: input.to_path_buf(),
            sha256: input_sha,
            frames: summary.frames_in,
        },
        output: FileRef {
            path: summary.output.clone(),
            sha256: output_sha,
            frames: summary.frames_out,
        },
        camera,
        masks_applied,
        masks_lifted,
        operator: opts.operator.clone(),
        reason: opts.reason.clone(),
        case_reference: opts.case_reference.clone(),
        encode: opts.pipeline.encode.clone(),
        started_utc,
        finished_utc: now(),
    };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| {
        cleanup(Error::new(
            ErrorKind::Io,
            format!("cannot serialise record: {e}"),
        ))
    })?;
    std::fs::write(record_out.tmp_path(), json)
        .map_err(|e| cleanup(Error::io(e, "cannot write record").with_path(record_out.dest())))?;
    record_out.commit().map_err(cleanup)?;
    Ok(record)
}
