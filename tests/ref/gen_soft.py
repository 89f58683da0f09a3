#!/usr/bin/python3
"""Reference values for tests/test_soft.c (distillation targets in the xent loss), with PyTorch.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_soft.py
It rewrites tests/fixtures/learn/soft.bin (committed; the tests never need PyTorch). Format:
tests/ref/gen_torch.py's write() (imported from there).

The loss of N = n * P rows of K logits y against hard labels (-1: none) on a head, plus the
distillation term against teacher logits z over the outputs [0, count), cut into blocks of
`block`, each its own softmax at temperature T:
    loss = 1/N sum_rows [ CE(y_head, label) (labelled rows only)
                          + w T^2 / nblocks sum_b KL(softmax(z_b/T) || softmax(y_b/T)) ]
computed in float64 with F.cross_entropy and F.kl_div(log_softmax, log_softmax,
log_target=True); dy by autograd. Case "<c>" arrays: "<c>.y" [N, K], "<c>.z" [N, K],
"<c>.labels" [N] as floats, "<c>.cfg" [n, P, head_offset, head_count, count, block, temp,
weight] (head_offset -1: by label; head_count 0: every output; block 0: one block; temp <= 0
means 1), "<c>.loss" [1], "<c>.dy" [N, K], "<c>.correct" [1] (labelled rows whose argmax in
the head is the label).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "learn")


def case(rng, n, P, K, labels, head_offset, head_count, count, block, temp, weight):
    N = n * P
    y32 = (rng.standard_normal((N, K)) * 2).astype(np.float32)
    z32 = (rng.standard_normal((N, K)) * 2).astype(np.float32)
    y = torch.tensor(y32, dtype=torch.float64, requires_grad=True)
    z = torch.tensor(z32, dtype=torch.float64)
    T = temp if temp > 0 else 1.0
    blk = block if block > 0 else count
    nb = count // blk
    total = torch.zeros((), dtype=torch.float64)
    correct = 0
    for i in range(N):
        lab = labels[i]
        if lab >= 0:
            if head_count == 0:
                o, c = 0, K
            elif head_offset < 0:
                o, c = lab // head_count * head_count, head_count
            else:
                o, c = head_offset, head_count
            row = y[i, o:o + c]
            total = total + F.cross_entropy(row[None], torch.tensor([lab - o]), reduction="sum")
            correct += int(np.argmax(y32[i, o:o + c]) == lab - o)
        for b in range(nb):
            sl = slice(b * blk, (b + 1) * blk)
            lp = F.log_softmax(y[i, sl] / T, dim=0)
            lq = F.log_softmax(z[i, sl] / T, dim=0)
            kl = F.kl_div(lp, lq, reduction="sum", log_target=True)
            total = total + weight * T * T / nb * kl
    loss = total / N
    loss.backward()
    cfg = [n, P, head_offset, head_count, count, block, temp, weight]
    return {"y": y32, "z": z32, "labels": np.array(labels, np.float32), "cfg": np.array(cfg, np.float32),
            "loss": np.array([loss.item()]), "dy": y.grad.numpy(), "correct": np.array([correct], np.float32)}


def main():
    rng = np.random.default_rng(20261130)
    cases = {
        # every output, one block at T = 2, two rows with soft targets only
        "plain": case(rng, 6, 1, 5, [0, 3, -1, 4, -1, 1], 0, 0, 5, 0, 2.0, 0.7),
        # task-incremental: heads of 2 by label, blocks of 2 over the first two heads, T = 3
        "blocks": case(rng, 5, 1, 6, [4, 5, -1, 2, 0], -1, 2, 4, 2, 3.0, 1.5),
        # class-incremental: head [0, 6) of 8, one block over the 4 old classes, temp 0 (means 1)
        "head": case(rng, 4, 1, 8, [5, 4, 1, -1], 0, 6, 4, 0, 0.0, 2.0),
        # two positions a sample, three blocks of 2 over K = 6, T = 0.5
        "pos": case(rng, 3, 2, 6, [1, 2, -1, 5, 0, 3], 0, 0, 6, 2, 0.5, 0.3),
    }
    arrays = {}
    for name, c in cases.items():
        for k, v in c.items():
            arrays[name + "." + k] = v
    write("soft", "xent+soft", (0, 0, 0, 0), 0, arrays, out=OUT)


if __name__ == "__main__":
    main()
