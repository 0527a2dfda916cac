//! The incident index: an embedded SQLite database of cameras, recordings
//! and their motion incidents, with queries and monthly reports.
//!
//! ## Tables
//! - `cameras`: number, name, town, desk (from the camera profile);
//! - `recordings`: path, camera, wall-clock start and end (and where the
//!   start came from), duration, frames, sha256, the timestamp jumps found
//!   inside the file;
//! - `incidents`: one row per motion event, with media and wall-clock
//!   times, peak, bounding box, 16x16 heatmap and a JPEG thumbnail;
//! - `audit`, `audit_signatures`, `holds` (schema 2): the evidence trail,
//!   see [`crate::evidence::audit`] and [`crate::evidence::retention`].
//!
//! ## Guarantees
//! - The schema is versioned (`PRAGMA user_version`) and migrated forward
//!   when a database is opened; a database from a newer Obscura is refused.
//! - Storing one recording is one transaction: a crash leaves either the
//!   old rows or the new ones. Storing a recording again (same content
//!   hash, or same path) replaces it, so re-indexing is idempotent.
//! - Several processes can index into one database at once: WAL journal,
//!   `BEGIN IMMEDIATE` transactions and a busy timeout.
//! - Wall-clock times are stored as UTC text `YYYY-MM-DDTHH:MM:SS.sssZ`,
//!   so they sort and compare as strings; unknown times are `NULL`.

use crate::clock::{format_utc, parse_utc};
use crate::error::{Error, ErrorKind, Result};
use crate::mask::camera::CameraProfile;
use crate::motion::{MotionAnalysis, TimestampGap};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Schema migrations, in order; the database's `user_version` is the number
/// applied.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE cameras (
        number INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        town TEXT NOT NULL,
        desk TEXT NOT NULL
    );
    CREATE TABLE recordings (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        camera INTEGER NOT NULL REFERENCES cameras(number),
        start_utc TEXT,
        end_utc TEXT,
        time_source TEXT NOT NULL,
        duration_s REAL NOT NULL,
        frames INTEGER NOT NULL,
        fps REAL NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        sha256 TEXT NOT NULL UNIQUE,
        gaps TEXT NOT NULL,
        recalibrations INTEGER NOT NULL,
        indexed_at TEXT NOT NULL,
        obscura_version TEXT NOT NULL
    );
    CREATE INDEX recordings_camera_start ON recordings(camera, start_utc);
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        recording INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        camera INTEGER NOT NULL REFERENCES cameras(number),
        start_frame INTEGER NOT NULL,
        end_frame INTEGER NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        start_utc TEXT,
        end_utc TEXT,
        peak_score REAL NOT NULL,
        peak_s REAL NOT NULL,
        bbox_x0 INTEGER NOT NULL,
        bbox_y0 INTEGER NOT NULL,
        bbox_x1 INTEGER NOT NULL,
        bbox_y1 INTEGER NOT NULL,
        heatmap BLOB NOT NULL,
        thumbnail BLOB
    );
    CREATE INDEX incidents_camera_start ON incidents(camera, start_utc);
    CREATE INDEX incidents_recording ON incidents(recording);",
    // 2: evidence integrity. The hash-chained audit trail (append-only:
    // triggers refuse UPDATE and DELETE, and the chain shows any change made
    // around them), signatures of its head, and evidential holds (by content
    // hash, so re-indexing a held recording keeps it held).
    "CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        utc TEXT NOT NULL,
        operator TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        reason TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        entry_hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TABLE audit_signatures (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        head_hash TEXT NOT NULL,
        utc TEXT NOT NULL,
        public_key TEXT NOT NULL,
        signature TEXT NOT NULL
    );
    CREATE TABLE holds (
        id INTEGER PRIMARY KEY,
        reference TEXT NOT NULL,
        recording_sha256 TEXT NOT NULL,
        path TEXT NOT NULL,
        camera INTEGER NOT NULL,
        placed_utc TEXT NOT NULL,
        placed_by TEXT NOT NULL,
        reason TEXT NOT NULL,
        released_utc TEXT,
        released_by TEXT,
        release_reason TEXT,
        UNIQUE (reference, recording_sha256)
    );
    CREATE INDEX holds_recording ON holds(recording_sha256);",
    // 3: evidence hardening. Signatures are append-only too and chained
    // (each records the hash of the one before it, and entries appended
    // after a signature name it in `sig_ref`, so deleting one breaks a
    // link); file deletions by the retention policy are two-phase
    // (`retention_pending` holds the logged intents not yet completed); a
    // recording that decoded to fewer frames than its file declares is
    // marked `damaged`.
    "ALTER TABLE audit ADD COLUMN sig_ref TEXT;
    ALTER TABLE audit_signatures ADD COLUMN prev_sig_hash TEXT;
    ALTER TABLE audit_signatures ADD COLUMN sig_hash TEXT;
    CREATE TRIGGER audit_signatures_no_update BEFORE UPDATE ON audit_signatures
        BEGIN SELECT RAISE(ABORT, 'audit signatures are append-only'); END;
    CREATE TRIGGER audit_signatures_no_delete BEFORE DELETE ON audit_signatures
        BEGIN SELECT RAISE(ABORT, 'audit signatures are append-only'); END;
    CREATE TABLE retention_pending (
        sha256 TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        intent_seq INTEGER NOT NULL
    );
    ALTER TABLE recordings ADD COLUMN damaged TEXT;
    ALTER TABLE recordings ADD COLUMN expected_frames INTEGER;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) fn db_err(path: &Path, what: &str, e: rusqlite::Error) -> Error {
    Error::new(ErrorKind::Database, format!("{what}: {e}")).with_path(path)
}

/// Switches `conn` to WAL. Changing the journal mode takes an exclusive
/// lock and SQLite does not call the busy handler for it, so when another
/// process holds the database (two indexers creating it at once) this
/// retries for as long as the busy timeout would have waited.
fn set_wal(conn: &Connection, path: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mode =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0));
        match mode {
            Ok(m) if m.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(m) => {
                return Err(Error::new(
                    ErrorKind::Database,
                    format!("cannot use WAL (journal mode stays {m})"),
                )
                .with_path(path))
            }
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(db_err(path, "not an index database (cannot use WAL)", e)),
        }
    }
}

/// A camera as the index knows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CameraInfo {
    /// Number.
    pub number: u32,
    /// Name.
    pub name: String,
    /// Town.
    pub town: String,
    /// Desk.
    pub desk: String,
}

/// The columns of an [`IncidentRow`], read by [`incident_row`].
const INCIDENT_SELECT: &str =
    "SELECT i.id, i.camera, c.name, c.town, c.desk, r.path, i.start_utc, i.end_utc,
            i.start_s, i.end_s, i.start_frame, i.end_frame, i.peak_score, i.peak_s,
            i.bbox_x0, i.bbox_y0, i.bbox_x1, i.bbox_y1, length(i.thumbnail)
     FROM incidents i JOIN cameras c ON c.number = i.camera
          JOIN recordings r ON r.id = i.recording";

fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
    Ok(IncidentRow {
        id: r.get(0)?,
        camera: r.get(1)?,
        camera_name: r.get(2)?,
        town: r.get(3)?,
        desk: r.get(4)?,
        recording: r.get(5)?,
        start_utc: r.get(6)?,
        end_utc: r.get(7)?,
        start_s: r.get(8)?,
        end_s: r.get(9)?,
        start_frame: r.get::<_, i64>(10)?.max(0) as u64,
        end_frame: r.get::<_, i64>(11)?.max(0) as u64,
        peak_score: r.get(12)?,
        peak_s: r.get(13)?,
        bbox: [r.get(14)?, r.get(15)?, r.get(16)?, r.get(17)?],
        thumbnail_bytes: r.get::<_, Option<i64>>(18)?.unwrap_or(0).max(0) as usize,
    })
}

/// An open incident index.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What storing a recording did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stored {
    /// The recording's row id.
    pub recording: i64,
    /// Whether an earlier index of the same recording was replaced.
    pub replaced: bool,
    /// Incidents stored.
    pub incidents: usize,
    /// The path of an earlier index of the same content (same sha256)
    /// under another name, which this one replaced.
    pub duplicate_of: Option<String>,
}

/// Which incidents to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    /// Only this camera.
    pub camera: Option<u32>,
    /// Only cameras in this town (matched as users type it: case and
    /// surrounding spaces do not matter; ASCII letters only, SQLite NOCASE).
    pub town: Option<String>,
    /// Only cameras at this desk (matched as `town` is).
    pub desk: Option<String>,
    /// Incidents starting at or after this time (undated ones excluded).
    pub from: Option<DateTime<Utc>>,
    /// Incidents starting before this time (undated ones excluded).
    pub to: Option<DateTime<Utc>>,
}

/// One incident as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRow {
    /// Row id.
    pub id: i64,
    /// Camera number.
    pub camera: u32,
    /// Camera name.
    pub camera_name: String,
    /// Town.
    pub town: String,
    /// Desk.
    pub desk: String,
    /// Recording file.
    pub recording: String,
    /// Start, wall-clock UTC (None when the recording's time is unknown).
    pub start_utc: Option<String>,
    /// End, wall-clock UTC.
    pub end_utc: Option<String>,
    /// Start, media seconds.
    pub start_s: f64,
    /// End, media seconds.
    pub end_s: f64,
    /// First frame.
    pub start_frame: u64,
    /// Last frame, inclusive.
    pub end_frame: u64,
    /// Highest score.
    pub peak_score: f64,
    /// Media seconds of the peak.
    pub peak_s: f64,
    /// Bounding box, video pixels `[x0, y0, x1, y1]`.
    pub bbox: [u32; 4],
    /// Size of the JPEG thumbnail in bytes (0 = none).
    pub thumbnail_bytes: usize,
}

/// The pictures of one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentImages {
    /// Activity per cell of a 16x16 grid, row-major, 255 = busiest.
    pub heatmap: Vec<u8>,
    /// JPEG at the peak, when thumbnails were made.
    pub thumbnail: Option<Vec<u8>>,
}

impl IncidentImages {
    /// The heatmap as its grid: rows by columns over the picture.
    ///
    /// # Errors
    /// `Corrupt` when the stored heatmap does not hold a whole grid.
    pub fn heatmap_grid(&self) -> Result<ndarray::Array2<u8>> {
        let side = crate::motion::HEATMAP_SIZE;
        ndarray::Array2::from_shape_vec((side, side), self.heatmap.clone()).map_err(|_| {
            Error::new(
                ErrorKind::Corrupt,
                format!(
                    "incident heatmap holds {} cells, not {side}x{side}",
                    self.heatmap.len()
                ),
            )
        })
    }
}

/// One recording as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingRow {
    /// Row id.
    pub id: i64,
    /// File.
    pub path: String,
    /// Camera number.
    pub camera: u32,
    /// Wall-clock start.
    pub start_utc: Option<String>,
    /// Wall-clock end.
    pub end_utc: Option<String>,
    /// Where the start came from.
    pub time_source: String,
    /// Duration, seconds.
    pub duration_s: f64,
    /// Frames.
    pub frames: u64,
    /// sha256 of the file.
    pub sha256: String,
    /// Timestamp jumps inside the file.
    pub gaps: Vec<TimestampGap>,
    /// Set when the file decoded to fewer frames than it declares
    /// (truncated or damaged): what is missing, in words.
    pub damaged: Option<String>,
    /// Frames the file declares, when it is damaged.
    pub expected_frames: Option<u64>,
}

/// A fault: footage that is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    /// Camera number.
    pub camera: u32,
    /// `gap_between_recordings`, `overlapping_recordings`, `timestamp_jump`
    /// or `damaged_recording` (fewer frames than the file declares).
    pub kind: &'static str,
    /// The recording the fault follows (or lies in).
    pub recording: String,
    /// The next recording, for faults between recordings.
    pub next_recording: Option<String>,
    /// Start of the missing stretch, wall-clock UTC when known.
    pub from_utc: Option<String>,
    /// Media seconds into `recording`, for jumps inside a file.
    pub at_s: Option<f64>,
    /// Missing seconds (negative for an overlap).
    pub seconds: f64,
}

/// How a report groups incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Per camera.
    Camera,
    /// Per town.
    Town,
    /// Per desk.
    Desk,
}

impl std::str::FromStr for GroupBy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "camera" => Ok(GroupBy::Camera),
            "town" => Ok(GroupBy::Town),
            "desk" => Ok(GroupBy::Desk),
            other => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid grouping {other:?} (expected camera, town or desk)"),
            )),
        }
    }
}

/// What a report sets beside its month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Comparison {
    /// The month alone.
    #[default]
    None,
    /// The month before, group by group.
    Previous,
}

impl Comparison {
    /// Whether the previous month is wanted.
    pub fn previous(self) -> bool {
        self == Comparison::Previous
    }
}

impl std::str::FromStr for Comparison {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "previous" => Ok(Comparison::Previous),
            "none" => Ok(Comparison::None),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid comparison period {s:?} (expected previous or none)"),
            )),
        }
    }
}

/// A calendar month, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// Month, 1..=12.
    pub month: u32,
}

impl std::str::FromStr for Month {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid month {s:?} (expected YYYY-MM, e.g. 2026-11)"),
            )
        };
        let (y, m) = s.trim().split_once('-').ok_or_else(invalid)?;
        let year: i32 = y.parse().map_err(|_| invalid())?;
        let month: u32 = m.parse().map_err(|_| invalid())?;
        if !(1..=12).contains(&month) || !(1970..=9999).contains(&year) {
            return Err(invalid());
        }
        Ok(Month { year, month })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Month {
    /// First instant of the month.
    pub fn start(&self) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .unwrap_or_default()
    }

    /// The month after.
    pub fn next(&self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The month before.
    pub fn previous(&self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The month containing `t`.
    pub fn of(t: &DateTime<Utc>) -> Month {
        Month {
            year: t.year(),
            month: t.month(),
        }
    }
}

/// Figures of one group in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// The group: camera number, town or desk.
    pub group: String,
    /// Camera name(s) in the group.
    pub cameras: Vec<String>,
    /// Incidents starting in the month.
    pub incidents: u64,
    /// Minutes covered by those incidents.
    pub active_minutes: f64,
    /// Incidents in the previous month, when compared.
    pub previous_incidents: Option<u64>,
    /// Active minutes in the previous month, when compared.
    pub previous_active_minutes: Option<f64>,
    /// Change in incidents against the previous month.
    pub change: Option<i64>,
    /// Change in percent (None when the previous month had none).
    pub change_pct: Option<f64>,
}

/// A monthly report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The month.
    pub month: String,
    /// The grouping.
    pub by: GroupBy,
    /// The previous month, when compared.
    pub compared_with: Option<String>,
    /// One row per group, every known camera's group included.
    pub rows: Vec<ReportRow>,
    /// Sum of the rows' incidents.
    pub total_incidents: u64,
    /// Sum of the rows' active minutes.
    pub total_active_minutes: f64,
    /// Incidents in recordings with no known wall-clock time (in no month).
    pub undated_incidents: u64,
}

impl Store {
    /// Opens (creating if needed) the index at `path`, in WAL mode with a
    /// busy timeout, migrating its schema to [`SCHEMA_VERSION`].
    ///
    /// # Errors
    /// `Database` if the file is not an SQLite database, cannot be opened or
    /// migrated, or was made by a newer Obscura.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if std::fs::symlink_metadata(&path).is_err() {
            Self::create(&path)?;
        }
        let conn = Connection::open(&path).map_err(|e| db_err(&path, "cannot open index", e))?;
        conn.busy_timeout(Duration::from_secs(120))
            .map_err(|e| db_err(&path, "cannot set busy timeout", e))?;
        set_wal(&conn, &path)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| db_err(&path, "cannot enable foreign keys", e))?;
        let mut index = Store { conn, path };
        index.migrate()?;
        Ok(index)
    }

    /// Creates a new index whole: its schema is written under a temporary
    /// name, which is then moved into place, so a process killed while
    /// creating one never leaves an empty database under the final name.
    /// Another process creating the same index at once is no error.
    fn create(path: &Path) -> Result<()> {
        let pending = match crate::output::PendingFile::new(path, &[]) {
            Ok(p) => p,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(e),
        };
        {
            let tmp = pending.tmp_path().to_path_buf();
            let conn =
                Connection::open(&tmp).map_err(|e| db_err(path, "cannot create index", e))?;
            set_wal(&conn, path)?;
            let mut index = Store { conn, path: tmp };
            index.migrate()?;
        }
        match pending.commit() {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// Opens an existing index read-only, for commands that only read: no
    /// migration, no pragma that writes, no change of journal mode, so the
    /// file's bytes stay as they are and it works on read-only media (where
    /// SQLite cannot create the WAL index beside it, the file is opened as
    /// immutable).
    ///
    /// # Errors
    /// `NotFound` if there is no file at `path`; `Database` if it is not an
    /// index, was made by a newer Obscura, or has an older schema (it must
    /// be opened once by a command that writes, which upgrades it).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(Error::new(
                ErrorKind::NotFound,
                "no index database here (indexing recordings creates one)",
            )
            .with_path(&path));
        }
        let open = |immutable: bool| -> rusqlite::Result<Connection> {
            use rusqlite::OpenFlags;
            let mut uri = String::from("file:");
            for b in path.to_string_lossy().bytes() {
                match b {
                    b'?' | b'#' | b'%' => uri.push_str(&format!("%{b:02X}")),
                    _ => uri.push(char::from(b)),
                }
            }
            uri.push_str(if immutable {
                "?mode=ro&immutable=1"
            } else {
                "?mode=ro"
            });
            let conn = Connection::open_with_flags(
                &uri,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::from_secs(120))?;
            // The first read is where a WAL database on read-only media
            // fails (its -shm cannot be made).
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })?;
            Ok(conn)
        };
        let conn = match open(false) {
            Ok(c) => c,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::ReadOnly
                        | rusqlite::ErrorCode::PermissionDenied
                ) =>
            {
                open(true).map_err(|e| db_err(&path, "cannot open index read-only", e))?
            }
            Err(e) => return Err(db_err(&path, "cannot open index read-only", e)),
        };
        let index = Store { conn, path };
        let version = index
            .schema_version()
            .map_err(|e| Error::new(ErrorKind::Database, format!("not an index database: {e}")))?;
        if version > SCHEMA_VERSION {
            return Err(Error::new(
                ErrorKind::Database,
                format!(
                    "index schema version {version} is newer than this Obscura's ({SCHEMA_VERSION}): upgrade Obscura"
                ),
            )
            .with_path(&index.path));
        }
        if version < SCHEMA_VERSION {
            return Err(Error::new(
                ErrorKind::Database,
                format!(
                    "index schema version {version} is older than this Obscura's ({SCHEMA_VERSION}) and this only reads it: open it once for writing to upgrade it (an audit upgrade, or any write to the index)"
                ),
            )
            .with_path(&index.path));
        }
        Ok(index)
    }

    /// Opens an index that must already exist (for queries), so a mistyped
    /// name is an error rather than a new empty database.
    ///
    /// # Errors
    /// `NotFound` if there is no file at `path`; otherwise as [`Store::open`].
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::new(
                ErrorKind::NotFound,
                "no index database here (indexing recordings creates one)",
            )
            .with_path(path));
        }
        Store::open(path)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the evidence modules that share the database.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, for transactions.
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The schema version of the open database.
    ///
    /// # Errors
    /// `Database` if it cannot be read.
    pub fn schema_version(&self) -> Result<u32> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| db_err(&self.path, "cannot read schema version", e))
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, "cannot lock index for migration", e))?;
        let version: u32 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| db_err(&path, "not an index database", e))?;
        if version > SCHEMA_VERSION {
            return Err(Error::new(
                ErrorKind::Database,
                format!(
                    "index schema version {version} is newer than this Obscura's ({SCHEMA_VERSION}): upgrade Obscura"
                ),
            )
            .with_path(&path));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)
                .map_err(|e| db_err(&path, &format!("migration {} failed", i + 1), e))?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| db_err(&path, "cannot record schema version", e))?;
        tx.commit()
            .map_err(|e| db_err(&path, "cannot commit migration", e))
    }

    /// Stores `analysis` for `camera`'s profile in one transaction,
    /// replacing any earlier index of the same recording (same content
    /// hash or same path).
    ///
    /// # Errors
    /// `Database` on any SQLite failure (nothing is stored then).
    pub fn store(&mut self, camera: &CameraProfile, analysis: &MotionAnalysis) -> Result<Stored> {
        let path = self.path.clone();
        let e = |what: &'static str| {
            let path = path.clone();
            move |err: rusqlite::Error| db_err(&path, what, err)
        };
        let rec_path = std::fs::canonicalize(&analysis.path)
            .unwrap_or_else(|_| analysis.path.clone())
            .to_string_lossy()
            .into_owned();
        let (damaged, expected_frames) = analysis.damage();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e("cannot lock index"))?;
        tx.execute(
            "INSERT INTO cameras (number, name, town, desk) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(number) DO UPDATE SET name = ?2, town = ?3, desk = ?4",
            params![camera.camera, camera.name, camera.town, camera.desk],
        )
        .map_err(e("cannot store camera"))?;
        let old: Vec<(i64, String, String)> = {
            let mut st = tx
                .prepare("SELECT id, path, sha256 FROM recordings WHERE sha256 = ?1 OR path = ?2 ORDER BY id")
                .map_err(e("cannot look up recording"))?;
            let rows = st
                .query_map(params![analysis.sha256, rec_path], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(e("cannot look up recording"))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(e("cannot look up recording"))?
        };
        let duplicate_of = old
            .iter()
            .find(|(_, p, h)| *h == analysis.sha256 && *p != rec_path)
            .map(|(_, p, _)| p.clone());
        for (id, _, _) in &old {
            tx.execute("DELETE FROM incidents WHERE recording = ?1", [id])
                .map_err(e("cannot replace incidents"))?;
            tx.execute("DELETE FROM recordings WHERE id = ?1", [id])
                .map_err(e("cannot replace recording"))?;
        }
        let wc = &analysis.wall_clock;
        let gaps = serde_json::to_string(&analysis.gaps).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "INSERT INTO recordings (path, camera, start_utc, end_utc, time_source, duration_s,
                frames, fps, width, height, sha256, gaps, recalibrations, indexed_at, obscura_version,
                damaged, expected_frames)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                rec_path,
                camera.camera,
                wc.start.as_ref().map(format_utc),
                wc.at(analysis.duration_s).as_ref().map(format_utc),
                wc.source.as_str(),
                analysis.duration_s,
                analysis.frames as i64,
                analysis.fps,
                analysis.width,
                analysis.height,
                analysis.sha256,
                gaps,
                analysis.recalibrations as i64,
                format_utc(&Utc::now()),
                crate::VERSION,
                damaged,
                expected_frames.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            ],
        )
        .map_err(e("cannot store recording"))?;
        let recording = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO incidents (recording, camera, start_frame, end_frame, start_s, end_s,
                        start_utc, end_utc, peak_score, peak_s, bbox_x0, bbox_y0, bbox_x1, bbox_y1,
                        heatmap, thumbnail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )
                .map_err(e("cannot store incidents"))?;
            for i in &analysis.incidents {
                st.execute(params![
                    recording,
                    camera.camera,
                    i.start_frame as i64,
                    i.end_frame as i64,
                    i.start_s,
                    i.end_s,
                    i.start_utc.as_ref().map(format_utc),
                    i.end_utc.as_ref().map(format_utc),
                    f64::from(i.peak_score),
                    i.peak_s,
                    i.bbox[0],
                    i.bbox[1],
                    i.bbox[2],
                    i.bbox[3],
                    i.heatmap,
                    (!i.thumbnail.is_empty()).then_some(&i.thumbnail),
                ])
                .map_err(e("cannot store incident"))?;
            }
        }
        tx.commit().map_err(e("cannot commit"))?;
        Ok(Stored {
            recording,
            replaced: !old.is_empty(),
            incidents: analysis.incidents.len(),
            duplicate_of,
        })
    }

    /// Incidents matching `filter`, oldest first (undated ones by file).
    ///
    /// # Errors
    /// `InvalidArgument` when `from` is later than `to`; `Database` on any
    /// SQLite failure.
    pub fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentRow>> {
        if let (Some(from), Some(to)) = (&filter.from, &filter.to) {
            if from > to {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "invalid range: from {} is later than to {}",
                        format_utc(from),
                        format_utc(to)
                    ),
                ));
            }
        }
        let e = |err| db_err(&self.path, "cannot list incidents", err);
        let from = filter.from.as_ref().map(format_utc);
        let to = filter.to.as_ref().map(format_utc);
        let mut st = self
            .conn
            .prepare(&format!(
                "{INCIDENT_SELECT}
                 WHERE (?1 IS NULL OR i.camera = ?1)
                   AND (?2 IS NULL OR trim(c.town) = trim(?2) COLLATE NOCASE)
                   AND (?3 IS NULL OR trim(c.desk) = trim(?3) COLLATE NOCASE)
                   AND (?4 IS NULL OR i.start_utc >= ?4)
                   AND (?5 IS NULL OR i.start_utc < ?5)
                 ORDER BY i.start_utc IS NULL, i.start_utc, r.path, i.start_s"
            ))
            .map_err(e)?;
        let rows = st
            .query_map(
                params![filter.camera, filter.town, filter.desk, from, to],
                incident_row,
            )
            .map_err(e)?;
        rows.collect::<rusqlite::Result<_>>().map_err(e)
    }

    /// The cameras the index knows, by number.
    ///
    /// # Errors
    /// `Database` on any SQLite failure.
    pub fn cameras(&self) -> Result<Vec<CameraInfo>> {
        let e = |err| db_err(&self.path, "cannot list cameras", err);
        let mut st = self
            .conn
            .prepare("SELECT number, name, town, desk FROM cameras ORDER BY number")
            .map_err(e)?;
        let rows = st
            .query_map([], |r| {
                Ok(CameraInfo {
                    number: r.get(0)?,
                    name: r.get(1)?,
                    town: r.get(2)?,
                    desk: r.get(3)?,
                })
            })
            .map_err(e)?;
        rows.collect::<rusqlite::Result<_>>().map_err(e)
    }

    /// Incident `id`, if there is one.
    ///
    /// # Errors
    /// `Database` on any SQLite failure.
    pub fn incident(&self, id: i64) -> Result<Option<IncidentRow>> {
        self.conn
            .query_row(
                &format!("{INCIDENT_SELECT} WHERE i.id = ?1"),
                [id],
                incident_row,
            )
            .optional()
            .map_err(|err| db_err(&self.path, "cannot read incident", err))
    }

    /// The heatmap and JPEG thumbnail of incident `id`.
    ///
    /// # Errors
    /// `Database` on any SQLite failure.
    pub fn incident_images(&self, id: i64) -> Result<Option<IncidentImages>> {
        self.conn
            .query_row(
                "SELECT heatmap, thumbnail FROM incidents WHERE id = ?1",
                [id],
                |r| {
                    Ok(IncidentImages {
                        heatmap: r.get(0)?,
                        thumbnail: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|err| db_err(&self.path, "cannot read incident", err))
    }

    /// Recordings, of one camera or all, in wall-clock order (undated last).
    ///
    /// # Errors
    /// `Database` on any SQLite failure.
    pub fn recordings(&self, camera: Option<u32>) -> Result<Vec<RecordingRow>> {
        let e = |err| db_err(&self.path, "cannot list recordings", err);
        let mut st = self
            .conn
            .prepare(
                "SELECT id, path, camera, start_utc, end_utc, time_source, duration_s, frames,
                        sha256, gaps, damaged, expected_frames
                 FROM recordings WHERE (?1 IS NULL OR camera = ?1)
                 ORDER BY camera, start_utc IS NULL, start_utc, path",
            )
            .map_err(e)?;
        let rows = st
            .query_map(params![camera], |r| {
                let gaps: String = r.get(9)?;
                Ok(RecordingRow {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    camera: r.get(2)?,
                    start_utc: r.get(3)?,
                    end_utc: r.get(4)?,
                    time_source: r.get(5)?,
                    duration_s: r.get(6)?,
                    frames: r.get::<_, i64>(7)?.max(0) as u64,
                    sha256: r.get(8)?,
                    gaps: serde_json::from_str(&gaps).unwrap_or_default(),
                    damaged: r.get(10)?,
                    expected_frames: r.get::<_, Option<i64>>(11)?.map(|n| n.max(0) as u64),
                })
            })
            .map_err(e)?;
        rows.collect::<rusqlite::Result<_>>().map_err(e)
    }

    /// Missing footage: gaps (and overlaps) between consecutive dated
    /// recordings of a camera longer than `tolerance_s`, and timestamp jumps
    /// inside files.
    ///
    /// # Errors
    /// `Database` on any SQLite failure.
    pub fn faults(&self, camera: Option<u32>, tolerance_s: f64) -> Result<Vec<Fault>> {
        let recs = self.recordings(camera)?;
        let mut out = Vec::new();
        for r in &recs {
            for g in &r.gaps {
                out.push(Fault {
                    camera: r.camera,
                    kind: "timestamp_jump",
                    recording: r.path.clone(),
                    next_recording: None,
                    from_utc: r.start_utc.as_deref().and_then(parse_utc).map(|t| {
                        format_utc(&(t + chrono::Duration::milliseconds((g.after_s * 1e3) as i64)))
                    }),
                    at_s: Some(g.after_s),
                    seconds: g.missing_s,
                });
            }
        }
        for r in &recs {
            if let (Some(expected), Some(_)) = (r.expected_frames, &r.damaged) {
                let fps = if r.duration_s > 0.0 && r.frames > 0 {
                    r.frames as f64 / r.duration_s
                } else {
                    0.0
                };
                out.push(Fault {
                    camera: r.camera,
                    kind: "damaged_recording",
                    recording: r.path.clone(),
                    next_recording: None,
                    from_utc: r.end_utc.clone(),
                    at_s: Some(r.duration_s),
                    seconds: if fps > 0.0 {
                        expected.saturating_sub(r.frames) as f64 / fps
                    } else {
                        0.0
                    },
                });
            }
        }
        for pair in recs.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.camera != b.camera {
                continue;
            }
            let (Some(end), Some(start)) = (
                a.end_utc.as_deref().and_then(parse_utc),
                b.start_utc.as_deref().and_then(parse_utc),
            ) else {
                continue;
            };
            let gap = (start - end).num_milliseconds() as f64 / 1000.0;
            if gap.abs() > tolerance_s {
                out.push(Fault {
                    camera: a.camera,
                    kind: if gap > 0.0 {
                        "gap_between_recordings"
                    } else {
                        "overlapping_recordings"
                    },
                    recording: a.path.clone(),
                    next_recording: Some(b.path.clone()),
                    from_utc: a.end_utc.clone(),
                    at_s: None,
                    seconds: gap,
                });
            }
        }
        Ok(out)
    }

    /// Incidents and active minutes per group for `month`, every known
    /// camera's group listed (with zeros), optionally against the month
    /// before.
    ///
    /// # Errors
    /// `Database` on any SQLite failure.
    pub fn report(&self, month: Month, by: GroupBy, compare_previous: bool) -> Result<Report> {
        let e = |err| db_err(&self.path, "cannot build report", err);
        let key = match by {
            GroupBy::Camera => "CAST(c.number AS TEXT)",
            GroupBy::Town => "c.town",
            GroupBy::Desk => "c.desk",
        };
        // group -> (camera names, [(incidents, active minutes); this, previous])
        type Figures = (Vec<String>, [(u64, f64); 2]);
        let mut groups: BTreeMap<String, Figures> = BTreeMap::new();
        {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT {key}, c.number, c.name FROM cameras c ORDER BY c.number"
                ))
                .map_err(e)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(e)?;
            for row in rows {
                let (g, n, name) = row.map_err(e)?;
                groups.entry(g).or_default().0.push(format!("{n} {name}"));
            }
        }
        let periods = [month, month.previous()];
        for (p, m) in periods.iter().enumerate() {
            if p == 1 && !compare_previous {
                break;
            }
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT {key}, count(*), coalesce(sum(i.end_s - i.start_s), 0)
                     FROM incidents i JOIN cameras c ON c.number = i.camera
                     WHERE i.start_utc >= ?1 AND i.start_utc < ?2 GROUP BY 1"
                ))
                .map_err(e)?;
            let rows = st
                .query_map(
                    params![format_utc(&m.start()), format_utc(&m.next().start())],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, f64>(2)?,
                        ))
                    },
                )
                .map_err(e)?;
            for row in rows {
                let (g, n, secs) = row.map_err(e)?;
                groups.entry(g).or_default().1[p] = (n.max(0) as u64, secs / 60.0);
            }
        }
        let undated: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM incidents WHERE start_utc IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(e)?;
        let mut rows: Vec<ReportRow> = groups
            .into_iter()
            .map(|(group, (cameras, [(n, mins), (pn, pmins)]))| {
                let prev = compare_previous.then_some(pn);
                ReportRow {
                    group,
                    cameras,
                    incidents: n,
                    active_minutes: mins,
                    previous_incidents: prev,
                    previous_active_minutes: compare_previous.then_some(pmins),
                    change: prev.map(|p| n as i64 - p as i64),
                    change_pct: prev
                        .filter(|&p| p > 0)
                        .map(|p| (n as f64 - p as f64) * 100.0 / p as f64),
                }
            })
            .collect();
        if by == GroupBy::Camera {
            rows.sort_by_key(|r| r.group.parse::<u64>().unwrap_or(u64::MAX));
        }
        Ok(Report {
            month: month.to_string(),
            by,
            compared_with: compare_previous.then(|| month.previous().to_string()),
            total_incidents: rows.iter().map(|r| r.incidents).sum(),
            total_active_minutes: rows.iter().map(|r| r.active_minutes).sum(),
            rows,
            undated_incidents: undated.max(0) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_step_over_years() {
        let m: Month = "2026-01".parse().expect("valid");
        assert_eq!(m.previous().to_string(), "2025-12");
        assert_eq!(m.next().to_string(), "2026-02");
        assert_eq!(format_utc(&m.start()), "2026-01-01T00:00:00.000Z");
        let e = "2026-13".parse::<Month>().expect_err("no 13th month");
        assert!(e.to_string().contains("expected YYYY-MM"), "{e}");
        assert!("town".parse::<GroupBy>().is_ok());
        assert!("street".parse::<GroupBy>().is_err());
    }

    #[test]
    fn a_newer_schema_is_refused_and_migration_is_idempotent() {
        let dir = std::env::temp_dir().join(format!("obscura-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let db = dir.join("i.db");
        let idx = Store::open(&db).expect("create");
        assert_eq!(idx.schema_version().expect("read"), SCHEMA_VERSION);
        drop(idx);
        let idx = Store::open(&db).expect("reopen");
        idx.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        drop(idx);
        let e = Store::open(&db).expect_err("newer");
        assert_eq!(e.kind(), ErrorKind::Database);
        assert!(e.to_string().contains("newer"), "{e}");
        std::fs::write(dir.join("text.db"), "not a database at all, just text").expect("write");
        let e = Store::open(dir.join("text.db")).expect_err("not sqlite");
        assert_eq!(e.kind(), ErrorKind::Database);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
