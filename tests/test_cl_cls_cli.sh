#!/usr/bin/env bash
# soma continual --method cls on the user's own data (npy:X,Y,TASKS made here with NumPy: three
# tasks of two Gaussian classes each, tested on their training data): the store's answer is
# right on every stored example (one shot), its memory is the documented exact size, the slow
# net alone with sleep keeps the first task better than with no sleep; each bad --cls-* value
# exits 2 with one "soma: ..." line.
set -u
SOMA=${1:?usage: test_cl_cls_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
need_numpy

gauss_tasks 4 240 3 3.0

S="npy:$T/X.npy,$T/Y.npy,$T/T.npy;$T/X.npy,$T/Y.npy,$T/T.npy"
run() { # NAME ARGS...: a cls run, JSON into $T/NAME.json
    local name=$1
    shift
    "$SOMA" continual --stream "$S" --method cls --net fc16,relu,fc6 --epochs 3 --batch 16 --lr 0.01 --quiet \
        --threads 1 "$@" >"$T/$name.json" 2>"$T/err" || { bad "cls run $name: $(head -c 300 "$T/err")"; return 1; }
    ok
}
run store --cls-answer store --cls-capacity 100 --cls-evict quota --cls-keys input --cls-knn 1
run slow --cls-answer slow --cls-sleep-lr 0.05
run nosleep --cls-answer slow --cls-sleep-every -1
"$PY" - "$T" <<'EOF2' && ok || bad "cls JSON"
import sys, json
d = sys.argv[1]
st, sl, ns = (json.load(open(f"{d}/{k}.json")) for k in ("store", "slow", "nosleep"))
assert st["method"] == "cls" and st["tasks"] == 3
# one shot with a per-task quota: after task i, each task keeps 100 // (i + 1) of its 80 samples
# (and task i gets the rest); 1-NN on the inputs answers every kept one, the others by neighbours
assert st["R"][0][0] == 1.0, st["R"]
# exact memory: 100 episodes of 6 floats of input, 6 of key, label and task
assert st["memory_bytes"] == 100 * ((6 + 6) * 4 + 2 * 4), st["memory_bytes"]
# default store: every sample (240), projection keys of 256 and the 256 x 6 projection
assert sl["memory_bytes"] == 240 * ((6 + 256) * 4 + 8) + 256 * 6 * 4, sl["memory_bytes"]
assert sl["R"][2][0] > ns["R"][2][0] + 0.3, (sl["R"], ns["R"])
EOF2

expect 2 "unknown eviction" "evict|reservoir" -- "$SOMA" continual --stream "$S" --method cls --cls-evict lru
expect 2 "unknown keys" "keys|projection" -- "$SOMA" continual --stream "$S" --method cls --cls-keys hash
expect 2 "beta out of range" "beta" -- "$SOMA" continual --stream "$S" --method cls --cls-beta 0
expect 2 "layer out of range" "layer" -- "$SOMA" continual --stream "$S" --method cls --cls-keys layer --cls-layer 9 \
    --net fc16,relu,fc6
expect 2 "huge store" "store" -- "$SOMA" continual --stream "$S" --method cls --cls-capacity 1000000000 --cls-key-dim 65536
sh_report test_cl_cls_cli
