//! Media commands: probe, transcode, decode, and the setup check.

use crate::args::*;
use crate::print::*;
use anyhow::{Context, Result};
use obscura_core::media;
use obscura_core::pipeline::{self, PipelineOptions};
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

pub(crate) fn transcode(cmd: TranscodeCmd) -> Result<ExitCode> {
    let TranscodeCmd {
        input,
        output,
        encode,
        decode,
        json,
    } = cmd;
    let opts = PipelineOptions {
        decode: decode.to_options(),
        encode: encode.to_options()?,
    };
    let summary =
        with_progress(|on_progress| pipeline::transcode(&input, &output, &opts, on_progress));
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
        if let Some(declared) = summary.declared_frames {
            println!("{}", cut_short(summary.frames_in, declared));
        }
        if let Some(how) = &summary.cut_short {
            println!("{}", ends_cut_short(summary.frames_in, how));
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
                if summary.discontinuities == 1 {
                    "y"
                } else {
                    "ies"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The line that says an input holds fewer frames than its header declares.
/// What to tell the user about a source that shows it was cut short
/// (`how`) without declaring a frame count.
pub(crate) fn ends_cut_short(held: u64, how: &str) -> String {
    format!("the source was cut short: {how}; all {held} frames it holds are in the output")
}

pub(crate) fn cut_short(held: u64, declared: u64) -> String {
    format!(
        "the source holds {held} of the {declared} frames its header declares (cut short or damaged): all {held} are in the output"
    )
}

/// What probe found that says `info`'s file is incomplete, in words: more
/// frames declared than it holds, or a structure cut short.
fn incomplete(info: &media::VideoInfo) -> Option<String> {
    match (info.declared_frames_missing(), &info.cut_short) {
        (Some(declared), _) => Some(format!(
            "holds {} of the {declared} frames its header declares (cut short or damaged)",
            info.frames
        )),
        (None, Some(how)) => Some(format!("cut short: {how}")),
        (None, None) => None,
    }
}

pub(crate) fn decode(cmd: DecodeCmd) -> Result<ExitCode> {
    let DecodeCmd {
        input,
        decode,
        hashes,
        to,
        json,
    } = cmd;
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
            "declared_frames": info.declared_frames_missing(), "cut_short": info.cut_short,
        });
        writeln!(out, "{v}")?;
    } else if !hashes {
        writeln!(
            out,
            "{}: {n} frames in {secs:.2} s ({fps:.1} fps)",
            info.path.display()
        )?;
        if let Some(said) = incomplete(&info) {
            writeln!(out, "{}: {said}", info.path.display())?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn doctor(cmd: DoctorCmd) -> Result<ExitCode> {
    let DoctorCmd { json } = cmd;
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

pub(crate) fn probe(cmd: ProbeCmd) -> Result<ExitCode> {
    let ProbeCmd { files, json } = cmd;
    let mut failed = 0usize;
    let mut objects = Vec::new();
    for f in &files {
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
                    if let Some(said) = incomplete(&info) {
                        println!("{}: {said}", info.path.display());
                    }
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("obscura: error: {e}");
                if json {
                    objects.push(serde_json::to_value(e.report_for(f))?);
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
