"""Frames from Python are the Rust decoder's frames, bit for bit."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import obscura
from conftest import run_cli


def cli_hashes(cli, path, to):
    out = run_cli(cli, "decode", str(path), "--hashes", "--to", to)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    return [(int(i), int(pts), h) for i, pts, h in rows]


@pytest.mark.parametrize("name", ["bikes.mp4", "carphone_pristine.mp4", "vtest.avi"])
@pytest.mark.parametrize("gray", [False, True])
def test_frames_hash_equal_to_the_rust_decoder(cli, sample, name, gray):
    path = sample(name)
    want = cli_hashes(cli, path, "gray" if gray else "rgb")
    info = obscura.probe(path)
    got = []
    with obscura.open(path, gray=gray) as frames:
        for f in frames:
            assert isinstance(f, obscura.Frame)
            assert f.dtype == np.uint8 and f.flags["C_CONTIGUOUS"]
            assert f.shape == ((info.height, info.width) if gray else (info.height, info.width, 3))
            got.append((f.index, f.pts, hashlib.sha256(f.tobytes()).hexdigest()))
    assert len(got) == info.frames
    assert got == want


def test_sequential_and_parallel_agree_and_every_skips(sample):
    path = sample("bikes.mp4")
    par = [hashlib.sha256(f).hexdigest() for f in obscura.open(path, gray=True)]
    seq = [hashlib.sha256(f).hexdigest() for f in obscura.open(path, gray=True, parallel=False)]
    assert par == seq and len(par) == 250
    some = list(obscura.open(path, gray=True, every=50))
    assert [f.index for f in some] == [0, 50, 100, 150, 200]
    assert [hashlib.sha256(f).hexdigest() for f in some] == par[::50]
    assert some[1].time == pytest.approx(50 / obscura.probe(path).fps, abs=1e-6)


def test_frames_keep_their_metadata_through_views(sample):
    f = next(iter(obscura.open(sample("carphone_pristine.mp4"))))
    crop = f[10:20, 10:20]
    assert crop.index == 0 and crop.time == 0.0
    assert isinstance(np.asarray(f), np.ndarray)
    assert isinstance(f.index, int) and isinstance(f.pts, int) and isinstance(f.time, float)
    # An array made a Frame by hand has no frame number to give, and says so
    # rather than inventing one.
    made = np.zeros((2, 2), np.uint8).view(obscura.Frame)
    with pytest.raises(AttributeError, match="not decoded by obscura"):
        made.index
    assert getattr(made, "time", None) is None


def test_rgb_matches_the_luma_it_came_from(sample):
    # Grey and RGB of the same frame agree: BT.601 luma from RGB is within
    # a few levels of the decoded luma.
    path = sample("vtest.avi")
    rgb = next(iter(obscura.open(path)))
    y = next(iter(obscura.open(path, gray=True)))
    r, g, b = (rgb[..., c].astype(np.int32) for c in range(3))
    est = (66 * r + 129 * g + 25 * b + 128) // 256 + 16
    assert np.abs(est - y.astype(int)).mean() < 1.5


def test_reductions_are_numpy_scalars_and_frames_pickle_with_their_times(sample):
    import json
    import pickle

    with obscura.open(sample("carphone_pristine.mp4"), gray=True) as reader:
        frame = next(reader)
        frame = next(reader)
    luma = frame.mean()
    assert isinstance(luma, np.floating) and not isinstance(luma, np.ndarray)
    assert isinstance(frame.max(), np.integer)
    json.dumps({"luma": luma})
    assert isinstance(frame.mean(axis=0), obscura.Frame)
    back = pickle.loads(pickle.dumps(frame))
    assert isinstance(back, obscura.Frame)
    assert (back.index, back.pts, back.time) == (frame.index, frame.pts, frame.time) == (
        1,
        frame.pts,
        frame.time,
    )
    assert np.array_equal(back, frame)


def test_dir_lists_the_public_api_only():
    names = dir(obscura)
    assert "Redactor" in names and "InvalidArgumentError" in names
    for internal in ("Any", "np", "os", "json", "Optional"):
        assert internal not in names


def test_reader_seeks_and_reads_sparsely_to_the_same_frames(sample):
    import datetime as dt

    path = sample("bikes.mp4")
    full = [np.array(f) for f in obscura.open(path, gray=True, parallel=False)]
    times = [f.time for f in obscura.open(path, gray=True)]
    reader = obscura.open(path, gray=True)
    assert len(reader) == len(full) == 250
    f = next(reader.seek(200))
    assert f.index == 200 and np.array_equal(f, full[200])
    assert next(reader).index == 201
    # frame_at does not move the iteration.
    first = reader.frame_at(0)
    assert first.index == 0 and np.array_equal(first, full[0])
    assert next(reader).index == 202
    # Back, and by time (seconds or a timedelta): the frame showing then.
    for at in (times[123], dt.timedelta(seconds=times[123])):
        g = next(reader.seek(at))
        assert g.index == 123 and np.array_equal(g, full[123])
    # Every n-th frame: the same pictures as the full decode, seeking over
    # the groups of pictures between them.
    sparse = list(obscura.open(path, every=25, gray=True))
    assert [s.index for s in sparse] == list(range(0, 250, 25))
    assert all(np.array_equal(s, full[s.index]) for s in sparse)
    assert len(obscura.open(path, every=25)) == 10
    for bad in (lambda: reader.seek(250), lambda: reader.seek(True), lambda: reader.frame_at(-1), lambda: reader.seek(-1.0)):
        with pytest.raises(obscura.InvalidArgumentError):
            bad()
    reader.close()
    with pytest.raises(obscura.InvalidArgumentError):
        reader.seek(0)
