#!/usr/bin/python3
"""Writes the small NPY/IDX/CSV/PNG fixtures that tests/test_io.c reads, with NumPy.

Run with Debian's python (it has numpy):  /usr/bin/python3 tests/ref/gen_io.py
Every array holds the values v[i] = (i * 7 % 23) - 5 in C order (so the test can recompute
them), cast to the file's dtype; shapes and layouts vary.
"""
import gzip
import os
import struct
import sys
import zlib

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "io")
os.makedirs(OUT, exist_ok=True)


def values(shape, dtype):
    n = int(np.prod(shape)) if len(shape) else 1
    v = (np.arange(n) * 7 % 23) - 5
    if np.dtype(dtype).kind == "u":
        v = v + 5
    if np.dtype(dtype).kind == "f":
        v = v + 0.25
    return v.astype(dtype).reshape(shape)


def save(name, arr, version=None):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        if version is None:
            np.save(f, arr)
        else:
            np.lib.format.write_array(f, arr, version=version)


# name, dtype string (with byte order), shape, fortran?, version
CASES = [
    ("f4_le.npy", "<f4", (3, 4), False, None),
    ("f4_be.npy", ">f4", (3, 4), False, None),
    ("f8_le.npy", "<f8", (5,), False, None),
    ("f8_be.npy", ">f8", (2, 3), False, None),
    ("i4_le.npy", "<i4", (2, 2, 3), False, None),
    ("i4_be.npy", ">i4", (4,), False, None),
    ("i8_le.npy", "<i8", (3, 2), False, None),
    ("i8_be.npy", ">i8", (3,), False, None),
    ("u1.npy", "|u1", (2, 5), False, None),
    ("i1.npy", "|i1", (7,), False, None),
    ("i2_le.npy", "<i2", (2, 3), False, None),
    ("i2_be.npy", ">i2", (3, 2), False, None),
    ("scalar.npy", "<f8", (), False, None),
    ("fortran2.npy", "<f4", (3, 4), True, None),
    ("fortran3_be.npy", ">i4", (2, 3, 4), True, None),
    ("v2.npy", "<f4", (2, 3), False, (2, 0)),
    ("v3.npy", "<i2", (4,), False, (3, 0)),
    ("empty.npy", "<f4", (0,), False, None),
]

with open(os.path.join(OUT, "npy_cases.txt"), "w") as manifest:
    for name, dt, shape, fortran, version in CASES:
        a = values(shape, dt)
        if fortran:
            a = np.asfortranarray(a)
        save(name, a, version)
        manifest.write("%s %s %d %s\n" % (name, dt, len(shape), " ".join(map(str, shape))))

# IDX: a tiny image set (4 images of 3x2, uint8) and labels, plain and gzip; plus other types.
imgs = (np.arange(24) * 11 % 256).astype(np.uint8).reshape(4, 3, 2)
labels = np.array([3, 0, 2, 1], dtype=np.uint8)


def idx_bytes(a, code):
    head = struct.pack(">BBBB", 0, 0, code, a.ndim) + b"".join(struct.pack(">I", d) for d in a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


write("imgs-idx3-ubyte", idx_bytes(imgs, 0x08))
write("labels-idx1-ubyte", idx_bytes(labels, 0x08))
write("imgs-idx3-ubyte.gz", gzip.compress(idx_bytes(imgs, 0x08), mtime=0))
write("labels-idx1-ubyte.gz", gzip.compress(idx_bytes(labels, 0x08), mtime=0))
write("i8.idx", idx_bytes(values((5,), "i1"), 0x09))
write("i16.idx", idx_bytes(values((2, 3), ">i2"), 0x0B))
write("i32.idx", idx_bytes(values((3, 2), ">i4"), 0x0C))
write("f32.idx.gz", gzip.compress(idx_bytes(values((2, 2), ">f4"), 0x0D), mtime=0))
write("f64.idx", idx_bytes(values((4,), ">f8"), 0x0E))

# NPY pair for soma_dataset_load("npy:X,Y")
save("ds_x.npy", values((4, 6), "<f4"))
save("ds_y.npy", np.array([1, 0, 1, 2], dtype=np.int64))

# CSV
write("plain.csv", b"1,2,3\n4.5,-6,7e1\n")
write("header.csv", b'"a","b, c",d\r\n1,2,3\r\n4,5,6\r\n')
write("ragged.csv", b"1,2,3\n4,5\n")
write("badnum.csv", b"x,y\n1,2\n3,zz\n")

# PNG: a 3x2 gray image, an RGB image and a 16-bit gray-alpha one, made by hand with zlib.
def png(w, h, color_type, bit_depth, rows):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


write("gray.png", png(3, 2, 0, 8, [bytes([0, 100, 200]), bytes([50, 150, 250])]))
write("rgb.png", png(2, 1, 2, 8, [bytes([255, 0, 0, 0, 128, 255])]))
write("ga16.png", png(2, 1, 4, 16, [struct.pack(">HHHH", 0x1234, 0xFFFF, 0xABCD, 0x0000)]))
print("fixtures written to", os.path.normpath(OUT), file=sys.stderr)
