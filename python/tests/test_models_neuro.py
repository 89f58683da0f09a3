"""LFADS, co-smoothing, the NDT foundation model and the VAE from Python: equal to the soma
command (`soma neuro fit`, `soma fm pretrain`) and to the library driven from C, bit for bit;
training lowers the loss; bad arguments raise and never crash. Tiny sizes (a few seconds)."""

import json
import os
import subprocess

import numpy as np
import pytest

import soma
from conftest import ROOT


def _population(trials, bins, units, seed):
    """Poisson counts driven by a shared smooth latent with a random phase a trial."""
    r = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, bins)
    z = np.sin(t[None, :] + r.uniform(0, 2 * np.pi, (trials, 1)))
    w = r.normal(0, 0.8, units)
    return r.poisson(np.exp(0.2 + z[:, :, None] * w[None, None, :])).astype(np.float32)


LFADS_SMALL = dict(epochs=4, enc_dim=8, gen_dim=8, factors=3, batch=10)


def test_lfads_cosmooth_equal_to_cli(tmp_path, soma_cli):
    x = _population(30, 20, 12, seed=1)
    np.save(tmp_path / "x.npy", x)
    soma_cli("neuro", "fit", "--model", "lfads", "--data", tmp_path / "x.npy", "--epochs", 4, "--enc", 8,
             "--gen", 8, "--factors", 3, "--batch", 10, "--seed", 2, "--threads", 1, "--quiet",
             "-o", tmp_path / "cli")
    res = soma.cosmooth(x, "lfads", heldout=0.25, test=0.2, seed=2, **LFADS_SMALL)
    ref_rates, ref_lat = np.load(tmp_path / "cli" / "rates.npy"), np.load(tmp_path / "cli" / "latents.npy")
    assert res["rates"].shape == (6, 20, 12) and res["latents"].shape == (6, 20, 3)
    assert np.array_equal(res["rates"], ref_rates) and np.array_equal(res["latents"], ref_lat)
    js = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert res["test_idx"].tolist() == js["test_trials"]
    assert np.flatnonzero(res["heldout"]).tolist() == js["heldout_units"]
    assert res["co_bps"] == pytest.approx(js["co_bps"], rel=1e-12, abs=1e-14)
    # the fitted model comes back: its units are the held-in ones first; its factors of the
    # test trials' held-in units are the latents co-smoothing reported
    m = res["model"]
    assert (m.n_bins, m.n_in, m.n_out) == (20, 9, 12) and m.options["seed"] == 2
    held_in = np.flatnonzero(res["heldout"] == 0)
    f, r = m.infer(x[res["test_idx"]][:, :, held_in])
    assert f.shape == (6, 20, 3) and r.shape == (6, 20, 12)
    assert np.allclose(f, res["latents"], rtol=1e-5, atol=1e-6)
    # a latent model by the same route: FA, 20 EM iterations
    soma_cli("neuro", "fit", "--model", "fa", "--data", tmp_path / "x.npy", "--iters", 20, "--seed", 3,
             "--threads", 1, "--quiet", "-o", tmp_path / "fa")
    z = np.random.default_rng(7).normal(size=(30, 20, 2)).astype(np.float32)
    z[:, :, 0] += x[:, :, :4].mean(axis=2)  # partly predictable from the counts
    np.save(tmp_path / "z.npy", z)
    soma_cli("neuro", "fit", "--model", "fa", "--data", tmp_path / "x.npy", "--iters", 20, "--seed", 3,
             "--true-latents", tmp_path / "z.npy", "--threads", 1, "--quiet", "-o", tmp_path / "faz")
    faz = soma.cosmooth(x, "fa", seed=3, max_iter=20, true_latents=z)
    jz = json.loads((tmp_path / "faz" / "metrics.json").read_text())
    assert np.isfinite(faz["latent_r2"]) and faz["latent_r2"] == pytest.approx(jz["latent_r2"], rel=1e-12)
    with pytest.raises(ValueError, match="shape"):
        soma.cosmooth(x, "fa", true_latents=z[:, :10])
    fa = soma.cosmooth(x, "fa", seed=3, max_iter=20)
    assert "model" not in fa and np.isnan(fa["latent_r2"])
    assert np.array_equal(fa["rates"], np.load(tmp_path / "fa" / "rates.npy"))
    assert np.array_equal(fa["latents"], np.load(tmp_path / "fa" / "latents.npy"))
    # masks instead of shares: the same split gives the same result
    again = soma.cosmooth(x, "fa", heldout=fa["heldout"].astype(bool), test=fa["test"], seed=3, max_iter=20)
    assert np.array_equal(again["rates"], fa["rates"]) and again["co_bps"] == fa["co_bps"]


def test_lfads_fit_infer_and_errors():
    x = _population(40, 20, 12, seed=4)
    m = soma.LFADS(20, 9, 12, seed=3, **dict(LFADS_SMALL, epochs=15), valid_frac=0.0, lr=1e-2)
    before = m.loss(x)
    m.fit(x)
    after = m.loss(x)
    assert set(before) == {"loss", "rec", "kl", "l2"} and all(np.isfinite(v) for v in after.values())
    assert after["loss"] < before["loss"] - 0.02
    h = m.history
    assert h["train_loss"].shape == (15,) and np.isnan(h["valid_loss"]).all()  # no validation trials
    assert h["train_loss"][-3:].mean() < h["train_loss"][:3].mean()
    f, r = m.infer(x[:5, :, :9])
    assert f.shape == (5, 20, 3) and r.shape == (5, 20, 12) and np.isfinite(f).all() and (r > 0).all()
    f2, r2 = m.infer(x[:5])  # all units given: the held-in ones are read
    assert np.array_equal(f2, f) and np.array_equal(r2, r)
    p = m.params()
    assert p["out.weight"].shape == (12 * 3,) and p["gen.weight_hh_l0"].shape == (3 * 8 * 8,)
    # the same options, seed and data: the same model
    m2 = soma.LFADS(20, 9, 12, seed=3, **dict(LFADS_SMALL, epochs=15), valid_frac=0.0, lr=1e-2).fit(x)
    assert all(np.array_equal(p[k], v) for k, v in m2.params().items())

    with pytest.raises(TypeError, match="unknown option"):
        soma.LFADS(20, 9, 12, encoder=8)
    with pytest.raises(TypeError):
        soma.LFADS(20, 9, 12, epochs=2.5)
    with pytest.raises(soma.ArgumentError):
        soma.LFADS(20, 9, 12, enc_dim=0)  # the C library's range check
    with pytest.raises(soma.ArgumentError):
        soma.LFADS(20, 13, 12)  # n_out < n_in
    with pytest.raises(ValueError, match="shape"):
        m.fit(x[:, :, :10])
    with pytest.raises(ValueError, match="NaN"):
        bad = x.copy()
        bad[0, 0, 0] = np.nan
        m.fit(bad)
    with pytest.raises(ValueError, match="negative"):
        m.infer(-x[:2])
    with pytest.raises(TypeError):
        m.infer(x.astype(np.complex64))
    with pytest.raises(ValueError):
        m.infer(x[0])  # 2-D
    with pytest.raises(soma.ArgumentError):
        m.fit(x[:1])  # one trial
    with pytest.raises(soma.ArgumentError, match="unknown"):
        soma.cosmooth(x, "gpfb")  # the C parser lists the kinds
    with pytest.raises(ValueError, match="heldout"):
        soma.cosmooth(x, "fa", heldout=np.ones(5, bool), test=0.2)
    with pytest.raises(TypeError, match="unknown option"):
        soma.cosmooth(x, "lfads", latents=3)


NDT_ARCH = dict(d_model=16, n_layers=1, n_heads=2)


def _sessions():
    return _population(24, 10, 9, seed=5), _population(20, 10, 6, seed=6)


def test_ndt_equal_to_cli_and_resume(tmp_path, soma_cli):
    a, b = _sessions()
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    soma_cli("fm", "pretrain", "--data", f"{tmp_path / 'a.npy'},{tmp_path / 'b.npy'}", "--out", tmp_path / "cli.ckpt",
             "--steps", 8, "--batch", 6, "--warmup", 2, "--d-model", 16, "--layers", 1, "--heads", 2,
             "--eval-every", 4, "--seed", 3, "--threads", 1, "--quiet")
    fm = soma.NDT(10, seed=3, **NDT_ARCH)
    assert fm.add_session(9) == 0 and fm.add_session(6) == 1 and fm.n_sessions == 2
    h = fm.train([a, b], steps=8, batch=6, warmup=2, eval_every=4, seed=3)
    assert h["step"].tolist() == [4, 8] and np.isfinite(h["valid_nll"]).all() and fm.step == 8
    cli = soma.NDT.load(tmp_path / "cli.ckpt")
    assert cli.arch == fm.arch and cli.step == 8
    for s in (None, 0, 1):
        assert np.array_equal(fm.params(s), cli.params(s)), f"session {s}"
    # inference runs in chunks of the model's batch buffer (the training batch once trained), and
    # the last bits depend on the chunk: compare two models loaded from files
    fm.save(tmp_path / "py.ckpt")
    lat, lr = soma.NDT.load(tmp_path / "py.ckpt").infer(1, b)
    assert lat.shape == (20, 10, 16) and lr.shape == (20, 10, 6)
    lat2, lr2 = cli.infer(1, b)
    assert np.array_equal(lat, lat2) and np.array_equal(lr, lr2)
    # stopped at step 3, saved, loaded, continued: the same model as the run never stopped
    part = soma.NDT(10, seed=3, **NDT_ARCH)
    part.add_session(9)
    part.add_session(6)
    part.train([a, b], until_step=3, steps=8, batch=6, warmup=2, eval_every=4, seed=3)
    assert part.step == 3
    part.save(tmp_path / "part.ckpt")
    resumed = soma.NDT.load(tmp_path / "part.ckpt")
    resumed.train([a, b], steps=8, batch=6, warmup=2, eval_every=4, seed=3)
    assert resumed.step == 8
    for s in (None, 0, 1):
        assert np.array_equal(resumed.params(s), fm.params(s))
    with pytest.raises(soma.ArgumentError):  # a run in progress continues only with its options
        part2 = soma.NDT.load(tmp_path / "part.ckpt")
        part2.train([a, b], steps=9, batch=6, warmup=2, eval_every=4, seed=3)


def test_ndt_adapt_eval_anomaly_forecast_and_errors():
    a, b = _sessions()
    fm = soma.NDT(10, seed=1, dropout=0.0, **NDT_ARCH)
    s0 = fm.add_session(9)
    before = fm.eval(s0, a, seed=2, n_draws=2)
    fm.train([a], steps=60, batch=8, lr=5e-3, warmup=5, eval_every=20, valid_frac=0.0)
    after = fm.eval(s0, a, seed=2, n_draws=2)
    assert set(after) == {"nll", "bps"} and after["nll"] < before["nll"] and after["bps"] > before["bps"]
    assert np.isnan(fm.history["valid_nll"]).all()  # no validation trials
    # adaptation to a new session: frozen trunk, held-out units scored (co-smoothing)
    trunk = fm.params()
    s1 = fm.add_session(6)
    fm.reset_run()
    assert fm.step == 0 and fm.n_params(s1) == 16 * 6 + 16 + 6 * 16 + 6 + 16
    ho = np.array([0, 0, 0, 0, 1, 1], bool)
    fm.train({s1: (b, ho)}, steps=10, batch=8, train_trunk=False, valid_frac=0.0)
    assert np.array_equal(fm.params(), trunk)
    co = fm.eval(s1, b, heldout=ho, ratio=0.1)
    assert np.isfinite(co["bps"]) and np.isfinite(co["nll"])
    score = fm.anomaly(s0, a, n_draws=2)
    assert score.shape == (24,) and np.isfinite(score).all()
    rates = fm.forecast(s0, a, 3)
    assert rates.shape == (24, 3, 9) and (rates > 0).all()
    masked = np.zeros(a.shape, bool)
    masked[:, -3:] = True
    _, lr = fm.infer(s0, a, mask=masked)
    assert np.allclose(np.exp(lr[:, -3:]), rates, rtol=1e-4)

    # subjects: a token each, learned with the trunk
    sub = soma.NDT(10, subjects=2, seed=4, **NDT_ARCH)
    assert sub.add_session(9, subject=1) == 0 and sub.add_session(6, subject=0) == 1
    tok = sub.params("subjects")
    assert tok.shape == (2 * 16,)
    sub.train([a, b], steps=4, batch=6, mix=2, eval_every=2)
    assert not np.array_equal(sub.params("subjects"), tok) and fm.params("subjects").size == 0
    with pytest.raises(soma.ArgumentError):
        sub.add_session(5, subject=2)

    with pytest.raises(ValueError, match="unknown"):
        fm.eval(5, a)
    with pytest.raises(ValueError, match="shape"):
        fm.infer(s1, a)  # 9 units, the session has 6
    with pytest.raises(TypeError, match="unknown option"):
        fm.train([a], stepz=3)
    with pytest.raises(ValueError, match="mask"):
        fm.eval(s0, a, mask="neurons")
    with pytest.raises(ValueError, match="NaN"):
        fm.infer(s0, np.full(a.shape, np.nan, np.float32))
    with pytest.raises(TypeError):
        fm.train(a)  # an array, not a list of sessions
    with pytest.raises(soma.ArgumentError):
        soma.NDT(10, d_model=16, n_heads=3)  # heads must divide the width
    with pytest.raises(soma.ArgumentError):
        soma.NDT.load(os.path.join(ROOT, "README.md"))
    with pytest.raises(ValueError):
        fm.forecast(s0, a, 10)


VAE_C = r"""
#include <stdio.h>
#include "soma/soma.h"
/* vae X.npy MU.npy LV.npy S.npy: the VAE the Python test builds, trained and used from C */
int main(int argc, char **argv) {
    if (argc != 5) return 2;
    soma_set_threads(1);
    soma_array x = {0};
    if (soma_npy_read(argv[1], &x)) return 1;
    int n = (int)x.shape[0], D = (int)x.shape[1];
    int *lab = calloc((size_t)n, sizeof(int));
    soma_array y = {.dtype = SOMA_DTYPE_I32, .ndim = 1, .shape = {n}, .n = (size_t)n, .data = lab};
    soma_dataset *d;
    if (soma_dataset_from_arrays(&x, &y, "vae", &d)) return 1;
    soma_vae_opts o = soma_vae_opts_default();
    o.latent = 3, o.enc_hidden = "fc16,tanh", o.dec_hidden = "fc12,relu", o.beta = 0.5f, o.seed = 7;
    o.lr = 3e-3f;
    soma_vae *v;
    soma_vae_loss last;
    if (soma_vae_new(&v, &o, soma_shape1(D)) || soma_vae_train(v, d, 3, 16, &last)) return 1;
    float *mu = malloc(sizeof(float) * n * 3), *lv = malloc(sizeof(float) * n * 3), *s = malloc(sizeof(float) * 4 * D);
    if (soma_vae_encode(v, x.data, n, mu, lv) || soma_vae_sample(v, 4, s)) return 1;
    int64_t sh[2] = {n, 3}, ss[2] = {4, D};
    if (soma_npy_write(argv[2], SOMA_DTYPE_F32, 2, sh, mu) || soma_npy_write(argv[3], SOMA_DTYPE_F32, 2, sh, lv) ||
        soma_npy_write(argv[4], SOMA_DTYPE_F32, 2, ss, s))
        return 1;
    printf("%a\n", last.loss);
    return 0;
}
"""


def test_vae_equal_to_c(tmp_path):
    r = np.random.default_rng(8)
    x = (r.random((70, 10)) < np.linspace(0.1, 0.9, 10)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "vae.c").write_text("#include <stdlib.h>\n" + VAE_C)
    lib = os.path.realpath(soma.library_path)
    exe = tmp_path / "vae"
    subprocess.run(["gcc", "-std=c11", "-O2", "-I", os.path.join(ROOT, "include"), str(tmp_path / "vae.c"), "-o",
                    str(exe), lib, "-Wl,-rpath," + os.path.dirname(lib)], check=True)
    out = subprocess.run([str(exe)] + [str(tmp_path / f) for f in ("x.npy", "mu.npy", "lv.npy", "s.npy")],
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr
    v = soma.VAE((10,), latent=3, enc_hidden="fc16,tanh", dec_hidden="fc12,relu", beta=0.5, seed=7, lr=3e-3)
    last = v.train(x, epochs=3, batch=16)
    assert last["loss"] == float.fromhex(out.stdout.strip())
    mu, lv = v.encode(x)
    assert np.array_equal(mu, np.load(tmp_path / "mu.npy")) and np.array_equal(lv, np.load(tmp_path / "lv.npy"))
    assert np.array_equal(v.sample(4), np.load(tmp_path / "s.npy"))
    # 2 threads: the same bits
    soma.set_threads(2)
    v2 = soma.VAE((10,), latent=3, enc_hidden="fc16,tanh", dec_hidden="fc12,relu", beta=0.5, seed=7, lr=3e-3)
    assert v2.train(x, epochs=3, batch=16)["loss"] == last["loss"]
    assert np.array_equal(v2.encode(x)[0], mu)


def test_vae_training_and_errors():
    r = np.random.default_rng(9)
    proto = (r.random((4, 16)) < 0.5).astype(np.float32)
    x = proto[r.integers(0, 4, 200)]
    x = np.where(r.random(x.shape) < 0.05, 1 - x, x).astype(np.float32)
    v = soma.VAE((16,), latent=2, enc_hidden="fc32,relu", lr=1e-2, seed=2)
    before = v.loss(x[:100])
    v.train(soma.Dataset.from_arrays(x, np.zeros(200, np.int32)), epochs=15, batch=20)
    after = v.loss(x[:100])
    assert after["loss"] < before["loss"] - 2 and after["beta"] == 1.0
    mu, lv = v.encode(x[:8])
    assert mu.shape == lv.shape == (8, 2) and np.isfinite(mu).all()
    p = v.decode(mu)
    assert p.shape == (8, 16) and (p >= 0).all() and (p <= 1).all()
    # reconstructions sit nearer their own row than a random row
    assert np.abs(p - x[:8]).mean() < np.abs(p - x[8:16]).mean()
    s = v.sample(5)
    assert s.shape == (5, 16) and (s >= 0).all() and (s <= 1).all()
    img = soma.VAE((1, 4, 4), latent=2, enc_hidden="fc8,relu", lik="gaussian")
    assert img.train(x.reshape(200, 1, 4, 4), epochs=1, batch=50)["loss"] > 0
    assert img.decode(np.zeros((3, 2))).shape == (3, 1, 4, 4) and img.dim == 16

    with pytest.raises(soma.ArgumentError, match="bernoulli"):
        soma.VAE((16,), lik="binomial")
    with pytest.raises(soma.ArgumentError):
        soma.VAE((16,), enc_hidden="fc-3,relu")
    with pytest.raises(soma.ArgumentError):
        soma.VAE((16,), latent=0)
    with pytest.raises(TypeError, match="unknown option"):
        soma.VAE((16,), hidden="fc8")
    with pytest.raises(ValueError, match="shape"):
        v.encode(x[:, :15])
    with pytest.raises(ValueError, match="NaN"):
        v.train(np.full((10, 16), np.nan, np.float32))
    with pytest.raises(ValueError, match="shape"):
        v.decode(np.zeros((3, 5), np.float32))
    with pytest.raises(soma.ArgumentError, match="batch"):
        v.train(x, batch=1000)  # above max_batch
    with pytest.raises(TypeError):
        v.train("x.npy")
    with pytest.raises(ValueError):
        v.sample(0)


def test_cancel_flag_stops_training():
    """The cancellation flag (set by Ctrl-C during a long call) stops LFADS after the epoch,
    the NDT after the step (the run then continues to the same model as one never stopped)
    and the VAE after the batch. The C calls are made directly: run_long clears the flag
    before it starts."""
    from soma._ffi import lib, check, ffi
    x = _population(20, 10, 6, seed=10)
    m = soma.LFADS(10, 4, 6, **dict(LFADS_SMALL, epochs=50))
    _, c = soma.models._counts(x)
    fm = soma.NDT(10, seed=2, **NDT_ARCH)
    fm.add_session(6)
    v = soma.VAE((6,), latent=2, enc_hidden="fc8,relu")
    ds = soma.Dataset.from_arrays(x.reshape(-1, 6), np.zeros(200, np.int32))
    d = ffi.new("soma_ndt_data *", {"counts": c, "session": 0})
    o = ffi.new("soma_ndt_train_opts *", lib.soma_ndt_train_default())
    o.steps, o.batch, o.eval_every = 20, 4, 5
    last = ffi.new("soma_vae_loss *")
    lib.soma_cancel_request()
    try:
        with pytest.raises(soma.Cancelled, match="1 of 50 epochs"):
            check(lib.soma_lfads_fit(m._m, c))
        with pytest.raises(soma.Cancelled, match="step 1"):
            check(lib.soma_ndt_train(fm._m, d, 1, o, -1))
        with pytest.raises(soma.Cancelled, match="epoch 1"):
            check(lib.soma_vae_train(v._v, ds._p, 5, 50, last))
    finally:
        lib.soma_cancel_clear()
    assert m.history["train_loss"].shape == (1,) and fm.step == 1
    fm.train([x], steps=20, batch=4, eval_every=5)
    whole = soma.NDT(10, seed=2, **NDT_ARCH)
    whole.add_session(6)
    whole.train([x], steps=20, batch=4, eval_every=5)
    assert fm.step == 20 and np.array_equal(fm.params(), whole.params()) and np.array_equal(fm.params(0), whole.params(0))


SIGINT_CHILD = r"""
import numpy as np, soma
r = np.random.default_rng(0)
x = r.poisson(1.0, size=(200, 20, 30)).astype(np.float32)
m = soma.LFADS(20, 30, epochs=100000, seed=1)
soma.set_threads(1)
print("ready", flush=True)
try:
    m.fit(x)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted after %d epochs" % len(m.history["train_loss"]), flush=True)
    m2 = soma.LFADS(20, 30, epochs=1, seed=1).fit(x[:4])     # the flag was cleared
    print("again %d" % len(m2.history["train_loss"]), flush=True)
"""


def test_sigint_stops_lfads_fit():
    import signal
    import sys
    import time
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-c", SIGINT_CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # inside the fit (100000 epochs would take hours)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("the fit did not stop within 30 s of SIGINT")
    assert p.returncode == 0, (out, err)
    assert "interrupted after" in out and "again 1" in out and "finished" not in out, (out, err)
