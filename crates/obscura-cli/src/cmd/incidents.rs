//! Motion incident commands: index recordings, list incidents, monthly
//! reports.

use crate::args::*;
use crate::print::*;
use anyhow::{Context, Result};
use obscura_core::clock;
use obscura_core::mask::camera::CameraProfile;
use obscura_core::pipeline::indexing;
use obscura_core::store::{Comparison, GroupBy, IncidentFilter, IncidentRow, Month, Store};
use std::process::ExitCode;
use std::time::Instant;

pub(crate) fn incidents(cmd: IncidentsCmd) -> Result<ExitCode> {
    let IncidentsCmd {
        db,
        camera,
        town,
        desk,
        from,
        to,
        thumbnails,
        json,
        csv,
    } = cmd;
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

pub(crate) fn report(cmd: ReportCmd) -> Result<ExitCode> {
    let ReportCmd {
        db,
        month,
        by,
        compare,
        json,
        csv,
        html,
    } = cmd;
    let month: Month = month.parse()?;
    let by: GroupBy = by.parse()?;
    let compare: Comparison = compare.as_deref().unwrap_or("none").parse()?;
    if let Some(dest) = html {
        let written = obscura_console::report::write_html(&db, month, compare.previous(), &dest)
            .with_context(|| format!("cannot write the report to {}", dest.display()))?;
        println!("wrote the {month} report to {}", written.display());
        return Ok(ExitCode::SUCCESS);
    }
    let idx = Store::open_read_only(&db)?;
    let report = idx.report(month, by, compare.previous())?;
    print_report(&report, json, csv)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn index(cmd: IndexCmd) -> Result<ExitCode> {
    let IndexCmd {
        files,
        camera,
        db,
        start,
        motion,
        json,
    } = cmd;
    let opts = motion.to_options()?;
    let profile = CameraProfile::load(camera)?;
    let start = start.as_deref().map(clock::parse_time_arg).transpose()?;
    let started = Instant::now();
    let indexer = indexing::Indexer::new(&db, profile, opts)?;
    let results = with_job(|job| indexer.index(&files, start, job))?;
    let camera = indexer.camera().camera;
    let secs = started.elapsed().as_secs_f64();
    let faults = Store::open(&db)?.faults(Some(camera), 1.0)?;
    let totals = indexing::BatchTotals::of(&results);
    let fps = if secs > 0.0 {
        totals.frames as f64 / secs
    } else {
        0.0
    };
    for r in &results {
        match r {
            Ok(done) => {
                if let Some(d) = &done.damaged {
                    eprintln!(
                        "obscura: error: {}: {d} (indexed what decoded, marked damaged)",
                        done.path.display()
                    );
                }
                if !json {
                    print_indexed(done);
                }
            }
            Err(e) => eprintln!("obscura: error: {e} (skipped)"),
        }
    }
    if json {
        let objects = files
            .iter()
            .zip(&results)
            .map(|(path, r)| match r {
                Ok(done) => serde_json::to_value(done),
                Err(e) => serde_json::to_value(e.report_for(path)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let v = serde_json::json!({
            "db": db, "camera": camera, "files": objects, "indexed": totals.indexed,
            "failed": totals.failed, "duplicates": totals.duplicates, "damaged": totals.damaged,
            "frames": totals.frames, "incidents": totals.incidents, "seconds": secs, "fps": fps,
            "faults": faults,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let t = &totals;
        println!(
            "indexed {} of {} file(s) for camera {camera} into {}: {} frames, {} incident(s), {secs:.1} s ({fps:.1} fps){}{}",
            t.indexed,
            files.len(),
            obscura_core::store::display_location(&db),
            t.frames,
            t.incidents,
            if t.duplicates > 0 {
                format!("; {} duplicate(s) of another file given, not stored separately", t.duplicates)
            } else {
                String::new()
            },
            if t.damaged > 0 {
                format!("; {} damaged (fewer frames than declared)", t.damaged)
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
    Ok(if totals.has_failures() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One line for a file of the batch.
fn print_indexed(done: &indexing::Indexed) {
    if done.skipped_as_duplicate() {
        println!(
            "{}: duplicate of {} (same sha256): not stored separately",
            done.path.display(),
            done.duplicate_of
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        return;
    }
    let skipped = if done.skipped_frames > 0 {
        format!(" ({} still, skipped by triage)", done.skipped_frames)
    } else {
        String::new()
    };
    println!(
        "{}: {} frames{skipped}, {} incident(s), start {} ({}){}{}",
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

pub(crate) fn write_thumbnails(
    idx: &Store,
    rows: &[IncidentRow],
    dir: &std::path::Path,
) -> Result<()> {
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

pub(crate) fn console(cmd: ConsoleCmd) -> Result<ExitCode> {
    let ConsoleCmd {
        db,
        media,
        port,
        bind,
        cache,
        audit_key,
        exports,
        cameras,
        json,
    } = cmd;
    if !bind.is_loopback() {
        eprintln!(
            "obscura: WARNING: listening on {bind}, not on this machine only: anyone on the network who learns the URL can read the evidence it serves, over unencrypted HTTP"
        );
    }
    let config = obscura_console::ConsoleConfig {
        db,
        media,
        cache: cache.unwrap_or_else(|| obscura_core::home().join("console-cache")),
        audit_key,
        exports,
        cameras,
    };
    let addr = std::net::SocketAddr::new(bind, port);
    obscura_console::run(config, addr, interrupt().clone(), |console| {
        if json {
            println!("{}", serde_json::json!({ "url": console.url() }));
        } else {
            println!("Obscura console: open {}", console.url());
            println!("(the address holds this run's token; Ctrl-C stops the console)");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    Ok(ExitCode::SUCCESS)
}
