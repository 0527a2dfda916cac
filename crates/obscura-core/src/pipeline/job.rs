//! One handle for a long piece of work: where it has got to (one progress
//! callback type for every workflow) and a way to stop it from outside.

use super::Progress;
use crate::cancel::Cancel;

/// Progress reporting and cancellation for one call of a long workflow
/// ([`Redactor::redact`](super::Redactor::redact), ...).
///
/// ```
/// use obscura_core::pipeline::Job;
/// let mut seen = 0;
/// let mut job = Job::new().on_progress(|p| seen = p.frames);
/// let stop = job.cancel_token();
/// stop.cancel(); // e.g. from another thread or a signal handler
/// assert!(job.is_cancelled());
/// job.report(obscura_core::pipeline::Progress { frames: 8, total: 16 });
/// drop(job);
/// assert_eq!(seen, 8);
/// ```
pub struct Job<'a> {
    cancel: Cancel,
    progress: Option<Box<dyn FnMut(Progress) + Send + 'a>>,
}

impl std::fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("cancelled", &self.cancel.is_cancelled())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Default for Job<'_> {
    fn default() -> Self {
        Job::new()
    }
}

impl<'a> Job<'a> {
    /// A job with no progress callback and a fresh cancel token.
    pub fn new() -> Self {
        Job {
            cancel: Cancel::new(),
            progress: None,
        }
    }

    /// Calls `f` as frames are done (every few frames and at the end).
    #[must_use]
    pub fn on_progress(mut self, f: impl FnMut(Progress) + Send + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Stops when `cancel` is cancelled (a token shared with, e.g., a
    /// Ctrl-C handler or another thread).
    #[must_use]
    pub fn with_cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// The token that stops this job; clones share it.
    pub fn cancel_token(&self) -> Cancel {
        self.cancel.clone()
    }

    /// Whether the job was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Hands `p` to the progress callback, if there is one.
    pub fn report(&mut self, p: Progress) {
        if let Some(f) = self.progress.as_mut() {
            f(p);
        }
    }
}
