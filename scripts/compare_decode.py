#!/usr/bin/env python3
"""Decode speed, obscura against the ffmpeg CLI, on the same clip in the same run.

Makes (once, cached) a 1080p 30 s H.264 clip from the bigbuckbunny sample,
scaled and looped with the ffmpeg CLI, GOP 50. Then times, best of N runs:
  - obscura decode (segment-parallel) and obscura decode --sequential
  - ffmpeg -threads {1,2,0} -i clip -f null -
and prints each figure in frames per second and the ratio of obscura's
parallel decode to the best ffmpeg figure.

Usage: compare_decode.py [--runs N] [--obscura PATH]   (after scripts/setup.sh
and `cargo build --release`)
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("OBSCURA_HOME") or Path.home() / ".cache" / "obscura")


def clip():
    out = HOME / "bench" / "bbb_1080p_30s_gop50.mp4"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    src = HOME / "samples" / "bigbuckbunny.mp4"
    if not src.is_file():
        sys.exit(f"{src} is missing: run bash scripts/setup.sh")
    tmp = out.with_name(".part.mp4")
    print(f"making {out} (1080p, 30 s, GOP 50) ...", flush=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(src), "-t", "30",
                    "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                    "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-an", str(tmp)], check=True)
    os.replace(tmp, out)
    return out


def frames(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def best_seconds(cmd, runs, outputs=()):
    """Best wall-clock time of `runs` runs of `cmd`. `outputs` are removed
    before each run: obscura never replaces an existing output (or its
    record) silently, so a second run into the same name would be refused."""
    best = float("inf")
    for _ in range(runs):
        for o in outputs:
            for p in (Path(o), Path(f"{o}.redaction.json")):
                p.unlink(missing_ok=True)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--obscura", default=str(ROOT / "target" / "release" / "obscura"))
    args = ap.parse_args()
    path = clip()
    n = frames(path)
    print(f"clip: {path} ({n} frames, 1920x1080), cores: {os.cpu_count()}, best of {args.runs} runs")
    results = {}
    for label, cmd in [
        ("obscura parallel", [args.obscura, "decode", str(path)]),
        ("obscura sequential", [args.obscura, "decode", "--sequential", str(path)]),
        ("ffmpeg -threads 1", ["ffmpeg", "-v", "error", "-threads", "1", "-i", str(path), "-f", "null", "-"]),
        ("ffmpeg -threads 2", ["ffmpeg", "-v", "error", "-threads", "2", "-i", str(path), "-f", "null", "-"]),
        ("ffmpeg -threads 0", ["ffmpeg", "-v", "error", "-threads", "0", "-i", str(path), "-f", "null", "-"]),
    ]:
        s = best_seconds(cmd, args.runs)
        results[label] = n / s
        print(f"{label:20s} {n / s:8.1f} fps  ({s:.2f} s)")
    best_ff = max(v for k, v in results.items() if k.startswith("ffmpeg"))
    ratio = results["obscura parallel"] / best_ff
    print(f"ratio obscura parallel / best ffmpeg: {ratio:.2f}x (target >= 1.2x)")
    print(json.dumps({"frames": n, "fps": results, "ratio": ratio}))


if __name__ == "__main__":
    main()
