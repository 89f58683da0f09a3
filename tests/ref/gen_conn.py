#!/usr/bin/python3
"""Reference values for tests/test_neuro_conn.c: AUROC, AUPRC and ROC curves of edge scores,
computed with NumPy/SciPy from their definitions (independently of src/neuro/metrics_conn.c).

AUROC: the Mann-Whitney statistic from average ranks (ties count half).
AUPRC: average precision as sklearn's average_precision_score defines it,
       sum over distinct thresholds (descending) of (R_k - R_{k-1}) * P_k.
ROC:   (FPR, TPR) after each distinct threshold, from (0, 0).

Run: /usr/bin/python3 tests/ref/gen_conn.py  (writes tests/fixtures/conn/auc.bin)."""
import os
import sys

import numpy as np
from scipy.stats import rankdata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402  (the SOMANNFX fixture format)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "conn")


def auroc(s, y):
    r = rankdata(s)  # average ranks for ties
    p = y.sum()
    n = len(y) - p
    return (r[y == 1].sum() - p * (p + 1) / 2) / (p * n)


def auprc(s, y):
    ts = np.unique(s)[::-1]
    p = y.sum()
    ap, prev_r = 0.0, 0.0
    for t in ts:
        sel = s >= t
        tp = (y[sel] == 1).sum()
        rec, prec = tp / p, tp / sel.sum()
        ap += (rec - prev_r) * prec
        prev_r = rec
    return ap


def roc(s, y):
    ts = np.unique(s)[::-1]
    p, n = y.sum(), len(y) - y.sum()
    fpr, tpr = [0.0], [0.0]
    for t in ts:
        sel = s >= t
        tpr.append((y[sel] == 1).sum() / p)
        fpr.append((y[sel] == 0).sum() / n)
    return np.array(fpr), np.array(tpr)


def main():
    rng = np.random.default_rng(12)
    arrays = {}
    cases = [(60, 0.3, None), (200, 0.1, 1), (31, 0.5, 0)]  # n, positive fraction, rounding (ties)
    for c, (n, frac, dec) in enumerate(cases):
        y = (rng.random(n) < frac).astype(np.float64)
        y[0], y[1] = 1, 0  # both classes present
        s = rng.normal(size=n) + 1.2 * y
        if dec is not None:
            s = np.round(s, dec)
        s = s.astype(np.float32).astype(np.float64)
        fpr, tpr = roc(s, y)
        arrays[f"score{c}"] = s
        arrays[f"label{c}"] = y
        arrays[f"auc{c}"] = np.array([auroc(s, y), auprc(s, y)])
        arrays[f"fpr{c}"] = fpr
        arrays[f"tpr{c}"] = tpr
    write("auc", "conn: auroc auprc roc", (len(cases), 0, 0, 0), 0, arrays, out=OUT)


if __name__ == "__main__":
    main()
