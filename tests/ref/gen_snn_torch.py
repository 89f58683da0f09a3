#!/usr/bin/python3
"""Reference values for tests/test_snn_layers.c: spiking nets trained by surrogate gradients,
computed once with PyTorch (float64) through a custom torch.autograd.Function for the spike.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_snn_torch.py
It rewrites tests/fixtures/snn/*.bin (committed; the tests never need PyTorch). The file format
is tests/ref/gen_torch.py's ("SOMANNFX", version 1).

The neuron (src/snn/layer_lif.c), per step t from U[-1] = S[-1] = 0:
    sub:   U[t] = beta U[t-1] + I[t] - theta S[t-1]
    zero:  U[t] = beta U[t-1] (1 - S[t-1]) + I[t]
    S[t] = H(U[t] - theta)  (U > theta),  dS/dU := 1 / (1 + k |U - theta|)^2  (SuperSpike)
with S[t-1] detached in the recursion when detach=1. A spec token lifN(...) is nn.Linear(I, N)
applied at every step followed by that neuron; fcN is nn.Linear alone; convKxKxC is nn.Conv2d
on every step; tmean / tsum reduce the time axis. Each net ends in mean softmax cross-entropy.

Arrays: "in_shape" (the per-sample shape [T, ...]), "x" [N, T, ...], "labels", "y" (logits),
"loss", "dx" (dL/dx), "i.weight", "i.bias" and their ".grad" for layer i of the spec, and
"spk.i" the output of layer i when it is a spiking layer (its spikes [N, T, ...]).

Spikes are discontinuous: a membrane within float32 rounding of the threshold could fire in one
implementation and not the other. Each case is drawn again (next seed) until every U stays at
least MARGIN away from its threshold.
"""
import math
import os
import re

import numpy as np
import torch
import torch.nn.functional as F

import gen_torch
from gen_torch import f32

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "snn")
MARGIN = 2e-3


def write(name, spec, n, mode, arrays):
    gen_torch.write(name, spec, (n, 0, 0, 0), mode, arrays, out=OUT)


class SuperSpike(torch.autograd.Function):
    """H(v) forward; 1 / (1 + k |v|)^2 backward (v = U - theta)."""

    @staticmethod
    def forward(ctx, v, k):
        ctx.save_for_backward(v)
        ctx.k = k
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        return g / (1.0 + ctx.k * v.abs()) ** 2, None


def parse_opts(body):
    o = {"beta": math.exp(-0.1), "theta": 1.0, "k": 25.0, "reset": "sub", "detach": 0, "out": "spike", "learn": 0}
    if body:
        for kv in body.split(","):
            key, val = kv.split("=")
            o[key] = val if key in ("reset", "out") else float(val)
    return o


def lif_seq(cur, o, mems, beta=None, th=None):
    """cur [N, T, ...] -> spikes (or membranes, out=mem) [N, T, ...]; appends every U to mems
    (for the margin check). beta, th: per-neuron tensors (learn=1), else the options' numbers."""
    beta = o["beta"] if beta is None else beta
    th = o["theta"] if th is None else th
    k = o["k"]
    u = torch.zeros_like(cur[:, 0])
    s = torch.zeros_like(cur[:, 0])
    out = []
    for t in range(cur.shape[1]):
        sp = s.detach() if o["detach"] else s
        if o["reset"] == "zero":
            u = beta * u * (1 - sp) + cur[:, t]
        else:
            u = beta * u + cur[:, t] - th * sp
        mems.append((u.detach() - th).abs().min().item())
        s = SuperSpike.apply(u - th, k)
        out.append(u if o["out"] == "mem" else s)
    return torch.stack(out, 1)


def split_spec(spec):
    """Comma-separated tokens; commas inside parentheses stay in their token."""
    toks, depth, cur = [], 0, ""
    for ch in spec:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            toks.append(cur)
            cur = ""
        else:
            cur += ch
    return toks + [cur]


def linear_param(gen, n_out, n_in):
    bound = 1.0 / math.sqrt(n_in)
    w = (torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    b = (torch.rand(n_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    return f32(w).requires_grad_(), f32(b).requires_grad_()


def run_case(name, spec, in_shape, n, gain, spiking_input, seed):
    """Draws parameters and input until the margin holds; writes the fixture."""
    for attempt in range(200):
        gen = torch.Generator().manual_seed(seed + attempt)
        arrays = {"in_shape": np.array(in_shape, dtype=np.float32)}
        x = torch.rand(n, *in_shape, generator=gen, dtype=torch.float64)
        x = (x < 0.3).double() if spiking_input else f32(x * 2 - 0.5)
        x.requires_grad_()
        labels = torch.randint(0, 10, (n,), generator=gen)
        h, shape, mems, spikes, params, learned = x, list(in_shape), [], {}, {}, {}
        for i, tok in enumerate(split_spec(spec)):
            m = re.fullmatch(r"(lif|fc)(\d*)(?:\((.*)\))?", tok)
            if tok in ("tmean", "tsum"):
                h = h.mean(1) if tok == "tmean" else h.sum(1)
                shape = shape[1:]
                continue
            if tok.startswith("conv"):
                k1, k2, co = (int(v) for v in tok[4:].split("x"))
                c_in = shape[1]
                bound = 1.0 / math.sqrt(c_in * k1 * k2)
                w = f32((torch.rand(co, c_in, k1, k2, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
                b = f32((torch.rand(co, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
                w.requires_grad_(), b.requires_grad_()
                params[i] = (w, b)
                T = shape[0]
                y = F.conv2d(h.reshape(n * T, *shape[1:]), w * gain, b * gain)
                shape = [T] + list(y.shape[1:])
                h = y.reshape(n, *shape)
                continue
            assert m, tok
            kind, width, body = m.group(1), m.group(2), m.group(3)
            if width:
                T = shape[0]
                n_in = int(np.prod(shape[1:]))
                w, b = linear_param(gen, int(width), n_in)
                params[i] = (w, b)
                h = (h.reshape(n, T, n_in) @ (w * gain).T) + b * gain
                shape = [T, int(width)]
            if kind == "lif":
                o = parse_opts(body)
                if o["learn"]:
                    dims = shape[1:]
                    b = f32(0.6 + 0.35 * torch.rand(*dims, generator=gen, dtype=torch.float64)).requires_grad_()
                    t = f32(0.5 + torch.rand(*dims, generator=gen, dtype=torch.float64)).requires_grad_()
                    learned[i] = (b, t)
                    h = lif_seq(h, o, mems, b, t)
                else:
                    h = lif_seq(h, o, mems)
                if o["out"] != "mem":
                    spikes[i] = h
        logits = h
        loss = F.cross_entropy(logits, labels)
        if min(mems) < MARGIN:
            continue
        fired = sum(s.detach().sum().item() for s in spikes.values())
        total = sum(s.numel() for s in spikes.values())
        if not (0.05 < fired / total < 0.6):
            continue
        loss.backward()
        arrays["x"] = x.detach()
        arrays["labels"] = labels.double()
        arrays["y"] = logits.detach()
        arrays["loss"] = loss.detach()
        arrays["dx"] = x.grad
        for i, (w, b) in params.items():
            # the C side holds the effective weights gain * w
            arrays[f"{i}.weight"] = (w * gain).detach()
            arrays[f"{i}.bias"] = (b * gain).detach()
            arrays[f"{i}.weight.grad"] = w.grad / gain
            arrays[f"{i}.bias.grad"] = b.grad / gain
        for i, (b, t) in learned.items():
            arrays[f"{i}.beta"] = b.detach().reshape(-1)
            arrays[f"{i}.threshold"] = t.detach().reshape(-1)
            # no path from a parameter to the loss (theta of a detached membrane read-out): zero
            arrays[f"{i}.beta.grad"] = (b.grad if b.grad is not None else torch.zeros_like(b)).reshape(-1)
            arrays[f"{i}.threshold.grad"] = (t.grad if t.grad is not None else torch.zeros_like(t)).reshape(-1)
        for i, s in spikes.items():
            arrays[f"spk.{i}"] = s.detach()
        print(f"{name}: seed {seed + attempt}, {fired:.0f}/{total} spikes, min |U - theta| {min(mems):.4f}")
        write(name, spec, n, 1, arrays)
        return
    raise SystemExit(f"{name}: no draw kept every membrane {MARGIN} from threshold")


def main():
    torch.set_default_dtype(torch.float64)
    # spiking (rate-coded) input -> fc -> lif -> fc -> lif -> tmean, T = 8, subtraction reset
    run_case("lif_sub", "lif24(beta=0.9,k=5),lif10(beta=0.8,theta=0.5,k=5),tmean", [8, 16], 6, 3.0, True, 1)
    # zero reset, detached reset, default slope; analog input; spike counts as logits
    run_case("lif_zero_detach", "lif20(reset=zero,detach=1),lif10(reset=zero,k=10),tsum", [8, 12], 5, 3.0,
             False, 100)
    # the plain lif token after token-wise layers, detached subtraction reset
    run_case("lif_plain", "fc16,lif(detach=1,k=8),fc10,lif(beta=0.7,k=8),tmean", [6, 10], 4, 3.0, False, 200)
    # a sequence of images: a conv at every step, then spiking layers on [T,C,H,W] and [T,D]
    run_case("lif_conv", "conv3x3x3,lif(k=5),lif10(k=5),tmean", [4, 2, 6, 6], 3, 2.0, False, 300)
    # learnable per-neuron beta and threshold, both resets
    run_case("lif_learn", "lif20(learn=1,k=5),lif10(learn=1,reset=zero,k=8),tmean", [8, 12], 5, 3.0, True, 400)
    # the same detached, with a membrane read-out (out=mem) and the plain token on an image sequence
    run_case("lif_learn_mem", "conv3x3x2,lif(learn=1,detach=1,k=6),lif10(out=mem,learn=1,reset=zero,detach=1,k=6),tmean",
             [5, 1, 5, 5], 4, 2.0, False, 500)


if __name__ == "__main__":
    main()
