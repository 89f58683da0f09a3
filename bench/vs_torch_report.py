#!/usr/bin/python3
"""Reads the raw runs of bench/vs_torch.sh; prints one run's line or the whole table + JSON.

    vs_torch_report.py one  RAW/NNN-side-net-tT-rR     one line for the progress log
    vs_torch_report.py report RAW OUT.json             table on stdout, summary JSON to OUT.json

Each run left BASE.cmd, .out (stdout: ends with one JSON object), .err, .rss (peak RSS
in KiB from /usr/bin/time -f %M, then "cpu USER SYS"), .rc and .meta (side, net, threads, rep,
order, base). A base run (one batch, after the timed run of the same side) gives the CPU
time of everything but the training loop: the timed run's loop CPU time per sample is
(CPU - CPU of its base run) / (samples - samples of the base run).
"""
import datetime
import glob
import json
import os
import platform
import re
import statistics
import sys

# Targets the project is judged on (soma / torch).
TARGET_SPEED = {"mlp": 1.5, "lenet": 2.0, "vit": 1.5}
TARGET_RSS = 0.25
TARGET_RSS_NET = {"vit": 0.5}  # issue 11's bar for the ViT; the others TARGET_RSS


def rss_target(net):
    return TARGET_RSS_NET.get(net, TARGET_RSS)
NETS = ("mlp", "lenet", "vit")


def last_json_object(text):
    """The last JSON object in text, one line or pretty-printed over several; None if none."""
    lines = text.rstrip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].lstrip().startswith("{"):
            continue
        try:
            obj = json.loads("\n".join(lines[i:]))
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def read_text(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def load_run(base):
    meta = json.loads(read_text(base + ".meta", "{}") or "{}")
    run = dict(meta)
    run["cmd"] = read_text(base + ".cmd").strip()
    rc_text = read_text(base + ".rc").strip()
    run["rc"] = int(rc_text) if rc_text.lstrip("-").isdigit() else None
    rss_text = read_text(base + ".rss")
    rss_lines = [ln for ln in rss_text.split() if ln.isdigit()]
    run["peak_rss_kib"] = int(rss_lines[-1]) if rss_lines else None
    cpu = re.search(r"^cpu ([0-9.]+) ([0-9.]+)", rss_text, re.M)
    run["cpu_seconds"] = float(cpu.group(1)) + float(cpu.group(2)) if cpu else None
    result = last_json_object(read_text(base + ".out"))
    run["samples_per_second"] = None
    run["train_seconds"] = None
    run["test_accuracy"] = None
    problem = None
    if run["rc"] != 0:
        problem = f"exit status {run['rc']}" + (" (timeout)" if run["rc"] == 124 else "")
    elif result is None:
        problem = "no JSON object on stdout"
    else:
        sps = result.get("samples_per_second")
        if not isinstance(sps, (int, float)) or sps <= 0:
            problem = f"bad samples_per_second {sps!r}"
        else:
            run["samples_per_second"] = float(sps)
        run["train_seconds"] = result.get("train_seconds")
        n = result.get("samples", result.get("n_train"))  # torch_train.py / soma train
        run["samples"] = n if isinstance(n, int) and n > 0 else None
        run["test_accuracy"] = result.get("test_accuracy")
        if "blas" in result:
            run["blas"] = result["blas"]
        if result.get("blas_core"):
            run["blas_core"] = result["blas_core"]
    run["ok"] = problem is None
    run["problem"] = problem
    run["result"] = result
    run["raw"] = base
    if not run["ok"]:
        err = read_text(base + ".err").strip().splitlines()
        run["stderr_tail"] = err[-5:]
    return run


def fmt_run(run):
    tag = f"{run.get('side', '?'):5} {run.get('net', '?'):5} T={run.get('threads')} rep {run.get('rep')}"
    if run.get("base"):
        tag += " base"
    if not run["ok"]:
        tail = " | ".join(run.get("stderr_tail", []))[-300:]
        return f"{tag}: FAILED: {run['problem']}: {tail}"
    rss = run["peak_rss_kib"]
    rss_txt = f"{rss / 1024:.1f} MiB" if rss else "? MiB"
    cpu = run.get("cpu_seconds")
    cpu_txt = f"  CPU {cpu:.2f} s" if cpu is not None else ""
    return (f"{tag}: {run['samples_per_second']:9.0f} samples/s  "
            f"{run['train_seconds']:.2f} s  peak RSS {rss_txt}{cpu_txt}")


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def verdict(value, target, higher_is_better=True):
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "FAIL"


def attach_cpu(runs):
    """cpu_ms_per_sample of each timed run from its base run (same side, net, threads, rep)."""
    bases = {(r["side"], r["net"], r["threads"], r["rep"]): r for r in runs if r.get("base") and r["ok"]}
    for r in runs:
        r["cpu_ms_per_sample"] = None
        b = bases.get((r.get("side"), r.get("net"), r.get("threads"), r.get("rep")))
        if r.get("base") or not r["ok"] or b is None:
            continue
        if None in (r.get("cpu_seconds"), b.get("cpu_seconds"), r.get("samples"), b.get("samples")):
            continue
        if r["samples"] > b["samples"] and r["cpu_seconds"] > b["cpu_seconds"]:
            r["cpu_ms_per_sample"] = 1e3 * (r["cpu_seconds"] - b["cpu_seconds"]) / (r["samples"] - b["samples"])


def summarize(runs):
    attach_cpu(runs)
    runs = [r for r in runs if not r.get("base")]
    threads = sorted({r["threads"] for r in runs})
    nets = [n for n in NETS if any(r["net"] == n for r in runs)]  # the nets this run measured
    cells = []
    for net in nets:
        for t in threads:
            sel = [r for r in runs if r["net"] == net and r["threads"] == t]
            soma = [r for r in sel if r["side"] == "soma" and r["ok"]]
            torch = [r for r in sel if r["side"] == "torch" and r["ok"]]
            by_rep = {}
            for r in soma + torch:
                by_rep.setdefault(r["rep"], {})[r["side"]] = r["samples_per_second"]
            pair_ratios = [v["soma"] / v["torch"] for v in by_rep.values()
                           if "soma" in v and "torch" in v]
            cpu_by_rep = {}
            for r in soma + torch:
                if r.get("cpu_ms_per_sample"):
                    cpu_by_rep.setdefault(r["rep"], {})[r["side"]] = r["cpu_ms_per_sample"]
            cpu_ratios = [v["torch"] / v["soma"] for v in cpu_by_rep.values() if "soma" in v and "torch" in v]
            soma_rss = max((r["peak_rss_kib"] for r in soma if r["peak_rss_kib"]), default=None)
            torch_rss = max((r["peak_rss_kib"] for r in torch if r["peak_rss_kib"]), default=None)
            cells.append({
                "net": net, "threads": t,
                "soma_runs": len(soma), "torch_runs": len(torch),
                "soma_sps_median": median([r["samples_per_second"] for r in soma]),
                "torch_sps_median": median([r["samples_per_second"] for r in torch]),
                "soma_sps_all": [round(r["samples_per_second"], 1) for r in soma],
                "torch_sps_all": [round(r["samples_per_second"], 1) for r in torch],
                "ratio_median_of_pairs": median(pair_ratios),
                "soma_cpu_ms_per_sample_median": median([r.get("cpu_ms_per_sample") for r in soma]),
                "torch_cpu_ms_per_sample_median": median([r.get("cpu_ms_per_sample") for r in torch]),
                "cpu_ratio_median_of_pairs": median(cpu_ratios),
                "soma_peak_rss_kib": soma_rss,
                "torch_peak_rss_kib": torch_rss,
                "rss_ratio": ratio(soma_rss, torch_rss),
            })
    best = []
    for net in nets:
        cs = [c for c in cells if c["net"] == net]
        sb = max((c for c in cs if c["soma_sps_median"]), key=lambda c: c["soma_sps_median"],
                 default=None)
        tb = max((c for c in cs if c["torch_sps_median"]), key=lambda c: c["torch_sps_median"],
                 default=None)
        soma_rss = max((c["soma_peak_rss_kib"] for c in cs if c["soma_peak_rss_kib"]), default=None)
        torch_rss = max((c["torch_peak_rss_kib"] for c in cs if c["torch_peak_rss_kib"]),
                        default=None)
        speed = ratio(sb and sb["soma_sps_median"], tb and tb["torch_sps_median"])
        rss = ratio(soma_rss, torch_rss)
        best.append({
            "net": net,
            "soma_best_sps": sb and sb["soma_sps_median"], "soma_best_threads": sb and sb["threads"],
            "torch_best_sps": tb and tb["torch_sps_median"],
            "torch_best_threads": tb and tb["threads"],
            "ratio": speed,
            "speed_target": TARGET_SPEED[net], "speed_verdict": verdict(speed, TARGET_SPEED[net]),
            "soma_peak_rss_kib": soma_rss, "torch_peak_rss_kib": torch_rss, "rss_ratio": rss,
            "rss_target": rss_target(net), "rss_verdict": verdict(rss, rss_target(net), False),
        })
    return cells, best


def n0(x):
    return "-" if x is None else f"{x:,.0f}"


def r2(x):
    return "-" if x is None else f"{x:.2f}x"


def f3(x):
    return "-" if x is None else f"{x:.3f}"


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.0f}"


def blas_core_of(machine_line):
    """The core named in soma's machine line ("... BLAS openblas-openmp core Zen (...)")."""
    m = re.search(r" core (\w+)", machine_line)
    return m.group(1) if m else None


def print_table(cells, best, meta):
    print()
    print(f"soma vs PyTorch {meta['torch_version']} -- Fashion-MNIST, batch 64 (vit 128), Adam 1e-3, "
          f"1 epoch; medians of {meta['reps']} interleaved reps")
    print(f"machine: {meta['machine']}")
    print(f"CPU: {meta['cpu_model']} [{' '.join(meta['cpu_flags'])}]")
    print(f"BLAS: soma {meta['soma_blas']} core {meta['soma_blas_core']}; "
          f"torch {meta['torch_blas']} core {meta['torch_blas_core']}")
    print(f"load average before {meta['load_before']}, after {meta['load_after']} "
          f"({meta['cores']} cores)")
    print()
    hdr = (f"{'net':6} {'T':>2} | {'soma samp/s':>11} {'torch samp/s':>12} {'soma/torch':>10} "
           f"{'target':>11} | {'soma MiB':>8} {'torch MiB':>9} {'ratio':>6} {'target':>12} | "
           f"{'CPU ms/sample soma':>18} {'torch':>6} {'torch/soma':>10}")
    print(hdr)
    print("-" * len(hdr))
    for c in cells:
        tgt = TARGET_SPEED[c["net"]]
        v = verdict(c["ratio_median_of_pairs"], tgt)
        rv = verdict(c["rss_ratio"], rss_target(c["net"]), False)
        print(f"{c['net']:6} {c['threads']:>2} | {n0(c['soma_sps_median']):>11} "
              f"{n0(c['torch_sps_median']):>12} {r2(c['ratio_median_of_pairs']):>10} "
              f"{'>=' + format(tgt, '.1f') + 'x ' + v:>11} | {mib(c['soma_peak_rss_kib']):>8} "
              f"{mib(c['torch_peak_rss_kib']):>9} {r2(c['rss_ratio']):>6} "
              f"{'<=' + format(rss_target(c['net']), '.2f') + 'x ' + rv:>12} | "
              f"{f3(c['soma_cpu_ms_per_sample_median']):>18} {f3(c['torch_cpu_ms_per_sample_median']):>6} "
              f"{r2(c['cpu_ratio_median_of_pairs']):>10}")
    print()
    print("each side at its best thread count (the headline):")
    for b in best:
        st = "" if b["soma_best_threads"] is None else f" (T={b['soma_best_threads']})"
        tt = "" if b["torch_best_threads"] is None else f" (T={b['torch_best_threads']})"
        print(f"  {b['net']:6} soma {n0(b['soma_best_sps'])}{st} vs torch {n0(b['torch_best_sps'])}{tt}"
              f" = {r2(b['ratio'])}  target >= {b['speed_target']:.1f}x  {b['speed_verdict']}")
        print(f"  {'':6} peak RSS soma {mib(b['soma_peak_rss_kib'])} MiB vs torch "
              f"{mib(b['torch_peak_rss_kib'])} MiB = {r2(b['rss_ratio'])}  "
              f"target <= {rss_target(b['net']):.2f}x  {b['rss_verdict']}")
    loads = [r.get("load1_before") for r in meta["_runs"] if r.get("load1_before") is not None]
    if loads and max(loads) > meta["cores"] * 0.75:
        print()
        print(f"WARNING: the 1-minute load average reached {max(loads):.2f} before some runs on "
              f"{meta['cores']} cores: other work shared the CPUs, multi-thread figures above all "
              f"may be far off; rerun on a quieter machine or with more REPS.")
    print()
    print("samples/s: training loop only (data loading and evaluation excluded), median over reps;")
    print("soma/torch: median of the per-rep ratios of the interleaved pair; peak RSS: max over reps.")
    print("CPU ms/sample: the training loop's user+sys CPU time per sample, (CPU - CPU of a one-batch")
    print("run) / (samples - one batch), median over reps; torch/soma: median of the per-rep ratios.")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "one":
        print(fmt_run(load_run(sys.argv[2])))
        return 0
    if len(sys.argv) != 4 or sys.argv[1] != "report":
        print(__doc__, file=sys.stderr)
        return 2
    raw, out = sys.argv[2], sys.argv[3]
    bases = sorted(p[:-len(".meta")] for p in glob.glob(os.path.join(raw, "*.meta")))
    runs = [load_run(b) for b in bases]
    if not runs:
        print(f"vs_torch_report: no runs in {raw}", file=sys.stderr)
        return 1
    torch_blas = json.loads(read_text(os.path.join(raw, "torch-blas.json"), "{}") or "{}")
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cores": os.cpu_count(),
        "reps": max(r.get("rep", 0) for r in runs),
        "threads": sorted({r["threads"] for r in runs}),
        "load_before": read_text(os.path.join(raw, "load-before.txt")).strip(),
        "load_after": read_text(os.path.join(raw, "load-after.txt")).strip(),
        "torch_version": torch_blas.get("torch_version", "?"),
        "torch_blas": torch_blas.get("blas", "?"),
        "torch_blas_paths": torch_blas.get("blas_paths", []),
        "torch_mkldnn": torch_blas.get("mkldnn"),
        "soma_blas": read_text(os.path.join(raw, "soma-blas.txt")).strip() or "?",
        "machine": read_text(os.path.join(raw, "machine.txt")).strip() or "?",
        "cpu_model": (read_text(os.path.join(raw, "cpu.txt")).splitlines() or ["?"])[0],
        "cpu_flags": " ".join(read_text(os.path.join(raw, "cpu.txt")).splitlines()[1:]).split(),
        "soma_blas_core": blas_core_of(read_text(os.path.join(raw, "machine.txt"))),
        "torch_blas_core": torch_blas.get("blas_core"),
        "soma_cmd_example": next((r["cmd"] for r in runs if r.get("side") == "soma"), None),
        "torch_cmd_example": next((r["cmd"] for r in runs if r.get("side") == "torch"), None),
        "env": {k: v for k, v in os.environ.items()
                if k.startswith(("OPENBLAS_", "OMP_", "GOMP_", "KMP_", "MKL_"))},
        "targets": {"speed": TARGET_SPEED, "rss": TARGET_RSS, "rss_per_net": TARGET_RSS_NET},
        "raw_dir": os.path.abspath(raw),
    }
    cells, best = summarize(runs)
    print_table(cells, best, dict(meta, _runs=runs))
    failed = [r for r in runs if not r["ok"]]
    for r in failed:
        print("FAILED: " + fmt_run(r))
    for r in runs:
        r.pop("result", None)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"meta": meta, "per_threads": cells, "best": best, "runs": runs,
                   "failed_runs": len(failed)}, f, indent=2)
        f.write("\n")
    os.replace(tmp, out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
