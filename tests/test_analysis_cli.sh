#!/usr/bin/env bash
# soma rdm | rsa | cka | encode | geometry on small NPY/CSV inputs made here with NumPy: every
# value equals NumPy/SciPy computed here (pdist, spearmanr, the O(m^2) Kendall tau-a, the
# linear/RBF/unbiased CKA formulas, Procrustes by SVD, eigenvalues of np.cov, split-half
# reliability) to 1e-6 relative; the RDM files' shapes and symmetry; the figures written and
# well-formed SVG (the model comparison's with its noise-ceiling band); each class of bad input
# (missing file, NaN row, wrong shape, mismatched sizes, too few conditions, constant RDM,
# unknown option) exits 2 with one "soma: ..." line and writes nothing.
# A missing NumPy/SciPy is a failure, not a skip (the suite installs them).
set -u
SOMA=${1:?usage: test_analysis_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
if ! "$PY" -c 'import numpy, scipy' 2>/dev/null; then
    echo "FAIL: $PY lacks NumPy or SciPy (python3-numpy, python3-scipy; scripts/deps.sh --test installs them)"
    exit 1
fi

# --- inputs -------------------------------------------------------------------------------
"$PY" - "$T" <<'EOF' || { echo "FAIL: could not write the inputs"; exit 1; }
import sys, numpy as np
from scipy.spatial.distance import pdist, squareform
d = sys.argv[1]
rng = np.random.default_rng(7)
n, p = 12, 30
X = rng.standard_normal((n, p))
np.save(f"{d}/X.npy", X)
np.save(f"{d}/X_f32.npy", X.astype(np.float32))
np.savetxt(f"{d}/X.csv", X, delimiter=",", header=",".join(f"f{j}" for j in range(p)), comments="")
np.save(f"{d}/X2.npy", X + 0.3 * rng.standard_normal((n, p)))
np.save(f"{d}/X3.npy", rng.standard_normal((n, p, 3)))  # conditions x features x repetitions
np.save(f"{d}/Xi.npy", rng.integers(0, 50, (n, p)).astype(np.int16))  # an integer dtype
Xn = X.copy(); Xn[3, 5] = np.nan; np.save(f"{d}/Xnan.npy", Xn)
np.savetxt(f"{d}/Xnan.csv", Xn, delimiter=",")
Xc = X.copy(); Xc[4] = 2.0; np.save(f"{d}/Xconst.npy", Xc)  # a constant pattern
Xz = X.copy(); Xz[6] = 0.0; np.save(f"{d}/Xzero.npy", Xz)   # a zero pattern
np.save(f"{d}/one.npy", X[:1])
np.save(f"{d}/X11.npy", X[:11])
np.save(f"{d}/vec.npy", X[0])
# RDMs: square and condensed, a related pair, a constant one, a non-symmetric one
A = pdist(X, "correlation"); B = A + 0.2 * rng.standard_normal(A.size)
np.save(f"{d}/A.npy", squareform(A)); np.save(f"{d}/A_cond.npy", A); np.save(f"{d}/S1.npy", A[None]); np.save(f"{d}/B.npy", squareform(B))
np.save(f"{d}/const.npy", np.ones_like(A)); np.save(f"{d}/bad34.npy", np.zeros((3, 4)))
Asym = squareform(A); Asym[0, 1] += 1; np.save(f"{d}/asym.npy", Asym)
np.save(f"{d}/tri7.npy", np.arange(7.0))
# ties-heavy RDMs for Kendall's tau-a
np.save(f"{d}/TA.npy", rng.integers(0, 4, A.size).astype(float)); np.save(f"{d}/TB.npy", rng.integers(0, 3, A.size).astype(float))
# subjects: model 1 plus noise; model 2 unrelated
M1 = pdist(rng.standard_normal((n, 8))); M2 = pdist(rng.standard_normal((n, 8)))
S = np.stack([squareform(M1 + 0.5 * rng.standard_normal(M1.size)) for _ in range(6)])
np.save(f"{d}/M1.npy", squareform(M1)); np.save(f"{d}/M2.npy", M2); np.save(f"{d}/S.npy", S)
np.save(f"{d}/Scond.npy", np.stack([squareform(s) for s in S]))
np.save(f"{d}/M1_n11.npy", squareform(M1)[:11, :11])
# CKA: two views of the same stimuli
Y = X[:, :20] @ rng.standard_normal((20, 20)) + 0.5 * rng.standard_normal((n, 20))
np.save(f"{d}/Y.npy", Y)
np.save(f"{d}/act4.npy", Y.reshape(12, 2, 2, 5).astype(np.float32))  # conv activations [N, C, H, W]
# encoding: features -> responses with repetitions
F = rng.standard_normal((80, 10)); W = rng.standard_normal((10, 6))
R = (F @ W)[:, :, None] + 0.7 * rng.standard_normal((80, 6, 4))
np.save(f"{d}/F.npy", F); np.save(f"{d}/R.npy", R); np.save(f"{d}/R2d.npy", R.mean(axis=2))
# geometry: an exact power-law spectrum (variance of rank r proportional to r^-1.5)
ng, pg, k = 60, 40, 30
U = np.linalg.qr(rng.standard_normal((ng, k)) - 0)[0]
U -= U.mean(axis=0); U = np.linalg.qr(U)[0]           # centred orthonormal columns
V = np.linalg.qr(rng.standard_normal((pg, k)))[0]
s = np.arange(1, k + 1) ** -0.75
G = U @ np.diag(s) @ V.T + 3.0
np.save(f"{d}/G.npy", G)
np.save(f"{d}/Gnoise.npy", rng.standard_normal((ng, pg)))
np.save(f"{d}/Gb.npy", rng.standard_normal((ng, pg)))
EOF

# --- help and bad input ---------------------------------------------------------------------
for c in rdm rsa cka encode geometry; do
    expect 0 "$c --help" "" -- "$SOMA" "$c" --help
    grep -q "^usage: soma $c" "$T/out" && ok || bad "$c --help: $(head -c 200 "$T/out")"
done
"$SOMA" help | grep -q "^  rsa " && ok || bad "soma help does not list rsa"
expect 2 "rdm: missing file" "$T/none.npy" -- "$SOMA" rdm "$T/none.npy" -o "$T/o.npy"
expect 2 "rdm: NaN row" "Xnan.npy|row 3|NaN" -- "$SOMA" rdm "$T/Xnan.npy" -o "$T/o.npy"
expect 2 "rdm: NaN in a CSV" "Xnan.csv|row 3" -- "$SOMA" rdm "$T/Xnan.csv" -o "$T/o.npy"
expect 2 "rdm: constant pattern" "Xconst.npy|4" -- "$SOMA" rdm "$T/Xconst.npy" --metric correlation -o "$T/o.npy"
expect 2 "rdm: zero pattern" "Xzero.npy|6" -- "$SOMA" rdm "$T/Xzero.npy" --metric cosine -o "$T/o.npy"
expect 2 "rdm: one condition" "one.npy|1 condition" -- "$SOMA" rdm "$T/one.npy" -o "$T/o.npy"
expect 2 "rdm: 1-D data" "vec.npy|1-D" -- "$SOMA" rdm "$T/vec.npy" -o "$T/o.npy"
expect 2 "rdm: unknown option" "--bogus" -- "$SOMA" rdm "$T/X.npy" --bogus 1 -o "$T/o.npy"
expect 2 "rdm: unknown metric" "--metric" -- "$SOMA" rdm "$T/X.npy" --metric manhattan -o "$T/o.npy"
expect 2 "rdm: no file" "want 1 to" -- "$SOMA" rdm -o "$T/o.npy"
expect 2 "rdm: subjects differ" "X11.npy|11 conditions" -- "$SOMA" rdm "$T/X.npy" "$T/X11.npy" -o "$T/o.npy"
expect 2 "rdm: stack as CSV" "o.csv|.npy" -- "$SOMA" rdm "$T/X.npy" "$T/X2.npy" -o "$T/o.csv"
expect 2 "rdm: crossnobis without repetitions" "crossnobis" -- "$SOMA" rdm "$T/X.npy" --metric crossnobis -o "$T/o.npy"
expect 2 "rsa: one file" "two RDM files" -- "$SOMA" rsa "$T/A.npy"
expect 2 "rsa: three files" "at most 2" -- "$SOMA" rsa "$T/A.npy" "$T/B.npy" "$T/A.npy"
expect 2 "rsa: wrong shape" "bad34.npy|[3, 4]" -- "$SOMA" rsa "$T/bad34.npy" "$T/B.npy"
expect 2 "rsa: not triangular" "tri7.npy|n(n-1)/2" -- "$SOMA" rsa "$T/tri7.npy" "$T/B.npy"
expect 2 "rsa: not symmetric" "asym.npy" -- "$SOMA" rsa "$T/asym.npy" "$T/B.npy"
expect 2 "rsa: sizes differ" "M1_n11.npy|11 conditions" -- "$SOMA" rsa "$T/M1_n11.npy" "$T/B.npy"
expect 2 "rsa: constant RDM" "rsa" -- "$SOMA" rsa "$T/const.npy" "$T/B.npy" --method pearson
expect 2 "rsa: pair with --bootstrap" "--bootstrap belongs to the model comparison" -- "$SOMA" rsa "$T/A.npy" "$T/B.npy" --bootstrap subjects
expect 2 "rsa: models with --permutations" "--permutations" -- "$SOMA" rsa --models "$T/M1.npy" --data "$T/S.npy" --permutations 10
expect 2 "rsa: models without data" "--models and --data" -- "$SOMA" rsa --models "$T/M1.npy"
expect 2 "rsa: model size" "M1_n11.npy|11 conditions" -- "$SOMA" rsa --models "$T/M1_n11.npy" --data "$T/S.npy"
expect 2 "rsa: one subject" "1 subject" -- "$SOMA" rsa --models "$T/M1.npy" --data "$T/S1.npy"
expect 2 "rsa: bad --correct" "--correct" -- "$SOMA" rsa --models "$T/M1.npy" --data "$T/S.npy" --correct bonf
expect 2 "cka: rows differ" "X11.npy|11 rows" -- "$SOMA" cka "$T/X.npy" "$T/X11.npy"
expect 2 "cka: NaN" "Xnan.npy|row 3" -- "$SOMA" cka "$T/Xnan.npy" "$T/Y.npy"
expect 2 "cka: kernel" "--kernel" -- "$SOMA" cka "$T/X.npy" "$T/Y.npy" --kernel poly
expect 2 "encode: rows differ" "X.npy|12 rows|F.npy" -- "$SOMA" encode "$T/F.npy" "$T/X.npy"
expect 2 "encode: bad alphas" "--alphas" -- "$SOMA" encode "$T/F.npy" "$T/R.npy" --alphas 1,x
expect 2 "encode: folds" "--folds" -- "$SOMA" encode "$T/F.npy" "$T/R.npy" --folds 1
expect 2 "geometry: fit range" "fit ranks" -- "$SOMA" geometry "$T/G.npy" --fit-lo 5 --fit-hi 3
expect 2 "geometry: k" "--k 200" -- "$SOMA" geometry "$T/G.npy" --k 200
expect 2 "geometry: repeat shape" "X.npy|same shape" -- "$SOMA" geometry "$T/G.npy" --repeat "$T/X.npy"
expect 2 "geometry: missing repeat" "none.npy" -- "$SOMA" geometry "$T/G.npy" --repeat "$T/none.npy"
[ -z "$(ls "$T" | grep -E '^o\.|\.tmp')" ] && ok || bad "a refused command wrote: $(ls "$T" | grep -E '^o\.|\.tmp')"

# --- rdm ----------------------------------------------------------------------------------
for m in euclidean sqeuclidean correlation cosine; do
    expect 0 "rdm $m" "" -- "$SOMA" rdm "$T/X.npy" --metric $m -o "$T/rdm_$m.npy"
done
expect 0 "rdm mahalanobis" "" -- "$SOMA" rdm "$T/X.npy" --metric mahalanobis --shrinkage 0.4 -o "$T/rdm_maha.npy"
expect 0 "rdm of two subjects" "" -- "$SOMA" rdm "$T/X.npy" "$T/X2.npy" --metric euclidean -o "$T/stack.npy" -f "$T/stack.svg"
expect 0 "rdm of a CSV" "" -- "$SOMA" rdm "$T/X.csv" --metric euclidean -o "$T/rdm_csv.csv"
expect 0 "rdm of float32" "" -- "$SOMA" rdm "$T/X_f32.npy" --metric euclidean -o "$T/rdm_f32.npy"
expect 0 "rdm of int16" "" -- "$SOMA" rdm "$T/Xi.npy" --metric cosine -o "$T/rdm_int.npy"
expect 0 "rdm with repetitions" "" -- "$SOMA" rdm "$T/X3.npy" --metric correlation -o "$T/rdm_rep.npy"
expect 0 "rdm crossnobis" "" -- "$SOMA" rdm "$T/X3.npy" --metric crossnobis --shrinkage 0.5 -o "$T/rdm_cn.npy"
"$SOMA" rdm "$T/X.npy" --metric euclidean --quiet -o "$T/quiet.npy" >"$T/quiet.out" 2>"$T/err" && [ ! -s "$T/quiet.out" ] &&
    cmp -s "$T/quiet.npy" "$T/rdm_euclidean.npy" && ok || bad "rdm --quiet: $(cat "$T/quiet.out" "$T/err")"
"$SOMA" rdm "$T/X.npy" --metric correlation >"$T/rdm.json" 2>"$T/err" && ok || bad "rdm to JSON: $(cat "$T/err")"
if "$PY" - "$T" <<'EOF'; then ok; else bad "rdm values (see above)"; fi
import json, sys, numpy as np
from scipy.spatial.distance import pdist, squareform
d = sys.argv[1]
X = np.load(f"{d}/X.npy")
def close(got, ref, what, rtol=1e-6, atol=1e-9):
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    err = np.max(np.abs(got - ref) / (atol + np.abs(ref)))
    assert np.allclose(got, ref, rtol=rtol, atol=atol), (what, err)
for m in ("euclidean", "sqeuclidean", "correlation", "cosine"):
    R = np.load(f"{d}/rdm_{m}.npy")
    assert R.dtype == np.float64 and R.shape == (12, 12), (m, R.dtype, R.shape)
    assert np.array_equal(R, R.T) and np.all(np.diag(R) == 0), m
    close(R, squareform(pdist(X, m)), m)
# Mahalanobis with shrinkage 0.4 of the covariance of the patterns (ddof 1)
C = np.cov(X.T); p = X.shape[1]
S = 0.6 * C + 0.4 * np.trace(C) / p * np.eye(p)
Si = np.linalg.inv(S)
ref = np.array([[(X[i] - X[j]) @ Si @ (X[i] - X[j]) / p for j in range(12)] for i in range(12)])
close(np.load(f"{d}/rdm_maha.npy"), ref, "mahalanobis")
st = np.load(f"{d}/stack.npy")
assert st.shape == (2, 12, 12), st.shape
close(st[1], squareform(pdist(np.load(f"{d}/X2.npy"))), "second subject")
csv = np.loadtxt(f"{d}/rdm_csv.csv", delimiter=",")
close(csv, squareform(pdist(X)), "CSV in and out", rtol=1e-5, atol=1e-6)
close(np.load(f"{d}/rdm_f32.npy"), squareform(pdist(X.astype(np.float32).astype(np.float64))), "float32 input")
Xi = np.load(f"{d}/Xi.npy").astype(np.float64)
close(np.load(f"{d}/rdm_int.npy"), squareform(pdist(Xi, "cosine")), "int16 input")
X3 = np.load(f"{d}/X3.npy")
close(np.load(f"{d}/rdm_rep.npy"), squareform(pdist(X3.mean(axis=2), "correlation")), "mean over repetitions")
# crossnobis: shrunk covariance of the residuals around the condition means
n, p, r = X3.shape
res = (X3 - X3.mean(axis=2, keepdims=True)).transpose(0, 2, 1).reshape(-1, p)
C = res.T @ res / (n * (r - 1))
Si = np.linalg.inv(0.5 * C + 0.5 * np.trace(C) / p * np.eye(p))
cn = np.zeros((n, n))
for i in range(n):
    for j in range(n):
        if i == j: continue
        dd = X3[i] - X3[j]  # [p, r]
        cn[i, j] = np.mean([dd[:, a] @ Si @ dd[:, b] / p for a in range(r) for b in range(r) if a != b])
close(np.load(f"{d}/rdm_cn.npy"), cn, "crossnobis")
j = json.load(open(f"{d}/rdm.json"))
assert j["n"] == 12 and j["metric"] == "correlation" and j["subjects"] == 1, j
close(np.array(j["rdm"]), pdist(X, "correlation"), "JSON condensed RDM")
EOF

# --- rsa ----------------------------------------------------------------------------------
for m in pearson spearman kendall-tau-a cosine whitened-cosine; do
    "$SOMA" rsa "$T/A.npy" "$T/B.npy" --method $m >"$T/rsa_$m.json" 2>"$T/err" && ok || bad "rsa $m: $(cat "$T/err")"
done
"$SOMA" rsa "$T/A_cond.npy" "$T/B.npy" --method pearson >"$T/rsa_cond.json" 2>"$T/err" && ok || bad "rsa condensed: $(cat "$T/err")"
"$SOMA" rsa "$T/TA.npy" "$T/TB.npy" --method kendall-tau-a >"$T/rsa_ties.json" 2>"$T/err" && ok || bad "rsa ties: $(cat "$T/err")"
"$SOMA" rsa "$T/A.npy" "$T/B.npy" --method spearman --permutations 200 --seed 3 -f "$T/pair.svg" >"$T/rsa_perm.json" 2>"$T/err" &&
    ok || bad "rsa permutations: $(cat "$T/err")"
"$SOMA" rsa "$T/A.npy" "$T/M2.npy" --method spearman --permutations 200 --seed 3 >"$T/rsa_perm0.json" 2>"$T/err" &&
    ok || bad "rsa permutations (unrelated): $(cat "$T/err")"
"$SOMA" rsa --models "$T/M1.npy,$T/M2.npy" --names true,other --data "$T/S.npy" --method spearman -f "$T/models.svg" \
    >"$T/rsa_models.json" 2>"$T/err" && ok || bad "rsa models: $(cat "$T/err")"
"$SOMA" rsa --models "$T/M1.npy,$T/M2.npy" --data "$T/Scond.npy" --method pearson --bootstrap subjects --boot 200 \
    --correct fdr --seed 2 >"$T/rsa_boot.json" 2>"$T/err" && ok || bad "rsa bootstrap: $(cat "$T/err")"
# the same bits on any thread count
"$SOMA" rdm "$T/X3.npy" --metric crossnobis --threads 1 --quiet -o "$T/cn1.npy" && "$SOMA" rdm "$T/X3.npy" --metric crossnobis \
    --threads 2 --quiet -o "$T/cn2.npy" && cmp -s "$T/cn1.npy" "$T/cn2.npy" && ok || bad "rdm differs between 1 and 2 threads"
a1=$("$SOMA" rsa "$T/A.npy" "$T/B.npy" --method kendall-tau-a --permutations 300 --seed 4 --threads 1)
a2=$("$SOMA" rsa "$T/A.npy" "$T/B.npy" --method kendall-tau-a --permutations 300 --seed 4 --threads 2)
[ -n "$a1" ] && [ "$a1" = "$a2" ] && ok || bad "rsa permutations differ between 1 and 2 threads: $a1 / $a2"
if "$PY" - "$T" <<'EOF'; then ok; else bad "rsa values (see above)"; fi
import json, sys, numpy as np
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr, rankdata
d = sys.argv[1]
ld = lambda f: json.load(open(f"{d}/{f}"))
a = squareform(np.load(f"{d}/A.npy")); b = squareform(np.load(f"{d}/B.npy"))
def close(got, ref, what, rtol=1e-6):
    assert abs(got - ref) <= 1e-9 + rtol * abs(ref), (what, got, ref)
def tau_a(x, y):  # the O(m^2) definition
    sx = np.sign(x[:, None] - x[None, :]); sy = np.sign(y[:, None] - y[None, :])
    m = len(x)
    return np.sum(np.triu(sx * sy, 1)) / (m * (m - 1) / 2)
cos = lambda x, y: x @ y / np.linalg.norm(x) / np.linalg.norm(y)
close(ld("rsa_pearson.json")["value"], np.corrcoef(a, b)[0, 1], "pearson")
close(ld("rsa_cond.json")["value"], np.corrcoef(a, b)[0, 1], "pearson, condensed input")
close(ld("rsa_spearman.json")["value"], spearmanr(a, b).correlation, "spearman")
close(ld("rsa_kendall-tau-a.json")["value"], tau_a(a, b), "kendall tau-a")
ta, tb = np.load(f"{d}/TA.npy"), np.load(f"{d}/TB.npy")
close(ld("rsa_ties.json")["value"], tau_a(ta, tb), "kendall tau-a, ties")
close(ld("rsa_cosine.json")["value"], cos(a, b), "cosine")
j = ld("rsa_whitened-cosine.json")
assert j["method"] == "whitened-cosine" and -1 <= j["value"] <= 1 and j["n"] == 12, j
# permutations: same value, p in [1/201, 1]; a related pair is significant, an unrelated one not
j = ld("rsa_perm.json")
close(j["value"], spearmanr(a, b).correlation, "spearman with permutations")
assert j["permutations"] == 200 and abs(j["p"] - 1 / 201) < 1e-12, j
j0 = ld("rsa_perm0.json")
assert 1 / 201 <= j0["p"] <= 1 and j0["p"] > 0.01, j0
# model comparison: scores, noise ceiling (ranks for Spearman), pairwise p
S = np.load(f"{d}/S.npy"); subj = np.stack([squareform(s) for s in S])
M1 = squareform(np.load(f"{d}/M1.npy")); M2 = np.load(f"{d}/M2.npy")
j = ld("rsa_models.json")
assert [m["name"] for m in j["models"]] == ["true", "other"] and j["n_subj"] == 6 and j["n"] == 12, j
for mj, M in zip(j["models"], (M1, M2)):
    sc = [spearmanr(M, s).correlation for s in subj]
    close(mj["score"], np.mean(sc), "model score")
    close(mj["se"], np.std(sc, ddof=1) / np.sqrt(len(sc)), "model se (across subjects)")
    assert np.allclose(mj["subjects"], sc, rtol=1e-6), "per-subject scores"
ranks = np.stack([rankdata(s) for s in subj])
up = np.mean([spearmanr(subj[s], ranks.mean(axis=0)).correlation for s in range(6)])
lo = np.mean([spearmanr(subj[s], np.delete(ranks, s, axis=0).mean(axis=0)).correlation for s in range(6)])
close(j["noise_ceiling"]["upper"], up, "noise ceiling, upper")
close(j["noise_ceiling"]["lower"], lo, "noise ceiling, lower")
assert j["models"][0]["score"] <= up, "no model beats the upper bound"
assert j["models"][0]["p"] < 0.01 and j["models"][1]["score"] < j["models"][0]["score"], j["models"]
P = np.array(j["pairwise_p"])
assert P.shape == (2, 2) and P[0, 0] == 1 and P[1, 1] == 1 and P[0, 1] == P[1, 0] and P[0, 1] < 0.05, P
jb = ld("rsa_boot.json")
assert jb["bootstrap"] == "subjects" and jb["boot"] == 200 and jb["correct"] == "fdr", jb
close(jb["models"][0]["score"], np.mean([np.corrcoef(M1, s)[0, 1] for s in subj]), "pearson score")
assert 0 < jb["models"][0]["se"] < 0.5, jb["models"][0]
EOF
grep -q 'fill="#bbbbbb"' "$T/models.svg" && grep -q '>noise ceiling<' "$T/models.svg" && ok ||
    bad "the model comparison figure has no noise-ceiling band"

# --- cka ----------------------------------------------------------------------------------
"$SOMA" cka "$T/X.npy" "$T/Y.npy" -f "$T/cka.svg" >"$T/cka.json" 2>"$T/err" && ok || bad "cka: $(cat "$T/err")"
"$SOMA" cka "$T/X.npy" "$T/Y.npy" --unbiased >"$T/cka_u.json" 2>"$T/err" && ok || bad "cka unbiased: $(cat "$T/err")"
"$SOMA" cka "$T/X.npy" "$T/Y.npy" --kernel rbf --sigma 0.8 >"$T/cka_rbf.json" 2>"$T/err" && ok || bad "cka rbf: $(cat "$T/err")"
"$SOMA" cka "$T/X.npy" "$T/act4.npy" >"$T/cka_4d.json" 2>"$T/err" && ok || bad "cka 4-D: $(cat "$T/err")"
"$SOMA" rdm "$T/act4.npy" --metric euclidean -o "$T/rdm_4d.npy" 2>"$T/err" >/dev/null && ok || bad "rdm 4-D: $(cat "$T/err")"
"$SOMA" cka "$T/X.csv" "$T/Y.npy" >"$T/cka_csv.json" 2>"$T/err" && ok || bad "cka csv: $(cat "$T/err")"
if "$PY" - "$T" <<'EOF'; then ok; else bad "cka values (see above)"; fi
import json, sys, numpy as np
d = sys.argv[1]
ld = lambda f: json.load(open(f"{d}/{f}"))
X, Y = np.load(f"{d}/X.npy"), np.load(f"{d}/Y.npy")
n = X.shape[0]
def close(got, ref, what, rtol=1e-6):
    assert abs(got - ref) <= 1e-9 + rtol * abs(ref), (what, got, ref)
Xc, Yc = X - X.mean(0), Y - Y.mean(0)
lin = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
j = ld("cka.json")
assert j["n"] == 12 and j["p"] == 30 and j["q"] == 20 and j["kernel"] == "linear", j
close(j["value"], lin, "linear CKA")
nuc = np.linalg.svd((Xc / np.linalg.norm(Xc)).T @ (Yc / np.linalg.norm(Yc)), compute_uv=False).sum()
close(j["procrustes"], np.sqrt(2 - 2 * nuc), "Procrustes distance")
close(j["procrustes_angle"], np.arccos(nuc), "Procrustes angle")
close(ld("cka_csv.json")["value"], lin, "linear CKA from CSV", rtol=1e-5)
A4 = np.load(f"{d}/act4.npy").reshape(n, -1).astype(np.float64)
Ac = A4 - A4.mean(0)
close(ld("cka_4d.json")["value"], np.linalg.norm(Ac.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Ac.T @ Ac)), "CKA of [N, C, H, W]")
from scipy.spatial.distance import pdist, squareform
assert np.allclose(np.load(f"{d}/rdm_4d.npy"), squareform(pdist(A4)), rtol=1e-6), "rdm of [N, C, H, W]"
H = np.eye(n) - 1 / n
def hsic_b(K, L): return np.trace(K @ H @ L @ H) / (n - 1) ** 2
def hsic_u(K, L):
    K, L = K.copy(), L.copy(); np.fill_diagonal(K, 0); np.fill_diagonal(L, 0); o = np.ones(n)
    return (np.trace(K @ L) + (o @ K @ o) * (o @ L @ o) / ((n - 1) * (n - 2)) - 2 / (n - 2) * (o @ K @ L @ o)) / (n * (n - 3))
def cka(K, L, h): return h(K, L) / np.sqrt(h(K, K) * h(L, L))
close(ld("cka_u.json")["value"], cka(X @ X.T, Y @ Y.T, hsic_u), "unbiased linear CKA")
def rbf(Z, frac):
    D = np.sum((Z[:, None] - Z[None]) ** 2, axis=2)
    sig = frac * np.sqrt(np.median(D[np.triu_indices(n, 1)]))
    return np.exp(-D / (2 * sig ** 2))
close(ld("cka_rbf.json")["value"], cka(rbf(X, 0.8), rbf(Y, 0.8), hsic_b), "RBF CKA")
EOF

# --- encode -------------------------------------------------------------------------------
"$SOMA" encode "$T/F.npy" "$T/R.npy" --folds 4 --alphas 0.1,1,10,100 --seed 5 -o "$T/enc.npy" >"$T/enc.json" 2>"$T/err" &&
    ok || bad "encode: $(cat "$T/err")"
"$SOMA" encode "$T/F.npy" "$T/R2d.npy" -o "$T/enc.csv" >"$T/enc2.json" 2>"$T/err" && ok || bad "encode 2-D: $(cat "$T/err")"
if "$PY" - "$T" <<'EOF'; then ok; else bad "encode values (see above)"; fi
import json, sys, numpy as np
d = sys.argv[1]
j = json.load(open(f"{d}/enc.json"))
R = np.load(f"{d}/R.npy")
q = R.shape[1]
for k in ("r", "r2", "ceiling", "alpha"): assert len(j[k]) == q, k
# split-half ceiling: odd vs even repetitions, Spearman-Brown corrected
a, b = R[:, :, 0::2].mean(axis=2), R[:, :, 1::2].mean(axis=2)
rel = np.array([np.corrcoef(a[:, t], b[:, t])[0, 1] for t in range(q)])
sb = 2 * rel / (1 + rel)
assert np.allclose(j["ceiling"], sb, rtol=1e-6), (j["ceiling"], sb)
assert abs(j["mean_ceiling"] - sb.mean()) < 1e-6 * abs(sb.mean()) + 1e-12
assert abs(j["mean_r"] - np.mean(j["r"])) < 1e-9 and abs(j["mean_r2"] - np.mean(j["r2"])) < 1e-9, j
assert j["mean_r"] > 0.8 and all(x <= 1 for x in j["r2"]), j  # responses are linear in the features
assert set(j["alpha"]) <= {0.1, 1, 10, 100}, j["alpha"]
rn = np.mean(np.array(j["r"]) / np.sqrt(sb))
assert abs(j["mean_r_norm"] - rn) < 1e-6 * abs(rn), (j["mean_r_norm"], rn)
T = np.load(f"{d}/enc.npy")
assert T.shape == (q, 4) and np.allclose(T[:, 0], j["r"]) and np.allclose(T[:, 2], j["ceiling"]), T
j2 = json.load(open(f"{d}/enc2.json"))
assert all(c is None for c in j2["ceiling"]) and j2["reps"] == 1 and j2["mean_r"] > 0.8, j2
C = np.loadtxt(f"{d}/enc.csv", delimiter=",", skiprows=1)
assert C.shape == (q, 4) and np.allclose(C[:, 0], j2["r"], rtol=1e-5), C
assert open(f"{d}/enc.csv").readline().strip().replace('"', '') == "r,r2,ceiling,alpha"
EOF

# --- geometry -----------------------------------------------------------------------------
"$SOMA" geometry "$T/G.npy" --k 30 --fit-lo 2 --fit-hi 25 -f "$T/geo.svg" >"$T/geo.json" 2>"$T/err" && ok ||
    bad "geometry: $(cat "$T/err")"
"$SOMA" geometry "$T/Gnoise.npy" >"$T/geo_n.json" 2>"$T/err" && ok || bad "geometry default: $(cat "$T/err")"
"$SOMA" geometry "$T/G.npy" --k 10 --repeat "$T/G.npy" >"$T/geo_cv.json" 2>"$T/err" && ok || bad "geometry cvPCA: $(cat "$T/err")"
if "$PY" - "$T" <<'EOF'; then ok; else bad "geometry values (see above)"; fi
import json, sys, numpy as np
d = sys.argv[1]
ld = lambda f: json.load(open(f"{d}/{f}"))
G = np.load(f"{d}/G.npy")
ev = np.sort(np.linalg.eigvalsh(np.cov(G.T)))[::-1]
j = ld("geo.json")
e = np.array(j["eigenvalues"])
assert j["k"] == 30 and len(e) == 30 and j["spectrum"] == "pca", j
assert np.allclose(e, ev[:30], rtol=1e-6, atol=1e-12), (e[:5], ev[:5])
pr = e.sum() ** 2 / (e ** 2).sum()
assert abs(j["participation_ratio"] - pr) < 1e-6 * pr, (j["participation_ratio"], pr)
assert abs(j["powerlaw_alpha"] - 1.5) < 1e-6 and abs(j["r2"] - 1) < 1e-6, j  # an exact power law
tv = np.trace(np.cov(G.T))
assert np.allclose(j["explained_variance"], e / tv, rtol=1e-6) and abs(j["total_variance"] - tv) < 1e-6 * tv, j
jn = ld("geo_n.json")
assert jn["k"] == 40 and jn["fit_hi"] == 40 and jn["participation_ratio"] > 10, jn  # noise: a flat spectrum
jc = ld("geo_cv.json")
ratio = np.array(jc["eigenvalues"]) / ev[:10]  # a repeat equal to the data: cvPCA is the PCA spectrum (up to ddof)
assert jc["spectrum"] == "cvpca" and np.allclose(ratio, ratio[0], rtol=1e-6) and 0.9 < ratio[0] <= 1 + 1e-9, ratio
EOF

# --- figures: written (-f, or beside -o) and well-formed SVG -----------------------------------
# stack.svg: rdm -f; rdm_euclidean.svg: beside rdm -o; pair, models: rsa -f; cka: -f; enc: beside
# encode -o; geo: geometry -f
if "$PY" - "$T" <<'EOF'; then ok; else bad "figures (see above)"; fi
import sys, xml.etree.ElementTree as ET
d = sys.argv[1]
for f in ("stack", "rdm_euclidean", "pair", "models", "cka", "enc", "geo"):
    r = ET.parse(f"{d}/{f}.svg").getroot()
    assert r.tag.endswith("svg"), (f, r.tag)
    assert len(list(r.iter())) > 20, (f, "nearly empty")
EOF

sh_report test_analysis_cli
