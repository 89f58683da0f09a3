#!/usr/bin/python3
"""Reference values for tests/test_vae.c (the VAE's negative ELBO and its gradients), computed
once with PyTorch, independently of the C code.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_vae.py
It rewrites tests/fixtures/vae/*.bin (committed; the tests never need PyTorch), in the
"SOMANNFX" format of tests/ref/gen_torch.py (its write() is reused).

Each case: an encoder Linear(D,H), ReLU, Linear(H,2L) (output: L means, then L log-variances)
and a decoder Linear(L,H), ReLU, Linear(H,OD), weights drawn here; a batch x [n,D] and the
reparameterisation noise eps [n,L]. Arrays: "x", "eps", "enc.<p>", "dec.<p>" (PyTorch's
state_dict names and layouts), "loss", "rec", "kl" (means over rows; loss = rec + beta kl),
the gradients "enc.<p>.grad", "dec.<p>.grad" of the loss, and "meta" = [beta, logvar,
learn_var, lik] (lik 0 bernoulli, 1 gaussian, 2 poisson).
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "vae")
N, D, H, L = 5, 7, 6, 3


def case(name, lik, beta, logvar=0.0, learn_var=False, seed=0):
    torch.manual_seed(seed)
    od = 2 * D if learn_var else D
    enc = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, 2 * L)).double()
    dec = nn.Sequential(nn.Linear(L, H), nn.ReLU(), nn.Linear(H, od)).double()
    for p in list(enc.parameters()) + list(dec.parameters()):  # float32-representable values
        p.data = p.data.float().double()
    if lik == 0:
        x = torch.rand(N, D).float().double()
    elif lik == 1:
        x = torch.randn(N, D).float().double()
    else:
        x = torch.poisson(torch.full((N, D), 2.0)).double()
    eps = torch.randn(N, L).float().double()
    h = enc(x)
    mu, lv = h[:, :L], h[:, L:]
    z = mu + torch.exp(0.5 * lv) * eps
    y = dec(z)
    if lik == 0:
        nll = torch.nn.functional.binary_cross_entropy_with_logits(y, x, reduction="none").sum(1)
    elif lik == 1:
        m = y[:, :D]
        v = y[:, D:] if learn_var else torch.full_like(m, logvar)
        nll = (0.5 * ((x - m) ** 2 * torch.exp(-v) + v + math.log(2 * math.pi))).sum(1)
    else:
        nll = (torch.exp(y) - x * y + torch.lgamma(x + 1)).sum(1)
    kl = (0.5 * (mu ** 2 + torch.exp(lv) - 1 - lv)).sum(1)
    rec, klm = nll.mean(), kl.mean()
    loss = rec + beta * klm
    loss.backward()
    arrays = {"x": x.numpy(), "eps": eps.numpy(), "meta": np.array([beta, logvar, float(learn_var), float(lik)])}
    for pre, net in (("enc", enc), ("dec", dec)):
        for k, p in net.state_dict().items():
            arrays[f"{pre}.{k}"] = p.numpy()
        for k, p in net.named_parameters():
            arrays[f"{pre}.{k}.grad"] = p.grad.numpy()
    arrays["loss"] = np.array([loss.item()])
    arrays["rec"] = np.array([rec.item()])
    arrays["kl"] = np.array([klm.item()])
    write(name, f"fc{H},relu", (N, D, 1, 1), 1, arrays, out=OUT)


if __name__ == "__main__":
    case("bernoulli", 0, 0.7, seed=1)
    case("gaussian", 1, 1.0, logvar=0.5, seed=2)
    case("gaussian_learned", 1, 0.3, learn_var=True, seed=3)
    case("poisson", 2, 1.0, seed=4)
