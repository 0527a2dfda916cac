"""Found from Python as an analyst would: detectors shared by threads, bad
integer arguments, and outputs that must never replace anything."""

from __future__ import annotations

import hashlib
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import obscura


def sha(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def first_frames(path, n):
    with obscura.open(path) as frames:
        out = []
        for f in frames:
            out.append(np.asarray(f))
            if len(out) == n:
                return out
    return out


def test_detectors_are_safe_to_share_between_threads(sample):
    frames = first_frames(sample("carphone_pristine.mp4"), 8)
    one_by_one = [obscura.detect_faces(f) for f in frames]
    assert all(len(d) >= 1 for d in one_by_one)

    # The module function from a pool of threads: it raised "Already
    # borrowed" 7 times in 8 calls before.
    with ThreadPoolExecutor(2) as pool:
        shared = list(pool.map(obscura.detect_faces, frames))
    assert shared == one_by_one

    # One detector object used by several threads at once.
    det = obscura.FaceDetector()
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(det.detect, frames * 2))
    # (A Detection's last field, the plate text, is None for a face.)
    rounded = lambda d: tuple(round(v, 3) if isinstance(v, float) else v for v in d)
    assert [[rounded(d) for d in ds] for ds in together[:8]] == [[rounded(d) for d in ds] for ds in together[8:]]
    assert len(together) == 16 and all(len(d) >= 1 for d in together)

    plates = obscura.PlateDetector()
    with ThreadPoolExecutor(2) as pool:
        assert len(list(pool.map(plates.detect, frames[:4]))) == 4


@pytest.mark.parametrize(
    "call",
    [
        lambda p: obscura.open(p, every=-1),
        lambda p: obscura.open(p, every=0),
        lambda p: obscura.FaceDetector(threads=-2),
        lambda p: obscura.FaceDetector(precision="fp16"),
        lambda p: obscura.tracks(p, full_every=-1),
        lambda p: obscura.redact(p, "/tmp/never.mp4", operator="o", reason="r", crf=-1),
        lambda p: obscura.redact(p, "/tmp/never.mp4", operator="o", reason="r", crf=99),
        lambda p: obscura.redact(p, "/tmp/never.mp4", operator="o", reason="r", keep_tracks=[-3]),
    ],
)
def test_bad_arguments_are_invalid_argument_errors(sample, call):
    with pytest.raises(obscura.InvalidArgumentError) as e:
        call(sample("carphone_pristine.mp4"))
    assert "invalid" in str(e.value)


def test_outputs_never_replace_the_input_or_an_existing_record(sample, tmp_path):
    clip = tmp_path / "clip.mp4"
    shutil.copy(sample("carphone_pristine.mp4"), clip)
    before = sha(clip)
    for overwrite in (False, True):
        with pytest.raises(obscura.ObscuraError):
            obscura.tracks(clip, sheet=clip, overwrite=overwrite)
        assert sha(clip) == before

    out = tmp_path / "out.mp4"
    first = obscura.redact(clip, out, operator="o", reason="SAR", faces=True, plates=False, preset="ultrafast")
    record = tmp_path / "out.mp4.redaction.json"
    record_bytes = record.read_bytes()
    with pytest.raises(obscura.AlreadyExistsError) as e:
        obscura.redact(clip, out, operator="o", reason="SAR", faces=True, plates=False)
    assert isinstance(e.value, FileExistsError)
    assert record.read_bytes() == record_bytes
    second = obscura.redact(
        clip, out, operator="o", reason="SAR again", faces=True, plates=False, preset="ultrafast", overwrite=True
    )
    assert second["replaced"]["output_sha256"] == first["output"]["sha256"]
    with open(second["replaced"]["record_kept_as"], "rb") as f:
        assert f.read() == record_bytes
    assert sha(clip) == before
