#!/usr/bin/env bash
# The recurrent composite through the soma command, on the user's own sequence data:
# X [N,T,D] with per-position labels Y [N,T] is a sequence task. The label at each step is the
# symbol shown one step earlier, so it needs memory: `soma train --net "rec(fc32,tanh),fc5"`
# learns it (data-parallel, --threads 2) and a token-wise net of the same size cannot. The
# exported parameters reproduce `soma predict`'s outputs in NumPy's Elman recursion, and bad
# recurrent specs exit 2 with a message that names the problem.
set -u
SOMA=${1:?usage: test_nn_recur_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report

# Each step shows one of K=5 symbols (one-hot plus noise); label = the symbol at t-1 (0 at t=0).
"$PY" - "$T" <<'EOF' || { echo "FAIL python3 with numpy is needed"; exit 1; }
import sys, numpy as np
t = sys.argv[1]
r = np.random.default_rng(3)
def make(n):
    s = r.integers(0, 5, (n, 8))
    x = np.eye(5, dtype=np.float32)[s] + 0.1 * r.standard_normal((n, 8, 5)).astype(np.float32)
    y = np.zeros((n, 8), np.int64)
    y[:, 1:] = s[:, :-1]
    return x.astype(np.float32), y
for name, n in (("tr", 600), ("te", 300)):
    x, y = make(n)
    np.save(f"{t}/X{name}.npy", x)
    np.save(f"{t}/Y{name}.npy", y)
np.save(f"{t}/Yflat.npy", np.zeros(600, np.int64))
EOF
DATA="npy:$T/Xtr.npy,$T/Ytr.npy;$T/Xte.npy,$T/Yte.npy"

# train NET OUT: runs soma train, keeps its JSON in OUT
train() {
    local net=$1 out=$2
    shift 2
    if "$SOMA" train --data "$DATA" --net "$net" --epochs 10 --batch 32 --lr 0.01 --optim adam --threads 2 \
        --quiet "$@" >"$out" 2>"$T/err"; then ok; else bad "train $net: exit $?: $(head -c 400 "$T/err")"; fi
}
train "rec(fc32,tanh),fc5" "$T/rec.json" --save-npy "$T/pnpy"
train "fc125,tanh,fc5" "$T/tok.json"
if "$PY" - "$T" <<'EOF'; then ok; else bad "rec must learn the previous-symbol task and a token-wise net must not"; fi
import json, sys
t = sys.argv[1]
a, b = json.load(open(t + "/rec.json")), json.load(open(t + "/tok.json"))
print(f"  previous-symbol task, per-position test accuracy: rec(fc32,tanh),fc5 {a['test_accuracy']:.3f} "
      f"({a['parameters']} params), fc125,tanh,fc5 {b['test_accuracy']:.3f} ({b['parameters']} params); chance 0.3")
assert a["measured_on"]["test_accuracy"].startswith("test"), a["measured_on"]
assert abs(a["parameters"] - b["parameters"]) <= 0.1 * a["parameters"], (a["parameters"], b["parameters"])
# token-wise: step 0 is always class 0, the other 7 steps at chance 1/5: 0.3 at best
assert a["test_accuracy"] >= 0.95 and b["test_accuracy"] <= 0.40, (a["test_accuracy"], b["test_accuracy"])
EOF

# the export is PyTorch's layout (0.0.weight [H, D+H]); predict's outputs follow the recursion
if "$SOMA" predict --data "$DATA" --net "rec(fc32,tanh),fc5" --init-npy "$T/pnpy" -o "$T/o.npy" --threads 2 \
    --quiet >/dev/null 2>"$T/err"; then ok; else bad "predict: $(head -c 400 "$T/err")"; fi
if "$PY" - "$T" <<'EOF'; then ok; else bad "predict: outputs differ from NumPy's Elman recursion"; fi
import sys, numpy as np
t = sys.argv[1]
X = np.load(t + "/Xte.npy").astype(np.float64)
w, b = np.load(t + "/pnpy/0.0.weight.npy"), np.load(t + "/pnpy/0.0.bias.npy")
wo, bo = np.load(t + "/pnpy/1.weight.npy"), np.load(t + "/pnpy/1.bias.npy")
assert w.shape == (32, 5 + 32) and b.shape == (32,) and wo.shape == (5, 32), (w.shape, wo.shape)
h = np.zeros((X.shape[0], 32))
ref = []
for s in range(X.shape[1]):
    h = np.tanh(np.concatenate([X[:, s], h], 1) @ w.T + b)
    ref.append(h @ wo.T + bo)
ref = np.stack(ref, 1)
O = np.load(t + "/o.npy").reshape(ref.shape)
e = np.abs(O - ref).max()
assert e < 1e-4, e
EOF

expect 2 "state width not closed" "rec(tanh)|[H]" -- "$SOMA" train --data "$DATA" --net "rec(tanh),fc5" --epochs 1 --quiet
expect 2 "branches in a cell" "rec(fc8|fc3)|one cell" -- "$SOMA" train --data "$DATA" --net "rec(fc8|fc3),fc5" --epochs 1 --quiet
# labels [N] (not per position): X [N,T,D] is then N one-channel images, not sequences
expect 2 "images, not sequences" "rec(fc8,tanh)|[T,D]|[1,8,5]" -- "$SOMA" train --data "npy:$T/Xtr.npy,$T/Yflat.npy" \
    --net "rec(fc8,tanh),tmean,fc5" --epochs 1 --quiet
"$SOMA" train --help >"$T/help" 2>&1
grep -qF "rec(SPEC)" "$T/help" && ok || bad "train --help lacks rec(SPEC)"

sh_report test_nn_recur_cli
