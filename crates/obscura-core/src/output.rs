//! Writing outputs safely: under a temporary name next to the destination,
//! renamed into place only once complete, removed if anything fails. A
//! half-written file never carries the name of a finished one, and an input
//! is never the output.

use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};

/// An output file being written under a temporary name.
///
/// Dropping it without [`PendingFile::commit`] removes the temporary file.
#[derive(Debug)]
pub struct PendingFile {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Prepares to write `dest`, refusing it if it is one of `inputs` and
    /// checking that its directory exists and is writable (by creating the
    /// temporary file).
    ///
    /// # Errors
    /// `InvalidArgument` if `dest` is an input or a directory, `NotFound` if
    /// its directory does not exist, `Io` if it cannot be written.
    pub fn new(dest: impl AsRef<Path>, inputs: &[&Path]) -> Result<Self> {
        let dest = dest.as_ref();
        let name = dest.file_name().ok_or_else(|| {
            Error::new(ErrorKind::InvalidArgument, "output path has no file name").with_path(dest)
        })?;
        if dest.is_dir() {
            return Err(
                Error::new(ErrorKind::InvalidArgument, "output path is a directory")
                    .with_path(dest),
            );
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir_abs = dir.canonicalize().map_err(|e| {
            let what = format!("cannot write output: directory {}", dir.display());
            Error::io(e, what).with_path(dest)
        })?;
        let dest_abs = dir_abs.join(name);
        for input in inputs {
            if input.canonicalize().is_ok_and(|i| i == dest_abs) {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "output would overwrite the input (inputs are never modified)",
                )
                .with_path(dest));
            }
        }
        let ext = dest
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{}.obscura-tmp-{}{}",
            name.to_string_lossy(),
            std::process::id(),
            ext
        ));
        std::fs::File::create(&tmp)
            .map_err(|e| Error::io(e, "cannot write output").with_path(dest))?;
        Ok(PendingFile {
            tmp,
            dest: dest.to_path_buf(),
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

    /// Flushes the finished file to disk and renames it into place.
    ///
    /// # Errors
    /// `Io` if syncing or renaming fails; the temporary file is removed.
    pub fn commit(mut self) -> Result<PathBuf> {
        let sync = std::fs::File::open(&self.tmp).and_then(|f| f.sync_all());
        sync.map_err(|e| Error::io(e, "cannot flush output").with_path(&self.dest))?;
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| {
            Error::io(e, "cannot move finished output into place").with_path(&self.dest)
        })?;
        self.committed = true;
        Ok(self.dest.clone())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_output_leaves_nothing_and_commit_renames() {
        let dir = std::env::temp_dir().join(format!("obscura-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
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
}
