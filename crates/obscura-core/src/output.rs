//! Writing outputs safely: under a temporary name next to the destination,
//! moved into place only once complete, removed if anything fails. A
//! half-written file never carries the name of a finished one, an input is
//! never the output, and an existing file is never replaced unless the
//! caller asked for that explicitly ([`PendingFile::replacing`]).
//!
//! Temporary names are `.NAME.obscura-tmp-PID-N.EXT`, shortened to fit the
//! 255-byte limit of file names. A process killed mid-write leaves such a
//! file behind; the next output written into the same folder removes every
//! one whose process is gone ([`clean_stale_temps`]).

use crate::error::{Error, ErrorKind, Result};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The marker in every temporary name this module makes.
pub const TEMP_MARKER: &str = ".obscura-tmp-";

/// Longest file name most file systems accept, in bytes.
const NAME_MAX: usize = 255;

/// An output file being written under a temporary name.
///
/// Dropping it without [`PendingFile::commit`] removes the temporary file.
#[derive(Debug)]
pub struct PendingFile {
    tmp: PathBuf,
    dest: PathBuf,
    replace: bool,
    committed: bool,
}

impl PendingFile {
    /// Prepares to write `dest`, a file that must not exist yet: refuses it
    /// if it exists, is one of `inputs` or is a directory, and checks that
    /// its directory exists and is writable (by creating the temporary
    /// file).
    ///
    /// # Errors
    /// `AlreadyExists` if `dest` exists, `InvalidArgument` if `dest` is an
    /// input or a directory, `NotFound` if its directory does not exist,
    /// `Io` if it cannot be written.
    pub fn new(dest: impl AsRef<Path>, inputs: &[&Path]) -> Result<Self> {
        Self::create(dest.as_ref(), inputs, false)
    }

    /// Like [`PendingFile::new`], but an existing regular file at `dest`
    /// is replaced when the new one is committed (the caller asked for it
    /// and records that it did). Inputs, directories and anything that is
    /// not a regular file are still refused.
    ///
    /// # Errors
    /// As [`PendingFile::new`], except for an existing regular file.
    pub fn replacing(dest: impl AsRef<Path>, inputs: &[&Path]) -> Result<Self> {
        Self::create(dest.as_ref(), inputs, true)
    }

    /// [`PendingFile::replacing`] when `replace`, else [`PendingFile::new`].
    ///
    /// # Errors
    /// As those.
    pub fn with_policy(dest: impl AsRef<Path>, inputs: &[&Path], replace: bool) -> Result<Self> {
        Self::create(dest.as_ref(), inputs, replace)
    }

    fn create(dest: &Path, inputs: &[&Path], replace: bool) -> Result<Self> {
        let (name, dir) = check_claimable(dest, inputs, replace)?;
        clean_stale_temps(&dir);
        let tmp = dir.join(temp_name(name));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(e, "cannot write output").with_path(dest))?;
        Ok(PendingFile {
            tmp,
            dest: dest.to_path_buf(),
            replace,
            committed: false,
        })
    }

    /// Where the bytes go while the output is incomplete.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// The final name.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes the finished file to disk and moves it into place. Unless
    /// made by [`PendingFile::replacing`], it never replaces a file that
    /// appeared at the final name in the meantime.
    ///
    /// # Errors
    /// `Io` if syncing or moving fails, `AlreadyExists` if a file took the
    /// final name meanwhile; the temporary file is removed.
    pub fn commit(mut self) -> Result<PathBuf> {
        self.flush()?;
        self.place()?;
        Ok(self.dest.clone())
    }

    /// Moves several finished files into place as nearly at once as the
    /// file system allows: all are flushed first, then renamed one after
    /// the other with nothing in between. If one cannot be placed, those
    /// placed before it are removed again and the rest are dropped, so the
    /// set appears whole or not at all unless the process is killed between
    /// two renames. Returns the names, in order.
    ///
    /// # Errors
    /// As [`PendingFile::commit`].
    pub fn commit_all(files: Vec<PendingFile>) -> Result<Vec<PathBuf>> {
        for f in &files {
            f.flush()?;
        }
        let mut placed: Vec<PathBuf> = Vec::with_capacity(files.len());
        for mut f in files {
            if let Err(e) = f.place() {
                for p in &placed {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
            placed.push(f.dest.clone());
        }
        Ok(placed)
    }

    /// Flushes the finished file and moves it to its staged name
    /// ([`staged_path`]): for a file that must be logged before it takes its
    /// name. The staged name carries no process id, so clearing stale
    /// temporaries never removes it; whoever logs it places it, or settles
    /// it after a kill.
    ///
    /// # Errors
    /// `Io` if it cannot be flushed or moved.
    pub fn stage(mut self) -> Result<Staged> {
        self.flush()?;
        let path = staged_path(&self.dest, self.replace);
        std::fs::rename(&self.tmp, &path)
            .map_err(|e| Error::io(e, "cannot stage finished output").with_path(&self.dest))?;
        self.committed = true;
        Ok(Staged {
            path,
            dest: self.dest.clone(),
            replace: self.replace,
        })
    }

    fn flush(&self) -> Result<()> {
        let sync = std::fs::File::open(&self.tmp).and_then(|f| f.sync_all());
        sync.map_err(|e| Error::io(e, "cannot flush output").with_path(&self.dest))
    }

    fn place(&mut self) -> Result<()> {
        move_into_place(&self.tmp, &self.dest, self.replace)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A finished file waiting under its staged name ([`PendingFile::stage`]).
/// Dropping it leaves it there.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    dest: PathBuf,
    replace: bool,
}

impl Staged {
    /// Where it waits.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves it to its name, as [`PendingFile::commit`] would have.
    ///
    /// # Errors
    /// As [`PendingFile::commit`].
    pub fn place(self) -> Result<PathBuf> {
        move_into_place(&self.path, &self.dest, self.replace)?;
        Ok(self.dest)
    }

    /// Removes it (it was never logged).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The staged name of `dest`: `.NAME.obscura-placing` beside it, or
/// `.NAME.obscura-replacing` for a file that may replace one already there
/// (so whoever places it after a kill knows); a name too long for that is
/// shortened and told apart by a hash of the whole.
pub fn staged_path(dest: &Path, replace: bool) -> PathBuf {
    let tail = if replace {
        ".obscura-replacing"
    } else {
        ".obscura-placing"
    };
    let name = dest.file_name().unwrap_or_default();
    let mut out = OsString::from(".");
    if name.len() + 1 + tail.len() <= NAME_MAX {
        out.push(name);
    } else {
        let digest = <sha2::Sha256 as sha2::Digest>::digest(name.as_encoded_bytes());
        let tag = format!(".{}", &hex::encode(digest)[..16]);
        out.push(truncate_name(name, NAME_MAX - 1 - tail.len() - tag.len()));
        out.push(tag);
    }
    out.push(tail);
    dest.with_file_name(out)
}

/// Checks everything [`PendingFile::with_policy`] checks, without creating
/// anything: for callers that claim an output's name before the work that
/// writes it. Returns the file name and its folder.
///
/// # Errors
/// `InvalidArgument` if `dest` is an input or a directory (or, when
/// replacing, not a regular file), `AlreadyExists` if it exists and
/// `replace` is false, `NotFound`/`Io` if its folder is missing.
pub fn check_claimable<'a>(
    dest: &'a Path,
    inputs: &[&Path],
    replace: bool,
) -> Result<(&'a OsStr, PathBuf)> {
    let (name, dir, dest_abs) = resolve(dest)?;
    refuse_inputs(dest, &dest_abs, inputs)?;
    match std::fs::symlink_metadata(&dest_abs) {
        Ok(meta) if meta.is_dir() => Err(Error::new(
            ErrorKind::InvalidArgument,
            "output path is a directory",
        )
        .with_path(dest)),
        Ok(meta) if !replace => {
            let what = if meta.is_file() { "file" } else { "path" };
            Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{what} already exists: outputs and records are never replaced unless replacing is asked for explicitly"
                ),
            )
            .with_path(dest))
        }
        Ok(meta) if !meta.is_file() => Err(Error::new(
            ErrorKind::InvalidArgument,
            "output path exists and is not a regular file: not replacing it",
        )
        .with_path(dest)),
        _ => Ok((name, dir)),
    }
}

/// `dest`'s file name, its folder as given, and its absolute path with the
/// folder resolved (links included).
fn resolve(dest: &Path) -> Result<(&OsStr, PathBuf, PathBuf)> {
    let name = dest.file_name().ok_or_else(|| {
        Error::new(ErrorKind::InvalidArgument, "output path has no file name").with_path(dest)
    })?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir_abs = dir.canonicalize().map_err(|e| {
        let what = format!("cannot write output: directory {}", dir.display());
        Error::io(e, what).with_path(dest)
    })?;
    let dest_abs = dir_abs.join(name);
    Ok((name, dir, dest_abs))
}

fn refuse_inputs(dest: &Path, dest_abs: &Path, inputs: &[&Path]) -> Result<()> {
    let same_file = |input: &Path| -> bool {
        if input.canonicalize().is_ok_and(|i| i == dest_abs) {
            return true;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let (Ok(a), Ok(b)) = (std::fs::metadata(input), std::fs::metadata(dest_abs)) {
                return a.dev() == b.dev() && a.ino() == b.ino();
            }
        }
        false
    };
    if inputs.iter().any(|i| same_file(i)) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "output would overwrite an input (inputs are never modified)",
        )
        .with_path(dest));
    }
    Ok(())
}

/// Renames the finished file `from` to `dest`: over an existing file only
/// when `replace`, otherwise never ([`move_no_clobber`]); then makes the new
/// name durable.
///
/// # Errors
/// `AlreadyExists` if `dest` appeared and may not be replaced; `Io` if the
/// rename fails.
pub(crate) fn move_into_place(from: &Path, dest: &Path, replace: bool) -> Result<()> {
    if replace {
        std::fs::rename(from, dest)
            .map_err(|e| Error::io(e, "cannot move finished output into place").with_path(dest))?;
    } else {
        move_no_clobber(from, dest)?;
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the new name durable too; a failure here loses nothing.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Moves `tmp` to `dest` unless `dest` exists, atomically where the file
/// system supports hard links.
fn move_no_clobber(tmp: &Path, dest: &Path) -> Result<()> {
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::new(
            ErrorKind::AlreadyExists,
            "a file appeared at the output's name while it was being written: not replacing it",
        )
        .with_path(dest)),
        Err(_) => {
            // No hard links here (FAT, some network shares): check, then rename.
            if std::fs::symlink_metadata(dest).is_ok() {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    "a file appeared at the output's name while it was being written: not replacing it",
                )
                .with_path(dest));
            }
            std::fs::rename(tmp, dest)
                .map_err(|e| Error::io(e, "cannot move finished output into place").with_path(dest))
        }
    }
}

/// A fresh temporary name for `name`: `.NAME.obscura-tmp-PID-N.EXT`, with
/// NAME shortened (at a character boundary where it is UTF-8) so the whole
/// stays within 255 bytes.
pub fn temp_name(name: &OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let ext = Path::new(name)
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .filter(|e| e.len() <= 16)
        .unwrap_or_default();
    let tail = format!("{TEMP_MARKER}{}-{n}{ext}", std::process::id());
    let room = NAME_MAX - 1 - tail.len();
    let mut out = OsString::from(".");
    out.push(truncate_name(name, room));
    out.push(tail);
    out
}

#[cfg(unix)]
fn truncate_name(name: &OsStr, room: usize) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = name.as_bytes();
    if bytes.len() <= room {
        return name.to_os_string();
    }
    let mut end = room;
    if let Ok(s) = std::str::from_utf8(bytes) {
        while !s.is_char_boundary(end) {
            end -= 1;
        }
    }
    OsString::from_vec(bytes[..end].to_vec())
}

#[cfg(not(unix))]
fn truncate_name(name: &OsStr, room: usize) -> OsString {
    let s = name.to_string_lossy();
    let mut end = room.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    OsString::from(&s[..end])
}

/// The process id in a temporary name made by [`temp_name`] (or by older
/// versions, `.NAME.obscura-tmp-PID.EXT`), if it is one.
fn temp_owner(name: &OsStr) -> Option<u32> {
    let s = name.to_string_lossy();
    if !s.starts_with('.') {
        return None;
    }
    let at = s.rfind(TEMP_MARKER)?;
    let digits: String = s[at + TEMP_MARKER.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Whether process `pid` is running (on Linux; elsewhere always assumed,
/// so nothing is removed).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes the temporary files (and exhibit folders) that runs killed
/// mid-write left in `dir`: those whose process is no longer running.
/// Returns what it removed; anything it cannot remove is left alone.
pub fn clean_stale_temps(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    if !cfg!(target_os = "linux") {
        return removed;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let Some(pid) = temp_owner(&entry.file_name()) else {
            continue;
        };
        if process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path).is_ok(),
            Ok(_) => std::fs::remove_file(&path).is_ok(),
            Err(_) => false,
        };
        if gone {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("obscura-out-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn uncommitted_output_leaves_nothing_and_commit_renames() {
        let dir = temp_dir("basic");
        let dest = dir.join("a.txt");
        {
            let p = PendingFile::new(&dest, &[]).expect("writable");
            assert!(p.tmp_path().exists());
        }
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 0);
        let p = PendingFile::new(&dest, &[]).expect("writable");
        std::fs::write(p.tmp_path(), b"x").expect("write");
        p.commit().expect("commit");
        assert_eq!(std::fs::read(&dest).expect("read"), b"x");
        let err = PendingFile::new(&dest, &[dest.as_path()]).expect_err("same as input");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let err = PendingFile::new(dir.join("nope/b.txt"), &[]).expect_err("no dir");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn files_committed_together_appear_together_or_not_at_all() {
        let dir = temp_dir("together");
        let (video, record) = (dir.join("out.mp4"), dir.join("out.mp4.redaction.json"));
        let pending = |bytes: &[u8; 1]| {
            let v = PendingFile::new(&video, &[]).expect("free");
            let r = PendingFile::new(&record, &[]).expect("free");
            std::fs::write(v.tmp_path(), bytes).expect("write");
            std::fs::write(r.tmp_path(), bytes).expect("write");
            (v, r)
        };
        // The record's name is taken while both are written: the video,
        // placed first, is taken back, and nothing of this run is left.
        let (v, r) = pending(b"a");
        std::fs::write(&record, b"someone else's").expect("write");
        let err = PendingFile::commit_all(vec![v, r]).expect_err("taken");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert!(!video.exists());
        assert_eq!(std::fs::read(&record).expect("read"), b"someone else's");
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1);

        std::fs::remove_file(&record).expect("remove");
        let (v, r) = pending(b"b");
        let placed = PendingFile::commit_all(vec![v, r]).expect("placed");
        assert_eq!(placed, [video.clone(), record.clone()]);
        assert_eq!(std::fs::read(&video).expect("read"), b"b");
        assert_eq!(std::fs::read(&record).expect("read"), b"b");
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 2);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn staged_files_wait_under_names_of_their_own_until_placed() {
        let dir = temp_dir("staged");
        let long = "v".repeat(230);
        let video = dir.join(format!("{long}.mp4"));
        let record = dir.join(format!("{long}.mp4.redaction.json"));
        let (sv, sr) = (staged_path(&video, false), staged_path(&record, true));
        // Shortened to fit, and still told apart.
        assert_ne!(sv, sr);
        for s in [&sv, &sr] {
            let n = s.file_name().expect("name").len();
            assert!(n <= NAME_MAX, "{n}");
            assert!(temp_owner(s.file_name().expect("name")).is_none());
        }
        let p = PendingFile::new(&video, &[]).expect("free");
        std::fs::write(p.tmp_path(), b"v").expect("write");
        let staged = p.stage().expect("staged");
        assert_eq!(staged.path(), sv);
        // Not removed as a dead process's temporary.
        assert!(clean_stale_temps(&dir).is_empty());
        assert_eq!(staged.place().expect("placed"), video);
        assert_eq!(std::fs::read(&video).expect("read"), b"v");
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn existing_files_are_never_replaced_unless_asked() {
        let dir = temp_dir("clobber");
        let dest = dir.join("record.json");
        std::fs::write(&dest, b"original").expect("write");
        let err = PendingFile::new(&dest, &[]).expect_err("exists");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&dest).expect("read"), b"original");

        // A file that appears while the output is being written survives.
        let late = dir.join("late.json");
        let p = PendingFile::new(&late, &[]).expect("free");
        std::fs::write(&late, b"someone else's").expect("write");
        std::fs::write(p.tmp_path(), b"mine").expect("write");
        assert_eq!(
            p.commit().expect_err("taken").kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read(&late).expect("read"), b"someone else's");

        let p = PendingFile::replacing(&dest, &[]).expect("asked for");
        std::fs::write(p.tmp_path(), b"new").expect("write");
        p.commit().expect("commit");
        assert_eq!(std::fs::read(&dest).expect("read"), b"new");

        // Replacing still never touches an input, even through a hard link.
        let input = dir.join("clip.mp4");
        std::fs::write(&input, b"video").expect("write");
        let link = dir.join("link.png");
        std::fs::hard_link(&input, &link).expect("link");
        for target in [&input, &link] {
            let err = PendingFile::replacing(target, &[input.as_path()]).expect_err("input");
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        }
        assert_eq!(std::fs::read(&input).expect("read"), b"video");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn long_names_get_temporary_names_within_the_limit() {
        let dir = temp_dir("long");
        let name = format!("{}.mp4", "é".repeat(120));
        assert_eq!(name.len(), 244);
        let dest = dir.join(&name);
        let p = PendingFile::new(&dest, &[]).expect("a 244-byte name is writable");
        let tmp_len = p.tmp_path().file_name().map_or(0, |n| n.len());
        assert!(tmp_len <= NAME_MAX, "{tmp_len}");
        std::fs::write(p.tmp_path(), b"x").expect("write");
        p.commit().expect("commit");
        assert!(dest.is_file());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = temp_dir("stale");
        // A process that has exited: its pid is not running any more.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let stale = dir.join(format!(".out.mp4{TEMP_MARKER}{dead}.mp4"));
        let stale_dir = dir.join(format!(".JS-1{TEMP_MARKER}{dead}-0"));
        std::fs::write(&stale, b"half").expect("write");
        std::fs::create_dir(&stale_dir).expect("dir");
        let live = dir.join(format!(
            ".other.mp4{TEMP_MARKER}{}-99.mp4",
            std::process::id()
        ));
        std::fs::write(&live, b"in progress").expect("write");
        let unrelated = dir.join("keep.obscura-tmp-notes.txt");
        std::fs::write(&unrelated, b"user file").expect("write");

        let p = PendingFile::new(dir.join("new.mp4"), &[]).expect("writable");
        assert!(!stale.exists() && !stale_dir.exists());
        assert!(live.exists() && unrelated.exists());
        drop(p);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
