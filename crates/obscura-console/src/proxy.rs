//! Browser copies of recordings for playback: a stretch of a recording,
//! cut at the keyframes around it (stream copy, the core's exporter cut)
//! and re-encoded to H.264 in MP4, made on first request and cached.

use crate::error::ConsoleError;
use obscura_core::media::{self, AudioPolicy, EncodeOptions, Preset};
use obscura_core::output::PendingFile;
use obscura_core::pipeline::{self, PipelineOptions};
use obscura_core::ErrorKind;
use std::path::{Path, PathBuf};

/// The proxy cache: one folder, one builder at a time (two requests for
/// the same stretch make it once).
#[derive(Debug)]
pub(crate) struct Proxies {
    dir: PathBuf,
    building: std::sync::Mutex<()>,
}

impl Proxies {
    pub(crate) fn new(dir: &Path) -> Result<Proxies, ConsoleError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            ConsoleError::Config(format!(
                "cannot make the cache folder {}: {e}",
                dir.display()
            ))
        })?;
        Ok(Proxies {
            dir: dir.to_path_buf(),
            building: std::sync::Mutex::new(()),
        })
    }

    /// The proxy of `from_s..to_s` (media seconds) of the recording at
    /// `recording`, whose sha256 is `sha256`; made now if not cached.
    /// Blocking: run it off the async threads.
    ///
    /// # Errors
    /// Any error of probing, cutting or encoding the recording; nothing
    /// half-made is left under the proxy's name.
    pub(crate) fn clip(
        &self,
        recording: &Path,
        sha256: &str,
        from_s: f64,
        to_s: f64,
    ) -> Result<PathBuf, ConsoleError> {
        let stem = format!(
            "{}-{}-{}",
            sha256.get(..16).unwrap_or(sha256),
            (from_s * 1000.0).round() as i64,
            (to_s * 1000.0).round() as i64
        );
        let dest = self.dir.join(format!("{stem}.mp4"));
        let _one_at_a_time = self
            .building
            .lock()
            .map_err(|_| ConsoleError::Internal("a proxy build failed earlier".into()))?;
        if dest.is_file() {
            return Ok(dest);
        }
        let info = media::probe(recording)?;
        // Cut first, so only the stretch is decoded and encoded.
        let cut = PendingFile::new(self.dir.join(format!("{stem}.cut.mkv")), &[recording])?;
        let source = match media::copy_range(&info, from_s, to_s, &cut) {
            Ok(_) => cut.tmp_path().to_path_buf(),
            // No timestamps to cut by: the whole recording.
            Err(e) if e.kind() == ErrorKind::Unsupported => recording.to_path_buf(),
            Err(e) => return Err(e.into()),
        };
        let opts = PipelineOptions {
            encode: EncodeOptions {
                crf: 26,
                preset: Preset::Veryfast,
                audio: AudioPolicy::Aac,
                ..EncodeOptions::default()
            },
            ..PipelineOptions::default()
        };
        pipeline::transcode(&source, &dest, &opts, &mut |_| {})?;
        // `cut` is dropped here, removing the intermediate stream copy.
        Ok(dest)
    }
}
