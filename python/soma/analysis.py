"""Analysis tools on NumPy arrays (include/soma/analysis.h): RDMs, RSA, CKA, Procrustes,
encoding models, population geometry, sparse coding. The defaults are `soma rdm|rsa|cka`'s.

Arrays: these functions compute in float64 (sparse coding in float32). A C-contiguous array of
that dtype is read in place (zero-copy); any other real array is copied once, converted.
NaN and infinity raise ValueError before any C call."""

import threading

import numpy as np

from ._ffi import ffi, lib, check, as_array, parse_enum, copy_out, run_long, make_error, ArgumentError

_F64 = np.float64


def _n_from_condensed(m):
    n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
    return n if n * (n - 1) // 2 == m and n >= 2 else None


_F64D = np.dtype(np.float64)
_DARR = ffi.typeof("double[]")
_from_buffer = ffi.from_buffer
_empty = np.empty  # float64 by default
_scratch = threading.local()  # n -> a condensed buffer (cdata) per thread, for square RDMs


def _scratch_for(n):
    d = _scratch.__dict__
    if len(d) > 64:
        d.clear()
    d[n] = ffi.new("double[]", max(n * (n - 1) // 2, 1))
    return d[n]


_RDM_OPTS = {}  # (metric, shrinkage) -> soma_rdm_opts * (read-only once made: shared by threads)


def _rdm_opts(metric, shrinkage):
    o = _RDM_OPTS.get((metric, shrinkage))
    if o is None:
        if not isinstance(metric, str):
            raise TypeError(f"metric: want a str, got {type(metric).__name__}")
        m = parse_enum(lib.soma_rdm_metric_parse, "metric", metric)
        if isinstance(shrinkage, bool) or not isinstance(shrinkage, (int, float, np.integer, np.floating)):
            raise TypeError(f"shrinkage: want a number, got {type(shrinkage).__name__}")
        o = ffi.new("soma_rdm_opts *", {"metric": m, "shrinkage": float(shrinkage)})
        if len(_RDM_OPTS) < 256:
            _RDM_OPTS[(metric, shrinkage)] = o
    return o


def rdm(X, metric="correlation", shrinkage=-1.0, square=True):
    """The representational dissimilarity matrix of X: [n, p] (conditions x features) or
    [n, p, reps] (repetitions: needed by "crossnobis"). metric: "euclidean", "sqeuclidean",
    "correlation" (1 - Pearson r, the default of `soma rdm`), "cosine", "mahalanobis",
    "crossnobis". shrinkage: covariance shrinkage in [0, 1] for the Mahalanobis kinds (< 0:
    Ledoit-Wolf). Returns float64 [n, n] (zero diagonal), or with square=False the condensed
    n(n-1)/2 entries in SciPy's pdist order. A C-contiguous float64 X is read in place; NaN or
    infinity raise soma.ArgumentError (a ValueError) naming the condition, from the C check."""
    try:  # the fast path: a C-contiguous float64 [n, p] read in place (from_buffer refuses others)
        if X.dtype is not _F64D or X.ndim != 2:
            raise TypeError
        px = _from_buffer(_DARR, X)
        n, p = X.shape
        reps = 1
    except (AttributeError, TypeError, ValueError):
        X, px = as_array(X, _F64, "X", ndim=(2, 3), finite=False)
        n, p = X.shape[0], X.shape[1]
        reps = X.shape[2] if X.ndim == 3 else 1
    o = _RDM_OPTS.get((metric, shrinkage)) or _rdm_opts(metric, shrinkage)
    if square:  # the condensed form is scratch: this thread's buffer for n, reused
        po = _scratch.__dict__.get(n) or _scratch_for(n)
    else:
        out = _empty(n * (n - 1) // 2)
        po = _from_buffer(_DARR, out)
    st = lib.soma_rdm(px, n, p, reps, o, po)
    if st:
        raise make_error(st)
    if not square:
        return out
    sq = _empty((n, n))
    lib.soma_rdm_to_square(po, n, _from_buffer(_DARR, sq))
    return sq


def _condensed(a, name):
    """(condensed float64 array, pointer, n) from a square [n, n] or condensed RDM."""
    a, pa = as_array(a, _F64, name, ndim=(1, 2))
    if a.ndim == 2:
        if a.shape[0] != a.shape[1]:
            raise ValueError(f"{name}: shape {a.shape} is neither a square RDM [n, n] nor a condensed one")
        n = a.shape[0]
        c = np.empty(n * (n - 1) // 2, dtype=_F64)
        pc = ffi.cast("double *", ffi.from_buffer(c))
        check(lib.soma_rdm_from_square(pa, n, pc))
        return c, pc, n
    n = _n_from_condensed(a.shape[0])
    if n is None:
        raise ValueError(f"{name}: {a.shape[0]} entries is not n(n-1)/2 for any n >= 2: not a condensed RDM")
    return a, pa, n


def rsa(a, b, method="spearman", permutations=0, seed=1):
    """Compares two RDMs of the same conditions (square [n, n] or condensed): "pearson",
    "spearman" (default, as `soma rsa`), "kendall-tau-a", "cosine", "whitened-cosine".
    Returns the value (float), or with permutations=K > 0 the pair (value, p) of a one-sided
    condition-label permutation test seeded by seed."""
    ca, pa, na = _condensed(a, "a")
    cb, pb, nb = _condensed(b, "b")
    if na != nb:
        raise ValueError(f"a has {na} conditions, b has {nb}; compare RDMs of the same conditions")
    m = parse_enum(lib.soma_rsa_method_parse, "method", method)
    v = ffi.new("double *")
    if permutations:
        if not isinstance(permutations, (int, np.integer)) or permutations < 0:
            raise ValueError(f"permutations: want an integer >= 0, got {permutations!r}")
        p = ffi.new("double *")
        run_long(lib.soma_rsa_permtest, pa, pb, na, m, int(permutations), int(seed), v, p)
        return v[0], p[0]
    check(lib.soma_rsa_compare(pa, pb, na, m, v))
    return v[0]


def noise_ceiling(rdms, method="spearman"):
    """(lower, upper) noise ceiling of subjects' RDMs: [n_subj, n, n] or [n_subj, n(n-1)/2]."""
    r, _ = as_array(rdms, _F64, "rdms", ndim=(2, 3))
    if r.ndim == 3:
        cs = [_condensed(r[s], f"rdms[{s}]") for s in range(r.shape[0])]
        r = np.ascontiguousarray(np.stack([c[0] for c in cs]))
        n = cs[0][2]
    else:
        n = _n_from_condensed(r.shape[1])
        if n is None:
            raise ValueError(f"rdms: rows of {r.shape[1]} entries are not condensed RDMs")
    m = parse_enum(lib.soma_rsa_method_parse, "method", method)
    lo, hi = ffi.new("double *"), ffi.new("double *")
    check(lib.soma_rsa_noise_ceiling(ffi.cast("double *", ffi.from_buffer(r)), r.shape[0], n, m, lo, hi))
    return lo[0], hi[0]


def cka(X, Y, kernel="linear", sigma=1.0, unbiased=False):
    """Centered kernel alignment of X [n, p] and Y [n, q] (rows: the same n stimuli).
    kernel "linear" or "rbf" (bandwidth sigma times the median distance); unbiased: the
    unbiased HSIC estimator (n >= 4)."""
    X, px = as_array(X, _F64, "X", ndim=2)
    Y, py = as_array(Y, _F64, "Y", ndim=2)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows, Y has {Y.shape[0]}; rows must be the same stimuli")
    kernels = ("linear", "rbf")
    if kernel not in kernels:
        raise ArgumentError(3, f"kernel: {kernel!r} is not one of linear, rbf")
    o = ffi.new("soma_cka_opts *", {"kernel": kernels.index(kernel), "sigma_frac": float(sigma),
                                    "unbiased": 1 if unbiased else 0})
    v = ffi.new("double *")
    check(lib.soma_cka(px, X.shape[1], py, Y.shape[1], X.shape[0], o, v))
    return v[0]


def procrustes(X, Y):
    """(distance, angle) of X [n, p] and Y [n, q] after the best orthogonal map (Williams et
    al. 2021): each centered and scaled to unit norm."""
    X, px = as_array(X, _F64, "X", ndim=2)
    Y, py = as_array(Y, _F64, "Y", ndim=2)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows, Y has {Y.shape[0]}")
    d, a = ffi.new("double *"), ffi.new("double *")
    check(lib.soma_procrustes(px, X.shape[1], py, Y.shape[1], X.shape[0], d, a))
    return d[0], a[0]


def _ridge_opts(alphas, folds, intercept, seed):
    o = ffi.new("soma_ridge_opts *", lib.soma_ridge_opts_default())
    keep = None
    if alphas is not None:
        keep, pal = as_array(alphas, _F64, "alphas", ndim=1)
        o.alphas = pal
        o.n_alphas = keep.shape[0]
    o.folds = int(folds)
    o.intercept = 1 if intercept else 0
    o.seed = int(seed)
    return o, keep


class Ridge:
    """A ridge regression with the penalty chosen per target by k-fold CV (soma_ridge_fit).
    Attributes after fit: W [p, q], b [q], alpha [q], cv_r2 [q] (float64 copies)."""

    def __init__(self, alphas=None, folds=5, intercept=True, seed=1):
        """alphas: the penalty grid (None: 10^-2 .. 10^6, 17 values); folds; seed: the folds."""
        self.alphas, self.folds, self.intercept, self.seed = alphas, folds, intercept, seed
        self._m = None

    def fit(self, X, Y):
        """Fits Y [n, q] from X [n, p]. Returns self."""
        X, px = as_array(X, _F64, "X", ndim=2)
        Y, py = as_array(Y, _F64, "Y", ndim=2)
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows, Y has {Y.shape[0]}")
        o, keep = _ridge_opts(self.alphas, self.folds, self.intercept, self.seed)
        m = ffi.new("soma_ridge *")
        check(lib.soma_ridge_fit(px, py, X.shape[0], X.shape[1], Y.shape[1], o, m))
        self._m = ffi.gc(m, lib.soma_ridge_free)
        p, q = m.p, m.q
        self.W = copy_out(m.W, p * q, _F64).reshape(p, q)
        self.b = copy_out(m.b, q, _F64)
        self.alpha = copy_out(m.alpha, q, _F64)
        self.cv_r2 = copy_out(m.cv_r2, q, _F64)
        return self

    def predict(self, X):
        """Predictions [n, q] for X [n, p]."""
        if self._m is None:
            raise RuntimeError("Ridge: call fit first")
        X, px = as_array(X, _F64, "X", shape=(None, self._m.p))
        out = np.empty((X.shape[0], self._m.q), dtype=_F64)
        check(lib.soma_ridge_predict(self._m, px, X.shape[0], ffi.cast("double *", ffi.from_buffer(out))))
        return out


def encode(X, Y, alphas=None, folds=5, intercept=True, seed=1):
    """An encoding model evaluated by outer k-fold CV: features X [n, p], responses Y [n, q] or
    [n, q, reps]. Returns a dict: r, r2, ceiling, alpha ([q] arrays), mean_r, mean_r2,
    mean_ceiling, mean_r_norm."""
    X, px = as_array(X, _F64, "X", ndim=2)
    Y, py = as_array(Y, _F64, "Y", ndim=(2, 3))
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows, Y has {Y.shape[0]}")
    o, keep = _ridge_opts(alphas, folds, intercept, seed)
    r = ffi.new("soma_encode_result *")
    reps = Y.shape[2] if Y.ndim == 3 else 1
    run_long(lib.soma_encode, px, X.shape[0], X.shape[1], py, Y.shape[1], reps, o, r)
    try:
        q = r.q
        return {"r": copy_out(r.r, q, _F64), "r2": copy_out(r.r2, q, _F64),
                "ceiling": copy_out(r.ceiling, q, _F64), "alpha": copy_out(r.alpha, q, _F64),
                "mean_r": r.mean_r, "mean_r2": r.mean_r2, "mean_ceiling": r.mean_ceiling,
                "mean_r_norm": r.mean_r_norm}
    finally:
        lib.soma_encode_result_free(r)


def pca(X, k=0):
    """PCA of X [n, p] keeping k components (0: min(n - 1, p)). Returns a dict: mean [p],
    components [k, p] (rows, sign fixed), var [k], total_var, participation_ratio."""
    X, px = as_array(X, _F64, "X", ndim=2)
    m = ffi.new("soma_pca *")
    check(lib.soma_pca_fit(px, X.shape[0], X.shape[1], int(k), m))
    try:
        kk, p = m.k, m.p
        var = copy_out(m.var, kk, _F64)
        return {"mean": copy_out(m.mean, p, _F64), "components": copy_out(m.components, kk * p, _F64).reshape(kk, p),
                "var": var, "total_var": m.total_var,
                "participation_ratio": lib.soma_participation_ratio(ffi.cast("double *", ffi.from_buffer(var)), kk)}
    finally:
        lib.soma_pca_free(m)


def participation_ratio(eig):
    """(sum eig)^2 / sum eig^2 of an eigenvalue spectrum (negatives count as 0)."""
    e, pe = as_array(eig, _F64, "eig", ndim=1)
    return lib.soma_participation_ratio(pe, e.shape[0])


def cvpca(X1, X2, k=0):
    """Cross-validated PCA (Stringer et al. 2019) of two repeats X1, X2 [n, p]: the
    stimulus-related variance along each of X1's k components (k 0: min(n - 1, p))."""
    X1, p1 = as_array(X1, _F64, "X1", ndim=2)
    X2, p2 = as_array(X2, _F64, "X2", shape=X1.shape)
    k = int(k) or min(X1.shape[0] - 1, X1.shape[1])
    eig = np.empty(k, dtype=_F64)
    check(lib.soma_cvpca(p1, p2, X1.shape[0], X1.shape[1], k, ffi.cast("double *", ffi.from_buffer(eig))))
    return eig


_SOLVERS = ("ista", "fista", "lca")


def _sparse_opts(o, solver, lam, iters, tol, nonneg):
    if solver not in _SOLVERS:
        raise ArgumentError(3, f"solver: {solver!r} is not one of {', '.join(_SOLVERS)}")
    o.solver = _SOLVERS.index(solver)
    setattr(o, "lambda", float(lam))
    o.iters = int(iters)
    o.tol = float(tol)
    o.nonneg = 1 if nonneg else 0


def sparse_code(D, X, lam=0.1, solver="fista", iters=200, tol=0.0, nonneg=False):
    """Sparse codes A [n, k] of signals X [n, d] in the dictionary D [k, d] (atoms as rows):
    min_a 0.5 ||x - D'a||^2 + lam ||a||_1 by ISTA, FISTA or LCA (float32)."""
    D, pd = as_array(D, np.float32, "D", ndim=2)
    X, px = as_array(X, np.float32, "X", shape=(None, D.shape[1]))
    o = ffi.new("soma_sparse_opts *")
    _sparse_opts(o, solver, lam, iters, tol, nonneg)
    A = np.empty((X.shape[0], D.shape[0]), dtype=np.float32)
    run_long(lib.soma_sparse_code, pd, D.shape[0], D.shape[1], px, X.shape[0], o,
             ffi.cast("float *", ffi.from_buffer(A)))
    return A


def dict_learn(X, k, steps=1000, batch=100, lr=0.1, lam=0.1, solver="fista", iters=200, seed=1):
    """Learns a dictionary of k unit-norm atoms from X [n, d] (Olshausen & Field 1996).
    Returns (D [k, d] float32, last batch's mse, mean L0)."""
    X, px = as_array(X, np.float32, "X", ndim=2)
    o = ffi.new("soma_dict_opts *")
    _sparse_opts(o.code, solver, lam, iters, 0.0, False)
    o.k, o.steps, o.batch, o.lr, o.seed = int(k), int(steps), int(batch), float(lr), int(seed)
    pD = ffi.new("float **")
    mse, l0 = ffi.new("double *"), ffi.new("double *")
    run_long(lib.soma_dict_learn, px, X.shape[0], X.shape[1], o, ffi.NULL, pD, mse, l0)
    try:
        D = copy_out(pD[0], int(k) * X.shape[1], np.float32).reshape(int(k), X.shape[1])
    finally:
        lib.soma_free(pD[0])
    return D, mse[0], l0[0]
