#!/usr/bin/python3
"""Reference spike trains for tests/test_snn_net.c, simulated once with Brian2.

Run with Debian's python3-brian:  /usr/bin/python3 tests/ref/gen_snn.py
It rewrites tests/fixtures/snn/brian2_net.bin (committed; the tests never need Brian2).

The network, small and fixed (every number in the file):
  A: 40 LIF neurons with exponential current synapses, integrated by Brian2's "exact" method:
     C dv/dt = -gL (v - EL) + Ie + Ii + I,  dIe/dt = -Ie/tau_e,  dIi/dt = -Ii/tau_i,
     C 200 pF, gL 10 nS, EL -60 mV, threshold v > -50 mV, reset -60 mV, refractory 2 ms,
     tau_e 5 ms, tau_i 10 ms; constant currents I (a_I) and initial v (a_v0) per neuron.
  B: 20 LIF neurons with exponential conductance synapses, Brian2's "exponential_euler":
     C dv/dt = -gL (v - EL) + ge (0 mV - v) + gi (-80 mV - v) + I, same constants otherwise,
     refractory 5 ms; b_I, b_v0.
  aa: edges within A (aa_pre, aa_post, aa_w pA; w > 0 jumps Ie, w < 0 jumps Ii), delay 0.2 ms
  ab: edges A -> B (ab_*, nS, onto ge), delay 0.5 ms
  ba: edges B -> A (ba_*, pA < 0, onto Ii), delay 0 ms
Brian2 delivers a spike after the state update of the step it arrives in; soma takes it in
before the update of the next one, so soma's delay is Brian2's + dt (soma's one-step minimum
is Brian2's 0). Output: the spikes of A and B over 300 ms at dt = 0.1 ms (a_spk_i, a_spk_t,
b_spk_i, b_spk_t; times in ms, the start of the step, as both stamp them).

Values are multiples of 1/16 so that they are exact in float32 and every sum of weights is
exact in any order. File format: tests/ref/gen_torch.py (SOMANNFX, version 1).
"""
import os
import struct

import numpy as np
from brian2 import (NeuronGroup, Network, SpikeMonitor, Synapses, defaultclock, ms, mV, nS, pA, pF, prefs,
                    seed)

MAGIC = b"SOMANNFX"
VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "snn")


def write(name, spec, arrays):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".bin")
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<i", VERSION))
        f.write(spec.encode().ljust(128, b"\0"))
        f.write(struct.pack("<5i", 0, 0, 0, 0, 0))
        f.write(struct.pack("<i", len(arrays)))
        for key, a in arrays.items():
            a = np.ascontiguousarray(np.asarray(a, dtype=np.float32)).reshape(-1)
            assert a.size >= 1, key
            f.write(key.encode().ljust(32, b"\0"))
            f.write(struct.pack("<5i", 1, a.size, 0, 0, 0))
            f.write(a.astype("<f4").tobytes())
    print(f"{path}: {os.path.getsize(path)} bytes")


def q16(x):
    return np.round(np.asarray(x) * 16.0) / 16.0


def main():
    prefs.codegen.target = "numpy"
    defaultclock.dt = 0.1 * ms
    seed(1)
    rng = np.random.default_rng(7)
    NA, NB = 40, 20
    a_v0 = q16(rng.uniform(-60, -51, NA))
    a_I = q16(rng.uniform(100, 140, NA))
    b_v0 = q16(rng.uniform(-60, -52, NB))
    b_I = q16(rng.uniform(90, 120, NB))
    E = 300
    aa_pre, aa_post = rng.integers(0, NA, E), rng.integers(0, NA, E)
    aa_w = np.where(rng.uniform(size=E) < 0.75, 1.0, -1.0) * 12.5 * rng.integers(1, 4, E)
    ab_pre, ab_post = rng.integers(0, NA, 120), rng.integers(0, NB, 120)
    ab_w = q16(rng.uniform(0.5, 3.0, 120))
    ba_pre, ba_post = rng.integers(0, NB, 60), rng.integers(0, NA, 60)
    ba_w = -q16(rng.uniform(10, 60, 60))

    common = dict(C=200 * pF, gL=10 * nS, EL=-60 * mV, tau_e=5 * ms, tau_i=10 * ms)
    A = NeuronGroup(NA, """dv/dt = (-gL*(v - EL) + Ie + Ii + I)/C : volt (unless refractory)
                           dIe/dt = -Ie/tau_e : amp
                           dIi/dt = -Ii/tau_i : amp
                           I : amp""",
                    threshold="v > -50*mV", reset="v = -60*mV", refractory=2 * ms, method="exact",
                    namespace=common)
    B = NeuronGroup(NB, """dv/dt = (-gL*(v - EL) + ge*(0*mV - v) + gi*(-80*mV - v) + I)/C : volt (unless refractory)
                           dge/dt = -ge/tau_e : siemens
                           dgi/dt = -gi/tau_i : siemens
                           I : amp""",
                    threshold="v > -50*mV", reset="v = -60*mV", refractory=5 * ms, method="exponential_euler",
                    namespace=common)
    A.v = a_v0 * mV
    A.I = a_I * pA
    B.v = b_v0 * mV
    B.I = b_I * pA
    exc = aa_w > 0
    S_ae = Synapses(A, A, "w : amp", on_pre="Ie_post += w", delay=0.2 * ms)
    S_ae.connect(i=aa_pre[exc], j=aa_post[exc])
    S_ae.w = aa_w[exc] * pA
    S_ai = Synapses(A, A, "w : amp", on_pre="Ii_post += w", delay=0.2 * ms)
    S_ai.connect(i=aa_pre[~exc], j=aa_post[~exc])
    S_ai.w = aa_w[~exc] * pA
    S_ab = Synapses(A, B, "w : siemens", on_pre="ge_post += w", delay=0.5 * ms)
    S_ab.connect(i=ab_pre, j=ab_post)
    S_ab.w = ab_w * nS
    S_ba = Synapses(B, A, "w : amp", on_pre="Ii_post += w", delay=0 * ms)
    S_ba.connect(i=ba_pre, j=ba_post)
    S_ba.w = ba_w * pA
    MA, MB = SpikeMonitor(A), SpikeMonitor(B)
    net = Network(A, B, S_ae, S_ai, S_ab, S_ba, MA, MB)
    net.run(300 * ms)
    print(f"A: {MA.num_spikes} spikes, B: {MB.num_spikes} spikes")
    write("brian2_net", "brian2 2.5 A(40 LIF cur) B(20 LIF cond) 300 ms dt 0.1", {
        "a_v0": a_v0, "a_I": a_I, "b_v0": b_v0, "b_I": b_I,
        "aa_pre": aa_pre, "aa_post": aa_post, "aa_w": aa_w,
        "ab_pre": ab_pre, "ab_post": ab_post, "ab_w": ab_w,
        "ba_pre": ba_pre, "ba_post": ba_post, "ba_w": ba_w,
        "a_spk_i": np.asarray(MA.i), "a_spk_t": np.asarray(MA.t / ms),
        "b_spk_i": np.asarray(MB.i), "b_spk_t": np.asarray(MB.t / ms),
    })


if __name__ == "__main__":
    main()
