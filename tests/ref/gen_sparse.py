#!/usr/bin/python3
"""Reference lasso codes for tests/test_analysis_sparse.c, computed with NumPy.

Run with Debian's python3:  /usr/bin/python3 tests/ref/gen_sparse.py
It rewrites tests/fixtures/sparse/lasso.bin (committed; the tests never need Python), in the
SOMANNFX format of tests/ref/gen_torch.py (its write()).

Problem: for each row x of X [n, d], a = argmin 0.5 ||x - D'a||^2 + lam ||a||_1 with the atoms
as rows of D [k, d] (k > d: overcomplete), and the same with a >= 0. Solved by cyclic
coordinate descent in float64 (the textbook update a_j = S(c_j, lam) / ||d_j||^2 with c_j the
correlation of atom j with the residual that leaves a_j out) until no coordinate moves by more
than 1e-13, independently of the C solvers (ISTA/FISTA/LCA). The inputs are float32 values, so
the C code reads exactly the numbers used here.

Arrays: "D" [k, d], "X" [n, d], "lam" [1], "A" [n, k], "A_nonneg" [n, k].
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402  (the shared fixture writer)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "sparse")


def lasso_cd(D, x, lam, nonneg, tol=1e-13, max_sweeps=200000):
    k = D.shape[0]
    a = np.zeros(k)
    r = x.copy()  # residual x - D'a
    norms = (D * D).sum(axis=1)
    for _ in range(max_sweeps):
        biggest = 0.0
        for j in range(k):
            c = D[j] @ r + norms[j] * a[j]
            if nonneg:
                new = max(c - lam, 0.0) / norms[j]
            else:
                new = np.sign(c) * max(abs(c) - lam, 0.0) / norms[j]
            if new != a[j]:
                r -= D[j] * (new - a[j])
                biggest = max(biggest, abs(new - a[j]))
                a[j] = new
        if biggest < tol:
            return a
    raise RuntimeError("coordinate descent did not converge")


def main():
    rng = np.random.default_rng(20261130)
    k, d, n, lam = 24, 16, 12, 0.15
    D = rng.standard_normal((k, d)).astype(np.float32)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    D = D.astype(np.float32)
    # signals: sparse combinations of the atoms plus noise, so the codes are sparse but not trivial
    codes = rng.standard_normal((n, k)) * (rng.random((n, k)) < 0.2)
    X = (codes @ D.astype(np.float64) + 0.1 * rng.standard_normal((n, d))).astype(np.float32)
    D64, X64 = D.astype(np.float64), X.astype(np.float64)
    A = np.stack([lasso_cd(D64, X64[i], lam, False) for i in range(n)])
    An = np.stack([lasso_cd(D64, X64[i], lam, True) for i in range(n)])
    # KKT of the reference itself, so a wrong reference cannot pass silently
    for codes_, nonneg in ((A, False), (An, True)):
        g = (X64 - codes_ @ D64) @ D64.T  # D (x - D'a) per row
        on = codes_ != 0
        assert np.all(np.abs(g[on] - lam * np.sign(codes_[on])) < 1e-9)
        off = g[~on] if nonneg else np.abs(g[~on])
        assert np.all(off <= lam + 1e-9)
    print("nonzeros per code:", (A != 0).sum(1), "nonneg:", (An != 0).sum(1))
    write("lasso", "lasso k24 d16 n12", (n, k, d, 1), 0,
          {"D": D, "X": X, "lam": np.float32(lam), "A": A, "A_nonneg": An}, out=OUT)


if __name__ == "__main__":
    main()
