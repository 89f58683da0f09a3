#!/usr/bin/python3
"""Reference values for tests/test_nn_torch.c, computed once with PyTorch.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_torch.py
It rewrites tests/fixtures/nn/*.bin (committed; the tests never need PyTorch).

Every case is computed in float64 from float32 inputs and parameters, and stored as float32.

File format (little-endian):
    char    magic[8]   = "SOMANNFX"
    int32   version    = 1
    char    spec[128]     layer tokens joined by commas ("conv5x5x6p2,relu,..."), or "xent" / "mse"
                         for a loss alone; NUL-padded
    int32   n, c, h, w   batch size and per-sample input shape
    int32   mode         0 = eval, 1 = train
    int32   n_arrays
    n_arrays records of
        char    name[32]   NUL-padded
        int32   ndim, dims[4] (unused dims 0)
        float32 data[prod(dims[:ndim])]

Array names. A layer stack: "x" input, "y" output, "dy" the output gradient fed to backward
(or, when "labels" is present, the stack ends in mean softmax cross-entropy: "labels" as
floats, "loss" [1], and "y" holds the logits), "dx" the input gradient, and for the layer at
0-based position i of the spec "i.weight", "i.bias" and their gradients "i.weight.grad",
"i.bias.grad" (PyTorch's layouts). A loss alone: "xent" has "logits", "labels", "loss",
"dlogits", "probs"; "mse" has "y", "t", "loss", "dy".
"""
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MAGIC = b"SOMANNFX"
VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "nn")


def write(name, spec, shape, mode, arrays, out=OUT):
    """One fixture: header (spec, per-sample shape or sizes, mode), then named float32 arrays of
    rank <= 4 (a rank-5 [N, T, C, H, W] is stored as [N, T, C, H*W]: same values, same order)."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name + ".bin")
    assert len(spec) < 128, spec
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<i", VERSION))
        f.write(spec.encode().ljust(128, b"\0"))
        f.write(struct.pack("<5i", *shape, mode))
        f.write(struct.pack("<i", len(arrays)))
        for key, a in arrays.items():
            a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
            if a.ndim == 0:
                a = a.reshape(1)
            if a.ndim > 4:
                a = a.reshape(*a.shape[:3], -1)
            assert 1 <= a.ndim <= 4, (key, a.shape)
            dims = list(a.shape) + [0] * (4 - a.ndim)
            f.write(key.encode().ljust(32, b"\0"))
            f.write(struct.pack("<5i", a.ndim, *dims))
            f.write(a.astype("<f4").tobytes())
    print(f"{path}: {os.path.getsize(path)} bytes")


def f32(t):
    """Round to float32 (what the C side sees), then compute in float64."""
    return t.float().double()


def module_for(tok, in_shape):
    c, h, w = in_shape
    if tok.startswith("fc"):
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, int(tok[2:])))
    if tok.startswith("conv"):
        body = tok[4:]
        k1, k2, rest = body.split("x", 2)
        m = re.fullmatch(r"(\d+)(?:s(\d+))?(?:p(\d+))?", rest)
        co, s, p = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 0)
        return nn.Conv2d(c, co, (int(k1), int(k2)), stride=s, padding=p)
    if tok.startswith("maxpool") or tok.startswith("avgpool"):
        m = re.fullmatch(r"(\d+)(?:s(\d+))?(?:p(\d+))?", tok[7:])
        k = int(m.group(1))
        s, p = int(m.group(2) or k), int(m.group(3) or 0)
        return nn.MaxPool2d(k, s, p) if tok[0] == "m" else nn.AvgPool2d(k, s, p)
    if tok == "relu":
        return nn.ReLU()
    if tok == "tanh":
        return nn.Tanh()
    if tok == "sigmoid":
        return nn.Sigmoid()
    if tok == "gelu":
        return nn.GELU()
    if tok.startswith("dropout"):
        return nn.Dropout(float(tok[7:]))
    if tok == "layernorm":
        return nn.LayerNorm([c] if h == w == 1 else [c, h, w], eps=1e-5)
    if tok.startswith("norm"):  # normM or normM/S: (x - M) / S, as torchvision's Normalize
        m, _, sd = tok[4:].partition("/")
        mean, std = float(m), float(sd or 1)
        return Lambda(lambda x: (x - mean) / std)
    raise ValueError(tok)


def torch_shape(s):
    """A flat [D,1,1] sample is a plain vector [D] for PyTorch."""
    return (s[0],) if s[1] == s[2] == 1 else tuple(s)


def out_shape(mod, in_shape):
    with torch.no_grad():
        y = mod(torch.zeros(1, *torch_shape(in_shape), dtype=torch.float64))
    s = tuple(y.shape[1:])
    return s if len(s) == 3 else (s[0], 1, 1)


def stack_case(name, spec, in_shape, n, gen, with_xent=False, randomize=False):
    toks = spec.split(",")
    mods, shape = [], in_shape
    for tok in toks:
        m = module_for(tok, shape).double()
        if randomize:  # layernorm: gains and shifts away from 1/0
            with torch.no_grad():
                for p in m.parameters():
                    p.copy_(f32(torch.empty_like(p).uniform_(-1, 1, generator=gen)))
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(f32(p))
        mods.append(m)
        shape = out_shape(m, shape)
    net = nn.Sequential(*mods).eval()
    x = f32(torch.randn(n, *torch_shape(in_shape), generator=gen)).requires_grad_(True)
    if name.startswith("maxpool"):  # distinct values: no ties for the argmax
        with torch.no_grad():
            perm = torch.randperm(x.numel(), generator=gen).double()
            x.copy_(((perm - x.numel() / 2) * 0.01).view_as(x))
    y = net(x)
    arrays = {"x": x.detach()}
    if with_xent:
        labels = torch.randint(0, y.shape[1], (n,), generator=gen)
        loss = F.cross_entropy(y, labels)
        loss.backward()
        arrays["labels"] = labels.double()
        arrays["loss"] = loss.detach().reshape(1)
    else:
        dy = f32(torch.randn(y.shape, generator=gen))
        (y * dy).sum().backward()
        arrays["dy"] = dy
    arrays["y"] = y.detach()
    arrays["dx"] = x.grad
    for i, m in enumerate(mods):
        for pname, p in m.named_parameters():
            short = pname.split(".")[-1]
            arrays[f"{i}.{short}"] = p.detach()
            arrays[f"{i}.{short}.grad"] = p.grad
    write(name, spec, (n, *in_shape), 0, {k: v.numpy() for k, v in arrays.items()})


# --- networks as graphs ------------------------------------------------------------------
# soma's spec grammar with composites, as PyTorch modules whose state_dict keys are soma's
# parameter paths ("2.1.weight"). Per-sample shapes follow soma's convention: [D], [C,H,W],
# [T,D], [T,C,H,W]; the batch tensor is [N, *shape].


def split_top(s, sep):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def is_seq(shape):
    return len(shape) in (2, 4)


class Res(nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


class Cat(nn.ModuleList):
    def __init__(self, branches, axis):
        super().__init__(branches)
        self.axis = axis

    def forward(self, x):
        return torch.cat([b(x) for b in self], dim=self.axis)


class TokenLinear(nn.Linear):
    """Linear over one time step's values (flattened), or over the whole flattened sample."""

    def __init__(self, i, o, start):
        super().__init__(i, o)
        self.start = start

    def forward(self, x):
        return super().forward(x.flatten(self.start))


class StepConv2d(nn.Conv2d):
    def forward(self, x):
        if x.dim() == 5:
            n, t = x.shape[:2]
            return super().forward(x.flatten(0, 1)).unflatten(0, (n, t))
        return super().forward(x)


class Steps(nn.Module):
    """A parameter-free image module applied to each time step of [N,T,C,H,W]."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        if x.dim() == 5:
            n, t = x.shape[:2]
            return self.m(x.flatten(0, 1)).unflatten(0, (n, t))
        return self.m(x)


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Rec(nn.Sequential):
    """soma's rec(SPEC) over x [N,T,D]: h_t = cell([x_t, h_{t-1}]) with h_{-1} = 0, the cell an
    nn.Sequential (so its keys are "i.0.weight", ...); the output [N,T,H] is every h_t."""

    def __init__(self, mods, h):
        super().__init__(*mods)
        self.h = h

    def forward(self, x):
        h = x.new_zeros(x.shape[0], self.h)
        out = []
        for t in range(x.shape[1]):
            h = super().forward(torch.cat([x[:, t], h], 1))
            out.append(h)
        return torch.stack(out, 1)


def rec_module(body, shape):
    """The cell's width H closes the loop: set it up on [D] (H = 0), then on [D+H], as soma."""
    assert len(shape) == 2, shape
    h = 0
    for _ in range(3):
        mods = graph_chain(body, (shape[1] + h,))
        with torch.no_grad():
            o = nn.Sequential(*mods)(torch.zeros(1, shape[1] + h, dtype=torch.float64)).shape[1:]
        if o[0] == h:
            return Rec(mods, h)
        h = o[0]
    raise ValueError(body)


def graph_module(tok, shape):
    """One soma token (composites included) for per-sample input `shape`."""
    if tok.startswith("rec("):
        return rec_module(tok[4:-1], shape)
    if tok.startswith("res(") or tok.startswith("cat("):
        body = tok[4:-1]
        if tok[0] == "r":
            return Res(*graph_chain(body, shape))
        branches = [nn.Sequential(*graph_chain(b, shape)) for b in split_top(body, "|")]
        return Cat(branches, 2 if is_seq(shape) else 1)
    if tok.startswith("fc"):
        o = int(tok[2:])
        if is_seq(shape):
            return TokenLinear(int(np.prod(shape[1:])), o, 2)
        return TokenLinear(int(np.prod(shape)), o, 1)
    if tok.startswith("conv"):
        body = tok[4:]
        k1, k2, rest = body.split("x", 2)
        m = re.fullmatch(r"(\d+)(?:s(\d+))?(?:p(\d+))?", rest)
        co, s, p = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 0)
        return StepConv2d(shape[-3], co, (int(k1), int(k2)), stride=s, padding=p)
    if tok.startswith("maxpool") or tok.startswith("avgpool"):
        m = re.fullmatch(r"(\d+)(?:s(\d+))?(?:p(\d+))?", tok[7:])
        k = int(m.group(1))
        s, p = int(m.group(2) or k), int(m.group(3) or 0)
        return Steps(nn.MaxPool2d(k, s, p) if tok[0] == "m" else nn.AvgPool2d(k, s, p))
    if tok == "layernorm":
        return nn.LayerNorm([shape[-1]] if len(shape) <= 2 else list(shape[-3:]), eps=1e-5)
    if tok == "tmean":
        return Lambda(lambda x: x.mean(1))
    if tok == "tsum":
        return Lambda(lambda x: x.sum(1))
    if tok.startswith("repeat"):
        t = int(tok[6:])
        return Lambda(lambda x: x.unsqueeze(1).expand(x.shape[0], t, *x.shape[1:]))
    if tok == "flatten":
        return nn.Flatten()
    return module_for(tok, (1, 1, 1))


def graph_chain(spec, shape):
    mods = []
    for tok in split_top(spec, ","):
        m = graph_module(tok.strip(), shape).double()
        with torch.no_grad():
            shape = tuple(m(torch.zeros(1, *shape, dtype=torch.float64)).shape[1:])
        mods.append(m)
    return mods


def graph_net(spec, shape):
    return nn.Sequential(*graph_chain(spec, tuple(shape)))


def graph_case(name, spec, shape, n, gen):
    """A network from a one-line spec: every parameter under its state_dict key, the input
    shape as "in_shape", and y, dx, and each parameter's grad for a random dy."""
    net = graph_net(spec, shape)
    with torch.no_grad():
        for key, p in net.named_parameters():
            if key.endswith("bias") or isinstance(dict(net.named_modules())[key.rsplit(".", 1)[0]], nn.LayerNorm):
                p.copy_(torch.empty_like(p).uniform_(-1, 1, generator=gen))
            p.copy_(f32(p))
    net.eval()
    x = f32(torch.randn(n, *shape, generator=gen)).requires_grad_(True)
    y = net(x)
    dy = f32(torch.randn(y.shape, generator=gen))
    (y * dy).sum().backward()
    flat = lambda t: t.detach().reshape(n, -1)  # noqa: E731 -- batch-major, as soma lays it out
    arrays = {"in_shape": np.array(shape, dtype=np.float32), "x": flat(x), "dy": flat(dy), "y": flat(y),
              "dx": flat(x.grad)}
    for key, p in net.named_parameters():
        assert len(key) + 5 < 32, key
        arrays[key] = p.detach()
        arrays[key + ".grad"] = p.grad
    c, h, w = (list(shape) + [1, 1, 1])[:3]
    write(name, spec, (n, c, h, w), 0, {k: np.asarray(v) for k, v in arrays.items()})


def main():
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(20240601)
    torch.manual_seed(7)
    stack_case("dense_flat", "fc10", (20, 1, 1), 4, gen)
    stack_case("dense_img", "fc6", (2, 3, 4), 3, gen)
    stack_case("conv3x3x4", "conv3x3x4", (3, 8, 7), 2, gen)
    stack_case("conv5x5x6p2", "conv5x5x6p2", (1, 12, 12), 2, gen)
    stack_case("conv3x3x5s2p1", "conv3x3x5s2p1", (2, 9, 8), 2, gen)
    stack_case("conv3x3x4s2", "conv3x3x4s2", (2, 9, 9), 3, gen)
    stack_case("maxpool2", "maxpool2", (3, 8, 6), 2, gen)
    stack_case("maxpool3s2p1", "maxpool3s2p1", (2, 7, 9), 2, gen)
    stack_case("avgpool2", "avgpool2", (3, 8, 6), 2, gen)
    stack_case("avgpool3s2p1", "avgpool3s2p1", (2, 7, 9), 2, gen)
    for a in ("relu", "tanh", "sigmoid", "gelu"):
        stack_case(a, a, (3, 4, 5), 2, gen)
    stack_case("layernorm_img", "layernorm", (3, 4, 5), 3, gen, randomize=True)
    stack_case("layernorm_flat", "layernorm", (16, 1, 1), 4, gen, randomize=True)
    stack_case("dropout_eval", "dropout0.5", (10, 1, 1), 3, gen)
    stack_case("lenet", "conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10",
               (1, 28, 28), 4, gen, with_xent=True)

    # Losses alone.
    z = f32(torch.randn(6, 10, generator=gen) * 3).requires_grad_(True)
    labels = torch.randint(0, 10, (6,), generator=gen)
    loss = F.cross_entropy(z, labels)
    loss.backward()
    write("xent", "xent", (6, 10, 1, 1), 0,
          {"logits": z.detach().numpy(), "labels": labels.double().numpy(),
           "loss": loss.detach().reshape(1).numpy(), "dlogits": z.grad.numpy(),
           "probs": torch.softmax(z.detach(), 1).numpy()})
    y = f32(torch.randn(5, 3, generator=gen)).requires_grad_(True)
    t = f32(torch.randn(5, 3, generator=gen))
    loss = F.mse_loss(y, t)
    loss.backward()
    write("mse", "mse", (5, 3, 1, 1), 0,
          {"y": y.detach().numpy(), "t": t.numpy(), "loss": loss.detach().reshape(1).numpy(),
           "dy": y.grad.numpy()})

    # Networks as graphs (a generator of their own: the cases above stay as they were).
    g2 = torch.Generator().manual_seed(20261130)
    torch.manual_seed(11)
    graph_case("graph_resnet", "fc16,res(layernorm,fc32,gelu,fc16),relu,fc5", (12,), 4, g2)
    graph_case("graph_prenorm_seq", "fc8,res(layernorm,fc32,gelu,fc8),res(layernorm,fc32,gelu,fc8),layernorm,fc4",
               (5, 6), 3, g2)
    graph_case("graph_cat_img", "conv3x3x4p1,layernorm,relu,cat(conv3x3x3p1,tanh|conv1x1x2,avgpool3s1p1),avgpool2,fc5",
               (2, 6, 6), 2, g2)
    graph_case("graph_seq_img", "conv3x3x4p1,relu,maxpool2,fc6,tanh,tsum", (3, 1, 6, 6), 2, g2)
    graph_case("graph_seq_vec", "repeat3,layernorm,fc6,gelu,tmean,cat(fc2|fc3),res(fc5,tanh,fc5)", (5,), 3, g2)

    # Recurrent cells (a generator of their own). rnn_elman is the Elman RNN
    # h_t = tanh(W [x_t; h_{t-1}] + b): an nn.Linear over the concatenation, looped over T.
    g3 = torch.Generator().manual_seed(20261201)
    graph_case("rnn_elman", "rec(fc8,tanh)", (6, 3), 3, g3)
    graph_case("rnn_stack", "fc6,rec(layernorm,fc10,gelu,fc7,tanh),rec(cat(fc3,tanh|fc2,sigmoid),fc5,tanh),fc4",
               (5, 4), 2, g3)

    # A ResNet basic block (two 3x3 convolutions around a ReLU, added to their input), a
    # generator of its own.
    g4 = torch.Generator().manual_seed(20261202)
    graph_case("graph_resblock_conv", "conv3x3x4p1,relu,res(conv3x3x4p1,relu,conv3x3x4p1),relu,maxpool2,fc5",
               (1, 6, 6), 2, g4)

    # The fixed normalisation in front of a classifier, as an image input layer (a generator of
    # its own).
    g5 = torch.Generator().manual_seed(20261203)
    stack_case("norm_img", "norm0.286/0.353,fc7,relu,fc4", (1, 5, 6), 3, g5, with_xent=True)
    stack_case("norm_shift", "norm-0.5,tanh", (9, 1, 1), 2, g5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
