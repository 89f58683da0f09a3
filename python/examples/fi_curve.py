"""Notebook-style: reproduce the lif-fi experiment's figure (the f-I curve of a LIF neuron,
simulated vs the analytic rate) from Python with matplotlib.

    SOMA_LIB=build/libsoma.so PYTHONPATH=python /usr/bin/python3 python/examples/fi_curve.py /tmp/fi.png
"""
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

import soma

# %% run the experiment by name; the results come back as results.json's dict
res = soma.run("lif-fi", out="/tmp/soma-out", quiet=True)
ours = res["ours"]
print(res["summary"])
print(f"max relative error vs the analytic rate: {ours['max_rel_error']:.4f} "
      f"(landmark: {res['landmarks'][0]['value']}, status {res['status']})")

# %% the figure: simulated rate against current, the analytic curve on top
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(ours["current_pA"], ours["analytic_rate_hz"], "-", color="0.6", lw=3, label="analytic")
ax.plot(ours["current_pA"], ours["rate_hz"], "o", ms=3, color="C0", label="soma (dt = 0.1 ms)")
ax.axvline(ours["rheobase_pA"], ls=":", color="0.4", lw=1)
ax.set(xlabel="input current (pA)", ylabel="firing rate (Hz)", title="LIF f-I curve")
ax.legend(frameon=False)
fig.tight_layout()
fig.savefig(sys.argv[1] if len(sys.argv) > 1 else "fi_curve.png", dpi=120)
