#!/usr/bin/python3
"""Reference values for tests/test_attn.c: attention layers and transformer blocks in PyTorch.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_attn.py
It rewrites tests/fixtures/attn/*.bin (committed; the tests never need PyTorch). The file
format is gen_torch.py's (its write() is reused).

Each case is a soma spec and the same model built from torch.nn modules (MultiheadAttention,
TransformerEncoderLayer(norm_first=True, activation="gelu"), Conv2d, LayerNorm, Linear), in
float64 from float32 values. Arrays: "in_shape", "x", "dy" (a random output gradient), "y",
"dx", and each parameter under soma's key (the state_dict key mapped by the table in
docs/transformer.md) with its gradient "<key>.grad"; "pad" (floats, 1 = padding key) where a
key-padding mask is used.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "attn")


def f32(t):
    return t.float().double()


def block_keys(prefix, tel):
    """soma's keys of a blockHhD at `prefix` -> the TransformerEncoderLayer's parameters."""
    return {
        prefix + "0.0.weight": tel.norm1.weight, prefix + "0.0.bias": tel.norm1.bias,
        prefix + "0.1.in_proj_weight": tel.self_attn.in_proj_weight,
        prefix + "0.1.in_proj_bias": tel.self_attn.in_proj_bias,
        prefix + "0.1.out_proj.weight": tel.self_attn.out_proj.weight,
        prefix + "0.1.out_proj.bias": tel.self_attn.out_proj.bias,
        prefix + "1.0.weight": tel.norm2.weight, prefix + "1.0.bias": tel.norm2.bias,
        prefix + "1.1.weight": tel.linear1.weight, prefix + "1.1.bias": tel.linear1.bias,
        prefix + "1.3.weight": tel.linear2.weight, prefix + "1.3.bias": tel.linear2.bias,
    }


def mha_keys(prefix, m):
    return {prefix + "in_proj_weight": m.in_proj_weight, prefix + "in_proj_bias": m.in_proj_bias,
            prefix + "out_proj.weight": m.out_proj.weight, prefix + "out_proj.bias": m.out_proj.bias}


def tel(D, H, F):
    return nn.TransformerEncoderLayer(D, H, F, dropout=0.0, activation="gelu", norm_first=True,
                                      batch_first=True)


def case(name, spec, shape, n, gen, fwd, params, extra=None):
    """params: soma key -> torch parameter; fwd(x) -> y. Biases and norm gains are drawn away from
    their zero/one defaults so that every path is exercised."""
    with torch.no_grad():
        for key, p in params.items():
            if p.dim() == 1 or key.endswith("bias"):
                p.copy_(torch.empty_like(p).uniform_(-1, 1, generator=gen))
            p.copy_(f32(p))
    x = f32(torch.randn(n, *shape, generator=gen)).requires_grad_(True)
    y = fwd(x)
    dy = f32(torch.randn(y.shape, generator=gen))
    (y * dy).sum().backward()
    flat = lambda t: t.detach().reshape(n, -1)  # noqa: E731
    arrays = {"in_shape": np.array(shape, dtype=np.float32), "x": flat(x), "dy": flat(dy), "y": flat(y),
              "dx": flat(x.grad)}
    if extra:
        arrays.update(extra)
    for key, p in params.items():
        assert len(key) + 5 < 32, key
        arrays[key] = p.detach()
        arrays[key + ".grad"] = p.grad
    c, h, w = (list(shape) + [1, 1, 1])[:3]
    write(name, spec, (n, c, h, w), 0, {k: np.asarray(v) for k, v in arrays.items()}, out=OUT)


def main():
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(20261130)
    torch.manual_seed(5)
    T, D, N = 6, 8, 3

    # self-attention: plain, causal, key padding
    m = nn.MultiheadAttention(D, 4, batch_first=True)
    case("mha_plain", "mha4", (T, D), N, gen, lambda x: m(x, x, x, need_weights=False)[0], mha_keys("0.", m))
    m2 = nn.MultiheadAttention(D, 2, batch_first=True)
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    case("mha_causal", "mha2c", (T, D), N, gen,
         lambda x: m2(x, x, x, attn_mask=causal, need_weights=False)[0], mha_keys("0.", m2))
    m3 = nn.MultiheadAttention(D, 4, batch_first=True)
    pad = torch.zeros(N, T, dtype=torch.bool)
    pad[0, 4:] = True  # sample 0: 4 real tokens; sample 1: none padded; sample 2: 2 middle ones
    pad[2, 1] = pad[2, 3] = True
    case("mha_pad", "mha4", (T, D), N, gen,
         lambda x: m3(x, x, x, key_padding_mask=pad, need_weights=False)[0], mha_keys("0.", m3),
         extra={"pad": pad.double().numpy()})
    m4 = nn.MultiheadAttention(D, 2, batch_first=True)
    case("mha_causal_pad", "mha2c", (T, D), N, gen,
         lambda x: m4(x, x, x, attn_mask=causal, key_padding_mask=pad, need_weights=False)[0],
         mha_keys("0.", m4), extra={"pad": pad.double().numpy()})

    # a pre-norm transformer block, and two in a row with a different MLP width
    b = tel(16, 4, 64)
    case("block", "block4h16", (5, 16), N, gen, lambda x: b(x), block_keys("0.", b))
    b1, b2 = tel(8, 2, 32), tel(8, 4, 12)
    params = block_keys("0.", b1)
    params.update(block_keys("1.", b2))
    case("block_stack", "block2h8,block4h8f12", (7, 8), 2, gen, lambda x: b2(b1(x)), params)

    # cross-attention to a memory computed from the same input: tmean, repeat3, fc8
    mx, lin = nn.MultiheadAttention(D, 2, batch_first=True), nn.Linear(D, D)

    def xattn(x):
        mem = lin(x.mean(1)).unsqueeze(1).repeat(1, 3, 1)
        return mx(x, mem, mem, need_weights=False)[0]
    params = mha_keys("0.", mx)
    params.update({"0.2.weight": lin.weight, "0.2.bias": lin.bias})
    case("xattn", "xattn2(tmean,repeat3,fc8)", (T, D), N, gen, xattn, params)

    # sinusoidal positions (no parameters): y = x + PE
    def sinpos(x):
        t, d = x.shape[1], x.shape[2]
        pe = torch.zeros(t, d)
        pos = torch.arange(t).unsqueeze(1).double()
        div = torch.exp(torch.arange(0, d, 2).double() * (-math.log(10000.0) / d))
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        return x + pe
    case("sinpos", "sinpos", (5, 6), 2, gen, sinpos, {})

    # a tiny vision transformer: patch, cls, pos, block, clsout, layernorm, fc
    conv = nn.Conv2d(2, 8, (2, 3), stride=(2, 3))
    cls_tok = nn.Parameter(torch.randn(1, 8, generator=gen))
    pos = nn.Parameter(torch.randn(5, 8, generator=gen) * 0.5)
    vb = tel(8, 2, 16)
    ln, head = nn.LayerNorm(8), nn.Linear(8, 3)

    def vit(x):
        t = conv(x).flatten(2).transpose(1, 2)                      # [N, 4, 8]
        t = torch.cat([cls_tok.expand(x.shape[0], 1, 8), t], 1)     # [N, 5, 8]
        t = vb(t + pos)
        return head(ln(t[:, 0]))
    params = {"0.weight": conv.weight, "0.bias": conv.bias, "1.weight": cls_tok, "2.weight": pos}
    params.update(block_keys("3.", vb))
    params.update({"5.weight": ln.weight, "5.bias": ln.bias, "6.weight": head.weight, "6.bias": head.bias})
    case("vit", "patch2x3d8,cls,pos,block2h8f16,clsout,layernorm,fc3", (2, 4, 6), 2, gen, vit, params)

    # heads of 16 (the kernel's whole-vector paths) and a causal block; a row count (9) that is
    # not a multiple of the kernel's row block
    bw = tel(32, 2, 48)
    cm = torch.triu(torch.ones(9, 9, dtype=torch.bool), 1)
    case("block_wide_causal", "block2h32f48c", (9, 32), 2, gen, lambda x: bw(x, src_mask=cm), block_keys("0.", bw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
