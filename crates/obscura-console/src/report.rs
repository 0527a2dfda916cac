//! The monthly report as a page: incidents and active minutes per camera,
//! town and desk, optionally with the month before beside them, as SVG
//! charts and tables. The figures are the core's
//! [`Store::report`](obscura_core::store::Store::report); this module only
//! lays them out. [`write_html`] writes the page as one self-contained file
//! (inline CSS and SVG, no script, no external request) that prints
//! cleanly to PDF.

use crate::error::ConsoleError;
use crate::svg::{bar_chart, Bar};
use obscura_core::output::PendingFile;
use obscura_core::store::{GroupBy, Month, ReportRow, Store};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One grouping of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Camera, town or desk.
    pub by: GroupBy,
    /// The core's rows, one per group.
    pub rows: Vec<ReportRow>,
    /// Incidents per group, SVG.
    pub incidents_chart: String,
    /// Active minutes per group, SVG.
    pub minutes_chart: String,
}

/// A month's report in every grouping.
#[derive(Debug, Clone, Serialize)]
pub struct MonthlyReport {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// The month compared with, when one is.
    pub compared_with: Option<String>,
    /// Incidents in the month.
    pub total_incidents: u64,
    /// Active minutes in the month.
    pub total_active_minutes: f64,
    /// Incidents with no wall-clock time (in no month).
    pub undated_incidents: u64,
    /// Per camera, per town, per desk.
    pub sections: Vec<Section>,
}

/// The report of `month` from `store`, against the month before when
/// `compare`.
///
/// # Errors
/// Any database error.
pub fn monthly(store: &Store, month: Month, compare: bool) -> Result<MonthlyReport, ConsoleError> {
    let mut sections = Vec::new();
    let mut totals = None;
    for by in [GroupBy::Camera, GroupBy::Town, GroupBy::Desk] {
        let r = store.report(month, by, compare)?;
        let label = |row: &ReportRow| match by {
            GroupBy::Camera => row.cameras.first().cloned().unwrap_or(row.group.clone()),
            _ => row.group.clone(),
        };
        let chart = |title: &str, value: &dyn Fn(&ReportRow) -> (f64, Option<f64>), d| {
            let bars: Vec<Bar> = r
                .rows
                .iter()
                .map(|row| {
                    let (v, p) = value(row);
                    Bar {
                        label: label(row),
                        value: v,
                        previous: p,
                    }
                })
                .collect();
            bar_chart(title, &bars, "", d)
        };
        let incidents_chart = chart(
            &format!("Incidents per {}", name(by)),
            &|row| {
                (
                    row.incidents as f64,
                    row.previous_incidents.map(|n| n as f64),
                )
            },
            0,
        );
        let minutes_chart = chart(
            &format!("Active minutes per {}", name(by)),
            &|row| (row.active_minutes, row.previous_active_minutes),
            1,
        );
        totals.get_or_insert((
            r.total_incidents,
            r.total_active_minutes,
            r.undated_incidents,
            r.compared_with.clone(),
        ));
        sections.push(Section {
            by,
            rows: r.rows,
            incidents_chart,
            minutes_chart,
        });
    }
    let (total_incidents, total_active_minutes, undated_incidents, compared_with) =
        totals.unwrap_or_default();
    Ok(MonthlyReport {
        month: month.to_string(),
        compared_with,
        total_incidents,
        total_active_minutes,
        undated_incidents,
        sections,
    })
}

fn name(by: GroupBy) -> &'static str {
    match by {
        GroupBy::Camera => "camera",
        GroupBy::Town => "town",
        GroupBy::Desk => "desk",
    }
}

/// The report as an HTML page: with the console's navigation, or
/// `standalone` (no links, nothing to fetch).
///
/// # Errors
/// [`ConsoleError::Template`] if the page cannot be rendered.
pub fn render(report: &MonthlyReport, db: &str, standalone: bool) -> Result<String, ConsoleError> {
    let generated = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    Ok(crate::templates::render(
        "report.html",
        minijinja::context! {
            title => format!("Monthly report {}", report.month),
            page => "report",
            standalone,
            db,
            r => report,
            generated_utc => generated,
            version => env!("CARGO_PKG_VERSION"),
        },
    )?)
}

/// Writes the report of `month` from the index `db` to `dest` as one
/// self-contained HTML file. Like every file Obscura writes, it appears
/// only when complete and never replaces an existing file or the index.
///
/// # Errors
/// `AlreadyExists` (as [`ConsoleError::Core`]) when `dest` exists; any
/// database or write error.
pub fn write_html(
    db: &Path,
    month: Month,
    compare: bool,
    dest: &Path,
) -> Result<PathBuf, ConsoleError> {
    let pending = PendingFile::new(dest, &[db])?;
    let store = Store::open_read_only(db)?;
    let report = monthly(&store, month, compare)?;
    let html = render(&report, &obscura_core::store::display_location(db), true)?;
    std::fs::write(pending.tmp_path(), html).map_err(|e| {
        obscura_core::Error::io(e, "cannot write the report").with_path(pending.dest())
    })?;
    Ok(pending.commit()?)
}
