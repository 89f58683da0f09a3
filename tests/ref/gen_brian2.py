#!/usr/bin/python3
"""Brian2's range for the `cuba` and `coba` experiments, computed once.

Run with Debian's python3-brian:  /usr/bin/python3 tests/ref/gen_brian2.py
It rewrites tests/fixtures/brian2_cuba_coba.json (committed; the tests never need Brian2).

For each model (cuba, coba) and seed 1..8 it runs bench/brian2_cuba.py (Brian2 2.5.1,
cpp_standalone, 1 thread): the network of that script's docstring at N 4000, p 0.02, dt 0.1 ms,
1 s of biological time; and records the mean rate (Hz) and the mean ISI CV of every run, and
their min and max over the seeds. tests/test_snn_nets.sh checks that soma's runs of the same
networks fall in [min, max] widened by the margin stated there.
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
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
