//! The subject access review: a recording (from the index or a `--media`
//! root) reviewed with the core's [`Review`]: tracks found in the
//! background with progress streamed to the page (server-sent events;
//! Cancel, or closing the page, stops the search), one timeline bar per
//! track with its thumbnail, tracks kept with a reason, boxes drawn, a
//! frame viewer showing the redaction exactly as the output will be, then
//! the redaction (a replay of the review's record, logged in the audit
//! trail), its verification, and the disclosure.

use crate::error::ConsoleError;
use obscura_core::pipeline::analyse;
use obscura_core::pipeline::redact::{self, KeptTrack, ManualBox, RedactOptions};
use obscura_core::pipeline::review::{Decisions, Review};
use obscura_core::pipeline::verify::Residual;
use obscura_core::pipeline::Job;
use obscura_core::{Cancel, ErrorKind};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Where a review's search for tracks stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "phase", rename_all = "lowercase")]
pub(crate) enum Phase {
    /// Decoding and detecting: frames done of total.
    Finding { frames: u64, total: u64 },
    /// Tracks found.
    Ready,
    /// Stopped by Cancel or by the page closing.
    Cancelled,
    /// The search failed.
    Failed { message: String },
}

/// Where the review's redaction stands (after the tracks are found).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub(crate) enum Work {
    /// Nothing running.
    Idle,
    /// Redacting, then verifying: frames done of total in that step.
    Running {
        step: &'static str,
        frames: u64,
        total: u64,
    },
    /// Stopped by Cancel or by the page closing; nothing was left.
    Cancelled,
    /// The redaction failed; nothing was left.
    Failed { message: String },
}

/// What the redaction of a review made.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outcome {
    pub output: PathBuf,
    pub record: PathBuf,
    pub review_record: PathBuf,
    pub output_sha256: String,
    pub residuals: Vec<Residual>,
    pub min_score: f32,
    /// Faces the obscuring made (the original shows no face there): listed,
    /// not counted.
    pub made_by_obscuring: Vec<Residual>,
    /// Why the verification did not finish, if it did not.
    pub verify_failed: Option<String>,
    pub audit_seq: i64,
    pub disclosed: Option<i64>,
}

/// One review in progress.
#[derive(Debug)]
pub(crate) struct Session {
    pub id: String,
    pub input: PathBuf,
    pub cancel: Cancel,
    phase: Mutex<Phase>,
    review: OnceLock<Review>,
    decisions: Mutex<Decisions>,
    outcome: Mutex<Option<Outcome>>,
    /// Pages following the search's progress.
    watchers: AtomicUsize,
    started: std::time::Instant,
    work: Mutex<Work>,
    work_cancel: Mutex<Cancel>,
}

/// Searches for tracks running at once, at most.
const MAX_SEARCHES: usize = 2;

/// Reviews kept in memory, at most (the oldest finished one is forgotten
/// first; a saved review reopens).
const MAX_REVIEWS: usize = 8;

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    pub(crate) fn phase(&self) -> Phase {
        locked(&self.phase).clone()
    }

    pub(crate) fn review(&self) -> Result<&Review, ConsoleError> {
        self.review
            .get()
            .ok_or_else(|| ConsoleError::BadRequest("the tracks are not found yet".into()))
    }

    pub(crate) fn decisions(&self) -> Decisions {
        locked(&self.decisions).clone()
    }

    /// Applies `change` to a copy of the decisions and keeps it only if the
    /// review accepts the result (it checks ids, reasons, boxes).
    pub(crate) fn decide(&self, change: impl FnOnce(&mut Decisions)) -> Result<(), ConsoleError> {
        let review = self.review()?;
        let mut d = locked(&self.decisions);
        let mut next = d.clone();
        change(&mut next);
        review.record(&next, "check", "check", None)?;
        *d = next;
        Ok(())
    }

    pub(crate) fn work(&self) -> Work {
        locked(&self.work).clone()
    }

    /// Whether a search or a redaction is running.
    pub(crate) fn busy(&self) -> bool {
        matches!(self.phase(), Phase::Finding { .. }) || matches!(self.work(), Work::Running { .. })
    }

    /// Stops whatever is running: the search or the redaction.
    pub(crate) fn stop(&self) {
        self.cancel.cancel();
        locked(&self.work_cancel).cancel();
    }

    pub(crate) fn outcome(&self) -> Option<Outcome> {
        locked(&self.outcome).clone()
    }

    pub(crate) fn set_outcome(&self, o: Outcome) {
        *locked(&self.outcome) = Some(o);
    }

    /// A page started following the search.
    pub(crate) fn watch(self: &Arc<Self>) -> Watcher {
        self.watchers.fetch_add(1, Ordering::SeqCst);
        Watcher(self.clone())
    }
}

/// A page following a search or a redaction. When the last one goes (the
/// tab closed) and none comes back within a few seconds (a reload comes
/// back), the work is cancelled.
#[derive(Debug)]
pub(crate) struct Watcher(Arc<Session>);

/// How long a search waits for a page to come back before it stops.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

impl Drop for Watcher {
    fn drop(&mut self) {
        if self.0.watchers.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        let s = self.0.clone();
        std::thread::spawn(move || {
            std::thread::sleep(ABANDONED_AFTER);
            if s.busy() && s.watchers.load(Ordering::SeqCst) == 0 {
                s.stop();
            }
        });
    }
}

/// Every review of this console run, by id.
#[derive(Debug, Default)]
pub(crate) struct Sessions(Mutex<HashMap<String, Arc<Session>>>, Arc<Models>);

/// Loaded detector sets (one per detection worker), by whether people are
/// detected, kept between searches so the models load once, not per
/// review. A search takes a set out and gives it back; two searches at
/// once load a second.
#[derive(Default)]
pub(crate) struct Models(Mutex<Vec<(bool, Vec<analyse::DetectorSet>)>>);

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field("pooled", &locked(&self.0).len())
            .finish()
    }
}

impl Models {
    fn take(
        &self,
        people: bool,
        opts: &RedactOptions,
    ) -> obscura_core::Result<Vec<analyse::DetectorSet>> {
        let pooled = {
            let mut pool = locked(&self.0);
            pool.iter()
                .position(|(p, _)| *p == people)
                .map(|i| pool.swap_remove(i).1)
        };
        match pooled {
            Some(sets) => Ok(sets),
            None => analyse::worker_detectors(opts.detect.as_ref().unwrap_or(&Default::default())),
        }
    }

    fn give(&self, people: bool, sets: Vec<analyse::DetectorSet>) {
        locked(&self.0).push((people, sets));
    }
}

impl Sessions {
    pub(crate) fn get(&self, id: &str) -> Result<Arc<Session>, ConsoleError> {
        locked(&self.0)
            .get(id)
            .cloned()
            .ok_or_else(|| ConsoleError::NotFound(format!("no review {id:?}")))
    }

    pub(crate) fn all(&self) -> Vec<Arc<Session>> {
        let mut v: Vec<_> = locked(&self.0).values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Starts finding the tracks of `input` on a thread of its own, with
    /// the camera profile `camera` (its masks drawn and liftable) and with
    /// people detected when `people`.
    pub(crate) fn start(
        &self,
        input: PathBuf,
        camera: Option<PathBuf>,
        people: bool,
        saved: Option<Decisions>,
    ) -> Result<Arc<Session>, ConsoleError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)
            .map_err(|e| ConsoleError::Internal(format!("no random numbers: {e}")))?;
        let id = hex::encode(bytes);
        {
            // Each search holds the models and a decoder, each review its
            // tracks: a few at a time, the oldest finished one making room.
            let mut map = locked(&self.0);
            let finding = map
                .values()
                .filter(|s| matches!(s.phase(), Phase::Finding { .. }))
                .count();
            if finding >= MAX_SEARCHES {
                return Err(ConsoleError::BadRequest(format!(
                    "{finding} reviews are finding tracks already: wait for one, or cancel it"
                )));
            }
            while map.len() >= MAX_REVIEWS {
                let oldest = map
                    .values()
                    .filter(|s| !matches!(s.phase(), Phase::Finding { .. }))
                    .min_by_key(|s| s.started)
                    .map(|s| s.id.clone());
                match oldest {
                    Some(old) => {
                        map.remove(&old);
                    }
                    None => break,
                }
            }
        }
        let cancel = Cancel::new();
        let session = Arc::new(Session {
            id: id.clone(),
            input: input.clone(),
            cancel: cancel.clone(),
            phase: Mutex::new(Phase::Finding {
                frames: 0,
                total: 0,
            }),
            review: OnceLock::new(),
            decisions: Mutex::new(Decisions::default()),
            outcome: Mutex::new(None),
            watchers: AtomicUsize::new(0),
            started: std::time::Instant::now(),
            work: Mutex::new(Work::Idle),
            work_cancel: Mutex::new(Cancel::new()),
        });
        locked(&self.0).insert(id, session.clone());
        let s = session.clone();
        let models = self.1.clone();
        std::thread::spawn(move || {
            let mut opts = RedactOptions {
                camera,
                ..RedactOptions::default()
            };
            if people {
                if let Some(d) = opts.detect.as_mut() {
                    d.people = Some(Default::default());
                }
            }
            let mut job = Job::new().with_cancel(cancel).on_progress(|p| {
                *locked(&s.phase) = Phase::Finding {
                    frames: p.frames,
                    total: p.total,
                };
            });
            let found = models.take(people, &opts).and_then(|mut sets| {
                let found = Review::start(&input, &opts, Some(&mut sets), &mut job);
                models.give(people, sets);
                found
            });
            drop(job);
            let phase = match found {
                // A reopened review's decisions must still fit the tracks
                // found again.
                Ok(review) => match saved.map(|d| (review.record(&d, "check", "check", None), d)) {
                    Some((Err(e), _)) => Phase::Failed {
                        message: format!("the saved review does not fit this file's tracks: {e}"),
                    },
                    other => {
                        if let Some((_, d)) = other {
                            *locked(&s.decisions) = d;
                        }
                        let _ = s.review.set(review);
                        Phase::Ready
                    }
                },
                Err(e) if e.kind() == ErrorKind::Interrupted => Phase::Cancelled,
                Err(e) => Phase::Failed {
                    message: e.to_string(),
                },
            };
            *locked(&s.phase) = phase;
        });
        Ok(session)
    }
}

/// The camera profiles in `dir` (`*.toml`), by camera number.
///
/// # Errors
/// [`ConsoleError::Config`] when the folder cannot be read or a profile is
/// invalid, or two profiles have the same camera number.
pub(crate) fn load_cameras(
    dir: Option<&Path>,
) -> Result<Vec<(u32, String, PathBuf)>, ConsoleError> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ConsoleError::Config(format!("camera folder {}: {e}", dir.display())))?;
    let mut out: Vec<(u32, String, PathBuf)> = Vec::new();
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for path in files {
        let p = obscura_core::mask::camera::CameraProfile::load(&path)
            .map_err(|e| ConsoleError::Config(e.to_string()))?;
        if out.iter().any(|(n, _, _)| *n == p.camera) {
            return Err(ConsoleError::Config(format!(
                "two profiles for camera {} in {}",
                p.camera,
                dir.display()
            )));
        }
        out.push((p.camera, p.name, path));
    }
    out.sort_by_key(|c| c.0);
    Ok(out)
}

/// A track as the review page shows it.
#[derive(Debug, Serialize)]
pub(crate) struct TrackRow {
    pub id: u32,
    pub class: &'static str,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_time: f64,
    pub last_time: f64,
    pub detections: usize,
    pub kept: Option<String>,
    pub linked: Vec<u32>,
}

pub(crate) fn track_rows(review: &Review, d: &Decisions) -> Vec<TrackRow> {
    review
        .tracks()
        .iter()
        .map(|t| TrackRow {
            id: t.id,
            class: t.class.name(),
            first_frame: t.first_frame,
            last_frame: t.last_frame,
            first_time: t.first_time,
            last_time: t.last_time,
            detections: t.detections,
            kept: d
                .keep
                .iter()
                .find(|k| k.id == t.id)
                .map(|k| k.reason.clone()),
            linked: t.linked.clone(),
        })
        .collect()
}

/// The track timeline: one bar per track over the clip's frames, red when
/// obscured, green when kept; manual boxes as grey bars below.
pub(crate) fn timeline(review: &Review, d: &Decisions) -> String {
    use std::fmt::Write;
    let frames = review.info().frames.max(1) as f64;
    let (label_w, chart_w, row_h) = (110.0, 640.0, 18.0);
    let rows = review.tracks().len() + d.boxes.len();
    let height = 24.0 + row_h * rows.max(1) as f64;
    let width = label_w + chart_w + 10.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" role=\"img\" \
         viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\"><title>Tracks over the clip</title>\
         <text x=\"{label_w}\" y=\"12\">frame 0</text>\
         <text x=\"{end}\" y=\"12\" text-anchor=\"end\">frame {last}</text>",
        end = label_w + chart_w,
        last = review.info().frames.saturating_sub(1)
    );
    let mut y = 20.0;
    for t in review.tracks() {
        let kept = d.keep.iter().any(|k| k.id == t.id);
        let x = label_w + chart_w * t.first_frame as f64 / frames;
        let w = (chart_w * (t.last_frame + 1 - t.first_frame) as f64 / frames).max(2.0);
        let colour = if kept { "#2e7d32" } else { "#c0392b" };
        let _ = write!(
            s,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">#{id} {class}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{chart_w}\" height=\"12\" fill=\"#f2f2f2\"/>\
             <a href=\"#track-{id}\"><rect class=\"track\" data-first=\"{first}\" x=\"{x:.1}\" y=\"{y}\" \
             width=\"{w:.1}\" height=\"12\" fill=\"{colour}\"><title>#{id} {class}: frames {first}-{last}, {state}</title></rect></a>",
            lx = label_w - 6.0,
            ty = y + 10.0,
            id = t.id,
            class = t.class.name(),
            first = t.first_frame,
            last = t.last_frame,
            state = if kept { "kept" } else { "obscured" },
        );
        y += row_h;
    }
    for (i, b) in d.boxes.iter().enumerate() {
        let x = label_w + chart_w * b.first as f64 / frames;
        let w = (chart_w * (b.last.saturating_sub(b.first) + 1) as f64 / frames).max(2.0);
        let _ = write!(
            s,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">box {n}</text>\
             <rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"12\" fill=\"#555\"/>",
            lx = label_w - 6.0,
            ty = y + 10.0,
            n = i + 1
        );
        y += row_h;
    }
    s.push_str("</svg>");
    s
}

/// A JPEG of frame `index` with the decisions drawn, at the video's size.
pub(crate) fn frame_jpeg(
    review: &Review,
    d: &Decisions,
    index: u64,
) -> Result<Vec<u8>, ConsoleError> {
    let frame = review.preview(d, index)?;
    let view = frame.view();
    Ok(obscura_core::frame::sheet::encode_jpeg(
        &view,
        view.width(),
    )?)
}

/// A track's thumbnail as JPEG.
pub(crate) fn thumbnail_jpeg(review: &Review, id: u32) -> Result<Vec<u8>, ConsoleError> {
    let i = review
        .tracks()
        .iter()
        .position(|t| t.id == id)
        .ok_or_else(|| ConsoleError::NotFound(format!("no track {id}")))?;
    let side = obscura_core::frame::sheet::THUMB as u32;
    let img = image::RgbImage::from_raw(side, side, review.thumbnails()[i].0.clone())
        .ok_or_else(|| ConsoleError::Internal("a thumbnail of the wrong size".into()))?;
    Ok(obscura_core::frame::draw::jpeg_bytes(&img, 85)?)
}

/// The kept track `id` with `reason`, replacing an earlier decision on it.
pub(crate) fn keep(d: &mut Decisions, id: u32, reason: &str) {
    d.keep.retain(|k| k.id != id);
    d.keep.push(KeptTrack {
        id,
        reason: reason.trim().to_string(),
    });
}

/// A file name for an output: letters, digits, `-`, `_` and `.` only, and
/// `.mp4` at the end.
pub(crate) fn output_name(wanted: &str, input: &Path) -> String {
    let stem = if wanted.trim().is_empty() {
        format!(
            "{}-redacted",
            input
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "clip".into())
        )
    } else {
        wanted.trim().trim_end_matches(".mp4").to_string()
    };
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}.mp4", clean.trim_start_matches('.'))
}

/// What a redaction request carries.
pub(crate) struct RedactRequest {
    pub operator: String,
    pub reason: String,
    pub case_reference: Option<String>,
    pub out_dir: PathBuf,
    pub name: String,
    pub db: PathBuf,
}

/// A redaction ready to run: its names claimed, the review's record
/// written.
pub(crate) struct Prepared {
    req: RedactRequest,
    output: PathBuf,
    review_record: PathBuf,
}

/// Checks a redaction of the session's clip as reviewed and writes the
/// review's record beside the output (`NAME.mp4.review.json`, never
/// replacing a file); fails, writing nothing, when the output's or a
/// record's name is taken or the decisions do not fit.
pub(crate) fn prepare(s: &Session, req: RedactRequest) -> Result<Prepared, ConsoleError> {
    let review = s.review()?;
    let record = review.record(
        &s.decisions(),
        &req.operator,
        &req.reason,
        req.case_reference.as_deref(),
    )?;
    std::fs::create_dir_all(&req.out_dir).map_err(|e| {
        obscura_core::Error::io(e, "cannot make the output folder").with_path(&req.out_dir)
    })?;
    let output = req.out_dir.join(&req.name);
    // A name that cannot be written fails before anything is.
    obscura_core::output::check_claimable(&output, &[&s.input], false)?;
    obscura_core::output::check_claimable(&redact::record_path(&output), &[&s.input], false)?;
    // Beside the output's own record; a review saved earlier under the
    // same name (`NAME.review.json`) stays as it is.
    let mut review_record = output.clone().into_os_string();
    review_record.push(".review.json");
    let review_record = PathBuf::from(review_record);
    let pending = obscura_core::output::PendingFile::new(&review_record, &[&s.input])?;
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| ConsoleError::Internal(format!("cannot write the review's record: {e}")))?;
    std::fs::write(pending.tmp_path(), json).map_err(|e| {
        obscura_core::Error::io(e, "cannot write the review's record").with_path(&review_record)
    })?;
    let review_record = pending.commit()?;
    Ok(Prepared {
        req,
        output,
        review_record,
    })
}

/// Runs a prepared redaction on a thread of its own: the replay of the
/// review's record into the output (whose own record says it is that
/// replay), the audit entry, and the verification by re-detection, with
/// progress in the session's work and stopped by [`Session::stop`]. On
/// failure or cancellation nothing is left: the core removes the output,
/// and the review's record written for it goes too.
pub(crate) fn run(s: Arc<Session>, p: Prepared) {
    let cancel = Cancel::new();
    *locked(&s.work_cancel) = cancel.clone();
    *locked(&s.work) = Work::Running {
        step: "redacting",
        frames: 0,
        total: 0,
    };
    std::thread::spawn(move || {
        let result = redact_prepared(&s, &p, &cancel);
        let work = match result {
            Ok(outcome) => {
                s.set_outcome(outcome);
                Work::Idle
            }
            Err(e) => {
                let _ = std::fs::remove_file(&p.review_record);
                match e {
                    ConsoleError::Core(c) if c.kind() == ErrorKind::Interrupted => Work::Cancelled,
                    e => Work::Failed {
                        message: e.to_string(),
                    },
                }
            }
        };
        *locked(&s.work) = work;
    });
}

fn redact_prepared(s: &Session, p: &Prepared, cancel: &Cancel) -> Result<Outcome, ConsoleError> {
    let step = |name: &'static str| {
        move |pr: obscura_core::pipeline::Progress| {
            *locked(&s.work) = Work::Running {
                step: name,
                frames: pr.frames,
                total: pr.total,
            };
        }
    };
    let mut opts = RedactOptions {
        replay: Some(p.review_record.clone()),
        case_reference: p.req.case_reference.clone(),
        ..RedactOptions::new(p.req.operator.clone(), p.req.reason.clone())
    };
    opts.pipeline.decode.cancel = cancel.clone();
    let mut store = obscura_core::store::Store::open(&p.req.db)?;
    // Logged before the output and its record take their names, as
    // `obscura redact --db` does.
    let (done, entries) = obscura_core::pipeline::redact_logged(
        &s.input,
        &p.output,
        &opts,
        &mut store,
        None,
        &mut step("redacting"),
    )?;
    let record_path = redact::record_path(&p.output);
    let decode = obscura_core::media::DecodeOptions {
        cancel: cancel.clone(),
        ..Default::default()
    };
    // The redaction is done and logged; a verification stopped or failed
    // says so, it does not undo it.
    let verification = obscura_core::pipeline::verify::verify_redaction(
        &p.output,
        Some(&record_path),
        None,
        None,
        &decode,
        &mut step("verifying"),
    );
    let (residuals, made_by_obscuring, min_score, verified) = match verification {
        Ok(v) => (v.residuals, v.made_by_obscuring, v.min_score, None),
        Err(e) => (Vec::new(), Vec::new(), 0.0, Some(e.to_string())),
    };
    Ok(Outcome {
        output: done.output.path.clone(),
        record: record_path,
        review_record: p.review_record.clone(),
        output_sha256: done.output.sha256,
        residuals,
        min_score,
        made_by_obscuring,
        verify_failed: verified,
        audit_seq: entries.first().map_or(0, |e| e.seq),
        disclosed: None,
    })
}

/// Parses a manual box from the form's numbers.
pub(crate) fn manual_box(first: u64, last: u64, rect: [u32; 4]) -> Result<ManualBox, ConsoleError> {
    format!(
        "{first}-{last}:{},{},{},{}",
        rect[0], rect[1], rect[2], rect[3]
    )
    .parse()
    .map_err(|e: obscura_core::Error| ConsoleError::BadRequest(e.to_string()))
}

/// Writes the review's decisions as its record (`NAME.review.json` in
/// `out_dir`, never replacing a file): the saved state a later session
/// reopens, and what `obscura redact --replay` redacts from.
pub(crate) fn save(
    s: &Session,
    out_dir: &Path,
    name: &str,
    operator: &str,
    reason: &str,
) -> Result<PathBuf, ConsoleError> {
    let record = s.review()?.record(&s.decisions(), operator, reason, None)?;
    std::fs::create_dir_all(out_dir).map_err(|e| {
        obscura_core::Error::io(e, "cannot make the output folder").with_path(out_dir)
    })?;
    let dest = out_dir.join(name).with_extension("review.json");
    let pending = obscura_core::output::PendingFile::new(&dest, &[&s.input])?;
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| ConsoleError::Internal(format!("cannot write the review's record: {e}")))?;
    std::fs::write(pending.tmp_path(), json).map_err(|e| {
        obscura_core::Error::io(e, "cannot write the review's record").with_path(&dest)
    })?;
    Ok(pending.commit()?)
}

/// The decisions a saved review record holds.
pub(crate) fn saved_decisions(r: &redact::RedactionRecord) -> Decisions {
    Decisions {
        keep: r.kept_tracks.clone(),
        boxes: r.manual_boxes.clone(),
        lifted: r.masks_lifted.clone(),
    }
}

/// The saved reviews in `dir` (`*.review.json`), by name.
pub(crate) fn saved_reviews(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.ends_with(".review.json") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A stretch of `source` (media seconds `from_s..to_s`), cut at the
/// keyframes around it by stream copy, to review on its own: kept in
/// `dir` (`STEM-SHA-FROM-TO.mkv`, made once, never replacing a file), so
/// that the redaction's record names a file that stays.
pub(crate) fn cut(
    source: &Path,
    from_s: f64,
    to_s: f64,
    dir: &Path,
) -> Result<PathBuf, ConsoleError> {
    if !(from_s.is_finite() && to_s.is_finite() && from_s >= 0.0 && to_s > from_s) {
        return Err(ConsoleError::BadRequest(format!(
            "invalid range {from_s}-{to_s} s (expected 0 <= from < to)"
        )));
    }
    let info = obscura_core::media::probe(source)?;
    let sha = obscura_core::hash::file_sha256(source)
        .map_err(|e| obscura_core::Error::io(e, "cannot read").with_path(source))?;
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "clip".into());
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dest = dir.join(format!(
        "{stem}-{}-{}-{}.mkv",
        sha.get(..12).unwrap_or(&sha),
        (from_s * 1000.0).round() as u64,
        (to_s * 1000.0).round() as u64
    ));
    if dest.is_file() {
        return Ok(dest);
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| obscura_core::Error::io(e, "cannot make the folder").with_path(dir))?;
    let pending = obscura_core::output::PendingFile::new(&dest, &[source])?;
    obscura_core::media::copy_range(&info, from_s, to_s, &pending)?;
    Ok(pending.commit()?)
}
