#!/usr/bin/env python3
"""Python frame iteration: obscura's bindings against the Rust decoder and
against PyAV, on the same 1080p clip in the same run.

Times, best of N runs, each in a fresh process:
  - rust:    `obscura decode CLIP --to rgb|gray` (decode + the same conversion
             into one reused buffer, nothing handed anywhere)
  - obscura: `for f in obscura.open(CLIP, gray=...)` (numpy arrays)
  - PyAV:    `for f in container.decode(video=0): f.to_ndarray(format=...)`
             with FFmpeg's own frame threading (thread_type AUTO)
and prints frames per second, the bindings' cost over the Rust decoder
(target <= 10%) and their speed against PyAV.

Usage: scripts/compare_python.py [--runs N]   (run it with the virtualenv
scripts/python_env.sh makes, after `cargo build --release -p obscura-cli`
and installing the wheel; scripts/bench_python.sh does all of that)
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from compare_decode import clip  # noqa: E402  (the same cached 1080p clip)

OBSCURA_LOOP = """
import sys, time, obscura
t = time.perf_counter(); n = 0
for f in obscura.open(sys.argv[1], gray=sys.argv[2] == "gray"):
    n += 1
print(n, time.perf_counter() - t)
"""

PYAV_LOOP = """
import sys, time, av
t = time.perf_counter(); n = 0
with av.open(sys.argv[1]) as c:
    s = c.streams.video[0]
    s.thread_type = "AUTO"
    fmt = "gray" if sys.argv[2] == "gray" else "rgb24"
    for f in c.decode(s):
        a = f.to_ndarray(format=fmt)
        n += 1
print(n, time.perf_counter() - t)
"""


def best(cmd, runs):
    out = []
    for _ in range(runs):
        r = subprocess.run(cmd, check=True, capture_output=True, text=True)
        out.append(r.stdout)
    return out


def python_fps(code, path, kind, runs):
    results = best([sys.executable, "-c", code, str(path), kind], runs)
    pairs = [tuple(map(float, r.split())) for r in results]
    n = int(pairs[0][0])
    return n, max(n / s for _, s in pairs)


def rust_fps(binary, path, kind, runs):
    results = best([str(binary), "decode", str(path), "--to", kind, "--json"], runs)
    rows = [json.loads(r.strip().splitlines()[-1]) for r in results]
    return rows[0]["frames"], max(r["fps"] for r in rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--obscura", default=str(ROOT / "target" / "release" / "obscura"))
    args = ap.parse_args()
    path = clip()
    print(f"clip: {path} (1080p, 30 s); best of {args.runs} runs, each in a fresh process")
    print(f"{'frames as':<10} {'rust fps':>9} {'obscura.open fps':>17} {'PyAV fps':>9} "
          f"{'cost over rust':>15} {'vs PyAV':>8}")
    for kind in ["rgb", "gray"]:
        n_r, rust = rust_fps(args.obscura, path, kind, args.runs)
        n_o, ours = python_fps(OBSCURA_LOOP, path, kind, args.runs)
        n_a, pyav = python_fps(PYAV_LOOP, path, kind, args.runs)
        if not n_r == n_o == n_a:
            sys.exit(f"frame counts differ: rust {n_r}, obscura {n_o}, PyAV {n_a}")
        cost = rust / ours - 1
        print(f"{kind:<10} {rust:>9.1f} {ours:>17.1f} {pyav:>9.1f} {cost * 100:>14.1f}% "
              f"{ours / pyav:>7.2f}x")


if __name__ == "__main__":
    main()
