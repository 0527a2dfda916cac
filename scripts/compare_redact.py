#!/usr/bin/env python3
"""Face redaction, obscura against deface, same clips, same model, same run.

Makes (once, cached) CCTV-like 720p and 1080p clips from the overhead camera
sample (vtest.avi scaled, first N frames), installs deface==1.5.0 with pip
into $OBSCURA_HOME/peers (pinned), then for each clip:
  - runs `deface` (CenterFace on ONNX Runtime, frame by frame) and
    `obscura redact --faces`, both at the same score threshold;
  - prints fps for both and the ratio;
  - counts residual faces in each output with `obscura verify-redaction`
    at score >= 0.5, with the same detection settings for both outputs.

With --people, obscura runs `redact --faces --people` (faces and whole
people) against deface's faces only, and the people still visible in each
output are counted too, by two detectors: NanoDet (`verify-redaction
--people`, every frame, score >= 0.45) and, independently, MoveNet
(scripts/people_check.py, every 5th frame, whole frame and 2x2 tiles,
score >= 0.45).

Usage: compare_redact.py [--frames N] [--thresh T] [--people] [--heights 720,1080]
                         [--obscura PATH]
(after scripts/setup.sh and `cargo build --release`)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("OBSCURA_HOME") or Path.home() / ".cache" / "obscura")
PEER = HOME / "peers" / "deface-1.5.0"


def ensure_deface():
    if (PEER / "deface" / "deface.py").is_file():
        return
    print("installing deface==1.5.0 (pip, into the cache) ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(PEER),
                    "deface==1.5.0", "onnxruntime==1.31.1", "onnx==1.17.0"], check=True)


def clip(height, frames):
    out = HOME / "bench" / f"vtest_{height}p_{frames}f.mp4"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".part.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(HOME / "samples" / "vtest.avi"),
                    "-frames:v", str(frames), "-vf", f"scale=-2:{height}", "-c:v", "libx264",
                    "-crf", "18", "-preset", "veryfast", str(tmp)], check=True)
    os.replace(tmp, out)
    return out


def timed(cmd, env=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {r.stderr[-2000:]}")
    return time.perf_counter() - t


def residuals(obscura, path, thresh, what=("--faces",), min_score=0.5, cls=None):
    r = subprocess.run([obscura, "verify-redaction", str(path), *what, "--face-threshold", str(thresh),
                        "--min-score", str(min_score), "--json", "--record", "/dev/null/none"],
                       capture_output=True, text=True)
    if r.returncode not in (0, 2):
        # No record to read: run without it.
        r = subprocess.run([obscura, "verify-redaction", str(path), *what, "--face-threshold",
                            str(thresh), "--min-score", str(min_score), "--json"], capture_output=True, text=True)
    if r.returncode not in (0, 2):
        sys.exit(f"verify-redaction failed: {r.stderr}")
    return sum(1 for d in json.loads(r.stdout) if cls is None or d["class"] == cls)


def movenet(path, env):
    """People the independent MoveNet check finds (score >= 0.45, every 5th frame)."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "people_check.py"), str(path), "--json"],
                       capture_output=True, text=True, env=env)
    if r.returncode not in (0, 2):
        sys.exit(f"people_check failed: {r.stderr[-2000:]}")
    return len(json.loads(r.stdout)["people"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--thresh", type=float, default=0.3)
    ap.add_argument("--people", action="store_true")
    ap.add_argument("--heights", default="720,1080")
    ap.add_argument("--obscura", default=str(ROOT / "target" / "release" / "obscura"))
    args = ap.parse_args()
    ensure_deface()
    env = dict(os.environ, PYTHONPATH=str(PEER))
    results = []
    with tempfile.TemporaryDirectory() as d:
        for height in (int(h) for h in args.heights.split(",")):
            src = clip(height, args.frames)
            out_d = Path(d) / f"deface_{height}.mp4"
            out_o = Path(d) / f"obscura_{height}.mp4"
            t_d = timed([sys.executable, "-m", "deface.deface", str(src), "-o", str(out_d),
                         "--thresh", str(args.thresh), "--backend", "onnxrt"], env)
            people = ["--people"] if args.people else []
            t_o = timed([args.obscura, "redact", str(src), "-o", str(out_o), "--faces", *people,
                         "--face-threshold", str(args.thresh), "--operator", "bench", "--reason", "bench"])
            row = {
                "clip": src.name, "frames": args.frames,
                "deface_fps": args.frames / t_d, "obscura_fps": args.frames / t_o,
                "ratio": t_d / t_o,
                "residual_deface": residuals(args.obscura, out_d, args.thresh),
                "residual_obscura": residuals(args.obscura, out_o, args.thresh),
            }
            if args.people:
                row["people_deface"] = residuals(args.obscura, out_d, args.thresh, ("--people",), 0.45, "person")
                row["people_obscura"] = residuals(args.obscura, out_o, args.thresh, ("--people",), 0.45, "person")
                row["movenet_deface"] = movenet(out_d, env)
                row["movenet_obscura"] = movenet(out_o, env)
            results.append(row)
            what = "faces + people" if args.people else "faces"
            print(f"{src.name}: deface (faces) {row['deface_fps']:.2f} fps, obscura ({what}) "
                  f"{row['obscura_fps']:.2f} fps, ratio {row['ratio']:.2f}x; residual faces (score >= 0.5): "
                  f"deface {row['residual_deface']}, obscura {row['residual_obscura']}"
                  + (f"; visible people (NanoDet, every frame, score >= 0.45): deface {row['people_deface']}, "
                     f"obscura {row['people_obscura']}; (MoveNet, every 5th frame, whole and 2x2 tiles, "
                     f"score >= 0.45): deface {row['movenet_deface']}, obscura {row['movenet_obscura']}"
                     if args.people else ""), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
