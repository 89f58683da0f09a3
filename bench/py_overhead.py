"""The cost of going through Python: (1) the overhead of a small call, soma.rdm on a 10 x 10
matrix, against the same C call timed in C (bench/py_rdm_timer.c, built here against the
library under test); (2) training throughput through soma.Net.train against `soma train` on
the same data (the first N Fashion-MNIST training images as float32 NPY), net, options and
threads.

(1): R rounds; each runs the C timer (a warm-up, then B batches of K calls; the median batch's
per-call time) and then the same loop in this process through soma.rdm, for the condensed form
(square=False: soma_rdm) and the default square form (soma_rdm + soma_rdm_to_square). Reported:
medians over rounds, and the median over rounds of the per-round difference Python - C (the
target: <= 5 us). (2): R interleaved runs (the order alternates), each side's samples per
second as its training loop measures it (soma_train's train_seconds: training steps only, the
same clock on both sides); reported: the medians and the median of the per-run ratios Python /
CLI (target >= 0.98). Python also gets the wall time of the whole train() call.

OpenBLAS reads OPENBLAS_CORETYPE only when it loads: the script re-executes itself with the
kernels the soma command runs (soma.blas_core_advice), as the CLI does.

Usage: SOMA_LIB=build/libsoma.so PYTHONPATH=python /usr/bin/python3 bench/py_overhead.py
       [--rounds R] [--threads T] [--n-train N] [--epochs E] [--out FILE.json]
Env:   BUILD (build), CC (cc).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))


def reexec_with_core():
    if os.environ.get("OPENBLAS_CORETYPE"):
        return
    env = dict(os.environ, SOMA_QUIET_BLAS_ADVICE="1")
    adv = subprocess.run([sys.executable, "-c", "import soma; print(soma.blas_core_advice() or '')"],
                         capture_output=True, text=True, env=env).stdout.strip()
    if adv:
        env["OPENBLAS_CORETYPE"] = adv
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])


def overhead(tmp, rounds, calls=20000, batches=9):
    import numpy as np
    import soma
    lib = os.path.realpath(soma.library_path)
    exe = os.path.join(tmp, "py_rdm_timer")
    subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-O2", "-I", os.path.join(ROOT, "include"),
                    os.path.join(ROOT, "bench", "py_rdm_timer.c"), "-o", exe, lib,
                    "-Wl,-rpath," + os.path.dirname(lib)], check=True)
    X = np.random.default_rng(0).normal(size=(10, 10))
    np.save(os.path.join(tmp, "x.npy"), X)
    soma.set_threads(1)

    def py_time(square):
        f = soma.rdm
        for _ in range(calls):
            f(X, square=square)
        per = []
        for _ in range(batches):
            t0 = time.perf_counter_ns()
            for _ in range(calls):
                f(X, square=square)
            per.append((time.perf_counter_ns() - t0) / calls)
        return median(per)

    res = {"c_rdm_ns": [], "c_square_ns": [], "py_rdm_ns": [], "py_square_ns": []}
    for r in range(rounds):
        out = subprocess.run([exe, os.path.join(tmp, "x.npy"), str(calls), str(batches)], check=True,
                             capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
        c = dict(line.split() for line in out.strip().split("\n"))
        res["c_rdm_ns"].append(float(c["rdm"]))
        res["c_square_ns"].append(float(c["square"]))
        res["py_rdm_ns"].append(py_time(False))
        res["py_square_ns"].append(py_time(True))
    summary = {k + "_median": median(v) for k, v in res.items()}
    summary["overhead_rdm_ns"] = median([p - c for p, c in zip(res["py_rdm_ns"], res["c_rdm_ns"])])
    summary["overhead_square_ns"] = median([p - c for p, c in zip(res["py_square_ns"], res["c_square_ns"])])
    return res, summary


def throughput(tmp, rounds, threads, n_train, epochs, spec="fc256,relu,fc10", batch=64):
    import numpy as np
    import soma
    x, y = soma.load_dataset("fmnist", train=True)
    x, y = np.ascontiguousarray(x[:n_train]), np.ascontiguousarray(y[:n_train])
    np.save(os.path.join(tmp, "fx.npy"), x)
    np.save(os.path.join(tmp, "fy.npy"), y)
    cli = os.path.join(BUILD, "soma")
    soma.set_threads(threads)

    def run_cli(i):
        out = os.path.join(tmp, f"cli{i}")
        subprocess.run([cli, "train", "--data", f"npy:{tmp}/fx.npy,{tmp}/fy.npy", "--net", spec,
                        "--epochs", str(epochs), "--batch", str(batch), "--lr", "0.001", "--seed", "1",
                        "--threads", str(threads), "--val-split", "0", "--quiet", "--out", out],
                       check=True, capture_output=True)
        with open(os.path.join(out, "results.json")) as f:
            r = json.load(f)
        return r["ours"]["samples_per_second"]

    def run_py():
        net = soma.Net(spec, (1, 28, 28), seed=1)
        t0 = time.perf_counter()
        log = net.train(x, y, epochs=epochs, batch=batch, lr=0.001)
        return log["samples_per_second"], n_train * epochs / (time.perf_counter() - t0)

    res = {"cli_sps": [], "py_sps": [], "py_wall_sps": []}
    for r in range(rounds):
        order = ("cli", "py") if r % 2 == 0 else ("py", "cli")
        for side in order:
            if side == "cli":
                res["cli_sps"].append(run_cli(r))
            else:
                s, w = run_py()
                res["py_sps"].append(s)
                res["py_wall_sps"].append(w)
    summary = {k + "_median": median(v) for k, v in res.items()}
    summary["ratio_py_over_cli_median"] = median([p / c for p, c in zip(res["py_sps"], res["cli_sps"])])
    summary.update({"net": spec, "n_train": n_train, "epochs": epochs, "batch": batch, "threads": threads})
    return res, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", choices=("overhead", "training"), default=None, help="run one of the two parts")
    a = ap.parse_args()
    reexec_with_core()
    import soma
    with tempfile.TemporaryDirectory() as tmp:
        t0 = os.times()
        res = {}
        if a.only in (None, "overhead"):
            o_raw, o_sum = overhead(tmp, a.rounds)
            print("rdm 10x10, per call (median over rounds):")
            print(f"  condensed: C {o_sum['c_rdm_ns_median'] / 1e3:.2f} us, Python {o_sum['py_rdm_ns_median'] / 1e3:.2f} us, "
                  f"overhead {o_sum['overhead_rdm_ns'] / 1e3:.2f} us")
            print(f"  square:    C {o_sum['c_square_ns_median'] / 1e3:.2f} us, Python {o_sum['py_square_ns_median'] / 1e3:.2f} us, "
                  f"overhead {o_sum['overhead_square_ns'] / 1e3:.2f} us")
            res["overhead"] = {"rounds": o_raw, **o_sum}
        if a.only in (None, "training"):
            t_raw, t_sum = throughput(tmp, a.rounds, a.threads, a.n_train, a.epochs)
            print(f"training {t_sum['net']} on {a.n_train} Fashion-MNIST images x {a.epochs} epochs, {a.threads} threads:")
            print(f"  CLI {t_sum['cli_sps_median']:.0f} samples/s, Python {t_sum['py_sps_median']:.0f} samples/s "
                  f"(whole train() call {t_sum['py_wall_sps_median']:.0f}); ratio Python/CLI "
                  f"{t_sum['ratio_py_over_cli_median']:.3f}")
            res["training"] = {"runs": t_raw, **t_sum}
        t1 = os.times()
    load = os.getloadavg()
    print(f"machine: {soma.machine()}; load {load[0]:.1f}; this script's CPU time "
          f"{t1.user - t0.user + t1.children_user - t0.children_user:.1f} s user")
    res.update({"machine": soma.machine(), "loadavg": load, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
