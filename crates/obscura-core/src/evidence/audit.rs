//! The audit trail: an append-only, hash-chained log in the index database
//! of everything done to recorded material that the Code of Practice asks
//! to be accountable: redactions, lifted masks, evidential exports,
//! disclosures, holds and their release, retention purges.
//!
//! ## The chain
//! Every entry has a sequence number (1, 2, ...), a UTC time, the operator,
//! the action, its subject (a file, an exhibit reference), the reason, a
//! JSON object of details (hashes, recipients, authorisations), the
//! `prev_hash` of the entry before it (64 zeros for the first) and its own
//! `entry_hash`:
//!
//! ```text
//! entry_hash = sha256( "obscura.audit/1"
//!                      || for each of seq (decimal), utc, operator, action,
//!                         subject, reason, details, prev_hash:
//!                            its UTF-8 length as 8 bytes big-endian || its bytes )
//! ```
//!
//! so the hash covers every field unambiguously and can be recomputed by
//! anyone with the database and a SHA-256 tool. Appending reads the head and
//! inserts the next entry inside one `BEGIN IMMEDIATE` transaction, so
//! processes appending at once are serialised into one chain.
//!
//! ## What verification finds
//! [`Store::verify_audit`] walks the entries in order and names the first
//! bad one: an entry whose contents no longer match its hash (edited), a
//! missing sequence number or a link to an entry that is gone (deleted), an
//! entry the next one is not chained to (inserted), or a link to a later
//! entry (reordered). Removing entries from the *end* leaves a shorter
//! valid chain: only a signed head (below), or a head recorded elsewhere,
//! shows that.
//!
//! ## Signatures
//! With an Ed25519 key ([`crate::evidence::sign`]) the head can be signed
//! ([`Store::sign_audit_head`]): the message is
//! `obscura.audit-head/1\n{seq}\n{entry_hash}\n{utc}\n`. Verification checks
//! each stored signature against the public key given, and that the signed
//! entry is still there with the same hash.

use crate::clock::format_utc;
use crate::error::{Error, ErrorKind, Result};
use crate::evidence::sign::{PublicKey, SecretKey};
use crate::store::db::{args, Conn, DbResult, Row, Tx};
use crate::store::{db_err, Store};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain prefix of entry hashes.
const ENTRY_DOMAIN: &[u8] = b"obscura.audit/1";
/// Domain prefix of hashes of entries that name the latest signature.
const ENTRY_DOMAIN_2: &[u8] = b"obscura.audit/2";

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// A redaction, with the hash of its record.
    Redaction,
    /// A privacy mask lifted, with its authorisation.
    MaskLifted,
    /// An evidential export, with its manifest's hash.
    Export,
    /// A disclosure of a redacted output or exhibit: recipient and reason.
    Disclosure,
    /// A recording put under evidential hold.
    Hold,
    /// A hold released.
    HoldRelease,
    /// A recording removed by the retention policy.
    RetentionPurge,
    /// A recording file the retention policy is about to delete, logged
    /// (and committed) before the file is touched; a `retention_purge`
    /// entry records the outcome.
    RetentionIntent,
    /// Anything else an operator justifies (viewing footage for the
    /// police, a review), logged by hand.
    Note,
}

impl Action {
    /// The name stored in the trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Redaction => "redaction",
            Action::MaskLifted => "mask_lifted",
            Action::Export => "export",
            Action::Disclosure => "disclosure",
            Action::Hold => "hold",
            Action::HoldRelease => "hold_release",
            Action::RetentionPurge => "retention_purge",
            Action::RetentionIntent => "retention_intent",
            Action::Note => "note",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// Who did it.
    pub operator: String,
    /// What.
    pub action: Action,
    /// To what: a file, an exhibit reference.
    pub subject: String,
    /// Why.
    pub reason: String,
    /// Hashes, recipients, authorisations... (a JSON object).
    pub details: serde_json::Value,
}

impl NewEntry {
    /// An entry with empty details.
    pub fn new(
        operator: impl Into<String>,
        action: Action,
        subject: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        NewEntry {
            operator: operator.into(),
            action,
            subject: subject.into(),
            reason: reason.into(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// The same entry with `details`.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    fn validate(&self) -> Result<()> {
        let need = |v: &str, what: &str| {
            if v.trim().is_empty() {
                Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("an audit entry needs {what}"),
                ))
            } else {
                Ok(())
            }
        };
        need(&self.operator, "an operator (operator)")?;
        need(&self.reason, "a reason (reason)")?;
        need(&self.subject, "a subject")
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Sequence number, from 1.
    pub seq: i64,
    /// When, UTC.
    pub utc: String,
    /// Who.
    pub operator: String,
    /// What (an [`Action`] name).
    pub action: String,
    /// To what.
    pub subject: String,
    /// Why.
    pub reason: String,
    /// Details, JSON text exactly as hashed.
    pub details: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub entry_hash: String,
    /// The latest head signature when the entry was appended
    /// (`ID:SIGNATURE_HASH`), None before the first signature. Part of the
    /// hash: deleting that signature breaks the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig_ref: Option<String>,
}

impl Entry {
    /// The hash its contents should have.
    pub fn computed_hash(&self) -> String {
        let seq = self.seq.to_string();
        let mut h = Sha256::new();
        h.update(if self.sig_ref.is_some() {
            ENTRY_DOMAIN_2
        } else {
            ENTRY_DOMAIN
        });
        if let Some(r) = &self.sig_ref {
            h.update((r.len() as u64).to_be_bytes());
            h.update(r.as_bytes());
        }
        for field in [
            seq.as_str(),
            &self.utc,
            &self.operator,
            &self.action,
            &self.subject,
            &self.reason,
            &self.details,
            &self.prev_hash,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// What is wrong with the first bad entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Its contents do not match its hash.
    Altered,
    /// Entries before it are missing.
    Deleted,
    /// The next entry is not chained to it.
    Inserted,
    /// It is chained to an entry that comes after it.
    Reordered,
    /// The signed head is gone or changed, or a signature does not verify.
    Signature,
}

/// The first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadEntry {
    /// Its sequence number.
    pub seq: i64,
    /// What is wrong.
    pub problem: Problem,
    /// In words.
    pub message: String,
}

/// A stored signature of the chain head, and whether it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeadSignature {
    /// Its row number (signatures are numbered in the order they were made).
    pub id: i64,
    /// The entry signed.
    pub seq: i64,
    /// Its hash when signed.
    pub head_hash: String,
    /// When signed, UTC.
    pub utc: String,
    /// The public key stored with it (hex).
    pub public_key: String,
    /// The signature (hex).
    pub signature: String,
    /// The hash of the signature before it ([`GENESIS`] for the first),
    /// signed with the head; None for signatures made before signatures
    /// were chained.
    pub prev_sig_hash: Option<String>,
}

impl HeadSignature {
    /// The signed message.
    pub fn message(&self) -> Vec<u8> {
        head_message(
            self.seq,
            &self.head_hash,
            &self.utc,
            self.prev_sig_hash.as_deref(),
        )
    }

    /// Its hash: sha256 of the signed message and the signature, which the
    /// next signature and later entries name.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.message());
        h.update(self.signature.as_bytes());
        hex::encode(h.finalize())
    }
}

fn head_message(seq: i64, hash: &str, utc: &str, prev_sig: Option<&str>) -> Vec<u8> {
    match prev_sig {
        None => format!("obscura.audit-head/1\n{seq}\n{hash}\n{utc}\n").into_bytes(),
        Some(p) => format!("obscura.audit-head/2\n{seq}\n{hash}\n{utc}\n{p}\n").into_bytes(),
    }
}

const SIG_COLUMNS: &str = "id, seq, head_hash, utc, public_key, signature, prev_sig_hash";

fn read_sig(r: &Row) -> DbResult<HeadSignature> {
    Ok(HeadSignature {
        id: r.get(0)?,
        seq: r.get(1)?,
        head_hash: r.get(2)?,
        utc: r.get(3)?,
        public_key: r.get(4)?,
        signature: r.get(5)?,
        prev_sig_hash: r.get(6)?,
    })
}

/// The latest signature, read inside the caller's transaction.
fn latest_signature(conn: &Conn) -> DbResult<Option<HeadSignature>> {
    conn.query_opt(
        &format!("SELECT {SIG_COLUMNS} FROM audit_signatures ORDER BY id DESC LIMIT 1"),
        &[],
        read_sig,
    )
}

/// A signature's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureCheck {
    /// The signature.
    #[serde(flatten)]
    pub signature: HeadSignature,
    /// Whether it was checked against a public key given by the verifier
    /// (otherwise only against the key stored with it, which proves
    /// nothing about who signed).
    pub key_checked: bool,
    /// Whether it holds.
    pub ok: bool,
    /// Why not, or what was checked.
    pub message: String,
}

/// The result of verifying the trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    /// Whether the chain and every signature check passed.
    pub ok: bool,
    /// Entries in the trail.
    pub entries: u64,
    /// The last entry's sequence number and hash.
    pub head: Option<(i64, String)>,
    /// The first bad entry (None if the chain holds).
    pub first_bad: Option<BadEntry>,
    /// Head signatures and their checks.
    pub signatures: Vec<SignatureCheck>,
    /// Entries after the last signed head (valid signature), if any were
    /// signed.
    pub unsigned_entries: Option<u64>,
}

fn read_entry(r: &Row) -> DbResult<Entry> {
    Ok(Entry {
        seq: r.get(0)?,
        utc: r.get(1)?,
        operator: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        reason: r.get(5)?,
        details: r.get(6)?,
        prev_hash: r.get(7)?,
        entry_hash: r.get(8)?,
        sig_ref: r.get(9)?,
    })
}

const ENTRY_COLUMNS: &str =
    "seq, utc, operator, action, subject, reason, details, prev_hash, entry_hash, sig_ref";

/// Appends `entry` inside the caller's transaction (which must have been
/// begun `IMMEDIATE`, so the head cannot move under it).
pub(crate) fn append_tx(tx: &Tx<'_>, db: &std::path::Path, entry: &NewEntry) -> Result<Entry> {
    entry.validate()?;
    let e = |err| db_err(db, "cannot append to the audit trail", err);
    let head: Option<(i64, String)> = tx
        .query_opt(
            "SELECT seq, entry_hash FROM audit ORDER BY seq DESC LIMIT 1",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(e)?;
    let (seq, prev_hash) = match head {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let details = serde_json::to_string(&entry.details)
        .map_err(|err| Error::new(ErrorKind::Io, format!("cannot serialise details: {err}")))?;
    let sig_ref = latest_signature(tx)
        .map_err(e)?
        .map(|s| format!("{}:{}", s.id, s.hash()));
    let mut stored = Entry {
        seq,
        utc: format_utc(&Utc::now()),
        operator: entry.operator.trim().to_string(),
        action: entry.action.as_str().to_string(),
        subject: entry.subject.clone(),
        reason: entry.reason.trim().to_string(),
        details,
        prev_hash,
        entry_hash: String::new(),
        sig_ref,
    };
    stored.entry_hash = stored.computed_hash();
    tx.execute(
        &format!(
            "INSERT INTO audit ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        args![
            stored.seq,
            stored.utc,
            stored.operator,
            stored.action,
            stored.subject,
            stored.reason,
            stored.details,
            stored.prev_hash,
            stored.entry_hash,
            stored.sig_ref
        ],
    )
    .map_err(e)?;
    Ok(stored)
}

/// Signs the head inside the caller's transaction.
pub(crate) fn sign_head_tx(
    tx: &Tx<'_>,
    db: &std::path::Path,
    key: &SecretKey,
) -> Result<Option<HeadSignature>> {
    let e = |err| db_err(db, "cannot sign the audit trail", err);
    let head: Option<(i64, String)> = tx
        .query_opt(
            "SELECT seq, entry_hash FROM audit ORDER BY seq DESC LIMIT 1",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(e)?;
    let Some((seq, head_hash)) = head else {
        return Ok(None);
    };
    let utc = format_utc(&Utc::now());
    let prev = latest_signature(tx).map_err(e)?;
    let prev_sig_hash = prev
        .as_ref()
        .map_or(GENESIS.to_string(), HeadSignature::hash);
    let id = prev.map_or(1, |p| p.id + 1);
    let sig = HeadSignature {
        id,
        signature: key.sign(&head_message(seq, &head_hash, &utc, Some(&prev_sig_hash))),
        seq,
        head_hash,
        utc,
        public_key: key.public_key().to_hex(),
        prev_sig_hash: Some(prev_sig_hash),
    };
    tx.execute(
        "INSERT INTO audit_signatures (id, seq, head_hash, utc, public_key, signature, prev_sig_hash, sig_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        args![
            sig.id,
            sig.seq,
            sig.head_hash,
            sig.utc,
            sig.public_key,
            sig.signature,
            sig.prev_sig_hash,
            sig.hash()
        ],
    )
    .map_err(e)?;
    Ok(Some(sig))
}

impl Store {
    /// Appends one entry to the audit trail, in its own transaction.
    ///
    /// # Errors
    /// `InvalidArgument` for a missing operator, reason or subject;
    /// `Database` on any SQLite failure (nothing is appended then).
    pub fn append_audit(&mut self, entry: &NewEntry) -> Result<Entry> {
        self.append_audit_all(std::slice::from_ref(entry), None)
            .map(|mut v| v.remove(0))
    }

    /// Appends `entries` in one transaction (all or none) and, with `key`,
    /// signs the new head in the same transaction.
    ///
    /// # Errors
    /// As [`Store::append_audit`].
    pub fn append_audit_all(
        &mut self,
        entries: &[NewEntry],
        key: Option<&SecretKey>,
    ) -> Result<Vec<Entry>> {
        self.append_audit_all_then(entries, key, || Ok(()))
    }

    /// [`Store::append_audit_all`], running `before_commit` once the
    /// entries are written, still under the write lock: what it does is
    /// logged only if it succeeds, and nothing is logged if it fails.
    pub(crate) fn append_audit_all_then(
        &mut self,
        entries: &[NewEntry],
        key: Option<&SecretKey>,
        before_commit: impl FnOnce() -> Result<()>,
    ) -> Result<Vec<Entry>> {
        for e in entries {
            e.validate()?;
        }
        let path = self.path().to_path_buf();
        let tx = self
            .conn_mut()
            .write()
            .map_err(|e| db_err(&path, "cannot lock the audit trail", e))?;
        let out = entries
            .iter()
            .map(|e| append_tx(&tx, &path, e))
            .collect::<Result<Vec<_>>>()?;
        if let Some(k) = key {
            sign_head_tx(&tx, &path, k)?;
        }
        before_commit()?;
        tx.commit()
            .map_err(|e| db_err(&path, "cannot commit to the audit trail", e))?;
        Ok(out)
    }

    /// Every entry, in sequence order.
    ///
    /// # Errors
    /// `Database` on any SQLite failure, or an entry whose fields are not
    /// text (tampering with the column types).
    pub fn audit_entries(&self) -> Result<Vec<Entry>> {
        let e = |err| db_err(self.path(), "cannot read the audit trail", err);
        self.conn()
            .query_map(
                &format!("SELECT {ENTRY_COLUMNS} FROM audit ORDER BY seq"),
                &[],
                read_entry,
            )
            .map_err(e)
    }

    /// The last entry's sequence number and hash.
    ///
    /// # Errors
    /// `Database` on any SQLite failure.
    pub fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.conn()
            .query_opt(
                "SELECT seq, entry_hash FROM audit ORDER BY seq DESC LIMIT 1",
                &[],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| db_err(self.path(), "cannot read the audit trail", e))
    }

    /// Signs the current head with `key` and stores the signature. Returns
    /// None when the trail is empty.
    ///
    /// # Errors
    /// `Database` on any SQLite failure.
    pub fn sign_audit_head(&mut self, key: &SecretKey) -> Result<Option<HeadSignature>> {
        let path = self.path().to_path_buf();
        let tx = self
            .conn_mut()
            .write()
            .map_err(|e| db_err(&path, "cannot lock the audit trail", e))?;
        let sig = sign_head_tx(&tx, &path, key)?;
        tx.commit()
            .map_err(|e| db_err(&path, "cannot store the signature", e))?;
        Ok(sig)
    }

    /// Stored head signatures, oldest first.
    ///
    /// # Errors
    /// `Database` on any SQLite failure.
    pub fn audit_signatures(&self) -> Result<Vec<HeadSignature>> {
        let e = |err| db_err(self.path(), "cannot read signatures", err);
        self.conn()
            .query_map(
                &format!("SELECT {SIG_COLUMNS} FROM audit_signatures ORDER BY id"),
                &[],
                read_sig,
            )
            .map_err(e)
    }

    /// Verifies the chain and the head signatures. With `public_key`, every
    /// stored signature must verify under it and at least one must exist.
    ///
    /// # Errors
    /// `Database` if the trail cannot be read at all (a broken chain is a
    /// report, not an error).
    pub fn verify_audit(&self, public_key: Option<&PublicKey>) -> Result<AuditReport> {
        let entries = self.audit_entries()?;
        let first_bad = check_chain(&entries);
        let by_seq: HashMap<i64, &Entry> = entries.iter().map(|e| (e.seq, e)).collect();
        let mut signatures = Vec::new();
        let mut last_signed: Option<i64> = None;
        for sig in self.audit_signatures()? {
            let (ok, message, key_checked) = check_signature(&sig, &by_seq, public_key);
            if ok {
                last_signed = Some(last_signed.map_or(sig.seq, |s| s.max(sig.seq)));
            }
            signatures.push(SignatureCheck {
                signature: sig,
                key_checked,
                ok,
                message,
            });
        }
        let mut first_bad = first_bad;
        if first_bad.is_none() {
            first_bad = check_signature_links(&entries, &signatures);
        }
        if first_bad.is_none() {
            if let Some(s) = signatures.iter().find(|s| !s.ok) {
                first_bad = Some(BadEntry {
                    seq: s.signature.seq,
                    problem: Problem::Signature,
                    message: s.message.clone(),
                });
            } else if public_key.is_some() && signatures.is_empty() {
                first_bad = Some(BadEntry {
                    seq: 0,
                    problem: Problem::Signature,
                    message: "no signature of the chain head to check the public key against"
                        .into(),
                });
            }
        }
        let head = entries.last().map(|e| (e.seq, e.entry_hash.clone()));
        let unsigned_entries = last_signed.map(|s| {
            entries
                .iter()
                .filter(|e| e.seq > s)
                .count()
                .try_into()
                .unwrap_or(u64::MAX)
        });
        Ok(AuditReport {
            ok: first_bad.is_none(),
            entries: entries.len() as u64,
            head,
            first_bad,
            signatures,
            unsigned_entries,
        })
    }
}

/// Checks that no signature has gone: each chained signature names the
/// one before it, and each entry appended after a chained signature names
/// the latest signature there was (or a later one).
fn check_signature_links(entries: &[Entry], sigs: &[SignatureCheck]) -> Option<BadEntry> {
    let bad = |seq: i64, message: String| {
        Some(BadEntry {
            seq,
            problem: Problem::Signature,
            message,
        })
    };
    let mut prev: Option<&HeadSignature> = None;
    for s in sigs.iter().map(|c| &c.signature) {
        if let Some(link) = &s.prev_sig_hash {
            let expected = prev.map_or(GENESIS.to_string(), HeadSignature::hash);
            if *link != expected {
                return bad(
                    s.seq,
                    format!(
                        "signature {} (of entry {}) does not follow the signature stored before it: a signature before it was deleted or replaced",
                        s.id, s.seq
                    ),
                );
            }
        }
        prev = Some(s);
    }
    let by_id: HashMap<i64, &HeadSignature> = sigs
        .iter()
        .map(|c| (c.signature.id, &c.signature))
        .collect();
    // Chained signatures by the head they signed, with the latest (highest
    // id) made at or before each head so far.
    let mut chained: Vec<(i64, i64)> = sigs
        .iter()
        .map(|c| &c.signature)
        .filter(|s| s.prev_sig_hash.is_some())
        .map(|s| (s.seq, s.id))
        .collect();
    chained.sort_unstable();
    let mut next = 0usize;
    let mut due: Option<i64> = None;
    for e in entries {
        // The latest chained signature made before this entry.
        while next < chained.len() && chained[next].0 < e.seq {
            due = Some(due.map_or(chained[next].1, |d| d.max(chained[next].1)));
            next += 1;
        }
        let referenced = match &e.sig_ref {
            None => None,
            Some(r) => {
                let parsed = r
                    .split_once(':')
                    .and_then(|(id, h)| Some((id.parse::<i64>().ok()?, h)));
                let Some((id, hash)) = parsed else {
                    return bad(
                        e.seq,
                        format!("entry {} names a malformed signature {r:?}", e.seq),
                    );
                };
                match by_id.get(&id) {
                    None => {
                        return bad(
                            e.seq,
                            format!(
                                "entry {} was appended after signature {id}, which is no longer in the trail (a signature was deleted)",
                                e.seq
                            ),
                        )
                    }
                    Some(s) if s.hash() != hash => {
                        return bad(
                            e.seq,
                            format!(
                                "entry {} was appended after signature {id}, which has since been replaced",
                                e.seq
                            ),
                        )
                    }
                    Some(s) if s.seq >= e.seq => {
                        return bad(
                            e.seq,
                            format!(
                                "entry {} names signature {id} of a later head {}",
                                e.seq, s.seq
                            ),
                        )
                    }
                    Some(_) => Some(id),
                }
            }
        };
        if let Some(due) = due {
            if referenced.is_none_or(|r| r < due) {
                return bad(
                    e.seq,
                    format!(
                        "entry {} does not name signature {due}, made before it (the entries after a signature were rewritten)",
                        e.seq
                    ),
                );
            }
        }
    }
    None
}

fn check_signature(
    sig: &HeadSignature,
    by_seq: &HashMap<i64, &Entry>,
    public_key: Option<&PublicKey>,
) -> (bool, String, bool) {
    match by_seq.get(&sig.seq) {
        None => {
            return (
                false,
                format!(
                    "signed head entry {} is missing (entries removed from the end of the trail)",
                    sig.seq
                ),
                public_key.is_some(),
            )
        }
        Some(e) if e.entry_hash != sig.head_hash => {
            return (
                false,
                format!(
                    "signed head entry {} no longer has the hash that was signed",
                    sig.seq
                ),
                public_key.is_some(),
            )
        }
        Some(_) => {}
    }
    match public_key {
        Some(k) => {
            if k.verify(&sig.message(), &sig.signature) {
                (
                    true,
                    format!("head {} signed with the given key", sig.seq),
                    true,
                )
            } else {
                (
                    false,
                    format!(
                        "signature of head {} does not verify with the given public key",
                        sig.seq
                    ),
                    true,
                )
            }
        }
        None => match PublicKey::from_hex(&sig.public_key) {
            Ok(k) if k.verify(&sig.message(), &sig.signature) => (
                true,
                format!(
                    "head {} signature consistent with its stored key (give the public key to check who signed)",
                    sig.seq
                ),
                false,
            ),
            _ => (
                false,
                format!("signature of head {} does not verify", sig.seq),
                false,
            ),
        },
    }
}

/// The sequence number `e` had when it was hashed, if its contents are
/// intact apart from a lower number (entries before it deleted and the
/// rest renumbered to hide the gap).
fn renumbered_from(e: &Entry) -> Option<i64> {
    (1..=10_000).map(|d| e.seq + d).find(|&s| {
        let mut orig = e.clone();
        orig.seq = s;
        orig.computed_hash() == e.entry_hash
    })
}

/// The first bad entry of `entries` (in stored sequence order), if any.
pub fn check_chain(entries: &[Entry]) -> Option<BadEntry> {
    let position: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.entry_hash.as_str(), i))
        .collect();
    let bad = |seq: i64, problem: Problem, message: String| {
        Some(BadEntry {
            seq,
            problem,
            message,
        })
    };
    for (i, e) in entries.iter().enumerate() {
        let expected_seq = if i == 0 { 1 } else { entries[i - 1].seq + 1 };
        if e.seq != expected_seq {
            return bad(
                expected_seq,
                Problem::Deleted,
                if e.seq > expected_seq {
                    format!(
                        "entries {expected_seq}..{} are missing (deleted)",
                        e.seq - 1
                    )
                } else {
                    format!("entry {} is out of sequence", e.seq)
                },
            );
        }
        let expected_prev = if i == 0 {
            GENESIS
        } else {
            entries[i - 1].entry_hash.as_str()
        };
        if e.prev_hash != expected_prev {
            match position.get(e.prev_hash.as_str()) {
                Some(&j) if j > i => {
                    return bad(
                        e.seq,
                        Problem::Reordered,
                        format!(
                            "entry {} is chained to entry {}, which comes after it (reordered)",
                            e.seq, entries[j].seq
                        ),
                    )
                }
                Some(&j) if j + 1 < i => {
                    return bad(
                        entries[j + 1].seq,
                        Problem::Inserted,
                        format!(
                            "entry {} follows entry {}: entries {}..{} are not part of the chain (inserted)",
                            e.seq,
                            entries[j].seq,
                            entries[j + 1].seq,
                            e.seq - 1
                        ),
                    )
                }
                _ if e.prev_hash == GENESIS && i > 0 => {
                    return bad(
                        entries[0].seq,
                        Problem::Inserted,
                        format!(
                            "entry {} is the start of the chain: entries before it were inserted",
                            e.seq
                        ),
                    )
                }
                _ if e.computed_hash() != e.entry_hash && renumbered_from(e).is_none() => {
                    return bad(
                        e.seq,
                        Problem::Altered,
                        format!(
                            "entry {} was altered: its contents do not match its hash",
                            e.seq
                        ),
                    )
                }
                _ => {
                    return bad(
                        e.seq,
                        Problem::Deleted,
                        match renumbered_from(e) {
                            Some(s) => format!(
                                "entry {} was entry {s}: entries before it were deleted and the rest renumbered",
                                e.seq
                            ),
                            None => format!(
                                "entry {} is chained to an entry that is no longer in the trail (an entry before it was deleted)",
                                e.seq
                            ),
                        },
                    )
                }
            }
        }
        if e.computed_hash() != e.entry_hash {
            return bad(
                e.seq,
                Problem::Altered,
                format!(
                    "entry {} was altered: its contents do not match its hash",
                    e.seq
                ),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, prev: &str) -> Entry {
        let mut e = Entry {
            seq,
            utc: "2026-11-28T10:00:00.000Z".into(),
            operator: "op".into(),
            action: "export".into(),
            subject: format!("s{seq}"),
            reason: "r".into(),
            details: "{}".into(),
            prev_hash: prev.into(),
            entry_hash: String::new(),
            sig_ref: None,
        };
        e.entry_hash = e.computed_hash();
        e
    }

    fn chain(n: i64) -> Vec<Entry> {
        let mut v: Vec<Entry> = Vec::new();
        for s in 1..=n {
            let prev = v
                .last()
                .map_or(GENESIS.to_string(), |e| e.entry_hash.clone());
            v.push(entry(s, &prev));
        }
        v
    }

    #[test]
    fn field_boundaries_are_part_of_the_hash() {
        let mut a = entry(1, GENESIS);
        let mut b = a.clone();
        a.operator = "ab".into();
        a.action = "c".into();
        b.operator = "a".into();
        b.action = "bc".into();
        assert_ne!(a.computed_hash(), b.computed_hash());
    }

    #[test]
    fn each_kind_of_tampering_is_named() {
        assert_eq!(check_chain(&chain(5)), None);
        let mut v = chain(5);
        v[2].reason.push('!');
        let b = check_chain(&v).expect("bad");
        assert_eq!((b.seq, b.problem), (3, Problem::Altered));
        let mut v = chain(5);
        v.remove(2);
        let b = check_chain(&v).expect("bad");
        assert_eq!((b.seq, b.problem), (3, Problem::Deleted));
        let mut v = chain(5);
        v.swap(1, 2);
        let (s1, s2) = (v[1].seq, v[2].seq);
        v[1].seq = s2;
        v[2].seq = s1;
        let b = check_chain(&v).expect("bad");
        assert_eq!((b.seq, b.problem), (2, Problem::Reordered), "{b:?}");
    }
}
