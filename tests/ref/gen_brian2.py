#!/usr/bin/python3
"""Brian2's range for the `cuba` and `coba` experiments, computed once.

Run with Debian's python3-brian:  /usr/bin/python3 tests/ref/gen_brian2.py
It rewrites tests/fixtures/brian2_cuba_coba.json (committed; the tests never need Brian2).

For each model (cuba, coba) and seed 1..8 it runs bench/brian2_cuba.py (Brian2 2.5.1,
cpp_standalone, 1 thread): the network of that script's docstring at N 4000, p 0.02, dt 0.1 ms,
1 s of biological time; and records the mean rate (Hz) and the mean ISI CV of every run, and
their min and max over the seeds. tests/test_snn_nets.c checks that soma's runs of the same
networks fall in [min, max] widened by the margin stated there.

"timing": when a spike acts. Two CUBA neurons (dt 0.1 ms, exact integration, numpy target):
neuron 0 (El -49 mV) starts at Vr -60 mV and fires on its own, near 47.9 ms; its one synapse
(ge += 1.62 mV, Brian2's default: no delay) reaches neuron 1 (El -60 mV, at rest). Recorded:
neuron 0's spike times and neuron 1's v from 46 to 56 ms (StateMonitor, values at the start of
each step). Brian2 applies the spike in the update of the step after the one that emitted it;
soma's one-step delay must do the same, and test_snn_nets compares the traces.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "bench", "brian2_cuba.py")
OUT = os.path.join(ROOT, "tests", "fixtures", "brian2_cuba_coba.json")
SEEDS = range(1, 9)


def timing():
    import brian2 as b2
    from brian2 import ms, mV
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = 0.1 * ms
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    Vt, Vr = -50 * mV, -60 * mV
    eqs = """
    dv/dt  = (ge + gi - (v - El)) / taum : volt (unless refractory)
    dge/dt = -ge / taue : volt
    dgi/dt = -gi / taui : volt
    El : volt
    """
    P = b2.NeuronGroup(2, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms, method="exact")
    P.v = Vr
    P.El = [-49, -60] * mV
    S = b2.Synapses(P[0:1], P[1:2], on_pre="ge += 1.62*mV")
    S.connect()
    m = b2.StateMonitor(P, "v", record=[1])
    sp = b2.SpikeMonitor(P)
    b2.run(60 * ms)
    t = m.t / ms
    keep = (t > 45.95) & (t < 56.0)
    return {"spike_ms": [float(x) for x in sp.t / ms], "t_ms": [round(float(x), 6) for x in t[keep]],
            "v_mV": [float(x) for x in m.v[0][keep] / mV]}


def main():
    doc = {
        "how": "tests/ref/gen_brian2.py: bench/brian2_cuba.py --model M --n 4000 --duration 1 "
               "--seed S --threads 1 (Brian2 cpp_standalone, dt 0.1 ms), seeds 1..8",
        "models": {},
    }
    for model in ("cuba", "coba"):
        runs = []
        for s in SEEDS:
            cmd = [sys.executable, SCRIPT, "--model", model, "--n", "4000", "--duration", "1",
                   "--seed", str(s), "--threads", "1", "--build-dir", f"/tmp/gen_brian2_{model}"]
            r = subprocess.run(cmd, check=True, capture_output=True, text=True)
            o = json.loads(r.stdout.strip().splitlines()[-1])
            runs.append({"seed": s, "mean_rate_hz": o["mean_rate_hz"], "mean_cv": o["mean_cv"],
                         "n_synapses": o["n_synapses"]})
            print(model, runs[-1], file=sys.stderr)
        simulator = o["simulator"]
        rates = [r["mean_rate_hz"] for r in runs]
        cvs = [r["mean_cv"] for r in runs]
        doc["models"][model] = {
            "runs": runs,
            "mean_rate_hz": {"min": min(rates), "max": max(rates)},
            "mean_cv": {"min": min(cvs), "max": max(cvs)},
        }
    doc["simulator"] = simulator
    doc["timing"] = timing()
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
