"""RDMs, RSA and CKA from Python against the soma command on the same files (bit for bit), and
the other analysis wrappers against NumPy/SciPy definitions."""

import json

import numpy as np
import pytest

import soma


def _reps(seed=0, n=12, p=30):
    r = np.random.default_rng(seed)
    return r.normal(size=(n, p)), r.normal(size=(n, p))


@pytest.mark.parametrize("metric", ["correlation", "euclidean", "cosine", "mahalanobis"])
def test_rdm_bitwise_equal_to_cli(tmp_path, soma_cli, metric):
    a, _ = _reps()
    np.save(tmp_path / "a.npy", a)
    soma_cli("rdm", tmp_path / "a.npy", "--metric", metric, "-o", tmp_path / "rdm.npy", "--threads", 1, "--quiet")
    ref = np.load(tmp_path / "rdm.npy")
    got = soma.rdm(a, metric=metric)
    assert got.shape == ref.shape == (12, 12)
    assert np.array_equal(got.view(np.uint64), ref.view(np.uint64))


def test_rsa_run_bitwise_equal_to_c(tmp_path, soma_cli, c_ref):
    a, b = _reps(1)
    b = 0.5 * b + a  # related representations
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    for x in "ab":
        soma_cli("rdm", tmp_path / f"{x}.npy", "-o", tmp_path / f"r{x}.npy", "--threads", 1, "--quiet")
    for method in ("spearman", "pearson", "kendall-tau-a", "whitened-cosine"):
        out = soma_cli("rsa", tmp_path / "ra.npy", tmp_path / "rb.npy", "--method", method, "--threads", 1).stdout
        ref = json.loads(out)
        got = soma.rsa(soma.rdm(a), soma.rdm(b), method=method)
        # the CLI prints cJSON's 15 significant digits; the C program below prints every bit
        assert float("%.15g" % got) == float("%.15g" % ref["value"]), method
        exact = float.fromhex(c_ref("rsa", tmp_path / "a.npy", tmp_path / "b.npy", "correlation", method).strip())
        assert got == exact, method
    v, p = soma.rsa(soma.rdm(a), soma.rdm(b), permutations=200, seed=3)
    ref = json.loads(soma_cli("rsa", tmp_path / "ra.npy", tmp_path / "rb.npy", "--permutations", 200,
                              "--seed", 3, "--threads", 1).stdout)
    assert ("%.15g %.15g" % (v, p)) == ("%.15g %.15g" % (ref["value"], ref["p"])) and p < 0.05


def test_cka_equal_to_cli(tmp_path, soma_cli):
    a, b = _reps(2, n=40, p=10)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    for extra, kw in (([], {}), (["--kernel", "rbf", "--sigma", "0.5"], {"kernel": "rbf", "sigma": 0.5}),
                      (["--unbiased"], {"unbiased": True})):
        ref = json.loads(soma_cli("cka", tmp_path / "a.npy", tmp_path / "b.npy", "--threads", 1, *extra).stdout)
        assert "%.15g" % soma.cka(a, b, **kw) == "%.15g" % ref["value"]
        if not kw:
            d, ang = soma.procrustes(a, b)
            assert "%.15g %.15g" % (d, ang) == "%.15g %.15g" % (ref["procrustes"], ref["procrustes_angle"])


def test_rdm_against_scipy_definitions():
    from scipy.spatial.distance import pdist
    a, _ = _reps(4)
    for metric in ("euclidean", "sqeuclidean", "correlation", "cosine"):
        assert np.allclose(soma.rdm(a, metric=metric, square=False), pdist(a, metric), rtol=1e-9, atol=1e-12)
    sq = soma.rdm(a.astype(np.float32))  # float32 input: a checked copy to float64
    assert np.allclose(sq, soma.rdm(a), atol=1e-5)
    # condensed and square forms compare the same
    ra, rb = soma.rdm(a), soma.rdm(a[::-1].copy())
    assert soma.rsa(ra, rb) == soma.rsa(soma.rdm(a, square=False), soma.rdm(a[::-1].copy(), square=False))


def test_cka_procrustes_invariances():
    a, _ = _reps(5, n=50, p=8)
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(8, 8)))
    assert soma.cka(a, 3.0 * a @ q) == pytest.approx(1.0, abs=1e-12)
    d, ang = soma.procrustes(a, a @ q)
    assert d == pytest.approx(0.0, abs=1e-6) and ang == pytest.approx(0.0, abs=1e-6)


def test_ridge_encode_pca():
    r = np.random.default_rng(6)
    X = r.normal(size=(200, 5))
    W = r.normal(size=(5, 3))
    Y = X @ W + 0.01 * r.normal(size=(200, 3)) + 2.0
    m = soma.Ridge(alphas=np.array([1e-4, 1e-2, 1.0]), folds=4).fit(X, Y)
    assert np.allclose(m.W, W, atol=0.01) and np.allclose(m.b, 2.0, atol=0.01)
    assert np.allclose(m.predict(X), Y, atol=0.05)
    e = soma.encode(X, Y, folds=4)
    assert e["r"].shape == (3,) and e["mean_r"] > 0.99
    P = soma.pca(X, k=3)
    ev = np.sort(np.linalg.eigvalsh(np.cov(X.T)))[::-1][:3]
    assert np.allclose(P["var"], ev, rtol=1e-9) and P["components"].shape == (3, 5)
    lam = np.array([4.0, 1.0, 1.0])
    assert soma.participation_ratio(lam) == pytest.approx(36 / 18)


def test_sparse_coding():
    r = np.random.default_rng(7)
    D = r.normal(size=(20, 16)).astype(np.float32)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    A0 = np.zeros((30, 20), np.float32)
    A0[np.arange(30), r.integers(0, 20, 30)] = 2.0
    X = A0 @ D
    A = soma.sparse_code(D, X, lam=0.01, iters=500)
    assert A.shape == (30, 20) and np.abs(A @ D - X).max() < 0.1
    assert (np.abs(A) > 0.5).sum(axis=1).max() <= 2
