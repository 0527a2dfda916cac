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
        /// Print the record as JSON.
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

#[derive(clap::Args, Debug)]
struct EncodeArgs {
    /// x264 constant rate factor, 0 (lossless) to 51.
    #[arg(long, default_value_t = 18)]
    crf: u8,
    /// x264 preset (ultrafast ... veryslow).
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// Audio: copy (default) or drop.
    #[arg(long, default_value = "copy")]
    audio: String,
}

impl EncodeArgs {
    fn to_options(&self) -> Result<EncodeOptions> {
        let opts = EncodeOptions {
            crf: self.crf,
            preset: self.preset.parse::<Preset>()?,
            audio: self.audio.parse::<AudioPolicy>()?,
            threads: 0,
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
    /// Face score threshold.
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
    #[arg(long, default_value_t = 8)]
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
            plates: self.plates.then(PlateSettings::default),
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
            DecodeOptions::sequential()
        } else {
            DecodeOptions {
                workers: self.workers,
                ..DecodeOptions::default()
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
            ..defaults
        };
        opts.validate()?;
        Ok(opts)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("obscura: error: {e:#}");
            ExitCode::FAILURE
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
            let record = with_progress(|on_progress| {
                obscura_core::redact::redact(&input, &output, &opts, on_progress)
            });
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
            json,
        } => {
            let mut opts = detect.to_options();
            if !detect.any() {
                opts.faces = Some(Default::default());
            }
            let listing = with_progress(|on_progress| {
                obscura_core::analyse::list_tracks(
                    &input,
                    &DecodeOptions::default(),
                    &opts,
                    on_progress,
                )
            });
            let listing = listing?;
            let sheet = sheet.unwrap_or_else(|| {
                let name = input
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                PathBuf::from(format!("{name}.tracks.png"))
            });
            listing.write_contact_sheet(&sheet)?;
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
                    &DecodeOptions::default(),
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
            let idx = Index::open_existing(&db)?;
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
            let idx = Index::open_existing(&db)?;
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
    for (path, r) in files.iter().zip(&results) {
        match r {
            Ok(done) => {
                ok += 1;
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
                        if done.replaced {
                            ", replaced earlier index"
                        } else {
                            ""
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
            "frames": frames, "incidents": incidents, "seconds": secs, "fps": fps, "faults": faults,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "indexed {ok} of {} file(s) for camera {} into {}: {frames} frames, {incidents} incident(s), {secs:.1} s ({fps:.1} fps)",
            files.len(),
            profile.camera,
            db.display()
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
    Ok(if failed > 0 {
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
    for r in rows {
        if let Some(jpeg) = idx.incident_images(r.id)?.and_then(|i| i.thumbnail) {
            let dest = dir.join(format!("incident-{}.jpg", r.id));
            let pending = obscura_core::output::PendingFile::new(&dest, &[])?;
            std::fs::write(pending.tmp_path(), &jpeg)
                .with_context(|| format!("cannot write {}", dest.display()))?;
            pending.commit()?;
        }
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
