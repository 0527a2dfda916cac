//! The command line as clap parses it: every subcommand and its flags,
//! and how the shared flag groups become the core's option structs (whose
//! defaults live in the core).

use anyhow::Result;
use clap::{Parser, Subcommand};
use obscura_core::detect::{FacePrecision, FaceSettings, PersonSettings, PlateSettings};
use obscura_core::media::{AudioPolicy, DecodeOptions, EncodeOptions, Preset};
use obscura_core::motion::MotionOptions;
use obscura_core::pipeline::analyse::{AnalyseOptions, RoiSettings};
use obscura_core::pipeline::redact::{PersonRegion, RedactOptions};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "obscura",
    version,
    about = "Video analytics and redaction for CCTV control rooms"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
// Parsed once per run: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    /// Show what video files hold: size, codec, frame rate, exact frame
    /// count, duration, keyframes, audio.
    Probe(ProbeCmd),
    /// Decode and re-encode to H.264/MP4, keeping every frame's timing and
    /// the audio.
    Transcode(TranscodeCmd),
    /// List the face, plate (and with --people, person) tracks of a clip, with a contact sheet (PNG)
    /// of one labelled thumbnail per track, so the requester can be picked.
    Tracks(TracksCmd),
    /// Re-run detection on a redacted output and list every face or plate
    /// still visible. Exits 2 when it finds any, so scripts can gate
    /// disclosure on it.
    VerifyRedaction(VerifyRedactionCmd),
    /// Check the installation: FFmpeg with x264, ONNX Runtime, models
    /// (pinned hashes, and that they load and run), sample footage.
    Doctor(DoctorCmd),
    /// Obscure a camera's privacy masks on every frame and write a redaction
    /// record (OUTPUT.redaction.json) next to the output.
    Redact(RedactCmd),
    /// Export evidence: a stream copy (no re-encode) of the recordings
    /// covering a time range, cut at the enclosing keyframes, with a
    /// manifest of file and per-frame hashes; logged in the audit trail and
    /// the sources held.
    Export(ExportCmd),
    /// Check an exhibit against its manifest: every file's sha256 and every
    /// frame of each master; the signature if there is one. Exits 2 when
    /// anything fails, naming the first bad frame.
    Verify(VerifyCmd),
    /// The audit trail: verify, list, sign its head, make a signing key.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Apply the retention period: remove index rows (and optionally the
    /// files) of recordings that ended more than DAYS ago, except held ones;
    /// every removal is logged in the audit trail.
    Retention(RetentionCmd),
    /// Hold recordings as evidence (retention never removes them), release
    /// a hold, or list holds. Logged in the audit trail.
    Hold(HoldCmd),
    /// Log the disclosure of a redacted output (subject access request) or
    /// an exhibit: date, recipient, reason, and the hash of what left.
    Disclose(DiscloseCmd),
    /// Find motion incidents in recordings of one camera and store them,
    /// one transaction per recording, in an SQLite index (re-indexing a
    /// recording replaces it).
    Index(IndexCmd),
    /// List indexed incidents.
    Incidents(IncidentsCmd),
    /// Monthly report: incidents and active minutes per camera, town or
    /// desk, optionally against the previous month.
    Report(ReportCmd),
    /// Decode only and report the speed; optionally print a hash per frame.
    Decode(DecodeCmd),
    /// A local web console over the index: incidents (timeline,
    /// thumbnails, heatmaps, playback), the monthly report, the audit trail.
    /// Listens on 127.0.0.1 and prints a URL with this run's token.
    Console(ConsoleCmd),
}

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Check the chain entry by entry and the head signatures. Exits 2 and
    /// names the first bad entry if anything was edited, deleted, inserted
    /// or reordered.
    Verify(AuditVerifyCmd),
    /// List the entries.
    List(AuditListCmd),
    /// Log something an operator did and why (e.g. footage viewed at a
    /// police request).
    Note(AuditNoteCmd),
    /// Sign the current head of the chain.
    Sign(AuditSignCmd),
    /// Upgrade an index database to this Obscura's schema (commands that
    /// only read refuse an older one, since they open it read-only).
    Upgrade(AuditUpgradeCmd),
    /// Make an Ed25519 key pair: KEY (secret, owner-only) and KEY.pub.
    Keygen(AuditKeygenCmd),
}

#[derive(clap::Args, Debug)]
pub(crate) struct ProbeCmd {
    /// Files to probe.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// One JSON array of objects, one per file.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct TranscodeCmd {
    /// Input video.
    pub(crate) input: PathBuf,
    /// Output file (.mp4, .m4v or .mov).
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) encode: EncodeArgs,
    #[command(flatten)]
    pub(crate) decode: DecodeArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct TracksCmd {
    /// Input video.
    pub(crate) input: PathBuf,
    #[command(flatten)]
    pub(crate) detect: DetectArgs,
    /// Contact sheet path (default: INPUT-NAME.tracks.png here).
    #[arg(long)]
    pub(crate) sheet: Option<PathBuf>,
    /// Replace an existing contact sheet (never an input).
    #[arg(long)]
    pub(crate) force: bool,
    /// Print the tracks as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct VerifyRedactionCmd {
    /// Redacted video.
    pub(crate) output: PathBuf,
    /// Its redaction record (default: OUTPUT.redaction.json if present):
    /// detection settings are taken from it and kept tracks are expected.
    #[arg(long)]
    pub(crate) record: Option<PathBuf>,
    /// Report detections scoring at least this (default: the
    /// redaction's own threshold).
    #[arg(long)]
    pub(crate) min_score: Option<f32>,
    #[command(flatten)]
    pub(crate) detect: DetectArgs,
    /// Index (SQLite file or postgres:// URL) whose audit trail logged the
    /// redaction: the record must be the one logged with the output's
    /// redaction (an edited record is refused before anything is
    /// detected); read only.
    #[arg(long)]
    pub(crate) db: Option<PathBuf>,
    /// Print the residuals as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DoctorCmd {
    /// Print the checks as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RedactCmd {
    /// Input video.
    pub(crate) input: PathBuf,
    /// Output file (.mp4, .m4v or .mov).
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    /// Camera profile (TOML) with the privacy masks.
    #[arg(long)]
    pub(crate) camera: Option<PathBuf>,
    /// Lift this mask (repeatable); needs --authorisation and --operator.
    #[arg(long = "unmask", value_name = "MASK_ID")]
    pub(crate) unmask: Vec<String>,
    /// Authorisation reference for lifting masks (e.g. a RIPA reference).
    #[arg(long)]
    pub(crate) authorisation: Option<String>,
    /// Who is doing this (recorded).
    #[arg(long)]
    pub(crate) operator: Option<String>,
    /// Why (recorded).
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// Case or request reference (recorded).
    #[arg(long = "case")]
    pub(crate) case_reference: Option<String>,
    #[command(flatten)]
    pub(crate) detect: DetectArgs,
    /// Leave this track visible (the requester; repeatable). Ids come
    /// from `obscura tracks`.
    #[arg(long = "keep-track", value_name = "ID")]
    pub(crate) keep_tracks: Vec<u32>,
    /// Why the kept tracks stay visible (recorded).
    #[arg(long)]
    pub(crate) keep_reason: Option<String>,
    /// Obscure a region a detector cannot know about:
    /// FIRST-LAST:x,y,w,h (frames, pixels; repeatable).
    #[arg(long = "box", value_name = "FRAMES:x,y,w,h")]
    pub(crate) boxes: Vec<String>,
    /// Enlarge detection boxes by this factor.
    #[arg(long, default_value_t = RedactOptions::default().pad)]
    pub(crate) pad: f32,
    /// How detections and manual boxes are obscured: mosaic, blur or solid.
    #[arg(long, default_value_t = RedactOptions::default().detection_style.to_string())]
    pub(crate) style: String,
    /// Obscure the whole picture except the kept tracks' boxes (the
    /// safest disclosure; with no kept track, everything is obscured).
    #[arg(long)]
    pub(crate) scene: bool,
    /// On a fixed camera, also obscure every region the motion model finds
    /// moving (dilated) unless it overlaps a kept track: catches people the
    /// detectors miss (and anything else that moves).
    #[arg(long, conflicts_with = "no_detect")]
    pub(crate) moving: bool,
    /// Re-create the regions of an earlier redaction record, with its
    /// detection settings, instead of detecting (bit-identical frames
    /// before encoding).
    #[arg(long, conflicts_with_all = ["faces", "plates", "scene", "moving", "people"])]
    pub(crate) replay: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) encode: EncodeArgs,
    #[command(flatten)]
    pub(crate) decode: DecodeArgs,
    /// Log the redaction (and any lifted mask with its authorisation)
    /// in this index database's audit trail.
    #[arg(long)]
    pub(crate) db: Option<PathBuf>,
    /// Ed25519 secret key file: sign the audit trail's head (with --db).
    #[arg(long, requires = "db")]
    pub(crate) key: Option<PathBuf>,
    /// Print the record as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ExportCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// Camera number.
    #[arg(long)]
    pub(crate) camera: u32,
    /// Start (UTC; YYYY-MM-DD, "YYYY-MM-DD HH:MM:SS" or RFC 3339).
    #[arg(long)]
    pub(crate) from: String,
    /// End, exclusive (UTC).
    #[arg(long)]
    pub(crate) to: String,
    /// Exhibit reference (e.g. JS/1).
    #[arg(long)]
    pub(crate) exhibit: String,
    /// Who is exporting (recorded).
    #[arg(long)]
    pub(crate) operator: String,
    /// Why (recorded).
    #[arg(long)]
    pub(crate) reason: String,
    /// Directory for the exhibit (created if missing).
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    /// Also write an H.264 MP4 working copy with the time burned in.
    #[arg(long)]
    pub(crate) working_copy: bool,
    /// Do not hold the source recordings under the exhibit reference.
    #[arg(long)]
    pub(crate) no_hold: bool,
    /// Ed25519 secret key file: sign the manifest and the audit head.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct VerifyCmd {
    /// The manifest (REF.manifest.json).
    pub(crate) manifest: PathBuf,
    /// Ed25519 public key (64 hex digits, or a file) the manifest must
    /// be signed with.
    #[arg(long)]
    pub(crate) public_key: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RetentionCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// Days recordings are kept.
    #[arg(long, default_value_t = 28)]
    pub(crate) days: u32,
    /// Delete the recording files too (only if unchanged since indexed).
    #[arg(long)]
    pub(crate) delete_files: bool,
    /// List what would go; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Count the window back from this time instead of now (UTC).
    #[arg(long)]
    pub(crate) now: Option<String>,
    /// Who (recorded).
    #[arg(long, default_value = "obscura retention")]
    pub(crate) operator: String,
    /// Why (recorded; default: the retention period elapsed).
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// Ed25519 secret key file: sign the audit head.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct HoldCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// Hold this indexed recording.
    #[arg(long, conflicts_with_all = ["camera", "list", "release"])]
    pub(crate) recording: Option<PathBuf>,
    /// Hold every recording of this camera overlapping --from..--to.
    #[arg(long, requires_all = ["from", "to"], conflicts_with_all = ["list", "release"])]
    pub(crate) camera: Option<u32>,
    /// Start (UTC).
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// End (UTC).
    #[arg(long)]
    pub(crate) to: Option<String>,
    /// Release every active hold under --reference.
    #[arg(long, conflicts_with = "list")]
    pub(crate) release: bool,
    /// List holds (active ones; with --all, released ones too).
    #[arg(long)]
    pub(crate) list: bool,
    /// With --list: released holds too.
    #[arg(long, requires = "list")]
    pub(crate) all: bool,
    /// Hold reference (exhibit, case or incident number).
    #[arg(long)]
    pub(crate) reference: Option<String>,
    /// Who (recorded).
    #[arg(long)]
    pub(crate) operator: Option<String>,
    /// Why (recorded).
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// Ed25519 secret key file: sign the audit head.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DiscloseCmd {
    /// Redaction record (OUTPUT.redaction.json), the redacted video next
    /// to it, or an exhibit manifest.
    pub(crate) record: PathBuf,
    /// Index database holding the audit trail (file or postgres:// URL).
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// Who receives it.
    #[arg(long)]
    pub(crate) recipient: String,
    /// Why it is disclosed (e.g. "SAR 2026-118").
    #[arg(long)]
    pub(crate) reason: String,
    /// Who discloses (recorded).
    #[arg(long)]
    pub(crate) operator: String,
    /// Ed25519 secret key file: sign the audit head.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Print the entry as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct IndexCmd {
    /// Recordings of the camera.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Camera profile (TOML): number, name, town, desk, ignore-zones,
    /// file-name pattern.
    #[arg(long)]
    pub(crate) camera: PathBuf,
    /// Index database (created if missing): an SQLite file, or a
    /// postgres://USER@HOST:PORT/DB URL (tables created on first use).
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// Wall-clock start of the recording (UTC, RFC 3339 or
    /// "YYYY-MM-DD HH:MM:SS"); only with a single file. Otherwise the
    /// container's creation time or the profile's file-name pattern is
    /// used, and with neither the recording has no wall-clock times.
    #[arg(long)]
    pub(crate) start: Option<String>,
    #[command(flatten)]
    pub(crate) motion: MotionArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct IncidentsCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// Only this camera number.
    #[arg(long)]
    pub(crate) camera: Option<u32>,
    /// Only cameras in this town.
    #[arg(long)]
    pub(crate) town: Option<String>,
    /// Only cameras at this desk.
    #[arg(long)]
    pub(crate) desk: Option<String>,
    /// Incidents starting at or after this time (UTC; YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// Incidents starting before this time (UTC; YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    pub(crate) to: Option<String>,
    /// Write each incident's JPEG thumbnail into this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) thumbnails: Option<PathBuf>,
    /// JSON array.
    #[arg(long, conflicts_with = "csv")]
    pub(crate) json: bool,
    /// CSV with a header row.
    #[arg(long)]
    pub(crate) csv: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ReportCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// The month, YYYY-MM (UTC).
    #[arg(long)]
    pub(crate) month: String,
    /// Group by camera, town or desk.
    #[arg(long, default_value = "camera")]
    pub(crate) by: String,
    /// Compare with a period: `previous` (the month before) or `none`.
    #[arg(long, value_name = "PERIOD")]
    pub(crate) compare: Option<String>,
    /// JSON object.
    #[arg(long, conflicts_with = "csv")]
    pub(crate) json: bool,
    /// CSV with a header row.
    #[arg(long, conflicts_with = "html")]
    pub(crate) csv: bool,
    /// Write the report as one self-contained HTML page (every grouping,
    /// charts as inline SVG, no script, no external request; prints to
    /// PDF). Never replaces an existing file.
    #[arg(long, value_name = "FILE", conflicts_with = "json")]
    pub(crate) html: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ConsoleCmd {
    /// Index database (must exist: `obscura index` makes it); file or
    /// postgres:// URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// A folder whose files may be opened in the console (repeatable).
    /// Nothing outside these folders and the index's recordings is read.
    #[arg(long, value_name = "DIR")]
    pub(crate) media: Vec<PathBuf>,
    /// Port (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// Address to listen on. Anything but a loopback address makes the
    /// console (and the evidence it serves) reachable from other machines,
    /// over plain HTTP, to anyone who learns the URL: only on a trusted
    /// network, and only when needed.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub(crate) bind: std::net::IpAddr,
    /// Folder for browser copies of recordings made for playback
    /// (default: $OBSCURA_HOME/console-cache).
    #[arg(long, value_name = "DIR")]
    pub(crate) cache: Option<PathBuf>,
    /// The audit trail's public key (hex, or a KEY.pub file), to check who
    /// signed its head.
    #[arg(long, value_name = "KEY")]
    pub(crate) audit_key: Option<String>,
    /// Folder evidence exports (an exhibit folder each) and redacted SAR
    /// outputs (in sar/) from the console go into; without it the console
    /// writes nothing there.
    #[arg(long, value_name = "DIR")]
    pub(crate) exports: Option<PathBuf>,
    /// Folder of camera profiles (*.toml): a review of a camera's recording
    /// draws its privacy masks, which may be lifted under an authorisation.
    #[arg(long, value_name = "DIR")]
    pub(crate) cameras: Option<PathBuf>,
    /// Print the URL as a JSON object (`{"url": ...}`) on one line.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DecodeCmd {
    /// Input video.
    pub(crate) input: PathBuf,
    #[command(flatten)]
    pub(crate) decode: DecodeArgs,
    /// Print `index pts sha256` for every frame (of the visible Y, U, V
    /// samples, or of the converted picture with `--to`).
    #[arg(long)]
    pub(crate) hashes: bool,
    /// Convert every frame as the Python bindings do: `rgb` (packed
    /// RGB24) or `gray` (luma rows); `yuv` leaves frames as decoded.
    #[arg(long, default_value = "yuv", value_parser = ["yuv", "rgb", "gray"])]
    pub(crate) to: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct AuditVerifyCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// Ed25519 public key (64 hex digits, or a file) the head must be
    /// signed with.
    #[arg(long)]
    pub(crate) public_key: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct AuditListCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// JSON array.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct AuditNoteCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// Who.
    #[arg(long)]
    pub(crate) operator: String,
    /// What it concerns (camera, file, incident, request).
    #[arg(long)]
    pub(crate) subject: String,
    /// Why.
    #[arg(long)]
    pub(crate) reason: String,
    /// Ed25519 secret key file: sign the audit head.
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct AuditSignCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
    /// Ed25519 secret key file.
    #[arg(long)]
    pub(crate) key: PathBuf,
}

#[derive(clap::Args, Debug)]
pub(crate) struct AuditUpgradeCmd {
    /// Index database: an SQLite file, or a postgres://USER@HOST:PORT/DB URL.
    #[arg(long)]
    pub(crate) db: PathBuf,
}

#[derive(clap::Args, Debug)]
pub(crate) struct AuditKeygenCmd {
    /// The secret key file to create.
    #[arg(long)]
    pub(crate) out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub(crate) struct EncodeArgs {
    /// x264 constant rate factor, 0 (lossless) to 51.
    #[arg(long, default_value_t = EncodeOptions::default().crf)]
    pub(crate) crf: u8,
    /// x264 preset (ultrafast ... veryslow).
    #[arg(long, default_value_t = EncodeOptions::default().preset.to_string())]
    pub(crate) preset: String,
    /// Audio: copy, drop, or aac (copy what MP4 can hold, re-encode the rest, e.g. G.711, to AAC).
    #[arg(long, default_value_t = EncodeOptions::default().audio.to_string())]
    pub(crate) audio: String,
    /// Replace an existing output (never an input). A redaction keeps the
    /// record it replaces as OUTPUT.redaction.superseded-UTC.json and says
    /// so in the new record. Without it, an existing output is refused.
    #[arg(long)]
    pub(crate) force: bool,
}

impl EncodeArgs {
    pub(crate) fn to_options(&self) -> Result<EncodeOptions> {
        let opts = EncodeOptions {
            crf: self.crf,
            preset: self.preset.parse::<Preset>()?,
            audio: self.audio.parse::<AudioPolicy>()?,
            replace_existing: self.force,
            ..EncodeOptions::default()
        };
        opts.validate()?;
        Ok(opts)
    }
}

/// What to detect; every default is the core's (`AnalyseOptions::default`:
/// every face and every plate).
#[derive(clap::Args, Debug)]
pub(crate) struct DetectArgs {
    /// Detect and obscure faces (CenterFace). With neither --faces nor
    /// --plates, both are detected.
    #[arg(long, conflicts_with = "no_detect")]
    pub(crate) faces: bool,
    /// Detect and obscure number plates (PP-OCRv4 text detector + plate
    /// geometry). With neither --faces nor --plates, both are detected.
    #[arg(long, conflicts_with = "no_detect")]
    pub(crate) plates: bool,
    /// Detect nothing: obscure only the camera's privacy masks and the
    /// manual boxes.
    #[arg(long)]
    pub(crate) no_detect: bool,
    /// Also detect people (NanoDet, in tiles, every few frames) and, in
    /// redact, obscure every person not kept: the whole body (`body`, the
    /// default) or the head region (`head`). Adds to the faces and plates
    /// detected.
    #[arg(long, value_name = "REGION", num_args = 0..=1, default_missing_value = "body",
          value_parser = |s: &str| s.parse::<PersonRegion>(), conflicts_with = "no_detect")]
    pub(crate) people: Option<PersonRegion>,
    /// Person score threshold, 0 to 1.
    #[arg(long, default_value_t = PersonSettings::default().threshold)]
    pub(crate) person_threshold: f32,
    /// Keep only plate candidates the PP-OCRv4 recogniser reads as a
    /// plate-like string (fewer signs obscured; off by default, since
    /// missing a plate matters more than covering a sign).
    #[arg(long)]
    pub(crate) plate_confirm: bool,
    /// Do not look for vehicles: plates are then searched on the whole
    /// frame only, and vehicles too small for their plate to be found
    /// (under 100 px wide) do not have their plate zone covered.
    #[arg(long)]
    pub(crate) no_vehicles: bool,
    /// Face score threshold, 0 to 1: detections scoring at least this are
    /// faces.
    #[arg(long, default_value_t = FaceSettings::default().threshold)]
    pub(crate) face_threshold: f32,
    /// Face detection scale (0 = automatic: at most about 1536 px across,
    /// lower around and where faces seen are large; a scale set here is
    /// used everywhere).
    #[arg(long, default_value_t = FaceSettings::default().scale)]
    pub(crate) face_scale: f32,
    /// Face model arithmetic: `int8` (the default, about twice as fast) or
    /// `float` (the model as shipped). verify-redaction always reads with
    /// `float`.
    #[arg(long, default_value = "int8", value_parser = parse_precision)]
    pub(crate) face_precision: FacePrecision,
    /// Detection workers, each with its own model sessions (0 = one per core).
    #[arg(long, default_value_t = AnalyseOptions::default().workers)]
    pub(crate) detect_workers: usize,
    /// Detect on the whole frame every N frames and in between only where
    /// something moved or a face or plate was recently seen (faces and
    /// plates each in their own regions; 0 = whole frame always).
    #[arg(long, default_value_t = RoiSettings::default().full_every)]
    pub(crate) full_every: u64,
}

impl DetectArgs {
    /// Whether --faces, --plates or --people was given (a choice that
    /// overrides a record's settings in verify-redaction).
    pub(crate) fn chosen(&self) -> bool {
        self.faces || self.plates || self.people.is_some()
    }

    /// The detection asked for: none with --no-detect; the classes named;
    /// the core's default classes when none is named.
    pub(crate) fn to_options(&self) -> Option<AnalyseOptions> {
        if self.no_detect {
            return None;
        }
        let base = AnalyseOptions::default();
        let (faces, plates) = if self.faces || self.plates {
            (self.faces, self.plates)
        } else {
            (base.faces.is_some(), base.plates.is_some())
        };
        Some(AnalyseOptions {
            faces: faces.then_some(FaceSettings {
                threshold: self.face_threshold,
                scale: self.face_scale,
                precision: self.face_precision,
            }),
            plates: plates.then(|| PlateSettings {
                confirm: self.plate_confirm,
                vehicles: !self.no_vehicles,
                ..base.plates.unwrap_or_default()
            }),
            people: self.people.map(|_| PersonSettings {
                threshold: self.person_threshold,
                ..PersonSettings::default()
            }),
            workers: self.detect_workers,
            roi: (self.full_every > 0).then(|| RoiSettings {
                full_every: self.full_every,
                ..base.roi.unwrap_or_default()
            }),
            ..base
        })
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct DecodeArgs {
    /// Segments decoded in parallel (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub(crate) workers: usize,
    /// Decode sequentially with FFmpeg's own threading instead.
    #[arg(long)]
    pub(crate) sequential: bool,
}

impl DecodeArgs {
    pub(crate) fn to_options(&self) -> DecodeOptions {
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

/// Motion options; every default is the core's (`MotionOptions::default`).
#[derive(clap::Args, Debug)]
pub(crate) struct MotionArgs {
    /// Analysis width in pixels (the luma plane is shrunk to about this).
    #[arg(long, default_value_t = MotionOptions::default().width)]
    pub(crate) width: usize,
    /// Grey-level difference from the background that counts as motion.
    #[arg(long, default_value_t = MotionOptions::default().threshold)]
    pub(crate) threshold: u8,
    /// Moving fraction of the picture that starts an incident.
    #[arg(long, default_value_t = MotionOptions::default().trigger)]
    pub(crate) trigger: f32,
    /// Minimum length of motion, seconds.
    #[arg(long, default_value_t = MotionOptions::default().min_event_s)]
    pub(crate) min_event: f64,
    /// Padding before each incident, seconds.
    #[arg(long, default_value_t = MotionOptions::default().pre_s)]
    pub(crate) pre: f64,
    /// Padding after each incident, seconds.
    #[arg(long, default_value_t = MotionOptions::default().post_s)]
    pub(crate) post: f64,
    /// Threads (0 = one per core). Files run in parallel; a single file is
    /// cut into segments.
    #[arg(long, default_value_t = MotionOptions::default().threads)]
    pub(crate) threads: usize,
    /// Segments per file (0 = decided from its length; 1 = sequential).
    #[arg(long, default_value_t = MotionOptions::default().segments)]
    pub(crate) segments: usize,
    /// Skip decoding stretches whose packet sizes say the picture is still
    /// (faster on quiet footage; may miss very small motion).
    #[arg(long)]
    pub(crate) triage: bool,
}

impl MotionArgs {
    pub(crate) fn to_options(&self) -> Result<MotionOptions> {
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
pub(crate) fn interrupt() -> &'static obscura_core::Cancel {
    static TOKEN: std::sync::OnceLock<obscura_core::Cancel> = std::sync::OnceLock::new();
    TOKEN.get_or_init(obscura_core::Cancel::new)
}

/// Default decoding, stopped by Ctrl-C.
pub(crate) fn decoding() -> DecodeOptions {
    DecodeOptions {
        cancel: interrupt().clone(),
        ..DecodeOptions::default()
    }
}

/// `--face-precision`: the core's names, its error message.
fn parse_precision(s: &str) -> Result<FacePrecision, String> {
    s.parse().map_err(|e: obscura_core::Error| e.to_string())
}
