"""Bad arguments raise clear Python exceptions before any C call (or soma.Error with the C
message after it), and never crash the interpreter: wrong dtypes, non-contiguous arrays where
a copy is refused, wrong shapes, NaN where forbidden, unknown options and names."""

import numpy as np
import pytest

import soma
from soma._ffi import as_array


@pytest.fixture
def net():
    return soma.Net("fc8,relu,fc3", (12,), seed=1)


def test_wrong_dtype(net):
    with pytest.raises(TypeError, match="dtype"):
        net.predict(np.zeros((4, 12), dtype=np.complex64))
    with pytest.raises(TypeError, match="dtype"):
        soma.rdm(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(TypeError, match="dtype"):
        soma.rdm(np.zeros((4, 3), dtype=bool))
    with pytest.raises(TypeError, match="dtype"):
        net.train(np.zeros((4, 12), dtype=object), np.zeros(4, np.int32))
    with pytest.raises(TypeError, match="NumPy array"):
        soma.cka("not an array", np.zeros((3, 3)))
    with pytest.raises(TypeError):
        soma.Net(123, (12,))


def test_non_contiguous_arrays():
    x = np.random.default_rng(0).normal(size=(12, 20))
    # where a copy is allowed (documented), a non-contiguous array gives the same answer
    assert np.array_equal(soma.rdm(x[:, ::2]), soma.rdm(np.ascontiguousarray(x[:, ::2])))
    # where the helper is asked for zero-copy only, it refuses with a clear message
    with pytest.raises(TypeError, match="C-contiguous"):
        as_array(x[:, ::2], np.float64, "x", copy_ok=False)
    with pytest.raises(TypeError, match="dtype float32"):
        as_array(x.astype(np.float32), np.float64, "x", copy_ok=False)
    arr, _ = as_array(x, np.float64, "x", copy_ok=False)
    assert arr is x  # zero-copy: the caller's memory


def test_wrong_shapes(net):
    with pytest.raises(ValueError, match=r"shape \(4, 11\)"):
        net.predict(np.zeros((4, 11), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        net.predict(np.zeros(12, np.float32))
    with pytest.raises(ValueError, match="rows"):
        soma.cka(np.zeros((5, 3)), np.zeros((6, 3)))
    with pytest.raises(ValueError, match="conditions"):
        soma.rsa(soma.rdm(np.eye(5) + 1), soma.rdm(np.eye(6) + 1))
    with pytest.raises(ValueError, match="condensed"):
        soma.rsa(np.zeros(7), np.zeros(7))
    with pytest.raises(ValueError, match="empty|at least 2"):
        soma.rdm(np.zeros((0, 3)))
    with pytest.raises(soma.ArgumentError, match="label|count|sample|y"):
        net.train(np.zeros((10, 12), np.float32), np.zeros(9, np.int32))
    with pytest.raises(soma.ArgumentError):  # a shape error found by the C library
        net.train(np.zeros((10, 13), np.float32), np.zeros(10, np.int32))
    with pytest.raises(ValueError, match="input_shape"):
        soma.Net("fc3", (1, 2, 3, 4, 5))
    with pytest.raises(IndexError):
        net.predict(np.zeros((2, 12), np.float32), layer=7)


def test_nan_where_forbidden(net):
    x = np.ones((6, 12), np.float32)
    x[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.predict(x)
    with pytest.raises(ValueError, match="NaN"):
        net.train(x, np.zeros(6, np.int32))
    with pytest.raises(ValueError, match="row 0 .*not finite"):  # the C check names it
        soma.rdm(np.where(np.eye(4) > 0, np.inf, 1.0))
    with pytest.raises(ValueError, match="NaN"):
        soma.cka(np.full((4, 2), np.nan), np.ones((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        soma.sparse_code(np.ones((3, 4), np.float32), np.full((2, 4), np.nan, np.float32))


def test_unknown_options_and_names(net):
    x = np.ones((8, 12), np.float32)
    y = np.zeros(8, np.int32)
    with pytest.raises(soma.ArgumentError, match="nope"):
        net.train(x, y, optim="nope")
    with pytest.raises(soma.ArgumentError, match="zzz"):
        net.train(x, y, rule="zzz")
    with pytest.raises(TypeError, match="unexpected keyword"):
        net.train(x, y, epochz=3)
    with pytest.raises(soma.ArgumentError, match="manhattan"):
        soma.rdm(np.eye(4) + 1, metric="manhattan")
    with pytest.raises(soma.ArgumentError, match="kendall"):
        soma.rsa(np.arange(6.0), np.arange(6.0)[::-1], method="kendall")
    with pytest.raises(soma.ArgumentError, match="fc3x"):
        soma.Net("fc8,relu,fc3x", (12,))
    with pytest.raises(ValueError, match="epochs"):
        net.train(x, y, epochs=0)
    with pytest.raises(soma.ArgumentError):  # a C-side error carries the C message
        soma.read_npy("/nonexistent/x.npy")
    try:
        soma.read_npy("/nonexistent/x.npy")
    except soma.Error as e:
        assert "/nonexistent/x.npy" in e.message and e.status == 4


def test_c_errors_are_soma_errors():
    # a constant RDM cannot be correlated: the C library refuses, Python raises its message
    with pytest.raises(soma.Error, match="constant"):
        soma.rsa(np.ones(6), np.arange(6.0))
