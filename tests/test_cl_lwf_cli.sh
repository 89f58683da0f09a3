#!/usr/bin/env bash
# soma continual --method lwf on the user's own data (npy:X,Y,TASKS made here with NumPy: three
# tasks of Gaussian classes): --lwf-alpha 0 gives fine-tuning's accuracy matrix exactly,
# --lwf-alpha 2 another one and the teacher's memory, --lwf-balance runs; bad LwF options and a rule without
# logits to distil (ff) exit 2 with one "soma: ..." line.
set -u
SOMA=${1:?usage: test_cl_lwf_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
need_numpy

gauss_tasks 5 240 3 2.0

S="npy:$T/X.npy,$T/Y.npy,$T/T.npy"
COMMON=(--stream "$S" --net fc8,tanh,fc6 --epochs 3 --batch 16 --lr 0.01 --quiet --threads 1)
run() { "$SOMA" continual "${COMMON[@]}" "$@"; }
if run --method finetune >"$T/ft" 2>"$T/err" && run --method lwf --lwf-alpha 0 >"$T/l0" 2>>"$T/err" &&
    run --method lwf --lwf-alpha 2 --lwf-temp 3 >"$T/l2" 2>>"$T/err" &&
    run --method lwf --lwf-alpha 1 --lwf-temp 3 --lwf-balance >"$T/lb" 2>>"$T/err"; then
    ok
    "$PY" - "$T/ft" "$T/l0" "$T/l2" "$T/lb" <<'EOF2' && ok || bad "lwf JSON: $(head -c 300 "$T/err")"
import sys, json
ft, l0, l2, lb = (json.load(open(p)) for p in sys.argv[1:5])
assert lb["method"] == "lwf" and lb["memory_bytes"] == l2["memory_bytes"], "--lwf-balance run"
assert l0["method"] == "lwf" and l2["method"] == "lwf", "method"
assert l0["R"] == ft["R"], ("alpha 0 is fine-tuning", l0["R"], ft["R"])
assert l2["R"] != ft["R"], "alpha 2 changes nothing"
assert ft["memory_bytes"] == 0 and l2["memory_bytes"] > 0, (ft["memory_bytes"], l2["memory_bytes"])
assert l2["R"][0][0] > 0.7, l2["R"]
EOF2
else
    bad "continual --method lwf: $(cat "$T/err")"
fi

expect 2 "negative alpha" "lwf-alpha" -- "$SOMA" continual --stream "$S" --method lwf --lwf-alpha -1
expect 2 "temperature 0" "lwf-temp" -- "$SOMA" continual --stream "$S" --method lwf --lwf-temp 0
expect 2 "alpha not a number" "lwf-alpha" -- "$SOMA" continual --stream "$S" --method lwf --lwf-alpha x
expect 2 "ff has no logits" "lwf|ff" -- "$SOMA" continual --stream "$S" --method lwf --rule ff --net fc8,relu,fc8,relu,fc6 --quiet
sh_report test_cl_lwf_cli
