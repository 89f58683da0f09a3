#!/usr/bin/python3
"""Checks that NPY files written by soma load in NumPy with the right dtype, shape and values.

    /usr/bin/python3 tests/ref/check_npy_interop.py build/test_io

Runs the test program with SOMA_NPY_EXPORT_DIR set (it then writes v[i] = 3i - 7 in every
dtype, 0..n-1 for uint8), loads each file with numpy.load and compares. Exits non-zero on a
mismatch.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

CASES = {
    "f32.npy": ("<f4", (2, 3, 4)),
    "f64.npy": ("<f8", ()),
    "i32.npy": ("<i4", (7,)),
    "i64.npy": ("<i8", (2, 2)),
    "u8.npy": ("|u1", (3, 5)),
    "i8.npy": ("|i1", (4,)),
    "i16.npy": ("<i2", (1, 2, 1, 2, 1, 2, 1, 2)),
    "empty.npy": ("<f4", (0, 3)),
}


def main():
    test_bin = sys.argv[1] if len(sys.argv) > 1 else "build/test_io"
    src = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, SOMA_NPY_EXPORT_DIR=d, SOMA_SOURCE_DIR=src)
        subprocess.run([test_bin], env=env, check=False, stdout=subprocess.DEVNULL)
        for name, (dt, shape) in CASES.items():
            path = os.path.join(d, name)
            a = np.load(path)
            n = int(np.prod(shape)) if shape else 1
            want = (np.arange(n) if dt == "|u1" else np.arange(n) * 3 - 7).astype(dt).reshape(shape)
            with open(path, "rb") as f:
                head = f.read(10)
                hlen = head[8] | (head[9] << 8)
            ok = (a.dtype == np.dtype(dt) and a.shape == shape and np.array_equal(a, want)
                  and (10 + hlen) % 64 == 0 and head[6] == 1)
            print("%-10s %-4s %-26s %s" % (name, dt, shape, "ok" if ok else "MISMATCH"))
            bad += not ok
    print("all NumPy loads match" if not bad else "%d mismatches" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
