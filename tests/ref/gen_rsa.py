#!/usr/bin/python3
"""Reference values for tests/test_analysis_rsa.c, computed once with NumPy and SciPy.

Run with Debian's python3-numpy and python3-scipy:  /usr/bin/python3 tests/ref/gen_rsa.py
It rewrites tests/fixtures/rsa/*.bin (committed; the tests never need Python).

Format: tests/ref/gen_torch.py's ("SOMANNFX", version 1, named float32 arrays; spec holds
the case name, the shape fields hold n, p, n_rep). Inputs are drawn, rounded to float32, and
every reference is computed in float64 from those float32 values, so both sides start from
the same numbers.

Written the plain way, independently of the C code:
  RDMs        scipy.spatial.distance.pdist (euclidean, sqeuclidean, correlation, cosine);
              mahalanobis as pdist(..., "mahalanobis", VI=inv(S))**2 / p;
              crossnobis as the mean over ordered pairs of distinct repetitions (a, b) of
              (x_ia - x_ja)' inv(S) (x_ib - x_jb) / p, looped over condition pairs.
  Shrinkage   Ledoit & Wolf (2004) on the 1/N covariance B of the residual rows e_k:
              mu = tr(B)/p, d2 = ||B - mu I||^2 / p,
              b2 = min(d2, sum_k ||e_k e_k' - B||_F^2 / N^2 / p) (each outer product formed),
              w = b2/d2, S = (1 - w) C + w tr(C)/p I with C the ddof covariance
              (np.cov-style: residual dof n (R - 1), or n - 1 for single repetitions).
  Comparators np.corrcoef (pearson), scipy.stats.spearmanr, tau-a from its definition
              (sum of sign products over all pairs / (m(m-1)/2)), cosine, and the whitened
              cosine a' inv(V) b / sqrt(a' inv(V) a b' inv(V) b) with V = (C C')**2 built from
              the pair-contrast matrix C and solved densely with np.linalg.solve; the masked
              variant solves the principal submatrix of the kept pairs.
"""
import itertools
import os
import struct

import numpy as np
import scipy.spatial.distance as ssd
import scipy.stats

MAGIC = b"SOMANNFX"
VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "rsa")


def write(name, shape, arrays):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".bin")
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<i", VERSION))
        f.write(name.encode().ljust(128, b"\0"))
        f.write(struct.pack("<5i", *shape, 0, 0))
        f.write(struct.pack("<i", len(arrays)))
        for key, a in arrays.items():
            a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
            if a.ndim == 0:
                a = a.reshape(1)
            assert 1 <= a.ndim <= 4, (key, a.shape)
            dims = list(a.shape) + [0] * (4 - a.ndim)
            f.write(key.encode().ljust(32, b"\0"))
            f.write(struct.pack("<5i", a.ndim, *dims))
            f.write(a.astype("<f4").tobytes())
    print(f"{path}: {os.path.getsize(path)} bytes")


def f32(x):
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def residuals(X):
    """Residual rows and their dof: X [n, p] or [n, p, R]."""
    if X.ndim == 2:
        return X - X.mean(axis=0), X.shape[0] - 1
    n, p, R = X.shape
    E = (X - X.mean(axis=2, keepdims=True)).transpose(0, 2, 1).reshape(n * R, p)
    return E, n * (R - 1)


def shrink_cov(X, w):
    E, dof = residuals(X)
    N, p = E.shape
    C = E.T @ E / dof
    if w < 0:
        B = E.T @ E / N
        mu = np.trace(B) / p
        d2 = np.sum((B - mu * np.eye(p)) ** 2) / p
        bb = sum(np.sum((np.outer(e, e) - B) ** 2) for e in E) / N ** 2 / p
        b2 = min(d2, bb)
        w = b2 / d2 if d2 > 0 else 0.0
    S = (1 - w) * C + w * np.trace(C) / p * np.eye(p)
    return S, w


def crossnobis(X, S):
    n, p, R = X.shape
    Si = np.linalg.inv(S)
    out = []
    for i, j in itertools.combinations(range(n), 2):
        d = X[i] - X[j]  # [p, R]
        acc = [d[:, a] @ Si @ d[:, b] for a in range(R) for b in range(R) if a != b]
        out.append(np.mean(acc) / p)
    return np.array(out)


def rdm_cases(rng):
    # single repetition, patterns with a common offset (tests the Gram route's cancellation)
    n, p = 12, 7
    X = f32(rng.normal(size=(n, p)) + rng.normal(size=(n, 1)) + 50.0)
    arr = {"X": X}
    for m in ("euclidean", "sqeuclidean", "correlation", "cosine"):
        arr[m] = ssd.pdist(X, m)
    S, w = shrink_cov(X, -1.0)
    arr["lw_w"] = [w]
    arr["lw_S"] = S
    arr["maha_lw"] = ssd.pdist(X, "mahalanobis", VI=np.linalg.inv(S)) ** 2 / p
    S3, _ = shrink_cov(X, 0.3)
    arr["maha_03"] = ssd.pdist(X, "mahalanobis", VI=np.linalg.inv(S3)) ** 2 / p
    write("rdm_single", (n, p, 1), arr)

    # repetitions: [n, p, R]
    n, p, R = 9, 5, 4
    mu = rng.normal(size=(n, p, 1))
    X = f32(mu + 0.7 * rng.normal(size=(n, p, R)))
    M = X.mean(axis=2)
    arr = {"X": X.reshape(n, p * R)}
    for m in ("euclidean", "correlation"):
        arr[m] = ssd.pdist(M, m)
    S, w = shrink_cov(X, -1.0)
    arr["lw_w"] = [w]
    arr["lw_S"] = S
    arr["maha_lw"] = ssd.pdist(M, "mahalanobis", VI=np.linalg.inv(S)) ** 2 / p
    arr["xnobis_lw"] = crossnobis(X, S)
    S0, _ = shrink_cov(X, 0.0)
    arr["xnobis_0"] = crossnobis(X, S0)
    write("rdm_reps", (n, p, R), arr)

    # the bench's shape, small: many features, correlation and euclidean through the Gram route
    n, p = 40, 3000
    X = f32(rng.normal(size=(n, p)) * rng.uniform(0.5, 2.0, size=(n, 1)) + rng.normal(size=(1, p)))
    write("rdm_wide", (n, p, 1), {"X": X, "euclidean": ssd.pdist(X, "euclidean"),
                                  "correlation": ssd.pdist(X, "correlation")})


def pair_contrasts(n):
    pairs = list(itertools.combinations(range(n), 2))
    C = np.zeros((len(pairs), n))
    for k, (i, j) in enumerate(pairs):
        C[k, i], C[k, j] = 1.0, -1.0
    return C


def whitened_cosine(a, b, V):
    wa, wb = np.linalg.solve(V, a), np.linalg.solve(V, b)
    return a @ wb / np.sqrt((a @ wa) * (b @ wb))


def tau_a(a, b):
    m = len(a)
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    return np.sum(np.triu(sa * sb, 1)) / (m * (m - 1) / 2)


def compare_cases(rng):
    n = 15
    m = n * (n - 1) // 2
    C = pair_contrasts(n)
    V = (C @ C.T) ** 2
    for name, ties in (("cmp_plain", False), ("cmp_ties", True)):
        a = rng.gamma(2.0, size=m)
        b = 0.5 * a + rng.gamma(2.0, size=m)
        if ties:
            a, b = np.round(a * 2) / 2, np.round(b)
        a, b = f32(a), f32(b)
        arr = {"a": a, "b": b,
               "pearson": [np.corrcoef(a, b)[0, 1]],
               "spearman": [scipy.stats.spearmanr(a, b)[0]],
               "kendall_a": [tau_a(a, b)],
               "cosine": [a @ b / np.sqrt((a @ a) * (b @ b))],
               "whitened_cosine": [whitened_cosine(a, b, V)]}
        # a mask as in a condition bootstrap (pairs of a repeated condition dropped)
        keep = rng.uniform(size=m) > 0.2
        Vs = V[np.ix_(keep, keep)]
        arr["mask"] = keep.astype(np.float64)
        arr["whitened_cosine_masked"] = [whitened_cosine(a[keep], b[keep], Vs)]
        arr["vinv_a"] = np.linalg.solve(V, a)
        write(name, (n, m, 1), arr)




def holm(p):
    k = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(k)
    run = 0.0
    for i, j in enumerate(order):
        run = max(run, min(1.0, (k - i) * p[j]))
        adj[j] = run
    return adj


def eval_case(rng):
    """soma_rsa_evaluate without bootstrap (Spearman, Holm): subject scores by
    scipy.stats.spearmanr, se = sd/sqrt(S), p_zero by ttest_1samp(alternative='greater'),
    pairwise p by ttest_rel (two-sided) then Holm; the noise ceiling from the mean of the
    subjects' rank-transformed RDMs (scipy.stats.rankdata)."""
    n, S, M = 10, 6, 3
    m = n * (n - 1) // 2
    truth = rng.gamma(2.0, size=m)
    data = f32(truth[None, :] + 1.2 * rng.normal(size=(S, m)))
    models = f32(np.stack([truth + 0.5 * rng.normal(size=m), truth + 2.0 * rng.normal(size=m),
                           rng.gamma(2.0, size=m)]))
    subj = np.array([[scipy.stats.spearmanr(mo, d)[0] for d in data] for mo in models])
    score = subj.mean(axis=1)
    se = subj.std(axis=1, ddof=1) / np.sqrt(S)
    p_zero = np.array([scipy.stats.ttest_1samp(x, 0.0, alternative="greater").pvalue for x in subj])
    pairs = [(i, j) for i in range(M) for j in range(i + 1, M)]
    pp = holm(np.array([scipy.stats.ttest_rel(subj[i], subj[j]).pvalue for i, j in pairs]))
    P = np.eye(M)
    for (i, j), v in zip(pairs, pp):
        P[i, j] = P[j, i] = v
    Z = np.stack([scipy.stats.rankdata(d) for d in data])
    lower = np.mean([scipy.stats.spearmanr(data[s], np.delete(Z, s, axis=0).mean(axis=0))[0] for s in range(S)])
    upper = np.mean([scipy.stats.spearmanr(data[s], Z.mean(axis=0))[0] for s in range(S)])
    write("eval_spearman", (n, S, M), {"models": models, "data": data, "subj": subj, "score": score, "se": se,
                                       "p_zero": p_zero, "p_pair": P, "ceiling": [lower, upper]})


def main():
    rng = np.random.default_rng(20261130)
    rdm_cases(rng)
    compare_cases(rng)
    eval_case(rng)


if __name__ == "__main__":
    main()
