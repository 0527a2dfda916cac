//! How results are shown: text for people, `--json` and `--csv` for
//! machines, and progress bars on long work.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use obscura_core::pipeline::Progress;
use obscura_core::store::{GroupBy, IncidentRow, Report};
use std::io::Write;

/// `text` with every control character (newline, carriage return, escape,
/// ...) written as a visible escape, for one-line human listings.
pub(crate) fn escape_controls(text: &str) -> String {
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

pub(crate) fn print_verify(report: &obscura_core::pipeline::export::VerifyReport) {
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
pub(crate) fn with_progress<T>(work: impl FnOnce(&mut dyn FnMut(Progress)) -> T) -> T {
    let bar = progress_bar();
    let mut on_progress = |p: Progress| {
        bar.set_length(p.total);
        bar.set_position(p.frames);
    };
    let out = work(&mut on_progress);
    bar.finish_and_clear();
    out
}

/// Runs `work` with a job that stops on Ctrl-C and drives a progress bar.
pub(crate) fn with_job<T>(work: impl FnOnce(&mut obscura_core::pipeline::Job<'_>) -> T) -> T {
    let bar = progress_bar();
    let mut job = obscura_core::pipeline::Job::new()
        .with_cancel(crate::args::interrupt().clone())
        .on_progress(|p| {
            bar.set_length(p.total);
            bar.set_position(p.frames);
        });
    let out = work(&mut job);
    drop(job);
    bar.finish_and_clear();
    out
}

pub(crate) fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// One CSV field, quoted when it needs to be.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub(crate) fn csv_line(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn print_incidents(rows: &[IncidentRow], json: bool, csv: bool) -> Result<()> {
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

pub(crate) fn print_report(report: &Report, json: bool, csv: bool) -> Result<()> {
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
