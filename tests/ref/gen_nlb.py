#!/usr/bin/python3
"""Reference values for tests/test_neuro_metrics.c: the Neural Latents Benchmark's metrics
computed with NumPy from their published definitions (nlb_tools evaluation.py and sklearn's
Ridge / GridSearchCV / KFold / r2_score, re-derived here without sklearn).

Run:  /usr/bin/python3 tests/ref/gen_nlb.py   -> tests/fixtures/neuro/nlb.bin (committed)
Every value is computed in float64 from the float32 inputs stored beside it.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_torch import write  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "neuro")
f32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)


def nll(rates, spikes):
    m = ~np.isnan(spikes)
    r, k = rates[m].copy(), spikes[m]
    r[r == 0] = 1e-9
    return np.sum(r - k * np.log(r))  # log k! is the same in model and null: left out


def bits_per_spike(rates, spikes):
    null = np.tile(np.nanmean(spikes, axis=(0, 1), keepdims=True), (spikes.shape[0], spikes.shape[1], 1))
    return (nll(null, spikes) - nll(rates, spikes)) / np.nansum(spikes) / np.log(2)


def r2_score(y, yhat, weighted):
    res = ((y - yhat) ** 2).sum(0)
    tot = ((y - y.mean(0)) ** 2).sum(0)
    if weighted:
        return 1 - res.sum() / tot.sum()
    per = np.where(tot != 0, 1 - res / np.where(tot != 0, tot, 1), np.where(res == 0, 1.0, 0.0))
    return per.mean()


def ridge(X, Y, alpha):
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ Yc)
    return W, my - mx @ W


def vel_r2(Xt, Yt, Xe, Ye):
    kt, ke = ~np.isnan(Yt[:, 0]), ~np.isnan(Ye[:, 0])
    Xt, Yt, Xe, Ye = Xt[kt], Yt[kt], Xe[ke], Ye[ke]
    n = len(Xt)
    sizes = np.full(5, n // 5)
    sizes[: n % 5] += 1
    edges = np.concatenate([[0], np.cumsum(sizes)])
    best, best_a = -np.inf, None
    for a in np.logspace(-4, 0, 9):
        s = []
        for f in range(5):
            te = np.arange(edges[f], edges[f + 1])
            tr = np.setdiff1d(np.arange(n), te)
            W, b = ridge(Xt[tr], Yt[tr], a)
            s.append(r2_score(Yt[te], Xt[te] @ W + b, False))
        if np.mean(s) > best:
            best, best_a = np.mean(s), a
    W, b = ridge(Xt, Yt, best_a)
    return r2_score(Ye, Xe @ W + b, False), best_a


def main():
    rng = np.random.default_rng(12)
    arrays = {}
    # bits per spike: [trials, bins, units]; one NaN count (masked) and one zero rate
    lat = np.sin(np.linspace(0, 6, 20))[None, :, None] * rng.normal(size=(1, 1, 5))
    true = np.exp(-1.0 + lat + 0.3 * rng.normal(size=(6, 1, 5)))
    spikes = rng.poisson(true).astype(np.float64)
    spikes[2, 3, 1] = np.nan
    rates = f32(true * np.exp(0.2 * rng.normal(size=true.shape)))
    rates[4, 5, 2] = 0.0
    spikes = f32(spikes)
    arrays.update(bps_rates=rates, bps_spikes=spikes, bps=[bits_per_spike(rates, spikes)])
    bad = f32(0.3 * np.ones_like(rates))
    arrays["bps_flat"] = [bits_per_spike(bad, spikes)]
    # velocity decoding
    Xt, Xe = f32(rng.gamma(2.0, 1.0, size=(203, 8))), f32(rng.gamma(2.0, 1.0, size=(81, 8)))
    A = rng.normal(size=(8, 3))
    Yt = f32(Xt @ A + 2.0 * rng.normal(size=(203, 3)))
    Ye = f32(Xe @ A + 2.0 * rng.normal(size=(81, 3)))
    Yt[7, :] = np.nan
    Ye[3, :] = np.nan
    r2, a = vel_r2(Xt, Yt, Xe, Ye)
    arrays.update(vel_xt=Xt, vel_yt=Yt, vel_xe=Xe, vel_ye=Ye, vel_r2=[r2], vel_alpha=[a])
    # PSTH R2: 7 trials in 3 conditions, 20 bins, 5 units; one NaN bin in condition 1
    psth = f32(np.exp(rng.normal(size=(3, 20, 5))))
    psth[1, 4, :] = np.nan
    cond = np.array([0, 1, 2, 0, 1, 2, 0])
    prates = f32(np.nan_to_num(psth[cond], nan=1.0) + 0.3 * rng.normal(size=(7, 20, 5)))
    ps = psth[cond].reshape(-1, 5)
    keep = ~np.isnan(ps[:, 0])
    arrays.update(psth=psth, psth_cond=cond, psth_rates=prates,
                  psth_r2=[r2_score(ps[keep], prates.reshape(-1, 5)[keep], False)])
    # latent R2: affine map from inferred [n, 4] to true [n, 3], fit on 150 rows, scored on 100
    zt = f32(rng.normal(size=(150, 4)))
    ze = f32(rng.normal(size=(100, 4)))
    M = rng.normal(size=(4, 3))
    tt = f32(zt @ M + 1.5 + 0.5 * rng.normal(size=(150, 3)) * [1, 2, 0.2])
    te = f32(ze @ M + 1.5 + 0.5 * rng.normal(size=(100, 3)) * [1, 2, 0.2])
    W, b = ridge(zt, tt, 0.0)
    arrays.update(lat_zt=zt, lat_tt=tt, lat_ze=ze, lat_te=te, lat_r2=[r2_score(te, ze @ W + b, True)],
                  lat_r2_in=[r2_score(tt, zt @ W + b, True)], lat_r2_uniform=[r2_score(te, ze @ W + b, False)])
    write("nlb", "nlb metrics", [0, 0, 0, 0], 0, arrays, out=OUT)
    for k in ("bps", "bps_flat", "vel_r2", "vel_alpha", "psth_r2", "lat_r2", "lat_r2_in", "lat_r2_uniform"):
        print(k, arrays[k][0])


if __name__ == "__main__":
    main()
