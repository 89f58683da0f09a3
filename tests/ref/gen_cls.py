#!/usr/bin/python3
"""Reference values for tests/test_cl_cls.c (the CLS model's episodic store), with NumPy.

Run with Debian's python3-numpy:  /usr/bin/python3 tests/ref/gen_cls.py
It rewrites tests/fixtures/cl/cls.bin (committed; the tests never need NumPy). Format:
tests/ref/gen_torch.py's write() (imported from there).

The store's read-out, computed in float64 from float32 inputs, independently of the C code:
    cos(q, k) = q . k / (|q| |k|)   (0 when either is the zero vector)
    attention:  p[i, c] = sum_j softmax_j(beta * cos(q_i, k_j)) [label_j == c]
    k-NN:       p[i, c] = (1/k) * #{j among the k keys of largest cosine : label_j == c}
Arrays: "q" [nq, kd], "keys" [ns, kd] (row 3 all zeros), "labels" [ns] (as floats), "beta",
"knn", "K", "att" [nq, K], "knn_p" [nq, K]. Queries 0 and 1 are stored keys scaled by 2.5 and
0.3 (cosine 1 with them).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "cl")


def cosine(q, k):
    qn = np.linalg.norm(q, axis=1, keepdims=True)
    kn = np.linalg.norm(k, axis=1, keepdims=True)
    qn[qn == 0] = np.inf
    kn[kn == 0] = np.inf
    return (q / qn) @ (k / kn).T


def main():
    rng = np.random.default_rng(10)
    nq, ns, kd, K, beta, knn = 7, 20, 6, 4, 5.0, 3
    keys = rng.standard_normal((ns, kd)).astype(np.float32)
    keys[3] = 0
    labels = rng.integers(0, K, ns)
    q = rng.standard_normal((nq, kd)).astype(np.float32)
    q[0] = 2.5 * keys[5]
    q[1] = 0.3 * keys[11]
    S = cosine(q.astype(np.float64), keys.astype(np.float64))
    A = np.exp(beta * (S - S.max(axis=1, keepdims=True)))
    A /= A.sum(axis=1, keepdims=True)
    onehot = np.eye(K)[labels]
    att = A @ onehot
    knn_p = np.zeros((nq, K))
    for i in range(nq):
        top = np.argsort(-S[i], kind="stable")[:knn]
        for j in top:
            knn_p[i, labels[j]] += 1.0 / knn
    write("cls", "cls readout", [nq, ns, kd, K], 0,
          {"q": q, "keys": keys, "labels": labels.astype(np.float32), "beta": np.float32(beta),
           "knn": np.float32(knn), "K": np.float32(K), "att": att, "knn_p": knn_p}, out=OUT)


if __name__ == "__main__":
    main()
