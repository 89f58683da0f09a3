#!/usr/bin/python3
"""Reference values for tests/test_hopfield.c, computed once with NumPy (float64) and PyTorch.

Run with Debian's python3-numpy and python3-torch:  /usr/bin/python3 tests/ref/gen_hopfield.py
It rewrites tests/fixtures/nn/hopfield.bin (committed; the tests never need NumPy).
Format: tests/ref/gen_torch.py's SOMANNFX files (write() is reused from there).

Classical network (Hopfield 1982), N = 64 units, P = 6 random +-1 patterns (even, so that fields can be 0: ties):
  "cls.patterns" [P, N], "cls.W" = 1/N sum xi xi^T with a zero diagonal [N, N],
  "cls.cues" [B, N] (patterns with 12 of 64 bits flipped, and random states),
  "cls.sync1" one synchronous update sign(W s) keeping s_i on a tie, "cls.sync_fix" synchronous
  updates until nothing changes (or 50 steps), "cls.energy" -1/2 s^T W s of each cue.
Modern network (Ramsauer et al. 2020), M = 7 patterns of d = 12 (rows of "mhn.P"), beta 0.8:
  "mhn.cues" [B, d], "mhn.out1" one update P^T softmax(beta P xi), "mhn.out3" three updates,
  "mhn.probs1" the softmax weights of the first, "mhn.energy"
  -1/beta log sum exp(beta P xi) + 1/2 |xi|^2 + 1/beta log M + 1/2 max |x_mu|^2,
  "mhn.attn_torch" torch.softmax(Q K^T * beta) V with Q = cues, K = V = P (float64),
  "mhn.delta" the separation x_mu^T x_mu - max_{nu != mu} x_mu^T x_nu, "mhn.bound" the
  separation of Ramsauer et al.'s Theorem 3, 2/(beta M) + 1/beta log(2 (M-1) M beta r^2).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "nn")


def classical(rng):
    N, P = 64, 6
    # h_i mod 4 = sum_j C_ij mod 4 whatever the state (C = N W, entries even): a unit can tie
    # only when its row sums to 0 mod 4, so draw pattern sets until some units can tie
    while True:
        xi = rng.choice([-1.0, 1.0], size=(P, N))
        C = xi.T @ xi
        np.fill_diagonal(C, 0.0)
        if (C.sum(axis=1) % 4 == 0).sum() >= N // 4:
            break
    W = C / N
    cues = []
    for mu in range(P):
        c = xi[mu].copy()
        c[rng.choice(N, 12, replace=False)] *= -1
        cues.append(c)
    for _ in range(3):
        cues.append(rng.choice([-1.0, 1.0], size=N))
    cues = np.array(cues)

    def step(S):
        H = S @ W  # W symmetric: row i of H is (W s_i)^T
        # the fields are integers / N; round away the float noise before the sign test
        Hi = np.rint(H * N)
        return np.where(Hi > 0, 1.0, np.where(Hi < 0, -1.0, S))

    sync1 = step(cues)
    ties = int((np.rint(cues @ W * N) == 0).sum())
    assert ties > 0, "no ties: the tie rule would go untested"
    print(f"classical: {ties} zero fields in the first step")
    S = cues.copy()
    for _ in range(50):
        S2 = step(S)
        if np.array_equal(S2, S):
            break
        S = S2
    energy = -0.5 * np.einsum("bi,ij,bj->b", cues, W, cues)
    return {"cls.patterns": xi, "cls.W": W, "cls.cues": cues, "cls.sync1": sync1, "cls.sync_fix": S,
            "cls.energy": energy}


def modern(rng):
    M, d, B, beta = 7, 12, 5, 0.8
    P = rng.normal(size=(M, d)).astype(np.float32).astype(np.float64)
    cues = rng.normal(size=(B, d)).astype(np.float32).astype(np.float64)
    cues[0] = P[2] + 0.1 * cues[0]  # one cue near a stored pattern

    def softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def update(X):
        p = softmax(beta * X @ P.T)
        return p @ P, p

    out1, probs1 = update(cues)
    out3 = out1
    for _ in range(2):
        out3, _ = update(out3)
    r2 = (P * P).sum(axis=1).max()
    z = beta * cues @ P.T
    zm = z.max(axis=1)
    lse = (zm + np.log(np.exp(z - zm[:, None]).sum(axis=1))) / beta
    energy = -lse + 0.5 * (cues * cues).sum(axis=1) + np.log(M) / beta + 0.5 * r2
    q = torch.tensor(cues)
    k = v = torch.tensor(P)
    attn = (torch.softmax(q @ k.T * beta, dim=-1) @ v).numpy()
    G = P @ P.T
    off = G.copy()
    np.fill_diagonal(off, -np.inf)
    delta = np.diag(G) - off.max(axis=1)
    bound = 2.0 / (beta * M) + np.log(2.0 * (M - 1) * M * beta * r2) / beta
    return {"mhn.P": P, "mhn.cues": cues, "mhn.beta": np.array([beta]), "mhn.out1": out1, "mhn.out3": out3,
            "mhn.probs1": probs1, "mhn.energy": energy, "mhn.attn_torch": attn, "mhn.delta": delta,
            "mhn.bound": np.array([bound])}


def main():
    rng = np.random.default_rng(20201011)
    arrays = classical(rng)
    arrays.update(modern(rng))
    write("hopfield", "hopfield", (0, 0, 0, 0), 0, arrays, out=OUT)


if __name__ == "__main__":
    main()
