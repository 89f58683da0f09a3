#!/usr/bin/python3
"""Reference values for tests/test_rl_sr.c: the successor representation M = (I - gamma T)^-1
computed with NumPy's LAPACK inverse (float64, stored as float32).

Run with Debian's python3-numpy (and python3-torch, for gen_torch's writer):
    /usr/bin/python3 tests/ref/gen_rl_sr.py
It rewrites tests/fixtures/rl/sr_*.bin (committed; the tests never need NumPy). Format: the
"SOMANNFX" files of tests/ref/gen_torch.py; spec "sr", n = number of states. Arrays: "T"
[n, n] the policy's transition matrix, "gamma" [1], "M" [n, n], "r" [n] a reward vector,
"v" [n] = M r.
"""
import os

import numpy as np

import gen_torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "rl")


def ring(n):
    T = np.zeros((n, n))
    for i in range(n):
        T[i, (i + 1) % n] += 0.5
        T[i, (i - 1) % n] += 0.5
    return T


def track(n, p):
    """Biased walk; the last state ends the episode (a zero row)."""
    T = np.zeros((n, n))
    for i in range(n - 1):
        T[i, i + 1] += p
        T[i, max(i - 1, 0)] += 1 - p
    return T


def open_field(rows, cols):
    n = rows * cols
    T = np.zeros((n, n))
    for r in range(rows):
        for c in range(cols):
            for dr, dc in ((-1, 0), (0, 1), (1, 0), (0, -1)):
                r2, c2 = r + dr, c + dc
                if not (0 <= r2 < rows and 0 <= c2 < cols):
                    r2, c2 = r, c
                T[r * cols + c, r2 * cols + c2] += 0.25
    return T


def main():
    rng = np.random.default_rng(7)
    cases = {"sr_ring": (ring(9), 0.9), "sr_track": (track(8, 0.7), 0.95), "sr_field": (open_field(4, 5), 0.8)}
    for name, (T, gamma) in cases.items():
        n = T.shape[0]
        M = np.linalg.inv(np.eye(n) - gamma * T)
        r = rng.standard_normal(n)
        r = r.astype(np.float32).astype(np.float64)
        gen_torch.write(name, "sr", (n, 0, 0, 0), 0,
                        {"T": T, "gamma": np.array([gamma]), "M": M, "r": r, "v": M @ r}, out=OUT)
        print(name, n, "states")


if __name__ == "__main__":
    main()
