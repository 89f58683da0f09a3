#!/usr/bin/python3
"""Reference values for tests/test_learn_hebb.c, computed once with NumPy (float64).

Run with Debian's python3-numpy:  /usr/bin/python3 tests/ref/gen_hebb.py
It rewrites tests/fixtures/learn/hebb.bin and rb.bin (committed; the tests never need NumPy).
Format: tests/ref/gen_torch.py's SOMANNFX files (write() is reused from there).

hebb.bin: W0 [k, d], X [n, d], lr; for each rule (oja, gha, comp) the weights after one pass
over X sample by sample ("<rule>.online", the classic rules written out per unit) and after one
mini-batch of all n rows ("<rule>.batch", the mean of the per-sample updates at W0).

rb.bin: Rao & Ballard's two-level model (U1 [d, k1], U2 [k1, k2]) on a batch X [n, d]:
inference from r = 0 by proximal gradient steps on
    E = |x - U1 r1|^2 / s1 + |r1 - U2 r2|^2 / s2 + prior (|r1|_1 + |r2|_1)
("energy" before each step and after the last, settled "R1", "R2"), then one weight step
U1 += lr 2/s1 E1' R1 / n, U2 += lr 2/s2 E2' R2 / n and unit-norm columns ("U1.new", "U2.new"),
and the mean squared errors per element at the settled causes ("err").
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "learn")


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def oja_one(W, x, lr):
    W = W.copy()
    y = W @ x
    for i in range(W.shape[0]):
        W[i] += lr * y[i] * (x - y[i] * W[i])
    return W


def gha_one(W, x, lr):
    W0 = W.copy()
    W = W.copy()
    y = W0 @ x
    for i in range(W.shape[0]):
        back = np.zeros_like(x)
        for j in range(i + 1):
            back += y[j] * W0[j]
        W[i] += lr * y[i] * (x - back)
    return W


def comp_one(W, x, lr):
    W = W.copy()
    win = int(np.argmax(W @ x))
    W[win] += lr * (x - W[win])
    return W


def hebb_case():
    rng = np.random.default_rng(9)
    k, d, n, lr = 3, 6, 5, 0.05
    W0 = f32(rng.normal(0, 0.5, (k, d)))
    X = f32(rng.normal(0, 1.0, (n, d)))
    arrays = {"W0": W0, "X": X, "lr": np.array([lr])}
    for name, one in (("oja", oja_one), ("gha", gha_one), ("comp", comp_one)):
        W = W0.copy()
        for x in X:
            W = one(W, x, lr)
        arrays[name + ".online"] = W
        # one mini-batch: the mean of the per-sample updates, all taken at W0
        dW = sum(one(W0, x, lr) - W0 for x in X) / n
        arrays[name + ".batch"] = W0 + dW
    write("hebb", "hebb", (n, d, k, 1), 0, arrays, out=OUT)


def soft(r, t):
    return np.sign(r) * np.maximum(np.abs(r) - t, 0.0)


def rb_case():
    rng = np.random.default_rng(1999)
    d, k1, k2, n = 9, 6, 3, 4
    steps, rate, s1, s2, prior, lr = 12, 0.05, 1.0, 0.5, 0.05, 0.2
    U1 = rng.normal(0, 1, (d, k1))
    U1 /= np.linalg.norm(U1, axis=0)
    U2 = rng.normal(0, 1, (k1, k2))
    U2 /= np.linalg.norm(U2, axis=0)
    U1, U2 = f32(U1), f32(U2)
    X = f32(rng.normal(0, 1, (n, d)))
    r1 = np.zeros((n, k1))
    r2 = np.zeros((n, k2))

    def energy(r1, r2):
        e1 = X - r1 @ U1.T
        e2 = r1 - r2 @ U2.T
        return ((e1 ** 2).sum() / s1 + (e2 ** 2).sum() / s2 + prior * (np.abs(r1).sum() + np.abs(r2).sum())) / n

    E = []
    for _ in range(steps):
        E.append(energy(r1, r2))
        e1 = X - r1 @ U1.T
        e2 = r1 - r2 @ U2.T
        g1 = -2 / s1 * e1 @ U1 + 2 / s2 * e2  # dE/dr1 (smooth part)
        g2 = -2 / s2 * e2 @ U2
        r1 = soft(r1 - rate * g1, rate * prior)
        r2 = soft(r2 - rate * g2, rate * prior)
    E.append(energy(r1, r2))
    e1 = X - r1 @ U1.T
    e2 = r1 - r2 @ U2.T
    err = [(e1 ** 2).mean(), (e2 ** 2).mean()]
    U1n = U1 + lr * 2 / s1 * e1.T @ r1 / n
    U2n = U2 + lr * 2 / s2 * e2.T @ r2 / n
    U1n /= np.linalg.norm(U1n, axis=0)
    U2n /= np.linalg.norm(U2n, axis=0)
    opts = [steps, rate, s1, s2, prior, lr]
    write("rb", "rb", (n, d, k1, k2), 0,
          {"opts": np.array(opts), "U1": U1, "U2": U2, "X": X, "energy": np.array(E), "R1": r1, "R2": r2,
           "U1.new": U1n, "U2.new": U2n, "err": np.array(err)}, out=OUT)


if __name__ == "__main__":
    hebb_case()
    rb_case()
