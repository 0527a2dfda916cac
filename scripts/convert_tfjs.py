#!/usr/bin/env python3
"""Convert a TF.js graph model to ONNX, once, at setup time.

Runs inside the throwaway virtualenv that scripts/fetch_assets.py makes with
the pinned tensorflow-cpu and tf2onnx. Two small fixes make tf2onnx's TF.js
path work with current TensorFlow and NumPy:

- TF.js graph JSON omits attributes that have defaults (and `TArgs` of
  fused convolutions): they are filled in from TensorFlow's own op
  definitions before conversion;
- NumPy 2 removed `np.product`, which tf2onnx 1.17 still calls.

The conversion is not byte-reproducible, so the caller checks the result by
its outputs on a fixed input (check_onnx.py), not by its sha256.

Usage: convert_tfjs.py MODEL.json OUT.onnx
"""
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

if not hasattr(np, "product"):
    np.product = np.prod


def fill_defaults(graph):
    from google.protobuf import json_format
    from tensorflow.python.framework import op_def_registry

    filled = 0
    for node in graph["modelTopology"]["node"]:
        attrs = node.setdefault("attr", {})
        op = op_def_registry.get(node["op"])
        if op is None:
            continue
        names = {a.name for a in op.attr}
        if "TArgs" in names and "TArgs" not in attrs:
            n = int(attrs.get("num_args", {}).get("i", "0"))
            attrs["TArgs"] = {"list": {"type": [attrs["T"]["type"]] * n}} if n else {"list": {}}
            filled += 1
        for a in op.attr:
            if a.name not in attrs and a.HasField("default_value"):
                attrs[a.name] = json_format.MessageToDict(a.default_value)
                filled += 1
    return filled


def main():
    src, out = Path(sys.argv[1]), sys.argv[2]
    graph = json.loads(src.read_text())
    filled = fill_defaults(graph)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / src.name).write_text(json.dumps(graph))
        for group in graph["weightsManifest"]:
            for w in group["paths"]:
                os.symlink(src.parent.resolve() / w, tmp / w)
        print(f"convert: {src.name}: {filled} default attributes filled in", file=sys.stderr)
        from tf2onnx import convert

        sys.argv = ["tf2onnx.convert", "--tfjs", str(tmp / src.name), "--output", out, "--opset", "13"]
        convert.main()


if __name__ == "__main__":
    main()
