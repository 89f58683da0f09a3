#!/usr/bin/python3
"""The Vogels & Abbott (2005) benchmark networks of Brette et al. (2007) in Brian2, the peer
that soma's `cuba` and `coba` experiments are measured against (bench/vs_brian2.sh,
tests/ref/gen_brian2.py).

Run with Debian's python3-brian:
    /usr/bin/python3 bench/brian2_cuba.py --model cuba --n 4000 --duration 1 --seed 1 \
        --threads 1 --build-dir /tmp/b2_cuba
It prints one JSON object: sim_seconds (Brian2's own clock around its main loop,
device._last_run_time: omp_get_wtime with OpenMP), binary_seconds (the whole standalone
program: synapse creation, initialisation, the run and writing results), compile_seconds,
n_neurons, n_synapses, mean_rate_hz, mean_cv, n_spikes.

The networks are those of soma's src/exp/cuba.c and src/exp/coba.c, parameter for parameter:
 CUBA (Brian2's examples/CUBA.py): taum 20 ms, taue 5 ms, taui 10 ms, Vt -50, Vr -60, El -49 mV,
   dv/dt = (ge + gi - (v - El)) / taum, we = 1.62 mV, wi = -9 mV, refractory 5 ms, v0 uniform
   in [Vr, Vt], ge = gi = 0 at the start, no external input (El is above threshold).
 COBA (Brette et al. 2007 benchmark 1): C 200 pF, gL 10 nS, El -60, Ee 0, Ei -80 mV, taue 5,
   taui 10 ms, Vt -50, Vr -60, we 6 nS, wi 67 nS, refractory 5 ms, v0 uniform in [Vr, Vt]. At
   rest below threshold the network is silent until kicked: for the first `kick` ms (50) each
   neuron receives its own Poisson train (kick-rate Hz, 200) of excitatory conductance jumps
   of we, then the activity sustains itself.
Both: N neurons, 80% excitatory, each pair connected with probability p (default 80/N, so
each neuron has 64 excitatory inputs on average, as at N 4000, p 0.02); with --p given, the
weights are scaled by 0.02*4000/(p*N) so the mean input is that of the 4000-neuron network.
Spikes act with no delay: emitted at step n, they change ge/gi for the update of step n+1.
dt 0.1 ms. Statistics over the whole run: mean rate = spikes / (N T); mean CV = mean over
neurons with at least 3 spikes of std(ISI)/mean(ISI) (population std).
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def stats(i, t, n, duration):
    """Mean rate (Hz) and mean ISI CV from spike indices i and times t (seconds)."""
    rate = len(i) / (n * duration)
    order = np.lexsort((t, i))
    i, t = i[order], t[order]
    cvs = []
    starts = np.searchsorted(i, np.arange(n))
    ends = np.searchsorted(i, np.arange(n), side="right")
    for a, b in zip(starts, ends):
        if b - a >= 3:
            isi = np.diff(t[a:b])
            m = isi.mean()
            if m > 0:
                cvs.append(isi.std() / m)
    return rate, (float(np.mean(cvs)) if cvs else float("nan"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["cuba", "coba"], default="cuba")
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1.0, help="seconds of biological time")
    ap.add_argument("--dt", type=float, default=0.1, help="ms")
    ap.add_argument("--p", type=float, default=None, help="connection probability (default 80/N)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads of the standalone code")
    ap.add_argument("--build-dir", default=None, help="standalone project folder (default /tmp/brian2_MODEL_N)")
    ap.add_argument("--kick", type=float, default=50.0, help="COBA: ms of initial Poisson drive")
    ap.add_argument("--kick-rate", type=float, default=200.0, help="COBA: Hz of the initial drive")
    ap.add_argument("--no-spikes", action="store_true", help="do not record spikes (timing runs)")
    a = ap.parse_args()

    import brian2 as b2
    from brian2 import ms, mV, nS, pF, Hz, second

    build = a.build_dir or f"/tmp/brian2_{a.model}_{a.n}"
    b2.set_device("cpp_standalone", directory=build, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = a.threads
    b2.prefs.logging.console_log_level = "WARNING"
    b2.defaultclock.dt = a.dt * ms
    b2.seed(a.seed)

    n = a.n
    n_exc = int(round(0.8 * n))
    p = a.p if a.p is not None else 80.0 / n
    scale = 1.0 if a.p is None else (0.02 * 4000.0) / (p * n)
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    Vt, Vr = -50 * mV, -60 * mV
    if a.model == "cuba":
        El = -49 * mV
        eqs = """
        dv/dt  = (ge + gi - (v - El)) / taum : volt (unless refractory)
        dge/dt = -ge / taue : volt
        dgi/dt = -gi / taui : volt
        """
        we, wi = 1.62 * mV * scale, -9 * mV * scale
        P = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms,
                           method="exact")
    else:
        El, Ee, Ei = -60 * mV, 0 * mV, -80 * mV
        C, gL = 200 * pF, 10 * nS
        eqs = """
        dv/dt  = (gL * (El - v) + ge * (Ee - v) + gi * (Ei - v)) / C : volt (unless refractory)
        dge/dt = -ge / taue : siemens
        dgi/dt = -gi / taui : siemens
        """
        we, wi = 6 * nS * scale, 67 * nS * scale
        P = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms,
                           method="exponential_euler")
    P.v = "Vr + rand() * (Vt - Vr)"
    Ce = b2.Synapses(P, P, on_pre="ge += we")
    Ci = b2.Synapses(P, P, on_pre="gi += wi")
    Ce.connect(f"i < {n_exc}", p=p)
    Ci.connect(f"i >= {n_exc}", p=p)
    objs = []
    if a.model == "coba" and a.kick > 0:
        kick_ms = a.kick
        kick_rate = a.kick_rate
        K = b2.PoissonGroup(n, rates=f"{kick_rate}*Hz * int(t < {kick_ms}*ms)")
        Ck = b2.Synapses(K, P, on_pre="ge += we")
        Ck.connect(j="i")
        objs = [K, Ck]
    mon = None if a.no_spikes else b2.SpikeMonitor(P)
    net = b2.Network(P, Ce, Ci, *objs, *([mon] if mon is not None else []))
    net.run(a.duration * second)

    t0 = time.perf_counter()
    b2.device.build(directory=build, compile=True, run=False, with_output=False)
    t1 = time.perf_counter()
    b2.device.run(directory=build, with_output=False, run_args=[])
    t2 = time.perf_counter()

    out = {
        "simulator": "brian2 " + b2.__version__ + " cpp_standalone",
        "model": a.model, "n_neurons": n, "p": p, "duration_s": a.duration, "dt_ms": a.dt,
        "seed": a.seed, "threads": a.threads,
        "n_synapses": int(len(Ce) + len(Ci)),
        "compile_seconds": t1 - t0,
        "binary_seconds": b2.device.timers.get("run_binary", t2 - t1),
        "sim_seconds": float(b2.device._last_run_time),
    }
    if mon is not None:
        i = np.asarray(mon.i[:], dtype=np.int64)
        t = np.asarray(mon.t[:] / second, dtype=np.float64)
        rate, cv = stats(i, t, n, a.duration)
        out.update(n_spikes=int(len(i)), mean_rate_hz=rate, mean_cv=cv)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
