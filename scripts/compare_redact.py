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

With --plates, obscura runs `redact --faces --plates` (faces and number
plates, as a disclosure does by default) against deface's faces only, and
the text regions of plate shape still visible in each output are counted
too (`verify-redaction --plates`, every frame).

With --people, obscura runs `redact --faces --people` (faces and whole
people) against deface's faces only, and the people still visible in each
output are counted too, by two detectors: NanoDet (`verify-redaction
--people`, every frame, score >= 0.45) and, independently, MoveNet
(scripts/people_check.py, every 5th frame, whole frame and 2x2 tiles,
score >= 0.45).

The clips (--clips, all by default) span the sizes faces come in:
  576, 720, 1080  overhead CCTV (vtest.avi, first N frames, re-encoded at that
                  height): faces of 8-25 pixels;
  carphone        a 176x144 close-up of one face (all 120 frames);
  megamind        a 720x528 film trailer with large faces (all 270 frames);
  bbb             Big Buck Bunny at 1080p, 30 s (750 frames; the clip
                  scripts/compare_decode.py makes), not in the default set.
Each side is timed --runs times (whole commands) and the best is kept.

Usage: compare_redact.py [--frames N] [--thresh T] [--people] [--plates] [--runs N]
                         [--clips 576,720,1080,carphone,megamind,bbb] [--obscura PATH]
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


SAMPLES = {"carphone": "carphone_pristine.mp4", "megamind": "Megamind.avi"}


def source(name, frames):
    """The clip called `name` and its frame count."""
    if name == "bbb":
        sys.path.insert(0, str(ROOT / "scripts"))
        from compare_decode import clip as bbb_clip, frames as count_frames
        path = bbb_clip()
        return path, count_frames(path)
    if name in SAMPLES:
        path = HOME / "samples" / SAMPLES[name]
        if not path.is_file():
            sys.exit(f"{path} missing: run `bash scripts/setup.sh`")
        n = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, check=True).stdout.strip()
        return path, int(n)
    if not name.isdigit():
        sys.exit(f"unknown clip {name!r}: a height (576, 720, 1080) or one of {sorted(SAMPLES)}")
    return clip(int(name), frames), frames


def best_of(runs, cmd, env=None):
    return min(timed(cmd, env) for _ in range(max(1, runs)))


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
    # With a record beside the output, verify-redaction sets aside faces
    # the original shows no face under ("not counted" on stderr); deface's
    # outputs have no record, so count those too, the same for both.
    aside = sum(1 for line in r.stderr.splitlines()
                if line.startswith("not counted:") and (cls is None or f" {cls} score " in line))
    return aside + sum(1 for d in json.loads(r.stdout) if cls is None or d["class"] == cls)


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
    ap.add_argument("--plates", action="store_true")
    ap.add_argument("--clips", default="576,720,1080,carphone,megamind")
    ap.add_argument("--heights", help="old name of --clips")
    ap.add_argument("--runs", type=int, default=1, help="time each side N times, keep the best")
    ap.add_argument("--obscura", default=str(ROOT / "target" / "release" / "obscura"))
    args = ap.parse_args()
    ensure_deface()
    env = dict(os.environ, PYTHONPATH=str(PEER))
    results = []
    with tempfile.TemporaryDirectory() as d:
        for name in (args.heights or args.clips).split(","):
            src, frames = source(name, args.frames)
            out_d = Path(d) / f"deface_{name}.mp4"
            out_o = Path(d) / f"obscura_{name}.mp4"
            t_d = best_of(args.runs, [sys.executable, "-m", "deface.deface", str(src), "-o", str(out_d),
                                      "--thresh", str(args.thresh), "--backend", "onnxrt"], env)
            also = (["--people"] if args.people else []) + (["--plates"] if args.plates else [])
            t_o = best_of(args.runs, [args.obscura, "redact", str(src), "-o", str(out_o), "--faces", *also,
                                      "--face-threshold", str(args.thresh), "--operator", "bench",
                                      "--reason", "bench", "--force"])
            row = {
                "clip": src.name, "frames": frames, "runs": args.runs,
                "deface_fps": frames / t_d, "obscura_fps": frames / t_o,
                "ratio": t_d / t_o,
                "residual_deface": residuals(args.obscura, out_d, args.thresh),
                "residual_obscura": residuals(args.obscura, out_o, args.thresh),
            }
            if args.plates:
                row["plates_deface"] = residuals(args.obscura, out_d, args.thresh, ("--plates",), 0.5, "plate")
                row["plates_obscura"] = residuals(args.obscura, out_o, args.thresh, ("--plates",), 0.5, "plate")
            if args.people:
                row["people_deface"] = residuals(args.obscura, out_d, args.thresh, ("--people",), 0.45, "person")
                row["people_obscura"] = residuals(args.obscura, out_o, args.thresh, ("--people",), 0.45, "person")
                row["movenet_deface"] = movenet(out_d, env)
                row["movenet_obscura"] = movenet(out_o, env)
            results.append(row)
            what = " + ".join(["faces"] + (["plates"] if args.plates else []) + (["people"] if args.people else []))
            print(f"{src.name}: deface (faces) {row['deface_fps']:.2f} fps, obscura ({what}) "
                  f"{row['obscura_fps']:.2f} fps, ratio {row['ratio']:.2f}x; residual faces (score >= 0.5): "
                  f"deface {row['residual_deface']}, obscura {row['residual_obscura']}"
                  + (f"; plate-shaped text (every frame): deface {row['plates_deface']}, "
                     f"obscura {row['plates_obscura']}" if args.plates else "")
                  + (f"; visible people (NanoDet, every frame, score >= 0.45): deface {row['people_deface']}, "
                     f"obscura {row['people_obscura']}; (MoveNet, every 5th frame, whole and 2x2 tiles, "
                     f"score >= 0.45): deface {row['movenet_deface']}, obscura {row['movenet_obscura']}"
                     if args.people else ""), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
