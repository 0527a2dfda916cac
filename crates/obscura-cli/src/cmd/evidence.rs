//! Evidence commands: export and verify exhibits, the audit trail,
//! retention, holds and disclosures.

use crate::args::*;
use crate::print::*;
use anyhow::Result;
use obscura_core::clock;
use obscura_core::store::Store;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) fn export(cmd: ExportCmd) -> Result<ExitCode> {
    let ExportCmd {
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
    } = cmd;
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
    let mut exporter = obscura_core::pipeline::Exporter::new(&db, load_key(key.as_deref())?)?;
    let done = with_job(|job| exporter.export(&req, job))?;
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

pub(crate) fn verify(cmd: VerifyCmd) -> Result<ExitCode> {
    let VerifyCmd {
        manifest,
        public_key,
        json,
    } = cmd;
    let key = load_public_key(public_key.as_deref())?;
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

pub(crate) fn retention(cmd: RetentionCmd) -> Result<ExitCode> {
    let RetentionCmd {
        db,
        days,
        delete_files,
        dry_run,
        now,
        operator,
        reason,
        key,
        json,
    } = cmd;
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

pub(crate) fn hold(cmd: HoldCmd) -> Result<ExitCode> {
    let HoldCmd {
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
    } = cmd;
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

pub(crate) fn disclose(cmd: DiscloseCmd) -> Result<ExitCode> {
    let DiscloseCmd {
        record,
        db,
        recipient,
        reason,
        operator,
        key,
        json,
    } = cmd;
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

pub(crate) fn audit_verify(cmd: AuditVerifyCmd) -> Result<ExitCode> {
    let AuditVerifyCmd {
        db,
        public_key,
        json,
    } = cmd;
    let key = load_public_key(public_key.as_deref())?;
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
                obscura_core::store::display_location(&db),
                b.seq,
                b.message
            ),
            None => println!(
                "ok   {}: {} entries, chain intact{}{}",
                obscura_core::store::display_location(&db),
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
        if report.first_bad.is_none() && report.signatures.is_empty() && report.entries > 0 {
            // "Intact" alone would overstate it: a hash chain cut short at
            // its end is still a valid chain.
            println!(
                "     no head is signed: entries cut off the end of the trail would not show (sign it: obscura audit sign)"
            );
        }
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub(crate) fn audit_list(cmd: AuditListCmd) -> Result<ExitCode> {
    let AuditListCmd { db, json } = cmd;
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

pub(crate) fn audit_note(cmd: AuditNoteCmd) -> Result<ExitCode> {
    let AuditNoteCmd {
        db,
        operator,
        subject,
        reason,
        key,
    } = cmd;
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

pub(crate) fn audit_sign(cmd: AuditSignCmd) -> Result<ExitCode> {
    let AuditSignCmd { db, key } = cmd;
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

pub(crate) fn audit_upgrade(cmd: AuditUpgradeCmd) -> Result<ExitCode> {
    let AuditUpgradeCmd { db } = cmd;
    let idx = Store::open_existing(&db)?;
    println!(
        "{}: schema version {}",
        obscura_core::store::display_location(&db),
        idx.schema_version()?
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn audit_keygen(cmd: AuditKeygenCmd) -> Result<ExitCode> {
    let AuditKeygenCmd { out } = cmd;
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

/// The public key a `--public-key` names (a file, or the key in hex).
pub(crate) fn load_public_key(
    arg: Option<&str>,
) -> Result<Option<obscura_core::evidence::sign::PublicKey>> {
    Ok(arg
        .map(obscura_core::evidence::sign::PublicKey::from_arg)
        .transpose()?)
}

pub(crate) fn load_key(
    path: Option<&std::path::Path>,
) -> Result<Option<obscura_core::evidence::sign::SecretKey>> {
    Ok(path
        .map(obscura_core::evidence::sign::SecretKey::load)
        .transpose()?)
}
