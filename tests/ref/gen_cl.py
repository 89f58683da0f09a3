#!/usr/bin/python3
"""Reference values for tests/test_cl.c (continual learning), computed once with PyTorch.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_cl.py
It rewrites tests/fixtures/cl/fisher.bin (committed; the tests never need PyTorch). Format:
tests/ref/gen_torch.py's write() (imported from there).

The diagonal Fisher information of a tiny MLP, Linear(4,5) - tanh - Linear(5,K), computed in
float64 from float32 inputs and parameters, independently of the C code:
    F = mean over mini-batches b of (d mean_{i in b} loss_i / d theta)^2
with the loss the softmax cross-entropy over the active head of the outputs only:
  "emp1"    per sample (batch 1), the data's labels (the empirical Fisher)
  "emp2"    mini-batches of 2, the data's labels
  "fixed1"  per sample, fixed labels drawn once from the model's softmax ("true" Fisher with a
            fixed draw; the draw is stored as "fixed_labels")
  "head1"   per sample, head [2, 4) of K = 4 outputs (labels in 2..3)
Each as arrays "<case>.<param>" with param 0.weight, 0.bias, 2.weight, 2.bias (PyTorch layouts);
inputs "x" [n, 4], "labels", "head_labels" as floats; parameters "0.weight" ... .
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "cl")
NAMES = ["0.weight", "0.bias", "2.weight", "2.bias"]


def fisher(params, x, labels, batch, head):
    lo, hi = head
    W1, b1, W2, b2 = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    acc = [np.zeros(p.shape) for p in params]
    nb = 0
    for s in range(0, len(x), batch):
        xb = torch.tensor(x[s:s + batch], dtype=torch.float64)
        yb = torch.tensor(labels[s:s + batch], dtype=torch.long) - lo
        logits = torch.tanh(xb @ W1.T + b1) @ W2.T + b2
        loss = torch.nn.functional.cross_entropy(logits[:, lo:hi], yb)
        gs = torch.autograd.grad(loss, [W1, b1, W2, b2])
        for a, g in zip(acc, gs):
            a += g.numpy() ** 2
        nb += 1
    return [a / nb for a in acc]


def main():
    rng = np.random.default_rng(7)
    n, K = 6, 4
    x = rng.normal(size=(n, 4)).astype(np.float32)
    params = [rng.normal(scale=0.6, size=s).astype(np.float32) for s in [(5, 4), (5,), (K, 5), (K,)]]
    labels = rng.integers(0, K, size=n)
    head_labels = rng.integers(2, 4, size=n)
    # a fixed draw from the model's softmax (the true Fisher's labels)
    with torch.no_grad():
        t = [torch.tensor(p, dtype=torch.float64) for p in params]
        logits = torch.tanh(torch.tensor(x, dtype=torch.float64) @ t[0].T + t[1]) @ t[2].T + t[3]
        p = torch.softmax(logits, dim=1).numpy()
    fixed = np.array([rng.choice(K, p=p[i] / p[i].sum()) for i in range(n)])
    arrays = {"x": x, "labels": labels, "head_labels": head_labels, "fixed_labels": fixed}
    for name, v in zip(NAMES, params):
        arrays[name] = v
    cases = {
        "emp1": fisher(params, x, labels, 1, (0, K)),
        "emp2": fisher(params, x, labels, 2, (0, K)),
        "fixed1": fisher(params, x, fixed, 1, (0, K)),
        "head1": fisher(params, x, head_labels, 1, (2, 4)),
    }
    for case, fs in cases.items():
        for name, f in zip(NAMES, fs):
            arrays[case + "." + name] = f
    write("fisher", "fc5,tanh,fc4", (n, 1, 1, 4), 0, arrays, out=OUT)


if __name__ == "__main__":
    main()
