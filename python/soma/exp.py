"""The experiment registry (include/soma/exp.h): soma.experiments() and soma.run()."""

import json as _json

import numpy as np

from ._ffi import ffi, lib, cstr, to_str, run_long, ArgumentError, SOMA_ERR_ARG

_OPT_TYPES = ("str", "int", "float", "enum", "flag")


def _opts(table):
    out = []
    i = 0
    while table[i].key != ffi.NULL:
        o = table[i]
        dflt = getattr(o, "def")
        d = {"key": to_str(o.key), "type": _OPT_TYPES[o.type],
             "default": None if dflt == ffi.NULL else to_str(dflt), "help": to_str(o.help)}
        if o.type in (1, 2):
            d["range"] = (o.lo, o.hi)
        if o.type == 3:
            d["choices"] = to_str(o.choices).split("|")
        d["reduces"] = bool(o.reduces)
        out.append(d)
        i += 1
    return out


def experiments(details=False):
    """The registered experiments, as `soma list`: {name: summary}; with details=True
    {name: {"summary": ..., "options": [{key, type, default, help, range|choices, reduces}]}}
    (the options each takes besides the global seed, threads, out, quiet, reduced)."""
    out = {}
    for i in range(lib.soma_exp_count()):
        e = lib.soma_exp_get(i)
        name = to_str(e.name)
        if details:
            out[name] = {"summary": to_str(e.summary), "options": _opts(e.opts)}
        else:
            out[name] = to_str(e.summary)
    return out


def global_options():
    """The options every experiment takes (seed, threads, out, quiet, reduced)."""
    return _opts(lib.soma_exp_global_opts())


def _argv(options):
    args = []
    for k, v in options.items():
        key = "--" + k.replace("_", "-")
        if v is None or v is False:
            continue
        if v is True:
            args.append(key)
            continue
        if isinstance(v, (list, tuple)):
            v = ",".join(str(x) for x in v)
        elif isinstance(v, (float, np.floating)):
            v = repr(float(v))
        elif not isinstance(v, (str, int, np.integer)):
            raise TypeError(f"{k}: want a str, number, bool or list, got {type(v).__name__}")
        args += [key, str(v)]
    return args


def run(name, **options):
    """Runs a registered experiment as `soma run NAME --key value ...` and returns its
    results.json as a dict (also written to OUT/NAME/results.json, OUT = out or "out").

    Options are keyword arguments with dashes written as underscores (n_train=1000 is
    --n-train 1000); True passes a flag (reduced=True, quiet=True), False or None leaves it
    out, lists are joined with commas. Unknown options and bad values raise soma.ArgumentError
    with the C parser's message before anything is written. Ctrl-C
    stops training loops and simulations inside it and raises KeyboardInterrupt."""
    e = lib.soma_exp_find(cstr(name, "name"))
    if e == ffi.NULL:
        raise ArgumentError(SOMA_ERR_ARG, f"unknown experiment '{name}' (soma.experiments() lists them)")
    args = _argv(options)
    keep = [ffi.new("char[]", cstr(a, "option")) for a in args]
    argv = ffi.new("const char *[]", keep + [ffi.NULL])
    res = ffi.new("cJSON **")
    run_long(lib.soma_exp_run, e, len(args), argv, ffi.NULL, res)
    try:
        txt = lib.cJSON_PrintUnformatted(res[0])
        if txt == ffi.NULL:
            raise MemoryError("soma.run: out of memory printing the results")
        try:
            return _json.loads(ffi.string(txt).decode("utf-8"))
        finally:
            lib.cJSON_free(txt)
    finally:
        lib.cJSON_Delete(res[0])
