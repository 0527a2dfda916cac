#!/usr/bin/env python3
"""Motion indexing, obscura against DVR-Scan, on the same inputs in the same run.

Installs (once, cached, pinned) DVR-Scan 1.8.2.1 with the headless OpenCV
build into $OBSCURA_HOME/tools with `pip install --target`, then for each
input:
  - vtest.avi (fixed overhead camera, people moving the whole time);
  - the 1080p 30 s benchmark clip (made by compare_decode.py if missing);
  - a quiet clip: three 10 s stretches of vtest.avi with 60 s of still
    frames spliced between them (made once with the ffmpeg CLI);
  - a 1080p25 quiet clip, 3 min: three 6 s walk-throughs of vtest.avi
    (scaled) between long stretches of the picture held still, with light
    temporal noise over everything as a camera sensor gives (10% of the
    time has people moving);
it runs `obscura index` with and without `--triage` (into a throwaway
database, camera profile with no ignore-zones), `obscura decode` and
`dvr-scan --scan-only` with its defaults, and prints:
  - frames per second of both tools and the ratio;
  - event agreement: intersection over union of the two tools' event
    time sets (seconds covered by events);
  - obscura's indexing fps against its decode-only fps (the share of the
    time spent on analysis);
  - with --triage (GOPs whose packets say the picture is still are not
    decoded): fps, ratio, recall of the full-decode event time, and the
    share of frames it decoded.

Both tools use the same event rules (DVR-Scan's defaults: 0.1 s minimum,
1.5 s before, 2 s after). Timings are wall-clock, best of --runs.

Usage: compare_motion.py [--runs N] [--obscura PATH] [INPUT ...]
(after scripts/setup.sh and `cargo build --release`)
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("OBSCURA_HOME") or Path.home() / ".cache" / "obscura")
DVR_SCAN = "1.8.2.1"
# dvr-scan's own metadata asks for opencv-contrib-python (the GUI build);
# the headless core build has everything its default MOG2 scan needs.
DVR_SCAN_DEPS = [
    f"dvr-scan=={DVR_SCAN}",
    "opencv-python-headless==4.12.0.88",
    "numpy==2.2.6",
    "scenedetect==0.6.7.1",
    "platformdirs==4.3.8",
    "tqdm==4.67.1",
    "pillow==11.3.0",
    "screeninfo==0.8.1",
    "click==8.1.8",
]


def dvr_scan_dir():
    target = HOME / "tools" / f"dvr-scan-{DVR_SCAN}"
    if (target / "dvr_scan").is_dir():
        return target
    part = target.with_name(target.name + ".part")
    print(f"installing DVR-Scan {DVR_SCAN} into {target} ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--no-deps", "--target", str(part), *DVR_SCAN_DEPS], check=True)
    os.replace(part, target)
    return target


def bench_clip():
    sys.path.insert(0, str(ROOT / "scripts"))
    import compare_decode  # noqa: E402  (makes the 1080p clip once)
    return compare_decode.clip()


def made_from_vtest(name, what, graph, encode):
    """$OBSCURA_HOME/bench/NAME, made once from vtest.avi with the ffmpeg
    filter graph GRAPH (output [v]) and the x264 options ENCODE."""
    out = HOME / "bench" / name
    if out.is_file():
        return out
    src = HOME / "samples" / "vtest.avi"
    if not src.is_file():
        sys.exit(f"{src} is missing: run bash scripts/setup.sh")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".part.mp4")
    print(f"making {out} ({what}) ...", flush=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-filter_complex", graph,
                    "-map", "[v]", "-c:v", "libx264", *encode, "-g", "50", "-pix_fmt", "yuv420p",
                    str(tmp)], check=True)
    os.replace(tmp, out)
    return out


def quiet_clip():
    # Three 10 s stretches of vtest.avi, the first two each followed by 60 s
    # of its last picture held still.
    graph = (
        "[0:v]split=3[a][b][c];"
        "[a]trim=0:10,setpts=PTS-STARTPTS,tpad=stop_mode=clone:stop_duration=60[p0];"
        "[b]trim=30:40,setpts=PTS-STARTPTS,tpad=stop_mode=clone:stop_duration=60[p1];"
        "[c]trim=60:70,setpts=PTS-STARTPTS[p2];"
        "[p0][p1][p2]concat=n=3:v=1:a=0[v]"
    )
    return made_from_vtest("vtest_quiet.mp4", "vtest.avi with still stretches", graph,
                           ["-preset", "veryfast", "-crf", "20"])


def quiet_clip_1080():
    # 20 s still, walk-through, 50 s still, walk-through, 50 s still,
    # walk-through, 42 s still: 180 s, 18 s of them moving; light temporal
    # noise over everything, as a camera sensor gives.
    graph = (
        "[0:v]fps=25,scale=1920:1080,split=3[a][b][c];"
        "[a]trim=10:16,setpts=PTS-STARTPTS,"
        "tpad=start_mode=clone:start_duration=20:stop_mode=clone:stop_duration=50[p0];"
        "[b]trim=40:46,setpts=PTS-STARTPTS,tpad=stop_mode=clone:stop_duration=50[p1];"
        "[c]trim=60:66,setpts=PTS-STARTPTS,tpad=stop_mode=clone:stop_duration=42[p2];"
        "[p0][p1][p2]concat=n=3:v=1:a=0,noise=alls=3:allf=t[v]"
    )
    return made_from_vtest("vtest_quiet_1080p25.mp4", "1080p25, 3 min, 3 walk-throughs", graph,
                           ["-preset", "veryfast", "-crf", "23"])


def frames_of(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_packets,r_frame_rate", "-of", "json",
                          str(path)], check=True, capture_output=True, text=True).stdout
    s = json.loads(out)["streams"][0]
    num, den = s["r_frame_rate"].split("/")
    return int(s["nb_read_packets"]), float(num) / float(den)


def timed(cmd, runs, env=None):
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        dt = time.perf_counter() - t
        if dt < best:
            best, out = dt, p.stdout
    return best, out


def obscura_events(obscura, path, runs, tmp, extra=()):
    profile = Path(tmp) / "bench.toml"
    profile.write_text('camera = 99\nname = "bench"\ntown = "-"\ndesk = "-"\n'
                       'coordinates = "normalised"\n')
    db = Path(tmp) / "bench.db"
    secs, summary = timed([obscura, "index", str(path), "--camera", str(profile), "--db",
                           str(db), "--json", *extra], runs)
    out = subprocess.run([obscura, "incidents", "--db", str(db), "--json"], check=True,
                         capture_output=True, text=True).stdout
    events = [(i["start_s"], i["end_s"]) for i in json.loads(out)]
    for f in Path(tmp).glob("bench.db*"):
        f.unlink()
    done = json.loads(summary)["files"][0]
    decoded = 1.0 - done["skipped_frames"] / max(done["frames"], 1)
    return secs, events, decoded


def timecode(tc):
    h, m, s = tc.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def dvr_scan_events(path, runs, tmp):
    env = dict(os.environ, PYTHONPATH=str(dvr_scan_dir()))
    cmd = [sys.executable, "-m", "dvr_scan", "-i", str(path), "--scan-only", "--quiet",
           "--logfile", str(Path(tmp) / "dvr-scan.log")]
    secs, out = timed(cmd, runs, env)
    # --quiet prints the events as one comma-separated list of timecodes:
    # start,end,start,end,...
    codes = re.findall(r"\d+:\d\d:\d\d(?:\.\d+)?", out)
    times = [timecode(c) for c in codes]
    return secs, list(zip(times[0::2], times[1::2]))


def union(intervals):
    merged = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return merged


def length(intervals):
    return sum(e - s for s, e in intervals)


def overlap(a, b):
    inter = 0.0
    for s1, e1 in union(a):
        for s2, e2 in union(b):
            inter += max(0.0, min(e1, e2) - max(s1, s2))
    return inter


def iou(a, b):
    a, b = union(a), union(b)
    inter = overlap(a, b)
    uni = length(a) + length(b) - inter
    return 1.0 if uni == 0 else inter / uni


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--obscura", default=str(ROOT / "target" / "release" / "obscura"))
    ap.add_argument("inputs", nargs="*", type=Path)
    args = ap.parse_args()
    if not Path(args.obscura).is_file():
        sys.exit(f"{args.obscura} is missing: run cargo build --release")
    dvr_scan_dir()
    inputs = args.inputs or [HOME / "samples" / "vtest.avi", bench_clip(), quiet_clip(),
                             quiet_clip_1080()]
    cores = os.cpu_count() or 1
    print(f"cores: {cores}, DVR-Scan {DVR_SCAN} (MOG2, defaults), best of {args.runs} run(s)")
    with tempfile.TemporaryDirectory() as tmp:
        for path in inputs:
            n, fps = frames_of(path)
            dec_s, _ = timed([args.obscura, "decode", str(path)], args.runs)
            ob_s, ob_ev, _ = obscura_events(args.obscura, path, args.runs, tmp)
            tr_s, tr_ev, tr_decoded = obscura_events(args.obscura, path, args.runs, tmp,
                                                     ["--triage"])
            dv_s, dv_ev = dvr_scan_events(path, args.runs, tmp)
            print(f"\n{path.name}: {n} frames, {n / fps:.1f} s")
            print(f"  obscura index   {n / ob_s:8.1f} fps  ({ob_s:.2f} s, {len(ob_ev)} events, "
                  f"{length(union(ob_ev)):.1f} s covered)")
            print(f"  dvr-scan        {n / dv_s:8.1f} fps  ({dv_s:.2f} s, {len(dv_ev)} events, "
                  f"{length(union(dv_ev)):.1f} s covered)")
            print(f"  ratio obscura / dvr-scan: {dv_s / ob_s:.2f}x")
            print(f"  event agreement (IoU of event time): {iou(ob_ev, dv_ev):.3f}")
            full = length(union(ob_ev))
            recall = 1.0 if full == 0 else overlap(ob_ev, tr_ev) / full
            print(f"  obscura --triage {n / tr_s:8.1f} fps  ({dv_s / tr_s:.2f}x dvr-scan, "
                  f"recall of full-decode event time {recall:.3f}, IoU with dvr-scan "
                  f"{iou(tr_ev, dv_ev):.3f}, decoded {tr_decoded * 100:.0f}% of frames)")
            print(f"  obscura decode only {n / dec_s:8.1f} fps: indexing runs at "
                  f"{dec_s / ob_s * 100:.0f}% of decode speed")
            hours = (n / fps) / cores
            print(f"  camera-hours per core-hour: obscura {hours / ob_s:.2f}, with --triage "
                  f"{hours / tr_s:.2f}, dvr-scan {hours / dv_s:.2f}; decode only "
                  f"{hours / dec_s:.2f}")


if __name__ == "__main__":
    main()
