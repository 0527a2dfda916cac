"""Resources, the GIL, Ctrl-C and exceptions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import obscura
from conftest import run_cli


def threads_now() -> int:
    return len(os.listdir("/proc/self/task"))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_iterators_left_early_free_their_decoders(sample):
    path = sample("bigbuckbunny.mp4")  # 720p, decoded segment-parallel
    before_threads = threads_now()
    # Warm up allocator and decoder pools once before measuring.
    for f in obscura.open(path):
        break
    rss_before = rss_mb()
    for i in range(30):
        frames = obscura.open(path)
        for n, f in enumerate(frames):
            if n == 5:
                break
        if i % 3 == 0:
            frames.close()  # explicit close
        elif i % 3 == 1:
            with obscura.open(path) as it:  # context manager
                next(it)
        del frames, f  # dropped while the workers are running ahead
    time.sleep(0.2)
    assert threads_now() == before_threads
    # 30 abandoned decoders would hold > 1 GB of buffered 720p pictures.
    assert rss_mb() - rss_before < 100
    closed = obscura.open(path)
    closed.close()
    assert list(closed) == []


def test_other_threads_run_during_a_long_call(sample, tmp_path):
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.002)

    t = threading.Thread(target=ticker)
    t.start()
    # Calls are repeated until they have run at least 0.6 s together: one
    # index of vtest.avi takes about 0.3 s on a fast machine, too short a
    # window to tell a free GIL from a held one.
    windows = []
    try:
        while sum(e - s for s, e in windows) < 0.6 and len(windows) < 20:
            started = time.perf_counter()
            rows = obscura.index(
                sample("vtest.avi"),
                camera=Path(__file__).resolve().parents[2] / "examples/cameras/vtest.toml",
                db=tmp_path / f"index{len(windows)}.db",
                start="2026-11-02T08:00:00Z",
            )
            windows.append((started, time.perf_counter()))
            assert "error" not in rows[0], rows
    finally:
        stop.set()
        t.join()
    busy = sum(e - s for s, e in windows)
    during = [x for x in ticks if any(s < x < e for s, e in windows)]
    # The ticker wakes every 2 ms; holding the GIL would freeze it.
    assert busy >= 0.6, busy
    assert len(during) > 0.3 * busy / 0.002, (len(during), busy)


def test_ctrl_c_stops_a_long_call_and_leaves_nothing(sample, tmp_path):
    out = tmp_path / "out.mp4"
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    started = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        obscura.redact(
            sample("bigbuckbunny.mp4"),
            out,
            operator="test",
            reason="interrupt test",
            faces=True,
            plates=True,
            face_scale=2.0,
            full_every=1,
        )
    timer.cancel()
    assert time.perf_counter() - started < 10
    assert sorted(os.listdir(tmp_path)) == []


def test_each_error_kind_has_its_class_and_the_cli_message(cli, sample, tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(obscura.NotFoundError) as e:
        obscura.probe(missing)
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, obscura.ObscuraError)
    assert e.value.kind == "not_found" and e.value.path == str(missing)
    cli_err = run_cli(cli, "probe", str(missing)).stderr
    assert f"obscura: error: {e.value}" in cli_err

    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    with pytest.raises(obscura.NotMediaError):
        obscura.open(text)

    with pytest.raises(obscura.InvalidArgumentError) as e:
        obscura.open(sample("bikes.mp4"), every=0)
    assert isinstance(e.value, ValueError)
    with pytest.raises(obscura.InvalidArgumentError):
        obscura.report(tmp_path / "none.db", "2026-13")
    with pytest.raises(obscura.InvalidArgumentError):
        obscura.redact(sample("bikes.mp4"), tmp_path / "o.mp4", operator="", reason="")
    with pytest.raises(obscura.InvalidArgumentError):
        obscura.detect_faces(np.zeros(12, np.uint8))  # 1-D, not a picture
    with pytest.raises(obscura.InvalidArgumentError):
        obscura.detect_faces(np.zeros((8, 8, 3), np.float32))

    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(sample("bikes.mp4").read_bytes()[:20000])
    with pytest.raises(obscura.ObscuraError) as e:
        list(obscura.open(truncated))
    assert type(e.value) in (obscura.NotMediaError, obscura.CorruptError)

    with pytest.raises(obscura.DatabaseError):
        bad = tmp_path / "bad.db"
        bad.write_bytes(b"this is not sqlite" * 100)
        obscura.incidents(bad)
    assert not list(tmp_path.glob("o.mp4*"))


def test_probe_says_a_transport_stream_was_cut_short(sample, tmp_path):
    # The same finding a redaction record and an index carry: an MPEG-TS
    # that ends inside a 188-byte packet was cut short.
    ts = tmp_path / "cam.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(sample("bikes.mp4")), "-c", "copy",
                    "-f", "mpegts", str(ts)], check=True)
    data = ts.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) // 2 // 188 * 188 + 20])
    info = obscura.probe(cut)
    assert info.cut_short == "the file ends 20 bytes into a 188-byte transport-stream packet"
    assert 0 < info.frames < obscura.probe(ts).frames
    assert obscura.probe(ts).cut_short is None


def test_every_core_error_kind_has_one_exception_class():
    from obscura import _obscura, errors

    # The core's list of kinds is the one list; Python has a class for each.
    assert sorted(_obscura.ERROR_KINDS) == sorted(errors.BY_KIND)
    classes = list(errors.BY_KIND.values())
    assert len(set(classes)) == len(classes)
    for kind, cls in errors.BY_KIND.items():
        assert issubclass(cls, errors.ObscuraError)
        assert cls.kind == kind
        assert getattr(obscura, cls.__name__) is cls


def test_missing_model_or_runtime_says_to_run_the_setup(tmp_path):
    # Fresh processes, so ONNX Runtime is not already loaded.
    code = (
        "import obscura\n"
        "try:\n"
        "    obscura.FaceDetector()\n"
        "except obscura.ObscuraError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    real_home = Path(os.environ.get("OBSCURA_HOME", Path.home() / ".cache" / "obscura"))
    empty = tmp_path / "empty"
    no_runtime = tmp_path / "no-runtime"
    empty.mkdir()
    no_runtime.mkdir()
    (no_runtime / "models").symlink_to(real_home / "models")
    for home, want in [(empty, "ModelError"), (no_runtime, "OnnxRuntimeError")]:
        env = dict(os.environ, OBSCURA_HOME=str(home))
        env.pop("OBSCURA_ORT_LIB", None)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert out.stdout.startswith(want), (out.stdout, out.stderr)
        assert "setup" in out.stdout


def test_one_redactor_redacts_several_clips_with_its_models_loaded_once(sample, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    redactor = obscura.Redactor(operator="T. Officer", reason="SAR test", plates=False)
    assert redactor.detection_workers >= 1
    clip = sample("carphone_pristine.mp4")
    with ThreadPoolExecutor(2) as pool:
        records = list(
            pool.map(lambda n: redactor.redact(clip, tmp_path / f"{n}.mp4"), ["a", "b"])
        )
    for name, record in zip("ab", records):
        assert (tmp_path / f"{name}.mp4").is_file()
        assert record["operator"] == "T. Officer"
        assert record["counts"]["tracks"] >= 1
    # Same models, same clip: the same redaction.
    assert records[0]["counts"] == records[1]["counts"]
    # A bad setting fails when the redactor is built, before any file.
    with pytest.raises(obscura.InvalidArgumentError):
        obscura.Redactor(operator="", reason="why")
    with pytest.raises(obscura.InvalidArgumentError, match="keep_reason"):
        redactor.redact(clip, tmp_path / "c.mp4", keep_tracks=[1])
    assert not (tmp_path / "c.mp4").exists()


def test_people_are_listed_and_obscured_body_or_head(sample, tmp_path):
    """People are their own tracks; ``people="head"`` obscures head bands
    and says so in the record, as the CLI's ``--people head`` does."""
    clip = tmp_path / "walk.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", "20", "-t", "1.5", "-i", str(sample("vtest.avi")),
         "-vf", "crop=400:240:0:100", "-c:v", "libx264", "-crf", "10", str(clip)],
        check=True,
    )
    rows = obscura.tracks(clip, faces=False, plates=False, people="body")
    classes = {r["class"] for r in rows}
    assert classes == {"person"}, classes
    assert len(rows) >= 2
    with pytest.raises(obscura.InvalidArgumentError, match="body or head"):
        obscura.tracks(clip, people="legs")

    record = obscura.redact(
        clip, tmp_path / "heads.mp4", operator="D Officer", reason="SAR", faces=False,
        plates=False, people="head",
    )
    assert record["detection"]["person_region"] == "head"
    # The record holds every person track obscured; the listing offers the
    # confirmed ones (seen at least once at the tracker's high score).
    assert record["counts"]["person_tracks"] >= len(rows)
    recorded = {t["id"] for t in record["tracks"] if t["class"] == "person"}
    assert {r["id"] for r in rows} <= recorded
    assert any(m["name"] == "nanodet" for m in record["detection"]["models"])


def test_face_precision_is_chosen_as_on_the_command_line(sample, tmp_path):
    """``face_precision`` is ``--face-precision``: 8 bits by default, the
    float model when asked for, a bad value refused before any file is
    touched; the record says which model ran."""
    clip = sample("carphone_pristine.mp4")
    out = tmp_path / "float.mp4"
    with pytest.raises(obscura.InvalidArgumentError, match="int8 or float"):
        obscura.Redactor(operator="A. Officer", reason="SAR", face_precision="int4")
    with pytest.raises(obscura.InvalidArgumentError, match="int8 or float"):
        obscura.tracks(clip, plates=False, face_precision="half")
    with pytest.raises(obscura.InvalidArgumentError, match="int8 or float"):
        obscura.redact(clip, out, operator="A. Officer", reason="SAR", face_precision="")
    assert not out.exists()
    runs = {}
    for precision in ["int8", "float"]:
        record = obscura.redact(
            clip, tmp_path / f"{precision}.mp4", operator="A. Officer", reason="SAR",
            plates=False, face_precision=precision,
        )
        assert record["detection"]["settings"]["faces"]["precision"] == precision
        model = "centerface-int8" if precision == "int8" else "centerface"
        assert [m["name"] for m in record["detection"]["models"]] == [model], record["detection"]
        runs[precision] = record["counts"]["face_tracks"]
    # The same face either way.
    assert runs["int8"] >= 1 and runs["float"] >= 1, runs
    default = obscura.redact(
        clip, tmp_path / "default.mp4", operator="A. Officer", reason="SAR", plates=False
    )
    assert default["detection"]["settings"]["faces"]["precision"] == "int8"
