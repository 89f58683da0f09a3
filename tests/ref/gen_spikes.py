#!/usr/bin/python3
"""Reference values for tests/test_analysis_spikes.c, computed once with NumPy and SciPy.

Run with Debian's python3-numpy and python3-scipy:  /usr/bin/python3 tests/ref/gen_spikes.py
It rewrites tests/fixtures/spikes/*.bin (committed; the tests never need Python).

The file format is tests/ref/gen_torch.py's ("SOMANNFX", version 1, named float32 arrays);
spec holds the case name, the shape fields are unused. Spike times lie on a grid of 1/16 ms,
so float32 holds them exactly and both sides compute from the same numbers.

Spike-train cases (arrays):
    meta      [n_neurons, t_start, t_stop, bin]   (ms)
    id, t     the spikes in time order
    rates     [N] Hz          cv [N] (NaN where undefined)     mean_cv [1]
    fano [1]  corr [1] (all pairs)     chi [1]     pop_rate [B] Hz
Spectrum cases: x [n], meta [dt, fmin], peak [peak_hz, peak_ratio].

The definitions are those documented at the top of src/analysis/spikes.c, written here
independently with NumPy (counts as a dense [neurons, bins] matrix, np.corrcoef, np.var,
scipy.stats.variation, scipy.signal.welch).
"""
import os
import struct

import numpy as np
import scipy.signal
import scipy.stats

MAGIC = b"SOMANNFX"
VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "spikes")
GRID = 1.0 / 16  # ms


def write(name, arrays):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<i", VERSION))
        f.write(name.encode().ljust(128, b"\0"))
        f.write(struct.pack("<5i", 0, 0, 0, 0, 0))
        f.write(struct.pack("<i", len(arrays)))
        for key, a in arrays.items():
            a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
            if a.ndim == 0:
                a = a.reshape(1)
            dims = list(a.shape) + [0] * (4 - a.ndim)
            f.write(key.encode().ljust(32, b"\0"))
            f.write(struct.pack("<5i", a.ndim, *dims))
            f.write(a.astype("<f4").tobytes())


def on_grid(t):
    return np.round(np.asarray(t) / GRID) * GRID


def merge(trains, t_start, t_stop):
    """trains: list of arrays of times; returns ids and times sorted by time (stable by id)."""
    ids, ts = [], []
    for i, tr in enumerate(trains):
        tr = np.unique(on_grid(tr))
        tr = tr[(tr >= t_start) & (tr <= t_stop)]
        ids.append(np.full(len(tr), i))
        ts.append(tr)
    ids, ts = np.concatenate(ids), np.concatenate(ts)
    order = np.lexsort((ids, ts))
    return ids[order], ts[order]


def stats(n, t_start, t_stop, bin_, ids, ts):
    T = t_stop - t_start
    rates = np.bincount(ids, minlength=n) * 1000.0 / T
    cv = np.full(n, np.nan)
    for i in range(n):
        isi = np.diff(ts[ids == i])
        if len(isi) >= 2 and isi.mean() > 0:
            cv[i] = scipy.stats.variation(isi)  # std with ddof 0 / mean
    mean_cv = np.nanmean(cv) if np.any(~np.isnan(cv)) else np.nan
    B = int(np.floor(T / bin_ + 1e-9))
    b = np.floor((ts - t_start) / bin_ + 1e-9).astype(np.int64)
    keep = b < B
    counts = np.zeros((n, B))
    np.add.at(counts, (ids[keep], b[keep]), 1)
    mean, var = counts.mean(1), counts.var(1)
    fano = np.mean(var[mean > 0] / mean[mean > 0]) if np.any(mean > 0) else np.nan
    act = var > 0
    if act.sum() >= 2:
        r = np.corrcoef(counts[act])
        corr = r[np.triu_indices(act.sum(), 1)].mean()
    else:
        corr = np.nan
    chi = np.sqrt(counts.mean(0).var() / var.mean()) if var.mean() > 0 else np.nan
    pop = counts.sum(0) * 1000.0 / (n * bin_)
    return dict(rates=rates, cv=cv, mean_cv=mean_cv, fano=fano, corr=corr, chi=chi, pop_rate=pop)


def case(name, n, t_start, t_stop, bin_, trains):
    ids, ts = merge(trains, t_start, t_stop)
    assert np.all(ts == ts.astype(np.float32))
    a = dict(meta=[n, t_start, t_stop, bin_], id=ids, t=ts)
    a.update(stats(n, t_start, t_stop, bin_, ids, ts))
    write(name, a)
    print(f"{name}: {len(ts)} spikes, mean_cv {a['mean_cv']:.4f} fano {a['fano']:.4f} "
          f"corr {a['corr']:.4f} chi {a['chi']:.4f}")


def poisson(rng, rate_hz, t0, t1):
    k = rng.poisson(rate_hz * (t1 - t0) / 1000.0)
    return np.sort(rng.uniform(t0, t1, k))


def main():
    rng = np.random.default_rng(20070101)

    # Poisson: 20 neurons at 5..40 Hz, plus one silent neuron and one with two spikes
    n = 22
    trains = [poisson(rng, r, 0, 2000) for r in np.linspace(5, 40, 20)] + [[], [100.0, 900.0]]
    case("poisson", n, 0.0, 2000.0, 5.0, trains)

    # Regular: periods 10..55 ms with small jitter on half of them; window from 100 ms; the last
    # neuron's last spike lies exactly at t_stop (counts in its rate, in no bin)
    n = 10
    trains = []
    for i in range(n):
        tr = np.arange(100.0 + 3 * i, 1100.0, 10.0 + 5 * i)
        if i % 2:
            tr = tr + rng.normal(0, 0.5, len(tr))
        trains.append(tr)
    trains[-1] = np.append(trains[-1][trains[-1] < 1090], 1100.0)
    case("regular", n, 100.0, 1100.0, 10.0, trains)

    # Bursty: bursts of 2..5 spikes 2 ms apart, burst onsets a Poisson process at 3 Hz (CV > 1)
    n = 15
    trains = []
    for i in range(n):
        onsets = poisson(rng, 3.0, 0, 3000)
        tr = [o + 2.0 * k for o in onsets for k in range(rng.integers(2, 6))]
        trains.append(np.array(tr))
    case("bursty", n, 0.0, 3000.0, 20.0, trains)

    # Synchronous: 40 neurons fire together at 10 Hz population events (each joins with
    # probability 0.8, jittered by up to 1 ms), plus 1 Hz background
    n = 40
    events = poisson(rng, 10.0, 0, 2000)
    trains = []
    for i in range(n):
        tr = events[rng.random(len(events)) < 0.8]
        tr = tr + rng.uniform(0, 1.0, len(tr))
        trains.append(np.concatenate([tr, poisson(rng, 1.0, 0, 2000)]))
    case("synchronous", n, 0.0, 2000.0, 5.0, trains)

    # Oscillating: 100 inhomogeneous Poisson neurons, rate 20 (1 + 0.9 sin(2 pi 62.5 t)) Hz
    n = 100
    trains = []
    for i in range(n):
        cand = poisson(rng, 38.0, 0, 4000)  # thinning from the peak rate
        lam = 20.0 * (1 + 0.9 * np.sin(2 * np.pi * 62.5 * cand / 1000.0))
        trains.append(cand[rng.random(len(cand)) < lam / 38.0])
    case("oscillating", n, 0.0, 4000.0, 1.0, trains)

    # Spectra (Welch: segment L = largest power of two <= n/16, >= 16; Hann; 50% overlap)
    def spectrum(name, x, dt, fmin):
        x = np.asarray(x, dtype=np.float32)
        n = len(x)
        L = 16
        while L * 2 <= n // 16:
            L *= 2
        f, p = scipy.signal.welch(x.astype(np.float64), fs=1000.0 / dt, window="hann", nperseg=L,
                                  noverlap=L // 2, detrend="constant", return_onesided=True,
                                  scaling="density")
        m = f >= fmin
        k = np.argmax(p[m])
        peak, ratio = f[m][k], p[m][k] / p[m].mean()
        write(name, dict(x=x, meta=[dt, fmin], peak=[peak, ratio]))
        print(f"{name}: n {n} L {L} peak {peak:.3f} Hz ratio {ratio:.3f}")

    t = np.arange(10000) * 0.1
    df = 1000.0 / (512 * 0.1)
    spectrum("sine_noise", np.sin(2 * np.pi * 5 * df * t / 1000.0) + rng.normal(0, 1.0, len(t)), 0.1, 5.0)
    spectrum("white_noise", rng.normal(0, 1.0, 10000), 0.1, 0.0)
    spectrum("sine_odd", 3 + np.sin(2 * np.pi * 137.0 * np.arange(3001) * 0.25 / 1000.0)
             + rng.normal(0, 0.3, 3001), 0.25, 20.0)


if __name__ == "__main__":
    main()
