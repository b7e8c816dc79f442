#!/usr/bin/env python3
"""An independent safetensors reader, Python standard library only (struct, json, array).

Proves that a din checkpoint's weights.safetensors is plain safetensors, readable without any code of ours:

    python3 read_safetensors.py runs/X/weights.safetensors [--first N] [--numpy]

Parses the header (u64 little-endian length, then a JSON object of
{name: {dtype, shape, data_offsets: [begin, end]}} and an optional "__metadata__" of strings), checks that every
tensor's byte range matches its dtype and shape and that the ranges are contiguous, non-overlapping and cover the
data buffer exactly, then prints JSON:

    {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [..], "count": n, "sum": s, "abs_sum": a,
                                       "first": [v0, v1, ...]}, ...}

sum/abs_sum are accumulated in float64 with math.fsum (exactly rounded). With --numpy (optional, if numpy is
installed) the values are read again with numpy.frombuffer and must agree bit for bit with the stdlib reading.
Exit status 1 with a message on stderr when the file is malformed.
"""
import array
import json
import math
import struct
import sys

# dtype -> (array typecode or None, item size). F16 / BF16 are decoded by hand.
DTYPES = {
    "F64": ("d", 8),
    "F32": ("f", 4),
    "F16": (None, 2),
    "BF16": (None, 2),
    "I64": ("q", 8),
    "I32": ("i", 4),
    "I16": ("h", 2),
    "I8": ("b", 1),
    "U8": ("B", 1),
    "BOOL": ("B", 1),
}
NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


class Malformed(Exception):
    pass


def read_header(buf):
    if len(buf) < 8:
        raise Malformed("file too short for the 8-byte header length (%d bytes)" % len(buf))
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise Malformed("header length %d exceeds the file size %d" % (n, len(buf)))
    raw = bytes(buf[8 : 8 + n])
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Malformed("header is not valid UTF-8 JSON: %s" % e)
    if not isinstance(header, dict):
        raise Malformed("header is not a JSON object")
    return header, 8 + n


def check_layout(header, data_len):
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise Malformed("__metadata__ must map strings to strings")
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or set(info) - {"dtype", "shape", "data_offsets"} or len(info) != 3:
            raise Malformed("tensor %r: expected exactly dtype, shape, data_offsets, got %r" % (name, info))
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            raise Malformed("tensor %r: unknown dtype %r" % (name, dtype))
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise Malformed("tensor %r: shape %r is not a list of non-negative integers" % (name, shape))
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise Malformed("tensor %r: data_offsets %r is not [begin, end]" % (name, offsets))
        begin, end = offsets
        count = 1
        for d in shape:
            count *= d
        if not (0 <= begin <= end <= data_len):
            raise Malformed("tensor %r: data_offsets [%d, %d] outside the data buffer of %d bytes" % (name, begin, end, data_len))
        if end - begin != count * DTYPES[dtype][1]:
            raise Malformed("tensor %r: %d bytes for shape %r of %s (%d needed)" % (name, end - begin, shape, dtype, count * DTYPES[dtype][1]))
        spans.append((begin, end, name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin < pos:
            raise Malformed("tensor %r: data_offsets [%d, %d] overlap the previous tensor (ends at %d)" % (name, begin, end, pos))
        if begin > pos:
            raise Malformed("tensor %r: gap of %d bytes before it (the data is not contiguous)" % (name, begin - pos))
        pos = end
    if pos != data_len:
        raise Malformed("tensors cover %d bytes, the data buffer has %d (trailing bytes)" % (pos, data_len))
    return meta


def bf16(raw):
    return [struct.unpack("<f", b"\x00\x00" + raw[i : i + 2])[0] for i in range(0, len(raw), 2)]


def values(raw, dtype):
    code, size = DTYPES[dtype]
    if dtype == "F16":
        return list(struct.unpack("<%de" % (len(raw) // 2), raw))
    if dtype == "BF16":
        return bf16(raw)
    a = array.array(code)
    if a.itemsize != size:
        # Platform with other C sizes: fall back to struct (always standard sizes with "<").
        std = {"d": "d", "f": "f", "q": "q", "i": "i", "h": "h", "b": "b", "B": "B"}[code]
        return list(struct.unpack("<%d%s" % (len(raw) // size, std), raw))
    a.frombytes(raw)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tolist()


def main(argv):
    args, first_n, use_numpy = [], 8, False
    it = iter(argv)
    for a in it:
        if a == "--first":
            first_n = int(next(it, "8"))
        elif a == "--numpy":
            use_numpy = True
        else:
            args.append(a)
    if len(args) != 1:
        sys.stderr.write("usage: read_safetensors.py FILE [--first N] [--numpy]\n")
        return 2
    path = args[0]
    with open(path, "rb") as f:
        buf = f.read()
    try:
        header, base = read_header(buf)
        meta = check_layout(header, len(buf) - base)
    except Malformed as e:
        sys.stderr.write("%s: %s\n" % (path, e))
        return 1
    np = None
    if use_numpy:
        import numpy as np  # noqa: F811 (optional, only with --numpy)
    out = {"__metadata__": meta}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = bytes(buf[base + begin : base + end])
        vals = values(raw, info["dtype"])
        entry = {
            "dtype": info["dtype"],
            "shape": info["shape"],
            "count": len(vals),
            "sum": math.fsum(float(v) for v in vals),
            "abs_sum": math.fsum(abs(float(v)) for v in vals),
            "first": [float(v) for v in vals[:first_n]],
        }
        if np is not None and info["dtype"] in NUMPY_DTYPES:
            count = len(vals)
            arr = np.frombuffer(buf, dtype=NUMPY_DTYPES[info["dtype"]], count=count, offset=base + begin).reshape(info["shape"])
            flat = arr.reshape(-1).astype(np.float64)
            if flat.tolist() != [float(v) for v in vals]:
                sys.stderr.write("%s: tensor %r: numpy.frombuffer disagrees with the stdlib reading\n" % (path, name))
                return 1
            entry["numpy_sum"] = float(flat.sum(dtype=np.float64))
            entry["numpy_shape"] = list(arr.shape)
        out[name] = entry
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
