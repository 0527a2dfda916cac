"""Independent check of the identity figures `examples/person_truth.rs` prints:
the `motmetrics` package's IDF1, IDP, IDR and ID switches for the listed
person tracks against the hand-labelled people.

    cargo run --release --example person_truth -- vtest.avi tests/data/vtest_people.json /tmp/mot.txt
    python -m venv /tmp/mm && /tmp/mm/bin/pip install motmetrics
    /tmp/mm/bin/python scripts/identity_motmetrics.py tests/data/vtest_people.json /tmp/mot.txt

The example leaves out track boxes mostly inside an `ignore` region, as its
own scoring does, so both count the same boxes.
"""
import collections
import json
import sys

import numpy as np

if not hasattr(np, "asfarray"):  # motmetrics 1.4 still calls it; NumPy 2 removed it
    np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)
import motmetrics as mm  # noqa: E402


def main(truth_path: str, mot_path: str) -> None:
    truth = json.load(open(truth_path))
    rows = collections.defaultdict(list)
    for line in open(mot_path):
        f, i, x, y, w, h = line.split(",")[:6]
        rows[int(f)].append((int(i), [float(x), float(y), float(w), float(h)]))
    acc = mm.MOTAccumulator(auto_id=False)
    for fr in truth["frames"]:
        gt = [[p["xyxy"][0], p["xyxy"][1], p["xyxy"][2] - p["xyxy"][0], p["xyxy"][3] - p["xyxy"][1]] for p in fr["people"]]
        hyp = rows[fr["frame"]]
        dist = mm.distances.iou_matrix(gt, [b for _, b in hyp], max_iou=0.5)
        acc.update([p["id"] for p in fr["people"]], [i for i, _ in hyp], dist, frameid=fr["frame"])
    summary = mm.metrics.create().compute(acc, metrics=["idf1", "idp", "idr", "num_switches", "mota"], name="listed")
    print(summary.to_string())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
