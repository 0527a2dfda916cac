//! Camera profiles: one TOML file per camera with its number, name, town and
//! desk, the privacy masks that must be obscured on every frame, and the
//! motion ignore-zones.
//!
//! ```toml
//! camera = 12
//! name = "Market Square north"
//! town = "Exampleton"
//! desk = "A"
//!
//! # Coordinates are pixels of this resolution (scaled to the video's), or
//! # set `coordinates = "normalised"` and give them in 0..1.
//! [reference]
//! width = 768
//! height = 576
//!
//! [[mask]]
//! id = "flat-3-window"
//! polygon = [[10, 20], [120, 20], [120, 90], [10, 90]]
//! style = "mosaic"          # mosaic | blur | solid; optional `tile` in pixels
//!
//! [[ignore_zone]]
//! id = "tree"
//! polygon = [[600, 0], [768, 0], [768, 120]]
//! ```
//!
//! Loading validates everything and names the file, the field and the valid
//! range in its error. A polygon partly outside the frame is clipped, not
//! refused.

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// How a mask obscures what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Tiles, each the average of the pixels it covers.
    #[default]
    Mosaic,
    /// A smooth interpolation of the same coarse tile averages as `mosaic`,
    /// so it carries no more information than the mosaic does.
    Blur,
    /// A flat black fill.
    Solid,
}

impl Style {
    /// All styles, for error messages.
    pub const ALL: [&'static str; 3] = ["mosaic", "blur", "solid"];
}

impl std::fmt::Display for Style {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Style::Mosaic => "mosaic",
            Style::Blur => "blur",
            Style::Solid => "solid",
        })
    }
}

impl std::str::FromStr for Style {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mosaic" => Ok(Style::Mosaic),
            "blur" => Ok(Style::Blur),
            "solid" => Ok(Style::Solid),
            other => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "invalid style {other:?} (expected one of {})",
                    Style::ALL.join(", ")
                ),
            )),
        }
    }
}

/// A privacy mask as written in the profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mask {
    /// Unique id, used to lift the mask under an authorisation.
    pub id: String,
    /// Vertices, in profile coordinates.
    pub polygon: Vec<[f64; 2]>,
    /// How to obscure.
    pub style: Style,
    /// Tile size in video pixels; default: the irreversible rule (see
    /// [`crate::mask`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile: Option<u32>,
}

/// A region motion analysis ignores (trees, clocks, busy roads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Unique id.
    pub id: String,
    /// Vertices, in profile coordinates.
    pub polygon: Vec<[f64; 2]>,
}

/// The resolution profile coordinates refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// How polygon coordinates are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Coordinates {
    /// Pixels of the `[reference]` resolution.
    #[default]
    Pixels,
    /// Fractions of the frame, 0..1.
    Normalised,
}

/// A validated camera profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraProfile {
    /// Camera number.
    pub camera: u32,
    /// Camera name.
    pub name: String,
    /// Town it watches.
    pub town: String,
    /// Control-room desk that monitors it.
    pub desk: String,
    /// Coordinate system of the polygons.
    #[serde(default)]
    pub coordinates: Coordinates,
    /// Reference resolution, required with pixel coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// Recording file-name pattern (strftime-style) giving each file's
    /// wall-clock start, e.g. `cam12_%Y%m%d_%H%M%S.mp4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename_pattern: Option<String>,
    /// Privacy masks.
    #[serde(default, rename = "mask")]
    pub masks: Vec<Mask>,
    /// Motion ignore-zones.
    #[serde(default, rename = "ignore_zone")]
    pub ignore_zones: Vec<Zone>,
}

fn invalid(path: &Path, field: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{field}: {msg}")).with_path(path)
}

/// Twice the signed area of a polygon (shoelace).
fn area2(poly: &[[f64; 2]]) -> f64 {
    let n = poly.len();
    (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum()
}

impl CameraProfile {
    /// Reads and validates the profile at `path`.
    ///
    /// # Errors
    /// `NotFound`/`Io` if unreadable; `InvalidArgument` naming the file, the
    /// field and the valid range for anything invalid.
    pub fn load(path: impl AsRef<Path>) -> Result<CameraProfile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(e, "cannot read camera profile").with_path(path))?;
        CameraProfile::parse(&text, path)
    }

    /// Parses and validates profile text; `path` names it in errors.
    ///
    /// # Errors
    /// As [`CameraProfile::load`].
    pub fn parse(text: &str, path: &Path) -> Result<CameraProfile> {
        let profile: CameraProfile = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            let msg = if msg.contains("unknown variant") && msg.contains("expected") {
                format!("style: {msg} (expected one of {})", Style::ALL.join(", "))
            } else {
                msg
            };
            Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid profile: {msg}"),
            )
            .with_path(path)
        })?;
        profile.validate(path)?;
        Ok(profile)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(invalid(path, "name", "must not be empty"));
        }
        match (self.coordinates, self.reference) {
            (Coordinates::Pixels, None) => {
                return Err(invalid(
                    path,
                    "reference",
                    "missing: give [reference] width and height for pixel coordinates, or set coordinates = \"normalised\"",
                ))
            }
            (_, Some(r)) if !(16..=16384).contains(&r.width) || !(16..=16384).contains(&r.height) => {
                return Err(invalid(
                    path,
                    "reference",
                    format!(
                        "invalid size {}x{} (expected each >= 16, <= 16384)",
                        r.width, r.height
                    ),
                ))
            }
            _ => {}
        }
        let mut ids = HashSet::new();
        for (i, m) in self.masks.iter().enumerate() {
            let field = format!("mask[{i}] (id {:?})", m.id);
            if m.id.trim().is_empty() {
                return Err(invalid(path, &format!("mask[{i}].id"), "must not be empty"));
            }
            if !ids.insert(m.id.as_str()) {
                return Err(invalid(
                    path,
                    &format!("{field}.id"),
                    "duplicate mask id (each mask needs its own)",
                ));
            }
            self.validate_polygon(path, &format!("{field}.polygon"), &m.polygon)?;
            if let Some(t) = m.tile {
                if !(4..=512).contains(&t) {
                    return Err(invalid(
                        path,
                        &format!("{field}.tile"),
                        format!("invalid tile {t} (expected >= 4, <= 512)"),
                    ));
                }
            }
        }
        if let Some(pattern) = &self.filename_pattern {
            check_filename_pattern(pattern)
                .map_err(|why| invalid(path, "filename_pattern", why))?;
        }
        let mut zone_ids = HashSet::new();
        for (i, z) in self.ignore_zones.iter().enumerate() {
            let field = format!("ignore_zone[{i}] (id {:?})", z.id);
            if !zone_ids.insert(z.id.as_str()) {
                return Err(invalid(
                    path,
                    &format!("{field}.id"),
                    "duplicate ignore-zone id",
                ));
            }
            self.validate_polygon(path, &format!("{field}.polygon"), &z.polygon)?;
        }
        Ok(())
    }

    fn validate_polygon(&self, path: &Path, field: &str, poly: &[[f64; 2]]) -> Result<()> {
        if poly.len() < 3 {
            return Err(invalid(
                path,
                field,
                format!("{} point(s) (expected >= 3)", poly.len()),
            ));
        }
        for (j, p) in poly.iter().enumerate() {
            if !p[0].is_finite() || !p[1].is_finite() {
                return Err(invalid(
                    path,
                    &format!("{field}[{j}]"),
                    "not a number (expected finite coordinates >= 0)",
                ));
            }
            if p[0] < 0.0 || p[1] < 0.0 {
                return Err(invalid(
                    path,
                    &format!("{field}[{j}]"),
                    format!("[{}, {}] is negative (expected >= 0)", p[0], p[1]),
                ));
            }
        }
        if area2(poly).abs() < 1e-9 {
            return Err(invalid(
                path,
                field,
                "degenerate polygon with zero area (points coincide or lie on one line)",
            ));
        }
        Ok(())
    }

    /// Scales a polygon from profile coordinates to a `width`x`height` video.
    pub fn to_video(&self, poly: &[[f64; 2]], width: usize, height: usize) -> Vec<[f64; 2]> {
        let (sx, sy) = match (self.coordinates, self.reference) {
            (Coordinates::Normalised, _) => (width as f64, height as f64),
            (Coordinates::Pixels, Some(r)) => (
                width as f64 / f64::from(r.width),
                height as f64 / f64::from(r.height),
            ),
            // validate() refuses pixels without a reference.
            (Coordinates::Pixels, None) => (1.0, 1.0),
        };
        poly.iter().map(|p| [p[0] * sx, p[1] * sy]).collect()
    }

    /// The profile's masks by id.
    pub fn mask(&self, id: &str) -> Option<&Mask> {
        self.masks.iter().find(|m| m.id == id)
    }
}

/// A profile together with where it came from and the hash of its bytes, as
/// recorded in reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadedProfile {
    /// The profile file.
    pub path: PathBuf,
    /// sha256 of the file's bytes.
    pub sha256: String,
    /// The validated profile.
    pub profile: CameraProfile,
}

impl LoadedProfile {
    /// Loads, validates and hashes the profile at `path`.
    ///
    /// # Errors
    /// As [`CameraProfile::load`].
    pub fn load(path: impl AsRef<Path>) -> Result<LoadedProfile> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::io(e, "cannot read camera profile").with_path(path))?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                "camera profile is not UTF-8 text",
            )
            .with_path(path)
        })?;
        let profile = CameraProfile::parse(&text, path)?;
        use sha2::Digest;
        Ok(LoadedProfile {
            path: path.to_path_buf(),
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            profile,
        })
    }
}

/// Checks a recording file-name pattern: only known strftime fields, and
/// enough of them (date, hour and minute) to give each file's start, so a
/// typo cannot leave every recording silently undated.
fn check_filename_pattern(pattern: &str) -> std::result::Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    use chrono::TimeZone;
    if StrftimeItems::new(pattern).any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "invalid pattern {pattern:?}: an unknown or incomplete % field (use strftime fields such as %Y%m%d_%H%M%S; %% for a literal %)"
        ));
    }
    let Some(sample) = chrono::Utc
        .with_ymd_and_hms(2026, 11, 2, 7, 30, 45)
        .single()
    else {
        return Ok(());
    };
    let name = sample.format(pattern).to_string();
    match crate::clock::time_from_name(&name, pattern) {
        Some(t) if (t - sample).num_seconds().abs() < 60 => Ok(()),
        _ => Err(format!(
            "pattern {pattern:?} does not give a start time (it needs the date, hour and minute, e.g. cam12_%Y%m%d_%H%M%S.mp4)"
        )),
    }
}
