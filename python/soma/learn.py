"""Continual learning (include/soma/learn.h, soma_cl_*): task streams, soma_cl_run with every
method, the accuracy matrix and its metrics, and the diagonal Fisher information.

    stream = soma.TaskStream.from_arrays(x, y, tasks, test=(xt, yt, tt))
    net = soma.Net(f"fc64,relu,fc{stream.n_outputs}", stream.input_shape, seed=1)
    res = soma.continual(net, stream, method="ewc", ewc_lambda=100, epochs=1)
    res["R"]       # [T, T]: accuracy on task j after training tasks 0..i
    res["acc"], res["bwt"], res["fwt"], res["forgetting"], res["memory_bytes"]

The same net spec, seed and options give the figures `soma continual` prints, bit for bit.
"""

import os
import tempfile

import numpy as np

from ._ffi import ffi, lib, check, cstr, to_str, as_array, run_long, parse_enum, copy_out, Cancelled
from .data import Dataset, write_npy
from .nn import Net, _seed, _pos_int, _num

_SCENARIOS = ("task", "domain", "class")
_GEN_LIKS = ("bernoulli", "gaussian", "poisson")  # soma_vae_lik, in order


def _dataset(d, name):
    """A Dataset, or a pair (x, y) made into one."""
    if isinstance(d, Dataset):
        return d
    if isinstance(d, (tuple, list)) and len(d) == 2:
        return Dataset.from_arrays(d[0], d[1], name)
    raise TypeError(f"{name}: want a soma.Dataset or a pair (x, y)")


def _tasks(t, n, name):
    t, pt = as_array(t, np.int32, name, ndim=1)
    if t.shape[0] != n:
        raise ValueError(f"{name}: {t.shape[0]} task ids for {n} samples; want one a sample")
    if t.min() < 0:
        raise ValueError(f"{name}: task ids must be >= 0 (got {t.min()})")
    return t, pt


class TaskStream:
    """A sequence of tasks, each a training and a test data set (soma_task_stream), in one of
    three scenarios (van de Ven et al. 2020): "task" (one head of c outputs a task, the task
    known), "domain" (one shared head), "class" (a growing head over every class seen). Build
    with load(spec), from_arrays(x, y, tasks), permuted(...) or split(...)."""

    def __init__(self, ptr):
        self._p = ffi.gc(ptr, lib.soma_task_stream_free)

    @classmethod
    def load(cls, spec, fmnist_dir=None, n_train=0, n_test=0, seed=1, test_frac=0.2):
        """By spec, as `soma continual --stream`: "permuted-fmnist[:T]",
        "split-fmnist[:task|domain|class]", "npy:X,Y,TASKS[;XT,YT,TT]". n_train, n_test: the
        first samples a task (0: all); seed: permutations and the npy held-out split;
        test_frac: npy without a test triple, the held-out fraction of each task."""
        o = ffi.new("soma_stream_opts *", lib.soma_stream_opts_default())
        keep = []
        if fmnist_dir is not None:
            keep.append(ffi.new("char[]", cstr(str(fmnist_dir), "fmnist_dir")))
            o.fmnist_dir = keep[-1]
        o.n_train = _pos_int(n_train, "n_train", 0)
        o.n_test = _pos_int(n_test, "n_test", 0)
        o.seed = _seed(seed)
        o.test_frac = _num(test_frac, "test_frac")
        out = ffi.new("soma_task_stream **")
        run_long(lib.soma_task_stream_load, cstr(spec, "spec"), o, out)
        return cls(out[0])

    @classmethod
    def from_arrays(cls, x, y, tasks, test=None, seed=1, test_frac=0.2):
        """The user's data: x [N, ...] samples (uint8 scaled by 1/255, as everywhere), y integer
        labels [N], tasks integer task ids [N] in 0..T-1, each id present. Labels are used as
        given on one head over all classes (class-incremental). test: (xt, yt, tt) likewise;
        None: a held-out fraction test_frac of each task, drawn with seed, exactly as
        `soma continual --stream npy:X,Y,TASKS` holds it out (through the same files)."""
        if test is None:
            if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
                x, y = np.asarray(x), np.asarray(y)
            tk = np.asarray(tasks)
            if tk.dtype.kind not in "iu":
                raise TypeError(f"tasks: dtype {tk.dtype}: want integers")
            _tasks(tk, len(x), "tasks")
            with tempfile.TemporaryDirectory(prefix="soma-stream-") as d:
                files = [os.path.join(d, f) for f in ("x.npy", "y.npy", "t.npy")]
                for f, a, nm in zip(files, (x, y, tk), ("x", "y", "tasks")):
                    if a.dtype.kind == "f" and not np.isfinite(a).all():
                        raise ValueError(f"{nm}: contains NaN or infinity")
                    write_npy(f, a)
                return cls.load("npy:" + ",".join(files), seed=seed, test_frac=test_frac)
        if not isinstance(test, (tuple, list)) or len(test) != 3:
            raise TypeError("test: want a triple (x_test, y_test, tasks_test) or None")
        tr = Dataset.from_arrays(x, y, "train")
        te = Dataset.from_arrays(test[0], test[1], "test")
        t1, p1 = _tasks(tasks, tr.n, "tasks")
        t2, p2 = _tasks(test[2], te.n, "tasks_test")
        out = ffi.new("soma_task_stream **")
        check(lib.soma_task_stream_by_id(tr._p, p1, te._p, p2, out))
        return cls(out[0])

    @classmethod
    def permuted(cls, train, test, n_tasks, seed=1):
        """n_tasks fixed pixel permutations of train and test (Datasets or (x, y) pairs); task 0
        is the identity; domain-incremental."""
        tr, te = _dataset(train, "train"), _dataset(test, "test")
        out = ffi.new("soma_task_stream **")
        check(lib.soma_task_stream_permuted(tr._p, te._p, _pos_int(n_tasks, "n_tasks"), _seed(seed), out))
        return cls(out[0])

    @classmethod
    def split(cls, train, test, classes_per_task=2, scenario="class"):
        """Tasks of classes_per_task consecutive classes (0/1, 2/3, ...) of train and test, in
        scenario "task", "domain" or "class"."""
        if scenario not in _SCENARIOS:
            raise ValueError(f"scenario: {scenario!r} is not one of {', '.join(_SCENARIOS)}")
        tr, te = _dataset(train, "train"), _dataset(test, "test")
        out = ffi.new("soma_task_stream **")
        check(lib.soma_task_stream_split(tr._p, te._p, _pos_int(classes_per_task, "classes_per_task"),
                                         _SCENARIOS.index(scenario), out))
        return cls(out[0])

    @property
    def name(self):
        """The stream's name ("npy", "split-fmnist", ...)."""
        return to_str(self._p.name)

    @property
    def scenario(self):
        """"task", "domain" or "class"."""
        return to_str(lib.soma_cl_scenario_name(self._p.scenario))

    @property
    def n_tasks(self):
        """Tasks in the stream."""
        return self._p.n_tasks

    @property
    def classes_per_task(self):
        """Labels a task (the most any task has)."""
        return self._p.classes_per_task

    @property
    def n_outputs(self):
        """Outputs the net needs."""
        return self._p.n_outputs

    @property
    def input_shape(self):
        """Per-sample input shape."""
        s = self._p.train[0].shape
        return tuple(s.d[i] for i in range(s.rank))

    @property
    def classes(self):
        """int32 [n_tasks, classes_per_task]: the original class of each task's label j (-1: none)."""
        T, c = self.n_tasks, self.classes_per_task
        return copy_out(self._p.classes, T * c, np.int32).reshape(T, c)

    def _t(self, t):
        if not isinstance(t, (int, np.integer)) or isinstance(t, bool) or not 0 <= t < self.n_tasks:
            raise IndexError(f"task: want an integer in [0, {self.n_tasks}), got {t!r}")
        return int(t)

    def task(self, t, test=False):
        """(x, y) of task t's training (or test) set, as the training loop sees them."""
        t = self._t(t)
        d = (self._p.test if test else self._p.train)[t]
        ds = Dataset.__new__(Dataset)
        ds._p = d  # borrowed: kept alive by the stream, which this object holds
        ds._stream = self
        return ds.arrays()

    def head(self, t, upto=None):
        """(offset, count): task t's active outputs after training tasks 0..upto (default t)."""
        t = self._t(t)
        upto = t if upto is None else self._t(upto)
        if upto < t:
            raise ValueError(f"upto: want >= the task ({t}), got {upto}")
        off, cnt = ffi.new("int *"), ffi.new("int *")
        lib.soma_task_stream_head(self._p, t, upto, off, cnt)
        return off[0], cnt[0]


# option -> (kind, extra): kind "f" float, "i" int, "b" bool, or a tuple of names (parsed)
_OPTS = {
    "ewc_lambda": "f", "ewc_gamma": "f", "fisher": ("empirical", "true"), "fisher_samples": "i",
    "fisher_batch": "i", "si_c": "f", "si_xi": "f", "buffer": "i", "buffer_frac": "f",
    "replay_batch": "i", "joint_sampled": "b", "reset_optim": "b", "lwf_alpha": "f", "lwf_temp": "f",
    "lwf_balance": "b", "gen_latent": "i", "gen_hidden": "s", "gen_lr": "f", "gen_beta": "f",
    "gen_lik": _GEN_LIKS, "gen_iters": "i", "gen_soft": "b", "gen_temp": "f", "cls_capacity": "i",
    "cls_evict": lib.soma_cls_evict_parse, "cls_keys": lib.soma_cls_keys_parse, "cls_key_dim": "i",
    "cls_layer": "i", "cls_beta": "f", "cls_knn": "i", "cls_answer": lib.soma_cls_answer_parse,
    "cls_confidence": "f", "cls_sleep_every": "i", "cls_sleep_steps": "i", "cls_sleep_batch": "i",
    "cls_sleep_lr": "f", "cls_replay": "i", "penalty_decoupled": "b",
}


def _int(v, name):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
        raise ValueError(f"{name}: want an integer, got {v!r}")
    return int(v)


def _cl_opts(method, seed, opts, keep):
    o = ffi.new("soma_cl_opts *", lib.soma_cl_opts_default())
    o.method = parse_enum(lib.soma_cl_method_parse, "method", method)
    o.seed = seed
    for k, v in opts.items():
        kind = _OPTS.get(k)
        if kind is None:
            raise TypeError(f"continual: unknown option {k!r}; the options are {', '.join(sorted(_OPTS))}")
        if kind == "f":
            setattr(o, k, _num(v, k))
        elif kind == "i":
            setattr(o, k, _int(v, k))
        elif kind == "b":
            if not isinstance(v, (bool, int, np.integer)):
                raise ValueError(f"{k}: want a bool, got {v!r}")
            setattr(o, k, 1 if v else 0)
        elif kind == "s":
            keep.append(ffi.new("char[]", cstr(v, k)))
            setattr(o, k, keep[-1])
        elif isinstance(kind, tuple):
            if v not in kind:
                raise ValueError(f"{k}: {v!r} is not one of {', '.join(kind)}")
            setattr(o, k, kind.index(v))
        else:
            setattr(o, k, parse_enum(kind, k, v))
    return o


def _optim(net, optim, momentum):
    okind = parse_enum(lib.soma_optim_parse, "optim", optim)
    oc = ffi.new("soma_optim_config *", lib.soma_optim_defaults(okind))
    if okind == 0:
        oc.momentum = _num(momentum, "momentum")
    out = ffi.new("soma_optim **")
    check(lib.soma_optim_new(out, net._p, oc))
    return ffi.gc(out[0], lambda o, _net=net._p: lib.soma_optim_free(o))


def continual(net, stream, method="finetune", epochs=1, batch=128, lr=1e-3, optim="adam", rule="bp",
              momentum=0.0, seed=None, quiet=True, progress=None, **opts):
    """Trains net on the stream's tasks in order with a continual-learning method (soma_cl_run),
    evaluating every task's test set before training and after each task, as `soma continual`
    does with the same settings (`--method`, `--epochs`, `--batch`, `--lr`, `--optim`, `--rule`,
    `--seed`; the net built with that seed).

    method: "finetune", "joint", "ewc", "online_ewc", "si", "lwf", "replay",
    "generative_replay", "cls". opts: soma_cl_opts' fields by name: ewc_lambda, ewc_gamma,
    fisher ("true" or "empirical"), fisher_samples, fisher_batch, si_c, si_xi, buffer (samples;
    0: buffer_frac of the training data), buffer_frac, replay_batch, joint_sampled, reset_optim,
    penalty_decoupled, lwf_alpha, lwf_temp, lwf_balance, gen_latent, gen_hidden, gen_lr,
    gen_beta, gen_lik ("bernoulli", "gaussian", "poisson"), gen_iters, gen_soft, gen_temp,
    cls_capacity, cls_evict ("reservoir", "quota"), cls_keys ("projection", "input", "layer"),
    cls_key_dim, cls_layer, cls_beta, cls_knn, cls_answer ("system", "slow", "store"),
    cls_confidence, cls_sleep_every, cls_sleep_steps, cls_sleep_batch, cls_sleep_lr,
    cls_replay (learn.h documents each; unset ones keep the C defaults). seed: shuffling, the
    rule's draws and the method's (default: the net's seed). progress: a function called
    after each task with (task, row), row the accuracies on every task (float32 [T]; an
    exception it raises stops the run and is raised here). Unknown options raise TypeError,
    bad values soma.ArgumentError (the C message). Ctrl-C stops it (KeyboardInterrupt).

    Returns a dict: R (float32 [T, T], R[i, j] the accuracy on task j after training tasks
    0..i), b ([T], the untrained net's accuracies), acc, bwt, fwt, forgetting (NaN for T = 1),
    memory_bytes (what the method keeps beyond the net), seconds (training, Fisher and buffer
    work), method, scenario, tasks."""
    if not isinstance(net, Net):
        raise TypeError("net: want a soma.Net")
    if not isinstance(stream, TaskStream):
        raise TypeError("stream: want a soma.TaskStream")
    seed = net.seed if seed is None else _seed(seed)
    keep = []
    o = _cl_opts(method, seed, opts, keep)
    tc = ffi.new("soma_train_config *", lib.soma_train_defaults())
    tc.epochs = _pos_int(epochs, "epochs")
    tc.batch = _pos_int(batch, "batch")
    tc.sched.lr = _num(lr, "lr")
    tc.seed = seed
    tc.quiet = 1 if quiet else 0
    tc.eval_every = 0
    rule_p, lk = net._make_rule(rule, "xent", seed)
    opt = _optim(net, optim, momentum)
    res = ffi.new("soma_cl_result *")
    cb, err = ffi.NULL, []
    if progress is not None:
        if not callable(progress):
            raise TypeError("progress: want a function (task, row) or None")
        nt = stream.n_tasks

        def _progress(user, task, partial):
            if err:
                return
            try:
                progress(int(task), copy_out(partial.R + task * nt, nt, np.float32))
            except BaseException as e:  # stop the run; raised below
                err.append(e)
                lib.soma_cancel_request()

        cb = ffi.callback("void(void *, int, const soma_cl_result *)", _progress)
    try:
        try:
            run_long(lib.soma_cl_run, net._p, rule_p, opt, stream._p, o, tc, ffi.cast("void *", cb), ffi.NULL, res)
        except (KeyboardInterrupt, Cancelled):
            if err:
                raise err[0] from None
            raise
        if err:  # raised after the last task: the run had finished
            lib.soma_cancel_clear()
            raise err[0]
        T = res.n_tasks
        m = res.metrics
        out = {
            "method": to_str(lib.soma_cl_method_name(o.method)), "scenario": stream.scenario, "tasks": T,
            "R": copy_out(res.R, T * T, np.float32).reshape(T, T), "b": copy_out(res.b, T, np.float32),
            "acc": m.acc, "bwt": m.bwt, "fwt": m.fwt, "forgetting": m.forgetting,
            "memory_bytes": int(res.memory_bytes), "seconds": res.seconds,
        }
    finally:
        lib.soma_cl_result_free(res)
    net._rule, net._rule_loss = rule_p, lk
    return out


def cl_metrics(R, b):
    """The metrics of an accuracy matrix R [T, T] and the untrained accuracies b [T]
    (soma_cl_metrics_compute): a dict acc, bwt, fwt, forgetting (NaN for T = 1)."""
    R, pR = as_array(R, np.float32, "R", ndim=2)
    T = R.shape[0]
    if R.shape != (T, T):
        raise ValueError(f"R: shape {R.shape}; want a square [T, T]")
    b, pb = as_array(b, np.float32, "b", shape=(T,))
    m = ffi.new("soma_cl_metrics *")
    lib.soma_cl_metrics_compute(pR, pb, T, m)
    return {"acc": m.acc, "bwt": m.bwt, "fwt": m.fwt, "forgetting": m.forgetting}


def fisher(net, x, y, n=0, batch=1, kind="true", head=None, labels=None, seed=1):
    """The diagonal Fisher information of net's parameters on (x, y) (soma_cl_fisher, backprop):
    F_i = mean over mini-batches of `batch` samples (1: per sample, the exact diagonal) of the
    squared gradient of the mean cross-entropy, over the first n samples (0: all). kind
    "empirical" uses the labels y, "true" draws labels from the net's softmax over the head
    (with seed); labels (int [n]) fixes the labels instead. head: (offset, count) of the
    active outputs (None: all). Returns {PyTorch state_dict key: float32 array in the
    parameter's shape} (zeros for frozen parameters)."""
    if not isinstance(net, Net):
        raise TypeError("net: want a soma.Net")
    kinds = ("empirical", "true")
    if kind not in kinds:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(kinds)}")
    ds = Dataset.from_arrays(x, y, "fisher")
    if ds.shape != net.input_shape:
        raise ValueError(f"x: samples of shape {ds.shape}; the net takes {net.input_shape}")
    n = _int(n, "n")
    if n < 0 or n > ds.n:
        raise ValueError(f"n: want 0..{ds.n} (0: all), got {n}")
    used = ds.n if n == 0 else n
    batch = _pos_int(batch, "batch")
    off, cnt = 0, 0
    if head is not None:
        if not isinstance(head, (tuple, list)) or len(head) != 2:
            raise TypeError("head: want a pair (offset, count) or None")
        off, cnt = _int(head[0], "head offset"), _int(head[1], "head count")
    K = int(np.prod(net.output_shape))
    lo, hi = (off, off + cnt) if cnt > 0 and off >= 0 else (0, K)
    pl = ffi.NULL
    if labels is not None:
        labels, pl = as_array(labels, np.int32, "labels", shape=(used,))
        check_labels = labels
    else:
        check_labels = ds.arrays()[1][:used] if kind == "empirical" else None
    if check_labels is not None and check_labels.ndim == 1 and check_labels.size and (
            check_labels.min() < lo or check_labels.max() >= hi):
        raise ValueError(f"labels: want classes in [{lo}, {hi}) (the net's outputs or the head), got "
                         f"{check_labels.min()}..{check_labels.max()}")
    rule_p, _ = net._make_rule("bp", "xent", net.seed)
    rng = ffi.new("soma_rng *")
    lib.soma_rng_seed(rng, _seed(seed), 0)
    nflat = ffi.new("size_t *")
    base = lib.soma_net_flat_values(net._p, nflat)
    F = np.zeros(nflat[0], dtype=np.float32)
    run_long(lib.soma_cl_fisher, net._p, rule_p, ds._p, n, batch, kinds.index(kind), off, cnt, pl, rng,
             ffi.cast("float *", ffi.from_buffer(F)))
    out = {}
    for i in range(lib.soma_net_n_params(net._p)):
        p = lib.soma_net_param(net._p, i)
        o = (int(ffi.cast("uintptr_t", p.value)) - int(ffi.cast("uintptr_t", base))) // 4
        shp = tuple(p.dims[j] for j in range(p.ndim))
        out[to_str(lib.soma_net_param_name(net._p, i))] = F[o:o + p.n].reshape(shp).copy()
    return out
