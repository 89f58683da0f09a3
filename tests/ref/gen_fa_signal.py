#!/usr/bin/python3
"""Reference for Lillicrap et al.'s (2016) alignment measure (soma_rule_signal_alignment), in
NumPy (float64), for tests/test_learn_fa.c. Written from the paper's definition, not from the C
code: the angle between the error signal the hidden units receive under feedback alignment,
dL/dh = delta B (B fixed, random), and under backprop, delta W, over the whole batch.

Run with Debian's python3-numpy:  /usr/bin/python3 tests/ref/gen_fa_signal.py
It rewrites tests/fixtures/learn/fa_signal.bin (format: tests/ref/gen_torch.py's write()).

The net: x [N, 5] -> fc7 -> relu -> fc6 -> tanh -> fc3 (logits), mean softmax cross-entropy.
Arrays: "x", "labels" (as floats), "i.weight"/"i.bias" (i = 0, 2, 4), "fa.Bi" the feedback
matrices of the weights' shapes, and "deg" [2]: the angle for hidden layer 0 (its signal
dL/dh1 at h1 = relu(fc7(x))) and hidden layer 2 (dL/dh2 at h2 = tanh(fc6(h1))). Under FA the
error reaching h1 comes through FA's own delta at layer 2: ((e B4) * tanh') B2.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "learn")


def f32(a):
    return np.asarray(a, dtype=np.float32)


def angle(u, v):
    u, v = u.ravel(), v.ravel()
    c = u @ v / np.sqrt((u @ u) * (v @ v))
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def main():
    rng = np.random.default_rng(1338)
    N, I, H1, H2, K = 10, 5, 7, 6, 3
    x = f32(rng.normal(size=(N, I)))
    labels = rng.integers(0, K, size=N)
    shapes = {0: (H1, I), 2: (H2, H1), 4: (K, H2)}
    W = {i: f32(rng.uniform(-0.6, 0.6, s)) for i, s in shapes.items()}
    b = {i: f32(rng.uniform(-0.2, 0.2, s[0])) for i, s in shapes.items()}
    B = {i: f32(rng.uniform(-0.6, 0.6, s)) for i, s in shapes.items()}

    d = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    h1 = np.maximum(d(x) @ d(W[0]).T + d(b[0]), 0.0)
    h2 = np.tanh(h1 @ d(W[2]).T + d(b[2]))
    z = h2 @ d(W[4]).T + d(b[4])
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    e = (p - np.eye(K)[labels]) / N  # dL/dy of the mean cross-entropy

    def signals(M):
        s2 = e @ d(M[4])  # dL/dh2
        s1 = (s2 * (1 - h2 ** 2)) @ d(M[2])  # dL/dh1
        return s1, s2

    bp1, bp2 = signals(W)
    fa1, fa2 = signals(B)
    deg = [angle(fa1, bp1), angle(fa2, bp2)]
    print("angles (layer 0, layer 2):", deg)
    arrays = {"x": x, "labels": f32(labels), "deg": f32(deg)}
    for i in shapes:
        arrays[f"{i}.weight"] = W[i]
        arrays[f"{i}.bias"] = b[i]
        arrays[f"fa.B{i}"] = B[i]
    write("fa_signal", "fc7,relu,fc6,tanh,fc3", (N, I, 1, 1), 1, arrays, out=OUT)


if __name__ == "__main__":
    main()
