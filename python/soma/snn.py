"""Spiking networks (include/soma/snn.h): built from the JSON description `soma snn` reads
(docs/snn-json.md) or call by call (SNN.empty, add_group, connect, record_*), simulated by the
C engine, monitors and weights returned as NumPy arrays."""

import json as _json

import numpy as np

from ._ffi import ffi, lib, check, cstr, to_str, copy_out, run_long, as_array

_MON_KINDS = ("spikes", "state", "rate")
_MODELS = ("lif", "adex", "izhikevich", "poisson")
_SYNAPSES = ("current", "conductance", "delta")
_RULES = ("prob", "indegree", "edges", "one_to_one")
_TARGETS = ("exc", "inh")
_PARAMS = ("C", "gL", "EL", "V_th", "V_reset", "t_ref", "I_ext", "tau_e", "tau_i", "E_e", "E_i", "delta_T",
           "V_T", "V_peak", "a", "b", "tau_w", "izh_a", "izh_b", "izh_c", "izh_d", "rate", "V_init_lo",
           "V_init_hi")
_STDP_KEYS = ("tau_plus", "tau_minus", "A_plus", "A_minus", "w_max", "multiplicative")


def _num(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
        raise ValueError(f"{name}: want a finite number, got {v!r}")
    return float(v)


def _int(v, name, lo=None):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or (lo is not None and v < lo):
        raise ValueError(f"{name}: want an integer" + (f" >= {lo}" if lo is not None else "") + f", got {v!r}")
    return int(v)


def _choice(v, name, choices):
    if v not in choices:
        raise ValueError(f"{name}: {v!r} is not one of {', '.join(choices)}")
    return choices.index(v)


class SNN:
    """A spiking network built from a JSON description (a str, a dict, or a path ending in
    .json), as `soma snn FILE.json` builds it:

        net = soma.SNN("examples/snn/cuba.json")
        net.run()                          # the description's duration (or net.run(ms))
        t, i = net.spikes("exc")           # spike times (ms, float64), neuron ids (int32)
        v = net.state(2)                   # a state monitor by id: (t, values [samples, neurons])

    seed overrides the description's seed (as --seed). SNN.empty(dt=, seed=) starts a network
    to build call by call instead (add_group, connect, record_spikes, ...). The network lives
    in C memory."""

    def __init__(self, description, seed=None):
        if isinstance(description, dict):
            d = dict(description)
        elif isinstance(description, str) and description.lstrip().startswith("{"):
            d = _json.loads(description)
        elif isinstance(description, str):
            with open(description) as f:
                d = _json.load(f)
        else:
            raise TypeError(f"description: want a JSON str, a dict or a path, got {type(description).__name__}")
        if seed is not None:
            if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
                raise ValueError(f"seed: want an integer >= 0, got {seed!r}")
            d["seed"] = int(seed)
        text = _json.dumps(d)
        out = ffi.new("soma_snn **")
        info = ffi.new("soma_snn_json_info *")
        st = lib.soma_snn_from_json_info(cstr(text, "description"), out, info)
        try:
            check(st)
            self._p = ffi.gc(out[0], lib.soma_snn_free)
            self.duration = info.duration
            self.seed = int(info.seed)
            self.monitor_vars = [ffi.string(info.monitors[m].var).decode() for m in range(info.n_monitors)]
            self.monitor_neurons = [copy_out(info.monitors[m].neurons, info.monitors[m].n_neurons, np.int32)
                                    for m in range(info.n_monitors)]
        finally:
            lib.soma_snn_json_info_free(info)

    @classmethod
    def empty(cls, dt=0.1, seed=1):
        """An empty network to build call by call (dt in ms, 0 < dt <= 10; seed fixes every
        random number), as a JSON description with the same groups, connections and monitors
        in the same order builds it (bit for bit the same run):

            net = soma.SNN.empty(dt=0.1, seed=1)
            e = net.add_group("exc", 800, "lif", EL=-49, V_init_lo=-60, V_init_hi=-50)
            net.connect("exc", "exc", rule="prob", p=0.02, weight=16.2)
            net.record_spikes("exc")
            net.run(100)

        run() then needs a duration (there is no description's)."""
        seed = _int(seed, "seed", 0)
        out = ffi.new("soma_snn **")
        check(lib.soma_snn_new(out, _num(dt, "dt"), seed))
        self = cls.__new__(cls)
        self._p = ffi.gc(out[0], lib.soma_snn_free)
        self.duration = None
        self.seed = seed
        self.monitor_vars = []
        self.monitor_neurons = []
        return self

    # --- building -----------------------------------------------------------------------------

    def add_group(self, name, n, model="lif", synapse="current", preset=None, **params):
        """Adds n neurons of a model ("lif", "adex", "izhikevich", "poisson"); returns the group
        id. synapse: "current", "conductance" or "delta" (not for poisson); preset: an
        Izhikevich (2003) pattern ("RS", "FS", "IB", "CH", "LTS", "TC", "RZ"); params: fields of
        soma_neuron_params (C, gL, EL, V_th, V_reset, t_ref, I_ext, tau_e, tau_i, E_e, E_i,
        delta_T, V_T, V_peak, a, b, tau_w, izh_a..izh_d, rate, V_init_lo, V_init_hi) over the
        model's defaults (then the preset). Names are unique, 1..63 characters."""
        m = _choice(model, "model", _MODELS)
        n = _int(n, "n", 1)
        p = ffi.new("soma_neuron_params *")
        lib.soma_neuron_defaults(m, p)
        if preset is not None:
            if m != _MODELS.index("izhikevich"):
                raise ValueError(f"preset: only izhikevich groups take one (model {model!r})")
            check(lib.soma_izhikevich_preset(cstr(preset, "preset"), p))
        if m == _MODELS.index("poisson"):
            if synapse != "current":
                raise ValueError("synapse: a poisson group takes no input")
        else:
            p.synapse = _choice(synapse, "synapse", _SYNAPSES)
        for key, v in params.items():
            if key not in _PARAMS:
                raise TypeError(f"add_group: unknown parameter {key!r}; the parameters are {', '.join(_PARAMS)}")
            setattr(p, key, _num(v, key))
        g = ffi.new("int *")
        check(lib.soma_snn_add_group(self._p, cstr(name, "name"), n, p, g))
        return g[0]

    def connect(self, pre, post, rule="prob", weight=None, p=None, k=None, edges=None, edge_weights=None,
                target="exc", delay=0.1, autapses=False, stdp=None):
        """Adds a projection pre -> post (group names or ids); returns its id. rule "prob"
        (each pair with probability p), "indegree" (each post neuron draws k distinct pre
        neurons), "edges" (edges: int [m, 2] of (pre, post) in-group indices, with weight, or
        edge_weights float [m] per edge) or "one_to_one". weight: pA (current synapses,
        inhibition negative), nS (conductance, >= 0) or mV (delta). target "exc" or "inh";
        delay in ms (at least one step); autapses allows i -> i within a group. stdp: a dict
        of w_max (required), tau_plus, tau_minus (ms, default 20), A_plus (0.005), A_minus
        (0.00525), multiplicative (False): pair-based STDP, as the JSON "stdp" object."""
        c = ffi.new("soma_conn_spec *", lib.soma_conn_default())
        c.pre, c.post = self._group(pre), self._group(post)
        c.rule = _choice(rule, "rule", _RULES)
        c.target = _choice(target, "target", _TARGETS)
        c.delay = _num(delay, "delay")
        c.autapses = 1 if autapses else 0
        keep = []
        if (p is not None) != (rule == "prob"):
            raise ValueError("p: required for rule 'prob' and only for it")
        if (k is not None) != (rule == "indegree"):
            raise ValueError("k: required for rule 'indegree' and only for it")
        if (edges is not None) != (rule == "edges"):
            raise ValueError("edges: required for rule 'edges' and only for it")
        if edge_weights is not None and edges is None:
            raise ValueError("edge_weights: only with edges")
        if (weight is None) == (edge_weights is None):
            raise ValueError("weight: required (one weight), unless edge_weights gives one per edge")
        if p is not None:
            c.p = _num(p, "p")
        if k is not None:
            c.k = _int(k, "k")
        if edges is not None:
            e, _ = as_array(edges, np.int32, "edges", ndim=2)
            if e.shape[1] != 2:
                raise ValueError(f"edges: shape {e.shape}; want (m, 2)")
            ep, epp = as_array(np.ascontiguousarray(e[:, 0]), np.int32, "edges")
            eq, epq = as_array(np.ascontiguousarray(e[:, 1]), np.int32, "edges")
            keep += [ep, eq]
            c.edge_pre, c.edge_post, c.n_edges = epp, epq, e.shape[0]
            if edge_weights is not None:
                w, pw = as_array(edge_weights, np.float32, "edge_weights", shape=(e.shape[0],))
                keep.append(w)
                c.edge_w = pw
        if weight is not None:
            c.weight = _num(weight, "weight")
        sp = None
        if stdp is not None:
            if not isinstance(stdp, dict):
                raise TypeError(f"stdp: want a dict, got {type(stdp).__name__}")
            bad = [key for key in stdp if key not in _STDP_KEYS]
            if bad:
                raise TypeError(f"stdp: unknown key {bad[0]!r}; the keys are {', '.join(_STDP_KEYS)}")
            if "w_max" not in stdp:
                raise ValueError("stdp: w_max is required")
            sp = ffi.new("soma_stdp *", {"tau_plus": 20.0, "tau_minus": 20.0, "A_plus": 0.005, "A_minus": 0.00525})
            for key, v in stdp.items():
                if key == "multiplicative":
                    sp.multiplicative = 1 if v else 0
                else:
                    setattr(sp, key, _num(v, "stdp." + key))
            c.stdp = sp
        out = ffi.new("int *")
        check(lib.soma_snn_connect(self._p, c, out))
        del keep, sp  # copied by soma_snn_connect
        return out[0]

    @property
    def n_projections(self):
        """Projections built so far."""
        return lib.soma_snn_n_projections(self._p)

    def _proj(self, proj):
        n = lib.soma_snn_n_projections(self._p)
        if isinstance(proj, bool) or not isinstance(proj, (int, np.integer)) or not 0 <= proj < n:
            raise IndexError(f"proj: want a projection id in [0, {n}), got {proj!r}")
        return int(proj)

    def synapses(self, proj):
        """(pre int32 [m], post int32 [m], weights float32 [m]) of a projection's synapses now
        (in-group indices, ordered by pre then post; STDP changes the weights as it runs)."""
        j = self._proj(proj)
        m = lib.soma_snn_proj_size(self._p, j)
        pre, post, w = np.empty(m, np.int32), np.empty(m, np.int32), np.empty(m, np.float32)
        if m:
            check(lib.soma_snn_proj_get(self._p, j, ffi.cast("int *", ffi.from_buffer(pre)),
                                        ffi.cast("int *", ffi.from_buffer(post)),
                                        ffi.cast("float *", ffi.from_buffer(w))))
        return pre, post, w

    def weights(self, proj):
        """A projection's current weights, float32 [m], in the order of synapses()."""
        return self.synapses(proj)[2]

    def set_current(self, group, current=None):
        """Constant input currents (pA) of a group's neurons from the next step: a number for
        all of them, or float64 [group size]; None restores the group's I_ext."""
        g = self._group(group)
        if current is None:
            check(lib.soma_snn_set_current(self._p, g, ffi.NULL))
            return
        n = lib.soma_snn_group_size(self._p, g)
        if np.isscalar(current) and not isinstance(current, (str, bytes)):
            current = np.full(n, _num(current, "current"))
        c, pc = as_array(current, np.float64, "current", shape=(n,))
        check(lib.soma_snn_set_current(self._p, g, pc))

    def poisson_input(self, group, n_sources, rate, weight, target="exc"):
        """Independent Poisson input to every neuron of a group, without synapses: n_sources
        sources of `rate` Hz, each spike a jump of `weight` on the target ("exc" or "inh")
        variable. Calling again for the same target replaces it; rate 0 removes it."""
        check(lib.soma_snn_poisson_input(self._p, self._group(group), _int(n_sources, "n_sources"),
                                         _num(rate, "rate"), _num(weight, "weight"),
                                         _choice(target, "target", _TARGETS)))

    def record_spikes(self, group):
        """Records every spike of a group; returns the monitor id (spikes(id) reads it)."""
        m = ffi.new("int *")
        check(lib.soma_snn_record_spikes(self._p, self._group(group), m))
        return self._added(m[0], "", None)

    def record_rate(self, group):
        """Records a group's population rate (Hz) at every step; returns the monitor id."""
        m = ffi.new("int *")
        check(lib.soma_snn_record_rate(self._p, self._group(group), m))
        return self._added(m[0], "", None)

    def record_state(self, group, var, neurons, every=1):
        """Records a state variable ("v", "ge", "gi", "w" for AdEx, "u" for Izhikevich) of the
        chosen neurons (in-group indices) every `every` steps; returns the monitor id."""
        g = self._group(group)
        ids, pids = as_array(neurons, np.int32, "neurons", ndim=1)
        size = lib.soma_snn_group_size(self._p, g)
        if ids.min() < 0 or ids.max() >= size:
            raise IndexError(f"neurons: indices must be in [0, {size})")
        m = ffi.new("int *")
        check(lib.soma_snn_record_state(self._p, g, cstr(var, "var"), pids, ids.shape[0], _int(every, "every", 1), m))
        return self._added(m[0], var, ids.copy())

    def _added(self, mon, var, neurons):
        while len(self.monitor_vars) <= mon:
            self.monitor_vars.append("")
            self.monitor_neurons.append(np.zeros(0, np.int32))
        self.monitor_vars[mon] = var
        if neurons is not None:
            self.monitor_neurons[mon] = neurons
        return mon

    def stats(self):
        """Counters of the runs so far: steps, spikes, syn_events, setup_seconds, sim_seconds,
        bytes (memory held by the network)."""
        s = ffi.new("soma_snn_stats *")
        lib.soma_snn_stats_get(self._p, s)
        return {k: getattr(s, k) for k in ("steps", "spikes", "syn_events", "setup_seconds", "sim_seconds", "bytes")}

    # --- running ------------------------------------------------------------------------------

    def run(self, duration=None):
        """Advances the network by duration ms (default: the description's duration). May be
        called again to go on. Ctrl-C stops it within 256 steps and
        raises KeyboardInterrupt (the network is then left part-way)."""
        d = self.duration if duration is None else duration
        if d is None:
            raise ValueError("duration: a network built call by call has no default; pass the ms to run")
        if isinstance(d, bool) or not isinstance(d, (int, float, np.integer, np.floating)) or not np.isfinite(d) or d < 0:
            raise ValueError(f"duration: want a finite number of ms >= 0, got {duration!r}")
        run_long(lib.soma_snn_run, self._p, float(d))

    @property
    def time(self):
        """Simulated time so far (ms)."""
        return lib.soma_snn_time(self._p)

    @property
    def dt(self):
        """The step (ms)."""
        return lib.soma_snn_dt(self._p)

    @property
    def n_synapses(self):
        """Synapses of every projection."""
        return lib.soma_snn_n_synapses(self._p)

    # --- groups -------------------------------------------------------------------------------

    @property
    def groups(self):
        """{name: size} of every group, in id order."""
        return {to_str(lib.soma_snn_group_name(self._p, g)): lib.soma_snn_group_size(self._p, g)
                for g in range(lib.soma_snn_n_groups(self._p))}

    def _group(self, group):
        names = list(self.groups)
        if isinstance(group, str):
            if group not in names:
                raise KeyError(f"no group {group!r}; the groups are {', '.join(names)}")
            return names.index(group)
        if isinstance(group, bool) or not isinstance(group, (int, np.integer)) or not 0 <= group < len(names):
            raise IndexError(f"group: want a name or an id in [0, {len(names)}), got {group!r}")
        return int(group)

    def get_state(self, group, var):
        """A state variable ("v", "ge", "gi", "w", "u") of every neuron of a group (float64 copy)."""
        g = self._group(group)
        out = np.empty(lib.soma_snn_group_size(self._p, g), dtype=np.float64)
        check(lib.soma_snn_get_state(self._p, g, cstr(var, "var"), ffi.cast("double *", ffi.from_buffer(out))))
        return out

    def set_state(self, group, var, values):
        """Overwrites a state variable of every neuron of a group (values [group size], finite)."""
        g = self._group(group)
        v, pv = as_array(values, np.float64, "values", shape=(lib.soma_snn_group_size(self._p, g),))
        check(lib.soma_snn_set_state(self._p, g, cstr(var, "var"), pv))

    def set_rate(self, group, rate):
        """A Poisson group's rate (Hz), from the next step."""
        check(lib.soma_snn_set_rate(self._p, self._group(group), float(rate)))

    # --- monitors -----------------------------------------------------------------------------

    def monitors(self):
        """[(id, kind, group name, var)] of every monitor; kind "spikes", "state" or "rate"."""
        out = []
        kind, grp = ffi.new("int *"), ffi.new("int *")
        for m in range(lib.soma_snn_n_monitors(self._p)):
            check(lib.soma_snn_monitor_info(self._p, m, kind, grp))
            var = self.monitor_vars[m] if m < len(self.monitor_vars) else ""
            out.append((m, _MON_KINDS[kind[0]], to_str(lib.soma_snn_group_name(self._p, grp[0])), var))
        return out

    def _monitor(self, which, kind):
        mons = [m for m in self.monitors() if m[1] == kind]
        if isinstance(which, str):
            hits = [m for m in mons if m[2] == which]
            if not hits:
                raise KeyError(f"no {kind} monitor on group {which!r}")
            return hits[0][0]
        if not any(m[0] == which for m in mons):
            raise KeyError(f"monitor {which!r} is not a {kind} monitor")
        return int(which)

    def spikes(self, which):
        """(times ms float64 [n], neuron ids int32 [n]) of a spike monitor, by id or group name
        (its first spike monitor). Copies."""
        s = lib.soma_snn_spikes(self._p, self._monitor(which, "spikes"))
        return copy_out(s.t, s.n, np.float64), copy_out(s.id, s.n, np.int32)

    def state(self, which):
        """(times ms float64 [samples], values float32 [samples, neurons]) of a state monitor."""
        m = self._monitor(which, "state")
        data, t = ffi.new("const float **"), ffi.new("const double **")
        ns, nn = ffi.new("long *"), ffi.new("int *")
        check(lib.soma_snn_state(self._p, m, data, t, ns, nn))
        return copy_out(t[0], ns[0], np.float64), copy_out(data[0], ns[0] * nn[0], np.float32).reshape(ns[0], nn[0])

    def rate(self, which):
        """Population rate (Hz) of a rate monitor at every step, float32 [steps]."""
        m = self._monitor(which, "rate")
        hz, n = ffi.new("const float **"), ffi.new("long *")
        check(lib.soma_snn_rate(self._p, m, hz, n))
        return copy_out(hz[0], n[0], np.float32)
