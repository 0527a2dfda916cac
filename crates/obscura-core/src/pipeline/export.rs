//! Evidential export: a master exhibit in the recording's native format,
//! an optional H.264 working copy with the time burned in, and a manifest
//! that lets anyone check every file and every frame.
//!
//! ## What an export holds
//! For a camera and a wall-clock range, every indexed recording that
//! overlaps the range is checked against the hash it was indexed with,
//! then stream-copied ([`crate::media::copy_range`]: no re-encode, cut at
//! the keyframes enclosing the range) into `DIR/REF/REF_camN_START.EXT`. Each
//! master is decoded and compared, frame by frame, with the source frames
//! it should hold; an export that does not reproduce the source exactly
//! fails and leaves nothing behind.
//!
//! The manifest `DIR/REF/REF.manifest.json` ([`MANIFEST_SCHEMA`]) records the
//! camera, date, requested and actual start and end times, the exhibit
//! reference, operator and reason, tool and FFmpeg versions, each source's
//! and output's sha256, and for each master a list of every frame's
//! sha256 with its source frame number and wall-clock time. The frame
//! hash is SHA-256 of the decoded picture's 8-bit YUV 4:2:0 samples, Y then
//! U then V, row by row: for `yuv420p` video it equals what
//! `ffmpeg -i MASTER -f framehash -hash sha256 -` prints, so the frames
//! can be checked without Obscura.
//!
//! With a signing key the manifest's exact bytes are signed into
//! `REF.manifest.json.sig` (and the audit head is signed). The export, and
//! (by default) a hold on each source recording under the exhibit
//! reference, are logged in the audit trail.
//!
//! [`verify_manifest`] re-hashes every file and every frame and names the
//! first bad frame.

use crate::clock::format_utc;
use crate::error::{Error, ErrorKind, Result};
use crate::evidence::audit::{self, Action, NewEntry};
use crate::evidence::retention::{self, RecordingRef};
use crate::evidence::sign::{PublicKey, SecretKey};
use crate::media::{self, AudioPolicy, DecodeOptions, Decoder, EncodeOptions};
use crate::output::PendingFile;
use crate::pipeline::{Job, PipelineOptions, Progress};
use crate::store::db::args;
use crate::store::{db_err, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Schema of export manifests.
pub const MANIFEST_SCHEMA: &str = "obscura.exhibit/1";
/// Schema of detached manifest signatures.
pub const SIGNATURE_SCHEMA: &str = "obscura.signature/1";

const FRAME_HASH: &str = "sha256 of each decoded picture's 8-bit YUV 4:2:0 samples, Y then U then V, row by row (for yuv420p video the same as `ffmpeg -i FILE -f framehash -hash sha256 -`)";

/// What to export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    /// Camera number.
    pub camera: u32,
    /// Start of the range, UTC.
    pub from: DateTime<Utc>,
    /// End of the range, UTC (exclusive).
    pub to: DateTime<Utc>,
    /// Exhibit reference (e.g. `JS/1`).
    pub exhibit: String,
    /// Who.
    pub operator: String,
    /// Why.
    pub reason: String,
    /// Directory the exhibit's folder (`REF`) goes into (created if
    /// missing).
    pub out_dir: PathBuf,
    /// Also write an H.264 working copy with the time burned in.
    pub working_copy: bool,
    /// Hold the source recordings under the exhibit reference (so
    /// retention never removes them).
    pub hold: bool,
    /// How to decode for hashing.
    pub decode: DecodeOptions,
}

/// Tool and library versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// `obscura`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// libavcodec version.
    pub avcodec: String,
    /// libavformat version.
    pub avformat: String,
}

pub use crate::store::CameraInfo;

/// A source recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    /// Path.
    pub path: String,
    /// sha256 (checked against the index before copying).
    pub sha256: String,
    /// Wall-clock start of the recording.
    pub start_utc: String,
    /// Frames in the recording.
    pub frames: u64,
}

/// One frame of a master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameHash {
    /// Frame number in the master, from 0.
    pub index: u64,
    /// Frame number in the source recording.
    pub source_index: u64,
    /// Wall-clock time the frame shows from.
    pub utc: String,
    /// Hash of the decoded picture (see the manifest's `frame_hash`).
    pub sha256: String,
}

/// A master exhibit file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterFile {
    /// File name, next to the manifest.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Container written.
    pub container: String,
    /// Video codec (copied, not re-encoded).
    pub codec: String,
    /// Picture size.
    pub width: u32,
    /// Picture size.
    pub height: u32,
    /// The recording it was copied from.
    pub source: SourceRef,
    /// Where it was cut (source frames and media seconds).
    pub cut: media::Cut,
    /// Wall-clock time of its first frame.
    pub start_utc: String,
    /// Wall-clock time its last frame ends.
    pub end_utc: String,
    /// Audio packets copied.
    pub audio_packets: u64,
    /// Every frame's hash.
    pub frames: Vec<FrameHash>,
}

/// A working copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkingCopy {
    /// File name, next to the manifest.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// The master it was made from.
    pub master: String,
    /// Frames.
    pub frames: u64,
    /// How it was made.
    pub note: String,
}

/// The exhibit manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// Exhibit reference.
    pub exhibit: String,
    /// Camera.
    pub camera: CameraInfo,
    /// Date of the requested start, UTC (`YYYY-MM-DD`).
    pub date: String,
    /// Requested start, UTC.
    pub from_utc: String,
    /// Requested end, UTC.
    pub to_utc: String,
    /// Who exported.
    pub operator: String,
    /// Why.
    pub reason: String,
    /// When, UTC.
    pub created_utc: String,
    /// The tool.
    pub tool: ToolInfo,
    /// How frame hashes are computed.
    pub frame_hash: String,
    /// Master copies, in wall-clock order.
    pub masters: Vec<MasterFile>,
    /// Working copies.
    pub working_copies: Vec<WorkingCopy>,
}

/// A detached signature of a manifest's exact bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestSignature {
    /// [`SIGNATURE_SCHEMA`].
    pub schema: String,
    /// `ed25519`.
    pub algorithm: String,
    /// sha256 of the manifest file signed.
    pub manifest_sha256: String,
    /// The signer's public key (hex).
    pub public_key: String,
    /// The signature (hex) of the manifest file's bytes.
    pub signature: String,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exported {
    /// The manifest.
    pub manifest: PathBuf,
    /// Its sha256.
    pub manifest_sha256: String,
    /// The detached signature, when signed.
    pub signature: Option<PathBuf>,
    /// Master files.
    pub masters: Vec<PathBuf>,
    /// Working copies.
    pub working_copies: Vec<PathBuf>,
    /// Frames in the masters.
    pub frames: u64,
    /// Holds placed (source recordings newly held).
    pub holds_placed: usize,
    /// The audit entry of the export.
    pub audit_seq: i64,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

/// The exhibit reference as a file-name part: letters, digits, `-`, `_`
/// and `.` kept, anything else `_`.
pub fn file_stem(exhibit: &str) -> String {
    exhibit
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where the manifest of `exhibit` goes in `dir`.
pub fn manifest_path(dir: &Path, exhibit: &str) -> PathBuf {
    dir.join(format!("{}.manifest.json", file_stem(exhibit)))
}

fn at(start: &DateTime<Utc>, secs: f64) -> DateTime<Utc> {
    *start + chrono::Duration::microseconds((secs * 1e6).round() as i64)
}

fn hash_file(p: &Path) -> Result<String> {
    crate::hash::regular_sha256(p)
}

fn file_len(p: &Path) -> Result<u64> {
    std::fs::metadata(p)
        .map(|m| m.len())
        .map_err(|e| Error::io(e, "cannot read").with_path(p))
}

/// Evidential exports from one store, signed with one key: the store is
/// opened (and must already exist: an export needs indexed recordings) and
/// the key loaded once, then any number of exports go through
/// [`Exporter::export`], each with a [`Job`] for progress and cancellation.
/// The CLI's `export` is this.
///
/// ```no_run
/// use obscura_core::clock::parse_time_arg;
/// use obscura_core::pipeline::export::{ExportRequest, Exporter};
/// use obscura_core::pipeline::Job;
///
/// # fn main() -> obscura_core::Result<()> {
/// let mut exporter = Exporter::new("index.db", None)?;
/// let req = ExportRequest {
///     camera: 7,
///     from: parse_time_arg("2026-11-02 08:00")?,
///     to: parse_time_arg("2026-11-02 08:05")?,
///     exhibit: "JS/1".into(),
///     operator: "J Smith".into(),
///     reason: "incident 4411".into(),
///     out_dir: "exhibits".into(),
///     working_copy: true,
///     hold: true,
///     decode: Default::default(),
/// };
/// let done = exporter.export(&req, &mut Job::new())?;
/// println!("{} (sha256 {})", done.manifest.display(), done.manifest_sha256);
/// # Ok(())
/// # }
/// ```
pub struct Exporter {
    store: Store,
    key: Option<SecretKey>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("store", &self.store.path())
            .field("signed", &self.key.is_some())
            .finish()
    }
}

impl Exporter {
    /// An exporter from the store at `db`, signing manifests and the
    /// trail's head with `key` when one is given.
    ///
    /// # Errors
    /// `NotFound` when there is no store at `db`; `Database` when it cannot
    /// be opened or migrated.
    pub fn new(db: impl AsRef<Path>, key: Option<SecretKey>) -> Result<Self> {
        Ok(Exporter {
            store: Store::open_existing(db)?,
            key,
        })
    }

    /// Exports `req`, as [`export`] does. The job's cancellation stops the
    /// decoding (nothing is left then), and it receives frames done over
    /// all masters.
    ///
    /// # Errors
    /// As [`export`].
    pub fn export(&mut self, req: &ExportRequest, job: &mut Job<'_>) -> Result<Exported> {
        let req = ExportRequest {
            decode: DecodeOptions {
                cancel: job.cancel_token(),
                ..req.decode.clone()
            },
            ..req.clone()
        };
        export(&mut self.store, &req, self.key.as_ref(), &mut |p| {
            job.report(p)
        })
    }
}

/// Exports `req` from `index`: masters, optional working copies, manifest
/// (signed with `key`), holds and the audit entry, all or nothing: the
/// exhibit is built in a temporary folder `DIR/.REF.obscura-tmp-PID` and
/// renamed to `DIR/REF` only once complete and logged. Nothing is left in the
/// directory if it fails, and a folder `DIR/REF` is never there unlogged,
/// even if the process is killed: see [`build_and_place`] for the order.
///
/// # Errors
/// `InvalidArgument` for missing fields, an empty range, or an exhibit
/// that already exists in the directory; `NotFound` when no dated
/// recording of the camera covers the range or a source file is missing;
/// `Corrupt` when a source no longer has its indexed hash or a master does
/// not reproduce its source frames; media and database errors as they come.
pub fn export(
    index: &mut Store,
    req: &ExportRequest,
    key: Option<&SecretKey>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Exported> {
    for (v, what) in [
        (&req.exhibit, "an exhibit reference (exhibit)"),
        (&req.operator, "an operator (operator)"),
        (&req.reason, "a reason (reason)"),
    ] {
        if v.trim().is_empty() {
            return Err(invalid(format!("{what} is required")));
        }
    }
    if req.to <= req.from {
        return Err(invalid(format!(
            "invalid range {} .. {} (expected the end after the start)",
            format_utc(&req.from),
            format_utc(&req.to)
        )));
    }
    let db = index.path().to_path_buf();
    let camera = index
        .conn()
        .query_opt(
            "SELECT number, name, town, desk FROM cameras WHERE number = ?1",
            args![req.camera],
            |r| {
                Ok(CameraInfo {
                    number: r.get(0)?,
                    name: r.get(1)?,
                    town: r.get(2)?,
                    desk: r.get(3)?,
                })
            },
        )
        .map_err(|e| db_err(&db, "cannot read camera", e))?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("camera {} is not in the index", req.camera),
            )
            .with_path(&db)
        })?;
    let recs =
        retention::recordings_overlapping(index.conn(), &db, req.camera, &req.from, &req.to)?;
    if recs.is_empty() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "no recording of camera {} with a known wall-clock time covers {} .. {}",
                req.camera,
                format_utc(&req.from),
                format_utc(&req.to)
            ),
        )
        .with_path(&db));
    }
    let stem = file_stem(&req.exhibit);
    let folder = exhibit_dir(&req.out_dir, &req.exhibit);
    refuse_taken(index, req, &folder, &pending_dir(&req.out_dir, &stem))?;
    // Directories this export creates, removed again if it fails.
    let mut created: Vec<PathBuf> = req
        .out_dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(&req.out_dir)
        .map_err(|e| Error::io(e, "cannot create export directory").with_path(&req.out_dir))?;
    let work = TempDir::create(&req.out_dir, &stem).inspect_err(|_| remove_created(&created))?;
    let result = build_and_place(
        index, req, key, &camera, &recs, &stem, &folder, work, progress,
    );
    if result.is_ok() {
        created.clear();
    }
    remove_created(&created);
    result
}

/// Refuses an exhibit whose name is taken in the directory, after
/// settling what a killed export of the reference left at `pending`.
fn refuse_taken(
    index: &mut Store,
    req: &ExportRequest,
    folder: &Path,
    pending: &Path,
) -> Result<()> {
    let db = index.path().to_path_buf();
    if std::fs::symlink_metadata(pending).is_ok() {
        // A placement a kill interrupted: completed if it was logged,
        // removed if it was not, before anything else is decided.
        let tx = index
            .conn_mut()
            .write()
            .map_err(|e| db_err(&db, "cannot lock index", e))?;
        let settled = settle_pending(&tx, &db, req, folder, pending)?;
        tx.commit()
            .map_err(|e| db_err(&db, "cannot release the index", e))?;
        if let Some(seq) = settled {
            return Err(invalid(format!(
                "already exists (exhibits are never overwritten): the export logged at audit entry {seq} had been cut short before its folder was put in place, and now is"
            ))
            .with_path(folder));
        }
    }
    if std::fs::symlink_metadata(folder).is_ok() {
        let logged: bool = index
            .conn()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM audit WHERE action = 'export' AND subject = ?1)",
                args![req.exhibit.trim()],
                |r| r.get(0),
            )
            .map_err(|e| db_err(&db, "cannot read the audit trail", e))?;
        return Err(invalid(if logged {
            "already exists (exhibits are never overwritten)".to_string()
        } else {
            format!(
                "already exists, and no export of {:?} is in this index's audit trail (another index's export, or a folder put there by hand): check it, then move it away; exhibits are never overwritten",
                req.exhibit.trim()
            )
        })
        .with_path(folder));
    }
    // An exhibit written before each had a folder of its own.
    let flat = manifest_path(&req.out_dir, &req.exhibit);
    if std::fs::symlink_metadata(&flat).is_ok() {
        return Err(invalid("already exists (exhibits are never overwritten)").with_path(&flat));
    }
    Ok(())
}

/// The folder an exhibit goes into: `DIR/REF` (the reference as a file
/// name, see [`file_stem`]), holding the masters, working copies, manifest
/// and signature.
pub fn exhibit_dir(dir: &Path, exhibit: &str) -> PathBuf {
    dir.join(file_stem(exhibit))
}

fn remove_created(created: &[PathBuf]) {
    for d in created {
        // Only empty ones: anything put there since stays.
        let _ = std::fs::remove_dir(d);
    }
}

/// The exhibit being built: `DIR/.REF.obscura-tmp-PID`, removed with all
/// it holds unless renamed into place.
struct TempDir {
    path: PathBuf,
    placed: bool,
}

impl TempDir {
    fn create(dir: &Path, stem: &str) -> Result<TempDir> {
        crate::output::clean_stale_temps(dir);
        let path = dir.join(format!(".{stem}.obscura-tmp-{}", std::process::id()));
        if std::fs::symlink_metadata(&path).is_ok() {
            std::fs::remove_dir_all(&path)
                .map_err(|e| Error::io(e, "cannot clear a stale export folder").with_path(&path))?;
        }
        std::fs::create_dir(&path)
            .map_err(|e| Error::io(e, "cannot create export folder").with_path(&path))?;
        Ok(TempDir {
            path,
            placed: false,
        })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(e, "cannot flush export folder").with_path(dir))
}

/// Builds the whole exhibit in `work`, then logs it and puts it in place.
///
/// Order, so that a kill at any point leaves either nothing under the
/// exhibit's name and nothing logged, or a logged exhibit:
/// 1. the masters, working copies, manifest and signature are written and
///    flushed in `work` (a kill leaves a temporary folder that the next
///    output written there removes);
/// 2. in an `IMMEDIATE` transaction, the audit entry and holds are written
///    and `work` is renamed to `DIR/.REF.obscura-placing`, then the
///    transaction is committed (a kill before the commit leaves that folder
///    unlogged, and the next export of the reference, under the same lock,
///    removes it);
/// 3. the placing folder is renamed to `DIR/REF` (a kill before that leaves
///    a logged, complete folder, which the next export of the reference
///    puts in place after checking its manifest is the logged one).
#[allow(clippy::too_many_arguments)]
fn build_and_place(
    index: &mut Store,
    req: &ExportRequest,
    key: Option<&SecretKey>,
    camera: &CameraInfo,
    recs: &[RecordingRef],
    stem: &str,
    folder: &Path,
    mut work: TempDir,
    progress: &mut dyn FnMut(Progress),
) -> Result<Exported> {
    let db = index.path().to_path_buf();
    let dir = work.path.clone();
    let manifest_name = manifest_path(Path::new(""), &req.exhibit);
    let manifest_tmp = dir.join(&manifest_name);
    let manifest_dest = folder.join(&manifest_name);
    let sig_dest = sig_path(&manifest_dest);

    // The cuts are known only as each master is made: the total starts as
    // the frames the range covers, and ends as the frames exported.
    let estimate: u64 = recs.iter().map(|r| frames_in_range(r, req)).sum();
    let mut done = 0u64;
    let mut masters: Vec<MasterFile> = Vec::new();
    for rec in recs {
        let master = export_one(req, &dir, rec, stem, &mut |n| {
            progress(Progress {
                frames: done + n,
                total: estimate.max(done + n),
            })
        })?;
        done += master.cut.frames();
        masters.push(master);
    }
    progress(Progress {
        frames: done,
        total: done,
    });
    let mut working: Vec<WorkingCopy> = Vec::new();
    if req.working_copy {
        for m in &masters {
            working.push(working_copy(req, &dir, m)?);
        }
    }
    let manifest = Manifest::new(req, camera, masters, working);
    let manifest_sha = write_manifest(&manifest, key, &manifest_tmp, &manifest_dest)?;
    sync_dir(&dir)?;

    let pending = pending_dir(&req.out_dir, stem);
    let tx = index
        .conn_mut()
        .write()
        .map_err(|e| db_err(&db, "cannot lock index", e))?;
    // Another export of this reference may have been cut short while this
    // one was built.
    settle_pending(&tx, &db, req, folder, &pending)?;
    if std::fs::symlink_metadata(folder).is_ok() {
        return Err(invalid("already exists (exhibits are never overwritten)").with_path(folder));
    }
    let holds = if req.hold {
        retention::hold_tx(
            &tx,
            &db,
            recs,
            req.exhibit.trim(),
            &req.operator,
            &format!("evidential export: {}", req.reason.trim()),
        )?
    } else {
        Vec::new()
    };
    let manifest_at = std::fs::canonicalize(&req.out_dir)
        .map(|d| d.join(stem).join(&manifest_name))
        .unwrap_or_else(|_| manifest_dest.clone());
    let entry = export_entry(req, &manifest, manifest_at, &manifest_sha, key.is_some());
    let logged = audit::append_tx(&tx, &db, &entry)?;
    if let Some(k) = key {
        audit::sign_head_tx(&tx, &db, k)?;
    }
    std::fs::rename(&dir, &pending).map_err(|e| {
        Error::io(e, "cannot move the finished exhibit towards its place").with_path(&pending)
    })?;
    work.placed = true;
    if let Err(e) = tx
        .commit()
        .map_err(|e| db_err(&db, "cannot commit the export's audit entry", e))
    {
        // Not logged: not placed either.
        let _ = std::fs::remove_dir_all(&pending);
        return Err(e);
    }
    place(&pending, folder, &manifest_name, &manifest_sha).map_err(|e| {
        Error::new(
            e.kind(),
            format!(
                "the export is logged (audit entry {}) and complete in {}, but {e}; export the same reference again to put it in place",
                logged.seq,
                pending.display()
            ),
        )
        .with_path(folder)
    })?;
    if let Some(parent) = folder.parent() {
        let _ = sync_dir(parent);
    }
    Ok(Exported {
        manifest: manifest_dest,
        manifest_sha256: manifest_sha,
        signature: key.map(|_| sig_dest),
        masters: (manifest.masters.iter())
            .map(|m| folder.join(&m.file))
            .collect(),
        working_copies: (manifest.working_copies.iter())
            .map(|w| folder.join(&w.file))
            .collect(),
        frames: manifest.masters.iter().map(|m| m.frames.len() as u64).sum(),
        holds_placed: holds.len(),
        audit_seq: logged.seq,
    })
}

/// Where a logged exhibit waits to be renamed into place:
/// `DIR/.REF.obscura-placing`. Not a temporary name: no process id, so
/// clearing stale temporaries never removes it.
fn pending_dir(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!(".{stem}.obscura-placing"))
}

/// Renames the logged exhibit at `pending` to `folder`. Done already (by
/// another export settling it) when `folder` holds the same manifest.
fn place(pending: &Path, folder: &Path, manifest_name: &Path, manifest_sha: &str) -> Result<()> {
    if std::fs::symlink_metadata(folder).is_err() {
        if let Err(e) = std::fs::rename(pending, folder) {
            let placed = std::fs::symlink_metadata(pending).is_err()
                && hash_file(&folder.join(manifest_name)).ok().as_deref() == Some(manifest_sha);
            if !placed {
                return Err(Error::io(e, "cannot move the finished exhibit into place"));
            }
        }
        return Ok(());
    }
    let same = hash_file(&folder.join(manifest_name)).ok().as_deref() == Some(manifest_sha);
    if same && std::fs::symlink_metadata(pending).is_err() {
        return Ok(());
    }
    Err(invalid(format!(
        "{} already exists beside it",
        folder.display()
    )))
}

/// Settles the placing folder a killed export of `req`'s reference left
/// at `pending`, under the index's write lock `tx` (held by every export
/// from before it makes that folder until it is logged, so the folder is
/// never another export's work in progress). If its manifest is that of a
/// logged export of the reference, it is put in place and that entry's
/// number returned. If no export of the reference is logged, it never was
/// one, and is removed. Otherwise (the manifest changed since, or another
/// export of the reference is logged) it is refused, and left as it is.
fn settle_pending(
    tx: &crate::store::db::Tx<'_>,
    db: &Path,
    req: &ExportRequest,
    folder: &Path,
    pending: &Path,
) -> Result<Option<i64>> {
    if std::fs::symlink_metadata(pending).is_err() {
        return Ok(None);
    }
    let manifest_name = manifest_path(Path::new(""), &req.exhibit);
    let sha = hash_file(&pending.join(&manifest_name)).ok();
    let logged: Vec<(i64, String)> = tx
        .query_map(
            "SELECT seq, details FROM audit WHERE action = 'export' AND subject = ?1 ORDER BY seq",
            args![req.exhibit.trim()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| db_err(db, "cannot read the audit trail", e))?;
    let seq = sha.as_deref().and_then(|sha| {
        logged.iter().rev().find_map(|(seq, details)| {
            let d: serde_json::Value = serde_json::from_str(details).ok()?;
            (d.get("manifest_sha256")?.as_str()? == sha).then_some(*seq)
        })
    });
    match (seq, sha) {
        (Some(seq), Some(sha)) => {
            place(pending, folder, &manifest_name, &sha).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!(
                        "the export logged at audit entry {seq} was cut short before its folder was put in place, and cannot be now: {e}"
                    ),
                )
                .with_path(pending)
            })?;
            Ok(Some(seq))
        }
        _ if !logged.is_empty() => Err(invalid(format!(
            "is left from an export of {:?} cut short, but its manifest is not the one the audit trail logged for that reference: check it, then move it away",
            req.exhibit.trim()
        ))
        .with_path(pending)),
        _ => {
            std::fs::remove_dir_all(pending).map_err(|e| {
                Error::io(e, "cannot remove an export that was cut short before it was logged")
                    .with_path(pending)
            })?;
            Ok(None)
        }
    }
}

impl Manifest {
    /// The manifest of an exhibit of `req`'s range.
    fn new(
        req: &ExportRequest,
        camera: &CameraInfo,
        masters: Vec<MasterFile>,
        working_copies: Vec<WorkingCopy>,
    ) -> Manifest {
        let lib = media::library_info();
        Manifest {
            schema: MANIFEST_SCHEMA.into(),
            exhibit: req.exhibit.trim().to_string(),
            camera: camera.clone(),
            date: req.from.format("%Y-%m-%d").to_string(),
            from_utc: format_utc(&req.from),
            to_utc: format_utc(&req.to),
            operator: req.operator.trim().to_string(),
            reason: req.reason.trim().to_string(),
            created_utc: format_utc(&Utc::now()),
            tool: ToolInfo {
                name: "obscura".into(),
                version: crate::VERSION.into(),
                avcodec: lib.avcodec,
                avformat: lib.avformat,
            },
            frame_hash: FRAME_HASH.into(),
            masters,
            working_copies,
        }
    }
}

/// Writes the manifest at `tmp` (inside the exhibit being built) and, with
/// a key, its signature beside it. Returns the manifest's sha256. `dest` is
/// where it will lie once placed, for messages.
fn write_manifest(
    manifest: &Manifest,
    key: Option<&SecretKey>,
    tmp: &Path,
    dest: &Path,
) -> Result<String> {
    let bytes = serde_json::to_vec_pretty(manifest)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot serialise manifest: {e}")))?;
    let manifest_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let mf = PendingFile::new(tmp, &[])?;
    std::fs::write(mf.tmp_path(), &bytes)
        .map_err(|e| Error::io(e, "cannot write manifest").with_path(dest))?;
    mf.commit()?;
    if let Some(k) = key {
        let s = ManifestSignature {
            schema: SIGNATURE_SCHEMA.into(),
            algorithm: "ed25519".into(),
            manifest_sha256: manifest_sha.clone(),
            public_key: k.public_key().to_hex(),
            signature: k.sign(&bytes),
        };
        let sf = PendingFile::new(sig_path(tmp), &[])?;
        let text = serde_json::to_vec_pretty(&s)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot serialise signature: {e}")))?;
        std::fs::write(sf.tmp_path(), text)
            .map_err(|e| Error::io(e, "cannot write signature").with_path(sig_path(dest)))?;
        sf.commit()?;
    }
    Ok(manifest_sha)
}

/// The audit entry of an export: range, manifest and its hash, and every
/// file with its hash and source.
fn export_entry(
    req: &ExportRequest,
    manifest: &Manifest,
    manifest_at: PathBuf,
    manifest_sha: &str,
    signed: bool,
) -> NewEntry {
    NewEntry::new(
        &req.operator,
        Action::Export,
        req.exhibit.trim(),
        &req.reason,
    )
    .with_details(serde_json::json!({
        "camera": req.camera,
        "from_utc": manifest.from_utc,
        "to_utc": manifest.to_utc,
        "manifest": manifest_at,
        "manifest_sha256": manifest_sha,
        "signed": signed,
        "masters": manifest.masters.iter().map(|m| serde_json::json!({
            "file": m.file, "sha256": m.sha256, "frames": m.frames.len(),
            "source": m.source.path, "source_sha256": m.source.sha256,
        })).collect::<Vec<_>>(),
        "working_copies": manifest.working_copies.iter().map(|w| serde_json::json!({
            "file": w.file, "sha256": w.sha256,
        })).collect::<Vec<_>>(),
    }))
}

/// About how many of `rec`'s frames the range covers (its frames spread
/// evenly over its wall-clock span), for progress before the cut is made.
fn frames_in_range(rec: &RecordingRef, req: &ExportRequest) -> u64 {
    let span = rec
        .start_utc
        .as_deref()
        .and_then(crate::clock::parse_utc)
        .zip(rec.end_utc.as_deref().and_then(crate::clock::parse_utc));
    let Some((start, end)) = span else {
        return rec.frames;
    };
    let len = (end - start).num_milliseconds();
    let covered = (end.min(req.to) - start.max(req.from)).num_milliseconds();
    if len <= 0 {
        return rec.frames;
    }
    let share = covered.clamp(0, len) as f64 / len as f64;
    (rec.frames as f64 * share).ceil() as u64
}

/// Copies the part of `rec` in the range, checks it against the source
/// frame by frame, and hashes it.
fn export_one(
    req: &ExportRequest,
    dir: &Path,
    rec: &RecordingRef,
    stem: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<MasterFile> {
    let src = PathBuf::from(&rec.path);
    let sha = hash_file(&src).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Error::new(ErrorKind::NotFound, "indexed recording is missing").with_path(&src)
        } else {
            e
        }
    })?;
    if sha != rec.sha256 {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "sha256 {sha} is not the {} it was indexed with: the recording changed since, not exported",
                rec.sha256
            ),
        )
        .with_path(&src));
    }
    let start = rec
        .start_utc
        .as_deref()
        .and_then(crate::clock::parse_utc)
        .ok_or_else(|| {
            Error::new(ErrorKind::Database, "recording has no start time").with_path(&src)
        })?;
    let info = media::probe(&src)?;
    let secs = |t: &DateTime<Utc>| (*t - start).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    let from_s = secs(&req.from).max(0.0);
    let to_s = secs(&req.to).min(info.duration_s);
    let ext = src
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                "recording has no file extension: cannot tell its container format",
            )
            .with_path(&src)
        })?;
    // Plan first (cheaply, inside copy_range) for the name: the master is
    // named after the wall-clock time of its first frame.
    let tmp_name = dir.join(format!("{stem}_cam{}_pending.{ext}", req.camera));
    let pending = PendingFile::new(&tmp_name, &[&src])?;
    let remuxed = media::copy_range(&info, from_s, to_s, &pending)?;
    let cut = remuxed.cut.clone();
    let master_start = at(&start, cut.start_s);
    let name = format!(
        "{stem}_cam{}_{}.{ext}",
        req.camera,
        master_start.format("%Y%m%dT%H%M%S%.3fZ")
    );
    let dest = dir.join(&name);
    if dest.exists() {
        return Err(invalid("already exists (exhibits are never overwritten)").with_path(&dest));
    }
    let final_pending = PendingFile::new(&dest, &[&src])?;
    std::fs::rename(pending.tmp_path(), final_pending.tmp_path())
        .map_err(|e| Error::io(e, "cannot rename master").with_path(&dest))?;
    drop(pending);

    let frames = master_frame_hashes(
        req,
        &info,
        &cut,
        final_pending.tmp_path(),
        &dest,
        &start,
        progress,
    )?;
    progress(cut.frames());
    let master = MasterFile {
        file: name,
        sha256: hash_file(final_pending.tmp_path())?,
        bytes: file_len(final_pending.tmp_path())?,
        container: remuxed.container,
        codec: info.codec.clone(),
        width: info.width,
        height: info.height,
        source: SourceRef {
            path: rec.path.clone(),
            sha256: sha,
            start_utc: format_utc(&start),
            frames: info.frames,
        },
        start_utc: format_utc(&master_start),
        end_utc: format_utc(&at(&start, cut.end_s)),
        cut,
        audio_packets: remuxed.audio_packets,
        frames,
    };
    final_pending.commit()?;
    Ok(master)
}

/// Decodes the master at `master` beside the source frames it was cut from
/// and hashes each frame, refusing any difference. `dest` is the master's
/// final name, for messages.
fn master_frame_hashes(
    req: &ExportRequest,
    info: &media::VideoInfo,
    cut: &media::Cut,
    master: &Path,
    dest: &Path,
    start: &DateTime<Utc>,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<FrameHash>> {
    let (_, master_frames) = media::open(master, &req.decode)?;
    let key = info
        .keyframes
        .iter()
        .find(|k| k.index == cut.first_frame)
        .copied();
    let source_frames: Box<dyn Iterator<Item = Result<media::DecodedFrame>>> = match key {
        Some(k) => Box::new(Decoder::open_from(info, &k, 0)?),
        None => Box::new(Decoder::open(&info.path, 0)?),
    };
    let mut source_frames = source_frames
        .filter(|f| f.as_ref().map_or(true, |f| f.index() >= cut.first_frame))
        .take(cut.frames() as usize);
    let mut frames = Vec::with_capacity(cut.frames() as usize);
    for (i, m) in master_frames.enumerate() {
        let m = m.map_err(|e| e.with_path(dest))?;
        let s = match source_frames.next() {
            Some(s) => s?,
            None => {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!(
                        "master has more frames than the {} source frames {}..{}",
                        cut.frames(),
                        cut.first_frame,
                        cut.end_frame
                    ),
                )
                .with_path(dest))
            }
        };
        let (mh, sh) = (m.view().sha256_hex(), s.view().sha256_hex());
        if mh != sh {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "master frame {i} does not match source frame {} (stream copy not faithful): not exported",
                    s.index()
                ),
            )
            .with_path(dest));
        }
        frames.push(FrameHash {
            index: i as u64,
            source_index: s.index(),
            utc: format_utc(&at(start, s.time())),
            sha256: mh,
        });
        if i % 16 == 0 {
            progress(i as u64);
        }
    }
    if frames.len() as u64 != cut.frames() {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "master decodes to {} frames, expected the {} source frames {}..{}",
                frames.len(),
                cut.frames(),
                cut.first_frame,
                cut.end_frame
            ),
        )
        .with_path(dest));
    }
    Ok(frames)
}

/// H.264 MP4 of a master with the wall-clock time of each frame burned in
/// at the top left.
fn working_copy(req: &ExportRequest, dir: &Path, m: &MasterFile) -> Result<WorkingCopy> {
    let stem = Path::new(&m.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = format!("{stem}.working.mp4");
    let dest = dir.join(&name);
    let master = dir.join(&m.file);
    if dest.exists() {
        return Err(invalid("already exists (exhibits are never overwritten)").with_path(&dest));
    }
    let opts = PipelineOptions {
        decode: req.decode.clone(),
        encode: EncodeOptions {
            audio: AudioPolicy::Drop,
            ..EncodeOptions::default()
        },
    };
    let summary = crate::pipeline::run(&master, &dest, &opts, &mut |_| {}, |view, fi| {
        let text = m
            .frames
            .get(fi.index as usize)
            .map(|f| f.utc.replace('T', " ").replace('Z', " UTC"))
            .unwrap_or_default();
        crate::frame::draw::burn_text(view, &text)
    })?;
    let w = WorkingCopy {
        file: name,
        sha256: hash_file(&dest)?,
        bytes: file_len(&dest)?,
        master: m.file.clone(),
        frames: summary.frames_out,
        note: "H.264 re-encode of the master for viewing; wall-clock time (UTC) burned in at the top left; not the evidential master".into(),
    };
    Ok(w)
}

/// Where the detached signature of a manifest goes.
pub fn sig_path(manifest: &Path) -> PathBuf {
    let mut name = manifest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".sig");
    manifest.with_file_name(name)
}

/// Reads a manifest.
///
/// # Errors
/// `NotFound`/`Io` if unreadable; `InvalidArgument` if it is not an
/// exhibit manifest of a supported schema.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let text =
        std::fs::read(path).map_err(|e| Error::io(e, "cannot read manifest").with_path(path))?;
    let m: Manifest = serde_json::from_slice(&text).map_err(|e| {
        invalid(format!("not an exhibit manifest ({MANIFEST_SCHEMA}): {e}")).with_path(path)
    })?;
    if m.schema != MANIFEST_SCHEMA {
        return Err(invalid(format!(
            "manifest schema {} is not supported (expected {MANIFEST_SCHEMA})",
            m.schema
        ))
        .with_path(path));
    }
    Ok(m)
}

/// A frame that does not check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadFrame {
    /// Frame number in the master.
    pub index: u64,
    /// Frame number in the source, when the manifest lists the frame.
    pub source_index: Option<u64>,
    /// Its wall-clock time, when listed.
    pub utc: Option<String>,
    /// Hash in the manifest (None: a frame the manifest does not list).
    pub expected: Option<String>,
    /// Hash decoded now (None: the frame is missing).
    pub actual: Option<String>,
}

/// The check of one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileCheck {
    /// File name from the manifest.
    pub file: String,
    /// `master` or `working_copy`.
    pub role: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// Whether it exists.
    pub exists: bool,
    /// sha256 recorded.
    pub expected_sha256: String,
    /// sha256 now.
    pub actual_sha256: Option<String>,
    /// For masters: frames listed.
    pub frames_expected: Option<u64>,
    /// For masters: frames decoded now.
    pub frames_decoded: Option<u64>,
    /// For masters: frames whose hash matches.
    pub frames_ok: Option<u64>,
    /// For masters: frames that do not (at most 1000 listed).
    pub bad_frames: Vec<BadFrame>,
    /// Bad frames in all.
    pub bad_frame_count: u64,
    /// A decode error, if decoding stopped.
    pub error: Option<String>,
}

/// The signature's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureStatus {
    /// Whether it holds.
    pub ok: bool,
    /// Whether it was checked against a public key given by the verifier.
    pub key_checked: bool,
    /// The key in the signature file.
    pub public_key: Option<String>,
    /// In words.
    pub message: String,
}

/// The result of verifying an exhibit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// The manifest.
    pub manifest: PathBuf,
    /// Exhibit reference.
    pub exhibit: String,
    /// Whether everything passed.
    pub ok: bool,
    /// The signature, if one exists or a key was given.
    pub signature: Option<SignatureStatus>,
    /// Per file.
    pub files: Vec<FileCheck>,
    /// The first bad frame of the first failing master, in words.
    pub first_bad_frame: Option<String>,
    /// Files in the exhibit folder that no manifest there lists (the
    /// exhibit holds more than what was exported): a failure.
    pub extra_files: Vec<String>,
    /// What else fails, in words (a manifest with no master, extra files).
    pub problems: Vec<String>,
}

const MAX_LISTED: usize = 1000;

/// Re-hashes every file of the exhibit described by the manifest at
/// `path`, and every frame of each master; checks the detached signature
/// if there is one (against `public_key` when given; with a key given, a
/// missing signature fails).
///
/// # Errors
/// Only when the manifest itself cannot be read (a failing exhibit is a
/// report, not an error).
pub fn verify_manifest(
    path: &Path,
    public_key: Option<&PublicKey>,
    decode: &DecodeOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<VerifyReport> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(invalid(
                "the manifest is not a regular file (a directory, FIFO or device): refused",
            )
            .with_path(path))
        }
        _ => {}
    }
    let m = read_manifest(path)?;
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(e, "cannot read manifest").with_path(path))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let sig = check_manifest_signature(path, &bytes, public_key);
    let total: u64 = m.masters.iter().map(|f| f.frames.len() as u64).sum();
    let mut done = 0u64;
    let mut files = Vec::new();
    for f in &m.masters {
        let mut check = check_file(&dir, &f.file, &f.sha256, "master");
        if check.exists {
            check_frames(&dir.join(&f.file), f, decode, &mut check, &mut |n| {
                progress(Progress {
                    frames: done + n,
                    total,
                })
            });
        }
        done += f.frames.len() as u64;
        check.ok = check.exists
            && check.actual_sha256.as_deref() == Some(f.sha256.as_str())
            && check.bad_frame_count == 0
            && check.error.is_none();
        files.push(check);
    }
    for w in &m.working_copies {
        let mut check = check_file(&dir, &w.file, &w.sha256, "working_copy");
        check.ok = check.exists && check.actual_sha256.as_deref() == Some(w.sha256.as_str());
        files.push(check);
    }
    let first_bad_frame = files.iter().find_map(|f| {
        f.bad_frames.first().map(|b| {
            format!(
                "{}: frame {}{}{}: {}",
                f.file,
                b.index,
                b.source_index
                    .map(|s| format!(" (source frame {s})"))
                    .unwrap_or_default(),
                b.utc
                    .as_deref()
                    .map(|u| format!(" at {u}"))
                    .unwrap_or_default(),
                match (&b.expected, &b.actual) {
                    (Some(_), Some(_)) => "differs",
                    (Some(_), None) => "missing",
                    _ => "not in the manifest",
                }
            )
        })
    });
    let mut problems = Vec::new();
    if m.masters.is_empty() {
        problems.push("the manifest lists no master file: nothing is proved".to_string());
    }
    let extra_files = unlisted_files(&dir, path, &m);
    if !extra_files.is_empty() {
        problems.push(format!(
            "{} file(s) in the exhibit folder that the manifest does not list: {}",
            extra_files.len(),
            extra_files.join(", ")
        ));
    }
    let ok = files.iter().all(|f| f.ok) && sig.as_ref().is_none_or(|s| s.ok) && problems.is_empty();
    Ok(VerifyReport {
        manifest: path.to_path_buf(),
        exhibit: m.exhibit,
        ok,
        signature: sig,
        files,
        first_bad_frame,
        extra_files,
        problems,
    })
}

/// Entries of the exhibit folder that neither this manifest (with its
/// signature) nor another exhibit manifest beside it (exhibits written
/// before each had a folder of its own) lists, sorted.
fn unlisted_files(dir: &Path, manifest: &Path, m: &Manifest) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return Vec::new();
    };
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut listed: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut list = |mf: &Manifest, p: &Path| {
        for f in mf.masters.iter().map(|f| &f.file) {
            listed.insert(f.clone());
        }
        for f in mf.working_copies.iter().map(|f| &f.file) {
            listed.insert(f.clone());
        }
        if let Some(n) = p.file_name() {
            listed.insert(n.to_string_lossy().into_owned());
        }
        if let Some(n) = sig_path(p).file_name() {
            listed.insert(n.to_string_lossy().into_owned());
        }
    };
    list(m, manifest);
    for n in &names {
        let p = dir.join(n);
        if n.ends_with(".manifest.json") && Some(std::ffi::OsStr::new(n)) != manifest.file_name() {
            let regular = std::fs::symlink_metadata(&p).is_ok_and(|t| t.file_type().is_file());
            if let (true, Ok(other)) = (regular, read_manifest(&p)) {
                list(&other, &p);
            }
        }
    }
    let mut extra: Vec<String> = names.into_iter().filter(|n| !listed.contains(n)).collect();
    extra.sort();
    extra
}

fn check_manifest_signature(
    path: &Path,
    bytes: &[u8],
    public_key: Option<&PublicKey>,
) -> Option<SignatureStatus> {
    let sp = sig_path(path);
    let status = |ok, key_checked, public_key, message: String| {
        Some(SignatureStatus {
            ok,
            key_checked,
            public_key,
            message,
        })
    };
    if let Ok(meta) = std::fs::symlink_metadata(&sp) {
        if !meta.file_type().is_file() {
            return status(
                false,
                public_key.is_some(),
                None,
                format!("{} is not a regular file: refused", sp.display()),
            );
        }
    }
    let text = match std::fs::read(&sp) {
        Ok(t) => t,
        Err(_) if public_key.is_some() => {
            return status(
                false,
                true,
                None,
                format!(
                    "no signature ({}) to check the public key against",
                    sp.display()
                ),
            )
        }
        Err(_) => return None,
    };
    let s: ManifestSignature = match serde_json::from_slice(&text) {
        Ok(s) => s,
        Err(e) => {
            return status(
                false,
                public_key.is_some(),
                None,
                format!("unreadable signature file: {e}"),
            )
        }
    };
    let stored = PublicKey::from_hex(&s.public_key).ok();
    let (key, key_checked) = match public_key {
        Some(k) => (Some(k.clone()), true),
        None => (stored, false),
    };
    let Some(key) = key else {
        return status(
            false,
            false,
            Some(s.public_key),
            "signature has an invalid public key".into(),
        );
    };
    if key.verify(bytes, &s.signature) {
        status(
            true,
            key_checked,
            Some(s.public_key),
            if key_checked {
                "manifest signed with the given key".into()
            } else {
                "signature consistent with the key stored beside it (give the public key to check who signed)".into()
            },
        )
    } else {
        status(
            false,
            key_checked,
            Some(s.public_key),
            if key_checked {
                "signature does not verify with the given public key (wrong key, or the manifest changed)".into()
            } else {
                "signature does not verify: the manifest changed after signing".into()
            },
        )
    }
}

fn check_file(dir: &Path, file: &str, expected: &str, role: &'static str) -> FileCheck {
    // Files are named relative to the manifest; refuse to wander off.
    let name_ok = Path::new(file)
        .file_name()
        .is_some_and(|n| n == std::ffi::OsStr::new(file));
    let p = dir.join(file);
    let (actual, refused) = if name_ok {
        use crate::hash::{FileKind, OpenRegularError};
        match crate::hash::regular_file_sha256(&p) {
            Ok(h) => (Some(h), None),
            Err(OpenRegularError::Kind(FileKind::Missing)) => (None, None),
            Err(e) => (None, Some(e.describe())),
        }
    } else {
        (
            None,
            Some("file name is not a plain name next to the manifest".into()),
        )
    };
    FileCheck {
        file: file.to_string(),
        role,
        ok: false,
        exists: actual.is_some(),
        expected_sha256: expected.to_string(),
        actual_sha256: actual,
        frames_expected: None,
        frames_decoded: None,
        frames_ok: None,
        bad_frames: Vec::new(),
        bad_frame_count: 0,
        error: refused,
    }
}

fn check_frames(
    path: &Path,
    m: &MasterFile,
    decode: &DecodeOptions,
    check: &mut FileCheck,
    progress: &mut dyn FnMut(u64),
) {
    check.frames_expected = Some(m.frames.len() as u64);
    let mut decoded = 0u64;
    let mut matching = 0u64;
    let bad = |check: &mut FileCheck, b: BadFrame| {
        check.bad_frame_count += 1;
        if check.bad_frames.len() < MAX_LISTED {
            check.bad_frames.push(b);
        }
    };
    match media::open(path, decode) {
        Err(e) => check.error = Some(e.to_string()),
        Ok((_, frames)) => {
            for f in frames {
                let f = match f {
                    Ok(f) => f,
                    Err(e) => {
                        check.error = Some(e.to_string());
                        break;
                    }
                };
                let actual = f.view().sha256_hex();
                match m.frames.get(decoded as usize) {
                    Some(exp) if exp.sha256 == actual => matching += 1,
                    Some(exp) => bad(
                        check,
                        BadFrame {
                            index: decoded,
                            source_index: Some(exp.source_index),
                            utc: Some(exp.utc.clone()),
                            expected: Some(exp.sha256.clone()),
                            actual: Some(actual),
                        },
                    ),
                    None => bad(
                        check,
                        BadFrame {
                            index: decoded,
                            source_index: None,
                            utc: None,
                            expected: None,
                            actual: Some(actual),
                        },
                    ),
                }
                decoded += 1;
                if decoded % 16 == 0 {
                    progress(decoded);
                }
            }
        }
    }
    for (i, exp) in m.frames.iter().enumerate().skip(decoded as usize) {
        bad(
            check,
            BadFrame {
                index: i as u64,
                source_index: Some(exp.source_index),
                utc: Some(exp.utc.clone()),
                expected: Some(exp.sha256.clone()),
                actual: None,
            },
        );
    }
    check.frames_decoded = Some(decoded);
    check.frames_ok = Some(matching);
}
