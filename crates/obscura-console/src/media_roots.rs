//! The folders the console may read files from, and the one way a path
//! from a client becomes a file: inside its root, or refused.

use crate::error::ConsoleError;
use serde::Serialize;
use std::path::{Component, Path, PathBuf};

/// Media roots, each resolved once (symlinks followed) when the console
/// starts.
#[derive(Debug, Clone, Default)]
pub struct MediaRoots {
    roots: Vec<PathBuf>,
}

/// One folder's entries, for a file picker.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Listing {
    /// Index of the root.
    pub root: usize,
    /// The folder, relative to the root ("" for the root itself).
    pub path: String,
    /// Sub-folders, relative to the root, by name.
    pub folders: Vec<String>,
    /// Files, relative to the root, by name, with their sizes in bytes.
    pub files: Vec<(String, u64)>,
}

impl MediaRoots {
    /// The folders `dirs`, each of which must exist.
    ///
    /// # Errors
    /// [`ConsoleError::Config`] for one that is not a readable folder.
    pub fn new(dirs: &[PathBuf]) -> Result<MediaRoots, ConsoleError> {
        let mut roots = Vec::with_capacity(dirs.len());
        for d in dirs {
            let real = std::fs::canonicalize(d)
                .map_err(|e| ConsoleError::Config(format!("media folder {}: {e}", d.display())))?;
            if !real.is_dir() {
                return Err(ConsoleError::Config(format!(
                    "media folder {} is not a folder",
                    d.display()
                )));
            }
            roots.push(real);
        }
        Ok(MediaRoots { roots })
    }

    /// The roots, resolved.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The file or folder `rel` under root `root`. `rel` must be relative
    /// and plain (no `..`, no leading `/`), and what it names, with every
    /// symlink followed, must lie inside the root.
    ///
    /// # Errors
    /// [`ConsoleError::NotFound`] for an unknown root or a path that does
    /// not exist; [`ConsoleError::Forbidden`] for one that leaves the root.
    pub fn resolve(&self, root: usize, rel: &str) -> Result<PathBuf, ConsoleError> {
        let base = self
            .roots
            .get(root)
            .ok_or_else(|| ConsoleError::NotFound(format!("no media root {root}")))?;
        let rel_path = Path::new(rel);
        let plain = rel_path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !plain || rel.contains('\0') {
            return Err(ConsoleError::Forbidden(format!(
                "{rel:?} is not a plain path inside media root {root}"
            )));
        }
        let real = std::fs::canonicalize(base.join(rel_path))
            .map_err(|_| ConsoleError::NotFound(format!("{rel:?} in media root {root}")))?;
        if !real.starts_with(base) {
            return Err(ConsoleError::Forbidden(format!(
                "{rel:?} leads outside media root {root}"
            )));
        }
        Ok(real)
    }

    /// The entries of folder `rel` under root `root` (hidden ones and
    /// symlinks that leave the root left out).
    ///
    /// # Errors
    /// As [`MediaRoots::resolve`]; [`ConsoleError::BadRequest`] when `rel`
    /// is a file.
    pub fn list(&self, root: usize, rel: &str) -> Result<Listing, ConsoleError> {
        let dir = self.resolve(root, rel)?;
        if !dir.is_dir() {
            return Err(ConsoleError::BadRequest(format!("{rel:?} is not a folder")));
        }
        let base = &self.roots[root];
        let mut folders = Vec::new();
        let mut files = Vec::new();
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| ConsoleError::Forbidden(format!("cannot read {rel:?}: {e}")))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let Ok(real) = std::fs::canonicalize(entry.path()) else {
                continue;
            };
            let Ok(inside) = real.strip_prefix(base) else {
                continue;
            };
            let inside = inside.to_string_lossy().into_owned();
            match std::fs::metadata(&real) {
                Ok(m) if m.is_dir() => folders.push(inside),
                Ok(m) if m.is_file() => files.push((inside, m.len())),
                _ => {}
            }
        }
        folders.sort();
        files.sort();
        let path = dir
            .strip_prefix(base)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Listing {
            root,
            path,
            folders,
            files,
        })
    }
}
