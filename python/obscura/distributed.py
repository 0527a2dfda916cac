"""Indexing and redaction fanned out over a Dask cluster, one task per file.

:func:`index_many` indexes recordings into one shared index (a
``postgres://`` URL for a fleet of machines; an SQLite file serves the
workers of one machine) and :func:`redact_many` redacts a list of clips.
Each returns a ``pandas.DataFrame`` with one row per file, in the order
given: ``status`` is ``"ok"`` or ``"error"``, and a file that fails
(missing, not media, an MP4 cut short before its index was written) is a
row with its ``error_kind`` (the :class:`obscura.ObscuraError` kind) and
``error`` message; it never stops the batch. (A recording cut short
mid-stream is indexed as far as it decodes, and ``damaged`` says so, as
``obscura index`` does.) ::

    from distributed import Client
    from obscura.distributed import index_many

    client = Client("tcp://scheduler:8786")
    runs = index_many(
        {"cameras/cam07.toml": cam07_files, "cameras/cam08.toml": cam08_files},
        db="postgres://obscura@db.example:5432/cctv",
    )
    runs[runs.status == "error"]

Dask does the work it is good at, and nothing here redoes it: the
scheduler places the tasks, ``distributed.progress`` shows them (a widget
in a notebook, a text bar in a terminal), and Dask runs a task again when
it raised (``retries``) or when its worker died under it (a worker process
killed or a machine lost: Dask reschedules the task elsewhere). Every task
is therefore safe to run twice:

- **Indexing** stores each recording in one transaction, and storing the
  same footage again (same sha256 or same path) replaces it: a task run
  again leaves one recording and its incidents, never two.
- **Redaction** writes the output under a temporary name and renames it
  when complete, then writes its record, then logs it in the audit trail.
  A retry whose earlier attempt (of the same job, in the same call)
  finished the output and its record, checked by the record naming this
  input's sha256 and the output's, reports that output (``resumed``)
  instead of failing on it, when no audit ``db`` is given. With an audit
  ``db`` it cannot see whether the dead attempt got to log, so it redacts
  again, replacing only its own earlier output (whose record is kept as
  ``OUTPUT.redaction.superseded-UTC.json``, as every replaced record is)
  and logging the new one: an audited output is never reported without
  its audit entry. An output that existed before the call is replaced only
  with ``overwrite=True``, as :class:`obscura.Redactor` does; so is one a
  retry finds without a matching record (its attempt died between the two
  renames, or it was never this job's), which is then an
  ``already_exists`` row for someone to look at.

Which attempt is a retry is told by a ``distributed.Event`` per task,
set when an attempt starts and cleared when the call has its results.

Only errors that another attempt may not meet are raised for Dask to
retry: ``database`` (the index was busy, unreachable or the connection
dropped) and ``io`` (a network share that went away, a full disk). Errors
of the file itself are final and reported at once. A task that still
fails after its retries, or whose workers kept dying (Dask's
``KilledWorker``, error kind ``killed_worker``), is a row too.

Each worker process builds one :class:`obscura.Indexer` per camera
profile and database, and one :class:`obscura.Redactor` per set of
settings, on first use, and keeps it for the tasks that follow: models and
profiles are loaded once per worker, not once per file. The files must be
readable by the workers under the names given (a shared file system), and
outputs writable there.

This module needs Dask (``pip install 'obscura[distributed]'``);
``import obscura`` does not.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import Indexer, Redactor, TimeLike, _time_text
from .errors import BY_KIND, InvalidArgumentError, ObscuraError

__all__ = ["index_many", "redact_many", "INDEX_COLUMNS", "REDACT_COLUMNS", "RETRIED_KINDS"]

PathLike = Union[str, "os.PathLike[str]"]

#: Error kinds a task raises for Dask to retry (a later attempt, maybe on
#: another machine, may succeed); every other kind is final at once.
RETRIED_KINDS = frozenset({"database", "io"})

#: The columns of :func:`index_many`'s DataFrame, in order.
INDEX_COLUMNS = (
    "path",  # the file, as given
    "profile",  # the camera profile it was indexed with
    "camera",  # the profile's camera number (as incidents give it)
    "status",  # "ok" or "error"
    "frames",  # frames analysed
    "incidents",  # incidents stored
    "start_utc",  # wall-clock start of the recording
    "duration_s",
    "time_source",  # where start_utc came from
    "damaged",  # why, when the file decoded to fewer frames than it declares
    "replaced",  # an earlier index of the same footage was replaced
    "duplicate_of",  # another file with the same content, stored before it
    "seconds",  # wall time of the task on its worker
    "worker",  # the Dask worker that produced the row
    "retried",  # an earlier attempt died with its worker or raised
    "error_kind",  # the ObscuraError kind, "killed_worker", or "exception"
    "error",  # the message
)

#: The columns of :func:`redact_many`'s DataFrame, in order.
REDACT_COLUMNS = (
    "input",
    "output",
    "status",  # "ok" or "error"
    "frames",  # frames written
    "tracks",  # tracks found
    "kept_tracks",  # tracks left visible
    "input_sha256",
    "output_sha256",  # as the record gives it
    "record",  # the record's path (OUTPUT.redaction.json)
    "seconds",  # wall time of the task on its worker
    "worker",
    "retried",  # an earlier attempt died with its worker or raised
    "resumed",  # that attempt's finished output is reported, not redone
    "error_kind",
    "error",
)


# -- Dask, imported when used ----------------------------------------------


def _dask() -> Any:
    """The ``distributed`` module (typed as Any: Dask is optional)."""
    try:
        return importlib.import_module("distributed")
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "obscura.distributed needs Dask: pip install 'obscura[distributed]'"
        ) from e


def _pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("obscura.distributed needs pandas: pip install 'obscura[distributed]'") from e


class _Cluster:
    """The client to use: the one given, the current one, or a
    ``LocalCluster`` started for this call of ``tasks`` tasks (and closed
    after it)."""

    def __init__(self, client: Optional[Any], tasks: int) -> None:
        self._own: Optional[Tuple[Any, Any]] = None
        if client is not None:
            self.client = client
            return
        d = _dask()
        try:
            self.client = d.get_client()
        except ValueError:
            # One single-threaded worker process per core (no more than
            # there are tasks): each task analyses its file on one core
            # (see ``threads``).
            cluster = d.LocalCluster(
                n_workers=max(1, min(os.cpu_count() or 1, tasks)),
                threads_per_worker=1,
                processes=True,
                # Any free port: 8787 may be another cluster's.
                dashboard_address=":0",
            )
            self.client = d.Client(cluster)
            self._own = (self.client, cluster)

    def close(self) -> None:
        if self._own is not None:
            client, cluster = self._own
            client.close()
            cluster.close()


def _run(
    client: Any,
    fn: Callable[..., Dict[str, Any]],
    args: Sequence[Tuple[Any, ...]],
    prefix: str,
    retries: int,
    progress: bool,
) -> List[Tuple[Optional[Dict[str, Any]], Optional[BaseException]]]:
    """Runs ``fn(*a, marker)`` for each ``a`` as one Dask task and returns,
    in order, each task's result or the exception it ended with. Keys are
    ``PREFIX-HEX``, new for every call (a call never reuses an earlier
    call's results), so the progress bar has one bar per prefix."""
    d = _dask()
    keys = [f"{prefix}-{uuid.uuid4().hex}" for _ in args]
    markers = [f"obscura-attempt-{k}" for k in keys]
    futures = [
        client.submit(fn, *a, m, key=k, retries=retries) for a, k, m in zip(args, keys, markers)
    ]
    try:
        if progress:
            _show_progress(d, futures)
        d.wait(futures)
        done = [f for f in futures if f.status == "finished"]
        values = dict(zip((f.key for f in done), client.gather(done)))
        out: List[Tuple[Optional[Dict[str, Any]], Optional[BaseException]]] = []
        for f in futures:
            if f.key in values:
                out.append((values[f.key], None))
            else:
                exc = f.exception() if f.status == "error" else None
                out.append((None, exc if exc is not None else RuntimeError(f"task {f.status}")))
        return out
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        for m in markers:
            try:
                d.Event(m, client=client).clear()
            except Exception:  # the client is gone: the marks go with its scheduler
                break


def _rows(
    client: Optional[Any],
    fn: Callable[..., Dict[str, Any]],
    args: Sequence[Tuple[Any, ...]],
    prefix: str,
    retries: int,
    progress: bool,
    names: Callable[[Tuple[Any, ...]], Dict[str, Any]],
) -> List[Dict[str, Any]]:
    """One row per task of :func:`_run`, on ``client`` or a cluster made for
    the call: the task's own row, or, for a task that ended in an
    exception, ``names(args)`` with the failure's columns."""
    cluster = _Cluster(client, len(args))
    try:
        results = _run(cluster.client, fn, args, prefix, retries, progress)
    finally:
        cluster.close()
    return [
        row if row is not None else {**names(a), **_failure(exc or RuntimeError("lost"), retries)}
        for a, (row, exc) in zip(args, results)
    ]


def _show_progress(d: Any, futures: List[Any]) -> None:
    """Dask's progress bars, one per kind of task: in a notebook, a widget
    shown now and updated while the call waits; elsewhere, a text bar that
    waits with it."""
    try:
        bar = d.progress(futures)
    except ImportError:  # pragma: no cover - a notebook without ipywidgets
        bar = d.progress(futures, notebook=False)
    if bar is not None:  # pragma: no cover - only in a notebook
        importlib.import_module("IPython.display").display(bar)


def _failure(exc: BaseException, retries: int) -> Dict[str, Any]:
    """The columns of a task that ended with ``exc`` after its retries."""
    killed = isinstance(exc, _dask().KilledWorker)
    if isinstance(exc, ObscuraError):
        kind, message = exc.kind, str(exc)
    elif killed:
        kind, message = "killed_worker", f"the workers running it kept dying: {exc}"
    else:
        kind, message = "exception", f"{type(exc).__name__}: {exc}"
    return {
        "status": "error",
        "retried": killed or retries > 0,
        "error_kind": kind,
        "error": message,
    }


# -- On the workers ----------------------------------------------------------

# One indexer per (profile, db, threads, triage) and one redactor per set of
# settings in each worker process, built by the first task that needs it.
_indexers: Dict[Tuple[str, str, int, bool], Indexer] = {}
_redactors: Dict[Tuple[Tuple[str, Any], ...], Redactor] = {}
_lock = threading.Lock()


def _earlier_attempt(marker: str) -> bool:
    """Whether an attempt of this task already started (this is Dask
    running it again); marks this one as started."""
    event = _dask().Event(marker)
    if bool(event.is_set()):
        return True
    event.set()
    return False


def _worker_address() -> Optional[str]:
    try:
        return str(_dask().get_worker().address)
    except ValueError:  # pragma: no cover - run outside a worker
        return None


def _indexer(profile: str, db: str, threads: int, triage: bool) -> Indexer:
    key = (profile, db, threads, triage)
    with _lock:
        found = _indexers.get(key)
        if found is None:
            found = _indexers[key] = Indexer(camera=profile, db=db, threads=threads, triage=triage)
        return found


def _index_task(
    path: str,
    profile: str,
    db: str,
    start: Optional[str],
    threads: int,
    triage: bool,
    marker: str,
) -> Dict[str, Any]:
    began = time.perf_counter()
    row: Dict[str, Any] = {
        "path": path,
        "profile": profile,
        "worker": _worker_address(),
        "retried": _earlier_attempt(marker),
    }
    try:
        indexer = _indexer(profile, db, threads, triage)
        row["camera"] = indexer.camera
        done = indexer.index(path, start=start)[0]
    except ObscuraError as e:
        if e.kind in RETRIED_KINDS:
            raise
        row.update(status="error", error_kind=e.kind, error=str(e))
        row["seconds"] = time.perf_counter() - began
        return row
    error = done.get("error")
    if error is not None:
        if error["kind"] in RETRIED_KINDS:
            raise _error(error["kind"], error["message"], path)
        row.update(status="error", error_kind=error["kind"], error=error["message"])
    else:
        row["status"] = "ok"
        for k in ("frames", "incidents", "start_utc", "duration_s", "time_source", "damaged", "replaced"):
            row[k] = done.get(k)
        row["duplicate_of"] = done.get("duplicate_of")
    row["seconds"] = time.perf_counter() - began
    return row


def _error(kind: str, message: str, path: Optional[str]) -> ObscuraError:
    """The exception the core would raise for a per-file error row."""
    exc = BY_KIND.get(kind, ObscuraError)(message)
    exc.kind = kind
    exc.path = path
    return exc


def _redactor(settings: Tuple[Tuple[str, Any], ...]) -> Redactor:
    with _lock:
        found = _redactors.get(settings)
        if found is None:
            kwargs: Dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v for k, v in settings}
            found = _redactors[settings] = Redactor(**kwargs)
        return found


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _record_path(output: str) -> str:
    return output + ".redaction.json"


def _finished_earlier(
    input: str, output: str, settings: Mapping[str, Any], call: Mapping[str, Any]
) -> Optional[Dict[str, Any]]:
    """The record of this job's output when an earlier attempt finished it:
    output and record exist, the record names this input's sha256 and
    the output's, and this job's operator, reason and kept tracks (those
    asked for; the tracks that go with them are kept too)."""
    record_file = _record_path(output)
    if not (os.path.isfile(output) and os.path.isfile(record_file)):
        return None
    try:
        with open(record_file, "rb") as f:
            record: Dict[str, Any] = json.load(f)
        kept = {t["id"] for t in record["kept_tracks"]}
        asked = set(call.get("keep_tracks", ()))
        same = (
            record["operator"] == settings.get("operator")
            and record["reason"] == settings.get("reason")
            and asked <= kept
            and (bool(asked) or not kept)
            # Last, as they read the files.
            and record["input"]["sha256"] == _sha256(input)
            and record["output"]["sha256"] == _sha256(output)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if same else None


def _redact_task(
    input: str,
    output: str,
    settings: Tuple[Tuple[str, Any], ...],
    call: Dict[str, Any],
    marker: str,
) -> Dict[str, Any]:
    began = time.perf_counter()
    retried = _earlier_attempt(marker)
    row: Dict[str, Any] = {
        "input": input,
        "output": output,
        "worker": _worker_address(),
        "retried": retried,
        "resumed": False,
    }
    try:
        if retried:
            earlier = _finished_earlier(input, output, dict(settings), call)
            if earlier is not None:
                if dict(settings).get("db") is None:
                    row["resumed"] = True
                    row.update(_record_columns(earlier, output), status="ok")
                    row["seconds"] = time.perf_counter() - began
                    return row
                # Audited: redo it, replacing only that attempt's output,
                # so the audit trail surely has the output reported.
                settings = tuple(sorted({**dict(settings), "overwrite": True}.items()))
        record = _redactor(settings).redact(input, output, **call)
    except ObscuraError as e:
        if e.kind in RETRIED_KINDS:
            raise
        row.update(status="error", error_kind=e.kind, error=str(e))
    else:
        row.update(_record_columns(record, output), status="ok")
    row["seconds"] = time.perf_counter() - began
    return row


def _record_columns(record: Mapping[str, Any], output: str) -> Dict[str, Any]:
    counts = record.get("counts", {})
    return {
        "frames": record["output"]["frames"],
        "tracks": counts.get("tracks"),
        "kept_tracks": counts.get("kept_tracks"),
        "input_sha256": record["input"]["sha256"],
        "output_sha256": record["output"]["sha256"],
        "record": _record_path(output),
    }


# -- The calls -----------------------------------------------------------------


def _groups(
    paths: Union[Sequence[PathLike], Mapping[PathLike, Sequence[PathLike]]],
    camera: Optional[PathLike],
) -> Iterator[Tuple[str, str]]:
    """(file, profile) pairs, in the order given."""
    if isinstance(paths, (str, os.PathLike)):
        raise InvalidArgumentError(
            f"invalid paths {paths!r} (expected a list of files, or a mapping of camera profile to files)"
        )
    if isinstance(paths, Mapping):
        if camera is not None:
            raise InvalidArgumentError(
                "invalid camera: give the profiles as the keys of paths, or one camera for a list of files, not both"
            )
        for profile, files in paths.items():
            if isinstance(files, (str, os.PathLike)):
                raise InvalidArgumentError(
                    f"invalid files {files!r} for camera {os.fspath(profile)!r} (expected a list of files)"
                )
            for f in files:
                yield os.fspath(f), os.fspath(profile)
        return
    if camera is None:
        raise InvalidArgumentError(
            "missing camera: give camera= for a list of files, or a mapping of camera profile to files"
        )
    for f in paths:
        yield os.fspath(f), os.fspath(camera)


def _frame(pd: Any, rows: List[Dict[str, Any]], columns: Sequence[str], ints: Sequence[str]) -> Any:
    """The rows as a DataFrame: counts as nullable integers (missing on
    error rows), flags as booleans, text as objects with ``None`` where
    there is none."""
    df = pd.DataFrame(rows, columns=list(columns))
    for col in df.columns:
        if col in ints:
            df[col] = df[col].astype("Int64")
        elif col in ("retried", "resumed"):
            df[col] = df[col].astype("boolean").fillna(False).astype(bool)
        elif col == "replaced":
            df[col] = df[col].astype("boolean")
        elif col in ("seconds", "duration_s"):
            df[col] = df[col].astype(float)
        elif col != "start_utc":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def index_many(
    paths: Union[Sequence[PathLike], Mapping[PathLike, Sequence[PathLike]]],
    *,
    camera: Optional[PathLike] = None,
    db: PathLike,
    client: Optional[Any] = None,
    starts: Optional[Mapping[PathLike, TimeLike]] = None,
    threads: int = 1,
    triage: bool = False,
    retries: int = 2,
    progress: bool = True,
) -> Any:
    """Indexes many recordings into ``db``, one Dask task per file, and
    returns a ``pandas.DataFrame`` with one row per file in the order
    given (columns :data:`INDEX_COLUMNS`).

    ``paths`` is a list of files of the camera whose profile is
    ``camera``, or a mapping ``{profile: [files]}`` for several cameras.
    ``db`` is the shared index: a ``postgres://`` URL, or an SQLite file
    the workers of one machine share. ``starts`` gives, by path as given,
    the wall-clock start of recordings whose container and name give none.
    ``threads`` is the threads one file is analysed with (1: a Dask worker
    thread is one core). ``client`` is the Dask client to run on; without
    one, the current client, else a ``LocalCluster`` (a single-threaded
    worker process per core, no more than there are files) started for the
    call and closed after it. ``retries`` is how
    many times Dask runs a task again after a database or I/O error
    (:data:`RETRIED_KINDS`); a task whose worker died is run again anyway.
    ``progress`` shows Dask's progress bar.
    """
    pd = _pandas()
    pairs = list(_groups(paths, camera))
    start_of = {os.fspath(k): _time_text(v) for k, v in (starts or {}).items()}
    unknown = set(start_of) - {p for p, _ in pairs}
    if unknown:
        raise InvalidArgumentError(f"invalid starts: {sorted(unknown)} are not among the paths")
    ints = ("camera", "frames", "incidents")
    if not pairs:
        return _frame(pd, [], INDEX_COLUMNS, ints)
    store = os.fspath(db)
    args = [(p, profile, store, start_of.get(p), int(threads), bool(triage)) for p, profile in pairs]
    rows = _rows(
        client, _index_task, args, "obscura-index", retries, progress,
        lambda a: {"path": a[0], "profile": a[1]},
    )
    df = _frame(pd, rows, INDEX_COLUMNS, ints)
    df["start_utc"] = pd.to_datetime(df["start_utc"], utc=True)
    return df


def _redact_parameters() -> Tuple[frozenset[str], frozenset[str]]:
    """The keywords of a job: ``Redactor`` settings (one redactor per
    distinct set, per worker) and ``Redactor.redact`` arguments."""
    built = {p for p in inspect.signature(Redactor.__init__).parameters if p != "self"}
    call = {p for p in inspect.signature(Redactor.redact).parameters} - {"self", "input", "output", "progress"}
    # A case reference per clip does not need a redactor of its own.
    return frozenset(built - call), frozenset(call)


_SETTINGS, _CALL = _redact_parameters()


def _setting(value: Any) -> Any:
    """A setting in a form that keys the redactor cache and pickles."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return tuple(_setting(v) for v in value)
    return value


def redact_many(
    jobs: Sequence[Mapping[str, Any]],
    *,
    client: Optional[Any] = None,
    retries: int = 2,
    progress: bool = True,
    **settings: Any,
) -> Any:
    """Redacts many clips, one Dask task per job, and returns a
    ``pandas.DataFrame`` with one row per job in the order given (columns
    :data:`REDACT_COLUMNS`).

    Each job is a mapping with ``input`` and ``output`` and any keyword of
    :class:`obscura.Redactor` (``operator``, ``reason``, ``camera``,
    ``faces``, ``plates``, ``db``, ``overwrite``, ...) or of
    :meth:`obscura.Redactor.redact` (``keep_tracks``, ``keep_reason``,
    ``boxes``, ``replay``, ``case_reference``); keywords given to this
    call apply to every job that does not set them::

        redact_many(
            [{"input": "cam7.mp4", "output": "out/cam7.mp4", "keep_tracks": [3], "keep_reason": "requester"},
             {"input": "cam8.mp4", "output": "out/cam8.mp4"}],
            operator="A. Officer", reason="SAR 2026/114", db="postgres://obscura@db/cctv",
        )

    A worker keeps one redactor (models loaded) per distinct set of
    settings. What a task run again after its worker died does with an
    output its earlier attempt finished is described in the module
    documentation; ``client``, ``retries`` and ``progress`` are as for
    :func:`index_many`.
    """
    pd = _pandas()
    known = _SETTINGS | _CALL | {"input", "output"}
    tasks = []
    for n, job in enumerate(jobs):
        merged = {**settings, **job}
        unknown = set(merged) - known
        if unknown:
            raise InvalidArgumentError(
                f"invalid job {n}: unknown {sorted(unknown)} (expected input, output and "
                f"keywords of Redactor or Redactor.redact: {sorted(_SETTINGS | _CALL)})"
            )
        for need in ("input", "output"):
            if need not in merged:
                raise InvalidArgumentError(f"invalid job {n}: missing {need!r}")
        built = tuple(sorted((k, _setting(v)) for k, v in merged.items() if k in _SETTINGS))
        call = {k: _setting(v) for k, v in merged.items() if k in _CALL}
        for k in ("keep_tracks", "boxes"):
            if k in call:
                call[k] = list(call[k])
        tasks.append((os.fspath(merged["input"]), os.fspath(merged["output"]), built, call))
    ints = ("frames", "tracks", "kept_tracks")
    if not tasks:
        return _frame(pd, [], REDACT_COLUMNS, ints)
    rows = _rows(
        client, _redact_task, tasks, "obscura-redact", retries, progress,
        lambda a: {"input": a[0], "output": a[1]},
    )
    return _frame(pd, rows, REDACT_COLUMNS, ints)
