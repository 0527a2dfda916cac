//! SHA-256 of files, streamed (never the whole file in memory), and of
//! buffers.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Lowercase hex sha256 of the file at `path`.
///
/// # Errors
/// The I/O error if the file cannot be read.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What is at a path that should be a regular file.
#[derive(Debug)]
pub(crate) enum FileKind {
    /// Nothing there.
    Missing,
    /// Something other than a regular file (named): a directory, a FIFO, a
    /// socket, a device, a symbolic link.
    NotRegular(&'static str),
}

fn kind_name(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading only if it is a regular file, never following
/// a symbolic link and never blocking (a FIFO is refused, not opened for a
/// read that would wait for a writer). The type is checked before opening
/// and again on the open handle, so a file swapped in between is caught.
pub(crate) fn open_regular(path: &Path) -> std::result::Result<std::fs::File, OpenRegularError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OpenRegularError::Kind(FileKind::Missing))
        }
        Err(e) => return Err(OpenRegularError::Io(e)),
    };
    if !meta.file_type().is_file() {
        return Err(OpenRegularError::Kind(FileKind::NotRegular(kind_name(
            meta.file_type(),
        ))));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let f = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OpenRegularError::Kind(FileKind::Missing))
        }
        Err(e) => return Err(OpenRegularError::Io(e)),
    };
    let t = f.metadata().map_err(OpenRegularError::Io)?.file_type();
    if !t.is_file() {
        return Err(OpenRegularError::Kind(FileKind::NotRegular(kind_name(t))));
    }
    Ok(f)
}

/// Why [`open_regular`] refused.
#[derive(Debug)]
pub(crate) enum OpenRegularError {
    /// Missing, or not a regular file.
    Kind(FileKind),
    /// Any other I/O error.
    Io(std::io::Error),
}

impl OpenRegularError {
    /// In words, for a one-line error.
    pub(crate) fn describe(&self) -> String {
        match self {
            OpenRegularError::Kind(FileKind::Missing) => "no such file".into(),
            OpenRegularError::Kind(FileKind::NotRegular(k)) => {
                format!("is {k}, not a regular file: refused")
            }
            OpenRegularError::Io(e) => e.to_string(),
        }
    }
}

/// sha256 of a regular file (see [`open_regular`]).
pub(crate) fn regular_file_sha256(path: &Path) -> std::result::Result<String, OpenRegularError> {
    let mut f = open_regular(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(OpenRegularError::Io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// [`regular_file_sha256`] with the crate's error: `NotFound` when
/// missing, `InvalidArgument` for anything that is not a regular file
/// (never opened), `Io` otherwise; all naming `path`.
pub(crate) fn regular_sha256(path: &Path) -> crate::Result<String> {
    use crate::error::{Error, ErrorKind};
    regular_file_sha256(path).map_err(|e| match e {
        OpenRegularError::Kind(FileKind::Missing) => {
            Error::new(ErrorKind::NotFound, "no such file").with_path(path)
        }
        OpenRegularError::Kind(FileKind::NotRegular(_)) => {
            Error::new(ErrorKind::InvalidArgument, e.describe()).with_path(path)
        }
        OpenRegularError::Io(io) => Error::io(io, "cannot hash").with_path(path),
    })
}
