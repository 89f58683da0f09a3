"""Models of neural data and the VAE: LFADS (a sequential VAE of spike counts), the NDT
population foundation model (include/soma/neuro.h), co-smoothing (the Neural Latents
Benchmark's held-out-unit score) for LFADS and the latent models, and the variational
autoencoder of include/soma/learn.h.

    m = soma.LFADS(n_bins=50, n_in=30, n_out=40, epochs=100, seed=1).fit(counts)
    factors, rates = m.infer(counts[:, :, :30])
    r = soma.cosmooth(counts, "lfads", heldout=0.25, test=0.2, epochs=100)   # r["co_bps"]

    fm = soma.NDT(n_bins=50, d_model=64)
    s0, s1 = fm.add_session(96), fm.add_session(120)
    fm.train([counts0, counts1], steps=2000)
    print(fm.eval(s0, counts0))                                         # {"nll": ..., "bps": ...}

    vae = soma.VAE((784,), latent=16, enc_hidden="fc256,relu")
    vae.train(x, epochs=5, batch=128)
    mu, logvar = vae.encode(x[:10]); images = vae.sample(64)

Counts are NumPy arrays [trials, bins, units] (float32 read in place when C-contiguous, other
real dtypes copied once), finite and >= 0. Training calls run through run_long (GIL released,
Ctrl-C raises KeyboardInterrupt; LFADS, NDT and VAE training do not poll the cancellation
flag, so Ctrl-C takes effect when the call returns).
"""

import numpy as np

from ._ffi import ffi, lib, check, cstr, to_str, copy_out, run_long, as_array, parse_enum
from .data import Dataset
from .nn import _shape, _tuple

_U32 = 2**31 - 1


def _int(v, name, lo=None, hi=None):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: want an integer, got {v!r}")
    v = int(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name}: {v} out of range [{lo}, {hi if hi is not None else 'inf'}]")
    return v


def _float(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: want a number, got {v!r}")
    if not np.isfinite(v):
        raise ValueError(f"{name}: want a finite number, got {v!r}")
    return float(v)


def _seed(v, name="seed"):
    v = _int(v, name, 0)
    if v >= 2**64:
        raise ValueError(f"{name}: want an integer in [0, 2^64), got {v}")
    return v


def _flag(v, name):
    if not isinstance(v, (bool, int, np.integer)) or v not in (0, 1):
        raise TypeError(f"{name}: want True or False, got {v!r}")
    return 1 if v else 0


_CONV = {int: lambda v, k: _int(v, k, -_U32 - 1, _U32), float: _float, "seed": _seed, bool: _flag}


def _set_opts(struct, fields, opts, who):
    """Sets struct's fields from opts (keyword arguments): unknown keys TypeError, values
    checked by type (fields: {name: int | float | bool | "seed"}); range checks are the C
    library's (an ArgumentError naming the field)."""
    for key, v in opts.items():
        if key not in fields:
            raise TypeError(f"{who}: unknown option {key!r} ({', '.join(fields)})")
        setattr(struct, key, _CONV[fields[key]](v, key))


def _counts(x, name="counts", bin_ms=10.0):
    """A soma_counts viewing x [trials, bins, units] float32 (zero-copy when C-contiguous),
    finite and >= 0. Returns (array, struct)."""
    x, px = as_array(x, np.float32, name, ndim=3)
    if (x < 0).any():
        raise ValueError(f"{name}: negative counts")
    c = ffi.new("soma_counts *")
    c.n_trials, c.n_bins, c.n_units = x.shape
    c.bin_ms = _float(bin_ms, "bin_ms")
    c.x = px
    return x, c


def _mask(m, n, name):
    """A 0/1 uint8 mask of length n from a bool or integer array (ValueError otherwise)."""
    m = np.asarray(m)
    if m.dtype == np.bool_:
        m = m.astype(np.uint8)
    if m.dtype.kind not in "iu":
        raise TypeError(f"{name}: want a bool or 0/1 integer mask, got dtype {m.dtype}")
    if m.shape != (n,):
        raise ValueError(f"{name}: shape {m.shape}; want ({n},)")
    if not np.isin(m, (0, 1)).all():
        raise ValueError(f"{name}: values other than 0 and 1")
    return np.ascontiguousarray(m, dtype=np.uint8)


def _buf(a, ctype="float *"):
    return ffi.cast(ctype, ffi.from_buffer(a))


# --- LFADS ----------------------------------------------------------------------------------

_LFADS_FIELDS = {"enc_dim": int, "gen_dim": int, "factors": int, "epochs": int, "batch": int,
                 "lr": float, "cd_rate": float, "kl_weight": float, "l2_gen": float,
                 "kl_warmup": int, "l2_warmup": int, "valid_frac": float, "clip": float,
                 "logvar0": float, "lr_end": float, "glm_readout": bool, "seed": "seed"}


class LFADS:
    """LFADS (Pandarinath et al. 2018) without the controller: a bidirectional GRU encoder of
    the held-in counts, an autonomous GRU generator from its initial state, factors and a
    Poisson readout of every unit (soma_lfads_*, neuro.h, which gives the equations).

        m = soma.LFADS(n_bins=50, n_in=30, n_out=40, epochs=100, seed=1)
        m.fit(counts)                       # [trials, 50, 40]: units 0..29 held in
        factors, rates = m.infer(counts[:, :, :30])

    Options (the fields of soma_lfads_opts; unset ones keep soma_lfads_opts_default's values):
    enc_dim 64, gen_dim 64, factors 8, epochs 200, batch 25, lr 5e-3, cd_rate 0.3,
    kl_weight 1, l2_gen 1e-3, kl_warmup 200, l2_warmup 200, valid_frac 0.1, clip 200,
    logvar0 log(0.1), lr_end 0.05, glm_readout True (co-smoothing only), seed 1. n_out
    defaults to n_in (no held-out units). The same options, seed and data give the same model,
    bit for bit, for any thread count."""

    def __init__(self, n_bins, n_in, n_out=None, **opts):
        self._o = ffi.new("soma_lfads_opts *", lib.soma_lfads_opts_default())
        _set_opts(self._o, _LFADS_FIELDS, opts, "LFADS")
        n_out = n_in if n_out is None else n_out
        self.n_bins, self.n_in, self.n_out = (_int(n_bins, "n_bins"), _int(n_in, "n_in"),
                                              _int(n_out, "n_out"))
        out = ffi.new("soma_lfads **")
        check(lib.soma_lfads_new(out, self.n_bins, self.n_in, self.n_out, self._o))
        self._m = ffi.gc(out[0], lib.soma_lfads_free)
        self.fitted = False

    @classmethod
    def _adopt(cls, ptr, n_bins, n_in, n_out, o):
        self = cls.__new__(cls)
        self._o = ffi.new("soma_lfads_opts *", o[0])
        self.n_bins, self.n_in, self.n_out = n_bins, n_in, n_out
        self._m = ffi.gc(ptr, lib.soma_lfads_free)
        self.fitted = True
        return self

    @property
    def options(self):
        """The model's options as a dict."""
        return {k: getattr(self._o, k) for k in _LFADS_FIELDS}

    def fit(self, counts, bin_ms=10.0):
        """Trains on counts [trials, n_bins, n_out] (units 0..n_in-1 held in; at least 2
        trials), keeping the parameters of the epoch with the lowest validation loss (see
        valid_frac). A long call (GIL released). Returns self."""
        x, c = _counts(counts, "counts", bin_ms)
        if x.shape[1:] != (self.n_bins, self.n_out):
            raise ValueError(f"counts: shape {x.shape}; want (trials, {self.n_bins}, {self.n_out})")
        run_long(lib.soma_lfads_fit, self._m, c)
        self.fitted = True
        return self

    @property
    def history(self):
        """After fit: {"train_loss": float32 [epochs], "valid_loss": float32 [epochs] (NaN
        without validation), "best_epoch": int}."""
        h = lib.soma_lfads_get_history(self._m)
        n = h.n_epochs
        return {"train_loss": copy_out(h.train_loss, n, np.float32) if n else np.zeros(0, np.float32),
                "valid_loss": copy_out(h.valid_loss, n, np.float32) if n else np.zeros(0, np.float32),
                "best_epoch": h.best_epoch}

    def infer(self, x):
        """Posterior-mean inference on held-in counts x [K, n_bins, n_in] (or [K, n_bins,
        n_out]: the first n_in units are read). Returns (factors float32 [K, n_bins, factors],
        rates float32 [K, n_bins, n_out]: expected counts per bin)."""
        x, _ = _counts(x, "x")
        if x.shape[1] != self.n_bins or x.shape[2] not in (self.n_in, self.n_out):
            raise ValueError(f"x: shape {x.shape}; want (K, {self.n_bins}, {self.n_in})")
        if x.shape[2] != self.n_in:
            x = np.ascontiguousarray(x[:, :, :self.n_in])
        K = x.shape[0]
        f = np.empty((K, self.n_bins, self._o.factors), dtype=np.float32)
        r = np.empty((K, self.n_bins, self.n_out), dtype=np.float32)
        run_long(lib.soma_lfads_infer, self._m, _buf(x), K, _buf(f), _buf(r))
        return f, r

    def loss(self, counts):
        """The evaluation-mode loss of counts [trials, n_bins, n_out] (g0 = the posterior
        mean, no dropout, every entry counted, the final KL and L2 weights), in batches of at
        most `batch` trials, averaged over trials: {"loss", "rec", "kl", "l2"}."""
        x, _ = _counts(counts, "counts")
        if x.shape[1:] != (self.n_bins, self.n_out):
            raise ValueError(f"counts: shape {x.shape}; want (trials, {self.n_bins}, {self.n_out})")
        tot = np.zeros(4)
        loss, parts = ffi.new("double *"), ffi.new("double[3]")
        B = self._o.batch
        for i in range(0, x.shape[0], B):
            xb = x[i:i + B]
            check(lib.soma_lfads_batch_loss(self._m, _buf(xb), xb.shape[0], 0, 0, self._o.kl_weight,
                                            self._o.l2_gen, 0, loss, parts, ffi.NULL, ffi.NULL))
            tot += xb.shape[0] * np.array([loss[0], parts[0], parts[1], parts[2]])
        tot /= x.shape[0]
        return dict(zip(("loss", "rec", "kl", "l2"), tot.tolist()))

    def params(self):
        """The parameters as {name: float32 copy} ("enc.weight_ih_l0", ...)."""
        n = ffi.new("size_t *")
        p = lib.soma_lfads_params(self._m, n)
        flat = copy_out(p, n[0], np.float32)
        out = {}
        off, sz = ffi.new("size_t *"), ffi.new("size_t *")
        for i in range(lib.soma_lfads_n_tensors(self._m)):
            name = to_str(lib.soma_lfads_tensor(self._m, i, off, sz))
            out[name] = flat[off[0]:off[0] + sz[0]].copy()
        return out


# --- co-smoothing ----------------------------------------------------------------------------


def _is_share(v):
    return isinstance(v, (float, np.floating)) or (isinstance(v, (int, np.integer)) and not isinstance(v, bool))


def cosmooth(counts, model="lfads", heldout=0.25, test=0.2, seed=1, bin_ms=10.0, true_latents=None,
             **opts):
    """Co-smoothing (the Neural Latents Benchmark's score), as `soma neuro fit`: the model is
    fit on the held-in units of the training trials, every unit's rates are read out of its
    latents, and the held-out units of the test trials are scored in bits per spike.

    counts [trials, bins, units]; model "lfads" (options as soma.LFADS's; seed defaults to
    `seed`) or a latent kind "smooth", "pca", "fa", "gpfa", "vae" (options as
    soma.LatentModel's; seed likewise, n_latents default 3). heldout / test: shares of units
    and trials (a seeded split, soma_neuro_split, as the CLI's --heldout / --test / --seed), or
    0/1 masks [units] / [trials]. true_latents [trials, bins, k] (optional) gives latent_r2.

    Returns a dict: co_bps, latent_r2 (NaN without true latents), fit_s, test_idx int32
    [n_test], latents float32 [n_test, bins, latents] (LFADS: its factors), rates float32
    [n_test, bins, units], heldout and test (the uint8 masks used), and for LFADS "model" (the
    fitted soma.LFADS; its units are the held-in ones first, then the held-out ones, each in
    ascending order)."""
    from .neuro import LatentModel
    x, c = _counts(counts, "counts", bin_ms)
    T, B, U = x.shape
    seed = _seed(seed)
    ho_frac, te_frac = _is_share(heldout), _is_share(test)
    if ho_frac or te_frac:
        ho, te = np.zeros(U, np.uint8), np.zeros(T, np.uint8)
        check(lib.soma_neuro_split(U, T, _float(heldout, "heldout") if ho_frac else 0.25,
                                   _float(test, "test") if te_frac else 0.2, seed,
                                   _buf(ho, "unsigned char *"), _buf(te, "unsigned char *")))
    if not ho_frac:
        ho = _mask(heldout, U, "heldout")
    if not te_frac:
        te = _mask(test, T, "test")
    tl, ptl, n_true = None, ffi.NULL, 0
    if true_latents is not None:
        tl, ptl = as_array(true_latents, np.float32, "true_latents", ndim=3, shape=(T, B, None))
        n_true = tl.shape[2]
    r = ffi.new("soma_cosmooth *")
    fitted = None
    if model == "lfads":
        o = ffi.new("soma_lfads_opts *", lib.soma_lfads_opts_default())
        o.seed = seed
        _set_opts(o, _LFADS_FIELDS, opts, "cosmooth (lfads)")
        mp = ffi.new("soma_lfads **")
        run_long(lib.soma_lfads_cosmooth, c, _buf(ho, "unsigned char *"), _buf(te, "unsigned char *"),
                 ptl, n_true, o, r, mp)
        n_in = int(U - ho.sum())
        fitted = LFADS._adopt(mp[0], B, n_in, U, o)
    else:
        if not isinstance(model, str):
            raise TypeError(f"model: want a str, got {type(model).__name__}")
        k = parse_enum(lib.soma_latent_kind_parse, "model", model)
        o = ffi.new("soma_latent_opts *", lib.soma_latent_opts_default(k))
        o.seed = seed
        fields = {key: ("seed" if key == "seed" else t) for key, t in LatentModel._FIELDS.items()}
        fields["root"] = bool
        _set_opts(o, fields, opts, f"cosmooth ({model})")
        run_long(lib.soma_neuro_cosmooth, c, _buf(ho, "unsigned char *"), _buf(te, "unsigned char *"),
                 ptl, n_true, o, r)
    try:
        nt, nb, nu, nl = r.n_test, r.n_bins, r.n_units, r.n_latents
        res = {"co_bps": r.co_bps, "latent_r2": r.latent_r2, "fit_s": r.fit_s,
               "test_idx": copy_out(r.test_idx, nt, np.int32),
               "latents": copy_out(r.z, nt * nb * nl, np.float32).reshape(nt, nb, nl),
               "rates": copy_out(r.rates, nt * nb * nu, np.float32).reshape(nt, nb, nu),
               "heldout": ho, "test": te}
    finally:
        lib.soma_cosmooth_free(r)
    if fitted is not None:
        res["model"] = fitted
    return res


# --- NDT: the population foundation model ---------------------------------------------------

_NDT_ARCH = {"n_bins": int, "d_model": int, "n_layers": int, "n_heads": int, "subjects": int,
             "seed": "seed", "dropout": float}
_NDT_TRAIN = {"steps": int, "batch": int, "mix": int, "mask_ratio": float, "forecast_bins": int,
              "forecast_share": float, "lr": float, "lr_min": float, "warmup": int,
              "weight_decay": float, "clip": float, "train_trunk": bool, "valid_frac": float,
              "eval_every": int, "ckpt_every": int, "progress": bool, "seed": "seed"}
_MASKS = {"bins": 0, "units": 1, "both": 2}


def _mask_kind(name):
    if name not in _MASKS:
        raise ValueError(f"mask: {name!r}; want one of {', '.join(_MASKS)}")
    return _MASKS[name]


class NDT:
    """The Neural Data Transformer foundation model (Ye & Pandarinath 2021, with NDT2's
    context tokens): per-session read-in and read-out around a shared transformer trunk,
    pre-trained by masked modelling across sessions with different neurons and adapted to new
    ones (soma_ndt_*, neuro.h; docs/fm.md). `soma fm pretrain` drives the same calls.

        fm = soma.NDT(n_bins=50, d_model=64, n_layers=2, n_heads=4, seed=1)
        s0 = fm.add_session(96); s1 = fm.add_session(120)
        fm.train([c0, c1], steps=2000, batch=32)     # counts [trials, 50, units] per session
        fm.save("fm.ckpt")
        s2 = fm.add_session(80); fm.reset_run()
        fm.train({s2: few}, steps=200, train_trunk=False)
        latents, logrates = fm.infer(s2, few)

    Architecture options (soma_ndt_arch; defaults soma_ndt_arch_default's): n_bins (required),
    d_model 64, n_layers 2, n_heads 4, subjects 0, seed 1, dropout 0.1."""

    def __init__(self, n_bins, **arch):
        a = ffi.new("soma_ndt_arch *", lib.soma_ndt_arch_default())
        _set_opts(a, _NDT_ARCH, dict(arch, n_bins=n_bins), "NDT")
        out = ffi.new("soma_ndt **")
        check(lib.soma_ndt_new(out, a))
        self._m = ffi.gc(out[0], lib.soma_ndt_free)

    @classmethod
    def load(cls, path):
        """The model and its run state from a checkpoint (NDT.save, `soma fm pretrain --out`)."""
        out = ffi.new("soma_ndt **")
        check(lib.soma_ndt_load(out, cstr(str(path), "path")))
        self = cls.__new__(cls)
        self._m = ffi.gc(out[0], lib.soma_ndt_free)
        return self

    def save(self, path):
        """Writes the whole model and run state (model, AdamW moments, step, RNG, history,
        options) to path: NDT.load continues as if never stopped, bit for bit."""
        check(lib.soma_ndt_save(self._m, cstr(str(path), "path")))

    @property
    def arch(self):
        """The architecture as a dict (n_bins, d_model, n_layers, n_heads, subjects, seed,
        dropout)."""
        a = lib.soma_ndt_get_arch(self._m)
        return {k: getattr(a, k) for k in _NDT_ARCH}

    @property
    def n_bins(self):
        """Bins a trial (every session)."""
        return lib.soma_ndt_get_arch(self._m).n_bins

    def add_session(self, n_units, subject=None):
        """Adds a session of n_units units (subject: None, or 0..subjects-1) with a fresh
        read-in, read-out and session token. Returns its id (0, 1, ... in order)."""
        s = ffi.new("int *")
        subj = -1 if subject is None else _int(subject, "subject", 0)
        check(lib.soma_ndt_add_session(self._m, _int(n_units, "n_units", 1), subj, s))
        return s[0]

    @property
    def n_sessions(self):
        """Sessions added so far."""
        return lib.soma_ndt_n_sessions(self._m)

    def session_units(self, session):
        """Units of a session (ValueError for an unknown one)."""
        n = lib.soma_ndt_session_units(self._m, _int(session, "session"))
        if n < 0:
            raise ValueError(f"session: {session} unknown ({self.n_sessions} sessions)")
        return n

    def n_params(self, session=None):
        """Parameters of the shared trunk (session None) or of one session."""
        if session is not None:
            self.session_units(session)
        return lib.soma_ndt_n_params(self._m, -1 if session is None else session)

    def params(self, session=None):
        """A float32 copy of the flat parameter block of the trunk (session None), the subject
        tokens ("subjects"), or one session (read-in weight [D, N] and bias [D], read-out
        weight [N, D] and bias [N], session token [D], in that order)."""
        s = -1 if session is None else -2 if session == "subjects" else _int(session, "session", 0)
        n = ffi.new("size_t *")
        p = lib.soma_ndt_params(self._m, s, n)
        if p == ffi.NULL and s >= 0:
            raise ValueError(f"session: {session} unknown ({self.n_sessions} sessions)")
        return copy_out(p, n[0], np.float32) if p != ffi.NULL else np.zeros(0, np.float32)

    def _data(self, data, keep):
        """soma_ndt_data[] of data: a list of counts (session = position), or a dict {session:
        counts or (counts, heldout mask [units])}."""
        if isinstance(data, dict):
            items = list(data.items())
        elif isinstance(data, (list, tuple)):
            items = list(enumerate(data))
        else:
            raise TypeError("data: want a list of counts arrays (one a session, in session order) "
                            "or a dict {session: counts or (counts, heldout)}")
        if not items:
            raise ValueError("data: no session")
        d = ffi.new("soma_ndt_data[]", len(items))
        for i, (s, v) in enumerate(items):
            ho = None
            if isinstance(v, tuple):
                if len(v) != 2:
                    raise TypeError(f"data[{s}]: want counts or (counts, heldout)")
                v, ho = v
            units = self.session_units(s)
            x, c = _counts(v, f"data[{s}]")
            if x.shape[1:] != (self.n_bins, units):
                raise ValueError(f"data[{s}]: shape {x.shape}; want (trials, {self.n_bins}, {units})")
            keep += [x, c]
            d[i].counts = c
            d[i].session = s
            if ho is not None:
                m = _mask(ho, units, f"data[{s}] heldout")
                keep.append(m)
                d[i].heldout = _buf(m, "uint8_t *")
        return d, len(items)

    def train(self, data, until_step=None, mask="both", ckpt_path=None, **opts):
        """Trains on data (a list of counts arrays [trials, n_bins, units], session i = item i;
        or {session: counts or (counts, heldout mask)}) until the run has taken `steps` steps
        (or until_step). Options (soma_ndt_train_opts; defaults soma_ndt_train_default's):
        steps 2000, batch 32, mix 1, mask_ratio 0.25, mask "both" ("bins", "units"),
        forecast_bins 0, forecast_share 0.5, lr 1e-3, lr_min 1e-5, warmup 100, weight_decay
        0.01, clip 1, train_trunk True, valid_frac 0.1, eval_every 100, ckpt_every 0 (with
        ckpt_path), progress False, seed 1. A run in progress (after NDT.load or until_step)
        continues only with its own options; reset_run() starts a new one. A long call (GIL
        released). Returns the history (see .history)."""
        o = ffi.new("soma_ndt_train_opts *", lib.soma_ndt_train_default())
        _set_opts(o, _NDT_TRAIN, opts, "NDT.train")
        o.mask = _mask_kind(mask)
        keep = []
        if ckpt_path is not None:
            keep.append(ffi.new("char[]", cstr(str(ckpt_path), "ckpt_path")))
            o.ckpt_path = keep[-1]
        d, n = self._data(data, keep)
        until = -1 if until_step is None else _int(until_step, "until_step", 0)
        run_long(lib.soma_ndt_train, self._m, d, n, o, until)
        return self.history

    def reset_run(self):
        """Ends the run: step 0, AdamW moments zero, history cleared (before adaptation)."""
        lib.soma_ndt_reset_run(self._m)

    @property
    def step(self):
        """Optimizer steps taken in the run."""
        return lib.soma_ndt_step(self._m)

    @property
    def history(self):
        """The run's evaluations: {"step" int64, "train_nll", "valid_nll", "valid_bps" float32
        (NaN without validation trials), each [n_evals], "train_seconds"}."""
        h = lib.soma_ndt_get_history(self._m)
        n = h.n_evals
        return {"step": copy_out(h.step, n, np.int64) if n else np.zeros(0, np.int64),
                "train_nll": copy_out(h.train_nll, n, np.float32) if n else np.zeros(0, np.float32),
                "valid_nll": copy_out(h.valid_nll, n, np.float32) if n else np.zeros(0, np.float32),
                "valid_bps": copy_out(h.valid_bps, n, np.float32) if n else np.zeros(0, np.float32),
                "train_seconds": h.train_seconds}

    def infer(self, session, x, mask=None):
        """Evaluation-mode forward pass on x [K, n_bins, units] of a session; mask (same shape,
        bool or 0/1; optional) zeroes those inputs. Returns (latents float32 [K, n_bins,
        d_model], logrates float32 [K, n_bins, units]: log expected counts per bin)."""
        units = self.session_units(session)
        x, _ = _counts(x, "x")
        if x.shape[1:] != (self.n_bins, units):
            raise ValueError(f"x: shape {x.shape}; want (K, {self.n_bins}, {units})")
        pm = ffi.NULL
        if mask is not None:
            m = np.asarray(mask)
            if m.shape != x.shape:
                raise ValueError(f"mask: shape {m.shape}; want {x.shape}")
            m = _mask(m.reshape(-1), m.size, "mask")
            pm = _buf(m, "uint8_t *")
        K = x.shape[0]
        lat = np.empty((K, self.n_bins, self.arch["d_model"]), dtype=np.float32)
        lr = np.empty(x.shape, dtype=np.float32)
        run_long(lib.soma_ndt_infer, self._m, session, _buf(x), K, pm, _buf(lat), _buf(lr))
        return lat, lr

    def _one(self, session, counts, heldout, keep):
        return self._data({_int(session, "session"): counts if heldout is None else (counts, heldout)}, keep)[0]

    def eval(self, session, counts, heldout=None, ratio=0.25, mask="both", n_draws=1, seed=1):
        """Masked-modelling evaluation on a session's counts: n_draws masks a trial of the
        given kind ("bins", "units", "both") at ratio (held-out units always masked too).
        Returns {"nll": Poisson NLL per masked entry, "bps": bits per spike on the masked
        entries (null rate: each unit's mean count)}. With heldout units and a small ratio,
        bps is dominated by the held-out units: the co-smoothing score."""
        keep = []
        d = self._one(session, counts, heldout, keep)
        nll, bps = ffi.new("double *"), ffi.new("double *")
        run_long(lib.soma_ndt_eval, self._m, d, _float(ratio, "ratio"), _mask_kind(mask),
                 _int(n_draws, "n_draws", 1), _seed(seed), nll, bps)
        return {"nll": nll[0], "bps": bps[0]}

    def anomaly(self, session, counts, ratio=0.25, mask="bins", n_draws=4, seed=1):
        """Anomaly score of each trial (float32 [trials]): the model's masked Poisson NLL minus
        a per-trial baseline's, per masked entry; higher = less like the training data."""
        keep = []
        d = self._one(session, counts, None, keep)
        score = np.empty(keep[0].shape[0], dtype=np.float32)
        run_long(lib.soma_ndt_anomaly, self._m, d, _float(ratio, "ratio"), _mask_kind(mask),
                 _int(n_draws, "n_draws", 1), _seed(seed), _buf(score))
        return score

    def forecast(self, session, counts, f):
        """Forward prediction: the last f bins of every trial masked, their rates (expected
        counts per bin) predicted: float32 [trials, f, units]."""
        units = self.session_units(session)
        x, c = _counts(counts, "counts")
        if x.shape[1:] != (self.n_bins, units):
            raise ValueError(f"counts: shape {x.shape}; want (trials, {self.n_bins}, {units})")
        f = _int(f, "f", 1, self.n_bins - 1)
        out = np.empty((x.shape[0], f, units), dtype=np.float32)
        run_long(lib.soma_ndt_forecast, self._m, session, c, f, _buf(out))
        return out


# --- VAE -------------------------------------------------------------------------------------

_VAE_FIELDS = {"latent": int, "learn_var": bool, "gauss_logvar": float, "beta": float, "warmup": int,
               "lr": float, "max_batch": int, "seed": "seed"}


class VAE:
    """Kingma & Welling's variational autoencoder (soma_vae_*, learn.h): an encoder net to the
    mean and log-variance of q(z|x), a decoder net to the parameters of p(x|z).

        vae = soma.VAE((784,), latent=16, enc_hidden="fc256,relu", lik="bernoulli")
        vae.train(x, epochs=5, batch=128)          # x [N, 784] in [0, 1] (uint8: scaled by 1/255)
        mu, logvar = vae.encode(x[:10])
        recon = vae.decode(mu)
        images = vae.sample(64)

    Options (soma_vae_opts; unset ones keep soma_vae_opts_default's): latent 32, enc_hidden
    "fc400,relu" (a net spec without the last layer; "" none), dec_hidden (None: as
    enc_hidden), lik "bernoulli" ("gaussian", "poisson"), learn_var False, gauss_logvar 0,
    beta 1, warmup 0 (KL warm-up steps), optim "adam" ("sgd", "adamw"), lr 1e-3, max_batch
    256, seed 1."""

    def __init__(self, input_shape, enc_hidden=None, dec_hidden=None, lik=None, optim=None, **opts):
        o = ffi.new("soma_vae_opts *", lib.soma_vae_opts_default())
        _set_opts(o, _VAE_FIELDS, opts, "VAE")
        self._keep = []
        if enc_hidden is not None:
            self._keep.append(ffi.new("char[]", cstr(enc_hidden, "enc_hidden")))
            o.enc_hidden = self._keep[-1]
        if dec_hidden is not None:
            self._keep.append(ffi.new("char[]", cstr(dec_hidden, "dec_hidden")))
            o.dec_hidden = self._keep[-1]
        if lik is not None:
            o.lik = parse_enum(lib.soma_vae_lik_parse, "lik", lik)
        if optim is not None:
            lr = o.lr
            o.optim = lib.soma_optim_defaults(parse_enum(lib.soma_optim_parse, "optim", optim))
            o.lr = lr
        self.input_shape = _tuple(_shape(input_shape))
        out = ffi.new("soma_vae **")
        check(lib.soma_vae_new(out, o, _shape(input_shape)))
        self._v = ffi.gc(out[0], lib.soma_vae_free)
        self._o = o
        self.latent = lib.soma_vae_latent(self._v)
        self.dim = lib.soma_vae_dim(self._v)

    def _x(self, x, name="x"):
        x, px = as_array(x, np.float32, name, ndim=(1 + len(self.input_shape), 2))
        if x.ndim == 2 and x.shape[1] == self.dim:
            pass
        elif x.shape[1:] != self.input_shape:
            raise ValueError(f"{name}: shape {x.shape}; want (n, {', '.join(map(str, self.input_shape))})")
        return x, px

    def train(self, data, epochs=1, batch=64):
        """epochs over data (a soma.Dataset, or samples x [N, *input_shape]: uint8 scaled by
        1/255, other dtypes as given) in shuffled mini-batches of `batch` rows (<= max_batch),
        drawn from the VAE's rng. A long call (GIL released). Returns the last epoch's mean
        loss: {"loss", "rec", "kl", "beta"}."""
        if isinstance(data, Dataset):
            ds = data
        else:
            if not isinstance(data, np.ndarray):
                raise TypeError(f"data: want a soma.Dataset or a NumPy array, got {type(data).__name__}")
            if data.ndim < 2 or data.shape[1:] != self.input_shape and data.shape[1:] != (self.dim,):
                raise ValueError(f"data: shape {data.shape}; want (N, {', '.join(map(str, self.input_shape))})")
            ds = Dataset.from_arrays(data, np.zeros(data.shape[0], dtype=np.int32), "vae")
        last = ffi.new("soma_vae_loss *")
        run_long(lib.soma_vae_train, self._v, ds._p, _int(epochs, "epochs", 1), _int(batch, "batch", 1), last)
        return {"loss": last.loss, "rec": last.rec, "kl": last.kl, "beta": last.beta}

    def loss(self, x, eps=None):
        """The negative ELBO of x [n, *input_shape] (n <= max_batch) with the noise eps [n,
        latent] (None: zeros, so z = mu and the VAE's rng is not drawn from): {"loss", "rec",
        "kl", "beta"} (means over rows). Computes gradients (no optimizer step)."""
        x, px = self._x(x)
        n = x.shape[0]
        pe = ffi.NULL
        if eps is None:
            eps = np.zeros((n, self.latent), dtype=np.float32)
        e, pe = as_array(eps, np.float32, "eps", shape=(n, self.latent))
        parts = ffi.new("soma_vae_loss *")
        check(lib.soma_vae_grad(self._v, px, n, pe, parts))
        return {"loss": parts.loss, "rec": parts.rec, "kl": parts.kl, "beta": parts.beta}

    def encode(self, x):
        """(mu, logvar), float32 [n, latent] each: q(z|x)'s means and log-variances."""
        x, px = self._x(x)
        n = x.shape[0]
        mu = np.empty((n, self.latent), dtype=np.float32)
        lv = np.empty((n, self.latent), dtype=np.float32)
        check(lib.soma_vae_encode(self._v, px, n, _buf(mu), _buf(lv)))
        return mu, lv

    def decode(self, z):
        """The decoder's means of z [n, latent]: float32 [n, *input_shape] (probabilities for
        bernoulli, means for gaussian, rates for poisson)."""
        z, pz = as_array(z, np.float32, "z", ndim=2, shape=(None, self.latent))
        out = np.empty((z.shape[0],) + self.input_shape, dtype=np.float32)
        check(lib.soma_vae_decode(self._v, pz, z.shape[0], _buf(out)))
        return out

    def sample(self, n):
        """n samples from the prior decoded to means: float32 [n, *input_shape] (draws from
        the VAE's rng)."""
        n = _int(n, "n", 1)
        out = np.empty((n,) + self.input_shape, dtype=np.float32)
        check(lib.soma_vae_sample(self._v, n, _buf(out)))
        return out
