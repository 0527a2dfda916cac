"""The package type-checks under ``mypy --strict``, and so does code that
uses it: errors, frames, readers, objects and progress callbacks are typed
as they behave (the stubs of the compiled module included)."""

from __future__ import annotations

import shutil
from pathlib import Path

import mypy.api

import obscura

USER = '''
import datetime as dt
import obscura

def luma_at(path: str, when: dt.timedelta) -> float:
    reader = obscura.open(path, every=5, gray=True)
    frame = reader.frame_at(when)
    return float(frame.mean()) + len(reader)

def frame_numbers(path: str) -> list[tuple[int, int, float]]:
    # A yielded frame's index, pts and time are plain int, int and float.
    return [(f.index + 1, f.pts, f.time * 2.0) for f in obscura.open(path, every=25)]

def index(paths: list[str]) -> int:
    try:
        rows = obscura.Indexer(camera="cam.toml", db="index.db").index(paths, progress=lambda done, total: None)
    except obscura.NotFoundError as e:
        print(e.kind, e.path)
        return 0
    return len(rows) + sum(1 for d in obscura.FaceDetector().detect(next(obscura.open(paths[0]))))

def fan_out(paths: list[str]) -> int:
    # Dask is imported when called, and its DataFrames are typed as Any.
    import obscura.distributed as od
    runs = od.index_many({"cam07.toml": paths}, db="postgres://obscura@db/cctv", retries=1, progress=False)
    done = od.redact_many([{"input": paths[0], "output": "out.mp4"}], operator="A", reason="SAR", faces=True)
    return len(runs) + len(done) + len(od.INDEX_COLUMNS)
'''


def test_the_package_and_code_using_it_pass_mypy_strict(tmp_path):
    pkg = tmp_path / "obscura"
    pkg.mkdir()
    src = Path(obscura.__file__).parent
    for f in list(src.glob("*.py")) + list(src.glob("*.pyi")) + [src / "py.typed"]:
        shutil.copy(f, pkg / f.name)
    (tmp_path / "user.py").write_text(USER)
    out, err, rc = mypy.api.run(
        ["--strict", "--cache-dir", str(tmp_path / ".mypy_cache"), str(pkg), str(tmp_path / "user.py")]
    )
    assert rc == 0, out + err
    # The check itself sees a type error.
    (tmp_path / "user.py").write_text(USER + "\nx: int = obscura.probe('a.mp4')\n")
    out, err, rc = mypy.api.run(
        ["--strict", "--cache-dir", str(tmp_path / ".mypy_cache"), str(pkg), str(tmp_path / "user.py")]
    )
    assert rc == 1 and "Incompatible types" in out, out + err
