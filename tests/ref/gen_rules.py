#!/usr/bin/python3
"""Reference updates of feedback alignment and direct feedback alignment, in NumPy (float64),
for tests/test_learn_fa.c. Written from the papers' equations, not from the C code.

Run with Debian's python3-numpy:  /usr/bin/python3 tests/ref/gen_rules.py
It rewrites tests/fixtures/learn/rules_mlp.bin (format: tests/ref/gen_torch.py's write()).

The net: x [N, 5] -> fc7 -> tanh -> fc6 -> tanh -> fc3 (logits), mean softmax cross-entropy.
Arrays: "x", "labels" (as floats), "i.weight"/"i.bias" for the dense layers at spec positions
0, 2, 4 (PyTorch's [out, in] layout), the feedback matrices, and the updates each rule puts in
the grads:
  FA  (Lillicrap et al. 2016): "fa.B0", "fa.B2", "fa.B4" of the weights' shapes; the error
      goes down through B instead of W:  delta_l = (delta_{l+1} B_{l+1}) * f'(a_l).
      Grads "fa.i.weight.grad" / "fa.i.bias.grad".
  DFA (Nokland 2016): "dfa.D0" [7, 3] and "dfa.D1" [6, 3] project the output error e = dL/dy to
      the two hidden layers' outputs: delta_l = (e D_l^T) * f'(a_l); the output layer takes
      its true gradient. Grads "dfa.i.weight.grad" / "dfa.i.bias.grad".
  BP  "bp.i.weight.grad" / "bp.i.bias.grad" (the true gradient), "loss".
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "learn")


def f32(a):
    return np.asarray(a, dtype=np.float32)


def main():
    rng = np.random.default_rng(2016)
    N, I, H1, H2, K = 8, 5, 7, 6, 3
    x = f32(rng.normal(size=(N, I)))
    labels = rng.integers(0, K, size=N)
    W = {0: f32(rng.uniform(-0.6, 0.6, (H1, I))), 2: f32(rng.uniform(-0.5, 0.5, (H2, H1))),
         4: f32(rng.uniform(-0.5, 0.5, (K, H2)))}
    b = {0: f32(rng.uniform(-0.2, 0.2, H1)), 2: f32(rng.uniform(-0.2, 0.2, H2)),
         4: f32(rng.uniform(-0.2, 0.2, K))}
    B = {0: f32(rng.uniform(-0.5, 0.5, (H1, I))), 2: f32(rng.uniform(-0.5, 0.5, (H2, H1))),
         4: f32(rng.uniform(-0.5, 0.5, (K, H2)))}
    D0 = f32(rng.uniform(-0.6, 0.6, (H1, K)))
    D1 = f32(rng.uniform(-0.6, 0.6, (H2, K)))

    d = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    X = d(x)
    h1 = np.tanh(X @ d(W[0]).T + d(b[0]))
    h2 = np.tanh(h1 @ d(W[2]).T + d(b[2]))
    z = h2 @ d(W[4]).T + d(b[4])
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    onehot = np.eye(K)[labels]
    loss = -np.mean(np.log(p[np.arange(N), labels]))
    e = (p - onehot) / N  # dL/dy

    def grads(delta2_in, delta1_fn):
        """delta2_in: dL/dh2 as the rule defines it; delta1_fn(delta2): dL/dh1."""
        g = {}
        g[4] = (e.T @ h2, e.sum(0))
        d2 = delta2_in * (1 - h2 ** 2)
        g[2] = (d2.T @ h1, d2.sum(0))
        d1 = delta1_fn(d2) * (1 - h1 ** 2)
        g[0] = (d1.T @ X, d1.sum(0))
        return g

    bp = grads(e @ d(W[4]), lambda d2: d2 @ d(W[2]))
    fa = grads(e @ d(B[4]), lambda d2: d2 @ d(B[2]))
    dfa = grads(e @ d(D1).T, lambda d2: e @ d(D0).T)

    arrays = {"x": x, "labels": f32(labels), "loss": f32([loss])}
    for i in (0, 2, 4):
        arrays[f"{i}.weight"] = W[i]
        arrays[f"{i}.bias"] = b[i]
    for i in (0, 2, 4):
        arrays[f"fa.B{i}"] = B[i]
    arrays["dfa.D0"] = D0
    arrays["dfa.D1"] = D1
    for name, g in (("bp", bp), ("fa", fa), ("dfa", dfa)):
        for i in (0, 2, 4):
            arrays[f"{name}.{i}.weight.grad"] = f32(g[i][0])
            arrays[f"{name}.{i}.bias.grad"] = f32(g[i][1])
    write("rules_mlp", "fc7,tanh,fc6,tanh,fc3", (N, I, 1, 1), 1, arrays, out=OUT)


if __name__ == "__main__":
    main()
