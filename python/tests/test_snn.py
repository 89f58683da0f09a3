"""A spiking simulation from Python against `soma snn` on the same description: the same
spikes (neuron for neuron, times as the CLI prints them), the same state samples (float32 bit
for bit through the CSV's 10 significant digits) and the same population rates."""

import csv
import json

import numpy as np
import pytest

import soma

DESC = {
    "dt": 0.1, "seed": 3, "duration": 200,
    "groups": [
        {"name": "exc", "n": 400, "model": "lif", "params": {"EL": -49, "V_init_lo": -60, "V_init_hi": -50}},
        {"name": "inh", "n": 100, "model": "lif", "params": {"EL": -49, "V_init_lo": -60, "V_init_hi": -50}},
        {"name": "drive", "n": 50, "model": "poisson", "params": {"rate": 20}},
    ],
    "connections": [
        {"pre": "exc", "post": "exc", "rule": "prob", "p": 0.05, "weight": 16.2},
        {"pre": "exc", "post": "inh", "rule": "prob", "p": 0.05, "weight": 16.2},
        {"pre": "inh", "post": "exc", "target": "inh", "rule": "prob", "p": 0.05, "weight": -90},
        {"pre": "drive", "post": "exc", "rule": "indegree", "k": 5, "weight": 30, "delay": 1.0},
    ],
    "monitors": [
        {"kind": "spikes", "group": "exc"},
        {"kind": "rate", "group": "inh"},
        {"kind": "state", "group": "exc", "var": "v", "neurons": [0, 7, 9], "every": 10},
    ],
}


def _csv(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _c_records(text):
    """c_ref snn's output: {monitor id: exact values}."""
    out, lines, i = {}, text.split("\n"), 0
    while i < len(lines) and lines[i]:
        head = lines[i].split()
        kind, m, n = head[0], int(head[1]), int(head[2])
        if kind == "spikes":
            rows = [ln.split() for ln in lines[i + 1:i + 1 + n]]
            out[m] = (np.array([float.fromhex(r[1]) for r in rows]), np.array([int(r[0]) for r in rows]))
            i += 1 + n
        else:
            k = n * int(head[3]) if kind == "state" else n
            out[m] = np.array([float.fromhex(v) for v in lines[i + 1:i + 1 + k]], dtype=np.float32)
            i += 1 + k
    return out


def test_simulation_equal_to_c_and_cli(tmp_path, soma_cli, c_ref):
    (tmp_path / "net.json").write_text(json.dumps(DESC))
    net = soma.SNN(DESC)
    assert net.groups == {"exc": 400, "inh": 100, "drive": 50}
    net.run()
    assert net.time == pytest.approx(200.0)
    t, ids = net.spikes("exc")
    ts, v = net.state(2)
    hz = net.rate("inh")
    assert len(t) > 100 and v.shape == (200, 3) and hz.shape == (2000,)
    # every bit, against the library called from C
    ref = _c_records(c_ref("snn", tmp_path / "net.json"))
    assert np.array_equal(ref[0][0], t) and np.array_equal(ref[0][1], ids)
    assert np.array_equal(ref[1].view(np.uint32), hz.view(np.uint32))
    assert np.array_equal(ref[2].view(np.uint32), v.reshape(-1).view(np.uint32))
    # and the soma command's files, to the digits it prints
    soma_cli("snn", tmp_path / "net.json", "-o", tmp_path / "run", "--threads", 1, "--quiet")
    head, rows = _csv(tmp_path / "run" / "spikes_exc.csv")
    assert head == ["t_ms", "neuron"] and len(rows) == len(t)
    assert [int(r[1]) for r in rows] == ids.tolist()
    assert [r[0] for r in rows] == ["%.10g" % x for x in t]
    head, rows = _csv(tmp_path / "run" / "state_exc_v.csv")
    assert head == ["t_ms", "v_0", "v_7", "v_9"] and len(rows) == v.shape[0]
    assert [r[1:] for r in rows] == [["%.7g" % x for x in row] for row in v]
    head, rows = _csv(tmp_path / "run" / "rate_inh.csv")
    assert [r[1] for r in rows] == ["%.7g" % x for x in hz]


def test_seed_state_and_continuation():
    a = soma.SNN(DESC, seed=5)
    a.run(100)
    a.run(100)
    b = soma.SNN(json.dumps(DESC), seed=5)
    b.run(200)
    assert np.array_equal(a.spikes("exc")[1], b.spikes("exc")[1])
    c = soma.SNN(DESC, seed=6)
    c.run(200)
    assert not np.array_equal(c.spikes("exc")[1], b.spikes("exc")[1])
    v = b.get_state("exc", "v")
    assert v.shape == (400,) and np.isfinite(v).all()
    b.set_state("exc", "v", np.full(400, -55.0))
    assert np.array_equal(b.get_state("exc", "v"), np.full(400, -55.0))
    assert [m[1] for m in b.monitors()] == ["spikes", "rate", "state"]


def test_bad_descriptions():
    bad = dict(DESC, groups=[dict(DESC["groups"][0], model="nope")])
    with pytest.raises(soma.ArgumentError, match="nope"):
        soma.SNN(bad)
    net = soma.SNN(DESC)
    with pytest.raises(KeyError):
        net.spikes("inh")  # no spike monitor there
    with pytest.raises(ValueError):
        net.set_state("exc", "v", np.full(400, np.nan))
    with pytest.raises(ValueError):
        net.run(-1)
