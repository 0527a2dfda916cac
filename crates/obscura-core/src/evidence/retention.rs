//! Retention and evidential holds.
//!
//! Recorded material is kept for a retention period (28 days under the
//! Code of Practice) and then removed, unless it is evidence.
//! [`Store::retention`] removes the index rows (and, on request, the
//! files) of recordings that *ended* before the cut-off; recordings under
//! an active hold, recordings still in the window and recordings with no
//! known wall-clock time are never touched. Every removal is an entry in
//! the audit trail, in the same transaction as the removal, so a purge
//! that is not logged does not happen; a file deletion is logged as
//! intended (and committed) before the file is touched, then recorded, so
//! a crash never leaves a deleted file the trail does not know about.
//! Running it again removes nothing more: the result is the same.
//!
//! Holds ([`Store::place_hold`]) are kept by content hash under a
//! reference (an exhibit or case number), so re-indexing a held recording
//! keeps it held; they are released by reference, and both are logged.
//! A file is deleted only if it still has the content that was indexed: a
//! recorder that has since reused the name keeps its new file.

use crate::clock::format_utc;
use crate::error::{Error, ErrorKind, Result};
use crate::evidence::audit::{self, Action, NewEntry};
use crate::evidence::sign::SecretKey;
use crate::store::db::{args, Conn, DbResult, Row, Tx};
use crate::store::{db_err, Store};
use chrono::{DateTime, Utc};
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

fn read_rec(r: &Row) -> DbResult<RecordingRef> {
    Ok(RecordingRef {
        path: r.get(0)?,
        camera: r.get(1)?,
        sha256: r.get(2)?,
        start_utc: r.get(3)?,
        end_utc: r.get(4)?,
        frames: r.get::<i64>(5)?.max(0) as u64,
    })
}

const REC_COLUMNS: &str = "path, camera, sha256, start_utc, end_utc, frames";

/// Recordings of `camera` with known times that overlap `[from, to)`,
/// in wall-clock order.
pub(crate) fn recordings_overlapping(
    conn: &Conn,
    db: &Path,
    camera: u32,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
) -> Result<Vec<RecordingRef>> {
    let e = |err| db_err(db, "cannot list recordings", err);
    conn.query_map(
        &format!(
            "SELECT {REC_COLUMNS} FROM recordings
             WHERE camera = ?1 AND start_utc IS NOT NULL AND end_utc IS NOT NULL
               AND start_utc < ?3 AND end_utc > ?2
             ORDER BY start_utc, path"
        ),
        args![camera, format_utc(from), format_utc(to)],
        read_rec,
    )
    .map_err(e)
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
    tx: &Tx<'_>,
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
                 WHERE holds.released_utc IS NOT NULL",
                args![reference, r.sha256, r.path, r.camera, now, operator.trim(), reason.trim()],
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
        need(&self.operator, "an operator (operator)")?;
        need(&self.reason, "a reason (reason)")
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
    /// The `retention_intent` entry committed before the file was
    /// deleted (None when no file was deleted).
    pub intent_seq: Option<i64>,
}

/// A recording the policy could not act on (its index rows and file are
/// left as they were, or as the trail says).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionFault {
    /// The recording's file.
    pub path: String,
    /// Its content hash when indexed.
    pub sha256: String,
    /// What is wrong, in words.
    pub message: String,
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
    /// Recordings that could not be handled (not a regular file, a
    /// deletion that failed): each named, the others done.
    pub faults: Vec<RetentionFault>,
}

impl Store {
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
        need(reference, "a reference (reference)")?;
        need(operator, "an operator (operator)")?;
        need(reason, "a reason (reason)")?;
        let path = self.path().to_path_buf();
        let recs = match target {
            HoldTarget::Recording(p) => {
                let full = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                let e = |err| db_err(&path, "cannot find recording", err);
                self.conn()
                    .query_map(
                        &format!(
                            "SELECT {REC_COLUMNS} FROM recordings WHERE path = ?1 OR path = ?2"
                        ),
                        args![full.to_string_lossy(), p.to_string_lossy()],
                        read_rec,
                    )
                    .map_err(e)?
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
            .write()
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
    /// [`Store::place_hold`].
    pub fn release_hold(
        &mut self,
        reference: &str,
        operator: &str,
        reason: &str,
        key: Option<&SecretKey>,
    ) -> Result<Vec<Hold>> {
        need(reference, "a reference (reference)")?;
        need(operator, "an operator (operator)")?;
        need(reason, "a reason (reason)")?;
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
        let tx = self.conn_mut().write().map_err(e)?;
        let now = format_utc(&Utc::now());
        let mut out = Vec::new();
        for mut h in active {
            tx.execute(
                "UPDATE holds SET released_utc = ?1, released_by = ?2, release_reason = ?3
                 WHERE reference = ?4 AND recording_sha256 = ?5 AND released_utc IS NULL",
                args![
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
        self.conn()
            .query_map(
                "SELECT reference, recording_sha256, path, camera, placed_utc, placed_by, reason,
                        released_utc, released_by, release_reason
                 FROM holds WHERE (?1 = 0 OR released_utc IS NULL) ORDER BY id",
                args![i64::from(active_only)],
                |r| {
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
                },
            )
            .map_err(e)
    }

    /// Applies the retention policy: removes the index rows (and with
    /// `delete_files` the files) of recordings that ended before
    /// `now - days`, except held ones; with `dry_run`, only lists them,
    /// applying the same checks to the files (so a file the real run would
    /// keep is not listed as one it would delete).
    ///
    /// Without `delete_files` all removals are one transaction, each logged
    /// in it. With `delete_files` every file is two-phase: a
    /// `retention_intent` entry is committed before the file is touched,
    /// then the file is deleted, then its index rows are removed and a
    /// `retention_purge` entry records the outcome, in a commit of its own.
    /// A crash at any point leaves the trail and the index true: an intent
    /// not yet completed is completed by the next run (the file gone), or
    /// retried (the file still there). Anything that is not a regular file
    /// (a directory, a FIFO, a symbolic link) is never opened or deleted:
    /// it is a fault of that recording, listed in the report, and the
    /// others go on.
    ///
    /// # Errors
    /// `InvalidArgument` for an invalid policy; `Database` on SQLite
    /// failures (what was committed before stays committed and logged).
    pub fn retention(
        &mut self,
        opts: &RetentionOptions,
        key: Option<&SecretKey>,
    ) -> Result<RetentionReport> {
        opts.validate()?;
        let cutoff = format_utc(&(opts.now - chrono::Duration::days(i64::from(opts.days))));
        let (mut report, due) = self.due_for_retention(opts, &cutoff)?;
        let pending = self.pending_deletions()?;
        if opts.dry_run {
            dry_run(opts, &pending, due, &mut report);
            return Ok(report);
        }
        let completed = self.complete_pending(opts, &cutoff, &pending, &mut report)?;
        // Intents of an earlier run were completed above, not again here.
        let due: Vec<_> = due
            .into_iter()
            .filter(|(rec, _)| !pending.iter().any(|p| p.sha256 == rec.sha256))
            .collect();
        if !opts.delete_files {
            self.purge_rows(opts, &cutoff, due, completed, key, &mut report)?;
            return Ok(report);
        }
        let purged = self.purge_files(opts, &cutoff, due, &mut report)?;
        if let (Some(k), true) = (key, completed || purged) {
            self.sign_audit_head(k)?;
        }
        Ok(report)
    }

    /// Sorts every recording: in the window, undated, held, or due (with
    /// its incident count). The report starts with all but the due ones.
    fn due_for_retention(
        &self,
        opts: &RetentionOptions,
        cutoff: &str,
    ) -> Result<(RetentionReport, Vec<(RecordingRef, i64)>)> {
        let e = |err| db_err(self.path(), "cannot apply retention", err);
        let all: Vec<(RecordingRef, bool, i64)> = {
            self.conn()
                .query_map(
                    &format!(
                        "SELECT {REC_COLUMNS},
                        EXISTS (SELECT 1 FROM holds h WHERE h.recording_sha256 = recordings.sha256
                                AND h.released_utc IS NULL),
                        (SELECT count(*) FROM incidents i WHERE i.recording = recordings.id)
                     FROM recordings ORDER BY camera, start_utc, path"
                    ),
                    &[],
                    |r| Ok((read_rec(r)?, r.get(6)?, r.get(7)?)),
                )
                .map_err(e)?
        };
        let mut report = RetentionReport {
            cutoff_utc: cutoff.to_string(),
            dry_run: opts.dry_run,
            purged: Vec::new(),
            held: Vec::new(),
            undated: Vec::new(),
            in_window: 0,
            faults: Vec::new(),
        };
        let mut due = Vec::new();
        for (rec, held, incidents) in all {
            match rec.end_utc.as_deref() {
                None => report.undated.push(rec),
                Some(end) if end >= cutoff => report.in_window += 1,
                Some(_) if held => report.held.push(rec),
                Some(_) => due.push((rec, incidents)),
            }
        }
        Ok((report, due))
    }

    /// Completes the deletions an earlier run logged and did not finish.
    /// Returns whether anything was logged.
    fn complete_pending(
        &mut self,
        opts: &RetentionOptions,
        cutoff: &str,
        pending: &[PendingDeletion],
        report: &mut RetentionReport,
    ) -> Result<bool> {
        let mut logged = false;
        for p in pending {
            let rec = self.recording_by_sha(&p.sha256)?.unwrap_or(RecordingRef {
                path: p.path.clone(),
                camera: 0,
                sha256: p.sha256.clone(),
                start_utc: None,
                end_utc: None,
                frames: 0,
            });
            if self.is_held(&p.sha256)? {
                report.faults.push(fault(
                    &rec,
                    format!(
                        "held since an earlier run logged its deletion (audit entry {}): not deleted",
                        p.intent_seq
                    ),
                ));
                continue;
            }
            match delete_if_unchanged(Path::new(&p.path), &p.sha256) {
                Ok(file) => {
                    let incidents = self.incident_count(&p.sha256)?;
                    let seq =
                        self.complete_purge(opts, cutoff, &rec, incidents, file, Some(p.intent_seq))?;
                    logged = true;
                    report.purged.push(Purged {
                        recording: rec,
                        incidents,
                        file,
                        audit_seq: Some(seq),
                        intent_seq: Some(p.intent_seq),
                    });
                }
                Err(msg) => report.faults.push(fault(
                    &rec,
                    format!(
                        "an earlier run logged its deletion (audit entry {}) but it is still here: {msg}",
                        p.intent_seq
                    ),
                )),
            }
        }
        Ok(logged)
    }

    /// Without file deletion: every due recording's rows go in one
    /// transaction, each logged in it, the head signed in it when a key is
    /// given and anything was logged.
    fn purge_rows(
        &mut self,
        opts: &RetentionOptions,
        cutoff: &str,
        due: Vec<(RecordingRef, i64)>,
        mut logged: bool,
        key: Option<&SecretKey>,
        report: &mut RetentionReport,
    ) -> Result<()> {
        let path = self.path().to_path_buf();
        let e = |err| db_err(&path, "cannot apply retention", err);
        let tx = self.conn_mut().write().map_err(e)?;
        for (rec, incidents) in due {
            let seq = purge_tx(&tx, &path, opts, cutoff, &rec, incidents, "kept", None)?;
            logged = true;
            report.purged.push(Purged {
                recording: rec,
                incidents: incidents.max(0) as u64,
                file: "kept",
                audit_seq: Some(seq),
                intent_seq: None,
            });
        }
        if let (Some(k), true) = (key, logged) {
            audit::sign_head_tx(&tx, &path, k)?;
        }
        tx.commit().map_err(e)
    }

    /// With file deletion, two-phase per file: the intent is committed,
    /// the file deleted, then the rows removed and the outcome logged.
    /// Returns whether anything was logged.
    fn purge_files(
        &mut self,
        opts: &RetentionOptions,
        cutoff: &str,
        due: Vec<(RecordingRef, i64)>,
        report: &mut RetentionReport,
    ) -> Result<bool> {
        let mut logged = false;
        for (rec, incidents) in due {
            let file_path = PathBuf::from(&rec.path);
            let (intent, outcome) = match check_file(&file_path, &rec.sha256) {
                Err(msg) => {
                    report.faults.push(fault(&rec, msg));
                    continue;
                }
                // Nothing to delete: one commit records it.
                Ok(FileState::Missing) => (None, Ok("missing")),
                Ok(FileState::Changed) => (None, Ok("changed")),
                // No file is deleted before its intent is committed.
                Ok(FileState::Unchanged) => {
                    let seq = self.log_intent(opts, cutoff, &rec)?;
                    (Some(seq), delete_if_unchanged(&file_path, &rec.sha256))
                }
            };
            logged = true;
            let file = match outcome {
                Ok(f) => f,
                Err(msg) => {
                    report.faults.push(fault(
                        &rec,
                        match intent {
                            Some(seq) => format!(
                                "{msg} (its deletion is logged as intended, audit entry {seq}: the next run retries it)"
                            ),
                            None => msg,
                        },
                    ));
                    continue;
                }
            };
            let seq =
                self.complete_purge(opts, cutoff, &rec, incidents.max(0) as u64, file, intent)?;
            report.purged.push(Purged {
                recording: rec,
                incidents: incidents.max(0) as u64,
                file,
                audit_seq: Some(seq),
                intent_seq: intent,
            });
        }
        Ok(logged)
    }

    fn pending_deletions(&self) -> Result<Vec<PendingDeletion>> {
        let e = |err| db_err(self.path(), "cannot read pending deletions", err);
        self.conn()
            .query_map(
                "SELECT sha256, path, intent_seq FROM retention_pending ORDER BY intent_seq",
                &[],
                |r| {
                    Ok(PendingDeletion {
                        sha256: r.get(0)?,
                        path: r.get(1)?,
                        intent_seq: r.get(2)?,
                    })
                },
            )
            .map_err(e)
    }

    fn recording_by_sha(&self, sha: &str) -> Result<Option<RecordingRef>> {
        self.conn()
            .query_opt(
                &format!("SELECT {REC_COLUMNS} FROM recordings WHERE sha256 = ?1"),
                args![sha],
                read_rec,
            )
            .map_err(|err| db_err(self.path(), "cannot read recording", err))
    }

    fn is_held(&self, sha: &str) -> Result<bool> {
        self.conn()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM holds WHERE recording_sha256 = ?1 AND released_utc IS NULL)",
                args![sha],
                |r| r.get(0),
            )
            .map_err(|err| db_err(self.path(), "cannot read holds", err))
    }

    fn incident_count(&self, sha: &str) -> Result<u64> {
        self.conn()
            .query_one(
                "SELECT count(*) FROM incidents WHERE recording IN (SELECT id FROM recordings WHERE sha256 = ?1)",
                args![sha],
                |r| r.get::<i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(|err| db_err(self.path(), "cannot count incidents", err))
    }

    /// Commits the intent to delete `rec`'s file: the audit entry and the
    /// pending row. Returns the entry's sequence number.
    fn log_intent(
        &mut self,
        opts: &RetentionOptions,
        cutoff: &str,
        rec: &RecordingRef,
    ) -> Result<i64> {
        let path = self.path().to_path_buf();
        let e = |err| db_err(&path, "cannot log the deletion intended", err);
        let tx = self.conn_mut().write().map_err(e)?;
        let entry = NewEntry::new(
            &opts.operator,
            Action::RetentionIntent,
            &rec.path,
            &opts.reason,
        )
        .with_details(serde_json::json!({
            "sha256": rec.sha256, "camera": rec.camera, "start_utc": rec.start_utc,
            "end_utc": rec.end_utc, "file": "deletion intended",
            "days": opts.days, "cutoff_utc": cutoff,
        }));
        let seq = audit::append_tx(&tx, &path, &entry)?.seq;
        tx.execute(
            "INSERT INTO retention_pending (sha256, path, intent_seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (sha256) DO UPDATE SET path = ?2, intent_seq = ?3",
            args![rec.sha256, rec.path, seq],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(seq)
    }

    /// Removes `rec`'s index rows and its pending intent and logs the
    /// outcome `file`, in one commit. Returns the entry's sequence number.
    fn complete_purge(
        &mut self,
        opts: &RetentionOptions,
        cutoff: &str,
        rec: &RecordingRef,
        incidents: u64,
        file: &'static str,
        intent_seq: Option<i64>,
    ) -> Result<i64> {
        let path = self.path().to_path_buf();
        let e = |err| db_err(&path, "cannot record the deletion", err);
        let tx = self.conn_mut().write().map_err(e)?;
        let seq = purge_tx(
            &tx,
            &path,
            opts,
            cutoff,
            rec,
            i64::try_from(incidents).unwrap_or(i64::MAX),
            file,
            intent_seq,
        )?;
        tx.commit().map_err(e)?;
        Ok(seq)
    }
}

/// An intent to delete a file, committed and not yet completed.
#[derive(Debug, Clone)]
struct PendingDeletion {
    sha256: String,
    path: String,
    intent_seq: i64,
}

/// Removes `rec`'s rows (and any pending intent) and logs the purge,
/// inside the caller's transaction.
#[allow(clippy::too_many_arguments)]
fn purge_tx(
    tx: &Tx<'_>,
    db: &Path,
    opts: &RetentionOptions,
    cutoff: &str,
    rec: &RecordingRef,
    incidents: i64,
    file: &'static str,
    intent_seq: Option<i64>,
) -> Result<i64> {
    let e = |err| db_err(db, "cannot apply retention", err);
    tx.execute(
        "DELETE FROM incidents WHERE recording IN (SELECT id FROM recordings WHERE sha256 = ?1)",
        args![rec.sha256],
    )
    .map_err(e)?;
    tx.execute(
        "DELETE FROM recordings WHERE sha256 = ?1",
        args![rec.sha256],
    )
    .map_err(e)?;
    tx.execute(
        "DELETE FROM retention_pending WHERE sha256 = ?1",
        args![rec.sha256],
    )
    .map_err(e)?;
    let mut details = serde_json::json!({
        "sha256": rec.sha256, "camera": rec.camera, "start_utc": rec.start_utc,
        "end_utc": rec.end_utc, "incidents": incidents, "file": file,
        "days": opts.days, "cutoff_utc": cutoff,
    });
    if let (Some(seq), Some(obj)) = (intent_seq, details.as_object_mut()) {
        obj.insert("intent_seq".into(), seq.into());
    }
    let entry = NewEntry::new(
        &opts.operator,
        Action::RetentionPurge,
        &rec.path,
        &opts.reason,
    )
    .with_details(details);
    Ok(audit::append_tx(tx, db, &entry)?.seq)
}

/// What is at a recording's path.
enum FileState {
    Missing,
    Changed,
    Unchanged,
}

/// Checks the recording at `path` without ever opening anything but a
/// regular file. `Err` is a per-recording fault, in words.
fn check_file(path: &Path, sha256: &str) -> std::result::Result<FileState, String> {
    use crate::hash::{FileKind, OpenRegularError};
    match crate::hash::regular_file_sha256(path) {
        Err(OpenRegularError::Kind(FileKind::Missing)) => Ok(FileState::Missing),
        Err(e) => Err(format!("{}: {}", path.display(), e.describe())),
        Ok(h) if h != sha256 => Ok(FileState::Changed),
        Ok(_) => Ok(FileState::Unchanged),
    }
}

/// Deletes `path` if it is still a regular file with content `sha256`:
/// `deleted`, `missing` (already gone) or `changed` (kept); `Err` is a
/// fault in words (not a regular file, cannot be read or removed).
fn delete_if_unchanged(path: &Path, sha256: &str) -> std::result::Result<&'static str, String> {
    match check_file(path, sha256)? {
        FileState::Missing => Ok("missing"),
        FileState::Changed => Ok("changed"),
        FileState::Unchanged => {
            std::fs::remove_file(path)
                .map_err(|e| format!("{}: cannot delete: {e}", path.display()))?;
            Ok("deleted")
        }
    }
}

/// A recording retention could not deal with, and why.
fn fault(rec: &RecordingRef, message: String) -> RetentionFault {
    RetentionFault {
        path: rec.path.clone(),
        sha256: rec.sha256.clone(),
        message,
    }
}

/// What a run would do, with the same checks of the files, changing
/// nothing.
fn dry_run(
    opts: &RetentionOptions,
    pending: &[PendingDeletion],
    due: Vec<(RecordingRef, i64)>,
    report: &mut RetentionReport,
) {
    for p in pending {
        report.faults.push(RetentionFault {
            path: p.path.clone(),
            sha256: p.sha256.clone(),
            message: format!(
                "an earlier run logged its deletion (audit entry {}) but did not complete it: the next run completes it",
                p.intent_seq
            ),
        });
    }
    for (rec, incidents) in due {
        let file = if opts.delete_files {
            match check_file(Path::new(&rec.path), &rec.sha256) {
                Ok(FileState::Missing) => "missing",
                Ok(FileState::Changed) => "changed",
                Ok(FileState::Unchanged) => "would_delete",
                Err(msg) => {
                    report.faults.push(fault(&rec, msg));
                    continue;
                }
            }
        } else {
            "kept"
        };
        report.purged.push(Purged {
            recording: rec,
            incidents: incidents.max(0) as u64,
            file,
            audit_seq: None,
            intent_seq: None,
        });
    }
}
