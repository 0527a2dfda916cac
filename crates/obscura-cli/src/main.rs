//! `obscura`: the command-line face of obscura-core. Every subcommand is a
//! thin shell over the library's public API.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use obscura_core::media::{self, AudioPolicy, DecodeOptions, EncodeOptions, Preset};
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
    /// Decode only and report the speed; optionally print a hash per frame.
    Decode {
        /// Input video.
        input: PathBuf,
        #[command(flatten)]
        decode: DecodeArgs,
        /// Print `index pts sha256` for every frame (visible Y, U, V samples).
        #[arg(long)]
        hashes: bool,
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
            let bar = progress_bar();
            let mut on_progress = |p: Progress| {
                bar.set_length(p.total);
                bar.set_position(p.frames);
            };
            let summary = pipeline::transcode(&input, &output, &opts, &mut on_progress);
            bar.finish_and_clear();
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
            let detection_style = match style.as_str() {
                "mosaic" => obscura_core::camera::Style::Mosaic,
                "blur" => obscura_core::camera::Style::Blur,
                "solid" => obscura_core::camera::Style::Solid,
                other => anyhow::bail!("invalid style {other:?} (expected mosaic, blur or solid)"),
            };
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
            let bar = progress_bar();
            let mut on_progress = |p: Progress| {
                bar.set_length(p.total);
                bar.set_position(p.frames);
            };
            let record = obscura_core::redact::redact(&input, &output, &opts, &mut on_progress);
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
            json,
        } => {
            let mut opts = detect.to_options();
            if !detect.any() {
                opts.faces = Some(Default::default());
            }
            let bar = progress_bar();
            let mut on_progress = |p: Progress| {
                bar.set_length(p.total);
                bar.set_position(p.frames);
            };
            let listing = obscura_core::analyse::list_tracks(
                &input,
                &DecodeOptions::default(),
                &opts,
                &mut on_progress,
            );
            bar.finish_and_clear();
            let listing = listing?;
            let sheet = sheet.unwrap_or_else(|| {
                let name = input
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                PathBuf::from(format!("{name}.tracks.png"))
            });
            let cells: Vec<(String, obscura_core::sheet::Thumb)> = listing
                .tracks
                .iter()
                .zip(&listing.thumbnails)
                .map(|(t, th)| {
                    let c = match t.class {
                        obscura_core::detect::Class::Face => "F",
                        obscura_core::detect::Class::Plate => "P",
                    };
                    (format!("#{}{c}", t.id), th.clone())
                })
                .collect();
            obscura_core::sheet::write_contact_sheet(&sheet, &cells)?;
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
            let record_path = record.or_else(|| {
                let p = obscura_core::redact::record_path(&output);
                p.is_file().then_some(p)
            });
            let record = record_path
                .as_deref()
                .map(obscura_core::redact::read_record)
                .transpose()?;
            // Look at least as closely as the redaction did.
            let mut opts = match record.as_ref().and_then(|r| r.detection.as_ref()) {
                Some(d) if !detect.any() => d.settings.clone(),
                _ => detect.to_options(),
            };
            if opts.faces.is_none() && opts.plates.is_none() {
                opts.faces = Some(Default::default());
            }
            let min = min_score.unwrap_or_else(|| opts.faces.map_or(0.5, |f| f.threshold));
            let bar = progress_bar();
            let mut on_progress = |p: Progress| {
                bar.set_length(p.total);
                bar.set_position(p.frames);
            };
            let residuals = obscura_core::verify::verify(
                &output,
                &opts,
                record.as_ref(),
                min,
                &mut on_progress,
            );
            bar.finish_and_clear();
            let residuals = residuals?;
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
        Command::Decode {
            input,
            decode,
            hashes,
            json,
        } => {
            let started = Instant::now();
            let (info, frames) = media::open(&input, &decode.to_options())?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut n = 0u64;
            for frame in frames {
                let frame = frame?;
                if hashes {
                    writeln!(
                        out,
                        "{} {} {}",
                        frame.index(),
                        frame.pts(),
                        frame.view().sha256_hex()
                    )?;
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
