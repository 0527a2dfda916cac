//! Redaction commands: list tracks, redact, verify a redaction.

use crate::args::*;
use crate::print::*;
use anyhow::Result;
use obscura_core::pipeline::analyse::AnalyseOptions;
use obscura_core::pipeline::PipelineOptions;
use std::process::ExitCode;

pub(crate) fn tracks(cmd: TracksCmd) -> Result<ExitCode> {
    let TracksCmd {
        input,
        detect,
        sheet,
        force,
        json,
    } = cmd;
    // With --no-detect, the core says there is nothing to track.
    let opts = detect.to_options().unwrap_or_else(|| AnalyseOptions {
        faces: None,
        plates: None,
        ..AnalyseOptions::default()
    });
    let sheet = sheet.unwrap_or_else(|| {
        obscura_core::pipeline::analyse::TrackListing::default_sheet_path(&input)
    });
    // Claimed before the analysis, so a name that cannot be used
    // fails at once rather than after minutes of detection.
    let sheet_out = obscura_core::output::PendingFile::with_policy(&sheet, &[&input], force)?;
    let listing = with_progress(|on_progress| {
        obscura_core::pipeline::analyse::list_tracks(&input, &decoding(), &opts, on_progress)
    });
    let listing = listing?;
    listing.write_contact_sheet_to(sheet_out)?;
    if json {
        let v = serde_json::json!({ "sheet": sheet, "tracks": listing.tracks });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{:>5} {:>10} {:>14} {:>14} {:>6}  with",
            "id", "class", "first (s)", "last (s)", "hits"
        );
        for t in &listing.tracks {
            let with: Vec<String> = t.linked.iter().map(u32::to_string).collect();
            println!(
                "{:>5} {:>10} {:>7} {:>6.2} {:>7} {:>6.2} {:>6}  {}",
                t.id,
                t.class.name(),
                t.first_frame,
                t.first_time,
                t.last_frame,
                t.last_time,
                t.detections,
                with.join(",")
            );
        }
        println!("contact sheet: {}", sheet.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn redact(cmd: RedactCmd) -> Result<ExitCode> {
    let RedactCmd {
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
        scene,
        moving,
        replay,
        encode,
        decode,
        db,
        key,
        json,
    } = cmd;
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
        detect: detect.to_options(),
        person_region: detect.people.unwrap_or_default(),
        moving,
        keep_tracks,
        keep_reason,
        boxes,
        pad,
        replay,
        detection_style,
        scene,
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
    let record = with_job(|job| redactor.redact(&clip, job))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        let lifted: Vec<_> = record.masks_lifted.iter().map(|m| m.id.as_str()).collect();
        println!(
            "{} -> {}: {} frames, {} mask(s) applied, {} track(s) ({} kept), {} box(es) obscured{}{}; record {}",
            record.input.path.display(),
            record.output.path.display(),
            record.output.frames,
            record.masks_applied.len(),
            record.counts.tracks,
            record.counts.kept_tracks,
            record.counts.obscured_boxes,
            match (record.scene, record.moving) {
                (true, true) => " (moving regions included), the rest of the scene obscured",
                (true, false) => ", the rest of the scene obscured",
                (false, true) => " (moving regions included)",
                (false, false) => "",
            },
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
        if let Some(declared) = record.input.declared_frames {
            println!("{}", super::media::cut_short(record.input.frames, declared));
        }
        if let Some(how) = &record.input.cut_short {
            println!("{}", super::media::ends_cut_short(record.input.frames, how));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn verify_redaction(cmd: VerifyRedactionCmd) -> Result<ExitCode> {
    let VerifyRedactionCmd {
        output,
        record,
        min_score,
        detect,
        db,
        json,
    } = cmd;
    if detect.no_detect {
        anyhow::bail!("verify-redaction always detects: --no-detect does not apply");
    }
    if let Some(db) = &db {
        let index = obscura_core::store::Store::open_read_only(db)?;
        let rec = (record.clone())
            .unwrap_or_else(|| obscura_core::pipeline::redact::record_path(&output));
        match obscura_core::pipeline::disclose::logged_redaction_of(&index, &output, &rec)? {
            Some(seq) => eprintln!(
                "record {}: the one logged with this output's redaction (audit entry {seq})",
                rec.display()
            ),
            None => eprintln!(
                "record {}: no redaction of this output is logged in {}",
                rec.display(),
                db.display()
            ),
        }
    }
    let v = with_progress(|on_progress| {
        obscura_core::pipeline::verify::verify_redaction(
            &output,
            record.as_deref(),
            detect.chosen().then(|| detect.to_options()).flatten(),
            min_score,
            &decoding(),
            on_progress,
        )
    })?;
    let (residuals, min) = (v.residuals, v.min_score);
    let line = |r: &obscura_core::pipeline::verify::Residual| {
        format!(
            "frame {:>6} {:>8.2}s {} score {:.2} at {:.0},{:.0} {:.0}x{:.0}",
            r.frame,
            r.time,
            r.class.name(),
            r.score,
            r.bbox.x,
            r.bbox.y,
            r.bbox.w,
            r.bbox.h
        )
    };
    // The JSON stays the list of residuals; faces the obscuring made are
    // named on stderr, where a script's parser does not read them.
    if json {
        println!("{}", serde_json::to_string_pretty(&residuals)?);
    } else {
        for r in &residuals {
            println!("{}", line(r));
        }
        println!(
            "{}: {} residual detection(s) at score >= {min}",
            output.display(),
            residuals.len()
        );
    }
    for r in &v.made_by_obscuring {
        eprintln!(
            "not counted: {} (made by the obscuring: the original shows no face there)",
            line(r)
        );
    }
    Ok(if residuals.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
