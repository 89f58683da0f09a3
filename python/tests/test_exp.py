"""The experiment registry from Python: the list, a run by name with keyword options (results
as the dict results.json holds), bad options as exceptions."""

import json

import pytest

import soma


def _untimed(ours):
    """The figures of a run without its wall-clock times."""
    return {k: v for k, v in ours.items() if "second" not in k}


def test_experiments_list_matches_cli(soma_cli):
    ex = soma.experiments()
    assert "perceptron" in ex and "cuba" in ex and len(ex) > 20
    out = soma_cli("list").stdout
    for name in ex:
        assert name in out
    d = soma.experiments(details=True)["perceptron"]
    assert d["summary"] == ex["perceptron"] and isinstance(d["options"], list)
    keys = [o["key"] for o in soma.global_options()]
    assert {"seed", "threads", "out", "quiet", "reduced"} <= set(keys)


def test_run_returns_results_json(tmp_path):
    res = soma.run("perceptron", reduced=True, quiet=True, out=str(tmp_path), threads=1, seed=2)
    assert res["experiment"] == "perceptron" and res["status"] == "reduced"
    with open(tmp_path / "perceptron" / "results.json") as f:
        disk = json.load(f)
    assert res["ours"] == disk["ours"]
    again = soma.run("perceptron", reduced=True, quiet=True, out=str(tmp_path / "b"), threads=1, seed=2)
    assert _untimed(again["ours"]) == _untimed(res["ours"])  # same seed, same numbers


def test_run_options_like_cli(tmp_path, soma_cli):
    opts = soma.experiments(details=True)["lif-fi"]["options"]
    assert opts, "lif-fi declares options"
    res = soma.run("lif-fi", reduced=True, quiet=True, out=str(tmp_path / "py"), threads=1)
    soma_cli("run", "lif-fi", "--reduced", "--quiet", "--out", tmp_path / "cli", "--threads", 1)
    with open(tmp_path / "cli" / "lif-fi" / "results.json") as f:
        cli = json.load(f)
    assert _untimed(res["ours"]) == _untimed(cli["ours"]) and len(_untimed(cli["ours"])) > 3


def test_bad_experiment_options(tmp_path):
    with pytest.raises(soma.ArgumentError, match="nope"):
        soma.run("perceptron", nope=3, out=str(tmp_path))
    with pytest.raises(soma.ArgumentError, match="threads"):
        soma.run("perceptron", threads=0, out=str(tmp_path))
    with pytest.raises(soma.ArgumentError, match="unknown experiment"):
        soma.run("no-such-experiment")
    with pytest.raises(TypeError):
        soma.run("perceptron", seed=object())
    assert not (tmp_path / "perceptron").exists()  # refused before anything was written
