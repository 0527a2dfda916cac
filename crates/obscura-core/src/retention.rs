//! Retention and evidential holds.
//!
//! Recorded material is kept for a retention period (28 days under the
//! Code of Practice) and then removed, unless it is evidence.
//! [`Index::retention`] removes the index rows (and, on request, the
//! files) of recordings that *ended* before the cut-off; recordings under
//! an active hold, recordings still in the window and recordings with no
//! known wall-clock time are never touched. Every removal is an entry in
//! the audit trail, in the same transaction as the removal, so a purge
//! that is not logged does not happen. Running it again removes nothing
//! more: the result is the same.
//!
//! Holds ([`Index::place_hold`]) are kept by content hash under a
//! reference (an exhibit or case number), so re-indexing a held recording
//! keeps it held; they are released by reference, and both are logged.
//! A file is deleted only if it still has the content that was indexed: a
//! recorder that has since reused the name keeps its new file.

use crate::audit::{self, Action, NewEntry};
use crate::error::{Error, ErrorKind, Result};
use crate::index::{db_err, format_utc, Index};
use crate::sign::SecretKey;
use chrono::{DateTime, Utc};
use rusqlite::{params, TransactionBehavior};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A recording as the evidence functions see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingRef {
    /// File.
    pub path: String,
    /// Camera number.
    pub camera: u32,
    /// Content hash when indexed.
    pub sha256: String,
    /// Wall-clock start.
    pub start_utc: Option<String>,
    /// Wall-clock end.
    pub end_utc: Option<String>,
    /// Frames.
    pub frames: u64,
}

fn read_rec(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordingRef> {
    Ok(RecordingRef {
        path: r.get(0)?,
        camera: r.get(1)?,
        sha256: r.get(2)?,
        start_utc: r.get(3)?,
        end_utc: r.get(4)?,
        frames: r.get::<_, i64>(5)?.max(0) as u64,
    })
}

const REC_COLUMNS: &str = "path, camera, sha256, start_utc, end_utc, frames";

/// Recordings of `camera` with known times that overlap `[from, to)`,
/// in wall-clock order.
pub(crate) fn recordings_overlapping(
    conn: &rusqlite::Connection,
    db: &Path,
    camera: u32,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
) -> Result<Vec<RecordingRef>> {
    let e = |err| db_err(db, "cannot list recordings", err);
    let mut st = conn
        .prepare(&format!(
            "SELECT {REC_COLUMNS} FROM recordings
             WHERE camera = ?1 AND start_utc IS NOT NULL AND end_utc IS NOT NULL
               AND start_utc < ?3 AND end_utc > ?2
             ORDER BY start_utc, path"
        ))
        .map_err(e)?;
    let rows = st
        .query_map(params![camera, format_utc(from), format_utc(to)], read_rec)
        .map_err(e)?;
    rows.collect::<rusqlite::Result<_>>().map_err(e)
}

/// What a hold covers.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldTarget {
    /// One indexed recording, by its path.
    Recording(PathBuf),
    /// Every recording of a camera overlapping a time range.
    Range {
        /// Camera number.
        camera: u32,
        /// Start, UTC.
        from: DateTime<Utc>,
        /// End, UTC.
        to: DateTime<Utc>,
    },
}

/// One hold of one recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    /// Reference (exhibit, case).
    pub reference: String,
    /// The recording's content hash.
    pub recording_sha256: String,
    /// Its path when held.
    pub path: String,
    /// Camera.
    pub camera: u32,
    /// When placed, UTC.
    pub placed_utc: String,
    /// By whom.
    pub placed_by: String,
    /// Why.
    pub reason: String,
    /// When released (None while active).
    pub released_utc: Option<String>,
    /// By whom.
    pub released_by: Option<String>,
    /// Why.
    pub release_reason: Option<String>,
}

fn need(v: &str, what: &str) -> Result<()> {
    if v.trim().is_empty() {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{what} is required"),
        ))
    } else {
        Ok(())
    }
}

/// Holds `recs` under `reference` inside the caller's transaction, logging
/// each new hold. Recordings already held under the same reference are
/// left as they are.
pub(crate) fn hold_tx(
    tx: &rusqlite::Transaction<'_>,
    db: &Path,
    recs: &[RecordingRef],
    reference: &str,
    operator: &str,
    reason: &str,
) -> Result<Vec<Hold>> {
    let e = |err| db_err(db, "cannot place hold", err);
    let now = format_utc(&Utc::now());
    let mut placed = Vec::new();
    for r in recs {
        let n = tx
            .execute(
                "INSERT INTO holds (reference, recording_sha256, path, camera, placed_utc, placed_by, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (reference, recording_sha256) DO UPDATE SET
                    placed_utc = ?5, placed_by = ?6, reason = ?7,
                    released_utc = NULL, released_by = NULL, release_reason = NULL
                 WHERE released_utc IS NOT NULL",
                params![reference, r.sha256, r.path, r.camera, now, operator.trim(), reason.trim()],
            )
            .map_err(e)?;
        if n == 0 {
            continue;
        }
        audit::append_tx(
            tx,
            db,
            &NewEntry::new(operator, Action::Hold, &r.path, reason).with_details(
                serde_json::json!({
                    "reference": reference, "sha256": r.sha256, "camera": r.camera,
                    "start_utc": r.start_utc, "end_utc": r.end_utc,
                }),
            ),
        )?;
        placed.push(Hold {
            reference: reference.to_string(),
            recording_sha256: r.sha256.clone(),
            path: r.path.clone(),
            camera: r.camera,
            placed_utc: now.clone(),
            placed_by: operator.trim().to_string(),
            reason: reason.trim().to_string(),
            released_utc: None,
            released_by: None,
            release_reason: None,
        });
    }
    Ok(placed)
}

/// How to apply the retention policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionOptions {
    /// Days recordings are kept.
    pub days: u32,
    /// The time the window counts back from (normally now).
    pub now: DateTime<Utc>,
    /// Delete the recording files too (only if their content is still the
    /// one indexed).
    pub delete_files: bool,
    /// List what would go; change nothing.
    pub dry_run: bool,
    /// Who (logged).
    pub operator: String,
    /// Why (logged).
    pub reason: String,
}

impl RetentionOptions {
    /// A policy of `days` as of now.
    pub fn new(days: u32) -> Self {
        RetentionOptions {
            days,
            now: Utc::now(),
            delete_files: false,
            dry_run: false,
            operator: "obscura retention".into(),
            reason: format!("retention period of {days} days elapsed"),
        }
    }

    fn validate(&self) -> Result<()> {
        if !(1..=36_500).contains(&self.days) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid days {} (expected >= 1, <= 36500)", self.days),
            ));
        }
        need(&self.operator, "an operator (--operator NAME)")?;
        need(&self.reason, "a reason (--reason TEXT)")
    }
}

/// A recording removed (or that would be, in a dry run).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Purged {
    /// The recording.
    #[serde(flatten)]
    pub recording: RecordingRef,
    /// Incidents removed with it.
    pub incidents: u64,
    /// What happened to the file: `kept` (index rows only), `deleted`,
    /// `missing` (already gone), `changed` (its content is no longer the
    /// indexed recording: not deleted), or `would_delete` in a dry run.
    pub file: &'static str,
    /// Its audit entry (None in a dry run).
    pub audit_seq: Option<i64>,
}

/// What a retention run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionReport {
    /// Recordings that ended before this are out of the window.
    pub cutoff_utc: String,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Removed (or would be).
    pub purged: Vec<Purged>,
    /// Out of the window but held: kept.
    pub held: Vec<RecordingRef>,
    /// With no known wall-clock time: kept (their age is unknown).
    pub undated: Vec<RecordingRef>,
    /// Recordings still in the window.
    pub in_window: u64,
}

impl Index {
    /// Places a hold on the recordings `target` names, under `reference`,
    /// logged in the audit trail (and the head signed, with `key`).
    /// Returns the holds newly placed.
    ///
    /// # Errors
    /// `InvalidArgument` for a missing reference, operator or reason;
    /// `NotFound` when no indexed recording matches; `Database` on SQLite
    /// failures.
    pub fn place_hold(
        &mut self,
        target: &HoldTarget,
        reference: &str,
        operator: &str,
        reason: &str,
        key: Option<&SecretKey>,
    ) -> Result<Vec<Hold>> {
        need(reference, "a reference (--reference REF)")?;
        need(operator, "an operator (--operator NAME)")?;
        need(reason, "a reason (--reason TEXT)")?;
        let path = self.path().to_path_buf();
        let recs = match target {
            HoldTarget::Recording(p) => {
                let full = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                let e = |err| db_err(&path, "cannot find recording", err);
                let mut st = self
                    .conn()
                    .prepare(&format!(
                        "SELECT {REC_COLUMNS} FROM recordings WHERE path = ?1 OR path = ?2"
                    ))
                    .map_err(e)?;
                let rows = st
                    .query_map(
                        params![full.to_string_lossy(), p.to_string_lossy()],
                        read_rec,
                    )
                    .map_err(e)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(e)?
            }
            HoldTarget::Range { camera, from, to } => {
                recordings_overlapping(self.conn(), &path, *camera, from, to)?
            }
        };
        if recs.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                "no indexed recording matches the hold (index it first)",
            )
            .with_path(&path));
        }
        let tx = self
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, "cannot lock index", e))?;
        let placed = hold_tx(&tx, &path, &recs, reference.trim(), operator, reason)?;
        if let Some(k) = key {
            audit::sign_head_tx(&tx, &path, k)?;
        }
        tx.commit()
            .map_err(|e| db_err(&path, "cannot commit hold", e))?;
        Ok(placed)
    }

    /// Releases every active hold under `reference`, logged.
    ///
    /// # Errors
    /// `NotFound` when no active hold has that reference; otherwise as
    /// [`Index::place_hold`].
    pub fn release_hold(
        &mut self,
        reference: &str,
        operator: &str,
        reason: &str,
        key: Option<&SecretKey>,
    ) -> Result<Vec<Hold>> {
        need(reference, "a reference (--reference REF)")?;
        need(operator, "an operator (--operator NAME)")?;
        need(reason, "a reason (--reason TEXT)")?;
        let active: Vec<Hold> = self
            .holds(true)?
            .into_iter()
            .filter(|h| h.reference == reference.trim())
            .collect();
        if active.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no active hold with reference {reference:?}"),
            )
            .with_path(self.path()));
        }
        let path = self.path().to_path_buf();
        let e = |err| db_err(&path, "cannot release hold", err);
        let tx = self
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let now = format_utc(&Utc::now());
        let mut out = Vec::new();
        for mut h in active {
            tx.execute(
                "UPDATE holds SET released_utc = ?1, released_by = ?2, release_reason = ?3
                 WHERE reference = ?4 AND recording_sha256 = ?5 AND released_utc IS NULL",
                params![
                    now,
                    operator.trim(),
                    reason.trim(),
                    h.reference,
                    h.recording_sha256
                ],
            )
            .map_err(e)?;
            audit::append_tx(
                &tx,
                &path,
                &NewEntry::new(operator, Action::HoldRelease, &h.path, reason).with_details(
                    serde_json::json!({"reference": h.reference, "sha256": h.recording_sha256}),
                ),
            )?;
            h.released_utc = Some(now.clone());
            h.released_by = Some(operator.trim().to_string());
            h.release_reason = Some(reason.trim().to_string());
            out.push(h);
        }
        if let Some(k) = key {
            audit::sign_head_tx(&tx, &path, k)?;
        }
        tx.commit().map_err(e)?;
        Ok(out)
    }

    /// Holds, all or only the active ones, oldest first.
    ///
    /// # Errors
    /// `Database` on SQLite failures.
    pub fn holds(&self, active_only: bool) -> Result<Vec<Hold>> {
        let e = |err| db_err(self.path(), "cannot list holds", err);
        let mut st = self
            .conn()
            .prepare(
                "SELECT reference, recording_sha256, path, camera, placed_utc, placed_by, reason,
                        released_utc, released_by, release_reason
                 FROM holds WHERE (?1 = 0 OR released_utc IS NULL) ORDER BY id",
            )
            .map_err(e)?;
        let rows = st
            .query_map([i64::from(active_only)], |r| {
                Ok(Hold {
                    reference: r.get(0)?,
                    recording_sha256: r.get(1)?,
                    path: r.get(2)?,
                    camera: r.get(3)?,
                    placed_utc: r.get(4)?,
                    placed_by: r.get(5)?,
                    reason: r.get(6)?,
                    released_utc: r.get(7)?,
                    released_by: r.get(8)?,
                    release_reason: r.get(9)?,
                })
            })
            .map_err(e)?;
        rows.collect::<rusqlite::Result<_>>().map_err(e)
    }

    /// Applies the retention policy: removes the index rows (and with
    /// `delete_files` the files) of recordings that ended before
    /// `now - days`, except held ones, each removal logged in the same
    /// transaction; with `dry_run`, only lists them.
    ///
    /// # Errors
    /// `InvalidArgument` for an invalid policy; `Database` on SQLite
    /// failures (nothing is removed from the index then).
    pub fn retention(
        &mut self,
        opts: &RetentionOptions,
        key: Option<&SecretKey>,
    ) -> Result<RetentionReport> {
        opts.validate()?;
        let path = self.path().to_path_buf();
        let cutoff = format_utc(&(opts.now - chrono::Duration::days(i64::from(opts.days))));
        let e = |err| db_err(&path, "cannot apply retention", err);
        let tx = self
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let all: Vec<(RecordingRef, bool, i64)> = {
            let mut st = tx
                .prepare(&format!(
                    "SELECT {REC_COLUMNS},
                        EXISTS (SELECT 1 FROM holds h WHERE h.recording_sha256 = recordings.sha256
                                AND h.released_utc IS NULL),
                        (SELECT count(*) FROM incidents i WHERE i.recording = recordings.id)
                     FROM recordings ORDER BY camera, start_utc, path"
                ))
                .map_err(e)?;
            let rows = st
                .query_map([], |r| Ok((read_rec(r)?, r.get(6)?, r.get(7)?)))
                .map_err(e)?;
            rows.collect::<rusqlite::Result<_>>().map_err(e)?
        };
        let mut report = RetentionReport {
            cutoff_utc: cutoff.clone(),
            dry_run: opts.dry_run,
            purged: Vec::new(),
            held: Vec::new(),
            undated: Vec::new(),
            in_window: 0,
        };
        for (rec, held, incidents) in all {
            let Some(end) = rec.end_utc.clone() else {
                report.undated.push(rec);
                continue;
            };
            if end >= cutoff {
                report.in_window += 1;
                continue;
            }
            if held {
                report.held.push(rec);
                continue;
            }
            let file = if opts.dry_run {
                if opts.delete_files {
                    "would_delete"
                } else {
                    "kept"
                }
            } else if opts.delete_files {
                delete_if_unchanged(Path::new(&rec.path), &rec.sha256)?
            } else {
                "kept"
            };
            let audit_seq = if opts.dry_run {
                None
            } else {
                tx.execute(
                    "DELETE FROM incidents WHERE recording IN (SELECT id FROM recordings WHERE sha256 = ?1)",
                    [&rec.sha256],
                )
                .map_err(e)?;
                tx.execute("DELETE FROM recordings WHERE sha256 = ?1", [&rec.sha256])
                    .map_err(e)?;
                let entry = NewEntry::new(
                    &opts.operator,
                    Action::RetentionPurge,
                    &rec.path,
                    &opts.reason,
                )
                .with_details(serde_json::json!({
                    "sha256": rec.sha256, "camera": rec.camera, "start_utc": rec.start_utc,
                    "end_utc": rec.end_utc, "incidents": incidents, "file": file,
                    "days": opts.days, "cutoff_utc": cutoff,
                }));
                Some(audit::append_tx(&tx, &path, &entry)?.seq)
            };
            report.purged.push(Purged {
                recording: rec,
                incidents: incidents.max(0) as u64,
                file,
                audit_seq,
            });
        }
        if !opts.dry_run {
            if let (Some(k), false) = (key, report.purged.is_empty()) {
                audit::sign_head_tx(&tx, &path, k)?;
            }
            tx.commit().map_err(e)?;
        }
        Ok(report)
    }
}

/// Deletes `path` if it still has content `sha256`.
fn delete_if_unchanged(path: &Path, sha256: &str) -> Result<&'static str> {
    match crate::hash::file_sha256(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok("missing"),
        Err(e) => Err(Error::io(e, "cannot check recording before deleting it").with_path(path)),
        Ok(h) if h != sha256 => Ok("changed"),
        Ok(_) => {
            std::fs::remove_file(path)
                .map_err(|e| Error::io(e, "cannot delete recording").with_path(path))?;
            Ok("deleted")
        }
    }
}
