#!/usr/bin/python3
"""Reference values for tests/test_gru.c, computed once with PyTorch's torch.nn.GRU.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_gru.py
It rewrites tests/fixtures/nn/gru_*.bin (committed; the tests never need PyTorch). Format and
array names as tests/ref/gen_torch.py (reused through its write()): "in_shape" [T, D], "x",
"y", "dy", "dx", each parameter under its state_dict key and its gradient under KEY.grad.
Case gru_h0 is the kernel with a given initial state: "h0" and its gradient "dh0" too.
Everything is computed in float64 from float32 values and stored as float32.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402


class Rev(nn.Module):
    """A GRU run backwards in time (soma's gruHr): flip, GRU, flip back."""

    def __init__(self, d, h):
        super().__init__()
        self.g = nn.GRU(d, h, batch_first=True)

    def forward(self, x):
        return torch.flip(self.g(torch.flip(x, [1]))[0], [1])


class First(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)[0]


def build(spec, d):
    mods = []
    for tok in spec.split(","):
        if tok.startswith("fc"):
            o = int(tok[2:])
            mods.append(nn.Linear(d, o))
            d = o
        elif tok.startswith("bigru"):
            h = int(tok[5:])
            mods.append(First(nn.GRU(d, h, batch_first=True, bidirectional=True)))
            d = 2 * h
        elif tok.startswith("gru") and tok.endswith("r"):
            h = int(tok[3:-1])
            mods.append(Rev(d, h))
            d = h
        elif tok.startswith("gru"):
            h = int(tok[3:])
            mods.append(First(nn.GRU(d, h, batch_first=True)))
            d = h
        elif tok == "tanh":
            mods.append(nn.Tanh())
        else:
            raise ValueError(tok)
    return nn.Sequential(*mods)


def soma_key(k):
    """state_dict key -> soma's parameter path (the wrappers' inner module names dropped)."""
    return k.replace(".m.", ".").replace(".g.", ".")


def case(name, spec, T, D, N, gen):
    net = build(spec, D)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.empty(p.shape).uniform_(-0.6, 0.6, generator=gen))
    net = net.double()
    x = torch.empty(N, T, D).uniform_(-1, 1, generator=gen).double().requires_grad_(True)
    y = net(x)
    dy = torch.randn(y.shape, generator=gen).double()
    y.backward(dy)
    arrays = {"in_shape": np.array([T, D]), "x": x.detach(), "y": y.detach(), "dy": dy, "dx": x.grad}
    for k, p in net.named_parameters():
        arrays[soma_key(k)] = p.detach()
        arrays[soma_key(k) + ".grad"] = p.grad
    write(name, spec, (N, 1, T, D), 0, {k: np.asarray(v) for k, v in arrays.items()})


def case_h0(gen):
    N, T, D, H = 3, 7, 4, 5
    g = nn.GRU(D, H, batch_first=True).double()
    with torch.no_grad():
        for p in g.parameters():
            p.copy_(torch.empty(p.shape).uniform_(-0.6, 0.6, generator=gen).double())
    x = torch.empty(N, T, D).uniform_(-1, 1, generator=gen).double().requires_grad_(True)
    h0 = torch.empty(1, N, H).uniform_(-1, 1, generator=gen).double().requires_grad_(True)
    y, _ = g(x, h0)
    dy = torch.randn(y.shape, generator=gen).double()
    y.backward(dy)
    arrays = {"in_shape": np.array([T, D]), "x": x.detach(), "h0": h0.detach()[0], "y": y.detach(),
              "dy": dy, "dx": x.grad, "dh0": h0.grad[0]}
    for k, p in g.named_parameters():
        arrays[k] = p.detach()
        arrays[k + ".grad"] = p.grad
    write("gru_h0", "kernel", (N, 1, T, D), 0, {k: np.asarray(v) for k, v in arrays.items()})


def main():
    gen = torch.Generator().manual_seed(20261130)
    case("gru_fwd", "gru5", 6, 3, 3, gen)
    case("gru_rev", "gru4r", 5, 3, 2, gen)
    case("gru_bi", "bigru4", 5, 3, 3, gen)
    case("gru_stack", "fc4,tanh,bigru5,gru3r,fc2", 6, 3, 2, gen)
    case_h0(gen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
