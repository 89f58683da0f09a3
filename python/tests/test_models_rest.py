"""The last bindings: spiking networks built call by call (bit for bit the network the same JSON
description builds: spikes, state, rates and STDP weights after a run), bandits (bit for bit a
C program making the same calls), attention probabilities (against a NumPy recomputation from
the layer's parameters, a causal mask's zeros), and bad arguments."""

import os
import subprocess

import numpy as np
import pytest

import soma
from conftest import ROOT

# --- spiking networks built call by call --------------------------------------------------------

DESC = {
    "dt": 0.1, "seed": 7, "duration": 150,
    "groups": [
        {"name": "exc", "n": 40, "model": "lif",
         "params": {"EL": -49, "I_ext": 5, "V_init_lo": -60, "V_init_hi": -50}},
        {"name": "inh", "n": 12, "model": "lif", "synapse": "conductance", "params": {"tau_e": 3}},
        {"name": "fs", "n": 6, "model": "izhikevich", "preset": "FS", "params": {"I_ext": 8}},
        {"name": "ad", "n": 5, "model": "adex", "synapse": "delta"},
        {"name": "drive", "n": 30, "model": "poisson", "params": {"rate": 40}},
    ],
    "connections": [
        {"pre": "drive", "post": "exc", "rule": "indegree", "k": 6, "weight": 40, "delay": 0.3,
         "stdp": {"tau_plus": 15, "A_plus": 0.02, "A_minus": 0.021, "w_max": 80}},
        {"pre": "exc", "post": "exc", "rule": "prob", "p": 0.2, "weight": 12, "autapses": True,
         "stdp": {"w_max": 30, "multiplicative": True, "A_plus": 0.05, "A_minus": 0.05}},
        {"pre": "exc", "post": "inh", "rule": "prob", "p": 0.3, "weight": 2.5},
        {"pre": "inh", "post": "exc", "target": "inh", "rule": "prob", "p": 0.4, "weight": -60, "delay": 0.5},
        {"pre": "exc", "post": "fs", "rule": "edges", "edges": [[0, 1, 3.5], [5, 2, 7.0], [5, 2, 1.0]]},
        {"pre": "drive", "post": "ad", "rule": "edges", "edges": [[0, 0], [3, 4]], "weight": 4},
        {"pre": "fs", "post": "fs", "rule": "one_to_one", "weight": 2},
    ],
    "monitors": [
        {"kind": "spikes", "group": "exc"},
        {"kind": "state", "group": "exc", "var": "v", "neurons": [0, 3, 39], "every": 2},
        {"kind": "rate", "group": "inh"},
        {"kind": "spikes", "group": "fs"},
        {"kind": "state", "group": "fs", "var": "u", "neurons": [1, 2]},
        {"kind": "state", "group": "ad", "var": "w", "neurons": [0, 4]},
    ],
}


def _built():
    net = soma.SNN.empty(dt=0.1, seed=7)
    assert net.add_group("exc", 40, "lif", EL=-49, I_ext=5, V_init_lo=-60, V_init_hi=-50) == 0
    net.add_group("inh", 12, "lif", synapse="conductance", tau_e=3)
    net.add_group("fs", 6, "izhikevich", preset="FS", I_ext=8)
    net.add_group("ad", 5, "adex", synapse="delta")
    assert net.add_group("drive", 30, "poisson", rate=40) == 4
    assert net.connect("drive", "exc", rule="indegree", k=6, weight=40, delay=0.3,
                       stdp={"tau_plus": 15, "A_plus": 0.02, "A_minus": 0.021, "w_max": 80}) == 0
    net.connect(0, 0, p=0.2, weight=12, autapses=True,
                stdp={"w_max": 30, "multiplicative": True, "A_plus": 0.05, "A_minus": 0.05})
    net.connect("exc", "inh", p=0.3, weight=2.5)
    net.connect("inh", "exc", target="inh", p=0.4, weight=-60, delay=0.5)
    net.connect("exc", "fs", rule="edges", edges=[[0, 1], [5, 2], [5, 2]], edge_weights=[3.5, 7.0, 1.0])
    net.connect("drive", "ad", rule="edges", edges=np.array([[0, 0], [3, 4]]), weight=4)
    assert net.connect("fs", "fs", rule="one_to_one", weight=2) == 6
    assert net.record_spikes("exc") == 0
    net.record_state("exc", "v", [0, 3, 39], every=2)
    net.record_rate("inh")
    net.record_spikes("fs")
    net.record_state("fs", "u", [1, 2])
    assert net.record_state("ad", "w", np.array([0, 4])) == 5
    return net


def test_snn_built_call_by_call_equals_json():
    a, b = soma.SNN(DESC), _built()
    assert a.groups == b.groups and a.n_synapses == b.n_synapses and b.n_projections == 7
    assert a.monitors() == b.monitors()
    w0 = [a.weights(j) for j in range(7)]
    for j in range(7):  # connectivity and initial weights
        for x, y in zip(a.synapses(j), b.synapses(j)):
            np.testing.assert_array_equal(x, y)
    a.run()
    b.run(150)
    for m in (0, 3):
        ta, ia = a.spikes(m)
        tb, ib = b.spikes(m)
        assert ta.size > 20
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ia, ib)
    for m in (1, 4, 5):
        for x, y in zip(a.state(m), b.state(m)):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.rate(2), b.rate(2))
    for j in range(7):
        np.testing.assert_array_equal(a.weights(j), b.weights(j))
    # STDP moved the plastic weights (and only them), within [0, w_max]
    assert not np.array_equal(w0[0], b.weights(0)) and not np.array_equal(w0[1], b.weights(1))
    assert b.weights(0).min() >= 0 and b.weights(0).max() <= 80
    np.testing.assert_array_equal(w0[2], b.weights(2))
    pre, post, w = b.synapses(4)
    np.testing.assert_array_equal(pre, [0, 5, 5])
    np.testing.assert_array_equal(post, [1, 2, 2])
    assert sorted(w[1:].tolist()) == [1.0, 7.0] and w[0] == np.float32(3.5)
    for var in ("v", "ge", "gi"):
        np.testing.assert_array_equal(a.get_state("inh", var), b.get_state("inh", var))
    assert b.stats()["steps"] == 1500 and b.stats()["spikes"] > 0


def test_snn_set_current_matches_lif_rate():
    """Constant currents per neuron: spike counts follow the LIF rate formula; None restores
    I_ext (here 0: silence)."""
    net = soma.SNN.empty(dt=0.05, seed=1)
    net.add_group("g", 4, "lif", t_ref=2, V_init_lo=-60, V_init_hi=-60)
    I = np.array([50.0, 120.0, 200.0, 400.0])  # rheobase gL (V_th - EL) = 100 pA
    net.set_current("g", I)
    mon = net.record_spikes("g")
    net.run(1000)
    t, i = net.spikes(mon)
    counts = np.bincount(i, minlength=4)
    tau, R = 200 / 10, 1 / 10 * 1e3  # ms, MOhm (mV per nA)
    for k in range(4):
        x = R * I[k] / 1e3
        want = 0 if x <= 10 else 1e3 / (2 + tau * np.log(x / (x - 10)))
        assert abs(counts[k] - want) <= 0.02 * want + 2, (k, counts[k], want)
    net.set_current("g", None)
    net.run(200)
    assert (net.spikes(mon)[0] > 1000 + 5).sum() == 0  # at most the last refractory tail
    net.set_current(0, 400.0)
    net.run(100)
    assert (net.spikes(mon)[0] >= 1200).sum() > 0


def test_snn_poisson_input_drives_and_stops():
    net = soma.SNN.empty(seed=3)
    net.add_group("g", 20, "lif", V_init_lo=-60, V_init_hi=-60)
    mon = net.record_spikes("g")
    net.run(50)
    assert net.spikes(mon)[0].size == 0
    net.poisson_input("g", 100, 20.0, 30.0)
    net.run(200)
    n1 = net.spikes(mon)[0].size
    assert n1 > 20
    net.poisson_input("g", 100, 0.0, 30.0)
    net.run(200)
    assert (net.spikes(mon)[0] > 260).sum() == 0
    # an inhibitory input alone pulls V down without spikes
    net.poisson_input("g", 100, 20.0, -30.0, target="inh")
    net.run(50)
    assert net.get_state("g", "v").mean() < -60.5


def test_snn_building_bad_arguments():
    net = soma.SNN.empty()
    net.add_group("a", 5, "lif")
    with pytest.raises(ValueError, match="model"):
        net.add_group("b", 5, "hh")
    with pytest.raises(TypeError, match="unknown parameter"):
        net.add_group("b", 5, "lif", tau=3)
    with pytest.raises(ValueError, match="EL"):
        net.add_group("b", 5, "lif", EL=float("nan"))
    with pytest.raises(soma.ArgumentError, match="V_reset|V_th"):
        net.add_group("b", 5, "lif", V_th=-70)
    with pytest.raises(soma.ArgumentError, match="used twice"):
        net.add_group("a", 5, "lif")
    with pytest.raises(ValueError, match="n"):
        net.add_group("b", 0, "lif")
    with pytest.raises(ValueError, match="preset"):
        net.add_group("b", 5, "lif", preset="FS")
    with pytest.raises(soma.ArgumentError, match="preset"):
        net.add_group("b", 5, "izhikevich", preset="XX")
    with pytest.raises(IndexError):
        net.connect(0, 3, p=0.1, weight=1)
    with pytest.raises(KeyError):
        net.connect("a", "zz", p=0.1, weight=1)
    with pytest.raises(soma.ArgumentError, match="p = 2"):
        net.connect("a", "a", p=2.0, weight=1)
    with pytest.raises(ValueError, match="weight"):
        net.connect("a", "a", p=0.1, weight=float("inf"))
    with pytest.raises(ValueError, match="weight"):
        net.connect("a", "a", p=0.1)
    with pytest.raises(ValueError, match="rule"):
        net.connect("a", "a", rule="all", weight=1)
    with pytest.raises(ValueError, match="k"):
        net.connect("a", "a", rule="indegree", weight=1)
    with pytest.raises(TypeError, match="edges"):
        net.connect("a", "a", rule="edges", edges=np.zeros((2, 2), np.float32), weight=1)
    with pytest.raises(ValueError, match="edges"):
        net.connect("a", "a", rule="edges", edges=[[0, 1, 2]], weight=1)
    with pytest.raises(soma.ArgumentError):
        net.connect("a", "a", rule="edges", edges=[[0, 9]], weight=1)
    with pytest.raises(ValueError, match="w_max"):
        net.connect("a", "a", p=0.1, weight=1, stdp={"tau_plus": 10})
    with pytest.raises(TypeError, match="unknown key"):
        net.connect("a", "a", p=0.1, weight=1, stdp={"w_max": 1, "tau": 10})
    with pytest.raises(IndexError):
        net.weights(0)
    with pytest.raises(IndexError):
        net.record_state("a", "v", [0, 5])
    with pytest.raises(soma.ArgumentError):
        net.record_state("a", "u", [0])
    with pytest.raises(ValueError, match="current"):
        net.set_current("a", np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        net.set_current("a", np.full(5, np.nan))
    with pytest.raises(ValueError, match="target"):
        net.poisson_input("a", 10, 5.0, 1.0, target="x")
    with pytest.raises(ValueError, match="duration"):
        net.run()
    with pytest.raises(soma.ArgumentError):
        soma.SNN.empty(dt=0)
    net.run(1)
    with pytest.raises(soma.ArgumentError, match="run"):
        net.connect("a", "a", p=0.1, weight=1)


# --- bandits ------------------------------------------------------------------------------------

C_SRC = r"""
#include <stdio.h>
#include <stdlib.h>
#include "soma/soma.h"

/* argv: kind k reward drift steps runs env_seed agent_seed epsilon c alpha q0 baseline */
int main(int argc, char **argv) {
    if (argc != 14) return 2;
    soma_bandit_config bc = soma_bandit_defaults();
    bc.k = atoi(argv[2]);
    bc.reward = (soma_bandit_reward)atoi(argv[3]);
    bc.drift_sd = atof(argv[4]);
    bc.steps = atol(argv[5]);
    int runs = atoi(argv[6]);
    soma_env *e;
    if (soma_env_bandit_new(&e, &bc) || soma_env_seed(e, strtoull(argv[7], NULL, 10))) return 1;
    soma_bandit_agent_config ac = soma_bandit_agent_defaults((soma_bandit_agent_kind)atoi(argv[1]), bc.k);
    ac.epsilon = atof(argv[9]);
    ac.c = atof(argv[10]);
    ac.alpha = atof(argv[11]);
    ac.q0 = atof(argv[12]);
    ac.baseline = atoi(argv[13]);
    soma_bandit_agent *a;
    if (soma_bandit_agent_new(&a, &ac)) return 1;
    soma_rng rng;
    soma_rng_seed(&rng, strtoull(argv[8], NULL, 10), 0);
    float obs[1];
    double *q = malloc(sizeof *q * (size_t)bc.k), r;
    int best, done;
    for (int run = 0; run < runs; run++) {
        if (soma_env_reset(e, obs)) return 1;
        soma_bandit_agent_reset(a);
        do {
            if (soma_env_bandit_values(e, q, bc.k, &best)) return 1;
            int act = soma_bandit_agent_act(a, &rng);
            if (soma_env_step(e, act, obs, &r, &done)) return 1;
            soma_bandit_agent_update(a, act, r);
            printf("%a %d\n", r, q[act] == q[best]);
        } while (!done);
    }
    const double *v = soma_bandit_agent_values(a);
    for (int i = 0; i < bc.k; i++) printf("v %a\n", v[i]);
    free(q);
    soma_bandit_agent_free(a);
    soma_env_free(e);
    return 0;
}
"""


@pytest.fixture(scope="module")
def bandit_c(tmp_path_factory):
    d = tmp_path_factory.mktemp("c_bandit")
    (d / "ref.c").write_text(C_SRC)
    lib = os.path.realpath(soma.library_path)
    subprocess.run(["gcc", "-std=c11", "-O2", "-I", os.path.join(ROOT, "include"), str(d / "ref.c"), "-o",
                    str(d / "ref"), lib, "-Wl,-rpath," + os.path.dirname(lib), "-lm"], check=True)

    def run(*args):
        r = subprocess.run([str(d / "ref")] + [str(a) for a in args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        rows = [line.split() for line in r.stdout.splitlines()]
        pulls = [(float.fromhex(x[0]), int(x[1])) for x in rows if x[0] != "v"]
        vals = [float.fromhex(x[1]) for x in rows if x[0] == "v"]
        return pulls, np.array(vals)

    return run


@pytest.mark.parametrize("kind, reward, drift, settings", [
    ("epsilon-greedy", "gaussian", 0.0, {"epsilon": 0.1}),
    ("epsilon-greedy", "bernoulli", 0.05, {"epsilon": 0.2, "alpha": 0.1, "q0": 1.0}),
    ("ucb", "gaussian", 0.0, {"c": 1.5}),
    ("gradient", "gaussian", 0.01, {"alpha": 0.2}),
    ("gradient", "bernoulli", 0.0, {"alpha": 0.1, "baseline": False}),
])
def test_bandit_run_equals_c(bandit_c, kind, reward, drift, settings):
    k, steps, runs = 7, 150, 3
    env = soma.Env.bandit(k=k, reward=reward, drift_sd=drift, steps=steps, seed=11)
    agent = soma.BanditAgent(kind, k, seed=5, **settings)
    rewards, optimal = agent.run(env, runs=runs)
    assert rewards.shape == (runs, steps) and optimal.shape == (runs, steps) and optimal.dtype == bool
    full = {"epsilon": 0.1, "c": 2.0, "alpha": 0.1 if kind == "gradient" else 0.0, "q0": 0.0, "baseline": 1}
    full.update({key: (int(v) if key == "baseline" else v) for key, v in settings.items()})
    pulls, vals = bandit_c(["epsilon-greedy", "ucb", "gradient"].index(kind), k,
                           ["gaussian", "bernoulli"].index(reward), drift, steps, runs, 11, 5,
                           *(repr(float(full[key])) for key in ("epsilon", "c", "alpha", "q0")), full["baseline"])
    assert len(pulls) == runs * steps
    np.testing.assert_array_equal(rewards.ravel(), [p[0] for p in pulls])
    np.testing.assert_array_equal(optimal.ravel(), [bool(p[1]) for p in pulls])
    np.testing.assert_array_equal(agent.values, vals)
    if reward == "bernoulli":
        assert set(np.unique(rewards)) <= {0.0, 1.0}


def test_bandit_learns_and_steps_by_hand():
    env = soma.Env.bandit(k=10, steps=500, seed=2)
    greedy = soma.BanditAgent("epsilon-greedy", 10, epsilon=0.1, seed=3)
    r, opt = greedy.run(env, runs=20)
    assert opt[:, -100:].mean() > opt[:, :10].mean() + 0.3  # it finds the best arm
    assert r[:, -100:].mean() > r[:, :10].mean()
    # by hand: the estimates are the sample means of each arm's rewards
    env2 = soma.Env.bandit(k=3, steps=50, seed=4)
    env2.reset()
    q, best = env2.bandit_values()
    assert q.shape == (3,) and best == int(np.argmax(q))
    a = soma.BanditAgent("epsilon-greedy", 3, epsilon=1.0, seed=1)
    got = {i: [] for i in range(3)}
    for _ in range(40):
        act = a.act()
        _, rew, done = env2.step(act)
        a.update(act, rew)
        got[act].append(rew)
    for i in range(3):
        assert a.values[i] == pytest.approx(np.mean(got[i]) if got[i] else 0.0, abs=1e-12)
    g = soma.BanditAgent("gradient", 4, seed=1)
    assert g.values.sum() == pytest.approx(1.0) and np.allclose(g.values, 0.25)


def test_bandit_bad_arguments():
    with pytest.raises(soma.ArgumentError, match="kind"):
        soma.BanditAgent("thompson", 5)
    with pytest.raises(soma.ArgumentError, match="k 0"):
        soma.BanditAgent("ucb", 0)
    with pytest.raises(soma.ArgumentError, match="epsilon"):
        soma.BanditAgent("epsilon-greedy", 5, epsilon=2.0)
    with pytest.raises(ValueError, match="epsilon"):
        soma.BanditAgent("epsilon-greedy", 5, epsilon=float("nan"))
    with pytest.raises(soma.ArgumentError, match="alpha"):
        soma.BanditAgent("gradient", 5, alpha=0)
    with pytest.raises(TypeError, match="unknown setting"):
        soma.BanditAgent("ucb", 5, temperature=1.0)
    with pytest.raises(ValueError, match="reward"):
        soma.Env.bandit(reward="poisson")
    with pytest.raises(soma.ArgumentError):
        soma.Env.bandit(k=0)
    with pytest.raises(ValueError, match="k"):
        soma.Env.bandit(k=2.5)
    env = soma.Env.bandit(k=4, steps=10)
    with pytest.raises(soma.ArgumentError, match="before reset"):
        env.bandit_values()
    with pytest.raises(ValueError, match="arms"):
        soma.BanditAgent("ucb", 5).run(env)
    with pytest.raises(TypeError, match="bandit"):
        soma.BanditAgent("ucb", 2).run(soma.Env.cartpole())
    with pytest.raises(soma.ArgumentError, match="not a bandit"):
        soma.Env.cartpole().bandit_values()
    a = soma.BanditAgent("ucb", 4)
    with pytest.raises(ValueError, match="action"):
        a.update(4, 1.0)
    with pytest.raises(ValueError, match="reward"):
        a.update(0, float("nan"))
    with pytest.raises(ValueError, match="runs"):
        a.run(env, runs=0)


# --- attention probabilities --------------------------------------------------------------------

def _softmax(s):
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_probabilities_equal_numpy(causal):
    T, D, H = 6, 8, 2
    net = soma.Net("fc8,mha2" + ("c" if causal else "") + ",tmean,fc3", (T, 5), seed=3)
    x = np.random.default_rng(0).normal(size=(4, T, 5)).astype(np.float32)
    p = net.attention(x, 1)
    assert p.shape == (4, H, T, T) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    prm = net.params()
    h = net.predict(x, layer=0).astype(np.float64)  # the attention layer's input
    W = prm["1.in_proj_weight"].astype(np.float64)
    b = prm["1.in_proj_bias"].astype(np.float64)
    qkv = h @ W.T + b
    dh = D // H
    for n in range(4):
        for hh in range(H):
            q = qkv[n, :, hh * dh:(hh + 1) * dh]
            k = qkv[n, :, D + hh * dh:D + (hh + 1) * dh]
            s = q @ k.T / np.sqrt(dh)
            if causal:
                s = np.where(np.triu(np.ones((T, T), bool), 1), -np.inf, s)
            np.testing.assert_allclose(p[n, hh], _softmax(s), atol=2e-6, rtol=1e-4)
    if causal:
        assert (p[:, :, np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] == 0).all()
    else:
        assert (p > 0).all()


def test_attention_in_a_block_and_bad_arguments():
    net = soma.Net("fc16,block4h16c,clsout", (5, 3), seed=1)
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype(np.float32)
    p = net.attention(x, 1)
    assert p.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    assert (p[..., 0, 1:] == 0).all()  # causal: query 0 sees key 0 alone
    np.testing.assert_allclose(p[..., 0, 0], 1.0, atol=1e-6)
    # the block's attention runs on layernorm(x) (norm1, eps 1e-5): recompute it in NumPy
    prm = net.params()
    h = net.predict(x, layer=0).astype(np.float64)
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5)
    h = h * prm["1.0.0.weight"] + prm["1.0.0.bias"]
    qkv = h @ prm["1.0.1.in_proj_weight"].astype(np.float64).T + prm["1.0.1.in_proj_bias"]
    for n in range(2):
        for hh in range(4):
            q, k = qkv[n, :, hh * 4:(hh + 1) * 4], qkv[n, :, 16 + hh * 4:16 + (hh + 1) * 4]
            s = np.where(np.triu(np.ones((5, 5), bool), 1), -np.inf, q @ k.T / 2.0)
            np.testing.assert_allclose(p[n, hh], _softmax(s), atol=2e-6, rtol=1e-4)
    assert not np.array_equal(p[0], p[1])  # different samples attend differently
    with pytest.raises(soma.ArgumentError, match="not a self-attention"):
        net.attention(x, 0)
    with pytest.raises(IndexError):
        net.attention(x, 3)
    with pytest.raises(ValueError, match="shape"):
        net.attention(x[:, :4], 1)
    with pytest.raises(ValueError, match="NaN"):
        net.attention(np.full((1, 5, 3), np.nan, np.float32), 1)
    with pytest.raises(TypeError):
        net.attention(x.astype(bool), 1)
