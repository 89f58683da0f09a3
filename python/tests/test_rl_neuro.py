"""Environments and tabular agents; spike tables binned as `soma neuro bin` bins them (bit for
bit); latent-variable models on synthetic populations."""

import numpy as np
import pytest

import soma


def test_gridworld_and_dyna_q():
    env = soma.Env.grid("dyna", seed=3)
    assert env.n_actions == 4 and env.n_states == 54 and env.obs_dim == 54
    obs = env.reset()
    assert obs.shape == (54,) and obs.sum() == 1 and obs[env.state] == 1
    o2, r, done = env.step(1)
    assert r == 0.0 and done == 0
    agent = soma.TabularAgent("dyna-q", env.n_states, env.n_actions, seed=1, planning_steps=50)
    lengths = [agent.episode(env)[0] for _ in range(30)]
    assert lengths[0] > lengths[-1]
    assert agent.greedy_steps(env, max_steps=1000) == 14  # Sutton & Barto's figure 8.2: the shortest path
    assert agent.q.shape == (54, 4) and agent.updates > 30 * 14
    with pytest.raises(ValueError):
        env.step(4)
    with pytest.raises(soma.ArgumentError, match="kind"):
        soma.TabularAgent("td-gammon", 4, 2)
    with pytest.raises(soma.ArgumentError):
        soma.Env.grid("S.#\n..")  # ragged rows


def test_cartpole():
    env = soma.Env.cartpole(seed=5)
    obs = env.reset()
    assert obs.shape == (4,) and np.abs(obs).max() <= 0.05
    total, done = 0.0, 0
    while not done:
        obs, r, done = env.step(0)  # always push left: falls within a few dozen steps
        total += r
    assert done == 1 and 5 <= total < 100


def test_spike_table_binning_equal_to_cli(tmp_path, soma_cli):
    r = np.random.default_rng(2)
    rows = [(u, t) for u in (3, 7, 11) for t in np.sort(r.uniform(0, 2.0, 40 + 10 * u))]
    with open(tmp_path / "spk.csv", "w") as f:
        f.write("unit,time\n" + "".join(f"{u},{t!r}\n" for u, t in rows))
    soma_cli("neuro", "bin", tmp_path / "spk.csv", "--bin-ms", 20, "-o", tmp_path / "x.npy")
    ref = np.load(tmp_path / "x.npy")
    rec = soma.Recording.read_csv(tmp_path / "spk.csv")
    assert rec.n_units == 3 and rec.unit_id.tolist() == [3, 7, 11]
    assert len(rec.spike_times) == len(rows) and np.all(np.diff(rec.spike_times) >= 0)
    x, t0 = rec.bin(20)
    assert x.dtype == np.float32 and x.shape == ref.reshape(x.shape).shape
    assert np.array_equal(x.reshape(ref.shape), ref)
    assert x.sum() == len(rows)


def test_gpfa_on_a_smooth_latent():
    r = np.random.default_rng(0)
    T, B, U = 20, 40, 15
    t = np.arange(B) / B
    z = np.sin(2 * np.pi * (t[None, :] + r.uniform(0, 1, (T, 1))))      # one smooth latent a trial
    rates = np.exp(0.5 + 0.8 * z[:, :, None] * r.normal(size=(1, 1, U)))
    counts = r.poisson(rates).astype(np.float32)
    m = soma.LatentModel("gpfa", n_latents=1, max_iter=20).fit(counts, bin_ms=20)
    ll = m.loglik
    assert len(ll) >= 2 and np.all(np.diff(ll) >= -1e-6 * np.abs(ll[:-1]))
    assert m.tau_ms.shape == (1,) and m.tau_ms[0] > 0
    zz = m.transform(counts)
    assert zz.shape == (T, B, 1)
    c = np.corrcoef(zz.ravel(), z.ravel())[0, 1]
    assert abs(c) > 0.8
    C, d, R = m.params()
    assert C.shape == (U, 1) and d.shape == (U,) and R.shape == (U,)
    with pytest.raises(ValueError, match="units"):
        m.transform(counts[:, :, :5])
    with pytest.raises(soma.ArgumentError):
        soma.LatentModel("nope")


def test_nwb_reader(tmp_path, soma_cli):
    import h5py  # Debian's python3-h5py (scripts/deps.sh)
    r = np.random.default_rng(4)
    trains = [np.sort(r.uniform(0, 3.0, k)) for k in (30, 55, 12)]
    with h5py.File(tmp_path / "s.nwb", "w") as f:
        u = f.create_group("units")
        u["spike_times"] = np.concatenate(trains)
        u["spike_times_index"] = np.cumsum([len(t) for t in trains])
        u["id"] = np.array([10, 20, 30])
        tr = f.create_group("intervals/trials")
        tr["start_time"] = np.array([0.0, 1.0, 2.0])
        tr["stop_time"] = np.array([0.9, 1.9, 2.9])
        tr["go_cue"] = np.array([0.2, 1.25, 2.1])
        tr["id"] = np.arange(3)
        pos = f.create_group("processing/behavior/Position/xy")
        pos["data"] = r.normal(size=(300, 2))
        pos["timestamps"] = np.arange(300) * 0.01
    rec = soma.Recording.read_nwb(tmp_path / "s.nwb")
    assert rec.unit_id.tolist() == [10, 20, 30] and len(rec.spike_times) == 97
    assert np.allclose(np.sort(rec.spike_times[rec.spike_units == 1]), trains[1] * 1000)
    assert np.allclose(rec.trials["start_time"], [0, 1000, 2000]) and np.allclose(rec.trials["go_cue"], [0.2, 1.25, 2.1])
    t, xy = rec.series["processing/behavior/Position/xy"]
    assert xy.shape == (300, 2) and t[1] == pytest.approx(10.0)
    x, t0 = rec.bin(50, align="go_cue", window=(-100, 400))
    assert x.shape == (3, 10, 3) and np.allclose(t0, [100, 1150, 2000])
    soma_cli("neuro", "bin", tmp_path / "s.nwb", "--bin-ms", 50, "--align", "go_cue", "--window", "-100,400",
             "-o", tmp_path / "x.npy")
    assert np.array_equal(np.load(tmp_path / "x.npy"), x)
    with pytest.raises(soma.ArgumentError):
        soma.Recording.read_nwb(tmp_path / "x.npy")  # not an HDF5 file
