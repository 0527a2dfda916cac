#!/usr/bin/env python3
"""Check a converted model by its outputs on a fixed input.

Conversions are not byte-reproducible, so a converted model is pinned by
what it computes: the mean and maximum of every output for a fixed,
deterministic input, stored in models/manifest.toml (`check`). Runs in the
setup's throwaway virtualenv, with the pinned onnxruntime.

The input is a fixed pattern of 0-255 values over the shape's last three
dimensions, scaled to 0-1 as float32, or as they are with `:int32`.

Usage: check_onnx.py MODEL.onnx INPUT_NAME D0,D1,D2,D3[:int32]   prints the figures (JSON)
       check_onnx.py MODEL.onnx INPUT_NAME D0,D1,D2,D3[:int32] EXPECTED_JSON TOLERANCE
"""
import json
import sys

import numpy as np
import onnxruntime as ort


def figures(model, name, shape, dtype="float32"):
    n, c, h, w = shape
    i = np.arange(h).reshape(1, 1, h, 1)
    j = np.arange(w).reshape(1, 1, 1, w)
    k = np.arange(c).reshape(1, c, 1, 1)
    pattern = (i * 3 + j * 5 + k * 7) % 256
    if dtype == "int32":
        # Pixel values as they are (an image model taking 0-255 integers).
        x = pattern.astype(np.int32)
    else:
        x = (pattern / 255.0).astype(np.float32)
    x = np.broadcast_to(x, (n, c, h, w)).copy()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    outs = s.run(None, {name: x})
    return {o.name: [float(v.mean()), float(v.max())] for o, v in zip(s.get_outputs(), outs)}


def main():
    model, name = sys.argv[1], sys.argv[2]
    dims, _, dtype = sys.argv[3].partition(":")
    shape = [int(d) for d in dims.split(",")]
    got = figures(model, name, shape, dtype or "float32")
    if len(sys.argv) == 4:
        print(json.dumps(got, sort_keys=True))
        return
    want, tol = json.loads(sys.argv[4]), float(sys.argv[5])
    bad = [f"{k}: got {got.get(k)}, expected {v}" for k, v in sorted(want.items())
           if k not in got or any(abs(a - b) > tol * max(1.0, abs(b)) for a, b in zip(got[k], v))]
    if bad or set(got) != set(want):
        print("check: outputs differ from the manifest's: " + "; ".join(bad or [f"outputs {sorted(got)}"]),
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
