//! `obscura`: the command-line face of obscura-core. Every subcommand is a
//! thin shell over the library's public API.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use obscura_core::camera::CameraProfile;
use obscura_core::index::{self, GroupBy, IncidentFilter, IncidentRow, Index, Month, Report};
use obscura_core::media::{self, AudioPolicy, DecodeOptions, EncodeOptions, Preset};
use obscura_core::motion::MotionOptions;
use obscura_core::pipeline::{self, PipelineOptions, Progress};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "obscura",
    version,
    about = "Video analytics and redaction for CCTV control rooms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
// Parsed once per run: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Show what video files hold: size, codec, frame rate, exact frame
    /// count, duration, keyframes, audio.
    Probe {
        /// Files to probe.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON array of objects, one per file.
        #[arg(long)]
        json: bool,
    },
    /// Decode and re-encode to H.264/MP4, keeping every frame's timing and
    /// the audio.
    Transcode {
        /// Input video.
        input: PathBuf,
        /// Output file (.mp4, .m4v or .mov).
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        encode: EncodeArgs,
        #[command(flatten)]
        decode: DecodeArgs,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the face and plate tracks of a clip, with a contact sheet (PNG)
    /// of one labelled thumbnail per track, so the requester can be picked.
    Tracks {
        /// Input video.
        input: PathBuf,
        #[command(flatten)]
        detect: DetectArgs,
        /// Contact sheet path (default: INPUT-NAME.tracks.png here).
        #[arg(long)]
        sheet: Option<PathBuf>,
        /// Replace an existing contact sheet (never an input).
        #[arg(long)]
        force: bool,
        /// Print the tracks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-run detection on a redacted output and list every face or plate
    /// still visible. Exits 2 when it finds any, so scripts can gate
    /// disclosure on it.
    VerifyRedaction {
        /// Redacted video.
        output: PathBuf,
        /// Its redaction record (default: OUTPUT.redaction.json if present):
        /// detection settings are taken from it and kept tracks are expected.
        #[arg(long)]
        record: Option<PathBuf>,
        /// Report detections scoring at least this (default: the
        /// redaction's own threshold).
        #[arg(long)]
        min_score: Option<f32>,
        #[command(flatten)]
        detect: DetectArgs,
        /// Print the residuals as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the installation: FFmpeg with x264, ONNX Runtime, models
    /// (pinned hashes, and that they load and run), sample footage.
    Doctor {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Obscure a camera's privacy masks on every frame and write a redaction
    /// record (OUTPUT.redaction.json) next to the output.
    Redact {
        /// Input video.
        input: PathBuf,
        /// Output file (.mp4, .m4v or .mov).
        #[arg(short, long)]
        output: PathBuf,
        /// Camera profile (TOML) with the privacy masks.
        #[arg(long)]
        camera: Option<PathBuf>,
        /// Lift this mask (repeatable); needs --authorisation and --operator.
        #[arg(long = "unmask", value_name = "MASK_ID")]
        unmask: Vec<String>,
        /// Authorisation reference for lifting masks (e.g. a RIPA reference).
        #[arg(long)]
        authorisation: Option<String>,
        /// Who is doing this (recorded).
        #[arg(long)]
        operator: Option<String>,
        /// Why (recorded).
        #[arg(long)]
        reason: Option<String>,
        /// Case or request reference (recorded).
        #[arg(long = "case")]
        case_reference: Option<String>,
        #[command(flatten)]
        detect: DetectArgs,
        /// Leave this track visible (the requester; repeatable). Ids come
        /// from `obscura tracks`.
        #[arg(long = "keep-track", value_name = "ID")]
        keep_tracks: Vec<u32>,
        /// Why the kept tracks stay visible (recorded).
        #[arg(long)]
        keep_reason: Option<String>,
        /// Obscure a region a detector cannot know about:
        /// FIRST-LAST:x,y,w,h (frames, pixels; repeatable).
        #[arg(long = "box", value_name = "FRAMES:x,y,w,h")]
        boxes: Vec<String>,
        /// Enlarge detection boxes by this factor.
        #[arg(long, default_value_t = 1.3)]
        pad: f32,
        /// How detections and manual boxes are obscured: mosaic, blur or solid.
        #[arg(long, default_value = "mosaic")]
        style: String,
        /// Re-create the regions of an earlier redaction record instead of
        /// detecting (bit-identical frames before encoding).
        #[arg(long)]
        replay: Option<PathBuf>,
        #[command(flatten)]
        encode: EncodeArgs,
        #[command(flatten)]
        decode: DecodeArgs,
        /// Log the redaction (and any lifted mask with its authorisation)
        /// in this index database's audit trail.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Ed25519 secret key file: sign the audit trail's head (with --db).
        #[arg(long, requires = "db")]
        key: Option<PathBuf>,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export evidence: a stream copy (no re-encode) of the recordings
    /// covering a time range, cut at the enclosing keyframes, with a
    /// manifest of file and per-frame hashes; logged in the audit trail and
    /// the sources held.
    Export {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
        /// Camera number.
        #[arg(long)]
        camera: u32,
        /// Start (UTC; YYYY-MM-DD, "YYYY-MM-DD HH:MM:SS" or RFC 3339).
        #[arg(long)]
        from: String,
        /// End, exclusive (UTC).
        #[arg(long)]
        to: String,
        /// Exhibit reference (e.g. JS/1).
        #[arg(long)]
        exhibit: String,
        /// Who is exporting (recorded).
        #[arg(long)]
        operator: String,
        /// Why (recorded).
        #[arg(long)]
        reason: String,
        /// Directory for the exhibit (created if missing).
        #[arg(short, long)]
        output: PathBuf,
        /// Also write an H.264 MP4 working copy with the time burned in.
        #[arg(long)]
        working_copy: bool,
        /// Do not hold the source recordings under the exhibit reference.
        #[arg(long)]
        no_hold: bool,
        /// Ed25519 secret key file: sign the manifest and the audit head.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check an exhibit against its manifest: every file's sha256 and every
    /// frame of each master; the signature if there is one. Exits 2 when
    /// anything fails, naming the first bad frame.
    Verify {
        /// The manifest (REF.manifest.json).
        manifest: PathBuf,
        /// Ed25519 public key (64 hex digits, or a file) the manifest must
        /// be signed with.
        #[arg(long)]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The audit trail: verify, list, sign its head, make a signing key.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Apply the retention period: remove index rows (and optionally the
    /// files) of recordings that ended more than DAYS ago, except held ones;
    /// every removal is logged in the audit trail.
    Retention {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
        /// Days recordings are kept.
        #[arg(long, default_value_t = 28)]
        days: u32,
        /// Delete the recording files too (only if unchanged since indexed).
        #[arg(long)]
        delete_files: bool,
        /// List what would go; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Count the window back from this time instead of now (UTC).
        #[arg(long)]
        now: Option<String>,
        /// Who (recorded).
        #[arg(long, default_value = "obscura retention")]
        operator: String,
        /// Why (recorded; default: the retention period elapsed).
        #[arg(long)]
        reason: Option<String>,
        /// Ed25519 secret key file: sign the audit head.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hold recordings as evidence (retention never removes them), release
    /// a hold, or list holds. Logged in the audit trail.
    Hold {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
        /// Hold this indexed recording.
        #[arg(long, conflicts_with_all = ["camera", "list", "release"])]
        recording: Option<PathBuf>,
        /// Hold every recording of this camera overlapping --from..--to.
        #[arg(long, requires_all = ["from", "to"], conflicts_with_all = ["list", "release"])]
        camera: Option<u32>,
        /// Start (UTC).
        #[arg(long)]
        from: Option<String>,
        /// End (UTC).
        #[arg(long)]
        to: Option<String>,
        /// Release every active hold under --reference.
        #[arg(long, conflicts_with = "list")]
        release: bool,
        /// List holds (active ones; with --all, released ones too).
        #[arg(long)]
        list: bool,
        /// With --list: released holds too.
        #[arg(long, requires = "list")]
        all: bool,
        /// Hold reference (exhibit, case or incident number).
        #[arg(long)]
        reference: Option<String>,
        /// Who (recorded).
        #[arg(long)]
        operator: Option<String>,
        /// Why (recorded).
        #[arg(long)]
        reason: Option<String>,
        /// Ed25519 secret key file: sign the audit head.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Log the disclosure of a redacted output (subject access request) or
    /// an exhibit: date, recipient, reason, and the hash of what left.
    Disclose {
        /// Redaction record (OUTPUT.redaction.json), the redacted video next
        /// to it, or an exhibit manifest.
        record: PathBuf,
        /// Index database holding the audit trail.
        #[arg(long)]
        db: PathBuf,
        /// Who receives it.
        #[arg(long)]
        recipient: String,
        /// Why it is disclosed (e.g. "SAR 2026-118").
        #[arg(long)]
        reason: String,
        /// Who discloses (recorded).
        #[arg(long)]
        operator: String,
        /// Ed25519 secret key file: sign the audit head.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print the entry as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find motion incidents in recordings of one camera and store them,
    /// one transaction per recording, in an SQLite index (re-indexing a
    /// recording replaces it).
    Index {
        /// Recordings of the camera.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Camera profile (TOML): number, name, town, desk, ignore-zones,
        /// file-name pattern.
        #[arg(long)]
        camera: PathBuf,
        /// Index database (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// Wall-clock start of the recording (UTC, RFC 3339 or
        /// "YYYY-MM-DD HH:MM:SS"); only with a single file. Otherwise the
        /// container's creation time or the profile's file-name pattern is
        /// used, and with neither the recording has no wall-clock times.
        #[arg(long)]
        start: Option<String>,
        #[command(flatten)]
        motion: MotionArgs,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List indexed incidents.
    Incidents {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
        /// Only this camera number.
        #[arg(long)]
        camera: Option<u32>,
        /// Only cameras in this town.
        #[arg(long)]
        town: Option<String>,
        /// Only cameras at this desk.
        #[arg(long)]
        desk: Option<String>,
        /// Incidents starting at or after this time (UTC; YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Incidents starting before this time (UTC; YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        to: Option<String>,
        /// Write each incident's JPEG thumbnail into this directory.
        #[arg(long, value_name = "DIR")]
        thumbnails: Option<PathBuf>,
        /// JSON array.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV with a header row.
        #[arg(long)]
        csv: bool,
    },
    /// Monthly report: incidents and active minutes per camera, town or
    /// desk, optionally against the previous month.
    Report {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
        /// The month, YYYY-MM (UTC).
        #[arg(long)]
        month: String,
        /// Group by camera, town or desk.
        #[arg(long, default_value = "camera")]
        by: String,
        /// Compare with a period: `previous` (the month before).
        #[arg(long, value_name = "PERIOD")]
        compare: Option<String>,
        /// JSON object.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV with a header row.
        #[arg(long)]
        csv: bool,
    },
    /// Decode only and report the speed; optionally print a hash per frame.
    Decode {
        /// Input video.
        input: PathBuf,
        #[command(flatten)]
        decode: DecodeArgs,
        /// Print `index pts sha256` for every frame (of the visible Y, U, V
        /// samples, or of the converted picture with `--to`).
        #[arg(long)]
        hashes: bool,
        /// Convert every frame as the Python bindings do: `rgb` (packed
        /// RGB24) or `gray` (luma rows); `yuv` leaves frames as decoded.
        #[arg(long, default_value = "yuv", value_parser = ["yuv", "rgb", "gray"])]
        to: String,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the chain entry by entry and the head signatures. Exits 2 and
    /// names the first bad entry if anything was edited, deleted, inserted
    /// or reordered.
    Verify {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
        /// Ed25519 public key (64 hex digits, or a file) the head must be
        /// signed with.
        #[arg(long)]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the entries.
    List {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
        /// JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Log something an operator did and why (e.g. footage viewed at a
    /// police request).
    Note {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
        /// Who.
        #[arg(long)]
        operator: String,
        /// What it concerns (camera, file, incident, request).
        #[arg(long)]
        subject: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Ed25519 secret key file: sign the audit head.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Sign the current head of the chain.
    Sign {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
        /// Ed25519 secret key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Upgrade an index database to this Obscura's schema (commands that
    /// only read refuse an older one, since they open it read-only).
    Upgrade {
        /// Index database.
        #[arg(long)]
        db: PathBuf,
    },
    /// Make an Ed25519 key pair: KEY (secret, owner-only) and KEY.pub.
    Keygen {
        /// The secret key file to create.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct EncodeArgs {
    /// x264 constant rate factor, 0 (lossless) to 51.
    #[arg(long, default_value_t = 18)]
    crf: u8,
    /// x264 preset (ultrafast ... veryslow).
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// Audio: copy (default), drop, or aac (copy what MP4 can hold, re-encode the rest, e.g. G.711, to AAC).
    #[arg(long, default_value = "copy")]
    audio: String,
    /// Replace an existing output (never an input). A redaction keeps the
    /// record it replaces as OUTPUT.redaction.superseded-UTC.json and says
    /// so in the new record. Without it, an existing output is refused.
    #[arg(long)]
    force: bool,
}

impl EncodeArgs {
    fn to_options(&self) -> Result<EncodeOptions> {
        let opts = EncodeOptions {
            crf: self.crf,
            preset: self.preset.parse::<Preset>()?,
            audio: self.audio.parse::<AudioPolicy>()?,
            threads: 0,
            replace_existing: self.force,
        };
        opts.validate()?;
        Ok(opts)
    }
}

#[derive(clap::Args, Debug)]
struct DetectArgs {
    /// Detect and obscure faces (CenterFace).
    #[arg(long)]
    faces: bool,
    /// Detect and obscure number plates (PP-OCRv4 text detector + plate
    /// geometry).
    #[arg(long)]
    plates: bool,
    /// Keep only plate candidates the PP-OCRv4 recogniser reads as a
    /// plate-like string (fewer signs obscured; off by default, since
    /// missing a plate matters more than covering a sign).
    #[arg(long)]
    plate_confirm: bool,
    /// Face score threshold, 0 to 1: detections scoring at least this are
    /// faces.
    #[arg(long, default_value_t = 0.3)]
    face_threshold: f32,
    /// Face detection scale (0 = automatic: about 1536 px across).
    #[arg(long, default_value_t = 0.0)]
    face_scale: f32,
    /// Detection workers, each with its own model sessions (0 = one per core).
    #[arg(long, default_value_t = 0)]
    detect_workers: usize,
    /// Detect on the whole frame every N frames and in between only where
    /// something moved or a face was recently seen (0 = whole frame always).
    #[arg(long, default_value_t = 16)]
    full_every: u64,
}

impl DetectArgs {
    fn any(&self) -> bool {
        self.faces || self.plates
    }

    fn to_options(&self) -> obscura_core::analyse::AnalyseOptions {
        use obscura_core::detect::{FaceSettings, PlateSettings};
        obscura_core::analyse::AnalyseOptions {
            faces: self.faces.then_some(FaceSettings {
                threshold: self.face_threshold,
                scale: self.face_scale,
            }),
            plates: self.plates.then(|| PlateSettings {
                confirm: self.plate_confirm,
                ..PlateSettings::default()
            }),
            workers: self.detect_workers,
            roi: (self.full_every > 0).then(|| obscura_core::analyse::RoiSettings {
                full_every: self.full_every,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

#[derive(clap::Args, Debug)]
struct DecodeArgs {
    /// Segments decoded in parallel (0 = one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Decode sequentially with FFmpeg's own threading instead.
    #[arg(long)]
    sequential: bool,
}

impl DecodeArgs {
    fn to_options(&self) -> DecodeOptions {
        if self.sequential {
            DecodeOptions {
                cancel: interrupt().clone(),
                ..DecodeOptions::sequential()
            }
        } else {
            DecodeOptions {
                workers: self.workers,
                ..decoding()
            }
        }
    }
}

#[derive(clap::Args, Debug)]
struct MotionArgs {
    /// Analysis width in pixels (the luma plane is shrunk to about this).
    #[arg(long, default_value_t = 320)]
    width: usize,
    /// Grey-level difference from the background that counts as motion.
    #[arg(long, default_value_t = 25)]
    threshold: u8,
    /// Moving fraction of the picture that starts an incident.
    #[arg(long, default_value_t = 0.002)]
    trigger: f32,
    /// Minimum length of motion, seconds.
    #[arg(long, default_value_t = 0.1)]
    min_event: f64,
    /// Padding before each incident, seconds.
    #[arg(long, default_value_t = 1.5)]
    pre: f64,
    /// Padding after each incident, seconds.
    #[arg(long, default_value_t = 2.0)]
    post: f64,
    /// Threads (0 = one per core). Files run in parallel; a single file is
    /// cut into segments.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Segments per file (0 = decided from its length; 1 = sequential).
    #[arg(long, default_value_t = 0)]
    segments: usize,
    /// Skip decoding stretches whose packet sizes say the picture is still
    /// (faster on quiet footage; may miss very small motion).
    #[arg(long)]
    triage: bool,
}

impl MotionArgs {
    fn to_options(&self) -> Result<MotionOptions> {
        let defaults = MotionOptions::default();
        let opts = MotionOptions {
            width: self.width,
            threshold: self.threshold,
            trigger: self.trigger,
            release: defaults.release.min(self.trigger),
            min_event_s: self.min_event,
            pre_s: self.pre,
            post_s: self.post,
            threads: self.threads,
            segments: self.segments,
            triage: self.triage,
            cancel: interrupt().clone(),
            ..defaults
        };
        opts.validate()?;
        Ok(opts)
    }
}

/// The token every long command's decoders watch: the first Ctrl-C
/// cancels it, so the work stops at the next frame and removes its partial
/// output; a second Ctrl-C quits at once.
fn interrupt() -> &'static obscura_core::Cancel {
    static TOKEN: std::sync::OnceLock<obscura_core::Cancel> = std::sync::OnceLock::new();
    TOKEN.get_or_init(obscura_core::Cancel::new)
}

/// Default decoding, stopped by Ctrl-C.
fn decoding() -> DecodeOptions {
    DecodeOptions {
        cancel: interrupt().clone(),
        ..DecodeOptions::default()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let handler = ctrlc::set_handler(|| {
        if interrupt().is_cancelled() {
            std::process::exit(130);
        }
        eprintln!("obscura: stopping (press Ctrl-C again to quit at once)");
        interrupt().cancel();
    });
    if let Err(e) = handler {
        eprintln!("obscura: warning: Ctrl-C will not stop work cleanly: {e}");
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("obscura: error: {e:#}");
            let interrupted = e
                .downcast_ref::<obscura_core::Error>()
                .is_some_and(|e| e.kind() == obscura_core::ErrorKind::Interrupted);
            if interrupted {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Probe { files, json } => probe(&files, json),
        Command::Transcode {
            input,
            output,
            encode,
            decode,
            json,
        } => {
            let opts = PipelineOptions {
                decode: decode.to_options(),
                encode: encode.to_options()?,
            };
            let summary = with_progress(|on_progress| {
                pipeline::transcode(&input, &output, &opts, on_progress)
            });
            let summary = summary?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "{} -> {}: {} frames, {} audio stream(s), {:.1} s ({:.1} fps)",
                    summary.input.display(),
                    summary.output.display(),
                    summary.frames_out,
                    summary.audio_streams,
                    summary.seconds,
                    summary.fps
                );
                if summary.source_start_s != 0.0 {
                    println!(
                        "output starts at 0; the source started at {:.3} s (kept as its source_start_time tag)",
                        summary.source_start_s
                    );
                }
                if summary.other_video_streams > 0 {
                    println!(
                        "used video stream #{}; {} other video stream(s) left out",
                        summary.video_stream, summary.other_video_streams
                    );
                }
                if let Some((w, h)) = summary.padded_to {
                    println!(
                        "odd picture size padded to {w}x{h} with a black right column/bottom row (H.264 4:2:0 needs even sizes); no source pixel is lost"
                    );
                }
                if summary.discontinuities > 0 {
                    println!(
                        "{} timestamp discontinuit{} in the source closed up (one frame after each jump)",
                        summary.discontinuities,
                        if summary.discontinuities == 1 { "y" } else { "ies" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Redact {
            input,
            output,
            camera,
            unmask,
            authorisation,
            operator,
            reason,
            case_reference,
            detect,
            keep_tracks,
            keep_reason,
            boxes,
            pad,
            style,
            replay,
            encode,
            decode,
            db,
            key,
            json,
        } => {
            let detection_style: obscura_core::camera::Style = style.parse()?;
            let boxes = boxes
                .iter()
                .map(|b| b.parse::<obscura_core::redact::ManualBox>())
                .collect::<Result<Vec<_>, _>>()?;
            let opts = obscura_core::redact::RedactOptions {
                pipeline: PipelineOptions {
                    decode: decode.to_options(),
                    encode: encode.to_options()?,
                },
                camera,
                unmask,
                authorisation,
                operator: operator.unwrap_or_default(),
                reason: reason.unwrap_or_default(),
                case_reference,
                detect: detect.any().then(|| detect.to_options()),
                keep_tracks,
                keep_reason,
                boxes,
                pad,
                replay,
                detection_style,
            };
            let clip = obscura_core::pipeline::Clip {
                input: input.clone(),
                output: output.clone(),
                keep_tracks: opts.keep_tracks.clone(),
                keep_reason: opts.keep_reason.clone(),
                boxes: opts.boxes.clone(),
                replay: opts.replay.clone(),
                case_reference: opts.case_reference.clone(),
            };
            let mut builder = obscura_core::pipeline::Redactor::with_options(opts.clone());
            if let Some(db) = db {
                builder = builder.audit(db, key);
            }
            let mut redactor = builder.build()?;
            let bar = progress_bar();
            let mut job = obscura_core::pipeline::Job::new()
                .with_cancel(interrupt().clone())
                .on_progress(|p| {
                    bar.set_length(p.total);
                    bar.set_position(p.frames);
                });
            let record = redactor.redact(&clip, &mut job);
            drop(job);
            bar.finish_and_clear();
            let record = record?;
            if json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                let lifted: Vec<_> = record.masks_lifted.iter().map(|m| m.id.as_str()).collect();
                println!(
                    "{} -> {}: {} frames, {} mask(s) applied, {} track(s) ({} kept), {} box(es) obscured{}; record {}",
                    record.input.path.display(),
                    record.output.path.display(),
                    record.output.frames,
                    record.masks_applied.len(),
                    record.counts.tracks,
                    record.counts.kept_tracks,
                    record.counts.obscured_boxes,
                    if lifted.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", lifted {} under {}",
                            lifted.join(", "),
                            opts.authorisation.as_deref().unwrap_or("")
                        )
                    },
                    obscura_core::redact::record_path(&output).display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tracks {
            input,
            detect,
            sheet,
            force,
            json,
        } => {
            let mut opts = detect.to_options();
            if !detect.any() {
                // Faces by default, at the settings given.
                opts.faces = Some(obscura_core::detect::FaceSettings {
                    threshold: detect.face_threshold,
                    scale: detect.face_scale,
                });
            }
            let sheet = sheet.unwrap_or_else(|| {
                let mut name = input
                    .file_name()
                    .map(|n| n.to_os_string())
                    .unwrap_or_default();
                name.push(".tracks.png");
                PathBuf::from(name)
            });
            // Claimed before the analysis, so a name that cannot be used
            // fails at once rather than after minutes of detection.
            let sheet_out =
                obscura_core::output::PendingFile::with_policy(&sheet, &[&input], force)?;
            let listing = with_progress(|on_progress| {
                obscura_core::analyse::list_tracks(&input, &decoding(), &opts, on_progress)
            });
            let listing = listing?;
            listing.write_contact_sheet_to(sheet_out)?;
            if json {
                let v = serde_json::json!({ "sheet": sheet, "tracks": listing.tracks });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{:>5} {:>5} {:>14} {:>14} {:>6}",
                    "id", "class", "first (s)", "last (s)", "hits"
                );
                for t in &listing.tracks {
                    println!(
                        "{:>5} {:>5} {:>7} {:>6.2} {:>7} {:>6.2} {:>6}",
                        t.id,
                        format!("{:?}", t.class).to_lowercase(),
                        t.first_frame,
                        t.first_time,
                        t.last_frame,
                        t.last_time,
                        t.detections
                    );
                }
                println!("contact sheet: {}", sheet.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyRedaction {
            output,
            record,
            min_score,
            detect,
            json,
        } => {
            let v = with_progress(|on_progress| {
                obscura_core::verify::verify_redaction(
                    &output,
                    record.as_deref(),
                    detect.any().then(|| detect.to_options()),
                    min_score,
                    &decoding(),
                    on_progress,
                )
            })?;
            let (residuals, min) = (v.residuals, v.min_score);
            if json {
                println!("{}", serde_json::to_string_pretty(&residuals)?);
            } else {
                for r in &residuals {
                    println!(
                        "frame {:>6} {:>8.2}s {:?} score {:.2} at {:.0},{:.0} {:.0}x{:.0}",
                        r.frame, r.time, r.class, r.score, r.bbox.x, r.bbox.y, r.bbox.w, r.bbox.h
                    );
                }
                println!(
                    "{}: {} residual detection(s) at score >= {min}",
                    output.display(),
                    residuals.len()
                );
            }
            Ok(if residuals.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Doctor { json } => {
            let checks = obscura_core::doctor::run();
            if json {
                println!("{}", serde_json::to_string_pretty(&checks)?);
            } else {
                for c in &checks {
                    println!(
                        "{} {:<28} {}",
                        if c.ok { "ok  " } else { "FAIL" },
                        c.name,
                        c.detail
                    );
                }
            }
            let failed = checks.iter().filter(|c| !c.ok).count();
            if failed > 0 {
                eprintln!("obscura: error: {failed} check(s) failed: run `bash scripts/setup.sh`");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            db,
            camera,
            from,
            to,
            exhibit,
            operator,
            reason,
            output,
            working_copy,
            no_hold,
            key,
            json,
        } => {
            let req = obscura_core::export::ExportRequest {
                camera,
                from: index::parse_time_arg(&from)?,
                to: index::parse_time_arg(&to)?,
                exhibit,
                operator,
                reason,
                out_dir: output,
                working_copy,
                hold: !no_hold,
                decode: decoding(),
            };
            let key = load_key(key.as_deref())?;
            let mut idx = Index::open_existing(&db)?;
            let done = with_progress(|on_progress| {
                obscura_core::export::export(&mut idx, &req, key.as_ref(), on_progress)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                for m in &done.masters {
                    println!("master: {}", m.display());
                }
                for w in &done.working_copies {
                    println!("working copy: {}", w.display());
                }
                println!(
                    "manifest: {} (sha256 {}){}",
                    done.manifest.display(),
                    done.manifest_sha256,
                    done.signature
                        .as_ref()
                        .map(|s| format!(", signed: {}", s.display()))
                        .unwrap_or_default()
                );
                println!(
                    "{} frame(s) in {} master(s); {} recording(s) newly held; audit entry {}",
                    done.frames,
                    done.masters.len(),
                    done.holds_placed,
                    done.audit_seq
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            manifest,
            public_key,
            json,
        } => {
            let key = public_key
                .as_deref()
                .map(obscura_core::sign::PublicKey::from_arg)
                .transpose()?;
            let report = with_progress(|on_progress| {
                obscura_core::export::verify_manifest(
                    &manifest,
                    key.as_ref(),
                    &decoding(),
                    on_progress,
                )
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_verify(&report);
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Audit { command } => audit(command),
        Command::Retention {
            db,
            days,
            delete_files,
            dry_run,
            now,
            operator,
            reason,
            key,
            json,
        } => {
            let mut opts = obscura_core::retention::RetentionOptions::new(days);
            if let Some(t) = now {
                opts.now = index::parse_time_arg(&t)?;
            }
            opts.delete_files = delete_files;
            opts.dry_run = dry_run;
            opts.operator = operator;
            if let Some(r) = reason {
                opts.reason = r;
            }
            let key = load_key(key.as_deref())?;
            let mut idx = if dry_run {
                Index::open_read_only(&db)?
            } else {
                Index::open_existing(&db)?
            };
            let report = idx.retention(&opts, key.as_ref())?;
            for f in &report.faults {
                eprintln!("obscura: error: {} (kept)", escape_controls(&f.message));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let verb = if report.dry_run {
                    "would remove"
                } else {
                    "removed"
                };
                for p in &report.purged {
                    println!(
                        "{verb}: camera {} {} .. {} {} (file {}){}",
                        p.recording.camera,
                        p.recording.start_utc.as_deref().unwrap_or("?"),
                        p.recording.end_utc.as_deref().unwrap_or("?"),
                        p.recording.path,
                        p.file,
                        p.audit_seq
                            .map(|s| format!(", audit entry {s}"))
                            .unwrap_or_default()
                    );
                }
                for h in &report.held {
                    println!("held, kept: {}", h.path);
                }
                for u in &report.undated {
                    println!("no wall-clock time, kept: {}", u.path);
                }
                println!(
                    "{} recording(s) {verb} (ended before {}); {} held, {} in the window, {} undated kept{}",
                    report.purged.len(),
                    report.cutoff_utc,
                    report.held.len(),
                    report.in_window,
                    report.undated.len(),
                    if report.faults.is_empty() {
                        String::new()
                    } else {
                        format!("; {} fault(s)", report.faults.len())
                    }
                );
            }
            Ok(if report.faults.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Hold {
            db,
            recording,
            camera,
            from,
            to,
            release,
            list,
            all,
            reference,
            operator,
            reason,
            key,
            json,
        } => {
            let mut idx = if list {
                Index::open_read_only(&db)?
            } else {
                Index::open_existing(&db)?
            };
            let holds = if list {
                idx.holds(!all)?
            } else {
                let key = load_key(key.as_deref())?;
                let reference = reference.unwrap_or_default();
                let operator = operator.unwrap_or_default();
                let reason = reason.unwrap_or_default();
                if release {
                    idx.release_hold(&reference, &operator, &reason, key.as_ref())?
                } else {
                    use obscura_core::retention::HoldTarget;
                    let target = match (recording, camera, from, to) {
                        (Some(p), _, _, _) => HoldTarget::Recording(p),
                        (None, Some(camera), Some(from), Some(to)) => HoldTarget::Range {
                            camera,
                            from: index::parse_time_arg(&from)?,
                            to: index::parse_time_arg(&to)?,
                        },
                        _ => anyhow::bail!(
                            "name what to hold: --recording PATH, or --camera N --from T1 --to T2 (or --release, --list)"
                        ),
                    };
                    idx.place_hold(&target, &reference, &operator, &reason, key.as_ref())?
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&holds)?);
            } else {
                let what = if list {
                    "hold"
                } else if release {
                    "released"
                } else {
                    "held"
                };
                for h in &holds {
                    println!(
                        "{what}: {} camera {} {} (by {} {}: {}){}",
                        escape_controls(&h.reference),
                        h.camera,
                        escape_controls(&h.path),
                        escape_controls(&h.placed_by),
                        h.placed_utc,
                        escape_controls(&h.reason),
                        h.released_utc
                            .as_deref()
                            .map(|r| format!(", released {r}"))
                            .unwrap_or_default()
                    );
                }
                println!("{} recording(s)", holds.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Disclose {
            record,
            db,
            recipient,
            reason,
            operator,
            key,
            json,
        } => {
            let key = load_key(key.as_deref())?;
            let mut idx = Index::open_existing(&db)?;
            let entry = obscura_core::audit::log_disclosure(
                &mut idx,
                &record,
                &recipient,
                &operator,
                &reason,
                key.as_ref(),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entry)?);
            } else {
                println!(
                    "disclosed {} to {} on {} ({}); audit entry {}",
                    entry.subject, recipient, entry.utc, entry.reason, entry.seq
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Index {
            files,
            camera,
            db,
            start,
            motion,
            json,
        } => index(&files, &camera, &db, start.as_deref(), &motion, json),
        Command::Incidents {
            db,
            camera,
            town,
            desk,
            from,
            to,
            thumbnails,
            json,
            csv,
        } => {
            let filter = IncidentFilter {
                camera,
                town,
                desk,
                from: from.as_deref().map(index::parse_time_arg).transpose()?,
                to: to.as_deref().map(index::parse_time_arg).transpose()?,
            };
            let idx = Index::open_read_only(&db)?;
            let rows = idx.incidents(&filter)?;
            if let Some(dir) = &thumbnails {
                write_thumbnails(&idx, &rows, dir)?;
            }
            print_incidents(&rows, json, csv)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            db,
            month,
            by,
            compare,
            json,
            csv,
        } => {
            let month: Month = month.parse()?;
            let by: GroupBy = by.parse()?;
            let compare_previous = match compare.as_deref() {
                None => false,
                Some("previous") => true,
                Some(other) => anyhow::bail!("invalid --compare {other:?} (expected `previous`)"),
            };
            let idx = Index::open_read_only(&db)?;
            let report = idx.report(month, by, compare_previous)?;
            print_report(&report, json, csv)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Decode {
            input,
            decode,
            hashes,
            to,
            json,
        } => {
            let started = Instant::now();
            let (info, frames) = media::open(&input, &decode.to_options())?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut n = 0u64;
            let mut rgb = media::RgbConverter::new();
            let mut buf = Vec::new();
            for frame in frames {
                let frame = frame?;
                let (w, h) = (frame.width(), frame.height());
                let hash = match to.as_str() {
                    "rgb" => {
                        buf.resize(w * h * 3, 0);
                        rgb.write_rgb(&frame, &mut buf)?;
                        hashes.then(|| obscura_core::hash::sha256_hex(&buf))
                    }
                    "gray" => {
                        buf.resize(w * h, 0);
                        frame.view().write_gray(&mut buf);
                        hashes.then(|| obscura_core::hash::sha256_hex(&buf))
                    }
                    _ => hashes.then(|| frame.view().sha256_hex()),
                };
                if let Some(hash) = hash {
                    writeln!(out, "{} {} {hash}", frame.index(), frame.pts())?;
                }
                n += 1;
            }
            let secs = started.elapsed().as_secs_f64();
            let fps = if secs > 0.0 { n as f64 / secs } else { 0.0 };
            if json {
                let v = serde_json::json!({
                    "path": info.path, "frames": n, "seconds": secs, "fps": fps,
                });
                writeln!(out, "{v}")?;
            } else if !hashes {
                writeln!(
                    out,
                    "{}: {n} frames in {secs:.2} s ({fps:.1} fps)",
                    info.path.display()
                )?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_key(path: Option<&std::path::Path>) -> Result<Option<obscura_core::sign::SecretKey>> {
    Ok(path.map(obscura_core::sign::SecretKey::load).transpose()?)
}

fn audit(command: AuditCommand) -> Result<ExitCode> {
    match command {
        AuditCommand::Verify {
            db,
            public_key,
            json,
        } => {
            let key = public_key
                .as_deref()
                .map(obscura_core::sign::PublicKey::from_arg)
                .transpose()?;
            let idx = Index::open_read_only(&db)?;
            let report = idx.verify_audit(key.as_ref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for s in &report.signatures {
                    println!(
                        "{} signature of entry {} ({}): {}",
                        if s.ok { "ok  " } else { "FAIL" },
                        s.signature.seq,
                        s.signature.utc,
                        s.message
                    );
                }
                match &report.first_bad {
                    Some(b) => println!(
                        "FAIL {}: first bad entry {}: {}",
                        db.display(),
                        b.seq,
                        b.message
                    ),
                    None => println!(
                        "ok   {}: {} entries, chain intact{}{}",
                        db.display(),
                        report.entries,
                        report
                            .head
                            .as_ref()
                            .map(|(s, h)| format!(", head {s} {h}"))
                            .unwrap_or_default(),
                        report
                            .unsigned_entries
                            .map(|n| format!(", {n} entries after the last signed head"))
                            .unwrap_or_default()
                    ),
                }
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        AuditCommand::List { db, json } => {
            let idx = Index::open_read_only(&db)?;
            let entries = idx.audit_entries()?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
            } else {
                // Free text is shown with control characters escaped, so a
                // newline in a reason cannot forge a line (the stored value
                // is unchanged; --json escapes by itself).
                for e in &entries {
                    writeln!(
                        out,
                        "{:>5} {} {:<16} {:<20} {} — {} {}",
                        e.seq,
                        escape_controls(&e.utc),
                        escape_controls(&e.action),
                        escape_controls(&e.operator),
                        escape_controls(&e.subject),
                        escape_controls(&e.reason),
                        escape_controls(&e.details)
                    )?;
                }
                writeln!(out, "{} entries", entries.len())?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Note {
            db,
            operator,
            subject,
            reason,
            key,
        } => {
            use obscura_core::audit::{Action, NewEntry};
            let key = load_key(key.as_deref())?;
            let mut idx = Index::open_existing(&db)?;
            let e = idx.append_audit_all(
                &[NewEntry::new(operator, Action::Note, subject, reason)],
                key.as_ref(),
            )?;
            if let Some(e) = e.first() {
                println!("audit entry {} {}", e.seq, e.entry_hash);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Sign { db, key } => {
            let key = obscura_core::sign::SecretKey::load(&key)?;
            let mut idx = Index::open_existing(&db)?;
            match idx.sign_audit_head(&key)? {
                Some(s) => println!(
                    "signed entry {} ({}) with {}",
                    s.seq, s.head_hash, s.public_key
                ),
                None => println!("the audit trail is empty: nothing to sign"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Upgrade { db } => {
            let idx = Index::open_existing(&db)?;
            println!("{}: schema version {}", db.display(), idx.schema_version()?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Keygen { out } => {
            let key = obscura_core::sign::SecretKey::generate()?;
            let mut public = out.clone().into_os_string();
            public.push(".pub");
            let public = PathBuf::from(public);
            key.write(&out, &public)?;
            println!(
                "secret key: {} (keep it safe)\npublic key: {} {}",
                out.display(),
                public.display(),
                key.public_key().to_hex()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `text` with every control character (newline, carriage return, escape,
/// ...) written as a visible escape, for one-line human listings.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn print_verify(report: &obscura_core::export::VerifyReport) {
    if let Some(s) = &report.signature {
        println!(
            "{} signature: {}",
            if s.ok { "ok  " } else { "FAIL" },
            s.message
        );
    }
    for f in &report.files {
        let frames = match (f.frames_expected, f.frames_ok) {
            (Some(n), Some(ok)) => format!(", frames {ok}/{n} match"),
            _ => String::new(),
        };
        let why = if f.ok {
            String::new()
        } else if !f.exists {
            ": missing".into()
        } else if f.actual_sha256.as_deref() != Some(f.expected_sha256.as_str()) {
            ": sha256 differs".into()
        } else {
            String::new()
        };
        println!(
            "{} {} {}{frames}{why}{}",
            if f.ok { "ok  " } else { "FAIL" },
            f.role,
            f.file,
            f.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        for b in f.bad_frames.iter().take(20) {
            println!(
                "     frame {}{}{}: {}",
                b.index,
                b.source_index
                    .map(|s| format!(" (source {s})"))
                    .unwrap_or_default(),
                b.utc
                    .as_deref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default(),
                match (&b.expected, &b.actual) {
                    (Some(_), Some(_)) => "hash differs",
                    (Some(_), None) => "missing",
                    _ => "not in the manifest",
                }
            );
        }
        if f.bad_frame_count > 20 {
            println!("     ... {} bad frame(s) in all", f.bad_frame_count);
        }
    }
    for p in &report.problems {
        println!("FAIL {p}");
    }
    match &report.first_bad_frame {
        Some(b) => println!("FAIL {}: first bad frame: {b}", report.exhibit),
        None if report.ok => println!("PASS {}: every file and frame checks", report.exhibit),
        None => println!("FAIL {}", report.exhibit),
    }
}

/// Runs `work` with a progress bar on stderr fed by the core's progress
/// reports, cleared when the work ends (successfully or not).
fn with_progress<T>(work: impl FnOnce(&mut dyn FnMut(Progress)) -> T) -> T {
    let bar = progress_bar();
    let mut on_progress = |p: Progress| {
        bar.set_length(p.total);
        bar.set_position(p.frames);
    };
    let out = work(&mut on_progress);
    bar.finish_and_clear();
    out
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

fn probe(files: &[PathBuf], json: bool) -> Result<ExitCode> {
    let mut failed = 0usize;
    let mut objects = Vec::new();
    for f in files {
        match media::probe(f) {
            Ok(info) => {
                if json {
                    let v = serde_json::to_value(&info).context("serialising probe result")?;
                    objects.push(v);
                } else {
                    println!(
                        "{}: {} {}x{} {} {:.3} fps, {} frames, {:.3} s, {} keyframes, {} audio stream(s){}",
                        info.path.display(),
                        info.codec,
                        info.width,
                        info.height,
                        info.pixel_format,
                        info.fps,
                        info.frames,
                        info.duration_s,
                        info.keyframes.len(),
                        info.audio.len(),
                        info.creation_time
                            .as_deref()
                            .map(|t| format!(", created {t}"))
                            .unwrap_or_default()
                    );
                    if info.video_streams > 1 {
                        println!(
                            "{}: {} video streams; using stream #{} (the others are left out of every output)",
                            info.path.display(),
                            info.video_streams,
                            info.stream_index
                        );
                    }
                    if info.discontinuities > 0 {
                        println!(
                            "{}: {} timestamp discontinuit{} (jumps back, or forward by more than {} s); outputs close them up",
                            info.path.display(),
                            info.discontinuities,
                            if info.discontinuities == 1 { "y" } else { "ies" },
                            media::DISCONTINUITY_S
                        );
                    }
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("obscura: error: {e}");
                if json {
                    objects.push(serde_json::json!({
                        "path": f, "error": { "kind": e.kind().as_str(), "message": e.to_string() }
                    }));
                }
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&objects)?);
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn index(
    files: &[PathBuf],
    camera: &std::path::Path,
    db: &std::path::Path,
    start: Option<&str>,
    motion: &MotionArgs,
    json: bool,
) -> Result<ExitCode> {
    let opts = motion.to_options()?;
    let profile = CameraProfile::load(camera)?;
    let start = start.map(index::parse_time_arg).transpose()?;
    let bar = progress_bar();
    let started = Instant::now();
    let results = index::index_files(db, &profile, files, start, &opts, &|n, total| {
        bar.set_length(total);
        bar.set_position(n);
    });
    bar.finish_and_clear();
    let results = results?;
    let secs = started.elapsed().as_secs_f64();
    let idx = Index::open(db)?;
    let faults = idx.faults(Some(profile.camera), 1.0)?;
    let mut failed = 0usize;
    let mut objects = Vec::new();
    let (mut frames, mut incidents, mut ok) = (0u64, 0usize, 0usize);
    let (mut duplicates, mut damaged) = (0usize, 0usize);
    for (path, r) in files.iter().zip(&results) {
        match r {
            Ok(done) if done.duplicate_of.is_some() && done.frames == 0 => {
                duplicates += 1;
                if json {
                    objects.push(serde_json::to_value(done)?);
                } else {
                    println!(
                        "{}: duplicate of {} (same sha256): not stored separately",
                        done.path.display(),
                        done.duplicate_of
                            .as_deref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    );
                }
            }
            Ok(done) => {
                ok += 1;
                if let Some(d) = &done.damaged {
                    damaged += 1;
                    eprintln!(
                        "obscura: error: {}: {d} (indexed what decoded, marked damaged)",
                        done.path.display()
                    );
                }
                frames += done.frames;
                incidents += done.incidents;
                if json {
                    objects.push(serde_json::to_value(done)?);
                } else {
                    println!(
                        "{}: {} frames, {} incident(s), start {} ({}){}{}",
                        done.path.display(),
                        done.frames,
                        done.incidents,
                        done.start_utc.as_deref().unwrap_or("unknown"),
                        done.time_source,
                        if done.gaps > 0 {
                            format!(", {} timestamp jump(s)", done.gaps)
                        } else {
                            String::new()
                        },
                        match (&done.duplicate_of, done.replaced) {
                            (Some(d), _) => format!(
                                ", replaced the earlier index of the same content at {}",
                                d.display()
                            ),
                            (None, true) => ", replaced earlier index".to_string(),
                            (None, false) => String::new(),
                        }
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("obscura: error: {e} (skipped)");
                if json {
                    objects.push(serde_json::json!({
                        "path": path, "error": { "kind": e.kind().as_str(), "message": e.to_string() }
                    }));
                }
            }
        }
    }
    let fps = if secs > 0.0 {
        frames as f64 / secs
    } else {
        0.0
    };
    if json {
        let v = serde_json::json!({
            "db": db, "camera": profile.camera, "files": objects, "indexed": ok, "failed": failed,
            "duplicates": duplicates, "damaged": damaged,
            "frames": frames, "incidents": incidents, "seconds": secs, "fps": fps, "faults": faults,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "indexed {ok} of {} file(s) for camera {} into {}: {frames} frames, {incidents} incident(s), {secs:.1} s ({fps:.1} fps){}{}",
            files.len(),
            profile.camera,
            db.display(),
            if duplicates > 0 {
                format!("; {duplicates} duplicate(s) of another file given, not stored separately")
            } else {
                String::new()
            },
            if damaged > 0 {
                format!("; {damaged} damaged (fewer frames than declared)")
            } else {
                String::new()
            }
        );
        for f in &faults {
            println!(
                "fault: camera {} {} after {}{}: {:.1} s",
                f.camera,
                f.kind,
                f.recording,
                f.at_s.map(|s| format!(" at {s:.2} s")).unwrap_or_default(),
                f.seconds
            );
        }
    }
    Ok(if failed > 0 || damaged > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One CSV field, quoted when it needs to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_line(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

fn print_incidents(rows: &[IncidentRow], json: bool, csv: bool) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(rows)?)?;
    } else if csv {
        writeln!(
            out,
            "id,camera,camera_name,town,desk,recording,start_utc,end_utc,start_s,end_s,start_frame,end_frame,peak_score,peak_s,bbox_x0,bbox_y0,bbox_x1,bbox_y1"
        )?;
        for r in rows {
            let mut f = vec![
                r.id.to_string(),
                r.camera.to_string(),
                r.camera_name.clone(),
                r.town.clone(),
                r.desk.clone(),
                r.recording.clone(),
                opt(&r.start_utc),
                opt(&r.end_utc),
                format!("{:.3}", r.start_s),
                format!("{:.3}", r.end_s),
                r.start_frame.to_string(),
                r.end_frame.to_string(),
                format!("{:.5}", r.peak_score),
                format!("{:.3}", r.peak_s),
            ];
            f.extend(r.bbox.iter().map(u32::to_string));
            writeln!(out, "{}", csv_line(&f))?;
        }
    } else {
        for r in rows {
            writeln!(
                out,
                "#{} camera {} ({}, {}): {} .. {}  [{:.2}-{:.2} s of {}] peak {:.2}% at {:.2} s",
                r.id,
                r.camera,
                r.camera_name,
                r.town,
                r.start_utc.as_deref().unwrap_or("time unknown"),
                r.end_utc.as_deref().unwrap_or("time unknown"),
                r.start_s,
                r.end_s,
                r.recording,
                r.peak_score * 100.0,
                r.peak_s
            )?;
        }
        writeln!(out, "{} incident(s)", rows.len())?;
    }
    out.flush()?;
    Ok(())
}

fn write_thumbnails(idx: &Index, rows: &[IncidentRow], dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Every name is checked before any is written: a thumbnail already
    // there with the same bytes is left as it is, a different file at that
    // name is never replaced.
    let mut todo = Vec::new();
    for r in rows {
        if let Some(jpeg) = idx.incident_images(r.id)?.and_then(|i| i.thumbnail) {
            let dest = dir.join(format!("incident-{}.jpg", r.id));
            match std::fs::read(&dest) {
                Ok(existing) if existing == jpeg => continue,
                Ok(_) => anyhow::bail!(
                    "{}: a different file already exists there; thumbnails never replace files (choose another folder)",
                    dest.display()
                ),
                Err(_) => todo.push((obscura_core::output::PendingFile::new(&dest, &[])?, jpeg)),
            }
        }
    }
    for (pending, jpeg) in todo {
        std::fs::write(pending.tmp_path(), &jpeg)
            .with_context(|| format!("cannot write {}", pending.dest().display()))?;
        pending.commit()?;
    }
    Ok(())
}

fn print_report(report: &Report, json: bool, csv: bool) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let by = match report.by {
        GroupBy::Camera => "camera",
        GroupBy::Town => "town",
        GroupBy::Desk => "desk",
    };
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(report)?)?;
    } else if csv {
        writeln!(
            out,
            "month,{by},cameras,incidents,active_minutes,previous_incidents,previous_active_minutes,change,change_pct"
        )?;
        let o = |v: Option<String>| v.unwrap_or_default();
        for r in &report.rows {
            let f = vec![
                report.month.clone(),
                r.group.clone(),
                r.cameras.join("; "),
                r.incidents.to_string(),
                format!("{:.2}", r.active_minutes),
                o(r.previous_incidents.map(|v| v.to_string())),
                o(r.previous_active_minutes.map(|v| format!("{v:.2}"))),
                o(r.change.map(|v| v.to_string())),
                o(r.change_pct.map(|v| format!("{v:.1}"))),
            ];
            writeln!(out, "{}", csv_line(&f))?;
        }
    } else {
        writeln!(
            out,
            "Incidents in {} by {by}{}",
            report.month,
            report
                .compared_with
                .as_deref()
                .map(|p| format!(", compared with {p}"))
                .unwrap_or_default()
        )?;
        for r in &report.rows {
            let change = match (r.previous_incidents, r.change, r.change_pct) {
                (Some(p), Some(c), Some(pct)) => format!("  (previous {p}, {c:+}, {pct:+.0}%)"),
                (Some(p), Some(c), None) => format!("  (previous {p}, {c:+})"),
                _ => String::new(),
            };
            writeln!(
                out,
                "{:<24} {:>6} incident(s) {:>9.1} active min{change}",
                format!("{by} {}", r.group),
                r.incidents,
                r.active_minutes
            )?;
        }
        writeln!(
            out,
            "{:<24} {:>6} incident(s) {:>9.1} active min",
            "total", report.total_incidents, report.total_active_minutes
        )?;
        if report.undated_incidents > 0 {
            writeln!(
                out,
                "{} incident(s) in recordings with no known wall-clock time are in no month",
                report.undated_incidents
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
