#!/usr/bin/env python3
"""Quantize the prepared CenterFace model to 8 bits, once, at setup time.

CenterFace's convolutions run about 2x faster in 8-bit integers than in
float32 on the CPUs Obscura runs on (ONNX Runtime's QDQ kernels), and face
detection is most of what redaction costs. This makes `centerface-int8.onnx`
from the prepared float model with ONNX Runtime's static quantization
(per-channel int8 weights, uint8 activations, QDQ format, min/max
calibration), calibrated on CCTV frames read the way Obscura reads small
faces: vtest.avi (768x576, faces of 8-12 px) at 2x, in crops the size of
its tiles, from frames 300-700 (the clips the comparisons and tests time
are its first 150 frames).

Calibrating on close-ups as well (carphone at 1x and 2x, bikes and Big
Buck Bunny) widened the activation ranges and cost small faces precision:
one 720p face scoring 0.51 in the float model was left visible. With CCTV
frames only, no face of the five comparison clips was left visible, the
close-up carphone and the film Megamind (never seen in calibration)
included (README, "Face model precision").

Then it checks the result against the float model on calibration frames:
every face the float model scores >= 0.5 must score >= 0.3 (the redaction
threshold) in the 8-bit model's heatmap, and the heatmaps may differ by at
most 0.15 anywhere. The setup checks the written file once more by its
outputs on a fixed input (scripts/check_onnx.py, the manifest's `check`)
and pins its sha256 beside it, as for converted models: quantization
results depend on the CPU's float rounding, so they are not
byte-reproducible across machines.

Runs in the setup's throwaway virtualenv (scripts/assets.toml
[quantizer]: onnxruntime, onnx, ml_dtypes, numpy, pinned).

Usage: quantize_centerface.py FLOAT.onnx OUT.onnx SAMPLES_DIR
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

INPUT = "input.1"
HEATMAP = "537"


def frames(path, scale, select, count):
    """`count` RGB frames of `path` chosen by the ffmpeg expression `select`, scaled by `scale`."""
    vf = f"select='{select}',scale=iw*{scale}:ih*{scale}:flags=bilinear"
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, check=True)
    w, h = (int(v) for v in probe.stdout.split(",")[:2])
    w, h = int(w * scale), int(h * scale)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", vf, "-vsync", "0",
                          "-frames:v", str(count), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    n = len(raw) // (w * h * 3)
    if n == 0:
        sys.exit(f"quantize: no frames read from {path}")
    return np.frombuffer(raw[: n * w * h * 3], np.uint8).reshape(n, h, w, 3)


def crops(imgs, side_h, side_w):
    """Model inputs (NCHW float32 0-255, sides multiples of 32) cut from each image's corners and centre."""
    out = []
    for img in imgs:
        h, w = img.shape[:2]
        ch, cw = min(side_h, h) // 32 * 32, min(side_w, w) // 32 * 32
        for y, x in {(0, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)}:
            c = img[y:y + ch, x:x + cw]
            out.append(np.ascontiguousarray(c.transpose(2, 0, 1)[None].astype(np.float32)))
    return out


def calibration(samples):
    """CCTV frames read as Obscura reads small faces: vtest.avi at 2x, regions and tiles of it."""
    every = "not(mod(n\\,40))"
    return crops(frames(Path(samples) / "vtest.avi", 2, f"between(n\\,300\\,700)*{every}", 10), 576, 736)


class Reader(CalibrationDataReader):
    def __init__(self, data):
        self.it = iter(data)

    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {INPUT: x}


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def check(float_model, int8_model, data):
    """Fails unless the 8-bit heatmap keeps every confident face above the redaction threshold."""
    f, q = session(float_model), session(int8_model)
    worst_diff, faces, kept = 0.0, 0, 0
    for x in data:
        a = f.run([HEATMAP], {INPUT: x})[0]
        b = q.run([HEATMAP], {INPUT: x})[0]
        worst_diff = max(worst_diff, float(np.abs(a - b).max()))
        peaks = a >= 0.5
        faces += int(peaks.sum())
        kept += int((b[peaks] >= 0.3).sum())
    print(f"quantize: heatmap cells >= 0.5 in float: {faces}, >= 0.3 in int8: {kept}; "
          f"largest heatmap difference {worst_diff:.3f}")
    if kept < faces or worst_diff > 0.15:
        sys.exit("quantize: the 8-bit model loses faces the float model finds")


def main():
    src, out, samples = sys.argv[1], sys.argv[2], sys.argv[3]
    data = calibration(samples)
    with tempfile.TemporaryDirectory() as tmp:
        # Per-channel QDQ needs opset 13; shape inference first, as the
        # quantizer expects.
        op13 = Path(tmp) / "op13.onnx"
        onnx.save(version_converter.convert_version(onnx.load(src), 13), str(op13))
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(op13), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), out, Reader(data), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    check(src, out, data)


if __name__ == "__main__":
    main()
