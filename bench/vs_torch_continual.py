#!/usr/bin/python3
"""permuted-fmnist's penalty methods in PyTorch, beside soma: an accuracy peer, not a timer.

An independent PyTorch implementation of `soma run permuted-fmnist --validate` for fine-tuning,
EWC and online EWC, run seed by seed beside soma's own run of the same method and seed:

  - tasks: task 1 the plain images, every later one a fixed pixel permutation; each task trains
    on the training file's first N images (default 50000) and is evaluated on its last 10000;
  - net: pixels / 255 - 0.286, Linear 784-1000, ReLU, Linear 1000-1000, ReLU, Linear 1000-10
    (soma's `norm0.286,fc1000,relu,fc1000,relu` with fc10 appended), PyTorch's own init;
  - training: Adam lr 1e-3, batch 128, one epoch a task in a fresh random order, cross-entropy;
    Adam's state is kept across tasks (soma's `--reset-optim off`);
  - EWC (Kirkpatrick et al. 2017): the loss plus lambda/2 sum_k F_k (theta - theta*_k)^2 over
    every earlier task k, with F_k the empirical Fisher (mean over the task's first 2000 training
    images of each parameter's squared per-sample gradient of the cross-entropy) and theta*_k
    the parameters at the end of task k; online EWC: lambda/2 (sum_k F_k) (theta - theta*)^2
    anchored at the latest task's end.

The two sides draw different permutations, initial weights and batch orders from their seeds,
so a seed is not a paired comparison: compare the spread over seeds. Prints a table and, with
--json, one JSON object.

Run with Debian's /usr/bin/python3 (python3-torch):
  bench/vs_torch_continual.py --soma build/soma --methods ewc,online_ewc --seeds 1,2,3
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train import DEFAULT_DATA, read_idx  # noqa: E402

METHODS = ("finetune", "ewc", "online_ewc")


def torch_run(method, seed, X, Y, tasks, n_train, lam, fisher_samples, shift):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xtr, ytr = torch.from_numpy(X[:n_train]), torch.from_numpy(Y[:n_train])
    xva, yva = torch.from_numpy(X[-10000:]), torch.from_numpy(Y[-10000:])
    perms = [torch.arange(784)] + [torch.from_numpy(rng.permutation(784)) for _ in range(tasks - 1)]
    lin = [torch.nn.Linear(784, 1000), torch.nn.Linear(1000, 1000), torch.nn.Linear(1000, 10)]
    net = torch.nn.Sequential(lin[0], torch.nn.ReLU(), lin[1], torch.nn.ReLU(), lin[2])
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    stiff = [torch.zeros_like(p) for p in params]  # sum of the Fishers so far
    centre = [p.detach().clone() for p in params]  # where that quadratic has its minimum

    def fisher(x, y):
        """Mean squared per-sample gradient: for a dense layer, sum_n (dy_n^2)(x_n^2)^T / N."""
        ins, pre, h = [], [], x
        for i, layer in enumerate(lin):
            ins.append(h.detach())
            z = layer(h)
            z.retain_grad()
            pre.append(z)
            h = torch.relu(z) if i + 1 < len(lin) else z
        F.cross_entropy(h, y, reduction="sum").backward()
        out = []
        for xi, z in zip(ins, pre):
            d2 = z.grad * z.grad
            out += [d2.t() @ (xi * xi) / len(x), d2.sum(0) / len(x)]
        net.zero_grad()
        return out

    R = []
    for t in range(tasks):
        xt = xtr[:, perms[t]] - shift
        order = torch.from_numpy(rng.permutation(n_train))
        for s in range(0, n_train, 128):
            b = order[s:s + 128]
            loss = F.cross_entropy(net(xt[b]), ytr[b])
            if method != "finetune" and t > 0:
                loss = loss + lam / 2 * sum((a * (p - c) ** 2).sum() for a, p, c in zip(stiff, params, centre))
            opt.zero_grad()
            loss.backward()
            opt.step()
        if method != "finetune":
            Fk = fisher(xt[:fisher_samples], ytr[:fisher_samples])
            with torch.no_grad():
                for i, p in enumerate(params):
                    if method == "online_ewc":
                        stiff[i] += Fk[i]
                        centre[i] = p.detach().clone()
                    else:  # the sum of the per-task quadratics, merged into one (same gradient)
                        s_ = stiff[i] + Fk[i]
                        centre[i] = torch.where(s_ > 0, (stiff[i] * centre[i] + Fk[i] * p) / s_.clamp_min(1e-30),
                                                p.detach())
                        stiff[i] = s_
        with torch.no_grad():
            R.append([(net(xva[:, perms[j]] - shift).argmax(1) == yva).float().mean().item() for j in range(t + 1)])
    return R


def summary(R):
    T = len(R)
    last = R[-1]
    acc = sum(last) / T
    bwt = sum(last[j] - R[j][j] for j in range(T - 1)) / (T - 1) if T > 1 else 0.0
    return acc, bwt


def soma_run(soma, method, seed, tasks, n_train, lam, fisher_samples, data):
    with tempfile.TemporaryDirectory() as out:
        cmd = [soma, "run", "permuted-fmnist", "--validate", "--methods", method, "--seed", str(seed), "--threads",
               "1", "--quiet", "--out", out, "--ewc-lambda", str(lam), "--online-lambda", str(lam),
               "--fisher-samples", str(fisher_samples), "--fmnist-dir", data]
        if tasks != 10:
            cmd += ["--tasks", str(tasks)]
        if n_train != 50000:
            cmd += ["--n-train", str(n_train)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode not in (0, 1):  # 1: ran, but a landmark was missed
            sys.exit("soma failed (%d): %s" % (p.returncode, p.stderr.strip().splitlines()[-1:]))
        with open(os.path.join(out, "permuted-fmnist", "results.json")) as f:
            return json.load(f)["ours"][method]["R"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--soma", help="the soma binary (omit to run PyTorch alone)")
    ap.add_argument("--methods", default="ewc", help="comma-separated: " + ",".join(METHODS))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--n-train", type=int, default=50000)
    ap.add_argument("--lambda", dest="lam", type=float, default=300.0, help="EWC's and online EWC's lambda")
    ap.add_argument("--fisher-samples", type=int, default=2000)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    methods = a.methods.split(",")
    bad = [m for m in methods if m not in METHODS]
    if bad or not 2 <= a.tasks <= 100 or not 10 <= a.n_train <= 50000:
        sys.exit("vs_torch_continual: bad --methods, --tasks (2..100) or --n-train (10..50000)")
    seeds = [int(s) for s in a.seeds.split(",")]
    import torch
    torch.set_num_threads(1)
    X = read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"), 255.0).reshape(-1, 784)
    Y = read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    rows = []
    for m in methods:
        for s in seeds:
            t0 = time.time()
            rt = summary(torch_run(m, s, X, Y, a.tasks, a.n_train, a.lam, a.fisher_samples, 0.286))
            row = {"method": m, "seed": s, "torch_acc": rt[0], "torch_bwt": rt[1], "torch_seconds": time.time() - t0}
            if a.soma:
                t0 = time.time()
                rs = summary(soma_run(a.soma, m, s, a.tasks, a.n_train, a.lam, a.fisher_samples, a.data))
                row.update({"soma_acc": rs[0], "soma_bwt": rs[1], "soma_seconds": time.time() - t0})
            rows.append(row)
            print("%-10s seed %d  torch acc %.3f bwt %+.3f%s" % (m, s, rt[0], rt[1], "  soma acc %.3f bwt %+.3f" % (
                row["soma_acc"], row["soma_bwt"]) if a.soma else ""), file=sys.stderr, flush=True)
    print("| method | seeds | PyTorch acc (mean) | soma acc (mean) |")
    print("|---|---|---|---|")
    for m in methods:
        r = [x for x in rows if x["method"] == m]
        t = [x["torch_acc"] for x in r]
        so = [x["soma_acc"] for x in r] if a.soma else []
        print("| %s | %s | %s (%.3f) | %s |" % (m, a.seeds, " / ".join("%.3f" % v for v in t), np.mean(t),
              "%s (%.3f)" % (" / ".join("%.3f" % v for v in so), np.mean(so)) if so else "-"))
    if a.json:
        print(json.dumps({"lambda": a.lam, "tasks": a.tasks, "n_train": a.n_train, "rows": rows}))


if __name__ == "__main__":
    main()
