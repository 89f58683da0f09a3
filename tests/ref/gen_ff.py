#!/usr/bin/python3
"""Reference values for one forward-forward step (tests/test_learn_ff.c, src/learn/ff.c),
computed with PyTorch's autograd on a graph that detaches each layer's input, independently of
the C code. Run with Debian's /usr/bin/python3 from the repository root.

Net "fc6,relu,fc5,tanh,fc2" on 8 features, K = 2 classes (the only wrong label is 1 - y, so
the negatives are known). Label embedding: features 0..K-1 replaced by the one-hot label
(1/K each for the neutral label). Each block's input is the previous block's activity divided
by (its length + 1e-6), detached. Per block: g = sum h^2, loss mean_pos softplus(theta - g) +
mean_neg softplus(g - theta); the read-out fc2 learns softmax cross-entropy on the last
block's normalised activity under the neutral label. loss = sum of the block losses + the
read-out's cross-entropy; g<i> = the gradient of parameter i (PyTorch's order)."""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "learn")


def main():
    rng = np.random.default_rng(20261130)
    D, K, n, theta = 8, 2, 6, 2.0
    sizes = [(6, D), (5, 6), (K, 5)]
    acts = [torch.relu, torch.tanh]
    params = []
    for o, i in sizes:
        params.append(rng.normal(0, 0.6, (o, i)).astype(np.float32))
        params.append(rng.normal(0, 0.3, (o,)).astype(np.float32))
    x = rng.uniform(-1, 1, (n, D)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0])
    P = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]

    def embed(lab):
        e = torch.tensor(x, dtype=torch.float64).clone()
        e[:, :K] = 0.0
        for r, l in enumerate(lab):
            if l < 0:
                e[r, :K] = 1.0 / K
            else:
                e[r, l] = 1.0
        return e

    def blocks(inp, per_block):
        u = inp
        for b, act in enumerate(acts):
            h = act(u @ P[2 * b].T + P[2 * b + 1])
            g = (h * h).sum(1)
            per_block(b, g)
            u = (h / (torch.sqrt(g)[:, None] + 1e-6)).detach()
        return u

    sp = torch.nn.functional.softplus
    total = torch.zeros((), dtype=torch.float64)
    gp, gn = {}, {}
    blocks(embed(list(y)), lambda b, g: gp.__setitem__(b, g))
    blocks(embed(list(1 - y)), lambda b, g: gn.__setitem__(b, g))
    for b in range(len(acts)):
        total = total + sp(theta - gp[b]).mean() + sp(gn[b] - theta).mean()
    v = blocks(embed([-1] * n), lambda b, g: None)
    logits = v @ P[4].T + P[5]
    total = total + torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    total.backward()
    arrays = {"x": x, "y": y.astype(np.float32), "theta": np.array([theta]), "loss": np.array([total.item()])}
    for i, p in enumerate(params):
        arrays[f"p{i}"] = p
    for i, p in enumerate(P):
        arrays[f"g{i}"] = p.grad.numpy()
    write("ff_step", "fc6,relu,fc5,tanh,fc2", (n, D, 0, 0), 0, arrays, out=OUT)


if __name__ == "__main__":
    main()
