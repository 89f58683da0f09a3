#!/usr/bin/python3
"""Reference values for tests/test_rl_td.c: TD(lambda) on the 5-state random walk of Sutton &
Barto (example 6.2), computed by a plain NumPy loop written from the textbook's equations.

Run with Debian's /usr/bin/python3 (numpy). It rewrites tests/fixtures/rl/td_random_walk.json
(committed; the test never needs Python).

The walk: states 0..4 (A..E), start in 2 (C), each step left or right with probability 1/2;
stepping left of 0 ends the episode with reward 0, right of 4 with reward 1. A fixed list of
episodes (state sequences ending in -1 or 5) is drawn once here and stored, so the C code and
this loop see the same experience. Each case runs TD(lambda) over all episodes, from w = 0,
traces cleared at each episode start:
    delta = r + gamma * w.x' - w.x      (w.x' = 0 at the terminal)
    e     = gamma * lambda * e + x                  (accumulating)
    e_i   = max(gamma * lambda * e_i, x_i)          (replacing)
    w    += alpha * delta * e
Features: one-hot (tabular) or a fixed dense 5 x 3 matrix (linear function approximation).
"""
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "rl", "td_random_walk.json")


def episodes(rng, n):
    out = []
    for _ in range(n):
        s, seq = 2, [2]
        while 0 <= s <= 4:
            s += 1 if rng.random() < 0.5 else -1
            seq.append(s)
        out.append(seq)
    return out


def run(eps, feats, alpha, gamma, lam, replace):
    w = np.zeros(feats.shape[1])
    for seq in eps:
        e = np.zeros_like(w)
        for s, s2 in zip(seq[:-1], seq[1:]):
            x = feats[s]
            terminal = not (0 <= s2 <= 4)
            r = 1.0 if s2 == 5 else 0.0
            v2 = 0.0 if terminal else w @ feats[s2]
            delta = r + gamma * v2 - w @ x
            if replace:
                e = np.maximum(gamma * lam * e, x)
            else:
                e = gamma * lam * e + x
            w = w + alpha * delta * e
    return w


def main():
    rng = np.random.default_rng(7)
    eps = episodes(rng, 20)
    dense = np.round(rng.uniform(0.0, 1.0, size=(5, 3)), 3)
    onehot = np.eye(5)
    cases = []
    for name, feats, alpha, gamma, lam, replace in [
        ("tab_td0", onehot, 0.1, 1.0, 0.0, False),
        ("tab_acc_l05", onehot, 0.1, 1.0, 0.5, False),
        ("tab_acc_l09_g09", onehot, 0.05, 0.9, 0.9, False),
        ("tab_rep_l09_g09", onehot, 0.05, 0.9, 0.9, True),
        ("tab_acc_l1", onehot, 0.1, 1.0, 1.0, False),
        ("lin_acc_l07", dense, 0.05, 0.95, 0.7, False),
        ("lin_rep_l07", dense, 0.05, 0.95, 0.7, True),
    ]:
        w = run(eps, feats, alpha, gamma, lam, replace)
        cases.append({"name": name, "features": "onehot" if feats is onehot else "dense", "alpha": alpha,
                      "gamma": gamma, "lambda": lam, "replace": int(replace), "w": [float(v) for v in w]})
    doc = {"generator": "tests/ref/gen_rl_td.py", "episodes": eps, "dense": dense.tolist(), "cases": cases}
    with open(OUT, "w") as f:
        json.dump(doc, f)
        f.write("\n")


if __name__ == "__main__":
    main()
