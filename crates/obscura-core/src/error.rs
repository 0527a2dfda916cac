//! The one error type of the core: a [`ErrorKind`] to match on, the file it
//! concerns, and a message written for the person at the keyboard.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, coarsely enough to act on (retry, fix the input, run the
/// setup) without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file or directory that was named does not exist.
    NotFound,
    /// Reading or writing failed at the operating-system level (permissions,
    /// full disk, unwritable directory).
    Io,
    /// An output or record already exists at that name: outputs and records
    /// are never replaced unless replacing is asked for explicitly.
    AlreadyExists,
    /// The file is not a media file ffmpeg recognises (empty, text, random bytes).
    NotMedia,
    /// The file is media but has no video stream to work on (audio only).
    NoVideo,
    /// The media is damaged: a truncated file, a corrupt stream, or a decoder
    /// that produced no picture.
    Corrupt,
    /// The media is valid but uses something Obscura does not handle (a codec
    /// without a decoder, an audio codec MP4 cannot carry).
    Unsupported,
    /// Encoding or writing the output container failed.
    Encode,
    /// An option or argument is out of its valid range.
    InvalidArgument,
    /// ONNX Runtime is missing or cannot be loaded.
    Runtime,
    /// A model is missing, corrupt, or not the model expected.
    Model,
    /// The incident index (SQLite) cannot be opened, read or written, or
    /// was made by a newer Obscura.
    Database,
    /// The work was stopped on request (Ctrl-C, or a [`crate::Cancel`]
    /// token) before it finished; nothing partial was left behind.
    Interrupted,
}

impl ErrorKind {
    /// Every kind, in declaration order: the one list other languages'
    /// error classes are checked against (the Python package has a test
    /// that each has its exception class).
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::NotFound,
        ErrorKind::Io,
        ErrorKind::AlreadyExists,
        ErrorKind::NotMedia,
        ErrorKind::NoVideo,
        ErrorKind::Corrupt,
        ErrorKind::Unsupported,
        ErrorKind::Encode,
        ErrorKind::InvalidArgument,
        ErrorKind::Runtime,
        ErrorKind::Model,
        ErrorKind::Database,
        ErrorKind::Interrupted,
    ];

    /// A short stable name for the kind, for JSON output and error mapping in
    /// other languages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Io => "io",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::NotMedia => "not_media",
            ErrorKind::NoVideo => "no_video",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Encode => "encode",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Runtime => "runtime",
            ErrorKind::Model => "model",
            ErrorKind::Database => "database",
            ErrorKind::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from the core. Its `Display` is one line: the file (when there is
/// one), then what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.one_line())]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    message: String,
}

impl Error {
    /// Makes an error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            path: None,
            message: message.into(),
        }
    }

    /// Attaches the file this error is about, unless one is attached already.
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.as_ref().to_path_buf());
        }
        self
    }

    /// Builds an error from an I/O error, choosing [`ErrorKind::NotFound`]
    /// where the OS says so.
    pub fn io(err: std::io::Error, what: impl fmt::Display) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io,
        };
        Error::new(kind, format!("{what}: {err}"))
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file this error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The message without the path.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn one_line(&self) -> String {
        match &self.path {
            Some(p) => format!("{}: {}", p.display(), self.message),
            None => self.message.clone(),
        }
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error as data, for machine-readable output: the name of its kind
/// (as [`ErrorKind::as_str`]) and its message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorReport {
    /// The kind's name.
    pub kind: &'static str,
    /// The message, as `Display` prints it.
    pub message: String,
}

/// A file that a batch could not process, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileFailure {
    /// The file as it was given.
    pub path: PathBuf,
    /// Why it failed.
    pub error: ErrorReport,
}

impl Error {
    /// This error as data.
    pub fn report(&self) -> ErrorReport {
        ErrorReport {
            kind: self.kind().as_str(),
            message: self.to_string(),
        }
    }

    /// This error as the failure of one file of a batch.
    pub fn report_for(&self, path: impl Into<PathBuf>) -> FileFailure {
        FileFailure {
            path: path.into(),
            error: self.report(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_kind_once_with_a_distinct_name() {
        // Exhaustive: a new kind fails to compile here until it is placed.
        let position = |k: ErrorKind| match k {
            ErrorKind::NotFound => 0,
            ErrorKind::Io => 1,
            ErrorKind::AlreadyExists => 2,
            ErrorKind::NotMedia => 3,
            ErrorKind::NoVideo => 4,
            ErrorKind::Corrupt => 5,
            ErrorKind::Unsupported => 6,
            ErrorKind::Encode => 7,
            ErrorKind::InvalidArgument => 8,
            ErrorKind::Runtime => 9,
            ErrorKind::Model => 10,
            ErrorKind::Database => 11,
            ErrorKind::Interrupted => 12,
        };
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(position(*k), i, "{k}");
        }
        let names: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
