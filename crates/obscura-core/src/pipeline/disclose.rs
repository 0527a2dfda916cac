//! Logging what leaves: a finished redaction (with any masks it lifted)
//! and the disclosure of a redacted output or an exhibit, each checked
//! against the files' recorded hashes and appended to the audit trail in
//! one transaction.

use crate::error::{Error, ErrorKind, Result};
use crate::evidence::audit::{Action, Entry, NewEntry};
use crate::evidence::sign::SecretKey;
use crate::store::Store;
use std::path::{Path, PathBuf};

/// Logs a finished redaction: one `redaction` entry with the hash of its
/// record (written at `record_path`) and the input and output hashes, and
/// one `mask_lifted` entry per lifted mask with its authorisation, all in
/// one transaction (the head signed with `key`).
///
/// # Errors
/// `Io` if the record cannot be hashed; `Database` on SQLite failures.
pub fn log_redaction(
    index: &mut Store,
    record: &crate::pipeline::redact::RedactionRecord,
    record_path: &Path,
    key: Option<&SecretKey>,
) -> Result<Vec<Entry>> {
    let record_sha = crate::hash::file_sha256(record_path)
        .map_err(|e| Error::io(e, "cannot hash record").with_path(record_path))?;
    index.append_audit_all(&redaction_entries(record, record_path, &record_sha), key)
}

/// Logs a finished redaction, as [`log_redaction`] does, *before* its
/// output and record take their names, so that neither is ever there
/// unlogged: under the trail's write lock the entries are written and
/// both files moved to their staged names
/// ([`staged_path`](crate::output::staged_path)); the commit follows, and
/// only then are they renamed into place. A kill before the commit leaves
/// staged files that are not logged; one after it, logged staged files;
/// [`settle_redaction`], run by the next redaction to that output with this
/// trail, removes the first and places the second.
///
/// # Errors
/// As [`log_redaction`]; if the files cannot be renamed into place once
/// logged, an error that says where they wait.
pub(crate) fn log_and_place(
    index: &mut Store,
    record: &crate::pipeline::redact::RedactionRecord,
    finished: crate::pipeline::redact::Finished,
    key: Option<&SecretKey>,
) -> Result<Vec<Entry>> {
    let record_path = finished.record.dest().to_path_buf();
    let record_sha = crate::hash::file_sha256(finished.record.tmp_path())
        .map_err(|e| Error::io(e, "cannot hash record").with_path(&record_path))?;
    let entries = redaction_entries(record, &record_path, &record_sha);
    let mut staged = None;
    let logged = index.append_audit_all_then(&entries, key, || {
        let output = finished.output.stage()?;
        match finished.record.stage() {
            Ok(record) => {
                staged = Some((output, record));
                Ok(())
            }
            Err(e) => {
                output.discard();
                Err(e)
            }
        }
    });
    let (logged, (output, record)) = match (logged, staged) {
        (Ok(l), Some(s)) => (l, s),
        (result, staged) => {
            // Not logged: not kept either.
            if let Some((o, r)) = staged {
                o.discard();
                r.discard();
            }
            return Err(result.err().unwrap_or_else(|| {
                Error::new(ErrorKind::Io, "the redaction's files were not staged")
            }));
        }
    };
    let waiting = format!(
        "{} and {}",
        output.path().display(),
        record.path().display()
    );
    let seq = logged.first().map_or(0, |e| e.seq);
    output
        .place()
        .and_then(|_| record.place())
        .map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "the redaction is logged (audit entry {seq}) and complete in {waiting}, but {}; redact to the same output again with this index to put it in place",
                    e.message()
                ),
            )
        })?;
    Ok(logged)
}

/// Settles what a redaction into `output`, killed between logging and
/// placing its files ([`log_and_place`]), left staged beside it, under the
/// write lock of `index`'s trail: if the output and record (staged, or
/// already in place) are those a logged redaction entry names, the staged
/// ones are put in place and that entry's number returned; otherwise they
/// were never logged, and are removed.
///
/// # Errors
/// `Io` if a staged file cannot be read, placed or removed; `Database` on
/// database failures.
pub(crate) fn settle_redaction(index: &mut Store, output: &Path) -> Result<Option<i64>> {
    use crate::output::staged_path;
    let record = crate::pipeline::redact::record_path(output);
    // Each file staged under the name that says whether it may replace
    // what is at its name (a run asked to replace), or not.
    let staged = |dest: &Path| {
        [true, false]
            .into_iter()
            .map(|replace| (staged_path(dest, replace), replace))
            .find(|(s, _)| s.is_file())
    };
    let pairs: Vec<_> = [output.to_path_buf(), record]
        .into_iter()
        .map(|dest| (staged(&dest), dest))
        .collect();
    if pairs.iter().all(|(s, _)| s.is_none()) {
        return Ok(None);
    }
    let db = index.path().to_path_buf();
    let tx = index
        .conn_mut()
        .write()
        .map_err(|e| crate::store::db_err(&db, "cannot lock the audit trail", e))?;
    let hash = |(staged, dest): &(Option<(PathBuf, bool)>, PathBuf)| {
        let at = staged.as_ref().map_or(dest, |(s, _)| s);
        crate::hash::regular_sha256(at).ok()
    };
    let seq = match (hash(&pairs[0]), hash(&pairs[1])) {
        (Some(o), Some(r)) => redaction_entry_with(&tx, &db, &o, &r)?,
        _ => None,
    };
    for (staged, dest) in &pairs {
        let Some((staged, replace)) = staged else {
            continue;
        };
        if seq.is_some() {
            // Over a file already there only if the run was asked to.
            crate::output::move_into_place(staged, dest, *replace)?;
        } else {
            std::fs::remove_file(staged).map_err(|e| {
                Error::io(e, "cannot remove a redaction's file that was never logged")
                    .with_path(staged)
            })?;
        }
    }
    tx.commit()
        .map_err(|e| crate::store::db_err(&db, "cannot release the audit trail", e))?;
    Ok(seq)
}

/// The redaction entry logging the output `output_sha` with the record
/// `record_sha`, if any.
fn redaction_entry_with(
    conn: &crate::store::db::Conn,
    db: &Path,
    output_sha: &str,
    record_sha: &str,
) -> Result<Option<i64>> {
    Ok(redactions(conn, db)?
        .into_iter()
        .find(|(_, o, r)| o.as_deref() == Some(output_sha) && r.as_deref() == Some(record_sha))
        .map(|(seq, _, _)| seq))
}

/// A logged redaction: its entry's number, and the output and record
/// sha256 it logged.
type LoggedRedaction = (i64, Option<String>, Option<String>);

/// Every redaction entry.
fn redactions(conn: &crate::store::db::Conn, db: &Path) -> Result<Vec<LoggedRedaction>> {
    let rows: Vec<(i64, String)> = conn
        .query_map(
            "SELECT seq, details FROM audit WHERE action = ?1 ORDER BY seq",
            crate::store::db::args![Action::Redaction.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| crate::store::db_err(db, "cannot read the audit trail", e))?;
    Ok(rows
        .into_iter()
        .map(|(seq, details)| {
            let d: serde_json::Value = serde_json::from_str(&details).unwrap_or_default();
            let field = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
            (seq, field("output_sha256"), field("record_sha256"))
        })
        .collect())
}

/// The entries logging `record`'s redaction (written at `record_path`,
/// sha256 `record_sha`): one `redaction`, one `mask_lifted` per lifted mask.
fn redaction_entries(
    record: &crate::pipeline::redact::RedactionRecord,
    record_path: &Path,
    record_sha: &str,
) -> Vec<NewEntry> {
    let subject = record.output.path.to_string_lossy().into_owned();
    let reason = if record.reason.trim().is_empty() {
        "redaction".to_string()
    } else {
        record.reason.clone()
    };
    let mut entries =
        vec![NewEntry::new(
        &record.operator,
        Action::Redaction,
        &subject,
        &reason,
    )
    .with_details(serde_json::json!({
        "record": record_path,
        "record_sha256": record_sha,
        "input": record.input.path,
        "input_sha256": record.input.sha256,
        "output_sha256": record.output.sha256,
        "case_reference": record.case_reference,
        "masks_applied": record.masks_applied.iter().map(|m| &m.id).collect::<Vec<_>>(),
        "tracks_obscured": record.counts.tracks.saturating_sub(record.counts.kept_tracks),
        "kept_tracks": record.kept_tracks,
        "replay_of": record.replay_of,
    }))];
    for m in &record.masks_lifted {
        entries.push(
            NewEntry::new(&m.operator, Action::MaskLifted, &subject, &reason).with_details(
                serde_json::json!({
                    "mask": m.id,
                    "authorisation": m.authorisation,
                    "record_sha256": record_sha,
                    "input_sha256": record.input.sha256,
                }),
            ),
        );
    }
    entries
}

/// Logs the disclosure of a redacted output (subject access request) or an
/// exhibit: `what` is a redaction record (`OUTPUT.redaction.json`), the
/// redacted video next to its record, or an export manifest. The file's
/// current sha256 must still be the one recorded, so what is logged is
/// what leaves. A redacted output whose redaction this trail logged must
/// come with the record logged then (an edited record, one excusing a
/// face for instance, is refused); the entry's `redaction_entry` names that
/// redaction's entry, or is null where the redaction was not logged here.
///
/// # Errors
/// `InvalidArgument` for a missing recipient, reason or operator, or a
/// file that is neither a record nor a manifest; `Corrupt` when the output
/// no longer matches its record or the record is not the one logged with
/// the output's redaction; `Database` on database failures.
pub fn log_disclosure(
    index: &mut Store,
    what: &Path,
    recipient: &str,
    operator: &str,
    reason: &str,
    key: Option<&SecretKey>,
) -> Result<Entry> {
    if recipient.trim().is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "a disclosure needs a recipient (recipient)",
        ));
    }
    let hash = |p: &Path| crate::hash::regular_sha256(p);
    let is_json = |p: &Path| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    };
    let record_path = if is_json(what) {
        what.to_path_buf()
    } else {
        crate::pipeline::redact::record_path(what)
    };
    if !record_path.is_file() {
        return Err(Error::new(
            ErrorKind::NotFound,
            "no redaction record or export manifest here (disclose OUTPUT.redaction.json, the redacted video next to it, or an exhibit manifest)",
        )
        .with_path(&record_path));
    }
    let text = std::fs::read_to_string(&record_path)
        .map_err(|e| Error::io(e, "cannot read").with_path(&record_path))?;
    let schema = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string))
        .unwrap_or_default();
    let record_sha = hash(&record_path)?;
    let (subject, details) = if schema == crate::pipeline::export::MANIFEST_SCHEMA {
        let m = crate::pipeline::export::read_manifest(&record_path)?;
        (
            m.exhibit.clone(),
            serde_json::json!({
                "kind": "exhibit",
                "recipient": recipient.trim(),
                "manifest": record_path,
                "manifest_sha256": record_sha,
                "files": m.masters.iter().map(|f| serde_json::json!({"file": f.file, "sha256": f.sha256}))
                    .chain(m.working_copies.iter().map(|f| serde_json::json!({"file": f.file, "sha256": f.sha256})))
                    .collect::<Vec<_>>(),
            }),
        )
    } else {
        let record = crate::pipeline::redact::read_record(&record_path)?;
        let output = if is_json(what) {
            let p = record.output.path.clone();
            if p.is_absolute() || p.is_file() {
                p
            } else {
                record_path
                    .parent()
                    .map(|d| d.join(p.file_name().unwrap_or_default()))
                    .unwrap_or(p)
            }
        } else {
            what.to_path_buf()
        };
        let output_sha = hash(&output)?;
        if output_sha != record.output.sha256 {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "sha256 {output_sha} is not the redacted output's recorded {} (the file changed since it was redacted): not logged",
                    record.output.sha256
                ),
            )
            .with_path(&output));
        }
        let logged = logged_redaction(index, &output_sha, &record_sha)
            .map_err(|e| e.with_path(&record_path))?;
        (
            output.to_string_lossy().into_owned(),
            serde_json::json!({
                "kind": "redacted_output",
                "recipient": recipient.trim(),
                "output_sha256": output_sha,
                "record": record_path,
                "record_sha256": record_sha,
                "input_sha256": record.input.sha256,
                "case_reference": record.case_reference,
                "redaction_entry": logged,
            }),
        )
    };
    let entry = NewEntry::new(operator, Action::Disclosure, subject, reason).with_details(details);
    index
        .append_audit_all(std::slice::from_ref(&entry), key)
        .map(|mut v| v.remove(0))
}

/// Checks a redacted output and its record against the audit trail of
/// `index`, as [`log_disclosure`] does before logging: the entry that
/// logged the redaction of `output` with `record`, or `None` when no
/// redaction of that output is logged there.
///
/// # Errors
/// `Corrupt` when redactions of the output are logged but none with this
/// record (the record changed since); `Io` when either file cannot be
/// hashed; `Database` on database failures.
pub fn logged_redaction_of(index: &Store, output: &Path, record: &Path) -> Result<Option<i64>> {
    let output_sha = crate::hash::regular_sha256(output)?;
    let record_sha = crate::hash::regular_sha256(record)?;
    logged_redaction(index, &output_sha, &record_sha).map_err(|e| e.with_path(record))
}

/// The audit entry that logged the redaction making the output with sha256
/// `output_sha` with the record `record_sha`; `None` if no redaction of that
/// output is logged.
///
/// # Errors
/// `Corrupt` when redactions of that output are logged but none with this
/// record: the record was changed since.
fn logged_redaction(index: &Store, output_sha: &str, record_sha: &str) -> Result<Option<i64>> {
    let mut of_output = Vec::new();
    for (seq, o, r) in redactions(index.conn(), index.path())? {
        if o.as_deref() != Some(output_sha) {
            continue;
        }
        if r.as_deref() == Some(record_sha) {
            return Ok(Some(seq));
        }
        of_output.push(seq);
    }
    match of_output.last() {
        None => Ok(None),
        Some(seq) => Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "record sha256 {record_sha} is not the record logged with this output's redaction (audit entry {seq}): the record changed since it was logged; not disclosed"
            ),
        )),
    }
}
