//! Wall-clock time: where a recording's start comes from, and times as
//! people and programs write them.
//!
//! A recording's start comes from, in this order: an explicit option, the
//! container's `creation_time`, the camera profile's `filename_pattern`.
//! When none gives one, the record says so; no time is ever invented.

use crate::error::{Error, ErrorKind, Result};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use std::path::Path;

/// Where a recording's wall-clock start came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// Given explicitly by the operator.
    Explicit,
    /// The container's `creation_time` tag.
    CreationTime,
    /// The camera profile's `filename_pattern`.
    FilenamePattern,
    /// Nothing gave a time: the recording has no wall-clock times.
    Unknown,
}

impl TimeSource {
    /// Stable name, as stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeSource::Explicit => "explicit",
            TimeSource::CreationTime => "creation_time",
            TimeSource::FilenamePattern => "filename_pattern",
            TimeSource::Unknown => "unknown",
        }
    }
}

/// A recording's wall-clock start, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WallClock {
    /// UTC start of the first frame, when known.
    pub start: Option<DateTime<Utc>>,
    /// Its source.
    pub source: TimeSource,
}

impl WallClock {
    /// Works out the start of `path`: `explicit`, else the container's
    /// `creation_time`, else the time `path`'s name carries by the camera
    /// profile's `filename_pattern` (read as UTC unless the pattern carries
    /// `%z`), else unknown.
    pub fn resolve(
        explicit: Option<DateTime<Utc>>,
        creation_time: Option<&str>,
        filename_pattern: Option<&str>,
        path: &Path,
    ) -> WallClock {
        if let Some(t) = explicit {
            return WallClock {
                start: Some(t),
                source: TimeSource::Explicit,
            };
        }
        if let Some(t) = creation_time.and_then(parse_utc) {
            return WallClock {
                start: Some(t),
                source: TimeSource::CreationTime,
            };
        }
        let from_name = filename_pattern
            .zip(path.file_name().and_then(|n| n.to_str()))
            .and_then(|(pattern, name)| time_from_name(name, pattern));
        match from_name {
            Some(t) => WallClock {
                start: Some(t),
                source: TimeSource::FilenamePattern,
            },
            None => WallClock {
                start: None,
                source: TimeSource::Unknown,
            },
        }
    }

    /// The wall-clock time `media_s` seconds into the recording.
    pub fn at(&self, media_s: f64) -> Option<DateTime<Utc>> {
        let ms = (media_s * 1000.0).round() as i64;
        self.start.map(|s| s + chrono::Duration::milliseconds(ms))
    }
}

/// Parses a time as people and programs write it: RFC 3339 / ISO 8601
/// (`2026-11-02T07:30:00Z`, `2026-11-02 07:30:00+01:00`), or without an
/// offset, taken as UTC, to the second, the minute or the day
/// (`2026-11-02 07:30`, `2026-11-02`). 1970-01-01 (an unset MP4 field)
/// counts as absent.
pub fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    // With an offset: RFC 3339, or with a space for the `T`.
    let zoned = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M%:z"))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M%:z"))
        .map(|t| t.with_timezone(&Utc))
        .ok();
    // Without one: UTC, to the second, the minute or the day.
    let t = zoned.or_else(|| {
        [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .map(|n| n.and_utc())
    })?;
    (t.timestamp() > 86_400).then_some(t)
}

/// The time a file name carries according to a strftime-style `pattern`.
pub fn time_from_name(name: &str, pattern: &str) -> Option<DateTime<Utc>> {
    if pattern.contains("%z") {
        return DateTime::parse_from_str(name, pattern)
            .ok()
            .map(|t| t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(name, pattern)
        .ok()
        .map(|n| n.and_utc())
}

/// UTC time as stored: `YYYY-MM-DDTHH:MM:SS.sssZ`.
pub fn format_utc(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses a time a user gave (CLI argument, Python string): the forms of
/// [`parse_utc`] (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`, RFC 3339), all
/// UTC unless an offset is given.
///
/// # Errors
/// `InvalidArgument` naming the accepted forms.
pub fn parse_time_arg(text: &str) -> Result<DateTime<Utc>> {
    parse_utc(text).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "invalid time {text:?} (expected YYYY-MM-DD, \"YYYY-MM-DD HH:MM[:SS]\" or RFC 3339; UTC unless an offset is given)"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_sources_in_order_and_1970_is_unset() {
        assert_eq!(parse_utc("1970-01-01T00:00:00.000000Z"), None);
        let t = parse_utc("2026-11-03T08:15:00.000000Z").expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-11-03T08:15:00+00:00");
        for same in [
            "2026-11-03 08:15",
            "2026-11-03T08:15",
            " 2026-11-03 08:15:00 ",
            "2026-11-03 09:15:00+01:00",
            "2026-11-03T09:15+01:00",
        ] {
            assert_eq!(parse_utc(same), Some(t), "{same}");
        }
        let midnight = parse_utc("2026-11-03").expect("a day");
        assert_eq!(midnight.to_rfc3339(), "2026-11-03T00:00:00+00:00");
        assert_eq!(parse_utc("2026-13-03"), None);
        let n = time_from_name("cam07_20261103_081500.avi", "cam07_%Y%m%d_%H%M%S.avi");
        assert_eq!(n, Some(t));
        assert_eq!(time_from_name("other.avi", "cam07_%Y%m%d_%H%M%S.avi"), None);
        let wc = WallClock {
            start: Some(t),
            source: TimeSource::Explicit,
        };
        assert_eq!(
            wc.at(1.5).map(|t| t.to_rfc3339()),
            Some("2026-11-03T08:15:01.500+00:00".to_string())
        );
    }

    #[test]
    fn user_times_parse_and_format_as_stored() {
        assert_eq!(
            format_utc(&parse_time_arg("2026-11-02").expect("date")),
            "2026-11-02T00:00:00.000Z"
        );
        assert!(parse_time_arg("yesterday").is_err());
    }
}
