#!/usr/bin/python3
"""Reference values for tests/test_analysis_geom.c (CKA, Procrustes, ridge, PCA, power law,
cvPCA), computed once in plain NumPy.

Run with Debian's python3-numpy:  /usr/bin/python3 tests/ref/gen_linalg.py
It rewrites tests/fixtures/linalg/*.bin (committed; the tests never need Python). The file
format is tests/ref/gen_torch.py's (its write() is reused); spec holds the case name.

Inputs are rounded to float32 (what the C side reads) and everything is computed in float64
the straightforward way, independently of the C code:
  cka.bin    X1 [40,12], Y1 [40,7] (feature-space route in C), X2 [30,50], Y2 [30,60]
             (Gram route); cka1 / cka2 = [linear biased, linear unbiased, rbf biased
             (sigma_frac 1), rbf unbiased (sigma_frac 0.5)]; proc1 / proc2 = [dist, angle].
             Linear biased CKA from Kornblith et al.'s Gram formula (checked against the
             feature-space one here), unbiased HSIC from Song et al.'s definition, RBF sigma^2
             = frac^2 * median of scipy-style pdist squared distances, Procrustes from
             np.linalg.svd.
  ridge.bin  X [60,8], Y [60,3], fold [60] (0..4), alphas [7]: CV choice (alpha_sel, cv_r2)
             and the refit (W [8,3], b [3]) by np.linalg.solve of the normal equations for each
             alpha; W1, b1 the closed form at alpha1 = 3 with intercept; W0 without intercept;
             Xw [20,30], Yw [20,2]: Ww, bw at alpha 0.5 (p > n).
  geom.bin   Xa [50,8] (covariance route), Xb [20,40] (Gram route): var_*, comp_* (rows, sign
             of the largest-|.| entry positive), total_*, Z_* (projections), pr_a (participation
             ratio of var_a); pl_eig [200] a noisy power law, pl_fit = [alpha, r2] over ranks
             5..150 by weighted (1/r) least squares in log-log; cv_X1, cv_X2 [100,20] and
             cv_eig [10] (cvPCA).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "linalg")
rng = np.random.default_rng(20261130)


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def center(X):
    return X - X.mean(axis=0, keepdims=True)


# --- CKA ----------------------------------------------------------------------------------


def cka_linear_gram(X, Y):
    K, L = center(X) @ center(X).T, center(Y) @ center(Y).T
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    Kc, Lc = H @ K @ H, H @ L @ H
    return np.sum(Kc * Lc) / np.sqrt(np.sum(Kc * Kc) * np.sum(Lc * Lc))


def cka_linear_feature(X, Y):
    Xc, Yc = center(X), center(Y)
    return np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))


def rbf(X, frac):
    n = X.shape[0]
    D2 = np.array([[np.sum((X[i] - X[j]) ** 2) for j in range(n)] for i in range(n)])
    iu = np.triu_indices(n, 1)
    s2 = frac ** 2 * np.median(D2[iu])
    return np.exp(-D2 / (2 * s2))


def hsic_biased(K, L):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def hsic_unbiased(K, L):
    n = K.shape[0]
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ Kt @ Lt @ one)) / (n * (n - 3))


def cka_from(hsic, K, L):
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def procrustes(X, Y):
    Xc, Yc = center(X), center(Y)
    Xc, Yc = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    nu = np.sum(np.linalg.svd(Xc.T @ Yc, compute_uv=False))
    return [np.sqrt(max(0.0, 2 - 2 * nu)), np.arccos(min(nu, 1.0))]


def cka_case(X, Y):
    lin_b = cka_linear_gram(X, Y)
    assert abs(lin_b - cka_linear_feature(X, Y)) < 1e-12
    assert abs(lin_b - cka_from(hsic_biased, X @ X.T, Y @ Y.T)) < 1e-12
    lin_u = cka_from(hsic_unbiased, X @ X.T, Y @ Y.T)
    rbf_b = cka_from(hsic_biased, rbf(X, 1.0), rbf(Y, 1.0))
    rbf_u = cka_from(hsic_unbiased, rbf(X, 0.5), rbf(Y, 0.5))
    return [lin_b, lin_u, rbf_b, rbf_u]


def gen_cka():
    X1 = f32(rng.normal(size=(40, 12)) * np.linspace(0.5, 2, 12))
    Y1 = f32(np.tanh(X1 @ rng.normal(size=(12, 7)) / 3) + 0.3 * rng.normal(size=(40, 7)) + 1.5)
    X2 = f32(rng.normal(size=(30, 50)) + 2.0)
    Y2 = f32(np.maximum(X2 @ rng.normal(size=(50, 60)) / 7, 0) + 0.5 * rng.normal(size=(30, 60)))
    c1, c2 = cka_case(X1, Y1), cka_case(X2, Y2)
    print("cka1", c1, "cka2", c2)
    write("cka", "cka", [0, 0, 0, 0], 0,
          {"X1": X1, "Y1": Y1, "X2": X2, "Y2": Y2, "cka1": c1, "cka2": c2,
           "proc1": procrustes(X1, Y1), "proc2": procrustes(X2, Y2)}, out=OUT)


# --- ridge ----------------------------------------------------------------------------------


def ridge_solve(X, Y, a, intercept=True):
    if intercept:
        xm, ym = X.mean(0), Y.mean(0)
    else:
        xm, ym = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
    Xc, Yc = X - xm, Y - ym
    W = np.linalg.solve(Xc.T @ Xc + a * np.eye(X.shape[1]), Xc.T @ Yc)
    return W, ym - xm @ W


def gen_ridge():
    n, p, q = 60, 8, 3
    X = f32(rng.normal(size=(n, p)) + 1.0)
    Wt = rng.normal(size=(p, q))
    Wt[:, 2] *= 0.05  # target 2: mostly noise, wants a large penalty
    Y = f32(X @ Wt + np.array([0.5, -1.0, 2.0]) + rng.normal(size=(n, q)) * [0.3, 2.0, 1.0])
    fold = rng.permutation(n) % 5
    alphas = f32(10.0 ** np.linspace(-2, 4, 7))
    score = np.zeros((len(alphas), q))
    for f in range(5):
        tr, va = fold != f, fold == f
        for ai, a in enumerate(alphas):
            W, b = ridge_solve(X[tr], Y[tr], a)
            P = X[va] @ W + b
            sse = ((P - Y[va]) ** 2).sum(0)
            sst = ((Y[va] - Y[va].mean(0)) ** 2).sum(0)
            score[ai] += (1 - sse / sst) / 5
    best = np.argmax(score, axis=0)
    sel = alphas[best]
    cv_r2 = score[best, np.arange(q)]
    W = np.zeros((p, q))
    b = np.zeros(q)
    for t in range(q):
        Wt_, bt = ridge_solve(X, Y[:, t:t + 1], sel[t])
        W[:, t], b[t] = Wt_[:, 0], bt[0]
    print("ridge alpha", sel, "cv_r2", cv_r2)
    W1, b1 = ridge_solve(X, Y, 3.0)
    W0, _ = ridge_solve(X, Y, 3.0, intercept=False)
    Xw = f32(rng.normal(size=(20, 30)))
    Yw = f32(Xw @ rng.normal(size=(30, 2)) + 0.1 * rng.normal(size=(20, 2)) + 3)
    Ww, bw = ridge_solve(Xw, Yw, 0.5)
    write("ridge", "ridge", [0, 0, 0, 0], 0,
          {"X": X, "Y": Y, "fold": fold, "alphas": alphas, "alpha_sel": sel, "cv_r2": cv_r2,
           "W": W, "b": b, "W1": W1, "b1": b1, "W0": W0, "Xw": Xw, "Yw": Yw, "Ww": Ww, "bw": bw},
          out=OUT)


# --- geometry -------------------------------------------------------------------------------


def pca(X, k):
    Xc = center(X)
    C = Xc.T @ Xc / (X.shape[0] - 1)
    w, V = np.linalg.eigh(C)
    order = np.argsort(w)[::-1][:k]
    w, V = w[order], V[:, order].T
    for r in range(k):
        if V[r, np.argmax(np.abs(V[r]))] < 0:
            V[r] = -V[r]
    return w, V, np.trace(C), Xc @ V.T


def powerlaw(eig, lo, hi):
    r = np.arange(lo, hi + 1)
    y = np.log(eig[lo - 1:hi])
    x = np.log(r)
    sw = np.sqrt(1.0 / r)
    A = np.stack([x, np.ones_like(x)], 1)
    coef = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)[0]
    w = 1.0 / r
    ym = np.sum(w * y) / np.sum(w)
    res = y - A @ coef
    return [-coef[0], 1 - np.sum(w * res ** 2) / np.sum(w * (y - ym) ** 2)]


def gen_geom():
    Xa = f32(rng.normal(size=(50, 8)) @ np.diag([3, 2.5, 2, 1.5, 1, 0.7, 0.4, 0.2])
             @ np.linalg.qr(rng.normal(size=(8, 8)))[0] + 5)
    Xb = f32(rng.normal(size=(20, 40)) * np.linspace(2, 0.5, 40) - 1)
    va, ca, ta, za = pca(Xa, 8)
    vb, cb, tb, zb = pca(Xb, 19)
    pr_a = np.sum(va) ** 2 / np.sum(va ** 2)
    ranks = np.arange(1, 201)
    pl_eig = f32(ranks ** -1.2 * np.exp(0.1 * rng.normal(size=200)))
    pl_fit = powerlaw(pl_eig, 5, 150)
    n, p, k = 100, 20, 10
    S = rng.normal(size=(n, p)) * ranks[:p] ** -0.5
    X1 = f32(S + 0.3 * rng.normal(size=(n, p)))
    X2 = f32(S + 0.3 * rng.normal(size=(n, p)))
    _, V, _, _ = pca(X1, k)
    cv_eig = np.mean((center(X1) @ V.T) * (center(X2) @ V.T), axis=0)
    print("pr_a", pr_a, "pl_fit", pl_fit, "cv_eig", cv_eig[:4])
    write("geom", "geom", [0, 0, 0, 0], 0,
          {"Xa": Xa, "var_a": va, "comp_a": ca, "total_a": ta, "Z_a": za, "pr_a": pr_a,
           "Xb": Xb, "var_b": vb, "comp_b": cb, "total_b": tb, "Z_b": zb,
           "pl_eig": pl_eig, "pl_fit": pl_fit, "cv_X1": X1, "cv_X2": X2, "cv_eig": cv_eig},
          out=OUT)


if __name__ == "__main__":
    gen_cka()
    gen_ridge()
    gen_geom()
