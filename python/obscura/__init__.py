"""Obscura: video analytics and redaction for CCTV control rooms.

The same engine as the ``obscura`` command, for notebooks and services:

- :func:`probe` and :func:`open` read footage; frames are numpy arrays
  (``H x W x 3`` RGB, or ``H x W`` luma with ``gray=True``) that carry their
  ``index``, ``pts`` and ``time``.
- :func:`detect_faces` / :func:`detect_plates` find faces and number plates
  in any array; :class:`FaceDetector` / :class:`PlateDetector` keep a model
  loaded between calls.
- :func:`tracks`, :func:`redact` and :func:`verify_redaction` are the
  subject-access workflow; :func:`redact` returns the redaction record.
- :func:`index`, :func:`incidents` and :func:`report` build and query the
  motion-incident index; :func:`incident_images` gives an incident's
  thumbnail and heatmap as arrays. They return :class:`Rows`, which
  ``pandas.DataFrame(rows)`` takes directly (or call ``rows.to_pandas()``).

Long calls release the GIL, and Ctrl-C stops them cleanly (no partial
output is left). Errors are :class:`obscura.errors.ObscuraError` subclasses
with the CLI's message.
"""

from __future__ import annotations

import datetime as _dt
import os
import threading as _threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Literal, NamedTuple, Optional, Sequence, Tuple, TypeVar, Union

import numpy as np

from . import _obscura, errors
from ._obscura import __version__
from .errors import (
    AlreadyExistsError as AlreadyExistsError,
    CancelledError as CancelledError,
    CorruptError as CorruptError,
    DatabaseError as DatabaseError,
    EncodeError as EncodeError,
    InvalidArgumentError as InvalidArgumentError,
    IoError as IoError,
    ModelError as ModelError,
    NoVideoError as NoVideoError,
    NotFoundError as NotFoundError,
    NotMediaError as NotMediaError,
    ObscuraError as ObscuraError,
    OnnxRuntimeError as OnnxRuntimeError,
    UnsupportedError as UnsupportedError,
)

__all__ = [
    "__version__",
    "VideoInfo",
    "Frame",
    "FrameReader",
    "Detection",
    "Rows",
    "FaceDetector",
    "PlateDetector",
    "probe",
    "open",
    "detect_faces",
    "detect_plates",
    "detect_people",
    "PersonDetector",
    "tracks",
    "Redactor",
    "Style",
    "Preset",
    "Audio",
    "GroupBy",
    "Position",
    "ProgressCallback",
    "Indexer",
    "TimeLike",
    "redact",
    "verify_redaction",
    "index",
    "incidents",
    "IncidentImages",
    "incident_images",
    "report",
    "errors",
    *errors.__all__,
]

PathLike = Union[str, "os.PathLike[str]"]

Style = Literal["mosaic", "blur", "solid"]
"""How detections and manual boxes are obscured."""
Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]
"""x264 speed/size preset."""
Audio = Literal["copy", "drop", "aac"]
#: What of a person not kept is obscured when people are detected
#: (``people="body"`` or ``people="head"``; ``None`` detects no people).
PersonRegion = Literal["body", "head"]
"""What happens to the audio: copied, dropped, or re-encoded to AAC."""
GroupBy = Literal["camera", "town", "desk"]
"""What a monthly report is grouped by."""
ProgressCallback = Callable[[int, int], Any]
"""Called as ``progress(done, total)`` in frames while a long call runs (on
the calling thread, a few times a second). With tqdm::

    with tqdm(unit="frame") as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)
        redactor.redact(clip, out, progress=progress)

An exception raised by the callback stops the call and is raised from it."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found in a video file (frame counts are exact:
    counted packet by packet, not read from the header)."""

    path: str
    container: str
    codec: str
    stream_index: int
    width: int
    height: int
    pixel_format: str
    frame_rate: Tuple[int, int]
    fps: float
    time_base: Tuple[int, int]
    start_pts: int
    duration_s: float
    container_duration_s: Optional[float]
    frames: int
    header_frames: Optional[int]
    keyframes: List[Dict[str, Any]] = field(repr=False)
    creation_time: Optional[str]
    audio: List[Dict[str, Any]]
    discontinuities: int
    video_streams: int
    timestamps_complete: bool
    #: How the file shows it was cut short where its header declares no
    #: frame count (an MPEG-TS file ending inside a packet, a Matroska file
    #: whose packets stop before its declared duration), in words; else None.
    cut_short: Optional[str]

    @classmethod
    def _from_dict(cls, d: Dict[str, Any]) -> "VideoInfo":
        d = dict(d)
        d["frame_rate"] = tuple(d["frame_rate"])
        d["time_base"] = tuple(d["time_base"])
        return cls(**d)


def probe(path: PathLike) -> VideoInfo:
    """Facts about a video file: size, codec, frame rate, exact frame count,
    duration, keyframes, audio streams."""
    return VideoInfo._from_dict(_obscura.probe(os.fspath(path)))


_T = TypeVar("_T")

_NUMPY2 = int(np.__version__.split(".")[0]) >= 2


class Frame(np.ndarray):
    """A decoded frame: a numpy array with ``index`` (frame number in
    presentation order), ``pts`` (timestamp in the stream's time base) and
    ``time`` (seconds from the start of the stream).

    Every frame the reader yields has all three, and views of it (crops,
    arithmetic) keep them. An array turned into a ``Frame`` by hand has
    none: reading them raises ``AttributeError`` rather than making one up.
    """

    _index: Optional[int]
    _pts: Optional[int]
    _time: Optional[float]

    def __array_finalize__(self, obj: Any) -> None:
        self._index = getattr(obj, "_index", None)
        self._pts = getattr(obj, "_pts", None)
        self._time = getattr(obj, "_time", None)

    def _known(self, name: str, value: Optional[_T]) -> _T:
        if value is None:
            raise AttributeError(f"this array was not decoded by obscura, so it has no frame {name}")
        return value

    @property
    def index(self) -> int:
        """Frame number in presentation order, from 0."""
        return self._known("index", self._index)

    @property
    def pts(self) -> int:
        """Presentation timestamp in the stream's time base."""
        return self._known("pts", self._pts)

    @property
    def time(self) -> float:
        """Seconds from the start of the stream."""
        return self._known("time", self._time)

    def __array_wrap__(self, arr: Any, context: Any = None, return_scalar: bool = False) -> Any:
        # A reduction (``frame.mean()``, ``frame.max()``) gives a numpy
        # scalar, as on a plain array: pandas keeps a numeric dtype and
        # ``json.dumps`` takes it. Arrays stay frames.
        if arr.ndim == 0:
            return arr[()]
        if _NUMPY2:
            return super().__array_wrap__(arr, context, return_scalar)
        return super().__array_wrap__(arr, context)

    def __reduce__(self) -> Any:
        # Pickling (multiprocessing, Dask) keeps index, pts and time.
        reduced: Any = super().__reduce__()
        rebuild, args, state = reduced
        return rebuild, args, (state, self._index, self._pts, self._time)

    def __setstate__(self, state: Any) -> None:
        base, self._index, self._pts, self._time = state
        super().__setstate__(base)


Position = Union[int, float, "_dt.timedelta"]
"""A place in a video: a frame index (``int``), or a time from the start of
the stream (seconds as a ``float``, or a ``timedelta``)."""


def _frame(got: Tuple[np.ndarray, int, int, float]) -> Frame:
    array, index, pts, time = got
    frame = array.view(Frame)
    frame._index, frame._pts, frame._time = index, pts, time
    return frame


class FrameReader:
    """Iterator over the frames of one file (see :func:`open`). Closing it,
    leaving a ``with`` block or dropping it stops the decoder and frees its
    threads and buffers."""

    def __init__(self, path: PathLike, *, parallel: bool = True, every: int = 1, gray: bool = False):
        self._it: Optional[_obscura.FrameIter] = _obscura.FrameIter(
            os.fspath(path), parallel=parallel, every=every, gray=gray
        )
        self.info: VideoInfo = VideoInfo._from_dict(self._it.info)
        self._len = len(self._it)

    def __iter__(self) -> "FrameReader":
        return self

    def __next__(self) -> Frame:
        if self._it is None:
            raise StopIteration
        return _frame(next(self._it))

    def __len__(self) -> int:
        """Frames a whole pass yields: the file's frames, one in ``every``."""
        return self._len

    def _index(self, it: "_obscura.FrameIter", position: Position) -> int:
        if isinstance(position, bool):
            raise InvalidArgumentError(f"invalid position {position!r} (expected a frame index or a time)")
        if isinstance(position, (int, np.integer)):
            return int(position)
        if isinstance(position, _dt.timedelta):
            position = position.total_seconds()
        if isinstance(position, (float, np.floating)):
            return it.index_at_time(float(position))
        raise InvalidArgumentError(
            f"invalid position {position!r} (expected a frame index, seconds as a float, or a timedelta)"
        )

    def _open(self) -> "_obscura.FrameIter":
        if self._it is None:
            raise InvalidArgumentError("this reader is closed")
        return self._it

    def seek(self, position: Position) -> "FrameReader":
        """Continues from a frame (an ``int`` index) or a time (seconds from
        the start as a ``float``, or a ``timedelta``): the next frame is that
        one, then every ``every``-th after it. Decoding starts at the
        keyframe before it, so a seek costs at most one group of pictures.
        Returns the reader, so ``next(reader.seek(700))`` works."""
        it = self._open()
        it.seek(self._index(it, position))
        return self

    def frame_at(self, position: Position) -> Frame:
        """The frame at ``position`` (as for :meth:`seek`), without moving
        the iteration."""
        it = self._open()
        return _frame(it.frame_at(self._index(it, position)))

    def close(self) -> None:
        """Stops decoding now and frees the decoder."""
        if self._it is not None:
            self._it.close()
            self._it = None

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open(path: PathLike, *, parallel: bool = True, every: int = 1, gray: bool = False) -> FrameReader:
    """Decodes ``path`` frame by frame.

    Frames are ``H x W x 3`` uint8 RGB (BT.601), or ``H x W`` luma with
    ``gray=True``, each a :class:`Frame` with ``index``, ``pts`` and
    ``time``. ``parallel`` decodes segments between keyframes on every core
    (same frames, bit for bit); ``every=n`` yields every n-th frame, seeking
    over the groups of pictures between them instead of decoding them. The
    reader has ``len()``, ``seek()`` and ``frame_at()``. The
    array's memory is written once, by the conversion, and handed over.
    """
    return FrameReader(path, parallel=parallel, every=every, gray=gray)


class Detection(NamedTuple):
    """A face or plate: box in frame pixels and detector score, and for a
    plate the recogniser confirmed (``PlateDetector(confirm=True)``) the
    ``text`` it read."""

    x: float
    y: float
    w: float
    h: float
    score: float
    text: Optional[str] = None


_detectors: Dict[Tuple[Any, ...], Any] = {}
_detectors_lock = _threading.Lock()


def _picture(array: Any) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise InvalidArgumentError(
            f"invalid frame dtype {a.dtype} (expected uint8: H x W x 3 RGB or H x W grey)"
        )
    return a


def _cached(key: Tuple[Any, ...], make: Any) -> Any:
    # Detectors are safe to share between threads; the lock only keeps two
    # threads from loading the same model at once.
    with _detectors_lock:
        if key not in _detectors:
            _detectors[key] = make()
        return _detectors[key]


class FaceDetector:
    """CenterFace with its model loaded once, at the settings redaction
    uses (``scale`` 0 picks the detection resolution from the picture
    width; ``precision`` "int8", the default as in redaction, about twice
    as fast, or "float" for the model as shipped). Safe to share between
    threads; a pickled copy
    (multiprocessing, Dask) loads its own model."""

    def __init__(
        self, *, threshold: float = 0.3, scale: float = 0.0, threads: int = 0, precision: str = "int8"
    ) -> None:
        self._inner = _obscura.FaceDetector(threshold=threshold, scale=scale, threads=threads, precision=precision)

    def detect(self, array: np.ndarray) -> List[Detection]:
        """Faces in an ``H x W x 3`` RGB or ``H x W`` grey uint8 array."""
        return [Detection(*d) for d in self._inner.detect(_picture(array))]


class PlateDetector:
    """PP-OCRv4 text detection plus the plate-geometry filter, with its
    model loaded once (with ``confirm``, only regions the recogniser reads
    as a plate-like string). Safe to share between threads; a pickled copy
    loads its own model."""

    def __init__(self, *, threshold: float = 0.3, confirm: bool = False, threads: int = 0) -> None:
        self._inner = _obscura.PlateDetector(threshold=threshold, confirm=confirm, threads=threads)

    def detect(self, array: np.ndarray) -> List[Detection]:
        """Number-plate-shaped text regions in an RGB or grey uint8 array;
        with ``confirm``, only those read as a plate, each with its
        ``text``."""
        return [Detection(*d) for d in self._inner.detect(_picture(array))]


class PersonDetector:
    """NanoDet people (COCO), read in tiles, with its model loaded once, at
    the settings redaction uses. Safe to share between threads; a pickled
    copy loads its own model."""

    def __init__(self, *, threshold: float = 0.35, threads: int = 0) -> None:
        self._inner = _obscura.PersonDetector(threshold=threshold, threads=threads)

    def detect(self, array: np.ndarray) -> List[Detection]:
        """People (whole-body boxes) in an RGB or grey uint8 array."""
        return [Detection(*d) for d in self._inner.detect(_picture(array))]


def detect_faces(array: np.ndarray, *, threshold: float = 0.3, scale: float = 0.0) -> List[Detection]:
    """Faces in an ``H x W x 3`` RGB or ``H x W`` grey uint8 array, with
    CenterFace at the same settings redaction uses (the model is loaded on
    first use and kept)."""
    det = _cached(("face", threshold, scale), lambda: FaceDetector(threshold=threshold, scale=scale))
    return det.detect(array)  # type: ignore[no-any-return]


def detect_plates(array: np.ndarray, *, threshold: float = 0.3, confirm: bool = False) -> List[Detection]:
    """Number-plate-shaped text regions in an RGB or grey uint8 array
    (PP-OCRv4 text detection plus the plate-geometry filter; with
    ``confirm``, only those the recogniser reads as a plate-like string)."""
    det = _cached(("plate", threshold, confirm), lambda: PlateDetector(threshold=threshold, confirm=confirm))
    return det.detect(array)  # type: ignore[no-any-return]


def detect_people(array: np.ndarray, *, threshold: float = 0.35) -> List[Detection]:
    """People (whole-body boxes) in an RGB or grey uint8 array, with NanoDet
    in tiles at the settings redaction uses (the model is loaded on first
    use and kept)."""
    det = _cached(("person", threshold), lambda: PersonDetector(threshold=threshold))
    return det.detect(array)  # type: ignore[no-any-return]


class Rows(List[Dict[str, Any]]):
    """A list of flat dicts, one per row: ``pandas.DataFrame(rows)`` takes
    it directly. ``meta`` holds what applies to all rows (report totals)."""

    meta: Dict[str, Any]

    def __init__(self, rows: Iterable[Dict[str, Any]] = (), meta: Optional[Dict[str, Any]] = None):
        super().__init__(rows)
        self.meta = meta or {}

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame``; ``*_utc`` columns become
        timezone-aware datetimes. Needs pandas (not a dependency of obscura)."""
        import importlib

        try:
            # Optional, and typed as Any: pandas is not a dependency.
            pd: Any = importlib.import_module("pandas")
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas: pip install pandas") from e
        df = pd.DataFrame(list(self))
        for col in df.columns:
            if str(col).endswith("_utc"):
                df[col] = pd.to_datetime(df[col], utc=True)
        return df


def tracks(
    input: PathLike,
    *,
    faces: bool = True,
    plates: bool = True,
    people: Optional[PersonRegion] = None,
    plate_confirm: bool = False,
    vehicles: bool = True,
    face_threshold: float = 0.3,
    face_scale: float = 0.0,
    face_precision: str = "int8",
    full_every: int = 32,
    sheet: Optional[PathLike] = None,
    overwrite: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> Rows:
    """Face and plate tracks of a clip (both by default, as :func:`redact`
    detects, so the ids are the ones a redaction at the same settings
    keeps), and person tracks with ``people`` set (``"body"`` or
    ``"head"``: either lists people; a person track never seen at a high
    score, mostly a thing read as a person, is obscured by a redaction but
    not listed): id, class, first and last frame and time, detections. With ``sheet``, also writes the contact sheet (PNG) for
    picking the requester; an existing file there is replaced only with
    ``overwrite`` (the input never is). ``progress(done, total)`` is called
    as frames are analysed. The detection settings (``face_precision``
    and the rest) are :class:`Redactor`'s."""
    out = (
        _obscura.tracks(
            os.fspath(input),
            faces=faces,
            plates=plates,
            people=people,
            plate_confirm=plate_confirm,
            vehicles=vehicles,
            face_threshold=face_threshold,
            face_scale=face_scale,
            face_precision=face_precision,
            full_every=full_every,
            sheet=None if sheet is None else os.fspath(sheet),
            overwrite=overwrite,
            progress=progress,
        )
    )
    return Rows(out["tracks"], meta={"sheet": out["sheet"]})


class Redactor:
    """A redaction configuration with its models loaded once, for many
    files: the camera's privacy masks, and with ``faces``/``plates`` every
    face and plate track except those a call keeps; with ``people``
    (``"body"`` or ``"head"``) every person not kept too, the whole body or
    the head region. With ``plates``, vehicles are found too and searched
    for plates at a higher scale, and a vehicle under 100 px wide, whose
    plate cannot be found, has its plate zone covered (a ``plate_zone``
    track); ``vehicles=False`` looks for plates on the whole frame only.
    Everything about the
    configuration is checked here (operator, reason, lifted masks and their
    ``authorisation``, encoder settings, the audit ``db`` and ``key``), so a
    bad setting fails before any file is touched. With ``db``, every
    redaction (and any lifted mask) is logged in that index's audit trail,
    its head signed with the Ed25519 ``key`` file if one is given. An
    existing output is replaced only with ``overwrite``. With ``scene``, the
    whole picture is obscured except the kept tracks' boxes (the safest
    disclosure). With ``moving`` (fixed cameras), every region the motion
    model finds moving is obscured unless it overlaps a kept track.
    ``face_precision`` is the face model's arithmetic, as
    ``--face-precision``: ``"int8"`` (the default, about twice as fast) or
    ``"float"`` (the model as shipped); the record says which ran.
    ``full_every``: a whole-frame search every that many frames, and in
    between faces and plates only where something moved or one was
    recently found (0: every whole frame).

    One ``Redactor`` may be shared by threads: calls take turns.

    >>> r = obscura.Redactor(operator="A. Officer", reason="SAR 2026/114")
    >>> for clip in ["cam7-0800.mp4", "cam7-0815.mp4"]:
    ...     r.redact(clip, "redacted-" + clip)
    """

    def __init__(
        self,
        *,
        operator: str,
        reason: str,
        camera: Optional[PathLike] = None,
        faces: bool = True,
        plates: bool = True,
        people: Optional[PersonRegion] = None,
        plate_confirm: bool = False,
        vehicles: bool = True,
        unmask: Sequence[str] = (),
        authorisation: Optional[str] = None,
        case_reference: Optional[str] = None,
        style: Style = "mosaic",
        scene: bool = False,
        moving: bool = False,
        pad: float = 1.3,
        face_threshold: float = 0.3,
        face_scale: float = 0.0,
        face_precision: str = "int8",
        full_every: int = 32,
        crf: int = 18,
        preset: Preset = "veryfast",
        audio: Audio = "copy",
        db: Optional[PathLike] = None,
        key: Optional[PathLike] = None,
        overwrite: bool = False,
    ) -> None:
        self._inner = _obscura.Redactor(
            operator=operator,
            reason=reason,
            camera=None if camera is None else os.fspath(camera),
            faces=faces,
            plates=plates,
            people=people,
            plate_confirm=plate_confirm,
            vehicles=vehicles,
            unmask=list(unmask),
            authorisation=authorisation,
            case_reference=case_reference,
            style=style,
            scene=scene,
            moving=moving,
            pad=pad,
            face_threshold=face_threshold,
            face_scale=face_scale,
            face_precision=face_precision,
            full_every=full_every,
            crf=crf,
            preset=preset,
            audio=audio,
            db=None if db is None else os.fspath(db),
            key=None if key is None else os.fspath(key),
            overwrite=overwrite,
        )

    @property
    def detection_workers(self) -> int:
        """Detection workers holding loaded models (0 without detection)."""
        return int(self._inner.detection_workers)

    def redact(
        self,
        input: PathLike,
        output: PathLike,
        *,
        keep_tracks: Sequence[int] = (),
        keep_reason: Optional[str] = None,
        boxes: Sequence[str] = (),
        replay: Optional[PathLike] = None,
        case_reference: Optional[str] = None,
        progress: Optional[ProgressCallback] = None,
    ) -> Dict[str, Any]:
        """Redacts ``input`` into ``output``, leaving ``keep_tracks`` (ids
        from :func:`tracks` of this file, with ``keep_reason``) visible and
        obscuring the manual ``boxes`` (``"FRAMES:x,y,w,h"``); with
        ``replay``, re-creates the regions of that earlier record instead
        (for a redactor built with ``faces=False, plates=False``). Returns
        the redaction record, also written next to the output as
        ``OUTPUT.redaction.json``; a replaced output's record is kept as
        ``OUTPUT.redaction.superseded-UTC.json``. ``progress(done, total)``
        is called as frames are done (a ``tqdm`` bar: see
        :data:`ProgressCallback`)."""
        return dict(
            self._inner.redact(
                os.fspath(input),
                os.fspath(output),
                keep_tracks=list(keep_tracks),
                keep_reason=keep_reason,
                boxes=list(boxes),
                replay=None if replay is None else os.fspath(replay),
                case_reference=case_reference,
                progress=progress,
            )
        )


def redact(
    input: PathLike,
    output: PathLike,
    *,
    operator: str,
    reason: str,
    camera: Optional[PathLike] = None,
    faces: bool = True,
    plates: bool = True,
    people: Optional[PersonRegion] = None,
    plate_confirm: bool = False,
    vehicles: bool = True,
    keep_tracks: Sequence[int] = (),
    keep_reason: Optional[str] = None,
    boxes: Sequence[str] = (),
    unmask: Sequence[str] = (),
    authorisation: Optional[str] = None,
    case_reference: Optional[str] = None,
    style: Style = "mosaic",
    scene: bool = False,
    moving: bool = False,
    pad: float = 1.3,
    replay: Optional[PathLike] = None,
    face_threshold: float = 0.3,
    face_scale: float = 0.0,
    face_precision: str = "int8",
    full_every: int = 32,
    crf: int = 18,
    preset: Preset = "veryfast",
    audio: Audio = "copy",
    db: Optional[PathLike] = None,
    key: Optional[PathLike] = None,
    overwrite: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> Dict[str, Any]:
    """Redacts one file as ``obscura redact`` does: a :class:`Redactor`
    built from these settings, used once (build a :class:`Redactor` to
    redact several files with the models loaded once). Returns the
    redaction record."""
    redactor = Redactor(
        operator=operator,
        reason=reason,
        camera=camera,
        faces=faces,
        plates=plates,
        people=people,
        plate_confirm=plate_confirm,
        vehicles=vehicles,
        unmask=unmask,
        authorisation=authorisation,
        case_reference=case_reference,
        style=style,
        scene=scene,
        moving=moving,
        pad=pad,
        face_threshold=face_threshold,
        face_scale=face_scale,
        face_precision=face_precision,
        full_every=full_every,
        crf=crf,
        preset=preset,
        audio=audio,
        db=db,
        key=key,
        overwrite=overwrite,
    )
    return redactor.redact(
        input,
        output,
        keep_tracks=keep_tracks,
        keep_reason=keep_reason,
        boxes=boxes,
        replay=replay,
        progress=progress,
    )


def verify_redaction(
    output: PathLike,
    *,
    record: Optional[PathLike] = None,
    min_score: Optional[float] = None,
    db: Optional[PathLike] = None,
) -> Dict[str, Any]:
    """Re-detects on a redacted output, at the redaction's own settings, and
    returns ``{"residuals": [...], "made_by_obscuring": [...], ...}``:
    every face or plate still visible, and apart from them the faces the
    obscuring made (the same frame of the original, when the record's
    input is still there unchanged, shows no face there), which do not
    count. An empty ``residuals`` list is the go-ahead for disclosure.

    With ``db`` (an index file or ``postgres://`` URL, read only), the
    record is first checked against its audit trail, as ``disclose``
    does: a record edited since its redaction was logged raises
    ``CorruptError`` before anything is detected, and the result's
    ``redaction_entry`` is the entry that logged the redaction (None when
    none of this output is logged there)."""
    return dict(
        _obscura.verify_redaction(
            os.fspath(output),
            record=None if record is None else os.fspath(record),
            min_score=min_score,
            db=None if db is None else os.fspath(db),
        )
    )


TimeLike = Union[str, "_dt.datetime", "_dt.date"]
"""A wall-clock time: a string the core parses (``"2026-11-02"``,
``"2026-11-02 07:30"``, RFC 3339), or a ``datetime`` / ``date`` /
``pandas.Timestamp``. Naive values are UTC; aware ones are converted."""


def _time_text(value: Optional[TimeLike]) -> Optional[str]:
    """Hands a time to the core as text it parses; the core does the
    parsing and the checking, as for the CLI."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):  # pandas.Timestamp is one
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep="T")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="us"))
    raise errors.InvalidArgumentError(
        f"invalid time {value!r} (expected a string, datetime, date or pandas.Timestamp)"
    )


def _month_text(value: Union[str, "_dt.date"]) -> str:
    """A month as ``YYYY-MM``: a string, or any ``date``/``datetime``/
    ``pandas.Timestamp`` in it (aware ones taken in UTC)."""
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(_dt.timezone.utc)
    if isinstance(value, _dt.date):
        return f"{value.year:04d}-{value.month:02d}"
    raise errors.InvalidArgumentError(
        f"invalid month {value!r} (expected 'YYYY-MM', a date or a datetime)"
    )


class Indexer:
    """Indexes recordings of one camera (its profile ``camera``) into the
    index ``db``: an SQLite file, or a ``postgres://`` URL naming a
    PostgreSQL database many processes and machines share. The profile is
    read and checked, and the database created or migrated, once; then
    :meth:`index` takes any number of batches. ``threads`` caps the threads
    one file is analysed with (0: one per core; 1 for a worker that should
    use one core, as in :mod:`obscura.distributed`); ``triage`` skips
    decoding stretches whose packets show a still picture, as ``obscura
    index --triage`` does."""

    def __init__(self, *, camera: PathLike, db: PathLike, threads: int = 0, triage: bool = False) -> None:
        self._inner = _obscura.Indexer(
            camera=os.fspath(camera), db=os.fspath(db), threads=int(threads), triage=bool(triage)
        )

    @property
    def camera(self) -> int:
        """The camera number of the profile."""
        return int(self._inner.camera)

    def index(
        self,
        paths: Union[PathLike, Sequence[PathLike]],
        *,
        start: Optional[TimeLike] = None,
        progress: Optional[ProgressCallback] = None,
    ) -> Rows:
        """Indexes ``paths``: one row per file, with an ``error`` dict for
        files that could not be indexed (the others still are). ``start``
        gives one recording's wall-clock start when neither its container
        nor its name does."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        rows = self._inner.index([os.fspath(p) for p in paths], start=_time_text(start), progress=progress)
        return Rows(rows)


def index(
    paths: Union[PathLike, Sequence[PathLike]],
    *,
    camera: PathLike,
    db: PathLike,
    start: Optional[TimeLike] = None,
    progress: Optional[ProgressCallback] = None,
) -> Rows:
    """Indexes recordings of one camera as ``obscura index`` does: an
    :class:`Indexer` used once."""
    return Indexer(camera=camera, db=db).index(paths, start=start, progress=progress)


def incidents(
    db: PathLike,
    *,
    camera: Optional[int] = None,
    town: Optional[str] = None,
    desk: Optional[str] = None,
    since: Optional[TimeLike] = None,
    until: Optional[TimeLike] = None,
) -> Rows:
    """Motion incidents in the index, filtered by camera number, town and
    desk (matched whatever the case) and wall-clock time (``since`` /
    ``until``: strings, ``datetime``, ``date`` or ``pandas.Timestamp``;
    naive ones are UTC)."""
    rows = _obscura.incidents(
        os.fspath(db),
        camera=camera,
        town=town,
        desk=desk,
        since=_time_text(since),
        until=_time_text(until),
    )
    return Rows(rows)


class IncidentImages(NamedTuple):
    """The pictures of one incident."""

    #: The frame at the peak, ``H x W x 3`` RGB (``None`` when the index was
    #: built without thumbnails).
    thumbnail: Optional[np.ndarray]
    #: Activity per cell of a 16 x 16 grid over the picture, 255 = busiest.
    heatmap: np.ndarray


def incident_images(db: PathLike, id: int) -> Optional[IncidentImages]:
    """The thumbnail and heatmap of incident ``id`` (the ``id`` column of
    :func:`incidents`) as numpy arrays, for ``plt.imshow``; ``None`` when the
    index has no such incident."""
    found = _obscura.incident_images(os.fspath(db), int(id))
    if found is None:
        return None
    thumbnail, heatmap = found
    return IncidentImages(thumbnail, heatmap)


def report(
    db: PathLike,
    month: Union[str, "_dt.date"],
    *,
    by: GroupBy = "camera",
    compare_previous: bool = True,
) -> Rows:
    """The monthly report (``month`` as ``YYYY-MM``, or any date in it)
    grouped ``by`` camera,
    town or desk: one row per group; ``rows.meta`` has the month and the
    totals."""
    r = dict(_obscura.report(os.fspath(db), _month_text(month), by=by, compare_previous=compare_previous))
    rows = r.pop("rows")
    if by == "camera":
        # The same type incidents give for a camera.
        for row in rows:
            row["group"] = int(row["group"])
    return Rows(rows, meta=r)


def __dir__() -> List[str]:
    # The public API only, not the modules and typing names used inside.
    return sorted(__all__)
