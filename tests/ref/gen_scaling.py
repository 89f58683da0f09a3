#!/usr/bin/python3
"""Reference fits for the scaling-law tests (tests/test_scaling.c, tests/test_scaling_cli.sh).

Three fixed synthetic data sets drawn from known laws with multiplicative log-normal noise,
written as JSON lines (tests/fixtures/scaling_{n,d,nd}.jsonl, the format `soma sweep` writes),
and their fits (tests/fixtures/scaling_ref.json) by Hoffmann et al. 2022's approach 3, computed
here with scipy alone: minimise

    sum_i huber_delta(logsumexp(e, a - alpha log N_i, b - beta log D_i) - log L_i)

over (e, a, alpha[, b, beta]) with scipy.optimize.minimize(method="L-BFGS-B") from every point
of the grid e in linspace(-1, 1, 5), a and b in linspace(0, 25, 6), alpha and beta in
linspace(0, 2, 5) (itertools.product order; the lowest objective wins, ties to the earlier
start), to tight tolerances. E = exp(e), A = exp(a), B = exp(b).

Run with Debian's interpreter:  /usr/bin/python3 tests/ref/gen_scaling.py  (about a minute)
"""
import itertools
import json
import os

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber, logsumexp

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
DELTA = 1e-3
GRID_E = np.linspace(-1, 1, 5)
GRID_A = np.linspace(0, 25, 6)
GRID_ALPHA = np.linspace(0, 2, 5)


def make_data():
    rng = np.random.default_rng(20221)
    sets = {}
    # law n: E 1.7, A 400, alpha 0.34; 12 sizes from 1e3 to 1e7, noise 1% in log loss
    N = np.logspace(3, 7, 12)
    L = (1.7 + 400 * N ** -0.34) * np.exp(0.01 * rng.standard_normal(N.size))
    sets["n"] = dict(true=dict(E=1.7, A=400.0, alpha=0.34), rows=[dict(n_params=n, loss=l) for n, l in zip(N, L)])
    # law d: E 1.5, B 600, beta 0.3; 10 sizes from 1e3 to 1e6, noise 1%
    D = np.logspace(3, 6, 10)
    L = (1.5 + 600 * D ** -0.3) * np.exp(0.01 * rng.standard_normal(D.size))
    sets["d"] = dict(true=dict(E=1.5, B=600.0, beta=0.3), rows=[dict(n_data=d, loss=l) for d, l in zip(D, L)])
    # law nd: Chinchilla's fit (E 1.69, A 406.4, alpha 0.34, B 410.7, beta 0.28) on a 6 x 6 grid
    N, D = np.meshgrid(np.logspace(6, 9, 6), np.logspace(8, 11, 6), indexing="ij")
    N, D = N.ravel(), D.ravel()
    L = (1.69 + 406.4 * N ** -0.34 + 410.7 * D ** -0.28) * np.exp(0.01 * rng.standard_normal(N.size))
    sets["nd"] = dict(true=dict(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28),
                      rows=[dict(n_params=n, n_data=d, loss=l, seed=0) for n, d, l in zip(N, D, L)])
    return sets


def objective(x, law, lnN, lnD, lnL):
    """Huber sum and its gradient; x as described above (law d: (e, b, beta) over lnD)."""
    if law == "nd":
        e, a, al, b, be = x
        T = np.stack([np.full_like(lnL, e), a - al * lnN, b - be * lnD])
    else:
        u = lnN if law == "n" else lnD
        e, a, al = x
        T = np.stack([np.full_like(lnL, e), a - al * u])
    lse = logsumexp(T, axis=0)
    r = lse - lnL
    f = huber(DELTA, r).sum()
    h = np.clip(r, -DELTA, DELTA)  # d huber / d r
    W = np.exp(T - lse)            # softmax weights
    if law == "nd":
        g = np.array([(h * W[0]).sum(), (h * W[1]).sum(), -(h * W[1] * lnN).sum(),
                      (h * W[2]).sum(), -(h * W[2] * lnD).sum()])
    else:
        g = np.array([(h * W[0]).sum(), (h * W[1]).sum(), -(h * W[1] * u).sum()])
    return f, g


def fit(law, rows):
    lnL = np.log([r["loss"] for r in rows])
    lnN = np.log([r["n_params"] for r in rows]) if law != "d" else None
    lnD = np.log([r["n_data"] for r in rows]) if law != "n" else None
    axes = [GRID_E, GRID_A, GRID_ALPHA] + ([GRID_A, GRID_ALPHA] if law == "nd" else [])
    best = None
    for x0 in itertools.product(*axes):
        res = minimize(objective, np.array(x0, dtype=float), args=(law, lnN, lnD, lnL), jac=True,
                       method="L-BFGS-B",
                       options=dict(maxiter=20000, maxfun=100000, ftol=1e-15, gtol=1e-12, maxcor=10))
        if not np.isfinite(res.fun):
            continue
        if best is None or res.fun < best.fun:
            best = res
    x = best.x
    out = dict(objective=float(best.fun), E=float(np.exp(x[0])))
    if law == "d":
        out.update(B=float(np.exp(x[1])), beta=float(x[2]))
    else:
        out.update(A=float(np.exp(x[1])), alpha=float(x[2]))
    if law == "nd":
        out.update(B=float(np.exp(x[3])), beta=float(x[4]))
        al, be = x[2], x[4]
        out.update(opt_a=float(be / (al + be)), opt_b=float(al / (al + be)),
                   opt_G=float((al * np.exp(x[1]) / (be * np.exp(x[3]))) ** (1 / (al + be))))
    out["gradient_max"] = float(np.abs(objective(x, law, lnN, lnD, lnL)[1]).max())
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    ref = dict(huber_delta=DELTA, grid=dict(e=[-1, 1, 5], a=[0, 25, 6], alpha=[0, 2, 5]))
    for law, s in make_data().items():
        path = os.path.join(OUT, f"scaling_{law}.jsonl")
        with open(path, "w") as f:
            for i, r in enumerate(s["rows"]):
                f.write(json.dumps({k: float(v) if k != "seed" else int(v) for k, v in r.items()}) + "\n")
                if law == "nd" and i == 17:
                    f.write("\n")  # a blank line, as a user's file may have
        ref[law] = dict(true=s["true"], fit=fit(law, s["rows"]), n_points=len(s["rows"]))
        print(law, ref[law]["fit"])
    with open(os.path.join(OUT, "scaling_ref.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
