"""obscura.distributed on a real Dask cluster (two single-threaded worker
processes), writing into one shared index: an SQLite file, and a fresh
PostgreSQL database (see the ``db`` fixture)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import distributed
import pandas as pd
import pytest

import obscura
import obscura.distributed as od
from conftest import REPO, run_cli, sql

PROFILE7 = REPO / "examples" / "cameras" / "vtest.toml"


def cluster() -> distributed.LocalCluster:
    # Port 0: whatever else runs a Dask cluster on this machine (its
    # scheduler's HTTP server takes 8787 even without a dashboard).
    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cut(src: Path, dst: Path, *args: str) -> Path:
    """A stream copy of ``src`` (no re-encoding: fast, and exact frames)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, "-i", str(src), "-c", "copy", str(dst)], check=True)
    return dst


@pytest.fixture(scope="module")
def footage(sample, tmp_path_factory):
    """Short recordings of two cameras named by their profiles' pattern,
    one cut short mid-file (indexed as damaged), an MP4 cut short before
    its index was written (not media), one missing, and a long one."""
    d = tmp_path_factory.mktemp("footage")
    vtest = sample("vtest.avi")
    f = {
        "a": cut(vtest, d / "cam07_20261102_080000.avi", "-t", "6"),
        "b": cut(vtest, d / "cam07_20261102_081000.avi", "-t", "8"),
        "c": cut(vtest, d / "cam08_20261102_080000.avi", "-t", "10"),
        "missing": d / "cam07_20261102_084000.avi",
    }
    whole = cut(vtest, d / "whole.avi", "-t", "20")
    f["damaged"] = d / "cam07_20261102_082000.avi"
    f["damaged"].write_bytes(whole.read_bytes()[:300_000])
    f["corrupt"] = d / "cam07_20261102_083000.mp4"
    f["corrupt"].write_bytes(sample("bikes.mp4").read_bytes()[:200_000])
    # Five passes of vtest (3975 frames): seconds of work for one worker.
    f["long"] = cut(vtest, d / "cam07_20261102_090000.avi", "-stream_loop", "4")
    profile8 = d / "cam08.toml"
    profile8.write_text(
        PROFILE7.read_text()
        .replace("camera = 7", "camera = 8")
        .replace("cam07_", "cam08_")
        .replace('name = "Campus path, looking north"', 'name = "Campus path, second camera"')
    )
    f["profile8"] = profile8
    return f


def incidents_by_recording(db: str) -> Counter:
    return Counter(i["recording"] for i in obscura.incidents(db))


def check_index_matches(db: str, df) -> None:
    """Every ``ok`` row is one recording of the index (its sha256 once) with
    the row's incidents; nothing else is in it."""
    ok = df[df.status == "ok"]
    recordings = sql(db, "SELECT path, sha256, camera, frames FROM recordings ORDER BY path")
    want = sorted(
        (os.path.realpath(r.path), sha256(Path(r.path)), str(r.camera), str(r.frames)) for r in ok.itertuples()
    )
    assert sorted(recordings) == want
    assert len({r[1] for r in recordings}) == len(recordings)
    per_recording = incidents_by_recording(db)
    assert per_recording == Counter({os.path.realpath(r.path): r.incidents for r in ok.itertuples() if r.incidents})
    # No incident twice (the same stretch of the same recording).
    stretches = sql(db, "SELECT recording, start_frame, end_frame FROM incidents")
    assert len(stretches) == len(set(stretches)) == int(ok.incidents.sum())


def test_a_batch_with_bad_files_indexes_the_good_ones_and_reports_the_bad(footage, db, cli, capsys):
    profile8 = footage["profile8"]
    no_profile = footage["a"].parent / "cam09.toml"
    paths = {
        PROFILE7: [footage[k] for k in ("a", "b", "damaged", "corrupt", "missing")],
        str(profile8): [footage["c"]],
        no_profile: [footage["b"]],
    }
    with cluster() as c, distributed.Client(c):
        # No client given: the current one runs it.
        df = od.index_many(paths, db=db)
        # An index that cannot be reached: Dask retries, then it is a row.
        down = od.index_many([footage["a"]], camera=PROFILE7, db="postgres://obscura@127.0.0.1:1/none", retries=1)
    assert "100% Completed" in capsys.readouterr().out  # Dask's text progress bar
    assert list(df.columns) == list(od.INDEX_COLUMNS)
    by: dict = {}
    for r in df.itertuples():
        by.setdefault(Path(r.path).name, r)
    assert list(df.path) == [str(p) for files in paths.values() for p in files]
    assert list(df.status) == ["ok", "ok", "ok", "error", "error", "ok", "error"]
    assert list(df.camera[:6]) == [7, 7, 7, 7, 7, 8] and pd_na(df.camera[6])
    assert df.error_kind[6] == "not_found" and str(no_profile) in df.error[6] and df.profile[6] == str(no_profile)
    assert down.status[0] == "error" and down.error_kind[0] == "database" and down.retried[0], down.error[0]

    for k in ("a", "b", "c"):
        row = by[footage[k].name]
        assert row.frames == obscura.probe(footage[k]).frames and row.damaged is None
        assert row.error_kind is None and row.error is None and not row.retried
        assert row.time_source == "filename_pattern"
    assert df.start_utc[0] == pd.Timestamp("2026-11-02T08:00:00Z")
    damaged = by[footage["damaged"].name]
    assert damaged.frames < 200 and "truncated" in damaged.damaged
    corrupt = by[footage["corrupt"].name]
    assert corrupt.error_kind == "not_media" and footage["corrupt"].name in corrupt.error
    missing = by[footage["missing"].name]
    assert missing.error_kind == "not_found" and pd_na(missing.frames)
    assert (df.seconds > 0).all() and df.worker.str.startswith("tcp://").all()

    check_index_matches(db, df)
    # The incidents carry their camera and the index's audit chain holds.
    assert {i["camera"] for i in obscura.incidents(db, camera=8)} == {8}
    verified = run_cli(cli, "audit", "verify", "--db", db, "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], verified.stderr

    # With no client at all, a LocalCluster is started for the call and
    # closed after it. A recording whose name gives no time gets its start
    # from `starts`; the same footage again replaces its index.
    whole = footage["a"].parent / "whole.avi"
    again = od.index_many(
        [whole, footage["a"]], camera=PROFILE7, db=db, starts={whole: "2026-11-02 07:00"}, progress=False
    )
    assert list(again.status) == ["ok", "ok"] and list(again.replaced) == [False, True]
    assert again.start_utc[0] == pd.Timestamp("2026-11-02T07:00:00Z")
    with pytest.raises(ValueError):
        distributed.get_client()
    check_index_matches(db, pd.concat([df, again[again.path == str(whole)]]))


def test_bad_arguments_fail_before_anything_runs(footage, tmp_path):
    db = tmp_path / "index.db"
    a = footage["a"]
    with pytest.raises(obscura.InvalidArgumentError, match="not both"):
        od.index_many({PROFILE7: [a]}, camera=PROFILE7, db=db)
    with pytest.raises(obscura.InvalidArgumentError, match="missing camera"):
        od.index_many([a], db=db)
    with pytest.raises(obscura.InvalidArgumentError, match="expected a list of files"):
        od.index_many(a, camera=PROFILE7, db=db)  # type: ignore[arg-type]
    with pytest.raises(obscura.InvalidArgumentError, match="not among the paths"):
        od.index_many([a], camera=PROFILE7, db=db, starts={footage["b"]: "2026-11-02"})
    with pytest.raises(obscura.InvalidArgumentError, match="invalid time"):
        od.index_many([a], camera=PROFILE7, db=db, starts={a: 12})  # type: ignore[dict-item]
    # Nothing to do: no cluster, the columns all the same.
    assert list(od.index_many([], camera=PROFILE7, db=db).columns) == list(od.INDEX_COLUMNS)
    assert list(od.redact_many([], operator="A", reason="B").columns) == list(od.REDACT_COLUMNS)
    assert not db.exists()
    with pytest.raises(ValueError):
        distributed.get_client()


def test_import_obscura_needs_no_dask():
    code = (
        "import sys, obscura, obscura.distributed; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'pandas'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def pd_na(value) -> bool:
    return value is None or bool(pd.isna(value))


def executing(dask_worker) -> list:
    return [ts.key for ts in dask_worker.state.executing]


def test_a_worker_killed_mid_task_leaves_every_file_indexed_exactly_once(footage, db):
    files = [footage["long"], footage["a"], footage["b"], footage["damaged"]]
    with cluster() as c, distributed.Client(c) as client, ThreadPoolExecutor(1) as pool:
        pids = client.run(os.getpid)
        running = pool.submit(od.index_many, files, camera=PROFILE7, db=db, client=client, progress=False)
        # The long file's task: the one still running half a second after
        # it was first seen (the others take a fraction of that).
        seen: dict = {}
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline and not running.done():
            now = time.monotonic()
            for addr, keys in client.run(executing).items():
                for key in keys:
                    since = seen.setdefault((addr, key), now)
                    if now - since > 0.5:
                        victim = addr
            time.sleep(0.05)
        assert victim is not None, "no task ran long enough to be killed mid-way"
        os.kill(pids[victim], signal.SIGKILL)
        df = running.result(timeout=120)
        assert victim not in client.scheduler_info()["workers"]
        # The tasks' attempt marks are gone from the scheduler.
        assert client.run_on_scheduler(lambda dask_scheduler: dict(dask_scheduler.extensions["events"]._events)) == {}

    assert list(df.status) == ["ok"] * 4, df[["path", "error_kind", "error"]]
    # Dask ran the killed task again, on a live worker, and the others once
    # (the killed one is the long file, unless the machine is slow enough
    # for a short one to run half a second).
    retried = df[df.retried]
    assert len(retried) == 1 and retried.worker.iloc[0] != victim, df
    assert list(df.frames) == [obscura.probe(f).frames for f in files[:3]] + [df.frames[3]]
    check_index_matches(db, df)


def redaction_jobs(sample, tmp_path):
    walk = tmp_path / "walk.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-t", "2", "-i", str(sample("vtest.avi")), "-vf", "scale=384:288",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", str(walk)],
        check=True,
    )
    out = tmp_path / "out"
    out.mkdir()
    return [
        {"input": sample("carphone_pristine.mp4"), "output": out / "carphone.mp4", "case_reference": "SAR-1"},
        {"input": walk, "output": out / "walk.mp4"},
        {"input": tmp_path / "missing.mp4", "output": out / "missing.mp4"},
    ]


def audit_entries(cli, db: str) -> list:
    listed = run_cli(cli, "audit", "list", "--db", db, "--json")
    assert listed.returncode == 0, listed.stderr
    verified = run_cli(cli, "audit", "verify", "--db", db, "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], verified.stdout + verified.stderr
    return json.loads(listed.stdout)


def test_redact_many_redacts_each_clip_once_and_logs_it(sample, tmp_path, db, cli):
    jobs = redaction_jobs(sample, tmp_path)
    settings = dict(operator="T. Officer", reason="SAR 2026/114", plates=False, db=db, case_reference="SAR-0")
    with cluster() as c, distributed.Client(c) as client:
        df = od.redact_many(jobs, client=client, progress=False, **settings)
        assert list(df.columns) == list(od.REDACT_COLUMNS)
        assert list(df.status) == ["ok", "ok", "error"]
        assert df.error_kind[2] == "not_found" and not df.retried.any() and not df.resumed.any()
        for job, row in zip(jobs[:2], df.itertuples()):
            out = Path(job["output"])
            record = json.loads(Path(row.record).read_text())
            assert row.record == str(out) + ".redaction.json"
            assert row.output_sha256 == sha256(out) == record["output"]["sha256"]
            assert row.input_sha256 == sha256(job["input"]) and row.frames == obscura.probe(out).frames
            assert record["operator"] == "T. Officer" and row.tracks >= 1
        # A job's own keyword wins over the call's.
        assert [json.loads(Path(r).read_text())["case_reference"] for r in df.record[:2]] == ["SAR-1", "SAR-0"]
        assert sorted(os.listdir(tmp_path / "out")) == sorted(
            ["carphone.mp4", "carphone.mp4.redaction.json", "walk.mp4", "walk.mp4.redaction.json"]
        )
        # One audit entry per output, in a chain that verifies.
        entries = audit_entries(cli, db)
        assert sorted(e["subject"] for e in entries) == sorted(str(j["output"]) for j in jobs[:2])
        assert {e["action"] for e in entries} == {"redaction"}

        # A new call is not a retry: an existing output is replaced only
        # when asked, as Redactor does.
        again = od.redact_many(jobs[:1], client=client, progress=False, **settings)
        assert again.error_kind[0] == "already_exists" and not again.resumed[0]
        # Unknown keywords are refused before anything runs.
        with pytest.raises(obscura.InvalidArgumentError, match="keep_track"):
            od.redact_many([{**jobs[0], "keep_track": [1]}], client=client, **settings)
        with pytest.raises(obscura.InvalidArgumentError, match="missing 'output'"):
            od.redact_many([{"input": jobs[0]["input"]}], client=client, **settings)
    assert len(audit_entries(cli, db)) == 2


def test_a_retried_redaction_takes_over_what_its_dead_attempt_finished(sample, tmp_path, db, cli):
    """Dask runs a task again when its worker died: here the earlier
    attempt finished the output and its record before dying (simulated by
    marking the task as started, as that attempt did). Without an audit
    trail the output is reported as done; with one, it is redone so the
    trail surely logs it, its earlier record kept as superseded."""
    job = redaction_jobs(sample, tmp_path)[0]
    base = dict(operator="T. Officer", reason="SAR 2026/114", plates=False)

    def retry(client, settings):
        marker = f"obscura-attempt-test-{time.time_ns()}"
        distributed.Event(marker, client=client).set()  # the dead attempt's mark
        built = tuple(sorted(settings.items()))  # as redact_many hands them over
        call = {"case_reference": job["case_reference"]}
        future = client.submit(
            od._redact_task, str(job["input"]), str(job["output"]), built, call, marker, pure=False
        )
        return future.result()

    with cluster() as c, distributed.Client(c) as client:
        first = od.redact_many([job], client=client, progress=False, **base)
        made = sha256(job["output"]), os.stat(job["output"]).st_mtime_ns
        row = retry(client, base)
        assert row["status"] == "ok" and row["retried"] and row["resumed"], row
        assert row["output_sha256"] == first.output_sha256[0] == made[0]
        assert (sha256(job["output"]), os.stat(job["output"]).st_mtime_ns) == made  # not redone

        # Audited: the same, logged in db.
        audited = dict(base, db=db, overwrite=False)
        job["output"] = tmp_path / "out" / "audited.mp4"
        first = od.redact_many([job], client=client, progress=False, **audited)
        assert list(first.status) == ["ok"]
        row = retry(client, audited)
        assert row["status"] == "ok" and row["retried"] and not row["resumed"], row
    out = Path(job["output"])
    superseded = sorted(p.name for p in out.parent.glob("audited.mp4.redaction.superseded-*.json"))
    assert len(superseded) == 1
    record = json.loads(Path(str(out) + ".redaction.json").read_text())
    assert record["replaced"]["record_kept_as"].endswith(superseded[0])
    # Both redactions are in the chain, each naming the record it made.
    entries = audit_entries(cli, db)
    assert [e["subject"] for e in entries] == [str(out)] * 2
