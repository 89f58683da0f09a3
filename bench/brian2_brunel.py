#!/usr/bin/python3
"""Brunel (2000) model A in Brian2 (cpp_standalone), the cross-check of soma's brunel2000.

    /usr/bin/python3 bench/brian2_brunel.py --g 5 --ratio 2 --n 12500 --duration 1
prints one JSON object: mean rate (Hz), mean ISI CV (population std, neurons with >= 3 spikes),
both over [transient, end). The network of src/exp/brunel2000.c: N_E = 0.8 N, N_I = 0.2 N,
C_E = 0.1 N_E, C_I = 0.1 N_I fixed in-degree, J = 100 mV / C_E, -g J, D 1.5 ms, tau 20 ms,
theta 20 mV, V_r 10 mV, t_ref 2 ms (inputs arriving then are lost, as in the paper), v0 uniform in [0, theta]; external drive: PoissonInput of
C_E sources at nu_ext = ratio * theta / (J C_E tau), each a jump of J.
"""
import argparse
import json

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--g", type=float, default=5.0)
    ap.add_argument("--ratio", type=float, default=2.0)
    ap.add_argument("--n", type=int, default=12500)
    ap.add_argument("--duration", type=float, default=1.0)
    ap.add_argument("--transient", type=float, default=100.0, help="ms")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--build-dir", default="/tmp/brian2_brunel")
    a = ap.parse_args()
    import brian2 as b2
    from brian2 import ms, mV, Hz, second
    b2.set_device("cpp_standalone", directory=a.build_dir)
    b2.prefs.logging.console_log_level = "WARNING"
    b2.defaultclock.dt = 0.1 * ms
    b2.seed(a.seed)
    n_e = int(round(0.8 * a.n)); n_i = a.n - n_e
    c_e = int(round(0.1 * n_e)); c_i = int(round(0.1 * n_i))
    J = 100.0 / c_e * mV
    tau, theta, Vr = 20 * ms, 20 * mV, 10 * mV
    nu_thr = theta / (J * c_e * tau)
    P = b2.NeuronGroup(a.n, "dv/dt = -v / tau : volt (unless refractory)", threshold="v > theta",
                       reset="v = Vr", refractory=2 * ms, method="exact")
    P.v = "rand() * theta"
    E = P[:n_e]; I = P[n_e:]
    ce = b2.Synapses(E, P, on_pre="v += J * int(not_refractory_post)", delay=1.5 * ms)
    ci = b2.Synapses(I, P, on_pre="v += -a_g * J * int(not_refractory_post)", delay=1.5 * ms, namespace={"a_g": a.g, "J": J})
    # fixed in-degree: for each post neuron, c_e distinct pre neurons
    rng = np.random.default_rng(a.seed)
    pre_e = np.concatenate([rng.choice(n_e, c_e, replace=False) for _ in range(a.n)])
    post_e = np.repeat(np.arange(a.n), c_e)
    pre_i = np.concatenate([rng.choice(n_i, c_i, replace=False) for _ in range(a.n)])
    post_i = np.repeat(np.arange(a.n), c_i)
    ce.connect(i=pre_e, j=post_e)
    ci.connect(i=pre_i, j=post_i)
    ext = b2.PoissonInput(P, "v", c_e, a.ratio * nu_thr, weight="J * int(not_refractory)")
    mon = b2.SpikeMonitor(P)
    b2.run(a.duration * second)
    i = np.asarray(mon.i[:]); t = np.asarray(mon.t[:] / ms)
    keep = t >= a.transient
    i, t = i[keep], t[keep]
    T = (a.duration * 1000 - a.transient) / 1000
    cvs = []
    order = np.lexsort((t, i)); i, t = i[order], t[order]
    bounds = np.searchsorted(i, np.arange(a.n + 1))
    for k in range(a.n):
        s = t[bounds[k]:bounds[k + 1]]
        if len(s) >= 3:
            d = np.diff(s)
            cvs.append(d.std() / d.mean())
    print(json.dumps({"g": a.g, "ratio": a.ratio, "n": a.n, "mean_rate_hz": len(i) / (a.n * T),
                      "mean_cv": float(np.mean(cvs)) if cvs else None,
                      "sim_seconds": float(b2.device._last_run_time)}))


if __name__ == "__main__":
    main()
