#!/usr/bin/python3
"""NumPy/SciPy's side of bench/vs_numpy.sh: times one RSA computation, prints one JSON line.

    numpy_rsa.py rdm METRIC N P SEED     RDM of N x P standard-normal data, two ways:
                                         scipy.spatial.distance.pdist ("seconds"), and the
                                         NumPy Gram-matrix route X X' ("gram_seconds")
    numpy_rsa.py perm N N_PERM SEED      Spearman permutation test of two random RDMs of N
                                         conditions, a Python loop over permutations doing what
                                         soma does: ranks computed once, then per permutation
                                         the relabelled rank matrix, condensed, and its Pearson
                                         r with the fixed z-scored ranks of a

Only the computation is timed (time.perf_counter); the data are drawn before.
"""
import json
import sys
import time

import numpy as np
import scipy.spatial.distance as ssd
import scipy.stats


def gram_rdm(X, metric):
    if metric == "correlation":
        Y = X - X.mean(axis=1, keepdims=True)
        G = Y @ Y.T
        d = np.sqrt(np.diag(G))
        D = 1.0 - G / np.outer(d, d)
    else:
        Y = X - X.mean(axis=0)
        G = Y @ Y.T
        g = np.diag(G)
        D = np.sqrt(np.maximum(g[:, None] + g[None, :] - 2.0 * G, 0.0))
    iu = np.triu_indices(X.shape[0], 1)
    return D[iu]


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "rdm":
        metric, n, p, seed = a[1], int(a[2]), int(a[3]), int(a[4])
        X = np.random.default_rng(seed).standard_normal((n, p))
        t0 = time.perf_counter()
        r1 = ssd.pdist(X, metric)
        t1 = time.perf_counter()
        r2 = gram_rdm(X, metric)
        t2 = time.perf_counter()
        assert np.allclose(r1, r2, rtol=1e-6, atol=1e-9), "gram route disagrees with pdist"
        print(json.dumps({"task": "rdm-" + metric, "n": n, "p": p, "seconds": t1 - t0,
                          "gram_seconds": t2 - t1, "mean": float(r1.mean())}))
    elif len(a) == 4 and a[0] == "perm":
        n, n_perm, seed = int(a[1]), int(a[2]), int(a[3])
        rng = np.random.default_rng(seed)
        m = n * (n - 1) // 2
        x = rng.uniform(size=m)
        y = x + rng.standard_normal(m)
        iu = np.triu_indices(n, 1)
        t0 = time.perf_counter()
        za = scipy.stats.zscore(scipy.stats.rankdata(x))
        rb = ssd.squareform(scipy.stats.rankdata(y))
        zb = scipy.stats.zscore(rb[iu])
        obs = float(za @ zb) / m
        count = 0
        prng = np.random.default_rng(seed + 1)
        for _ in range(n_perm):
            perm = prng.permutation(n)
            v = rb[np.ix_(perm, perm)][iu]
            v = (v - v.mean()) / v.std()
            if float(za @ v) / m >= obs:
                count += 1
        t1 = time.perf_counter()
        print(json.dumps({"task": "perm-spearman", "n": n, "n_perm": n_perm, "seconds": t1 - t0,
                          "value": obs, "p": (1 + count) / (1 + n_perm)}))
    else:
        sys.exit("usage: numpy_rsa.py rdm METRIC N P SEED | numpy_rsa.py perm N N_PERM SEED")


if __name__ == "__main__":
    main()
