#!/usr/bin/python3
"""Reference values for tests/test_neuro_latent.c: Gaussian smoothing, PCA and factor
analysis by EM, written with NumPy from the textbook definitions (Ghahramani & Hinton 1996's
EM for FA, started from PCA as soma/neuro.h documents: C = top eigenvectors * sqrt(eigenvalue),
R = the variances; private variances floored at 1e-3 * variance).

Run:  /usr/bin/python3 tests/ref/gen_latent.py   -> tests/fixtures/neuro/latent.bin (committed)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "neuro")


def smooth(x, sd):
    """x [K, T, U]: per trial, a Gaussian of sd bins truncated at ceil(4 sd), renormalised at edges."""
    K, T, U = x.shape
    h = min(int(np.ceil(4 * sd)), T - 1)
    y = np.zeros_like(x)
    for t in range(T):
        s = np.arange(max(0, t - h), min(T - 1, t + h) + 1)
        w = np.exp(-0.5 * (s - t) ** 2 / sd**2)
        y[:, t, :] = np.tensordot(w / w.sum(), x[:, s, :], axes=([0], [1]))
    return y


def fa_em(Y, L, iters):
    n, p = Y.shape
    mu = Y.mean(0)
    S = (Y - mu).T @ (Y - mu) / n
    lam, V = np.linalg.eigh(S)
    C = V[:, ::-1][:, :L] * np.sqrt(np.maximum(lam[::-1][:L], 0))
    floor = np.maximum(1e-3 * np.diag(S), 1e-9)
    R = np.maximum(np.diag(S).copy(), floor)
    lls = []
    for it in range(iters + 1):
        Sigma = C @ C.T + np.diag(R)
        _, logdet = np.linalg.slogdet(Sigma)
        lls.append(-0.5 * (p * np.log(2 * np.pi) + logdet + np.trace(np.linalg.solve(Sigma, S))))
        if it == iters:
            break
        beta = C.T @ np.linalg.inv(Sigma)
        Ezz = np.eye(L) - beta @ C + beta @ S @ beta.T
        C = S @ beta.T @ np.linalg.inv(Ezz)
        R = np.maximum(np.diag(S - C @ beta @ S), floor)
    return C, R, mu, np.array(lls)


def main():
    rng = np.random.default_rng(5)
    K, T, U, L = 4, 30, 8, 2
    z = np.cumsum(rng.normal(size=(K, T, L)), axis=1) * 0.3
    W = rng.normal(size=(L, U)) * 0.6
    counts = rng.poisson(np.exp(0.3 + z @ W)).astype(np.float32).astype(np.float64)
    sm = smooth(counts, 2.0)  # smooth_ms 20 at bin_ms 10
    Y = sm.reshape(-1, U)
    mu = Y.mean(0)
    lam, V = np.linalg.eigh((Y - mu).T @ (Y - mu) / len(Y))
    Vk = V[:, ::-1][:, :L]
    recon = (Y - mu) @ Vk @ Vk.T + mu  # sign-free: the projection onto the top-L subspace
    C, R, d, lls = fa_em(Y, L, 15)
    write("latent", "latent smooth pca fa", [K, T, U, L], 0,
          dict(counts=counts, smoothed=sm, pca_recon=recon, pca_var=lam[::-1][:L], fa_ll=lls, fa_R=R, fa_CCt=C @ C.T,
               fa_d=d), out=OUT)
    print("fa ll", lls[0], lls[-1])


if __name__ == "__main__":
    main()
