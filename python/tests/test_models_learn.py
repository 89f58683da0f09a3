"""Continual learning (every method, bit for bit against `soma continual`), the Fisher against a
NumPy computation, the DQN and figures bit for bit against a C program, the TD model against a
NumPy re-computation of its prediction errors and updates, the world model, the successor
representation, Hopfield networks against NumPy, and bad arguments."""

import json
import math
import os
import subprocess

import numpy as np
import pytest

import soma
from conftest import ROOT

# The C side of the exact comparisons: the same calls the Python wrappers make, every number
# printed as a hexadecimal float.
C_SRC = r"""
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "soma/soma.h"

static int dqn_(void) {
    soma_dqn_config c = soma_dqn_defaults();
    c.net = "fc16,relu";
    c.learn_start = 32;
    c.batch = 16;
    c.buffer = 1000;
    c.eps_decay = 300;
    c.target_update = 20;
    c.seed = 3;
    soma_dqn *d;
    soma_env *e;
    if (soma_dqn_new(&d, 4, 2, &c) || soma_env_cartpole_new(&e) || soma_env_seed(e, 5)) return 1;
    float obs[4], nxt[4], loss;
    double r;
    int done;
    for (int ep = 0; ep < 4; ep++) {
        if (soma_env_reset(e, obs)) return 1;
        int steps = 0;
        do {
            int a = soma_dqn_act(d, obs, 0);
            if (soma_env_step(e, a, nxt, &r, &done) || soma_dqn_observe(d, obs, a, r, nxt, done, &loss)) return 1;
            if (loss != -1) printf("loss %a\n", loss);
            memcpy(obs, nxt, sizeof obs);
            steps++;
        } while (!done);
        printf("episode %d\n", steps);
    }
    float q[2];
    if (soma_env_reset(e, obs) || soma_dqn_q(d, obs, 0, q)) return 1;
    printf("q %a %a\n", q[0], q[1]);
    printf("grad_steps %ld\n", soma_dqn_grad_steps(d));
    soma_env_free(e);
    soma_dqn_free(d);
    return 0;
}

/* Writes the figure's SVG to stdout and frees it. */
static int emit_(soma_fig *f) {
    char *s;
    size_t n;
    int bad = soma_fig_to_string(f, &s, &n) != 0;
    if (!bad) fwrite(s, 1, n, stdout), soma_free(s);
    soma_fig_free(f);
    return bad;
}

static int fig_(void) {
    soma_fig *f;
    if (soma_fig_new(&f, 1, 2, 640, 300) || soma_fig_title(f, "t")) return 1;
    float y[4] = {0, 1, 4, 9}, m[6] = {1, 2, 3, 4, 5, NAN};
    if (soma_fig_line(f, 0, NULL, y, 4, "sq", NULL) || soma_fig_labels(f, 0, "a", "x", "y") ||
        soma_fig_hline(f, 0, 2.5f, "ref") || soma_fig_heatmap(f, 1, m, 2, 3, NULL))
        return 1;
    return emit_(f);
}

static int fig2_(void) {
    soma_fig *f;
    if (soma_fig_new(&f, 2, 2, 700, 500)) return 1;
    float x[5] = {0, 1, 2, 3, 4}, y[5] = {1, 3, 2, 5, 4}, v[3] = {0.5f, 0.8f, 0.65f}, e[3] = {0.1f, 0.05f, 0.2f};
    int cls[5] = {0, 1, 0, 1, 1}, id[5] = {0, 2, 1, 2, 0};
    const char *names[2] = {"odd", "even"}, *cats[3] = {"a", "b", "c"};
    float imgs[2 * 2 * 3] = {0, 0.5f, 1, 0.2f, 0.4f, 0.6f, 1, 0, 1, 0, 1, 0};
    if (soma_fig_scatter(f, 0, x, y, cls, 5, names, 2) || soma_fig_xlim(f, 0, -1, 5) || soma_fig_ylim(f, 0, 0, 6) ||
        soma_fig_bars(f, 1, v, e, 3, cats, 0) || soma_fig_hband(f, 1, 0.6f, 0.7f, "ceiling") ||
        soma_fig_raster(f, 2, x, id, 5, 3) || soma_fig_images(f, 3, imgs, 2, 2, 3, 0, 1))
        return 1;
    return emit_(f);
}

int main(int argc, char **argv) {
    soma_set_threads(1);
    if (argc == 2 && !strcmp(argv[1], "dqn")) return dqn_();
    if (argc == 2 && !strcmp(argv[1], "fig")) return fig_();
    if (argc == 2 && !strcmp(argv[1], "fig2")) return fig2_();
    return 2;
}
"""


@pytest.fixture(scope="module")
def c_prog(tmp_path_factory):
    d = tmp_path_factory.mktemp("c_models")
    (d / "ref.c").write_text(C_SRC)
    lib = os.path.realpath(soma.library_path)
    subprocess.run(["gcc", "-std=c11", "-O2", "-I", os.path.join(ROOT, "include"), str(d / "ref.c"), "-o",
                    str(d / "ref"), lib, "-Wl,-rpath," + os.path.dirname(lib), "-lm"], check=True)

    def run(what):
        r = subprocess.run([str(d / "ref"), what], capture_output=True, text=True,
                           env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert r.returncode == 0, r.stderr
        return r.stdout

    return run


# --- continual learning -----------------------------------------------------------------------

def _tasks_data(r, n, d=12):
    """3 tasks of 2 classes each (labels 2t, 2t+1), Gaussian clusters."""
    t = r.integers(0, 3, n)
    y = 2 * t + r.integers(0, 2, n)
    centres = np.random.default_rng(7).normal(size=(6, d)).astype(np.float32)
    x = (centres[y] + 0.8 * r.normal(size=(n, d))).astype(np.float32)
    return x, y.astype(np.int64), t.astype(np.int64)


METHODS = [
    ("finetune", [], {}),
    ("joint", [], {}),
    ("ewc", ["--ewc-lambda", "50", "--fisher", "empirical"], dict(ewc_lambda=50.0, fisher="empirical")),
    ("online_ewc", ["--ewc-gamma", "0.5"], dict(ewc_gamma=0.5)),
    ("si", ["--si-c", "0.5", "--penalty", "decoupled"], dict(si_c=0.5, penalty_decoupled=True)),
    ("lwf", ["--lwf-temp", "3", "--lwf-balance"], dict(lwf_temp=3.0, lwf_balance=True)),
    ("replay", ["--buffer", "20", "--replay-batch", "8"], dict(buffer=20, replay_batch=8)),
    ("generative_replay", ["--gen-hidden", "fc16,relu", "--gen-latent", "4", "--gen-lik", "gaussian",
                           "--gen-targets", "hard"],
     dict(gen_hidden="fc16,relu", gen_latent=4, gen_lik="gaussian", gen_soft=False)),
    ("cls", ["--cls-keys", "input", "--cls-knn", "3", "--cls-capacity", "100"],
     dict(cls_keys="input", cls_knn=3, cls_capacity=100)),
]


def test_continual_every_method_equals_cli(tmp_path, soma_cli):
    r = np.random.default_rng(0)
    x, y, t = _tasks_data(r, 300)
    xt, yt, tt = _tasks_data(r, 900)  # 300 a task: the accuracies are a fine fingerprint
    files = {}
    for nm, a in zip(("x", "y", "t", "xt", "yt", "tt"), (x, y, t, xt, yt, tt)):
        files[nm] = tmp_path / f"{nm}.npy"
        np.save(files[nm], a)
    spec = "npy:{x},{y},{t};{xt},{yt},{tt}".format(**files)
    s = soma.TaskStream.from_arrays(x, y, t, test=(xt, yt, tt))
    assert (s.n_tasks, s.classes_per_task, s.n_outputs, s.scenario) == (3, 2, 6, "class")
    assert s.input_shape == (12,) and s.classes.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert s.head(1) == (0, 4) and s.head(0, 2) == (0, 6)
    x1, y1 = s.task(1)
    assert np.array_equal(x1, x[t == 1]) and np.array_equal(y1, y[t == 1])
    mems, Rs = {}, {}
    for method, flags, opts in METHODS:
        net = soma.Net("fc16,relu,fc6", (12,), seed=3)
        res = soma.continual(net, s, method=method, epochs=2, batch=32, lr=1e-2, **opts)
        cli = soma_cli("continual", "--stream", spec, "--method", method, "--net", "fc16,relu,fc6", "--epochs", 2,
                       "--batch", 32, "--lr", 0.01, "--seed", 3, "--threads", 1, "--quiet", *flags)
        j = json.loads(cli.stdout)
        assert res["R"].shape == (3, 3) and res["b"].shape == (3,), method
        assert np.array_equal(res["R"], np.array(j["R"], np.float32)), method
        assert np.array_equal(res["b"], np.array(j["b"], np.float32)), method
        assert res["memory_bytes"] == j["memory_bytes"], method
        for k in ("acc", "bwt", "fwt", "forgetting"):   # the JSON holds 15 digits
            assert res[k] == pytest.approx(j[k], rel=1e-13, abs=1e-15), (method, k)
        assert soma.cl_metrics(res["R"], res["b"]) == {k: res[k] for k in ("acc", "bwt", "fwt", "forgetting")}
        assert res["acc"] == pytest.approx(res["R"][-1].mean(), abs=1e-6)
        mems[method] = res["memory_bytes"]
        Rs[method] = res["R"]
    soma.set_threads(2)                                     # the same bits at any thread count
    for method, flags, opts in METHODS:
        if method in ("ewc", "generative_replay", "cls"):
            res = soma.continual(soma.Net("fc16,relu,fc6", (12,), seed=3), s, method=method, epochs=2, batch=32,
                                 lr=1e-2, **opts)
            assert np.array_equal(res["R"], Rs[method]), method
    soma.set_threads(1)
    # another rule and optimizer (feedback alignment's own draws from the seed, plain SGD)
    res = soma.continual(soma.Net("fc16,relu,fc6", (12,), seed=3), s, method="si", rule="dfa", optim="sgd",
                         epochs=2, batch=32, lr=1e-2)
    j = json.loads(soma_cli("continual", "--stream", spec, "--method", "si", "--rule", "dfa", "--optim", "sgd",
                            "--net", "fc16,relu,fc6", "--epochs", 2, "--batch", 32, "--lr", 0.01, "--seed", 3,
                            "--threads", 1, "--quiet").stdout)
    assert np.array_equal(res["R"], np.array(j["R"], np.float32))
    assert mems["finetune"] == 0 and mems["replay"] > 0 and mems["ewc"] > 0
    # without a test triple: the held-out split `soma continual --stream npy:X,Y,TASKS` draws
    s2 = soma.TaskStream.from_arrays(x, y, t, seed=4)
    n_test = sum(s2.task(i, test=True)[0].shape[0] for i in range(3))
    assert n_test + sum(s2.task(i)[0].shape[0] for i in range(3)) == 300 and 55 <= n_test <= 65
    res = soma.continual(soma.Net("fc6", (12,), seed=4), s2, method="si", epochs=1, batch=16)
    j = json.loads(soma_cli("continual", "--stream", "npy:{x},{y},{t}".format(**files), "--method", "si", "--net",
                            "fc6", "--batch", 16, "--seed", 4, "--threads", 1, "--quiet").stdout)
    assert np.array_equal(res["R"], np.array(j["R"], np.float32))


def test_continual_stops_on_cancel():
    """A cancellation request (what Ctrl-C sends) stops soma_cl_run inside a task: run_long
    raises KeyboardInterrupt, and the next call runs normally."""
    import threading
    from soma._ffi import lib
    r = np.random.default_rng(8)
    x, y, t = _tasks_data(r, 300)
    s = soma.TaskStream.from_arrays(x, y, t, test=(x, y, t))
    timer = threading.Timer(0.3, lib.soma_cancel_request)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            soma.continual(soma.Net("fc16,relu,fc6", (12,)), s, method="ewc", epochs=20000, batch=8)
    finally:
        timer.cancel()
    assert soma.continual(soma.Net("fc6", (12,)), s, epochs=1)["R"].shape == (3, 3)
    # a progress function sees each row of R; an exception in it stops the run and is raised
    rows = []
    res = soma.continual(soma.Net("fc6", (12,)), s, method="replay", progress=lambda t, row: rows.append((t, row)))
    assert [t for t, _ in rows] == [0, 1, 2] and np.array_equal(np.stack([r for _, r in rows]), res["R"])

    def stop(t, row):
        rows.append(t)
        if t == 1:
            raise RuntimeError("enough")

    rows = []
    with pytest.raises(RuntimeError, match="enough"):
        soma.continual(soma.Net("fc6", (12,)), s, progress=stop)
    assert rows == [0, 1]
    with pytest.raises(RuntimeError, match="enough"):       # on the last task: the run had finished
        soma.continual(soma.Net("fc6", (12,)), s, progress=lambda t, row: stop(t - 1, row))
    assert soma.continual(soma.Net("fc6", (12,)), s, epochs=1)["R"].shape == (3, 3)


def test_fisher_against_numpy():
    r = np.random.default_rng(1)
    x = r.normal(size=(24, 5)).astype(np.float32)
    y = r.integers(0, 3, 24).astype(np.int32)
    net = soma.Net("fc3", (5,), seed=4)
    W, b = net.params()["0.weight"].astype(np.float64), net.params()["0.bias"].astype(np.float64)
    z = x @ W.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = p - np.eye(3)[y]                                    # dL/dz per sample
    for batch in (1, 4):
        gw = (g[:, :, None] * x[:, None, :]).reshape(-1, batch, 3, 5).mean(1)
        gb = g.reshape(-1, batch, 3).mean(1)
        F = soma.fisher(net, x, y, batch=batch, kind="empirical")
        assert set(F) == {"0.weight", "0.bias"} and F["0.weight"].shape == (3, 5)
        np.testing.assert_allclose(F["0.weight"], (gw ** 2).mean(0), rtol=2e-4, atol=1e-7)
        np.testing.assert_allclose(F["0.bias"], (gb ** 2).mean(0), rtol=2e-4, atol=1e-7)
    # n: the first n samples; fixed labels are the empirical Fisher of those labels
    F8 = soma.fisher(net, x, y, n=8, kind="empirical")
    np.testing.assert_allclose(F8["0.bias"], (g[:8] ** 2).mean(0), rtol=2e-4, atol=1e-7)
    lab = r.integers(0, 3, 24).astype(np.int32)
    Ft = soma.fisher(net, x, y, kind="true", labels=lab)
    Fe = soma.fisher(net, x, lab, kind="empirical")
    assert all(np.array_equal(Ft[k], Fe[k]) for k in Ft)
    Fd = soma.fisher(net, x, y, kind="true", seed=3)
    assert all(np.all(np.isfinite(v)) and np.all(v >= 0) for v in Fd.values())
    assert all(np.array_equal(Fd[k], v) for k, v in soma.fisher(net, x, y, kind="true", seed=3).items())
    Fh = soma.fisher(net, x, np.minimum(y, 1), kind="empirical", head=(0, 2))
    assert np.all(Fh["0.weight"][2] == 0)                   # outside the head: no gradient
    with pytest.raises(ValueError):
        soma.fisher(net, x, y, kind="fisherman")
    with pytest.raises(ValueError):
        soma.fisher(net, x, y, n=25)
    with pytest.raises(ValueError):
        soma.fisher(net, x, y, labels=lab[:5])
    with pytest.raises(ValueError, match="labels"):         # a class the net does not output
        soma.fisher(net, x, np.where(y == 2, 3, y), kind="empirical")
    with pytest.raises(ValueError, match="labels"):
        soma.fisher(net, x, y, labels=lab + 1)
    with pytest.raises(ValueError, match="labels"):         # outside the head
        soma.fisher(net, x, y, kind="empirical", head=(0, 2))
    with pytest.raises(ValueError, match="net takes"):
        soma.fisher(net, x[:, :4], y)


def test_continual_bad_arguments():
    r = np.random.default_rng(2)
    x, y, t = _tasks_data(r, 60)
    s = soma.TaskStream.from_arrays(x, y, t, test=(x, y, t))
    net = soma.Net("fc6", (12,))
    with pytest.raises(soma.ArgumentError, match="finetune"):   # the C list of methods
        soma.continual(net, s, method="forget-me-not")
    with pytest.raises(TypeError, match="ewc_lamda"):
        soma.continual(net, s, method="ewc", ewc_lamda=1.0)
    with pytest.raises(ValueError):
        soma.continual(net, s, method="ewc", ewc_lambda=float("nan"))
    with pytest.raises(ValueError):
        soma.continual(net, s, method="replay", buffer=2.5)
    with pytest.raises(soma.ArgumentError):
        soma.continual(net, s, method="ewc", ewc_lambda=-1.0)
    with pytest.raises(soma.ArgumentError):
        soma.continual(net, s, method="cls", cls_keys="telepathy")
    with pytest.raises(ValueError):
        soma.continual(net, s, method="generative_replay", gen_lik="cauchy")
    with pytest.raises(soma.ArgumentError):                    # 4 outputs for a stream of 6
        soma.continual(soma.Net("fc4", (12,)), s)
    with pytest.raises(TypeError):
        soma.continual("fc6", s)
    with pytest.raises(ValueError):
        soma.TaskStream.from_arrays(x, y, -t, test=(x, y, t))      # ids out of range
    with pytest.raises(soma.ArgumentError, match="task 1"):
        soma.TaskStream.from_arrays(x, y, np.where(t == 1, 2, t), test=(x, y, t))  # id 1 missing
    with pytest.raises(ValueError):
        soma.TaskStream.from_arrays(x, y, t[:10], test=(x, y, t))
    with pytest.raises(TypeError):
        soma.TaskStream.from_arrays(x, y, t.astype(np.float32), test=(x, y, t))
    bad = x.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError):
        soma.TaskStream.from_arrays(bad, y, t, test=(x, y, t))
    with pytest.raises(ValueError):
        soma.TaskStream.from_arrays(bad, y, t)
    with pytest.raises(soma.ArgumentError):
        soma.TaskStream.load("shuffled-fmnist")
    with pytest.raises(ValueError):
        soma.TaskStream.split((x, y), (x, y), scenario="galaxy")
    with pytest.raises(IndexError):
        s.task(3)
    with pytest.raises(ValueError):
        soma.cl_metrics(np.zeros((2, 3)), np.zeros(2))


def test_fashion_mnist_stream_equals_cli(soma_cli):
    if not os.path.exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"):
        if os.environ.get("SOMA_REQUIRE_FMNIST") == "1":
            pytest.fail("Fashion-MNIST is missing and SOMA_REQUIRE_FMNIST=1 (scripts/deps.sh installs it)")
        pytest.skip("*** Fashion-MNIST is missing (dataset-fashion-mnist) ***")
    s = soma.TaskStream.load("split-fmnist:task", n_train=100, n_test=100)
    assert (s.n_tasks, s.n_outputs, s.scenario, s.input_shape) == (5, 10, "task", (1, 28, 28))
    x4, y4 = s.task(4, test=True)
    assert x4.shape[1:] == (1, 28, 28) and set(np.unique(y4)) == {8, 9}
    res = soma.continual(soma.Net("fc32,relu,fc10", s.input_shape, seed=2), s, method="online_ewc",
                         epochs=1, batch=32)
    j = json.loads(soma_cli("continual", "--stream", "split-fmnist:task", "--n-train", 100, "--n-test", 100,
                            "--method", "online_ewc", "--net", "fc32,relu,fc10", "--batch", 32, "--seed", 2,
                            "--threads", 1, "--quiet").stdout)
    assert np.array_equal(res["R"], np.array(j["R"], np.float32))
    assert res["acc"] > 0.6                                # two classes a task, the task known


def test_split_and_permuted_streams():
    r = np.random.default_rng(3)
    x = r.uniform(0, 1, (80, 6)).astype(np.float32)
    y = np.repeat(np.arange(4), 20).astype(np.int32)
    sp = soma.TaskStream.split((x, y), (x, y), classes_per_task=2, scenario="task")
    assert sp.n_tasks == 2 and sp.scenario == "task" and sp.head(1) == (-1, 2)  # the head by label (SOMA_HEAD_BY_LABEL)
    xs, ys = sp.task(1)
    assert np.array_equal(xs, x[y >= 2]) and sorted(set(ys.tolist())) == [2, 3]
    pm = soma.TaskStream.permuted((x, y), (x, y), 3, seed=1)
    assert pm.n_tasks == 3 and pm.scenario == "domain" and pm.n_outputs == 4
    x0, _ = pm.task(0)
    x2, _ = pm.task(2)
    assert np.array_equal(x0, x) and not np.array_equal(x2, x) and np.array_equal(np.sort(x2, 1), np.sort(x, 1))
    res = soma.continual(soma.Net("fc4", (6,)), pm, method="joint", epochs=2, joint_sampled=True)
    assert np.all((res["R"] >= 0) & (res["R"] <= 1)) and np.isfinite(res["bwt"])


# --- deep RL --------------------------------------------------------------------------------

def test_dqn_equals_c(c_prog, tmp_path):
    ref = c_prog("dqn").split("\n")
    c_loss = [float.fromhex(line.split()[1]) for line in ref if line.startswith("loss")]
    c_eps = [int(line.split()[1]) for line in ref if line.startswith("episode")]
    c_q = [float.fromhex(v) for v in next(line for line in ref if line.startswith("q")).split()[1:]]
    agent = soma.DQN(4, 2, net="fc16,relu", learn_start=32, batch=16, buffer=1000, eps_decay=300,
                     target_update=20, seed=3)
    env = soma.Env.cartpole(seed=5)
    losses, eps = [], []
    for _ in range(2):                                      # the loop by hand
        obs, done, steps = env.reset(), 0, 0
        while not done:
            a = agent.act(obs)
            nxt, rew, done = env.step(a)
            loss = agent.observe(obs, a, rew, nxt, done)
            if loss is not None:
                losses.append(loss)
            obs, steps = nxt, steps + 1
        eps.append(steps)
    for _ in range(2):                                      # and by run_episode
        eps.append(agent.run_episode(env)[0])
    assert eps == c_eps
    assert losses == c_loss[:len(losses)] and len(losses) > 5
    q = agent.q(env.reset())
    assert q.tolist() == c_q
    assert agent.grad_steps == len(c_loss)
    # a checkpoint restores the same Q values into a fresh agent
    agent.save(tmp_path / "dqn.ckpt")
    other = soma.DQN(4, 2, net="fc16,relu", learn_start=32, batch=16, buffer=1000, eps_decay=300,
                     target_update=20, seed=9)
    obs = env.reset()
    assert not np.array_equal(other.q(obs), agent.q(obs))
    other.load(tmp_path / "dqn.ckpt")
    assert np.array_equal(other.q(obs), agent.q(obs)) and np.array_equal(other.q(obs, target=True), agent.q(obs, target=True))
    assert 0 < agent.epsilon < 1 and np.isfinite(agent.train_step())
    with pytest.raises(ValueError):
        agent.q(np.zeros(3))
    with pytest.raises(ValueError):
        agent.observe(obs, 2, 0.0, obs, 0)
    with pytest.raises(ValueError):
        agent.observe(obs, 0, float("nan"), obs, 0)
    with pytest.raises(TypeError):
        agent.q(np.zeros(4, dtype=bool))
    with pytest.raises(soma.ArgumentError):
        soma.DQN(4, 2, gamma=1.5)
    with pytest.raises(soma.ArgumentError):
        soma.DQN(4, 2, net="fc16,sigmoidz")
    with pytest.raises(TypeError):
        soma.DQN(4, 2, epsilon=0.1)
    with pytest.raises(ValueError):
        agent.run_episode(soma.Env.grid("dyna"))


def test_world_model_learns_cartpole():
    env = soma.Env.cartpole(seed=2)
    wm = soma.WorldModel(4, 2, net="fc32,relu", bounds=[2.4, 0, 0.2095, 0], batch=32, seed=1)
    r = np.random.default_rng(0)
    obs, S, A, S2 = env.reset(), [], [], []
    for _ in range(400):
        a = int(r.integers(0, 2))
        nxt, _, done = env.step(a)
        wm.add(obs, a, nxt)
        S.append(obs), A.append(a), S2.append(nxt)
        obs = env.reset() if done else nxt
    assert len(wm) == 400
    S, A, S2 = np.array(S), np.array(A), np.array(S2)
    first = wm.train(10)
    pred0, _ = wm.predict(S[:200], A[:200])
    last = wm.train(400)
    pred1, term = wm.predict(S[:200], A[:200])
    assert np.isfinite(first) and last < first
    err0, err1 = np.abs(pred0 - S2[:200]).mean(), np.abs(pred1 - S2[:200]).mean()
    assert err1 < err0 and pred1.shape == (200, 4) and term.dtype == bool
    far, t2 = wm.predict(np.array([[3.0, 0, 0, 0], [0, 0, 0, 0]], np.float32), [0, 1])
    assert t2.tolist() == [True, False]                     # the bound on the cart position
    # planning through the learned model keeps the pole up far longer than random actions
    rand = []
    for _ in range(5):
        env.reset()
        steps, done = 0, 0
        while not done:
            done, steps = env.step(int(r.integers(0, 2)))[2], steps + 1
        rand.append(steps)
    plan = soma.Planner(wm, "cem", horizon=15, candidates=64, tie_bounds=[2.4, 0, 0.2095, 0], seed=1)
    planned = [plan.run_episode(env, max_steps=200)[0] for _ in range(3)]
    assert np.mean(planned) > max(40, 2 * np.mean(rand)), (planned, rand)
    a, v = plan.act(S[0])
    assert a in (0, 1) and 0 <= v <= 16
    with pytest.raises(ValueError):
        soma.Planner(wm, "mcts")
    with pytest.raises(soma.ArgumentError):
        soma.Planner(wm, "cem", horizon=0)
    with pytest.raises(ValueError):
        wm.predict(S[:2], [0, 2])
    with pytest.raises(ValueError):
        wm.add(S[0], 0, S2[0][:3])
    with pytest.raises(soma.ArgumentError):
        soma.WorldModel(4, 2, lr=-1.0)


# --- TD and the successor representation ---------------------------------------------------

def test_td_dopamine_against_numpy():
    gamma, alpha = 0.98, 0.2
    env = soma.Env.conditioning(isi=6, seed=1)
    td = soma.TDModel("csc", alpha=alpha, gamma=gamma)
    # one learning trial re-computed in NumPy: TD(0) with one-hot CSC features
    w = td.weights.astype(np.float64)
    d, xs = td.run_trial(env, features=True)
    info = env.trial()
    assert info["us_given"] and xs.shape == (len(d), td.n_features)
    rew = np.zeros(len(d))
    rew[info["us_time"]] = 1.0
    want = np.zeros(len(d))
    for k in range(1, len(d)):
        v_next = 0.0 if k == len(d) - 1 else w @ xs[k]
        want[k] = rew[k] + gamma * v_next - w @ xs[k - 1]
        w += alpha * want[k] * xs[k - 1]
    np.testing.assert_allclose(d, want, atol=1e-6)
    np.testing.assert_allclose(td.weights, w, atol=1e-6)
    for _ in range(150):
        d = td.run_trial(env)
    # learned: the error has moved from the reward to the CS onset (Schultz et al. 1997)
    assert d[info["us_time"]] == pytest.approx(0.0, abs=0.05) and d[info["cs_onset"]] > 0.5
    w = td.weights.astype(np.float64)
    d2, xs2 = td.run_trial(env, learn=False, features=True)
    v = xs2.astype(np.float64) @ w
    v[-1] = 0.0
    rew = np.zeros(len(d2))
    rew[env.trial()["us_time"]] = 1.0
    np.testing.assert_allclose(d2[1:], rew[1:] + gamma * v[1:] - xs2[:-1] @ w, atol=1e-6)
    assert np.array_equal(td.weights, w.astype(np.float32))  # learn=False changed nothing
    env.force_trial("omission")
    d3 = td.run_trial(env, learn=False)
    assert d3[info["us_time"]] < -0.5                        # the dip at the omitted reward
    micro = soma.TDModel("micro", n_micro=5, lambda_=0.9, trace="replace")
    assert micro.run_trial(env).shape == d3.shape
    assert td.step(xs2[3], 1.0, xs2[4], learn=False) == pytest.approx(1.0 + gamma * v[4] - xs2[3] @ w, abs=1e-6)
    with pytest.raises(soma.ArgumentError):
        soma.TDModel("csc", alpha=0.0)
    with pytest.raises(ValueError):
        soma.TDModel("spectral")
    with pytest.raises(soma.ArgumentError):
        soma.Env.conditioning(isi=40)                        # the US past the trial
    with pytest.raises(TypeError):
        soma.Env.conditioning(iti=3)
    with pytest.raises(ValueError):
        td.value(np.zeros(3))


def test_successor_representation():
    r = np.random.default_rng(5)
    n = 6
    T = r.uniform(0, 1, (n, n))
    T /= T.sum(1, keepdims=True)
    M = soma.sr_closed_form(T, 0.9)
    np.testing.assert_allclose(M, np.linalg.inv(np.eye(n) - 0.9 * T), rtol=1e-10, atol=1e-12)
    nxt = np.array([[1, 0], [2, 0], [2, 2]])
    pi = np.array([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0]])
    P = soma.sr_policy_T(nxt, pi, terminal=[False, False, True], restart=0)
    assert np.array_equal(P, [[0.5, 0.5, 0], [0.75, 0, 0.25], [1, 0, 0]])
    assert np.array_equal(soma.sr_policy_T(nxt, pi, terminal=[0, 0, 1])[2], [0, 0, 0])
    with pytest.raises(soma.ArgumentError):
        soma.sr_closed_form(T, 1.0)
    with pytest.raises(ValueError):
        soma.sr_closed_form(T[:, :4], 0.5)
    with pytest.raises(soma.ArgumentError):
        soma.sr_policy_T(nxt + 1, pi)                        # next state 3 of 3
    with pytest.raises(TypeError):
        soma.sr_policy_T(nxt.astype(float), pi)


# --- Hopfield networks and figures -----------------------------------------------------------

def test_hopfield_against_numpy():
    r = np.random.default_rng(6)
    N, P = 120, 5
    pats = np.sign(r.normal(size=(P, N))).astype(np.float32)
    h = soma.Hopfield(N)
    h.store(pats[:3])
    h.store(pats[3:])
    W = (pats.T.astype(np.float64) @ pats) / N
    np.fill_diagonal(W, 0)
    assert h.n_patterns == 5
    np.testing.assert_allclose(h.weights, W, atol=1e-6)
    cues = pats.copy()
    flip = r.random((P, N)) < 0.15
    cues[flip] *= -1
    e = h.energy(cues)
    np.testing.assert_allclose(e, -0.5 * np.einsum("bi,ij,bj->b", cues, W, cues), rtol=1e-5, atol=1e-4)
    assert h.energy(cues[0]) == pytest.approx(float(e[0]))
    for mode in ("sync", "async"):
        s, steps = h.update(cues, mode=mode, seed=2)
        assert np.array_equal(s, pats), mode                  # retrieved, P/N = 0.04
        assert np.all(h.energy(s) <= e + 1e-4) and steps.shape == (P,)
        assert np.array_equal(h.update(s, mode=mode)[1], [0] * P if mode == "sync" else [1] * P)
    assert np.array_equal(cues[flip], -pats[flip])           # the caller's cues are not changed
    s1, st1 = h.update(cues[0], mode="async")
    assert s1.shape == (N,) and np.array_equal(s1, pats[0])
    h.clear()
    assert np.all(h.weights == 0)
    with pytest.raises(ValueError):
        h.store(pats * 0.5)
    with pytest.raises(ValueError):
        h.energy(pats[:, :10])
    with pytest.raises(ValueError):
        h.update(np.full((2, N), np.nan))
    with pytest.raises(ValueError):
        h.update(cues, mode="parallel")
    with pytest.raises(ValueError):
        soma.Hopfield(0)


def test_modern_hopfield_against_numpy():
    r = np.random.default_rng(9)
    M, d, beta = 10, 16, 4.0
    P = r.normal(size=(M, d)).astype(np.float32)
    h = soma.ModernHopfield(P, beta=beta)
    xi = P[:3] + 0.3 * r.normal(size=(3, d)).astype(np.float32)
    out, p = h.retrieve(xi, probs=True)
    z = beta * xi.astype(np.float64) @ P.T
    sm = np.exp(z - z.max(1, keepdims=True))
    sm /= sm.sum(1, keepdims=True)
    np.testing.assert_allclose(p, sm, atol=1e-6)
    np.testing.assert_allclose(out, sm @ P, atol=1e-5)         # one attention step
    two = h.retrieve(xi, steps=2)
    np.testing.assert_allclose(two, h.retrieve(h.retrieve(xi)), atol=1e-6)
    P64 = P.astype(np.float64)

    def energy(x):
        zz = beta * P64 @ x
        return (-(zz.max() + np.log(np.exp(zz - zz.max()).sum())) / beta + 0.5 * x @ x + np.log(M) / beta
                + 0.5 * (P64 ** 2).sum(1).max())

    e = h.energy(xi)
    np.testing.assert_allclose(e, [energy(x) for x in xi.astype(np.float64)], rtol=1e-5)
    assert np.all(h.energy(out) <= e + 1e-5)                     # the update never raises it
    G = P64 @ P64.T
    want = np.diag(G) - np.where(np.eye(M, dtype=bool), -np.inf, G).max(1)
    np.testing.assert_allclose(h.separation(), want, rtol=1e-5, atol=1e-4)
    assert h.kind(p[0])[0] == "single" and np.isfinite(h.separation_bound)
    h.beta = 0.01
    assert h.beta == pytest.approx(0.01) and h.kind(h.retrieve(xi[0], probs=True)[1])[0] == "global"
    with pytest.raises(soma.ArgumentError):
        h.beta = -1.0
    with pytest.raises(ValueError):
        h.retrieve(xi[:, :5])
    with pytest.raises(ValueError):
        soma.ModernHopfield.kind([0.5, 0.2])


def test_figure_equals_c(c_prog, tmp_path):
    f = soma.Figure(1, 2, width=640, height=300, title="t")
    f.line(0, [0, 1, 4, 9], label="sq").labels(0, "a", "x", "y").hline(0, 2.5, "ref")
    f.heatmap(1, np.array([[1, 2, 3], [4, 5, math.nan]]))
    assert f.svg() == c_prog("fig")
    f.save(tmp_path / "f.svg")
    saved = (tmp_path / "f.svg").read_text()
    assert saved.startswith("<?xml") and saved.endswith(f.svg())
    g = soma.Figure(2, 2, width=700, height=500)
    x = np.arange(5.0)
    g.scatter(0, x, [1, 3, 2, 5, 4], cls=[0, 1, 0, 1, 1], class_names=["odd", "even"]).xlim(0, -1, 5).ylim(0, 0, 6)
    g.bars(1, [0.5, 0.8, 0.65], err=[0.1, 0.05, 0.2], labels=["a", "b", "c"]).hband(1, 0.6, 0.7, "ceiling")
    g.raster(2, x, [0, 2, 1, 2, 0], 3)
    g.images(3, np.array([0, 0.5, 1, 0.2, 0.4, 0.6, 1, 0, 1, 0, 1, 0], np.float32).reshape(2, 2, 3))
    assert g.svg() == c_prog("fig2")
    with pytest.raises(ValueError):
        g.bars(1, [1, 2], labels=["a"])
    with pytest.raises(TypeError):
        g.scatter(0, x, x, class_names="odd")
    with pytest.raises(IndexError):
        f.line(2, [1, 2])
    with pytest.raises(soma.ArgumentError):
        f.heatmap(0, np.eye(2))                               # an x-y panel
    with pytest.raises(ValueError):
        f.line(0, [1, 2, 3], x=[1, 2])
    with pytest.raises(soma.ArgumentError):
        soma.Figure(0, 1)
