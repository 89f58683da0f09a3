"""Neural recordings and latent-variable models (include/soma/neuro.h): NWB files and spike
tables, binning, and PCA / FA / GPFA / Poisson-VAE latents. LFADS, co-smoothing and the NDT
foundation model are in soma.models (soma.LFADS, soma.cosmooth, soma.NDT), as `soma neuro fit`
and `soma fm` run them."""

import numpy as np

from ._ffi import ffi, lib, check, cstr, to_str, copy_out, run_long, as_array, parse_enum


class Recording:
    """A recording read by soma's readers (times in ms). Attributes (NumPy copies):
    spike_times float64 [n] and spike_units int32 [n] (the unit's row, 0..n_units-1, merged in
    time order), unit_id int64 [n_units], electrode int64 [n_units] or None, trials
    {column: float64 [n_trials]} (start_time and stop_time in ms, other columns as stored),
    series {name: (t ms float64 [n], data float32 [n, dim])}."""

    def __init__(self, reader, *paths):
        self._r = ffi.new("soma_recording *")
        args = [cstr(str(p), "path") if p is not None else ffi.NULL for p in paths]
        check(reader(*args, self._r))
        self._r = ffi.gc(self._r, lib.soma_recording_free)
        r = self._r
        s = r.spikes
        self.spike_times = copy_out(s.t, s.n, np.float64)
        self.spike_units = copy_out(s.id, s.n, np.int32)
        self.t_start, self.t_stop = s.t_start, s.t_stop
        self.n_units = r.n_units
        self.unit_id = copy_out(r.unit_id, r.n_units, np.int64)
        self.electrode = None if r.electrode == ffi.NULL else copy_out(r.electrode, r.n_units, np.int64)
        self.trials = {}
        if r.n_trials:
            self.trials["start_time"] = copy_out(r.trial_start, r.n_trials, np.float64)
            self.trials["stop_time"] = copy_out(r.trial_stop, r.n_trials, np.float64)
            for c in range(r.n_cols):
                self.trials[to_str(r.col_name[c])] = copy_out(r.col[c], r.n_trials, np.float64)
        self.series = {}
        for i in range(r.n_series):
            se = r.series[i]
            self.series[to_str(se.name)] = (copy_out(se.t, se.n, np.float64),
                                            copy_out(se.data, se.n * se.dim, np.float32).reshape(se.n, se.dim))

    @classmethod
    def read_nwb(cls, path):
        """An NWB 2.x file (HDF5): units, trials, behaviour series."""
        return cls(lib.soma_nwb_read, path)

    @classmethod
    def read_spikes(cls, times_npy, ids_npy=None):
        """A spike table in NPY: times (s) [n] with unit ids [n], or one [n, 2] array of
        (time s, unit id) rows (ids_npy None)."""
        return cls(lib.soma_spikes_read_npy, times_npy, ids_npy)

    @classmethod
    def read_csv(cls, path):
        """A spike table in CSV: "unit,time" rows, time in s (a header row is allowed)."""
        return cls(lib.soma_spikes_read_csv, path)

    def bin(self, bin_ms, align=None, window=(0.0, 0.0), smooth_ms=0.0, causal=False):
        """Spike counts in bins of bin_ms, as `soma neuro bin`: the whole recording as one trial
        (align None), or one trial per row of the trials table around the event column `align`
        ("start_time", "stop_time" or another column, in s) from window[0] to window[1] ms.
        smooth_ms > 0: Gaussian smoothing (causal: only the past). Returns (counts float32
        [trials, bins, units], t0 float64 [trials]: each trial's first bin's start, ms)."""
        o = ffi.new("soma_bin_opts *")
        o.bin_ms = float(bin_ms)
        keep = None
        if align is not None:
            keep = ffi.new("char[]", cstr(align, "align"))
            o.align = keep
            o.pre_ms, o.post_ms = float(window[0]), float(window[1])
        o.smooth_ms = float(smooth_ms)
        o.causal = 1 if causal else 0
        c = ffi.new("soma_counts *")
        check(lib.soma_recording_bin(self._r, o, c))
        try:
            x = copy_out(c.x, c.n_trials * c.n_bins * c.n_units, np.float32).reshape(c.n_trials, c.n_bins, c.n_units)
            t0 = copy_out(c.t0, c.n_trials, np.float64) if c.t0 != ffi.NULL else np.zeros(c.n_trials)
        finally:
            lib.soma_counts_free(c)
        return x, t0


def _counts(x, bin_ms, name="counts"):
    """A soma_counts viewing x [trials, bins, units] float32 (zero-copy when C-contiguous)."""
    x, px = as_array(x, np.float32, name, ndim=3)
    c = ffi.new("soma_counts *")
    c.n_trials, c.n_bins, c.n_units = x.shape
    c.bin_ms = float(bin_ms)
    c.x = px
    return x, c


class LatentModel:
    """A latent-variable model of binned counts [trials, bins, units]: kind "smooth", "pca",
    "fa", "gpfa" (Yu et al. 2009) or "vae" (a Poisson VAE). Options as soma_latent_opts
    (n_latents, smooth_ms, max_iter, tol, tau_ms, gp_noise, vae_epochs, vae_hidden, vae_lr,
    seed, root); unset ones keep the C defaults.

        m = soma.LatentModel("gpfa", n_latents=3).fit(train_counts, bin_ms=20)
        z = m.transform(test_counts)              # [trials, bins, 3], orthonormalised
    """

    _FIELDS = {"n_latents": int, "smooth_ms": float, "max_iter": int, "tol": float, "tau_ms": float,
               "gp_noise": float, "vae_epochs": int, "vae_hidden": int, "vae_lr": float, "glm_alpha": float,
               "seed": int, "root": int}

    def __init__(self, kind="gpfa", **opts):
        k = parse_enum(lib.soma_latent_kind_parse, "kind", kind)
        self._o = ffi.new("soma_latent_opts *", lib.soma_latent_opts_default(k))
        for key, v in opts.items():
            if key not in self._FIELDS:
                raise TypeError(f"LatentModel: unknown option {key!r} ({', '.join(self._FIELDS)})")
            setattr(self._o, key, self._FIELDS[key](v))
        self.kind = kind
        self._m = None
        self.bin_ms = None

    def fit(self, counts, bin_ms):
        """Fits on counts [trials, bins, units] (float32; other dtypes copied) of bins bin_ms
        wide. Returns self."""
        x, c = _counts(counts, bin_ms)
        out = ffi.new("soma_latent **")
        run_long(lib.soma_latent_fit, out, c, self._o)
        self._m = ffi.gc(out[0], lib.soma_latent_free)
        self.bin_ms = float(bin_ms)
        self.n_units = x.shape[2]
        return self

    def _fitted(self):
        if self._m is None:
            raise RuntimeError("LatentModel: call fit first")

    def transform(self, counts, orth=True):
        """Latents [trials, bins, dim] of counts with the fitted model's units (orth: FA and
        GPFA latents orthonormalised)."""
        self._fitted()
        x, c = _counts(counts, self.bin_ms)
        if x.shape[2] != self.n_units:
            raise ValueError(f"counts: {x.shape[2]} units; the model was fit on {self.n_units}")
        d = lib.soma_latent_dim(self._m)
        z = np.empty((x.shape[0], x.shape[1], d), dtype=np.float32)
        run_long(lib.soma_latent_infer, self._m, c, 1 if orth else 0, ffi.from_buffer("float[]", z))
        return z

    @property
    def loglik(self):
        """The EM log-likelihood before each update and after the last (FA, GPFA; else empty)."""
        self._fitted()
        n = ffi.new("int *")
        p = lib.soma_latent_loglik(self._m, n)
        return copy_out(p, n[0], np.float64) if p != ffi.NULL else np.zeros(0)

    @property
    def tau_ms(self):
        """GPFA's fitted timescales (ms), else None."""
        self._fitted()
        p = lib.soma_latent_tau_ms(self._m)
        return None if p == ffi.NULL else copy_out(p, self._o.n_latents, np.float64)

    def params(self):
        """(C [units, latents], d [units], R [units] or None): loadings, offsets, private
        variances (PCA: components as columns, the mean, no R)."""
        self._fitted()
        C, d, R = ffi.new("const double **"), ffi.new("const double **"), ffi.new("const double **")
        check(lib.soma_latent_params(self._m, C, d, R))
        k = lib.soma_latent_dim(self._m)
        u = self.n_units
        return (copy_out(C[0], u * k, np.float64).reshape(u, k), copy_out(d[0], u, np.float64),
                None if R[0] == ffi.NULL else copy_out(R[0], u, np.float64))
