#!/usr/bin/env bash
# soma sweep, serially, on a tiny data set made here with NumPy (three Gaussian classes, a
# test split): a 6-cell grid runs each cell once as a child `soma train`, results.jsonl holds
# one record a cell with the keys fit-scaling reads, and each record equals a `soma train` run
# with the cell's options made here by hand; a second run runs nothing (results.json files
# untouched, one start each in runs.log) and a second sweep in the same folder is refused; a grown grid runs only the new cells and keeps the
# old ids; a torn results.jsonl is rebuilt whole; an interrupted cell (a checkpoint of 2 of
# its 4 epochs) resumes from epoch 2 and ends where an uninterrupted run ends; every class of
# bad sweep file exits 2 with one "soma: ..." line before any folder is made.
set -u
SOMA=${1:?usage: test_sweep_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
need_numpy

"$PY" - "$T" <<'EOF2' || { echo "FAIL: could not write the inputs"; exit 1; }
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(5)
for name, n in (("", 300), ("t", 150)):
    y = rng.integers(0, 3, n)
    X = (2.0 * np.eye(6)[y] + rng.standard_normal((n, 6))).astype(np.float32)
    np.save(f"{d}/X{name}.npy", X); np.save(f"{d}/Y{name}.npy", y.astype(np.int64))
EOF2
DATA="npy:$T/X.npy,$T/Y.npy;$T/Xt.npy,$T/Yt.npy"
cat >"$T/s.json" <<EOF
{"name": "tiny", "out": "$T/sw",
 "fixed": {"data": "$DATA", "epochs": 1, "batch": 16, "lr": 0.01},
 "grid": {"net": ["fc8,relu,fc3", "fc16,relu,fc3", "fc3"], "seed": [1, 2]}}
EOF

# --- a serial sweep ----------------------------------------------------------------------
if "$SOMA" sweep "$T/s.json" --quiet >"$T/sum.json" 2>"$T/err"; then ok; else bad "sweep: $(cat "$T/err")"; fi
"$PY" - "$T" "$SOMA" "$DATA" <<'EOF2' && ok || bad "the records"
import sys, json, os, subprocess
T, soma, data = sys.argv[1], sys.argv[2], sys.argv[3]
summ = json.load(open(f"{T}/sum.json"))
assert summ["cells"] == 6 and summ["ran"] == 6 and summ["done"] == 6 and summ["failed"] == 0, summ
recs = [json.loads(l) for l in open(f"{T}/sw/results.jsonl")]
assert len(recs) == 6 and len({r["cell"] for r in recs}) == 6
assert sorted(os.listdir(f"{T}/sw/cells")) == sorted(r["cell"] for r in recs)
params = {"fc8,relu,fc3": 6 * 8 + 8 + 8 * 3 + 3, "fc16,relu,fc3": 6 * 16 + 16 + 16 * 3 + 3, "fc3": 21}
for r in recs:
    o = r["options"]
    assert r["n_params"] == params[o["net"]], r
    assert r["n_data"] == 300 and r["loss_on"] == "test" and r["loss"] == r["test_loss"] and r["rank"] == 0, r
    assert 0 <= r["test_accuracy"] <= 1 and r["loss"] > 0 and r["seconds"] > 0, r
    runs = open(f"{T}/sw/cells/{r['cell']}/runs.log").read().splitlines()
    assert len(runs) == 1, runs
    # the same run by hand
    out = subprocess.run([soma, "train", "--data", data, "--net", o["net"], "--seed", str(o["seed"]), "--epochs", "1",
                          "--batch", "16", "--lr", "0.01", "--threads", "1", "--quiet"], capture_output=True, check=True)
    t = json.loads(out.stdout)
    for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        assert t[k] == r[k], (k, t[k], r[k])
    assert t["parameters"] == r["n_params"]
EOF2

# --- run again: nothing runs, nothing is touched -------------------------------------------
stat -c '%i %Y' "$T"/sw/cells/*/results.json >"$T/stat1"
"$SOMA" sweep "$T/s.json" --quiet >"$T/sum2.json" 2>"$T/err" || bad "second run: $(cat "$T/err")"
stat -c '%i %Y' "$T"/sw/cells/*/results.json >"$T/stat2"
cmp -s "$T/stat1" "$T/stat2" && ok || bad "a finished cell's results.json changed on the second run"
[ "$(cat "$T"/sw/cells/*/runs.log | wc -l)" -eq 6 ] && ok || bad "a finished cell was started again"
grep -q '"ran":[[:space:]]*0' "$T/sum2.json" && grep -q '"already_done":[[:space:]]*6' "$T/sum2.json" && ok ||
    bad "second run: $(cat "$T/sum2.json")"

# --- one sweep at a time in a folder (flock(1) holds the lock a running sweep would hold) ----
expect 2 "a second sweep in the same folder" "another sweep" -- flock "$T/sw/sweep.lock" "$SOMA" sweep "$T/s.json"

# --- a torn results.jsonl is rebuilt -------------------------------------------------------
head -c 100 "$T/sw/results.jsonl" >"$T/torn" && mv "$T/torn" "$T/sw/results.jsonl"
"$SOMA" sweep "$T/s.json" --quiet >/dev/null 2>"$T/err" || bad "run after tearing: $(cat "$T/err")"
[ "$(wc -l <"$T/sw/results.jsonl")" -eq 6 ] && "$PY" -c "
import json, sys
[json.loads(l) for l in open(sys.argv[1])]" "$T/sw/results.jsonl" && ok || bad "results.jsonl not rebuilt"

# --- a grown grid: old ids stay, only new cells run ------------------------------------------
sed 's/"seed": \[1, 2\]/"seed": [1, 2, 3]/' "$T/s.json" >"$T/s3.json"
ls "$T/sw/cells" | sort >"$T/ids6"
"$SOMA" sweep "$T/s3.json" --quiet >"$T/sum3.json" 2>"$T/err" || bad "grown grid: $(cat "$T/err")"
ls "$T/sw/cells" | sort >"$T/ids9"
[ "$(comm -23 "$T/ids6" "$T/ids9" | wc -l)" -eq 0 ] && [ "$(wc -l <"$T/ids9")" -eq 9 ] && ok || bad "ids changed"
grep -q '"ran":[[:space:]]*3' "$T/sum3.json" && [ "$(cat "$T"/sw/cells/*/runs.log | wc -l)" -eq 9 ] && ok ||
    bad "grown grid ran: $(cat "$T/sum3.json")"

# --- an interrupted cell resumes from its checkpoint ------------------------------------------
# The cell (4 epochs) is given the checkpoint a run of its first 2 epochs leaves (what a kill
# after epoch 2 leaves); the sweep resumes it and ends where an uninterrupted run ends.
cat >"$T/r.json" <<EOF
{"name": "resume", "out": "$T/rout", "cells": [{"data": "$DATA", "net": "fc8,relu,fc3", "epochs": 4, "batch": 16, "lr": 0.01}]}
EOF
id=$("$SOMA" sweep "$T/r.json" --dry-run | "$PY" -c "import json,sys; print(json.loads(sys.stdin.readline())['cell'])")
[ -n "$id" ] && [ ! -e "$T/rout" ] && ok || bad "--dry-run made $T/rout or named no cell"
mkdir -p "$T/rout/cells/$id"
"$SOMA" train --data "$DATA" --net fc8,relu,fc3 --epochs 2 --batch 16 --lr 0.01 --threads 1 --quiet \
    --ckpt "$T/rout/cells/$id/ckpt.bin" >/dev/null 2>"$T/err" || bad "2 epochs: $(cat "$T/err")"
"$SOMA" train --data "$DATA" --net fc8,relu,fc3 --epochs 4 --batch 16 --lr 0.01 --threads 1 --quiet >"$T/full.json" \
    2>"$T/err" || bad "4 epochs: $(cat "$T/err")"
"$SOMA" sweep "$T/r.json" --quiet >/dev/null 2>"$T/err" || bad "resumed sweep: $(cat "$T/err")"
"$PY" - "$T/rout/cells/$id/results.json" "$T/full.json" "$T/rout/results.jsonl" <<'EOF2' && ok || bad "resume"
import sys, json
res = json.load(open(sys.argv[1]))["ours"]; full = json.load(open(sys.argv[2]))
rec = [json.loads(l) for l in open(sys.argv[3])]
assert res["resumed_from_epoch"] == 2, res["resumed_from_epoch"]
assert len(rec) == 1 and rec[0]["epochs"] == 4
for k in ("train_loss", "test_loss", "test_accuracy"):
    assert res[k] == full[k] == rec[0][k], (k, res[k], full[k])
EOF2

# --- bad sweep files: one line, exit 2, nothing made -------------------------------------------
bad_file() { # NAME WORDS JSON
    local name=$1 words=$2
    printf '%s\n' "$3" >"$T/bad_$name.json"
    expect 2 "$name" "$words|bad_$name.json" -- "$SOMA" sweep "$T/bad_$name.json"
    [ ! -e "$T/bo" ] && ok || { bad "$name: made $T/bo"; rm -rf "$T/bo"; }
}
F="\"fixed\": {\"data\": \"$DATA\", \"epochs\": 1}"
bad_file unknown_key "unknown key 'widht'" "{\"out\": \"$T/bo\", $F, \"grid\": {\"net\": [\"fc3\"], \"widht\": [1]}}"
bad_file unknown_top "unknown key 'grids'" "{\"out\": \"$T/bo\", $F, \"grids\": {\"net\": [\"fc3\"]}}"
bad_file empty_grid "empty grid" "{\"out\": \"$T/bo\", $F, \"grid\": {}}"
bad_file empty_values "empty grid|seed" "{\"out\": \"$T/bo\", $F, \"grid\": {\"net\": [\"fc3\"], \"seed\": []}}"
bad_file net_not_built "conv3x3x4|does not build" "{\"out\": \"$T/bo\", $F, \"grid\": {\"net\": [\"fc3\", \"conv3x3x4,fc3\"]}}"
bad_file net_unknown_layer "zonk" "{\"out\": \"$T/bo\", $F, \"grid\": {\"net\": [\"fc3\", \"fc8,zonk,fc3\"]}}"
bad_file too_few_outputs "classes" "{\"out\": \"$T/bo\", $F, \"grid\": {\"net\": [\"fc2\"]}}"
bad_file malformed "JSON" "{\"out\": \"$T/bo\", $F, \"grid\": {\"net\": [\"fc3\"]"
bad_file wrong_type "epochs|integer" "{\"out\": \"$T/bo\", \"fixed\": {\"data\": \"$DATA\"}, \"grid\": {\"net\": [\"fc3\"], \"epochs\": [\"1\"]}}"
bad_file out_of_range "batch|out of range" "{\"out\": \"$T/bo\", $F, \"grid\": {\"net\": [\"fc3\"], \"batch\": [0]}}"
bad_file duplicate "same run" "{\"out\": \"$T/bo\", $F, \"grid\": {\"net\": [\"fc3\", \"fc3\"]}}"
bad_file reserved "ckpt" "{\"out\": \"$T/bo\", $F, \"grid\": {\"net\": [\"fc3\"]}, \"cells\": [{\"net\": \"fc4\", \"ckpt\": \"c\"}]}"
bad_file no_data "cannot be loaded|none.npy" "{\"out\": \"$T/bo\", \"fixed\": {\"data\": \"npy:$T/none.npy,$T/Y.npy\"}, \"grid\": {\"net\": [\"fc3\"]}}"
expect 2 "no such file" "sweep|nothere.json" -- "$SOMA" sweep "$T/nothere.json"
expect 2 "no file named" "sweep file" -- "$SOMA" sweep --quiet
expect 2 "unknown option" "unknown option" -- "$SOMA" sweep "$T/s.json" --fast

sh_report test_sweep_cli
