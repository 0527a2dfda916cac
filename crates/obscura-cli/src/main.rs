//! `obscura`: the command-line face of obscura-core. Every subcommand is a
//! thin shell over the library's public API.

mod args;
mod print;

use anyhow::{Context, Result};
use args::*;
use clap::Parser;
use obscura_core::clock;
use obscura_core::mask::camera::CameraProfile;
use obscura_core::media;
use obscura_core::pipeline::indexing;
use obscura_core::pipeline::{self, Job, PipelineOptions};
use obscura_core::store::{GroupBy, IncidentFilter, IncidentRow, Month, Store};
use print::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

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
            let detection_style: obscura_core::mask::camera::Style = style.parse()?;
            let boxes = boxes
                .iter()
                .map(|b| b.parse::<obscura_core::pipeline::redact::ManualBox>())
                .collect::<Result<Vec<_>, _>>()?;
            let opts = obscura_core::pipeline::redact::RedactOptions {
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
                    obscura_core::pipeline::redact::record_path(&output).display()
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
                obscura_core::pipeline::analyse::list_tracks(
                    &input,
                    &decoding(),
                    &opts,
                    on_progress,
                )
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
                obscura_core::pipeline::verify::verify_redaction(
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
            let req = obscura_core::pipeline::export::ExportRequest {
                camera,
                from: clock::parse_time_arg(&from)?,
                to: clock::parse_time_arg(&to)?,
                exhibit,
                operator,
                reason,
                out_dir: output,
                working_copy,
                hold: !no_hold,
                decode: decoding(),
            };
            let key = load_key(key.as_deref())?;
            let mut idx = Store::open_existing(&db)?;
            let done = with_progress(|on_progress| {
                obscura_core::pipeline::export::export(&mut idx, &req, key.as_ref(), on_progress)
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
                .map(obscura_core::evidence::sign::PublicKey::from_arg)
                .transpose()?;
            let report = with_progress(|on_progress| {
                obscura_core::pipeline::export::verify_manifest(
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
            let mut opts = obscura_core::evidence::retention::RetentionOptions::new(days);
            if let Some(t) = now {
                opts.now = clock::parse_time_arg(&t)?;
            }
            opts.delete_files = delete_files;
            opts.dry_run = dry_run;
            opts.operator = operator;
            if let Some(r) = reason {
                opts.reason = r;
            }
            let key = load_key(key.as_deref())?;
            let mut idx = if dry_run {
                Store::open_read_only(&db)?
            } else {
                Store::open_existing(&db)?
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
                Store::open_read_only(&db)?
            } else {
                Store::open_existing(&db)?
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
                    use obscura_core::evidence::retention::HoldTarget;
                    let target = match (recording, camera, from, to) {
                        (Some(p), _, _, _) => HoldTarget::Recording(p),
                        (None, Some(camera), Some(from), Some(to)) => HoldTarget::Range {
                            camera,
                            from: clock::parse_time_arg(&from)?,
                            to: clock::parse_time_arg(&to)?,
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
            let mut idx = Store::open_existing(&db)?;
            let entry = obscura_core::pipeline::disclose::log_disclosure(
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
                from: from.as_deref().map(clock::parse_time_arg).transpose()?,
                to: to.as_deref().map(clock::parse_time_arg).transpose()?,
            };
            let idx = Store::open_read_only(&db)?;
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
            let idx = Store::open_read_only(&db)?;
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

fn load_key(
    path: Option<&std::path::Path>,
) -> Result<Option<obscura_core::evidence::sign::SecretKey>> {
    Ok(path
        .map(obscura_core::evidence::sign::SecretKey::load)
        .transpose()?)
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
                .map(obscura_core::evidence::sign::PublicKey::from_arg)
                .transpose()?;
            let idx = Store::open_read_only(&db)?;
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
            let idx = Store::open_read_only(&db)?;
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
            use obscura_core::evidence::audit::{Action, NewEntry};
            let key = load_key(key.as_deref())?;
            let mut idx = Store::open_existing(&db)?;
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
            let key = obscura_core::evidence::sign::SecretKey::load(&key)?;
            let mut idx = Store::open_existing(&db)?;
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
            let idx = Store::open_existing(&db)?;
            println!("{}: schema version {}", db.display(), idx.schema_version()?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Keygen { out } => {
            let key = obscura_core::evidence::sign::SecretKey::generate()?;
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
    let start = start.map(clock::parse_time_arg).transpose()?;
    let bar = progress_bar();
    let started = Instant::now();
    let cancel = opts.cancel.clone();
    let indexer = indexing::Indexer::new(db, profile, opts)?;
    let mut job = Job::new().with_cancel(cancel).on_progress(|p| {
        bar.set_length(p.total);
        bar.set_position(p.frames);
    });
    let results = indexer.index(files, start, &mut job);
    drop(job);
    bar.finish_and_clear();
    let results = results?;
    let profile = indexer.camera();
    let secs = started.elapsed().as_secs_f64();
    let idx = Store::open(db)?;
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

fn write_thumbnails(idx: &Store, rows: &[IncidentRow], dir: &std::path::Path) -> Result<()> {
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
