#!/usr/bin/env python3
"""Cost of privacy masks: obscura redact against obscura transcode, same clip,
same encoder settings, same run.

Uses the 1080p 30 s clip made by compare_decode.py and a camera profile with
three masks (mosaic, blur, solid) covering about 14% of the picture. Prints
both times (best of N) and the overhead ratio; the target is <= 1.05.

Usage: compare_masks.py [--runs N] [--obscura PATH]   (after scripts/setup.sh
and `cargo build --release`)
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_decode import best_seconds, clip  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

PROFILE = """camera = 99
name = "benchmark"
town = "Exampleton"
desk = "Z"
coordinates = "normalised"

[[mask]]
id = "shop-window"
polygon = [[0.15, 0.18], [0.47, 0.17], [0.48, 0.52], [0.16, 0.50]]
style = "mosaic"

[[mask]]
id = "flat-window"
polygon = [[0.60, 0.10], [0.75, 0.10], [0.75, 0.30], [0.60, 0.30]]
style = "blur"

[[mask]]
id = "front-door"
polygon = [[0.80, 0.40], [0.86, 0.40], [0.86, 0.70], [0.80, 0.70]]
style = "solid"
"""



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--obscura", default=str(ROOT / "target" / "release" / "obscura"))
    args = ap.parse_args()
    src = clip()
    with tempfile.TemporaryDirectory() as d:
        prof = Path(d) / "cam99.toml"
        prof.write_text(PROFILE)
        common = ["--preset", "veryfast", "--crf", "20"]
        t_plain = best_seconds([args.obscura, "transcode", str(src), "-o", f"{d}/plain.mp4", *common], args.runs,
                               [f"{d}/plain.mp4"])
        t_mask = best_seconds([args.obscura, "redact", str(src), "-o", f"{d}/masked.mp4", "--camera", str(prof),
                       "--operator", "bench", "--reason", "benchmark", *common], args.runs, [f"{d}/masked.mp4"])
    ratio = t_mask / t_plain
    print(f"clip: {src}, best of {args.runs} runs, x264 veryfast crf 20")
    print(f"transcode        {t_plain:6.2f} s")
    print(f"redact (3 masks) {t_mask:6.2f} s")
    print(f"overhead ratio redact/transcode: {ratio:.3f} (target <= 1.05)")
    print(json.dumps({"transcode_s": t_plain, "redact_s": t_mask, "ratio": ratio}))


if __name__ == "__main__":
    main()
