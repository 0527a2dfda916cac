//! Stopping long work from outside: a [`Cancel`] token that decoders check
//! between packets, so every pass that decodes (transcode, redaction,
//! detection, motion indexing) ends promptly with
//! [`ErrorKind::Interrupted`] and leaves no partial output behind.

use crate::error::{Error, ErrorKind, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared flag: clones share it, and once [`cancel`](Cancel::cancel) is
/// called every holder sees it. The default token is never cancelled unless
/// someone cancels it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A fresh token, not cancelled.
    pub fn new() -> Self {
        Cancel::default()
    }

    /// Asks every holder of this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Cancel::cancel) has been called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` once cancelled.
    ///
    /// # Errors
    /// [`ErrorKind::Interrupted`] after [`cancel`](Cancel::cancel).
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::new(ErrorKind::Interrupted, "interrupted"))
        } else {
            Ok(())
        }
    }
}

/// Tokens compare equal when they are the same flag.
impl PartialEq for Cancel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Cancel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(a.check().is_ok());
        b.cancel();
        assert!(a.is_cancelled());
        let err = a.check().expect_err("cancelled");
        assert_eq!(err.kind(), ErrorKind::Interrupted);
        assert_eq!(a, b);
        assert_ne!(a, Cancel::new());
    }
}
