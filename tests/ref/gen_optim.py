#!/usr/bin/python3
"""Reference optimizer trajectories for tests/test_net.c, computed once with torch.optim.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_optim.py
Rewrites tests/fixtures/optim/*.bin (committed; the tests never need PyTorch).

A Linear(2, 3) layer: weight [3,2] (weight decay applies), bias [3] (no weight decay, as soma
treats biases). Five steps with fixed gradients and learning rate 0.1. File format: the same
"SOMANNFX" container as tests/ref/gen_torch.py (spec = the optimizer's name), arrays
"weight", "bias" (initial), then for each step k: "k.weight.grad", "k.bias.grad" (the
gradients fed) and "k.weight", "k.bias" (the parameters after the step).
"""
import os
import struct

import numpy as np
import torch

MAGIC = b"SOMANNFX"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "optim")

CASES = {
    "sgd": dict(cls=torch.optim.SGD, kw=dict(lr=0.1)),
    "sgd_momentum_wd": dict(cls=torch.optim.SGD, kw=dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    "sgd_nesterov": dict(cls=torch.optim.SGD, kw=dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam": dict(cls=torch.optim.Adam, kw=dict(lr=0.1)),
    "adam_wd": dict(cls=torch.optim.Adam, kw=dict(lr=0.1, weight_decay=0.05)),
    "adamw": dict(cls=torch.optim.AdamW, kw=dict(lr=0.1, weight_decay=0.05)),
    # Zero is a value, not "the default": beta1 = 0 (RMSprop-like Adam) and eps = 0.
    "adam_beta1_0": dict(cls=torch.optim.Adam, kw=dict(lr=0.1, betas=(0.0, 0.999))),
    "adamw_eps_0": dict(cls=torch.optim.AdamW, kw=dict(lr=0.1, eps=0.0, weight_decay=0.05)),
}


def write(name, arrays):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<i", 1))
        f.write(name.encode().ljust(128, b"\0"))
        f.write(struct.pack("<5i", 1, 2, 1, 1, 1))
        f.write(struct.pack("<i", len(arrays)))
        for key, a in arrays:
            a = np.ascontiguousarray(a, dtype=np.float32)
            dims = list(a.shape) + [0] * (4 - a.ndim)
            f.write(key.encode().ljust(32, b"\0"))
            f.write(struct.pack("<5i", a.ndim, *dims))
            f.write(a.astype("<f4").tobytes())


def main():
    for name, case in CASES.items():
        g = torch.Generator().manual_seed(7)
        w = torch.randn(3, 2, generator=g)
        b = torch.randn(3, generator=g)
        arrays = [("weight", w.numpy().copy()), ("bias", b.numpy().copy())]
        wp = torch.nn.Parameter(w.clone())
        bp = torch.nn.Parameter(b.clone())
        kw = dict(case["kw"])
        wd = kw.pop("weight_decay", 0.0)
        opt = case["cls"]([{"params": [wp], "weight_decay": wd}, {"params": [bp], "weight_decay": 0.0}], **kw)
        for k in range(5):
            gw = torch.randn(3, 2, generator=g)
            gb = torch.randn(3, generator=g)
            wp.grad = gw.clone()
            bp.grad = gb.clone()
            opt.step()
            arrays += [(f"{k}.weight.grad", gw.numpy().copy()), (f"{k}.bias.grad", gb.numpy().copy()),
                       (f"{k}.weight", wp.detach().numpy().copy()), (f"{k}.bias", bp.detach().numpy().copy())]
        write(name, arrays)
    print("wrote", len(CASES), "optimizer fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
