//! `obscura._obscura`: the compiled half of the `obscura` Python package.
//!
//! A thin shell over `obscura-core`: every function here converts its
//! arguments, calls the core with the GIL released, and hands the result
//! back as numpy arrays or as native Python objects (dicts, lists, numbers) that the pure-Python half turns into
//! dicts and dataclasses. No behaviour lives only here.
//!
//! Long calls run the core on a scoped thread while the calling thread waits
//! without the GIL, checking for signals every 100 ms: Ctrl-C cancels the
//! core's [`Cancel`] token, waits for the work to stop (which removes any
//! partial output), and raises `KeyboardInterrupt`.
#![deny(missing_docs)]

use numpy::{PyArray, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use obscura_core::detect::{Detector, FacePrecision, FaceSettings, PersonSettings, PlateSettings};
use obscura_core::frame::OwnedFrame;
use obscura_core::media::{self, DecodeOptions, EveryNth, Frames, RgbConverter};
use obscura_core::pipeline::analyse::{AnalyseOptions, RoiSettings};
use obscura_core::pipeline::redact::PersonRegion;
use obscura_core::{Cancel, ErrorKind};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

/// A core error as the matching `obscura.errors` exception, carrying the
/// same one-line message the CLI prints, plus `kind` and `path`.
fn to_py(py: Python<'_>, e: obscura_core::Error) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let errors = py.import("obscura.errors")?;
        // One class per kind, keyed by the core's stable kind name; a kind
        // newer than the Python package falls back to the base class.
        let cls = match errors.getattr("BY_KIND")?.get_item(e.kind().as_str()) {
            Ok(cls) => cls,
            Err(_) => errors.getattr("ObscuraError")?,
        };
        let exc = cls.call1((e.to_string(),))?;
        exc.setattr("kind", e.kind().as_str())?;
        exc.setattr("path", e.path().map(|p| p.to_string_lossy().into_owned()))?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| err)
}

/// Progress of a long call: the core's workers store frames done and the
/// total; the waiting thread, which holds the GIL between waits, hands them
/// to the Python callback (`callback(done, total)`, as `tqdm.update`-style
/// code wants) whenever they changed. No worker thread ever takes the GIL.
struct Watch {
    frames: AtomicU64,
    total: AtomicU64,
    told: AtomicU64,
    callback: Option<Py<PyAny>>,
}

impl Watch {
    fn new(callback: Option<Py<PyAny>>) -> Watch {
        Watch {
            frames: AtomicU64::new(0),
            total: AtomicU64::new(0),
            told: AtomicU64::new(u64::MAX),
            callback,
        }
    }

    /// Called by the core (any thread).
    fn set(&self, p: obscura_core::pipeline::Progress) {
        self.total.store(p.total, Ordering::Relaxed);
        self.frames.store(p.frames, Ordering::Relaxed);
    }

    /// A job that cancels with `cancel` and reports here.
    fn job(&self, cancel: &Cancel) -> obscura_core::pipeline::Job<'_> {
        obscura_core::pipeline::Job::new()
            .with_cancel(cancel.clone())
            .on_progress(|p| self.set(p))
    }

    /// Calls the callback if the count moved since it was last told.
    fn tell(&self, py: Python<'_>) -> PyResult<()> {
        let Some(cb) = &self.callback else {
            return Ok(());
        };
        let frames = self.frames.load(Ordering::Relaxed);
        if self.told.swap(frames, Ordering::Relaxed) != frames {
            cb.call1(py, (frames, self.total.load(Ordering::Relaxed)))?;
        }
        Ok(())
    }
}

/// Runs `work` on a scoped thread with the GIL released, checking for
/// Ctrl-C in between; see the module documentation.
fn interruptible<T, F>(py: Python<'_>, cancel: &Cancel, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> obscura_core::Result<T> + Send,
{
    watched(py, cancel, &Watch::new(None), work)
}

/// [`interruptible`], telling `watch`'s callback the progress between
/// waits. A callback that raises stops the work, and its exception is
/// raised.
fn watched<T, F>(py: Python<'_>, cancel: &Cancel, watch: &Watch, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> obscura_core::Result<T> + Send,
{
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        s.spawn(move || {
            let _ = tx.send(work());
        });
        // Receivers are not Sync; the waiting (GIL-free) side borrows it.
        let rx = Mutex::new(rx);
        let wait = |timeout: Option<Duration>| {
            let rx = rx
                .lock()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected)?;
            match timeout {
                Some(t) => rx.recv_timeout(t),
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            }
        };
        loop {
            let got = py.detach(|| wait(Some(Duration::from_millis(100))));
            match got {
                Ok(result) => {
                    let result = result.map_err(|e| to_py(py, e))?;
                    watch.tell(py)?;
                    return Ok(result);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals().and_then(|()| watch.tell(py)) {
                        cancel.cancel();
                        // Let the core stop and clean up before raising.
                        let _ = py.detach(|| wait(None));
                        return Err(interrupt);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(pyo3::exceptions::PyRuntimeError::new_err(
                        "obscura worker thread ended without a result",
                    ))
                }
            }
        }
    })
}

/// A core result as native Python objects (dicts, lists, ints, floats,
/// strings, `None`), built in Rust: no JSON text crosses the boundary.
fn native<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    pythonize::pythonize(py, value)
        .map(Bound::unbind)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("cannot convert: {e}")))
}

fn invalid(msg: impl Into<String>) -> obscura_core::Error {
    obscura_core::Error::new(ErrorKind::InvalidArgument, msg)
}

/// An integer argument in `lo..=hi`: Python ints arrive as `i64` so that a
/// negative or huge count is an `InvalidArgumentError` naming the argument
/// and its range, not an `OverflowError`.
fn int_arg<T: TryFrom<i64>>(py: Python<'_>, name: &str, v: i64, lo: i64, hi: i64) -> PyResult<T> {
    if (lo..=hi).contains(&v) {
        if let Ok(t) = T::try_from(v) {
            return Ok(t);
        }
    }
    Err(to_py(
        py,
        invalid(format!("invalid {name} {v} (expected >= {lo}, <= {hi})")),
    ))
}

/// Probes a video file; returns the facts as a dict.
#[pyfunction]
fn probe(py: Python<'_>, path: PathBuf) -> PyResult<Py<PyAny>> {
    let info = py
        .detach(|| media::probe(&path))
        .map_err(|e| to_py(py, e))?;
    native(py, &info)
}

/// Where a [`FrameIter`]'s frames come from: a full (segment-parallel)
/// decode, or, for every n-th frame and after a seek, the core's sparse
/// reader, which seeks over the groups of pictures it would skip.
enum Source {
    Full(Box<Frames>),
    Sparse(Box<EveryNth>),
}

impl Iterator for Source {
    type Item = obscura_core::Result<media::DecodedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Source::Full(f) => f.next(),
            Source::Sparse(f) => f.next(),
        }
    }
}

/// What a [`FrameIter`] decodes with; behind a mutex because decoders may
/// move between threads but not be shared.
struct Decoding {
    frames: Option<Source>,
    rgb: RgbConverter,
}

/// Frames of one file as numpy arrays, in presentation order.
#[pyclass(module = "obscura._obscura")]
struct FrameIter {
    decoding: Mutex<Decoding>,
    every: u64,
    gray: bool,
    info: Py<PyAny>,
    video: media::VideoInfo,
}

impl FrameIter {
    fn decoding(&self) -> PyResult<std::sync::MutexGuard<'_, Decoding>> {
        self.decoding.try_lock().map_err(|_| {
            pyo3::exceptions::PyRuntimeError::new_err(
                "this frame iterator is in use by another thread",
            )
        })
    }

    /// The sparse reader from frame `start`, stepping `self.every`.
    fn sparse(&self, start: u64) -> obscura_core::Result<Source> {
        let r = EveryNth::new(self.video.clone(), start, self.every, 0, Cancel::default())?;
        Ok(Source::Sparse(Box::new(r)))
    }

    /// A decoded frame as the array's bytes (no further copy is made).
    fn picture(
        gray: bool,
        rgb: &mut RgbConverter,
        frame: &media::DecodedFrame,
    ) -> obscura_core::Result<Picture> {
        let array = if gray {
            frame.view().gray_array().into_dyn()
        } else {
            rgb.rgb_array(frame)?.into_dyn()
        };
        Ok((array, frame.index(), frame.pts(), frame.time()))
    }

    /// The picture as a numpy array, with its index, pts and time.
    fn yielded(py: Python<'_>, p: Picture) -> Yielded<'_> {
        let (array, index, pts, time) = p;
        // The array's buffer becomes numpy's memory: no copy.
        (
            PyArray::from_owned_array(py, array).into_any(),
            index,
            pts,
            time,
        )
    }
}

/// A converted picture: `H x W x 3` RGB or `H x W` grey, index, pts, time.
type Picture = (numpy::ndarray::ArrayD<u8>, u64, i64, f64);

/// What the iterator yields: array, index, pts, time.
type Yielded<'py> = (Bound<'py, PyAny>, u64, i64, f64);

/// A detection as Python gets it: x, y, w, h, score.
type Found = (f32, f32, f32, f32, f32, Option<String>);

#[pymethods]
impl FrameIter {
    /// Opens `path`; `parallel` uses segment-parallel decoding, `every`
    /// yields every n-th frame (decoding from the nearest keyframe when
    /// that skips decoding), `gray` yields luma only.
    #[new]
    #[pyo3(signature = (path, *, parallel = true, every = 1, gray = false))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        parallel: bool,
        every: i64,
        gray: bool,
    ) -> PyResult<Self> {
        let every: u64 = int_arg(py, "every", every, 1, i64::from(u32::MAX))?;
        let opts = if parallel {
            DecodeOptions::default()
        } else {
            DecodeOptions::sequential()
        };
        let (video, frames) = py
            .detach(|| -> obscura_core::Result<_> {
                if every == 1 {
                    let (info, frames) = media::open(&path, &opts)?;
                    Ok((info, Some(Source::Full(Box::new(frames)))))
                } else {
                    Ok((media::probe(&path)?, None))
                }
            })
            .map_err(|e| to_py(py, e))?;
        let mut it = FrameIter {
            decoding: Mutex::new(Decoding {
                frames: None,
                rgb: RgbConverter::new(),
            }),
            every,
            gray,
            info: native(py, &video)?,
            video,
        };
        let frames = match frames {
            Some(f) => f,
            None => it.sparse(0).map_err(|e| to_py(py, e))?,
        };
        it.decoding
            .get_mut()
            .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("frame iterator lock poisoned"))?
            .frames = Some(frames);
        Ok(it)
    }

    /// The probe result of the file.
    #[getter]
    fn info(&self, py: Python<'_>) -> Py<PyAny> {
        self.info.clone_ref(py)
    }

    /// Frames a full pass yields: the file's frames, one in `every`.
    fn __len__(&self) -> usize {
        usize::try_from(self.video.frames.div_ceil(self.every)).unwrap_or(usize::MAX)
    }

    /// The index of the frame showing at `seconds`.
    fn index_at_time(&self, py: Python<'_>, seconds: f64) -> PyResult<u64> {
        media::index_at_time(&self.video, seconds).map_err(|e| to_py(py, e))
    }

    /// Continues from frame `index` (the next one yielded), keeping the
    /// step; decoding starts at the keyframe before it.
    fn seek(&self, py: Python<'_>, index: i64) -> PyResult<()> {
        let last = i64::try_from(self.video.frames).unwrap_or(i64::MAX) - 1;
        let index: u64 = int_arg(py, "frame", index, 0, last.max(0))?;
        let mut guard = self.decoding()?;
        let old = match guard.frames.as_mut() {
            Some(Source::Sparse(r)) => {
                r.seek(index);
                None
            }
            _ => guard
                .frames
                .replace(self.sparse(index).map_err(|e| to_py(py, e))?),
        };
        py.detach(move || drop(old));
        Ok(())
    }

    /// `(array, index, pts, time)` of frame `index`, decoded from the
    /// keyframe before it; the iteration is not moved.
    fn frame_at<'py>(&self, py: Python<'py>, index: i64) -> PyResult<Yielded<'py>> {
        let index: u64 = int_arg(py, "frame", index, 0, i64::MAX)?;
        let (video, gray) = (&self.video, self.gray);
        let picture = py
            .detach(|| {
                let frame = media::frame_at(video, index, 0)?;
                FrameIter::picture(gray, &mut RgbConverter::new(), &frame)
            })
            .map_err(|e| to_py(py, e))?;
        Ok(FrameIter::yielded(py, picture))
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// `(array, index, pts, time)` of the next frame, or the end.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Yielded<'py>>> {
        let mut guard = self.decoding()?;
        let state: &mut Decoding = &mut guard;
        let Some(frames) = state.frames.as_mut() else {
            return Ok(None);
        };
        let (gray, rgb) = (self.gray, &mut state.rgb);
        let got = py.detach(|| match frames.next() {
            Some(frame) => FrameIter::picture(gray, rgb, &frame?).map(Some),
            None => Ok(None),
        });
        match got {
            Ok(Some(p)) => Ok(Some(FrameIter::yielded(py, p))),
            Ok(None) => {
                let frames = state.frames.take();
                py.detach(move || drop(frames));
                Ok(None)
            }
            Err(e) => {
                let frames = state.frames.take();
                py.detach(move || drop(frames));
                Err(to_py(py, e))
            }
        }
    }

    /// Stops decoding and frees the decoder and its threads now.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let frames = self.decoding()?.frames.take();
        py.detach(move || drop(frames));
        Ok(())
    }
}

/// An `H x W x 3` RGB or `H x W` grey uint8 array as a 4:2:0 frame.
fn frame_from_array(array: &PyReadonlyArrayDyn<'_, u8>) -> obscura_core::Result<OwnedFrame> {
    let shape = array.shape().to_vec();
    let view = array.as_array();
    let contiguous: Vec<u8>;
    let data: &[u8] = match view.as_slice() {
        Some(s) => s,
        None => {
            contiguous = view.iter().copied().collect();
            &contiguous
        }
    };
    match shape.as_slice() {
        [h, w, 3] => OwnedFrame::from_rgb(*w, *h, data, w * 3),
        [h, w] => OwnedFrame::from_gray(*w, *h, data, *w),
        other => Err(invalid(format!(
            "invalid frame shape {other:?} (expected H x W x 3 RGB or H x W grey, uint8)"
        ))),
    }
}

fn detections(
    py: Python<'_>,
    detector: &mut dyn Detector,
    array: PyReadonlyArrayDyn<'_, u8>,
) -> PyResult<Vec<Found>> {
    let frame = frame_from_array(&array).map_err(|e| to_py(py, e))?;
    drop(array);
    let found = py
        .detach(|| detector.detect(&frame.view()))
        .map_err(|e| to_py(py, e))?;
    Ok(found
        .into_iter()
        .map(|d| (d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h, d.score, d.text))
        .collect())
}

/// Model sessions shared by the threads that use one detector object: a
/// call takes an idle session, or loads another when every one is busy in
/// another thread, and gives it back after. ONNX Runtime sessions are run
/// through `&mut`, so a thread never shares one while it runs; threads
/// calling at once run at once, each on its own session.
struct Sessions<D> {
    idle: Mutex<Vec<D>>,
}

impl<D: Detector> Sessions<D> {
    fn new(first: D) -> Self {
        Sessions {
            idle: Mutex::new(vec![first]),
        }
    }

    fn detect(
        &self,
        py: Python<'_>,
        array: PyReadonlyArrayDyn<'_, u8>,
        load: impl FnOnce() -> obscura_core::Result<D> + Send,
    ) -> PyResult<Vec<Found>> {
        let taken = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let mut det = match taken {
            Some(d) => d,
            None => py.detach(load).map_err(|e| to_py(py, e))?,
        };
        let found = detections(py, &mut det, array);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(det);
        }
        found
    }
}

/// CenterFace, loaded once, for detecting faces in arrays; safe to share
/// between threads.
#[pyclass(module = "obscura._obscura", frozen)]
struct FaceDetector {
    settings: FaceSettings,
    threads: usize,
    sessions: Sessions<obscura_core::detect::FaceDetector>,
}

#[pymethods]
impl FaceDetector {
    /// Loads the model; `scale` 0 picks the detection resolution from the
    /// picture width, as redaction does; `precision` "int8" (the default,
    /// as redaction) or "float" picks the model's arithmetic.
    #[new]
    #[pyo3(signature = (*, threshold = 0.3, scale = 0.0, threads = 0, precision = "int8"))]
    fn new(
        py: Python<'_>,
        threshold: f32,
        scale: f32,
        threads: i64,
        precision: &str,
    ) -> PyResult<Self> {
        let threads: usize = int_arg(py, "threads", threads, 0, 256)?;
        let precision = precision.parse().map_err(|e| to_py(py, e))?;
        let settings = FaceSettings {
            threshold,
            scale,
            precision,
        };
        let first = py
            .detach(|| obscura_core::detect::FaceDetector::new(settings, threads))
            .map_err(|e| to_py(py, e))?;
        Ok(FaceDetector {
            settings,
            threads,
            sessions: Sessions::new(first),
        })
    }

    /// Pickling (multiprocessing, Dask) keeps the settings; the copy loads
    /// its own model.
    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("threshold", self.settings.threshold)?;
        kwargs.set_item("scale", self.settings.scale)?;
        kwargs.set_item("threads", self.threads)?;
        kwargs.set_item("precision", self.settings.precision.as_str())?;
        ((), kwargs).into_pyobject(py).map(Bound::into_any)
    }

    /// `(x, y, w, h, score, None)` of every face in the array.
    fn detect(&self, py: Python<'_>, array: PyReadonlyArrayDyn<'_, u8>) -> PyResult<Vec<Found>> {
        let (settings, threads) = (self.settings, self.threads);
        self.sessions.detect(py, array, move || {
            obscura_core::detect::FaceDetector::new(settings, threads)
        })
    }
}

/// PP-OCRv4 text detection with the plate-geometry filter; safe to share
/// between threads.
#[pyclass(module = "obscura._obscura", frozen)]
struct PlateDetector {
    settings: PlateSettings,
    threads: usize,
    sessions: Sessions<obscura_core::detect::PlateDetector>,
}

#[pymethods]
impl PlateDetector {
    /// Loads the model.
    #[new]
    #[pyo3(signature = (*, threshold = 0.3, confirm = false, threads = 0))]
    fn new(py: Python<'_>, threshold: f32, confirm: bool, threads: i64) -> PyResult<Self> {
        let threads: usize = int_arg(py, "threads", threads, 0, 256)?;
        let settings = PlateSettings {
            threshold,
            confirm,
            ..PlateSettings::default()
        };
        let first = py
            .detach(|| obscura_core::detect::PlateDetector::new(settings, threads))
            .map_err(|e| to_py(py, e))?;
        Ok(PlateDetector {
            settings,
            threads,
            sessions: Sessions::new(first),
        })
    }

    /// Pickling keeps the settings; the copy loads its own model.
    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("threshold", self.settings.threshold)?;
        kwargs.set_item("confirm", self.settings.confirm)?;
        kwargs.set_item("threads", self.threads)?;
        ((), kwargs).into_pyobject(py).map(Bound::into_any)
    }

    /// `(x, y, w, h, score, text)` of every plate-shaped text region
    /// (`text` is what the recogniser read, with `confirm`; else None).
    fn detect(&self, py: Python<'_>, array: PyReadonlyArrayDyn<'_, u8>) -> PyResult<Vec<Found>> {
        let (settings, threads) = (self.settings, self.threads);
        self.sessions.detect(py, array, move || {
            obscura_core::detect::PlateDetector::new(settings, threads)
        })
    }
}

/// NanoDet people, in tiles, loaded once; safe to share between threads.
#[pyclass(module = "obscura._obscura", frozen)]
struct PersonDetector {
    settings: PersonSettings,
    threads: usize,
    sessions: Sessions<obscura_core::detect::PersonDetector>,
}

#[pymethods]
impl PersonDetector {
    /// Loads the model.
    #[new]
    #[pyo3(signature = (*, threshold = 0.35, threads = 0))]
    fn new(py: Python<'_>, threshold: f32, threads: i64) -> PyResult<Self> {
        let threads: usize = int_arg(py, "threads", threads, 0, 256)?;
        let settings = PersonSettings {
            threshold,
            ..PersonSettings::default()
        };
        let first = py
            .detach(|| obscura_core::detect::PersonDetector::new(settings, threads))
            .map_err(|e| to_py(py, e))?;
        Ok(PersonDetector {
            settings,
            threads,
            sessions: Sessions::new(first),
        })
    }

    /// Pickling keeps the settings; the copy loads its own model.
    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("threshold", self.settings.threshold)?;
        kwargs.set_item("threads", self.threads)?;
        ((), kwargs).into_pyobject(py).map(Bound::into_any)
    }

    /// `(x, y, w, h, score, None)` of every person in the array.
    fn detect(&self, py: Python<'_>, array: PyReadonlyArrayDyn<'_, u8>) -> PyResult<Vec<Found>> {
        let (settings, threads) = (self.settings, self.threads);
        self.sessions.detect(py, array, move || {
            obscura_core::detect::PersonDetector::new(settings, threads)
        })
    }
}

/// Detection settings as the CLI's `--faces --plates --face-threshold
/// --face-scale --face-precision --full-every --plate-confirm
/// --no-vehicles` give them.
#[allow(clippy::too_many_arguments)]
fn analyse_options(
    faces: bool,
    plates: bool,
    people: bool,
    plate_confirm: bool,
    vehicles: bool,
    face_threshold: f32,
    face_scale: f32,
    face_precision: FacePrecision,
    full_every: u64,
) -> AnalyseOptions {
    AnalyseOptions {
        faces: faces.then_some(FaceSettings {
            threshold: face_threshold,
            scale: face_scale,
            precision: face_precision,
        }),
        plates: plates.then(|| PlateSettings {
            confirm: plate_confirm,
            vehicles,
            ..PlateSettings::default()
        }),
        people: people.then(obscura_core::detect::PersonSettings::default),
        roi: (full_every > 0).then(|| RoiSettings {
            full_every,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A redaction configuration with its models loaded once; `redact` runs it
/// on one file and returns the redaction record as a dict.
#[pyclass(module = "obscura._obscura", name = "Redactor")]
struct Redactor {
    inner: Mutex<obscura_core::pipeline::Redactor>,
}

#[pymethods]
impl Redactor {
    #[new]
    #[pyo3(signature = (
        *, operator, reason, camera = None, faces = true, plates = true, people = None,
        plate_confirm = false, vehicles = true,
        unmask = Vec::new(), authorisation = None, case_reference = None, style = "mosaic",
        scene = false, moving = false, pad = 1.3, face_threshold = 0.3, face_scale = 0.0,
        face_precision = "int8", full_every = 32, crf = 18,
        preset = "veryfast", audio = "copy", db = None, key = None, overwrite = false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        operator: String,
        reason: String,
        camera: Option<PathBuf>,
        faces: bool,
        plates: bool,
        people: Option<String>,
        plate_confirm: bool,
        vehicles: bool,
        unmask: Vec<String>,
        authorisation: Option<String>,
        case_reference: Option<String>,
        style: &str,
        scene: bool,
        moving: bool,
        pad: f32,
        face_threshold: f32,
        face_scale: f32,
        face_precision: &str,
        full_every: i64,
        crf: i64,
        preset: &str,
        audio: &str,
        db: Option<PathBuf>,
        key: Option<PathBuf>,
        overwrite: bool,
    ) -> PyResult<Self> {
        let crf: u8 = int_arg(py, "crf", crf, 0, 51)?;
        let full_every: u64 = int_arg(py, "full_every", full_every, 0, i64::from(u32::MAX))?;
        let build = || -> obscura_core::Result<obscura_core::pipeline::Redactor> {
            let encode = media::EncodeOptions {
                crf,
                preset: preset.parse()?,
                audio: audio.parse()?,
                replace_existing: overwrite,
                ..media::EncodeOptions::default()
            };
            let region: Option<PersonRegion> = people.as_deref().map(str::parse).transpose()?;
            let precision: FacePrecision = face_precision.parse()?;
            let detect = (faces || plates || region.is_some()).then(|| {
                analyse_options(
                    faces,
                    plates,
                    region.is_some(),
                    plate_confirm,
                    vehicles,
                    face_threshold,
                    face_scale,
                    precision,
                    full_every,
                )
            });
            let mut builder =
                obscura_core::pipeline::Redactor::builder(operator.as_str(), reason.as_str())
                    .detection(detect)
                    .pad(pad)
                    .style(style.parse()?)
                    .scene(scene)
                    .moving(moving)
                    .person_region(region.unwrap_or_default())
                    .encode(encode);
            if let Some(camera) = camera {
                builder = builder.camera(camera);
            }
            for id in &unmask {
                builder = builder.unmask(id.as_str(), authorisation.clone().unwrap_or_default());
            }
            if let Some(case) = case_reference {
                builder = builder.case(case);
            }
            if let Some(db) = db {
                builder = builder.audit(db, key);
            }
            builder.build()
        };
        // Loading the models takes a moment: other Python threads run.
        let redactor = py.detach(build).map_err(|e| to_py(py, e))?;
        Ok(Redactor {
            inner: Mutex::new(redactor),
        })
    }

    /// Redacts `input` into `output`; returns the redaction record as a dict.
    #[pyo3(signature = (
        input, output, *, keep_tracks = Vec::new(), keep_reason = None, boxes = Vec::new(),
        replay = None, case_reference = None, progress = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn redact(
        &self,
        py: Python<'_>,
        input: PathBuf,
        output: PathBuf,
        keep_tracks: Vec<i64>,
        keep_reason: Option<String>,
        boxes: Vec<String>,
        replay: Option<PathBuf>,
        case_reference: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let keep_tracks = keep_tracks
            .into_iter()
            .map(|k| int_arg(py, "keep track", k, 0, i64::from(u32::MAX)))
            .collect::<PyResult<Vec<u32>>>()?;
        let boxes = boxes
            .iter()
            .map(|b| b.parse())
            .collect::<obscura_core::Result<Vec<_>>>()
            .map_err(|e| to_py(py, e))?;
        let clip = obscura_core::pipeline::Clip {
            input,
            output,
            keep_tracks,
            keep_reason,
            boxes,
            replay,
            case_reference,
        };
        let cancel = Cancel::new();
        let watch = Watch::new(progress);
        let record = watched(py, &cancel, &watch, || {
            let mut job = watch.job(&cancel);
            let mut redactor = self.inner.lock().map_err(|_| {
                obscura_core::Error::new(
                    obscura_core::ErrorKind::Runtime,
                    "an earlier redaction with this Redactor panicked",
                )
            })?;
            redactor.redact(&clip, &mut job)
        })?;
        native(py, &record)
    }

    /// Detection workers holding loaded models (0 without detection).
    #[getter]
    fn detection_workers(&self) -> usize {
        self.inner.lock().map_or(0, |r| r.detection_workers())
    }
}

/// Detects and tracks; returns `{"tracks": [...], "sheet": path}`,
/// writing the contact sheet when `sheet` is given.
#[pyfunction]
#[pyo3(signature = (
    input, *, faces = true, plates = true, people = None, plate_confirm = false, vehicles = true,
    face_threshold = 0.3,
    face_scale = 0.0,
    face_precision = "int8",
    full_every = 32, sheet = None, overwrite = false, progress = None,
))]
#[allow(clippy::too_many_arguments)]
fn tracks(
    py: Python<'_>,
    input: PathBuf,
    faces: bool,
    plates: bool,
    people: Option<String>,
    plate_confirm: bool,
    vehicles: bool,
    face_threshold: f32,
    face_scale: f32,
    face_precision: &str,
    full_every: i64,
    sheet: Option<PathBuf>,
    overwrite: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let full_every: u64 = int_arg(py, "full_every", full_every, 0, i64::from(u32::MAX))?;
    let cancel = Cancel::new();
    let watch = Watch::new(progress);
    // Claimed before the analysis: an unusable name fails at once.
    let sheet_out = sheet
        .as_ref()
        .map(|s| obscura_core::output::PendingFile::with_policy(s, &[&input], overwrite))
        .transpose()
        .map_err(|e| to_py(py, e))?;
    let region: Option<PersonRegion> = people
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| to_py(py, e))?;
    let precision: FacePrecision = face_precision.parse().map_err(|e| to_py(py, e))?;
    let opts = analyse_options(
        faces,
        plates,
        region.is_some(),
        plate_confirm,
        vehicles,
        face_threshold,
        face_scale,
        precision,
        full_every,
    );
    let decode = DecodeOptions {
        cancel: cancel.clone(),
        ..DecodeOptions::default()
    };
    let listing = watched(py, &cancel, &watch, || {
        let listing =
            obscura_core::pipeline::analyse::list_tracks(&input, &decode, &opts, &mut |p| {
                watch.set(p)
            })?;
        if let Some(out) = sheet_out {
            listing.write_contact_sheet_to(out)?;
        }
        Ok(listing)
    })?;
    native(
        py,
        &serde_json::json!({ "tracks": listing.tracks, "sheet": sheet }),
    )
}

/// Re-detects on a redacted output; returns the verification as a dict.
/// With `db`, the record is first checked against that audit trail
/// (`redaction_entry`: the entry that logged it, or None).
#[pyfunction]
#[pyo3(signature = (output, *, record = None, min_score = None, db = None))]
fn verify_redaction(
    py: Python<'_>,
    output: PathBuf,
    record: Option<PathBuf>,
    min_score: Option<f32>,
    db: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let cancel = Cancel::new();
    let decode = DecodeOptions {
        cancel: cancel.clone(),
        ..DecodeOptions::default()
    };
    let (v, logged) = interruptible(py, &cancel, || {
        let logged = match &db {
            Some(db) => {
                let index = obscura_core::store::Store::open_read_only(db)?;
                let rec = (record.clone())
                    .unwrap_or_else(|| obscura_core::pipeline::redact::record_path(&output));
                Some(obscura_core::pipeline::disclose::logged_redaction_of(
                    &index, &output, &rec,
                )?)
            }
            None => None,
        };
        let v = obscura_core::pipeline::verify::verify_redaction(
            &output,
            record.as_deref(),
            None,
            min_score,
            &decode,
            &mut |_| {},
        )?;
        Ok((v, logged))
    })?;
    let mut v = serde_json::to_value(&v)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("cannot convert: {e}")))?;
    if let (Some(entry), Some(map)) = (logged, v.as_object_mut()) {
        map.insert("redaction_entry".into(), serde_json::json!(entry));
    }
    native(py, &v)
}

/// Indexes recordings of one camera into one database: the camera profile
/// is read and checked, and the database created or migrated, once; then
/// `index` takes any number of batches.
#[pyclass(module = "obscura._obscura", name = "Indexer", frozen)]
struct Indexer {
    inner: obscura_core::pipeline::indexing::Indexer,
}

#[pymethods]
impl Indexer {
    #[new]
    #[pyo3(signature = (*, camera, db, threads = 0, triage = false))]
    fn new(
        py: Python<'_>,
        camera: PathBuf,
        db: PathBuf,
        threads: usize,
        triage: bool,
    ) -> PyResult<Self> {
        let inner = py
            .detach(|| {
                let profile = obscura_core::mask::camera::CameraProfile::load(&camera)?;
                obscura_core::pipeline::indexing::Indexer::new(
                    &db,
                    profile,
                    obscura_core::motion::MotionOptions {
                        threads,
                        triage,
                        ..obscura_core::motion::MotionOptions::default()
                    },
                )
            })
            .map_err(|e| to_py(py, e))?;
        Ok(Indexer { inner })
    }

    /// The camera number of the profile.
    #[getter]
    fn camera(&self) -> u32 {
        self.inner.camera().camera
    }

    /// Indexes `paths`; returns one dict per file (with `error` for files
    /// that failed; the others are still indexed).
    #[pyo3(signature = (paths, *, start = None, progress = None))]
    fn index(
        &self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        start: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let cancel = Cancel::new();
        let watch = Watch::new(progress);
        let results = watched(py, &cancel, &watch, || {
            let start = start
                .as_deref()
                .map(obscura_core::clock::parse_time_arg)
                .transpose()?;
            self.inner.index(&paths, start, &mut watch.job(&cancel))
        })?;
        if cancel.is_cancelled() {
            return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err(()));
        }
        let rows: Vec<serde_json::Value> = paths
            .iter()
            .zip(results)
            .map(|(path, r)| match r {
                Ok(done) => serde_json::to_value(done).unwrap_or_default(),
                Err(e) => serde_json::to_value(e.report_for(path)).unwrap_or_default(),
            })
            .collect();
        native(py, &rows)
    }
}

/// Incidents matching the filters, as dict rows.
#[pyfunction]
#[pyo3(signature = (db, *, camera = None, town = None, desk = None, since = None, until = None))]
fn incidents(
    py: Python<'_>,
    db: PathBuf,
    camera: Option<i64>,
    town: Option<String>,
    desk: Option<String>,
    since: Option<String>,
    until: Option<String>,
) -> PyResult<Py<PyAny>> {
    let camera: Option<u32> = camera
        .map(|c| int_arg(py, "camera", c, 0, i64::from(u32::MAX)))
        .transpose()?;
    let rows = py
        .detach(|| -> obscura_core::Result<_> {
            let filter = obscura_core::store::IncidentFilter {
                camera,
                town,
                desk,
                from: since
                    .as_deref()
                    .map(obscura_core::clock::parse_time_arg)
                    .transpose()?,
                to: until
                    .as_deref()
                    .map(obscura_core::clock::parse_time_arg)
                    .transpose()?,
            };
            obscura_core::store::Store::open_read_only(&db)?.incidents(&filter)
        })
        .map_err(|e| to_py(py, e))?;
    native(py, &rows)
}

/// An incident's thumbnail (if made) and heatmap, as numpy arrays.
type IncidentArrays<'py> = (Option<Bound<'py, PyAny>>, Bound<'py, PyAny>);

/// The images of incident `id`: the JPEG thumbnail at its peak decoded to
/// an `H x W x 3` RGB array (None when thumbnails were off), and the 16x16
/// activity heatmap (255 = busiest cell). `None` when there is no such
/// incident.
#[pyfunction]
fn incident_images<'py>(
    py: Python<'py>,
    db: PathBuf,
    id: i64,
) -> PyResult<Option<IncidentArrays<'py>>> {
    let found = py
        .detach(|| -> obscura_core::Result<_> {
            let images = obscura_core::store::Store::open_read_only(&db)?.incident_images(id)?;
            images
                .map(|i| {
                    let thumb = i
                        .thumbnail
                        .as_deref()
                        .map(obscura_core::frame::draw::decode_jpeg)
                        .transpose()?;
                    Ok((thumb, i.heatmap_grid()?))
                })
                .transpose()
        })
        .map_err(|e| to_py(py, e))?;
    let Some((thumb, heat)) = found else {
        return Ok(None);
    };
    let thumb = thumb.map(|t| PyArray::from_owned_array(py, t).into_any());
    let heat = PyArray::from_owned_array(py, heat).into_any();
    Ok(Some((thumb, heat)))
}

/// The monthly report, as a dict.
#[pyfunction]
#[pyo3(signature = (db, month, *, by = "camera", compare_previous = true))]
fn report(
    py: Python<'_>,
    db: PathBuf,
    month: &str,
    by: &str,
    compare_previous: bool,
) -> PyResult<Py<PyAny>> {
    let report = py
        .detach(|| -> obscura_core::Result<_> {
            let month: obscura_core::store::Month = month.parse()?;
            let by: obscura_core::store::GroupBy = by.parse()?;
            obscura_core::store::Store::open_read_only(&db)?.report(month, by, compare_previous)
        })
        .map_err(|e| to_py(py, e))?;
    native(py, &report)
}

/// The core's defaults for the settings the Python API takes, from their
/// `Default` impls: the bindings' and the package's signatures are checked
/// against these (python/tests), so no default is decided here.
#[derive(serde::Serialize)]
struct Defaults {
    scene: bool,
    moving: bool,
    faces: bool,
    plates: bool,
    /// `None`: people are not detected unless asked for.
    people: Option<PersonRegion>,
    pad: f32,
    style: obscura_core::mask::camera::Style,
    crf: u8,
    preset: media::Preset,
    audio: media::AudioPolicy,
    face_threshold: f32,
    face_scale: f32,
    face_precision: FacePrecision,
    plate_threshold: f32,
    plate_confirm: bool,
    vehicles: bool,
    person_threshold: f32,
    full_every: u64,
}

impl Defaults {
    fn of_core() -> Defaults {
        let redact = obscura_core::pipeline::redact::RedactOptions::default();
        let encode = media::EncodeOptions::default();
        let (face, plate) = (FaceSettings::default(), PlateSettings::default());
        // Redaction and track listing share one default detection.
        let detect = redact.detect.unwrap_or_default();
        Defaults {
            scene: redact.scene,
            moving: redact.moving,
            faces: detect.faces.is_some(),
            plates: detect.plates.is_some(),
            people: detect.people.map(|_| redact.person_region),
            pad: redact.pad,
            style: redact.detection_style,
            crf: encode.crf,
            preset: encode.preset,
            audio: encode.audio,
            face_threshold: face.threshold,
            face_scale: face.scale,
            face_precision: face.precision,
            plate_threshold: plate.threshold,
            plate_confirm: plate.confirm,
            vehicles: plate.vehicles,
            person_threshold: PersonSettings::default().threshold,
            full_every: RoiSettings::default().full_every,
        }
    }
}

/// The compiled module.
#[pymodule]
fn _obscura(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", obscura_core::VERSION)?;
    let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    m.add("ERROR_KINDS", kinds)?;
    m.add("DEFAULTS", native(m.py(), &Defaults::of_core())?)?;
    m.add_class::<FrameIter>()?;
    m.add_class::<FaceDetector>()?;
    m.add_class::<PlateDetector>()?;
    m.add_class::<PersonDetector>()?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_class::<Redactor>()?;
    m.add_function(wrap_pyfunction!(tracks, m)?)?;
    m.add_function(wrap_pyfunction!(verify_redaction, m)?)?;
    m.add_class::<Indexer>()?;
    m.add_function(wrap_pyfunction!(incidents, m)?)?;
    m.add_function(wrap_pyfunction!(report, m)?)?;
    m.add_function(wrap_pyfunction!(incident_images, m)?)?;
    Ok(())
}
