"""Networks: soma.Net over soma_net (include/soma/nn.h) and the training loop (learn.h); classical
Hopfield networks (soma.Hopfield, soma_hopfield_*)."""

import os

import numpy as np

from ._ffi import ffi, lib, check, cstr, to_str, as_array, run_long, parse_enum, copy_out
from .data import Dataset

_MODE_EVAL = 0
_LOSS_XENT = 0


def _shape(input_shape):
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (int(input_shape),)
    if not isinstance(input_shape, (tuple, list)) or not 1 <= len(input_shape) <= 4:
        raise ValueError(f"input_shape: want a tuple of 1 to 4 sizes ([D], [C,H,W], [T,D], "
                         f"[T,C,H,W]), got {input_shape!r}")
    s = ffi.new("soma_shape *")
    s.rank = len(input_shape)
    for i, d in enumerate(input_shape):
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
            raise ValueError(f"input_shape: sizes must be integers >= 1, got {input_shape!r}")
        s.d[i] = int(d)
    return s[0]


def _tuple(s):
    return tuple(s.d[i] for i in range(s.rank))


def _seed(seed, name="seed"):
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        raise ValueError(f"{name}: want an integer in [0, 2^64), got {seed!r}")
    return int(seed)


def _pos_int(v, name, lo=1):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
        raise ValueError(f"{name}: want an integer >= {lo}, got {v!r}")
    return int(v)


def _num(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
        raise ValueError(f"{name}: want a finite number, got {v!r}")
    return float(v)


class Net:
    """A network built from a one-line spec (or JSON, or "@file.json"), as `soma train --net`.

        net = soma.Net("fc256,relu,fc10", (784,), seed=1)
        log = net.train(x, y, epochs=5, batch=64, lr=1e-3)
        p = net.predict(x_test)                 # [N, 10] outputs
        h = net.predict(x_test, layer=1)        # the output of layer 1 (the relu)

    The same seed and options give the parameters `soma train` gives, bit for bit (same thread
    count). The network lives in C memory, freed when the object goes away."""

    def __init__(self, spec, input_shape, seed=1):
        """spec: the network spec (str); input_shape: per-sample shape, a tuple of 1-4 sizes;
        seed: initialisation (and the default seed of train). Raises soma.ArgumentError with the
        C parser's message for a bad spec or a shape that does not fit."""
        shp = _shape(input_shape)
        self.seed = _seed(seed)
        out = ffi.new("soma_net **")
        check(lib.soma_net_new(out, cstr(spec, "spec"), shp, self.seed))
        self._p = ffi.gc(out[0], lib.soma_net_free)
        self._rule = None
        self._rule_loss = None

    # --- description ------------------------------------------------------------------------

    @property
    def spec(self):
        """The spec the network was built from."""
        return to_str(lib.soma_net_spec(self._p))

    @property
    def input_shape(self):
        """Per-sample input shape."""
        return _tuple(lib.soma_net_in_shape(self._p))

    @property
    def output_shape(self):
        """Per-sample output shape."""
        return _tuple(lib.soma_net_out_shape(self._p))

    @property
    def n_layers(self):
        """Top-level layers."""
        return lib.soma_net_n_layers(self._p)

    def layer_shape(self, i):
        """Per-sample output shape of top-level layer i."""
        i = self._layer_index(i)
        return _tuple(lib.soma_net_layer(self._p, i).out)

    def summary(self):
        """One line per layer: kind, output shape, parameter count (the C summary)."""
        buf = ffi.new("char[]", 1 << 16)
        lib.soma_net_summary(self._p, buf, len(buf))
        return to_str(buf)

    def params(self):
        """Every parameter as {PyTorch state_dict key: float32 array copy in PyTorch's layout}."""
        out = {}
        for i in range(lib.soma_net_n_params(self._p)):
            p = lib.soma_net_param(self._p, i)
            a = copy_out(p.value, p.n, np.float32).reshape(tuple(p.dims[j] for j in range(p.ndim)))
            out[to_str(lib.soma_net_param_name(self._p, i))] = a
        return out

    def set_params(self, values):
        """Overwrites parameters from {key: array} (keys as params(); shapes must match)."""
        names = {to_str(lib.soma_net_param_name(self._p, i)): i for i in range(lib.soma_net_n_params(self._p))}
        checked = []
        for k, v in values.items():
            if k not in names:
                raise KeyError(f"no parameter {k!r}; the net has {', '.join(names)}")
            p = lib.soma_net_param(self._p, names[k])
            shp = tuple(p.dims[j] for j in range(p.ndim))
            v, _ = as_array(v, np.float32, k, shape=shp)
            checked.append((p, v))
        for p, v in checked:
            ffi.memmove(p.value, ffi.from_buffer(v), v.nbytes)

    # --- NPY files and checkpoints ------------------------------------------------------------

    def save_npy(self, dir):
        """Writes every parameter as DIR/<key>.npy in PyTorch's layout (soma_net_save_npy)."""
        os.makedirs(dir, exist_ok=True)
        check(lib.soma_net_save_npy(self._p, cstr(str(dir), "dir")))

    def load_npy(self, dir):
        """Reads every parameter from DIR/<key>.npy; every shape is checked (soma_net_load_npy)."""
        check(lib.soma_net_load_npy(self._p, cstr(str(dir), "dir")))

    def save(self, path):
        """Writes a soma checkpoint (the parameters; no optimizer state) to path, atomically."""
        meta = ffi.new("soma_ckpt_meta *")
        meta.seed = self.seed
        check(lib.soma_ckpt_save(cstr(str(path), "path"), self._p, ffi.NULL, meta))

    @classmethod
    def load(cls, path):
        """A network rebuilt from a checkpoint (written by save, `soma train --ckpt` or
        train(ckpt=...)): its spec and input shape, then its parameters."""
        spec = ffi.new("char[]", 4096)
        shp = ffi.new("soma_shape *")
        p = cstr(str(path), "path")
        check(lib.soma_ckpt_peek(p, spec, len(spec), shp))
        meta = ffi.new("soma_ckpt_meta *")
        net = cls(to_str(spec), _tuple(shp[0]))
        check(lib.soma_ckpt_load(p, net._p, ffi.NULL, meta))
        net.seed = int(meta.seed)
        return net

    # --- training -----------------------------------------------------------------------------

    def _make_rule(self, rule, loss, seed, fb_scale=1.0, pc_steps=20, pc_rate=0.1, pc_fixed_pred=False,
                   ff_theta=0.0, ff_hard=False, ff_vote_all=False, hebb="gha"):
        o = lib.soma_rule_opts_default()
        o.kind = parse_enum(lib.soma_rule_kind_parse, "rule", rule)
        o.loss = parse_enum(lib.soma_loss_parse, "loss", loss)
        o.seed = seed
        o.fb_scale = _num(fb_scale, "fb_scale")
        o.pc_steps = _pos_int(pc_steps, "pc_steps")
        o.pc_rate = _num(pc_rate, "pc_rate")
        o.pc_fixed_pred = 1 if pc_fixed_pred else 0
        o.ff_theta = _num(ff_theta, "ff_theta")
        o.ff_hard = 1 if ff_hard else 0
        o.ff_vote_all = 1 if ff_vote_all else 0
        hebbs = ("oja", "gha", "competitive")
        if hebb not in hebbs:
            raise ValueError(f"hebb: {hebb!r} is not one of {', '.join(hebbs)}")
        o.hebb = hebbs.index(hebb)
        po = ffi.new("soma_rule_opts *", o)
        out = ffi.new("soma_rule **")
        check(lib.soma_rule_new(out, self._p, po))
        # a rule may touch the net when freed (FA clears the feedback pointers it set): the
        # destructor holds the net, so the net outlives every rule made for it
        net = self._p
        return ffi.gc(out[0], lambda r, _net=net: lib.soma_rule_free(r)), o.loss

    def train(self, x, y, epochs=10, batch=64, lr=1e-3, optim="adam", rule="bp", loss="xent",
              momentum=0.9, weight_decay=0.0, sched="constant", lr_min=0.0, step_size=10,
              gamma=0.1, seed=None, val=None, eval_every=1, ckpt=None, resume=False,
              quiet=True, fb_scale=1.0, pc_steps=20, pc_rate=0.1, pc_fixed_pred=False,
              ff_theta=0.0, ff_hard=False, ff_vote_all=False, hebb="gha"):
        """Trains with soma's training loop (soma_train), as `soma train` does with the same
        options: shuffled mini-batches, the learning rule `rule` ("bp", "fa", "dfa", "pc",
        "ff", "hebb" and its options), optimizer `optim` ("sgd" with `momentum`, "adam",
        "adamw"), schedule `sched` ("constant", "step" every `step_size` epochs by `gamma`,
        "cosine" down to lr_min). loss "xent" (integer labels y [N] or [N, T]) or "mse" (float
        targets y [N, ...]). seed: shuffling and the rule's random draws (default: the net's
        seed, as `soma train --seed S`, which seeds both). val: (x_val, y_val) evaluated every
        `eval_every` epochs (0: only at the end). ckpt: a checkpoint after every epoch; resume:
        continue from it. A fresh optimizer is made for each call. x [N, *input_shape] and y are
        copied once into a C data set (the loop gathers batches from it; uint8 x is scaled by
        1/255, other dtypes taken as given). Ctrl-C stops
        it after the current batch and raises KeyboardInterrupt.

        Returns a dict: train_loss, train_acc, val_acc, val_loss, lr (arrays over epochs),
        train_seconds, samples_per_second, samples, epochs."""
        epochs = _pos_int(epochs, "epochs")
        batch = _pos_int(batch, "batch")
        seed = self.seed if seed is None else _seed(seed)
        train_ds = Dataset.from_arrays(x, y, "train")
        val_ds = None
        if val is not None:
            if not isinstance(val, (tuple, list)) or len(val) != 2:
                raise TypeError("val: want a pair (x_val, y_val)")
            val_ds = Dataset.from_arrays(val[0], val[1], "val")
        okind = parse_enum(lib.soma_optim_parse, "optim", optim)
        oc = ffi.new("soma_optim_config *", lib.soma_optim_defaults(okind))
        oc.momentum = _num(momentum, "momentum") if okind == 0 else 0.0
        oc.weight_decay = _num(weight_decay, "weight_decay")
        tc = ffi.new("soma_train_config *", lib.soma_train_defaults())
        tc.sched.kind = parse_enum(lib.soma_sched_parse, "sched", sched)
        tc.epochs = epochs
        tc.batch = batch
        tc.sched.lr = _num(lr, "lr")
        tc.sched.lr_min = _num(lr_min, "lr_min")
        tc.sched.gamma = _num(gamma, "gamma")
        tc.sched.step_size = _pos_int(step_size, "step_size") * ((train_ds.n + batch - 1) // batch)
        tc.seed = seed
        tc.eval_every = _pos_int(eval_every, "eval_every", 0)
        tc.quiet = 1 if quiet else 0
        keep = []
        if ckpt is not None:
            keep.append(ffi.new("char[]", cstr(str(ckpt), "ckpt")))
            tc.ckpt_path = keep[-1]
        tc.resume = 1 if resume else 0
        rule_p, lk = self._make_rule(rule, loss, seed, fb_scale, pc_steps, pc_rate, pc_fixed_pred,
                                     ff_theta, ff_hard, ff_vote_all, hebb)
        opt_out = ffi.new("soma_optim **")
        check(lib.soma_optim_new(opt_out, self._p, oc))
        opt = ffi.gc(opt_out[0], lambda o, _net=self._p: lib.soma_optim_free(o))
        log = ffi.new("soma_train_log *")
        try:
            run_long(lib.soma_train, self._p, rule_p, opt, train_ds._p,
                     val_ds._p if val_ds is not None else ffi.NULL, tc, log)
            e = log.epochs
            res = {
                "epochs": e,
                "train_loss": copy_out(log.train_loss, e, np.float32),
                "train_acc": copy_out(log.train_acc, e, np.float32),
                "val_loss": copy_out(log.test_loss, e, np.float32),
                "val_acc": copy_out(log.test_acc, e, np.float32),
                "lr": copy_out(log.lr, e, np.float32),
                "train_seconds": log.train_seconds,
                "samples_per_second": log.samples_per_second,
                "samples": log.samples,
            }
        finally:
            lib.soma_train_log_free(log)
        self._rule, self._rule_loss = rule_p, lk
        return res

    def _eval_rule(self, loss):
        lk = parse_enum(lib.soma_loss_parse, "loss", loss) if loss is not None else None
        if self._rule is not None and (lk is None or lk == self._rule_loss):
            return self._rule
        r, _ = self._make_rule("bp", loss or "xent", self.seed)
        return r

    def evaluate(self, x, y, batch=1000, loss=None):
        """(accuracy, mean loss) on (x, y) through the last trained rule's prediction (its loss;
        accuracy NaN for "mse"), or backprop's argmax with `loss` (default "xent")."""
        ds = Dataset.from_arrays(x, y, "eval")
        rule = self._eval_rule(loss)
        acc = ffi.new("float *")
        lo = ffi.new("float *")
        run_long(lib.soma_evaluate_rule, self._p, rule, ds._p, _pos_int(batch, "batch"), acc, lo)
        return float(acc[0]), float(lo[0])

    # --- forward ------------------------------------------------------------------------------

    def _layer_index(self, layer):
        L = self.n_layers
        if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool) or not -L <= layer < L:
            raise IndexError(f"layer: want an integer in [{-L}, {L}), got {layer!r}")
        return int(layer) % L

    def _input(self, x):
        ins = self.input_shape
        x, px = as_array(x, np.float32, "x", ndim=len(ins) + 1, shape=(None,) + ins)
        return x, px

    def predict(self, x, layer=None, batch=1000):
        """Forward pass in evaluation mode of x [N, *input_shape] (float32: C-contiguous arrays
        are read in place, zero-copy; others copied once). Returns a new float32 array: the
        network's outputs [N, *output_shape], or with layer=i the output of top-level layer i
        (negative i counts from the end). Runs in chunks of `batch` samples."""
        x, px = self._input(x)
        li = self.n_layers - 1 if layer is None else self._layer_index(layer)
        oshape = _tuple(lib.soma_net_layer(self._p, li).out)
        n = x.shape[0]
        batch = _pos_int(batch, "batch")
        out = np.empty((n,) + oshape, dtype=np.float32)
        per = int(np.prod(oshape))
        per_in = int(np.prod(x.shape[1:]))
        b = min(batch, n)
        y = ffi.new("const float **")
        po = ffi.cast("float *", ffi.from_buffer(out))
        for s in range(0, n, b):
            m = min(b, n - s)
            check(lib.soma_net_forward(self._p, px + s * per_in, m, _MODE_EVAL, y))
            src = lib.soma_net_activation(self._p, li + 1)
            ffi.memmove(po + s * per, src, m * per * 4)
        return out

    def _attention_layer(self, layer):
        """The self-attention (mhaH) layer at top-level layer `layer` or, for a composite (a
        transformer block), the first one among its sub-layers, depth first."""
        top = lib.soma_net_layer(self._p, self._layer_index(layer))

        def find(l):
            if lib.soma_attn_heads(l) > 0:
                return l
            ops = ffi.cast("soma_layer_ops *", l.ops)
            if ops.n_children != ffi.NULL:
                for i in range(ops.n_children(l)):
                    hit = find(ops.child(l, i))
                    if hit is not None:
                        return hit
            return None

        hit = find(top)
        if hit is None:  # the C message names the layer
            check(lib.soma_attn_probs(top, 0, 0, ffi.NULL))
        return hit

    def attention(self, x, layer):
        """The attention probabilities of a self-attention layer in a forward pass (evaluation
        mode) of x [N, *input_shape]: float32 [N, heads, T, T], row i of [n, h] being query i's
        distribution over the keys (summing to 1; 0 where it may not look: a causal "mhac"
        layer's future keys). layer: the top-level index of an mhaH layer, or of a transformer
        block (blockHhD...) or other composite, whose first mhaH sub-layer is read. x runs as
        one batch."""
        x, px = self._input(x)
        l = self._attention_layer(layer)
        n = x.shape[0]
        y = ffi.new("const float **")
        check(lib.soma_net_forward(self._p, px, n, _MODE_EVAL, y))
        H = lib.soma_attn_heads(l)
        T = l.out.d[0]
        out = np.empty((n, H, T, T), np.float32)
        po = ffi.cast("float *", ffi.from_buffer(out))
        for i in range(n):
            for h in range(H):
                check(lib.soma_attn_probs(l, i, h, po + (i * H + h) * T * T))
        return out

    def classify(self, x, batch=1000):
        """Predicted classes int32 [N] (or [N, T] for per-position outputs) by the last trained
        rule's own prediction (forward-forward classifies by goodness) or the argmax."""
        x, px = self._input(x)
        rule = self._eval_rule(None)
        n = x.shape[0]
        outs = self.output_shape
        positions = outs[0] if len(outs) == 2 else 1
        pred = np.empty((n, positions), dtype=np.int32)
        b = min(_pos_int(batch, "batch"), n)
        check(lib.soma_net_reserve(self._p, b))
        per_in = int(np.prod(x.shape[1:]))
        pp = ffi.cast("int *", ffi.from_buffer(pred))
        for s in range(0, n, b):
            m = min(b, n - s)
            check(lib.soma_rule_predict(rule, self._p, px + s * per_in, m, positions, pp + s * positions))
        return pred[:, 0] if positions == 1 else pred


class Hopfield:
    """A classical Hopfield network of n +-1 units (soma_hopfield): Hebbian storage
    W = 1/N sum xi xi^T (zero diagonal), energy E(s) = -1/2 s^T W s, synchronous (one GEMM a
    step over the batch) or asynchronous (random unit order a sweep) updates.

        h = soma.Hopfield(100)
        h.store(patterns)                     # [P, 100] of +-1
        s, steps = h.update(cues, mode="async", seed=1)
        e = h.energy(s)"""

    def __init__(self, n):
        n = _pos_int(n, "n")
        out = ffi.new("soma_hopfield **")
        check(lib.soma_hopfield_new(out, n))
        self._p = ffi.gc(out[0], lib.soma_hopfield_free)
        self.n = n

    def _states(self, s, name):
        s, ps = as_array(s, np.float32, name, ndim=(1, 2))
        if s.shape[-1] != self.n:
            raise ValueError(f"{name}: {s.shape[-1]} units; the network has {self.n}")
        if not np.all(np.abs(s) == 1):
            raise ValueError(f"{name}: every entry must be +1 or -1")
        return s, ps

    def store(self, patterns):
        """Adds patterns [p, n] (or one [n]) of +-1 to the memory (Hebb's rule)."""
        x, px = self._states(patterns, "patterns")
        b = 1 if x.ndim == 1 else x.shape[0]
        check(lib.soma_hopfield_store(self._p, px, b, self.n))

    def clear(self):
        """Forgets every pattern (W = 0)."""
        lib.soma_hopfield_clear(self._p)

    @property
    def n_patterns(self):
        """Patterns stored so far."""
        return lib.soma_hopfield_patterns(self._p)

    @property
    def weights(self):
        """W [n, n] (float32 copy; symmetric, zero diagonal)."""
        return copy_out(lib.soma_hopfield_weights(self._p), self.n * self.n, np.float32).reshape(self.n, self.n)

    def energy(self, s):
        """E(s) = -1/2 s^T W s of states s [b, n] (float32 [b]) or of one state [n] (a float)."""
        s, ps = self._states(s, "s")
        b = 1 if s.ndim == 1 else s.shape[0]
        e = np.empty(b, np.float32)
        check(lib.soma_hopfield_energy(self._p, ps, b, self.n, ffi.cast("float *", ffi.from_buffer(e))))
        return float(e[0]) if s.ndim == 1 else e

    def update(self, s, mode="sync", max_steps=100, seed=1):
        """Runs states s [b, n] (or one [n]; +-1) to a fixed point: mode "sync" (every unit at
        once, s <- sign(s W), ties kept; stops at a fixed point or a 2-cycle, or after max_steps)
        or "async" (sweeps over the units in a random order drawn from (seed, state index) until
        a sweep flips nothing, at most max_steps sweeps). Returns (new states, a copy; steps
        int32 [b]): sync: the last step that changed the state (0: already fixed, -1: a 2-cycle,
        max_steps + 1: still moving); async: the sweeps run."""
        if mode not in ("sync", "async"):
            raise ValueError(f"mode: {mode!r} is not one of sync, async")
        x, _ = self._states(s, "s")
        one = x.ndim == 1
        x = np.array(x, dtype=np.float32, order="C", copy=True).reshape(-1, self.n)
        b = x.shape[0]
        steps = np.zeros(b, np.int32)
        px = ffi.cast("float *", ffi.from_buffer(x))
        pst = ffi.cast("int *", ffi.from_buffer(steps))
        max_steps = _pos_int(max_steps, "max_steps")
        if mode == "sync":
            run_long(lib.soma_hopfield_update_sync, self._p, px, b, self.n, max_steps, pst)
        else:
            run_long(lib.soma_hopfield_update_async, self._p, px, b, self.n, max_steps, _seed(seed), pst)
        return (x[0], steps[:1]) if one else (x, steps)


class ModernHopfield:
    """A modern Hopfield network (Ramsauer et al. 2020; soma_mhn) storing the rows of
    patterns [m, d] (a copy) at inverse temperature beta: one update of cues Xi [b, d] is
    softmax(beta Xi P^T) P, one attention step. Small beta: the global average; intermediate:
    metastable averages of a few patterns; large: retrieval of single patterns.

        h = soma.ModernHopfield(patterns, beta=8.0)
        out, p = h.retrieve(cues, probs=True)   # p [b, m]: the attention weights
        h.kind(p[0])                            # "single", "metastable" or "global"
    """

    def __init__(self, patterns, beta=1.0):
        x, px = as_array(patterns, np.float32, "patterns", ndim=2)
        out = ffi.new("soma_mhn **")
        check(lib.soma_mhn_new(out, px, x.shape[0], x.shape[1], _num(beta, "beta")))
        self._p = ffi.gc(out[0], lib.soma_mhn_free)
        self.m, self.d = x.shape

    @property
    def beta(self):
        """The inverse temperature (settable; > 0)."""
        return lib.soma_mhn_beta(self._p)

    @beta.setter
    def beta(self, v):
        check(lib.soma_mhn_set_beta(self._p, _num(v, "beta")))

    def _cues(self, xi, name="xi"):
        xi, pxi = as_array(xi, np.float32, name, ndim=(1, 2))
        if xi.shape[-1] != self.d:
            raise ValueError(f"{name}: {xi.shape[-1]} values a state; the patterns have {self.d}")
        return xi, pxi, (1 if xi.ndim == 1 else xi.shape[0])

    def retrieve(self, xi, steps=1, probs=False):
        """steps updates of the cues xi [b, d] (or one [d]): the new states (float32, the
        caller's array unchanged), and with probs=True the last step's softmax weights [b, m]."""
        xi, pxi, b = self._cues(xi)
        out = np.empty(xi.shape, np.float32)
        p = np.empty((b, self.m), np.float32) if probs else None
        check(lib.soma_mhn_retrieve(self._p, ffi.cast("float *", ffi.from_buffer(out)), pxi, b, self.d,
                                    _pos_int(steps, "steps"),
                                    ffi.cast("float *", ffi.from_buffer(p)) if probs else ffi.NULL))
        if not probs:
            return out
        return out, (p[0] if xi.ndim == 1 else p)

    def energy(self, xi):
        """E(xi) = -lse(beta, P xi) + 1/2 xi.xi + log(m) / beta + 1/2 max|x_mu|^2 (>= 0) of
        states [b, d] (float32 [b]) or of one [d] (a float)."""
        xi, pxi, b = self._cues(xi)
        e = np.empty(b, np.float32)
        check(lib.soma_mhn_energy(self._p, pxi, b, self.d, ffi.cast("float *", ffi.from_buffer(e))))
        return float(e[0]) if xi.ndim == 1 else e

    def separation(self):
        """Delta_mu = x_mu.x_mu - max_{nu != mu} x_mu.x_nu of every pattern (float32 [m])."""
        delta = np.empty(self.m, np.float32)
        check(lib.soma_mhn_separation(self._p, ffi.cast("float *", ffi.from_buffer(delta))))
        return delta

    @property
    def separation_bound(self):
        """The separation beyond which Theorem 3 promises retrieval in one update at this beta."""
        return lib.soma_mhn_separation_bound(self._p)

    @staticmethod
    def kind(p):
        """What softmax weights p [m] say about a fixed point: ("single" | "metastable" |
        "global", the effective number of patterns 1 / sum p^2)."""
        p, pp = as_array(p, np.float32, "p", ndim=1)
        if np.any(p < 0) or abs(float(p.sum()) - 1) > 1e-3:
            raise ValueError("p: want non-negative weights summing to 1")
        n = ffi.new("float *")
        k = lib.soma_mhn_kind_of(pp, p.shape[0], n)
        return to_str(lib.soma_mhn_kind_name(k)), float(n[0])
