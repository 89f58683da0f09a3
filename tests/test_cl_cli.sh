#!/usr/bin/env bash
# soma continual on the user's own data (npy:X,Y,TASKS made here with NumPy: three tasks of
# separable Gaussian classes): the JSON result (an accuracy matrix of 3x3 within [0,1], the
# metrics recomputed here from it by their definitions, the method's memory), results.json and
# the figure; each class of bad input (no --stream, an unknown stream, scenario or method, no
# tasks, task ids out of range or missing, tasks of different input sizes, a buffer larger than
# memory allows, a net that does not fit the stream; the experiments' --scenarios and
# --methods) exits 2 with one "soma: ..." line.
set -u
SOMA=${1:?usage: test_cl_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
need_numpy

"$PY" - "$T" <<'EOF2' || { echo "FAIL: could not write the inputs"; exit 1; }
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(3)
n, D = 300, 6
t = np.repeat(np.arange(3), n // 3)
y = (rng.integers(0, 2, n) + 2 * t).astype(np.int64)          # task t: classes 2t, 2t+1
mu = 3.0 * np.eye(D)[y % D]
X = (mu + rng.standard_normal((n, D))).astype(np.float32)
np.save(f"{d}/X.npy", X); np.save(f"{d}/Y.npy", y); np.save(f"{d}/T.npy", t.astype(np.int32))
tb = t.copy(); tb[5] = 7; np.save(f"{d}/Tbad.npy", tb)          # task 7 of 8: tasks 3..6 missing
tn = t.copy(); tn[0] = -1; np.save(f"{d}/Tneg.npy", tn)
np.save(f"{d}/X5.npy", X[:, :5].copy())                         # another input size
np.save(f"{d}/Tf.npy", t.astype(np.float32))                    # float task ids
EOF2

S="npy:$T/X.npy,$T/Y.npy,$T/T.npy"
if "$SOMA" continual --stream "$S" --method replay --buffer 30 --net fc16,relu,fc6 --epochs 3 --batch 16 \
    --lr 0.01 --quiet --out "$T/run" >"$T/json" 2>"$T/err"; then
    ok
    "$PY" - "$T/json" "$T/run/results.json" <<'EOF2' && ok || bad "continual JSON: $(cat "$T/err" | head -c 300)"
import sys, json, math
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert a["R"] == b["R"] and a["method"] == "replay" and a["tasks"] == 3, "results.json differs"
R, base = a["R"], a["b"]
T = len(R)
assert T == 3 and all(len(r) == 3 and all(0 <= x <= 1 for x in r) for r in R)
acc = sum(R[-1]) / T
bwt = sum(R[-1][j] - R[j][j] for j in range(T - 1)) / (T - 1)
fwt = sum(R[j - 1][j] - base[j] for j in range(1, T)) / (T - 1)
fgt = sum(max(R[l][j] for l in range(T - 1)) - R[-1][j] for j in range(T - 1)) / (T - 1)
for k, v in [("acc", acc), ("bwt", bwt), ("fwt", fwt), ("forgetting", fgt)]:
    assert abs(a[k] - v) < 1e-5, (k, a[k], v)
assert a["memory_bytes"] == 30 * (6 * 4 + 4 + 8), a["memory_bytes"]
assert R[0][0] > 0.8, R                                         # task 1 learned
EOF2
    grep -q "<svg" "$T/run/accuracy.svg" && ok || bad "no figure"
else
    bad "continual on npy data: $(cat "$T/err")"
fi

expect 2 "no stream" "stream|required" -- "$SOMA" continual --method ewc
expect 2 "unknown stream" "unknown stream" -- "$SOMA" continual --stream rotated-mnist
expect 2 "unknown method" "method" -- "$SOMA" continual --stream "$S" --method dream
expect 2 "missing task ids" "task id 3|no sample" -- "$SOMA" continual --stream "npy:$T/X.npy,$T/Y.npy,$T/Tbad.npy"
expect 2 "negative task id" "task id" -- "$SOMA" continual --stream "npy:$T/X.npy,$T/Y.npy,$T/Tneg.npy"
expect 2 "float task ids" "integer task ids" -- "$SOMA" continual --stream "npy:$T/X.npy,$T/Y.npy,$T/Tf.npy"
expect 2 "different input sizes" "input size" -- "$SOMA" continual --stream "npy:$T/X.npy,$T/Y.npy,$T/T.npy;$T/X5.npy,$T/Y.npy,$T/T.npy"
expect 2 "huge buffer" "buffer" -- "$SOMA" continual --stream "$S" --method replay --buffer 100000000000
expect 2 "bad buffer" "buffer" -- "$SOMA" continual --stream "$S" --method replay --buffer lots
expect 2 "net of the wrong size" "outputs|fc6" -- "$SOMA" continual --stream "$S" --net fc16,relu,fc4
expect 2 "no tasks" "task count" -- "$SOMA" continual --stream permuted-fmnist:0
expect 2 "unknown scenario" "task, domain or class" -- "$SOMA" continual --stream split-fmnist:sideways
expect 2 "split-fmnist: unknown scenario" "unknown scenario" -- "$SOMA" run split-fmnist --scenarios task,bogus
expect 2 "split-fmnist: a method twice" "twice" -- "$SOMA" run split-fmnist --methods ewc,ewc
expect 2 "permuted-fmnist: unknown method" "method" -- "$SOMA" run permuted-fmnist --methods ewc,dream
expect 2 "bad lambda" "ewc-lambda" -- "$SOMA" continual --stream "$S" --method ewc --ewc-lambda -3
sh_report test_cl_cli
