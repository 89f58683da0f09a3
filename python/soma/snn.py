"""Spiking networks (include/soma/snn.h): built from the JSON description `soma snn` reads
(docs/snn-json.md), simulated by the C engine, monitors returned as NumPy arrays."""

import json as _json

import numpy as np

from ._ffi import ffi, lib, check, cstr, to_str, copy_out, run_long, as_array

_MON_KINDS = ("spikes", "state", "rate")


class SNN:
    """A spiking network built from a JSON description (a str, a dict, or a path ending in
    .json), as `soma snn FILE.json` builds it:

        net = soma.SNN("examples/snn/cuba.json")
        net.run()                          # the description's duration (or net.run(ms))
        t, i = net.spikes("exc")           # spike times (ms, float64), neuron ids (int32)
        v = net.state(2)                   # a state monitor by id: (t, values [samples, neurons])

    seed overrides the description's seed (as --seed). The network lives in C memory."""

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

    # --- running ------------------------------------------------------------------------------

    def run(self, duration=None):
        """Advances the network by duration ms (default: the description's duration). May be
        called again to go on. Ctrl-C stops it within 256 steps and
        raises KeyboardInterrupt (the network is then left part-way)."""
        d = self.duration if duration is None else duration
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
        if not isinstance(group, (int, np.integer)) or not 0 <= group < len(names):
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
