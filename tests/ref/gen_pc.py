#!/usr/bin/python3
"""Reference values for predictive coding by inference learning (src/learn/pc.c), from the
equations of Whittington & Bogacz (2017) and Millidge, Tschantz & Buckley (2022), written in
NumPy (float64) without looking at the C code.

Net "fc4,tanh,fc3" on 5 inputs: f0(v) = v W0' + b0, f1 = tanh, f2(v) = v W2' + b2.
Value nodes v1, v2 (v0 = x clamped), predictions mu_{l+1} = f_l(v_l), errors e_l = v_l - mu_l,
top error e3 = -s dLoss/dmu3 (loss: batch-mean cross-entropy or MSE). Inference for T steps:
v_l -= rate (e_l - J_l' e_{l+1}), all nodes together, then predictions and errors anew (with the
fixed prediction assumption, predictions and Jacobians stay at the feedforward pass). Updates:
dW = (-e_{l+1} / s)' in_l, db = sum over the batch of -e_{l+1} / s, in_l = v_l (or the
feedforward value under the assumption).

    /usr/bin/python3 tests/ref/gen_pc.py   # writes tests/fixtures/learn/pc_*.bin
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "learn")


def dloss(kind, y, lab, tgt):
    n, k = y.shape
    if kind == "xent":
        z = y - y.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(n), lab] -= 1.0
        return p / n
    return 2.0 * (y - tgt) / (n * k)


def pc_grads(x, lab, tgt, W0, b0, W2, b2, kind, steps, rate, s, fpa):
    mu1 = x @ W0.T + b0
    v1 = mu1.copy()
    mu2 = np.tanh(v1)
    v2 = mu2.copy()
    mu3 = v2 @ W2.T + b2
    ff1, ff2 = mu1.copy(), mu2.copy()
    e1 = np.zeros_like(v1)
    e2 = np.zeros_like(v2)
    e3 = -s * dloss(kind, mu3, lab, tgt)
    for _ in range(steps):
        a1 = ff1 if fpa else v1          # where the tanh's Jacobian is taken
        g2 = e3 @ W2                      # J_2' e3
        g1 = e2 * (1.0 - np.tanh(a1) ** 2)  # J_1' e2
        v2 = v2 - rate * (e2 - g2)
        v1 = v1 - rate * (e1 - g1)
        if not fpa:
            mu2 = np.tanh(v1)
            mu3 = v2 @ W2.T + b2
            e3 = -s * dloss(kind, mu3, lab, tgt)
        e1 = v1 - mu1
        e2 = v2 - mu2
    in2 = ff2 if fpa else v2
    d1 = -e1 / s
    d3 = -e3 / s
    return d1.T @ x, d1.sum(0), d3.T @ in2, d3.sum(0), e1, e2, e3


def main():
    rng = np.random.default_rng(20170509)
    n, d, h, k = 6, 5, 4, 3
    x = rng.normal(size=(n, d))
    lab = rng.integers(0, k, size=n)
    tgt = rng.normal(size=(n, k))
    W0 = rng.normal(size=(h, d)) * 0.6
    b0 = rng.normal(size=h) * 0.2
    W2 = rng.normal(size=(k, h)) * 0.6
    b2 = rng.normal(size=k) * 0.2
    cases = [("pc_xent", "xent", 7, 0.1, 20.0, 0),
             ("pc_xent_fpa", "xent", 7, 0.1, 20.0, 1),
             ("pc_mse", "mse", 12, 0.2, 3.0, 0)]
    for name, kind, steps, rate, s, fpa in cases:
        gW0, gb0, gW2, gb2, e1, e2, e3 = pc_grads(x, lab, tgt, W0, b0, W2, b2, kind, steps, rate, s, fpa)
        arrays = {"x": x, "labels": lab.astype(np.float32), "targets": tgt,
                  "W0": W0, "b0": b0, "W2": W2, "b2": b2,
                  "opts": np.array([steps, rate, s, fpa, 1.0 if kind == "mse" else 0.0]),
                  "gW0": gW0, "gb0": gb0, "gW2": gW2, "gb2": gb2, "e1": e1, "e2": e2, "e3": e3}
        write(name, "fc4,tanh,fc3", (n, d, 1, 1), 0, arrays, out=OUT)


if __name__ == "__main__":
    main()
