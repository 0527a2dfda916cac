#!/usr/bin/env python3
"""Fleet indexing throughput: one machine's camera-hours per core-hour,
indexed one camera at a time with `obscura index` and as a Dask fleet with
obscura.distributed.index_many, against DVR-Scan on the same files.

The fleet (made once, cached under $OBSCURA_HOME/bench/fleet/, each file
checked by size and sha256 and rebuilt when it does not match): --cameras
cameras (default 8), alternately CCTV-like 768x576 10 fps (compare_motion's
quiet_clip) and 1080p25 (quiet_clip_1080), each with two recordings of
--minutes/2 minutes (default 10 min a camera). The recordings are stream
copies (the ffmpeg concat demuxer, cut on keyframes: no re-encoding) of the
looped base clip from a different keyframe per camera, the second carrying on
where the first stops, each with its own title tag so that no two files have
the same sha256 (the index stores a recording once per content hash). Each
camera has a profile (number, name, town, desk, normalised coordinates, its
own filename_pattern) and its files are named by it, so the index takes
their wall-clock starts from the names.

Measured, all on the same files:
  (a) `obscura index --camera P --db fleet.db FILES` once per camera, one
      after another, into SQLite (defaults: full decode, one thread a core,
      the camera's files in parallel);
  (b) obscura.distributed.index_many on a LocalCluster of --workers
      single-threaded worker processes (default: one per core), Indexer
      threads=1, into a fresh PostgreSQL database on a throwaway cluster
      (scripts/pg_cluster.sh) started and stopped here. Only index_many is
      timed; the start of both clusters is reported apart. The server logs
      every statement during (b), which gives each store transaction's
      advisory-lock wait and hold time;
  (c) DVR-Scan 1.8.2.1 (`python -m dvr_scan -i FILE --scan-only --quiet`,
      as compare_motion.py runs it), one process per core at a time
      (skip with --no-peer: it is slow).

camera-hours per core-hour = (video seconds / cores) / wall seconds, as in
compare_motion.py, with cores = os.cpu_count(). Both indexing runs must
store every recording; their incident counts are compared recording by
recording. After (b) it prints the PostgreSQL rows and bytes per recording
and per incident and the store transaction times that docs/scaling.md's
capacity plan is computed from, and the placeholder values for it.

Usage (with the venv of scripts/python_env.sh, after
`cargo build --release -p obscura-cli`):
  $VENV/bin/python scripts/fleet_bench.py [--cameras N] [--minutes M]
      [--workers W] [--no-peer] [--json FILE] [--obscura PATH]
"""
import argparse
import concurrent.futures
import datetime as dt
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_motion  # noqa: E402  (bench clips, DVR-Scan install and run)
from fetch_assets import sha256  # noqa: E402

ROOT = compare_motion.ROOT
HOME = compare_motion.HOME
PG_CLUSTER = ROOT / "scripts" / "pg_cluster.sh"
FLEET_VERSION = 1  # bump when the way recordings are made changes

# name, town, desk, filename pattern ({n}: camera number)
CAMERAS = [
    ("Northgate", "Exampleton", "A", "northgate-%Y-%m-%d_%H-%M-%S.mp4"),
    ("Market Square north", "Exampleton", "A", "cam{n:02d}_%Y%m%d_%H%M%S.mp4"),
    ("Bus station", "Exampleton", "B", "busstation-{n:02d}_%Y%m%dT%H%M%S.mp4"),
    ("Castle Street", "Exampleton", "B", "%Y%m%d_%H%M%S_ch{n:02d}.mp4"),
    ("Harbour Road", "Seaford", "C", "harbour-road-%Y-%m-%d_%H-%M-%S.mp4"),
    ("High Street east", "Seaford", "C", "cam{n:02d}_%Y%m%d_%H%M%S.mp4"),
    ("Station approach", "Seaford", "D", "station-{n:02d}_%Y%m%dT%H%M%S.mp4"),
    ("Leisure centre car park", "Seaford", "D", "%Y%m%d_%H%M%S_ch{n:02d}.mp4"),
]
FIRST_START = dt.datetime(2026, 11, 2, 6, 0, 0)


# -- The fleet -------------------------------------------------------------------


def keyframes(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame",
                          "nokey", "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return [round(float(line.split(",")[0]), 3) for line in out.split() if line.strip(",")]


class Base:
    """A base clip the recordings of a camera class are copied from."""

    def __init__(self, kind, path):
        self.kind, self.path = kind, path
        self.frames, self.fps = compare_motion.frames_of(path)
        self.duration = self.frames / self.fps
        self.keys = keyframes(path)
        self.size = path.stat().st_size
        self.sha256 = sha256(path)
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                              "stream=width,height", "-of", "csv=p=0", str(path)],
                             check=True, capture_output=True, text=True).stdout
        self.width, self.height = (int(v) for v in out.strip().split(","))


def fleet_plan(n_cameras, minutes, bases):
    """The cameras and recordings of the fleet (nothing made yet)."""
    seg = minutes * 30  # seconds per recording: two a camera
    cams = []
    for i in range(n_cameras):
        n = i + 1
        name, town, desk, pattern = CAMERAS[i % len(CAMERAS)]
        if i >= len(CAMERAS):
            name = f"{name} {i // len(CAMERAS) + 1}"
        pattern = pattern.format(n=n)
        if i >= len(CAMERAS) and "{n" not in CAMERAS[i % len(CAMERAS)][3]:
            pattern = f"c{n:02d}-" + pattern  # keep every camera's pattern its own
        base = bases["sd"] if i % 2 == 0 else bases["hd"]
        # A different keyframe per camera: about a seventh of the clip on
        # each time, rounded down to a keyframe.
        want = (i // 2) * base.duration / 7 * 3 % base.duration
        offset = max(k for k in base.keys if k <= want + 1e-6)
        start = FIRST_START + dt.timedelta(minutes=11 * i, seconds=7 * i)
        recs = []
        for j in range(2):
            t0 = start + dt.timedelta(seconds=seg * j)
            o = (offset + seg * j) % base.duration
            for cut in (o, (o + seg) % base.duration):
                if not any(abs(cut - k) < 1e-3 for k in base.keys):
                    sys.exit(f"{base.path}: no keyframe at {cut:.3f} s, where a {seg} s recording "
                             f"would be cut (its keyframes are every "
                             f"{base.keys[1] - base.keys[0]:.2f} s?)")
            recs.append({
                "file": f"cam{n:02d}/{t0.strftime(pattern)}",
                "title": f"cam{n:02d}-{j + 1}",
                "offset_s": round(o, 3),
                "frames": int(round(seg * base.fps)),
                "duration_s": seg,
                "start_utc": t0.isoformat() + "Z",
            })
        cams.append({"camera": n, "name": name, "town": town, "desk": desk, "pattern": pattern,
                     "kind": base.kind, "base": base.path.name, "base_sha256": base.sha256,
                     "width": base.width, "height": base.height, "fps": base.fps,
                     "profile": f"profiles/cam{n:02d}.toml", "recordings": recs})
    return cams


def profile_text(cam):
    q = json.dumps  # a TOML basic string is a JSON string for this text
    return (f"# Synthetic fleet camera ({cam['kind']}, {cam['width']}x{cam['height']}), "
            f"made by scripts/fleet_bench.py\n"
            f"camera = {cam['camera']}\nname = {q(cam['name'])}\ntown = {q(cam['town'])}\n"
            f"desk = {q(cam['desk'])}\ncoordinates = \"normalised\"\n"
            f"filename_pattern = {q(cam['pattern'])}\n")


def make_recording(base, rec, out, tmp):
    """A stream copy of the looped base clip from rec's offset: the concat
    demuxer keeps timestamps continuous across the loops (-stream_loop with
    -ss and -c copy does not), and cutting by frame count on a keyframe
    leaves no B-frame without its reference."""
    loops = int((rec["offset_s"] + rec["duration_s"]) // base.duration) + 2
    lst = Path(tmp) / (rec["title"] + ".txt")
    quoted = "'" + str(base.path).replace("'", "'\\''") + "'"
    lst.write_text(f"file {quoted}\ninpoint {rec['offset_s']}\n" + f"file {quoted}\n" * loops)
    part = out.with_name("." + out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(lst),
                    "-frames:v", str(rec["frames"]), "-map", "0:v:0", "-c", "copy",
                    "-map_metadata", "-1", "-metadata", f"title={rec['title']}", "-f", "mp4",
                    str(part)], check=True)
    n, _ = compare_motion.frames_of(part)
    if n != rec["frames"]:
        sys.exit(f"{out}: made {n} frames, expected {rec['frames']}")
    os.replace(part, out)


def build_fleet(n_cameras, minutes):
    """Makes (or checks) the fleet; returns (directory, cameras)."""
    bases = {"sd": Base("768x576 10 fps", compare_motion.quiet_clip()),
             "hd": Base("1080p25", compare_motion.quiet_clip_1080())}
    root = HOME / "bench" / "fleet" / f"{n_cameras}cam-{minutes}min"
    manifest_path = root / "fleet.json"
    cams = fleet_plan(n_cameras, minutes, bases)
    old = {}
    try:
        m = json.loads(manifest_path.read_text())
        if m.get("version") == FLEET_VERSION:
            old = {r["file"]: r for c in m["cameras"] for r in c["recordings"]}
    except (OSError, ValueError, KeyError):
        pass
    made = 0
    with tempfile.TemporaryDirectory() as tmp:
        for cam in cams:
            base = bases["sd"] if cam["base"] == bases["sd"].path.name else bases["hd"]
            prof = root / cam["profile"]
            prof.parent.mkdir(parents=True, exist_ok=True)
            text = profile_text(cam)
            if not prof.is_file() or prof.read_text() != text:
                prof.write_text(text)
            for rec in cam["recordings"]:
                out = root / rec["file"]
                prev = old.get(rec["file"])
                same_recipe = prev is not None and all(
                    prev.get(k) == rec[k] for k in ("title", "offset_s", "frames")
                ) and prev.get("base_sha256") == cam["base_sha256"]
                if (same_recipe and out.is_file() and out.stat().st_size == prev["size"]
                        and sha256(out) == prev["sha256"]):
                    rec.update(size=prev["size"], sha256=prev["sha256"])
                else:
                    if made == 0:
                        print(f"making the fleet in {root} (stream copies) ...", flush=True)
                    make_recording(base, rec, out, tmp)
                    rec.update(size=out.stat().st_size, sha256=sha256(out))
                    made += 1
                rec["base_sha256"] = cam["base_sha256"]
    shas = [r["sha256"] for c in cams for r in c["recordings"]]
    if len(set(shas)) != len(shas):
        sys.exit("two fleet recordings have the same sha256: the index would store them once")
    if made or not manifest_path.is_file():
        part = manifest_path.with_name(".fleet.json.part")
        part.write_text(json.dumps({"version": FLEET_VERSION, "cameras": cams}, indent=1))
        os.replace(part, manifest_path)
    return root, cams


# -- Index contents ----------------------------------------------------------------

# The same queries on both stores: rows, time sources and, per recording
# (by content hash), its incidents' frame ranges.
Q_RECORDINGS = "SELECT sha256, time_source, start_utc FROM recordings ORDER BY sha256"
Q_INCIDENTS = ("SELECT r.sha256, i.start_frame, i.end_frame, i.start_s, i.end_s FROM incidents i "
               "JOIN recordings r ON r.id = i.recording ORDER BY r.sha256, i.start_frame")


def sqlite_rows(db, sql):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in con.execute(sql)]
    finally:
        con.close()


def psql(url, sql):
    """The result of SQL as text (rows by newline, columns by tab)."""
    p = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", url,
                        "-c", sql], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed on {sql[:200]!r}: {p.stderr.strip()}")
    return p.stdout


def pg_rows(url, sql):
    out = psql(url, sql)
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def contents(rows_fn):
    """{sha256: [(start_frame, end_frame), ...]}, {sha256: [(start_s,
    end_s), ...]}, the time sources and {sha256: start to the second}."""
    recs = rows_fn(Q_RECORDINGS)
    inc = {sha: [] for sha, _, _ in recs}
    times = {sha: [] for sha, _, _ in recs}
    for sha, s, e, s_s, e_s in rows_fn(Q_INCIDENTS):
        inc[sha].append((int(s), int(e)))
        times[sha].append((float(s_s), float(e_s)))
    starts = {sha: (start or "")[:19] for sha, _, start in recs}
    return inc, times, sorted({src for _, src, _ in recs}), starts


def pg_sizes(url):
    """Rows and bytes of the index tables after run (b)."""
    out = {}
    for table in ("recordings", "incidents", "cameras"):
        row = psql(url, f"""SELECT json_build_object(
            'rows', (SELECT count(*) FROM {table}),
            'total_bytes', pg_total_relation_size('{table}'),
            'heap_bytes', pg_relation_size('{table}'),
            'index_bytes', pg_indexes_size('{table}'),
            'avg_row_bytes', (SELECT avg(pg_column_size(t.*)) FROM {table} t))""")
        out[table] = json.loads(row)
        total, heap, idx = (out[table][k] for k in ("total_bytes", "heap_bytes", "index_bytes"))
        out[table]["toast_bytes"] = total - heap - idx
    out["incident_columns"] = json.loads(psql(url, """SELECT json_build_object(
        'avg_thumbnail_bytes', avg(pg_column_size(thumbnail)),
        'with_thumbnail', count(thumbnail),
        'avg_heatmap_bytes', avg(pg_column_size(heatmap)))
        FROM incidents"""))
    out["database_bytes"] = int(psql(url, "SELECT pg_database_size(current_database())"))
    out["at_scale"] = pg_bytes_at_scale(url)
    return out


def shifted(col):
    """SQL for a stored UTC time column moved on by g * 7 s (same format)."""
    return (f"to_char((({col})::timestamptz AT TIME ZONE 'UTC') + g * interval '7 seconds', "
            f"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")


def pg_bytes_at_scale(url, target_rows=5000):
    """Bytes a row costs once a table is large: a few rows pay for whole
    index pages, so the run's rows are copied (with distinct keys, so the
    B-tree indexes cannot deduplicate them) into scratch tables with the
    same columns and indexes until they hold about target_rows, and the
    scratch table's size is divided by its rows."""
    changed = {
        "path": "path || '#' || g",
        "sha256": "encode(sha256(convert_to(sha256 || g, 'UTF8')), 'hex')",
        "start_utc": shifted("start_utc"),
        "end_utc": shifted("end_utc"),
        "recording": "recording + g::bigint * 1000000",
    }
    out = {}
    for table in ("recordings", "incidents"):
        rows = int(psql(url, f"SELECT count(*) FROM {table}"))
        if rows == 0:
            continue
        copies = -(-target_rows // rows)
        names = psql(url, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
                          f"information_schema.columns WHERE table_name = '{table}' "
                          "AND column_name <> 'id'").strip().split(",")
        select = ", ".join(changed.get(c, c) for c in names)
        names = ", ".join(names)
        scratch = f"scratch_{table}"
        psql(url, f"CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)")
        try:
            psql(url, f"INSERT INTO {scratch} ({names}) SELECT {select} FROM {table}, "
                      f"generate_series(1, {copies}) g")
            n, total = psql(url, f"SELECT count(*), pg_total_relation_size('{scratch}') "
                                 f"FROM {scratch}").strip().split("\t")
            out[table] = {"rows": int(n), "total_bytes": int(total),
                          "bytes_per_row": int(total) / int(n)}
        finally:
            psql(url, f"DROP TABLE {scratch}")
    return out


# -- Store transactions, from the server's statement log ------------------------------

LOG_LINE = re.compile(r"^(\d+\.\d+) \[(\d+)\] LOG:  duration: ([\d.]+) ms  "
                      r"(statement|parse|bind|execute)(?: [^:]*)?: (.*)$")


def store_transactions(log_text):
    """Each write transaction of the run: the advisory lock's wait (the
    lock statement's duration) and hold (from the lock granted to COMMIT
    done, by the log's millisecond timestamps), the server's own time in
    its statements, and the incidents it inserted."""
    open_tx, done = {}, []
    for line in log_text.splitlines():
        m = LOG_LINE.match(line)
        if not m:
            continue
        t, pid, ms, kind, sql = float(m[1]), m[2], float(m[3]), m[4], m[5].strip()
        runs = kind in ("statement", "execute")  # parse and bind only prepare it
        if runs and sql.startswith("SELECT pg_advisory_xact_lock"):
            open_tx[pid] = {"locked_at": t, "wait_ms": ms, "server_ms": 0.0, "incidents": 0,
                            "recording": False}
        elif pid in open_tx:
            tx = open_tx[pid]
            tx["server_ms"] += ms
            if not runs:
                continue
            if sql.startswith("INSERT INTO incidents"):
                tx["incidents"] += 1
            elif sql.startswith("INSERT INTO recordings"):
                tx["recording"] = True
            elif sql.upper() in ("COMMIT", "ROLLBACK"):
                tx["hold_ms"] = (t - tx.pop("locked_at")) * 1000.0
                tx["committed"] = sql.upper() == "COMMIT"
                done.append(tx)
                del open_tx[pid]
    return done


def summarise_transactions(txs):
    stores = [t for t in txs if t["recording"] and t["committed"]]
    if not stores:
        return None
    holds = [t["hold_ms"] for t in stores]
    out = {
        "store_transactions": len(stores),
        "other_write_transactions": len(txs) - len(stores),
        "hold_ms_mean": statistics.mean(holds),
        "hold_ms_median": statistics.median(holds),
        "hold_ms_max": max(holds),
        "wait_ms_mean": statistics.mean(t["wait_ms"] for t in stores),
        "wait_ms_max": max(t["wait_ms"] for t in stores),
        "server_ms_mean": statistics.mean(t["server_ms"] for t in stores),
        "incidents_per_transaction": statistics.mean(t["incidents"] for t in stores),
    }
    # hold = a + b * incidents, least squares (when the counts differ).
    xs, ys = [t["incidents"] for t in stores], holds
    if len(set(xs)) > 1:
        mx, my = statistics.mean(xs), statistics.mean(ys)
        b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        out["hold_ms_fixed"], out["hold_ms_per_incident"] = my - b * mx, b
    return out


# -- The runs -----------------------------------------------------------------------


def cpu_seconds(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def worker_cpu():
    """User + system CPU seconds of this process (run on each Dask worker)."""
    return cpu_seconds(resource.RUSAGE_SELF)


def run_cli(obscura, root, cams, db):
    """(a): one `obscura index` per camera, one after another."""
    per_camera, errors = [], []
    cpu0 = cpu_seconds(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    for cam in cams:
        files = [str(root / r["file"]) for r in cam["recordings"]]
        t = time.perf_counter()
        p = subprocess.run([obscura, "index", "--camera", str(root / cam["profile"]), "--db",
                            str(db), "--json", *files], capture_output=True, text=True)
        secs = time.perf_counter() - t
        try:
            summary = json.loads(p.stdout)
        except ValueError:
            sys.exit(f"obscura index failed for camera {cam['camera']} (exit {p.returncode}):\n"
                     f"{p.stderr}{p.stdout}")
        per_camera.append({"camera": cam["camera"], "kind": cam["kind"], "seconds": secs,
                           "frames": summary["frames"], "incidents": summary["incidents"],
                           "indexed": summary["indexed"], "failed": summary["failed"]})
        if summary["failed"] or summary["damaged"] or summary["duplicates"]:
            errors.append(f"(a) camera {cam['camera']}: {summary['failed']} failed, "
                          f"{summary['damaged']} damaged, {summary['duplicates']} duplicate(s): "
                          f"{p.stderr.strip()}")
    wall = time.perf_counter() - t0
    return wall, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0, per_camera, errors


def start_pg(tmp):
    """A throwaway PostgreSQL cluster with a fresh `fleet` database that
    logs every statement (with epoch-millisecond timestamps, without
    parameters: the thumbnails would fill it). Returns (url, log path)."""
    os.chmod(tmp, 0o755)
    out = subprocess.run(["bash", str(PG_CLUSTER), "start", str(Path(tmp) / "c")], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    admin = out
    for setting in ("log_min_duration_statement = 0", "log_parameter_max_length = 0",
                    "log_line_prefix = '%n [%p] '"):
        psql(admin, f"ALTER SYSTEM SET {setting}")
    psql(admin, "SELECT pg_reload_conf()")
    psql(admin, "CREATE DATABASE fleet")
    return admin.rsplit("/", 1)[0] + "/fleet", Path(tmp) / "c" / "data" / "server.log"


def run_dask(cams, root, url, workers, log_path):
    """(b): index_many on a LocalCluster into PostgreSQL."""
    try:
        import distributed
        from obscura.distributed import index_many
    except ImportError as e:
        sys.exit(f"run (b) needs Dask and obscura.distributed ({e}): run this with the venv of "
                 f"scripts/python_env.sh")
    import inspect
    params = inspect.signature(index_many).parameters
    extra = {"threads": 1} if "threads" in params else {}
    if "progress" in params:
        extra["progress"] = False
    # Longest files first (1080p before 768x576): fewer idle workers at the
    # end of the batch, as a fleet scheduler would order a backlog.
    ordered = sorted(cams, key=lambda c: -c["width"] * c["height"] * c["fps"])
    mapping = {str(root / c["profile"]): [str(root / r["file"]) for r in c["recordings"]]
               for c in ordered}
    t = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(workers)
        cluster_start = time.perf_counter() - t
        log_from = log_path.stat().st_size
        cpu0, self0 = client.run(worker_cpu), cpu_seconds(resource.RUSAGE_SELF)
        t = time.perf_counter()
        df = index_many(mapping, db=url, client=client, **extra)
        secs = time.perf_counter() - t
        cpu1, self1 = client.run(worker_cpu), cpu_seconds(resource.RUSAGE_SELF)
        if set(cpu0) != set(cpu1):
            print("warning: a worker restarted during (b): its CPU time is not counted")
        cpu = {"workers": sum(cpu1[w] - cpu0.get(w, 0.0) for w in cpu1),
               "client_and_scheduler": self1 - self0}
    finally:
        client.close()
        cluster.close()
    with open(log_path, "rb") as f:
        f.seek(log_from)
        log_text = f.read().decode("utf-8", "replace")
    return secs, cluster_start, cpu, df, extra, log_text


def _private_state_dir(parent):
    """Gives this process its own XDG state directory: DVR-Scan prunes the
    logs in its default one as it starts, even with --logfile, and two
    starting at once race (FileNotFoundError on a log the other pruned)."""
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(dir=parent)


def _dvr_scan_one(path):
    with tempfile.TemporaryDirectory() as tmp:
        return compare_motion.dvr_scan_events(path, 1, tmp)


def run_dvr_scan(root, cams, cores):
    """(c): DVR-Scan on every file, `cores` processes at a time."""
    import multiprocessing
    compare_motion.dvr_scan_dir()
    cpu0 = cpu_seconds(resource.RUSAGE_CHILDREN)
    files = [(c, root / r["file"]) for c in cams for r in c["recordings"]]
    with tempfile.TemporaryDirectory() as states:
        t = time.perf_counter()
        with concurrent.futures.ProcessPoolExecutor(
                max_workers=cores, mp_context=multiprocessing.get_context("spawn"),
                initializer=_private_state_dir, initargs=(states,)) as pool:
            done = list(pool.map(_dvr_scan_one, [p for _, p in files]))
        wall = time.perf_counter() - t
    results = [(cam, path, secs, events) for (cam, path), (secs, events) in zip(files, done)]
    return wall, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0, results


# -- Output ---------------------------------------------------------------------------


def per_core(video_s, cores, wall_s):
    """camera-hours per core-hour."""
    return (video_s / cores) / wall_s if wall_s > 0 else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=8, help="cameras in the fleet (default 8)")
    ap.add_argument("--minutes", type=int, default=10,
                    help="minutes of footage a camera, in two recordings (default 10)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="Dask worker processes for (b) (default: one per core)")
    ap.add_argument("--no-peer", action="store_true", help="skip DVR-Scan (the slow part)")
    ap.add_argument("--json", type=Path, help="write every figure to this file")
    ap.add_argument("--obscura", default=str(ROOT / "target" / "release" / "obscura"))
    args = ap.parse_args()
    if args.json and args.json.exists():
        sys.exit(f"fleet_bench: error: {args.json} exists (figures are never written over a file)")
    if args.cameras < 1 or args.minutes < 1 or args.workers < 1:
        sys.exit("--cameras, --minutes and --workers must be at least 1")
    if not Path(args.obscura).is_file():
        sys.exit(f"{args.obscura} is missing: run cargo build --release -p obscura-cli")
    for tool in ("ffmpeg", "ffprobe", "psql"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing (scripts/setup.sh installs it)")
    cores = os.cpu_count() or 1

    root, cams = build_fleet(args.cameras, args.minutes)
    recs = [r for c in cams for r in c["recordings"]]
    video_s = sum(r["duration_s"] for r in recs)
    by_kind = {}
    for c in cams:
        k = by_kind.setdefault(c["kind"], {"cameras": 0, "video_s": 0.0, "bytes": 0,
                                          "frames": 0})
        k["cameras"] += 1
        k["video_s"] += sum(r["duration_s"] for r in c["recordings"])
        k["frames"] += sum(r["frames"] for r in c["recordings"])
        k["bytes"] += sum(r["size"] for r in c["recordings"])
    for k in by_kind.values():
        k["mbit_s"] = k["bytes"] * 8 / k["video_s"] / 1e6
    frames = sum(r["frames"] for r in recs)
    kinds = ", ".join(f"{v['cameras']} x {k}" for k, v in by_kind.items())
    print(f"fleet: {len(cams)} cameras x {args.minutes} min ({kinds}), {len(recs)} recordings, "
          f"{video_s / 3600:.3f} camera-hours, {frames} frames; {cores} cores; in {root}")
    result = {"cores": cores, "cameras": len(cams), "minutes": args.minutes,
              "recordings": len(recs), "video_s": video_s, "frames": frames, "by_kind": by_kind,
              "fleet_dir": str(root), "obscura": args.obscura}
    problems = []

    with tempfile.TemporaryDirectory() as tmp:
        # (a) one camera at a time, SQLite
        db = Path(tmp) / "fleet.db"
        print("(a) obscura index, one camera after another, SQLite ...", flush=True)
        a_s, a_cpu, a_cams, errs = run_cli(args.obscura, root, cams, db)
        problems += errs
        a_inc, a_times, a_sources, a_starts = contents(lambda q: sqlite_rows(db, q))
        a_db_bytes = sum(f.stat().st_size for f in Path(tmp).glob("fleet.db*"))
        result["a"] = {"seconds": a_s, "cpu_seconds": a_cpu, "per_camera": a_cams,
                       "recordings": len(a_inc),
                       "incidents": sum(len(v) for v in a_inc.values()),
                       "time_sources": a_sources, "sqlite_bytes": a_db_bytes,
                       "camh_per_coreh": per_core(video_s, cores, a_s)}
        for kind, k in by_kind.items():
            secs = sum(c["seconds"] for c in a_cams if c["kind"] == kind)
            k["a_camh_per_coreh"] = per_core(k["video_s"], cores, secs)

        # (b) Dask fleet, PostgreSQL
        pg_tmp = tempfile.mkdtemp(prefix="fleet-pg-")
        try:
            t = time.perf_counter()
            url, log_path = start_pg(pg_tmp)
            pg_start = time.perf_counter() - t
            print(f"(b) obscura.distributed.index_many, {args.workers} worker processes, "
                  f"PostgreSQL {url} ...", flush=True)
            b_s, dask_start, b_cpu, df, b_kwargs, log_text = run_dask(cams, root, url, args.workers,
                                                               log_path)
            b_inc, _, b_sources, b_starts = contents(lambda q: pg_rows(url, q))
            sizes = pg_sizes(url)
        finally:
            subprocess.run(["bash", str(PG_CLUSTER), "stop", str(Path(pg_tmp) / "c")],
                           check=False)
            shutil.rmtree(pg_tmp, ignore_errors=True)
        bad = df[df["status"] != "ok"]
        for _, row in bad.iterrows():
            problems.append(f"(b) {row['path']}: {row['error_kind']}: {row['error']}")
        task_s = float(df["seconds"].sum())
        result["b"] = {"seconds": b_s, "cpu_seconds": b_cpu, "dask_cluster_start_s": dask_start,
                       "pg_cluster_start_s": pg_start, "workers": args.workers,
                       "index_many_kwargs": b_kwargs, "recordings": len(b_inc),
                       "incidents": sum(len(v) for v in b_inc.values()),
                       "time_sources": b_sources, "task_seconds": task_s,
                       "worker_busy": task_s / (b_s * args.workers),
                       "camh_per_coreh": per_core(video_s, cores, b_s), "postgres": sizes}
        kind_of = {str(root / r["file"]): c["kind"] for c in cams for r in c["recordings"]}
        for kind, k in by_kind.items():
            secs = float(df[df["path"].map(kind_of) == kind]["seconds"].sum())
            # each task runs on one core: its seconds are core-seconds
            k["b_camh_per_coreh_task"] = k["video_s"] / secs if secs else float("nan")
        tx = summarise_transactions(store_transactions(log_text))
        result["b"]["store_transactions"] = tx

        # both runs stored everything, and the same incidents
        want = {r["sha256"] for r in recs}
        planned = {r["sha256"]: r["start_utc"][:19] for r in recs}
        for name, inc, sources, starts in (("(a)", a_inc, a_sources, a_starts),
                                           ("(b)", b_inc, b_sources, b_starts)):
            wrong = sorted(s for s in starts if starts[s] != planned.get(s))
            if wrong:
                problems.append(f"{name} {len(wrong)} recording(s) with a start other than "
                                f"their file name's, e.g. {starts[wrong[0]]}")
            if set(inc) != want:
                problems.append(f"{name} stored {len(inc)} recordings, expected {len(want)}"
                                f" ({len(want - set(inc))} missing)")
            if sources != ["filename_pattern"]:
                problems.append(f"{name} wall-clock sources {sources}, expected filename_pattern")
        differ = sorted(s for s in want if a_inc.get(s) != b_inc.get(s))
        count_differ = sorted(s for s in want if len(a_inc.get(s, [])) != len(b_inc.get(s, [])))
        result["agreement"] = {"recordings_with_different_incidents": len(differ),
                               "recordings_with_different_counts": len(count_differ)}

    # (c) DVR-Scan
    if not args.no_peer:
        print(f"(c) DVR-Scan {compare_motion.DVR_SCAN}, {cores} processes at a time "
              f"(slow) ...", flush=True)
        c_s, c_cpu, dv = run_dvr_scan(root, cams, cores)
        ious = []
        for cam, path, _, events in dv:
            sha = next(r["sha256"] for r in cam["recordings"] if root / r["file"] == path)
            ious.append(compare_motion.iou(a_times.get(sha, []), events))
        result["c"] = {"seconds": c_s, "cpu_seconds": c_cpu,
                       "camh_per_coreh": per_core(video_s, cores, c_s),
                       "events": sum(len(e) for _, _, _, e in dv),
                       "event_time_iou_mean": statistics.mean(ious)}
        for kind, k in by_kind.items():
            secs = sum(s for cam, _, s, _ in dv if cam["kind"] == kind)
            k["c_camh_per_coreh_file"] = k["video_s"] / secs if secs else float("nan")

    # -- the table
    a, b = result["a"], result["b"]
    eff = b["camh_per_coreh"] / a["camh_per_coreh"]
    result["efficiency_b_over_a"] = eff
    print(f"\n{'':44}{'wall s':>9}{'fps':>9}{'camera-h/core-h':>17}{'incidents':>11}")
    print(f"{'(a) obscura index, one camera at a time':44}{a['seconds']:9.1f}"
          f"{frames / a['seconds']:9.1f}{a['camh_per_coreh']:17.2f}{a['incidents']:11d}")
    print(f"{'(b) index_many, Dask ' + str(args.workers) + ' x 1 thread, PG':44}"
          f"{b['seconds']:9.1f}{frames / b['seconds']:9.1f}{b['camh_per_coreh']:17.2f}"
          f"{b['incidents']:11d}")
    if "c" in result:
        c = result["c"]
        print(f"{'(c) DVR-Scan, ' + str(cores) + ' processes at a time':44}{c['seconds']:9.1f}"
              f"{frames / c['seconds']:9.1f}{c['camh_per_coreh']:17.2f}{c['events']:11d}")
    print(f"\nscaling efficiency (b)/(a): {eff * 100:.0f}% (target >= 90%)")
    if "c" in result:
        print(f"obscura / DVR-Scan: (a) {a['camh_per_coreh'] / c['camh_per_coreh']:.2f}x, "
              f"(b) {b['camh_per_coreh'] / c['camh_per_coreh']:.2f}x; mean event-time IoU "
              f"(a) vs DVR-Scan per file {c['event_time_iou_mean']:.3f}")
    print(f"recordings stored: (a) {a['recordings']}, (b) {b['recordings']} of {len(recs)}; "
          f"incidents (a) {a['incidents']}, (b) {b['incidents']}; recordings whose incidents "
          f"differ: {result['agreement']['recordings_with_different_incidents']}")
    print(f"(b) Dask cluster start {b['dask_cluster_start_s']:.1f} s, PostgreSQL cluster start "
          f"{b['pg_cluster_start_s']:.1f} s (not timed); workers busy "
          f"{b['worker_busy'] * 100:.0f}% of the timed run; index_many{b['index_many_kwargs']}")
    video_h = video_s / 3600
    line = (f"CPU time (user + system; steadier than wall time on a busy machine): "
            f"(a) {a['cpu_seconds']:.1f} s = {video_h / (a['cpu_seconds'] / 3600):.2f} "
            f"camera-h per CPU-h; (b) workers {b['cpu_seconds']['workers']:.1f} s = "
            f"{video_h / (b['cpu_seconds']['workers'] / 3600):.2f}, plus client and scheduler "
            f"{b['cpu_seconds']['client_and_scheduler']:.1f} s (PostgreSQL's own not counted)")
    if "c" in result:
        line += (f"; DVR-Scan {result['c']['cpu_seconds']:.1f} s = "
                 f"{video_h / (result['c']['cpu_seconds'] / 3600):.2f}")
    print(line)
    print("\nby camera class (camera-hours per core-hour; (b) and DVR-Scan from per-file "
          "seconds, one core each):")
    for kind, k in by_kind.items():
        line = (f"  {kind:16} {k['cameras']} cameras, {k['video_s'] / 3600:.3f} h, "
                f"{k['mbit_s']:.2f} Mbit/s: (a) {k['a_camh_per_coreh']:.2f}, "
                f"(b) {k['b_camh_per_coreh_task']:.2f}")
        if "c_camh_per_coreh_file" in k:
            line += f", DVR-Scan {k['c_camh_per_coreh_file']:.2f}"
        print(line)
    s = b["postgres"]
    rec_t, inc_t = s["recordings"], s["incidents"]
    inc_per_camh = b["incidents"] / (video_s / 3600)
    result["incidents_per_camera_hour"] = inc_per_camh
    print(f"\nPostgreSQL after (b): database {s['database_bytes'] / 1e6:.1f} MB; SQLite after (a) "
          f"{a['sqlite_bytes'] / 1e6:.1f} MB")
    for name, t in (("recordings", rec_t), ("incidents", inc_t)):
        per = t["total_bytes"] / t["rows"] if t["rows"] else float("nan")
        print(f"  {name:11} {t['rows']:6d} rows, {t['total_bytes'] / 1e3:9.1f} kB in all "
              f"(heap {t['heap_bytes'] / 1e3:.1f}, indexes {t['index_bytes'] / 1e3:.1f}, "
              f"TOAST {t['toast_bytes'] / 1e3:.1f}): {per:.0f} B a row in all, "
              f"{float(t['avg_row_bytes'] or 0):.0f} B a row's data")
    for name, t in s["at_scale"].items():
        print(f"  {name:11} copied to {t['rows']} rows: {t['bytes_per_row']:.0f} B a row in all "
              f"(heap, TOAST and indexes; the figure to plan with)")
    ic = s["incident_columns"]
    print(f"  incident thumbnails: {ic['with_thumbnail']} of {inc_t['rows']}, mean "
          f"{float(ic['avg_thumbnail_bytes'] or 0):.0f} B; heatmap "
          f"{float(ic['avg_heatmap_bytes'] or 0):.0f} B")
    print(f"  incidents per camera-hour in this fleet: {inc_per_camh:.1f}")
    if tx:
        line = (f"  store transactions: {tx['store_transactions']}, write lock held "
                f"{tx['hold_ms_mean']:.1f} ms mean ({tx['hold_ms_median']:.1f} median, "
                f"{tx['hold_ms_max']:.1f} max; ms timestamps), waited for "
                f"{tx['wait_ms_mean']:.2f} ms mean ({tx['wait_ms_max']:.1f} max), "
                f"{tx['incidents_per_transaction']:.1f} incidents each")
        if "hold_ms_per_incident" in tx and tx["store_transactions"] >= 8:
            line += (f"; hold ~ {tx['hold_ms_fixed']:.1f} ms + "
                     f"{tx['hold_ms_per_incident']:.2f} ms/incident")
        print(line)
    else:
        print("  store transactions: none found in the server log")

    # -- the figures docs/scaling.md leaves as placeholders
    hd = by_kind.get("1080p25", {})
    c = result.get("c", {})
    tx = tx or {}
    ph = {
        "A_CAMH_PER_COREH": a["camh_per_coreh"],
        "B_CAMH_PER_COREH": b["camh_per_coreh"],
        "EFFICIENCY_PCT": eff * 100,
        "HD_A_CAMH_PER_COREH": hd.get("a_camh_per_coreh"),
        "HD_B_CAMH_PER_COREH": hd.get("b_camh_per_coreh_task"),
        "DVR_CAMH_PER_COREH": c.get("camh_per_coreh"),
        "HD_DVR_CAMH_PER_COREH": hd.get("c_camh_per_coreh_file"),
        "HD_MBIT_S": hd.get("mbit_s"),
        "INCIDENTS_PER_CAMH": inc_per_camh,
        "BYTES_PER_RECORDING": s["at_scale"].get("recordings", {}).get("bytes_per_row"),
        "BYTES_PER_INCIDENT": s["at_scale"].get("incidents", {}).get("bytes_per_row"),
        "THUMBNAIL_BYTES": float(ic["avg_thumbnail_bytes"] or 0),
        "HOLD_MS": tx.get("hold_ms_mean"),
        "HOLD_MS_MAX": tx.get("hold_ms_max"),
        "INCIDENTS_PER_TXN": tx.get("incidents_per_transaction"),
        "HOLD_MS_FIXED": tx.get("hold_ms_fixed"),
        "HOLD_MS_PER_INCIDENT": tx.get("hold_ms_per_incident"),
    }
    # ... and what the plan derives from them (400 cameras, 5-minute files,
    # headroom 1.5, 28 days), computed as the document shows
    x, br, bi = ph["HD_B_CAMH_PER_COREH"], ph["BYTES_PER_RECORDING"], ph["BYTES_PER_INCIDENT"]
    if x:
        ph["BUSY_CORES"] = 400 / x
        ph["CORES"] = float(-(-400 * 1.5 // x))
    ph["INCIDENTS_PER_HOUR"] = 400 * inc_per_camh
    if br and bi:
        ph["STORAGE_28D_GB"] = (4800 * 24 * 28 * br + 400 * inc_per_camh * 24 * 28 * bi) / 1e9
    result["placeholders"] = ph

    def fmt(v):
        if not isinstance(v, (int, float)):
            return "(not measured)"
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
    print("\nfor docs/scaling.md:")
    for k, v in ph.items():
        print(f"  {{{{{k}}}}} = {fmt(v)}")

    if args.json:
        part = args.json.with_name(f".{args.json.name}.part")
        part.write_text(json.dumps(result, indent=1, default=str))
        os.link(part, args.json)  # fails, rather than replaces, if it appeared meanwhile
        part.unlink()
        print(f"figures written to {args.json}")
    if problems:
        print("\nPROBLEMS:\n  " + "\n  ".join(problems))
        sys.exit(1)


if __name__ == "__main__":
    main()
