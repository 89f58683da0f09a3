#!/usr/bin/env bash
# The soma command on bad input: every case exits 2 with a single-line "soma: ..." message
# that names the actual problem (the words are checked), and never crashes. Then, on small
# data: train -> save-npy -> eval both ways; resuming a finished run; results.json records
# every option as given; progress is one line per epoch in a log; `soma predict` against
# NumPy; --quiet on every subcommand.
set -u
SOMA=${1:?usage: test_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report

# options and specs
expect 2 "unknown command" "unknown command|frobnicate" -- "$SOMA" frobnicate
expect 2 "unknown experiment" "no experiment|no-such-experiment" -- "$SOMA" run no-such-experiment
expect 2 "unknown experiment option" "unknown option|--bogus|--margin" -- "$SOMA" run perceptron --bogus 1 --out "$T/o"
expect 2 "bad option value" "--n|'abc' is not an integer" -- "$SOMA" run perceptron --n abc --out "$T/o"
expect 2 "option out of range" "--margin|out of range|0.0001..0.9" -- "$SOMA" run perceptron --margin 5 --out "$T/o"
[ -e "$T/o" ] && bad "a refused run created its folder" || ok
expect 2 "missing option value" "--n|needs a value" -- "$SOMA" run perceptron --n
expect 2 "repeated experiment option" "--n|given twice" -- "$SOMA" run perceptron --n 10 --n 20 --out "$T/o"
expect 2 "repeated global option" "--seed|given twice" -- "$SOMA" run perceptron --seed 1 --seed=2 --out "$T/o"
expect 2 "bad enum in an experiment" "--optim|'rmsprop' is not one of|sgd|adam" -- "$SOMA" run mlp-fmnist --optim rmsprop --out "$T/o"
expect 2 "train without --net" "--data and --net are required" -- "$SOMA" train --data fmnist
expect 2 "train unknown option" "unknown option|--frob" -- "$SOMA" train --data fmnist --net fc10 --frob 3
expect 2 "train repeated option" "--lr|given twice" -- "$SOMA" train --data fmnist --net fc10 --lr 0.1 --lr 0.2
expect 2 "train positional argument" "unexpected argument|extra" -- "$SOMA" train --data fmnist --net fc10 extra
expect 2 "train bad spec" "fc10,,relu|empty" -- "$SOMA" train --data fmnist --net "fc10,,relu"
expect 2 "train unknown layer" "wibble" -- "$SOMA" train --data fmnist --net "fc10,wibble"
expect 2 "train shape mismatch" "conv29x29x4" -- "$SOMA" train --data fmnist --net "conv29x29x4,fc10"
expect 2 "train too few outputs" "5 outputs|10 classes" -- "$SOMA" train --data fmnist --net "fc5" --n-train 100 --n-test 100
expect 2 "train layer too large" "fc2000000000|too large" -- "$SOMA" train --data fmnist --net "fc2000000000" --n-train 100
expect 2 "train bad epochs" "--epochs|'abc' is not an integer" -- "$SOMA" train --data fmnist --net fc10 --epochs abc
expect 2 "train absurd batch" "--batch|out of range|1..65536" -- "$SOMA" train --data fmnist --net fc10 --batch 999999999
expect 2 "train bad optimizer" "--optim|'rmsprop' is not one of" -- "$SOMA" train --data fmnist --net fc10 --optim rmsprop --n-train 100
expect 2 "train flag with a value" "--resume|takes no value" -- "$SOMA" train --data fmnist --net fc10 --resume=yes
expect 2 "train missing data" "none.npy" -- "$SOMA" train --data npy:"$T/none.npy","$T/none2.npy" --net fc10
expect 2 "train bad data spec" "mnist-please" -- "$SOMA" train --data "mnist-please" --net fc10
expect 2 "fmnist dir missing" "$T/nowhere" -- "$SOMA" train --data fmnist --fmnist-dir "$T/nowhere" --net fc10
expect 2 "resume without ckpt" "--resume needs --ckpt" -- "$SOMA" train --data fmnist --net fc10 --resume
expect 2 "eval without params" "no parameters|--init-npy|--ckpt" -- "$SOMA" eval --data fmnist --net fc10
expect 2 "eval with both params" "--init-npy and --ckpt|only one" -- "$SOMA" eval --data fmnist --net fc10 --init-npy "$T/npy" --ckpt "$T/run.ckpt"
expect 2 "predict with both params" "--init-npy and --ckpt|only one" -- "$SOMA" predict --data fmnist --net fc10 --init-npy a --ckpt b -o "$T/p.npy"
expect 2 "predict without output" "-o OUT.npy" -- "$SOMA" predict --data fmnist --net fc10 --init-npy "$T/none"
expect 2 "list with an argument" "unexpected argument|extra" -- "$SOMA" list extra
expect 2 "report unknown option" "unknown option|--frob" -- "$SOMA" report --frob

# corrupt and truncated files
printf '\x00\x00\x08\x03\x00\x00\xea\x60\x00\x00\x00\x1c\x00\x00\x00\x1c\x01\x02' >"$T/trunc-images"
printf '\x00\x00\x08\x01\x00\x00\xea\x60' >"$T/labels"
expect 2 "truncated IDX" "trunc-images" -- "$SOMA" train --data "idx:$T/trunc-images,$T/labels" --net fc10
printf '\x00\x00\x08\x03\x7f\xff\xff\xff\x7f\xff\xff\xff\x7f\xff\xff\xff' >"$T/absurd-images"
expect 2 "absurd IDX header" "absurd-images" -- "$SOMA" train --data "idx:$T/absurd-images,$T/labels" --net fc10
printf 'not a gzip or idx file at all' >"$T/junk"
expect 2 "junk IDX" "junk" -- "$SOMA" train --data "idx:$T/junk,$T/labels" --net fc10
printf '\x93NUMPY\x01\x00\x76\x00{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (10, 784), }' >"$T/trunc.npy"
expect 2 "truncated NPY" "trunc.npy" -- "$SOMA" train --data "npy:$T/trunc.npy,$T/trunc.npy" --net fc10
printf '\x93NUMPY\x01\x00\xff\xff' >"$T/bad.npy"
expect 2 "corrupt NPY header" "bad.npy" -- "$SOMA" train --data "npy:$T/bad.npy,$T/bad.npy" --net fc10
head -c 1000 /dev/urandom >"$T/bad.ckpt"
expect 2 "corrupt checkpoint" "bad.ckpt" -- "$SOMA" eval --data fmnist --net fc10 --ckpt "$T/bad.ckpt"
expect 2 "missing NPY parameters" "$T/none" -- "$SOMA" eval --data fmnist --net fc10 --init-npy "$T/none"

# --- small data of our own: predict against NumPy -------------------------------------------
# X [60, 12] float32, y [60] in 0..2; train fc8,relu,fc3 one epoch, save NPY, then the
# activations of layer 1 (after relu) and the outputs, each computed again by NumPy.
"$PY" - "$T" <<'EOF' || bad "python3 with numpy is needed for the predict test"
import sys, numpy as np
t = sys.argv[1]
r = np.random.default_rng(5)
np.save(t + "/X.npy", r.standard_normal((60, 12)).astype(np.float32))
np.save(t + "/y.npy", r.integers(0, 3, 60).astype(np.int64))
EOF
DATA="npy:$T/X.npy,$T/y.npy"
expect 0 "train on npy" "" -- "$SOMA" train --data "$DATA" --net "fc8,relu,fc3" --epochs 1 --batch 16 \
    --save-npy "$T/pnpy" --threads 2 --quiet
expect 0 "predict layer 1" "" -- "$SOMA" predict --data "$DATA" --split train --net "fc8,relu,fc3" \
    --init-npy "$T/pnpy" --layer 1 -o "$T/h.npy" --threads 2
expect 0 "predict outputs" "" -- "$SOMA" predict --data "$DATA" --split train --net "fc8,relu,fc3" \
    --init-npy "$T/pnpy" --out "$T/o.npy" --threads 2 --quiet
expect 2 "predict layer out of range" "--layer 3|layers 0..2" -- "$SOMA" predict --data "$DATA" \
    --net "fc8,relu,fc3" --init-npy "$T/pnpy" --layer 3 -o "$T/x.npy"
if "$PY" - "$T" <<'EOF'; then ok; else bad "predict: activations differ from NumPy's"; fi
import sys, numpy as np
t = sys.argv[1]
X = np.load(t + "/X.npy").astype(np.float64)
w0, b0 = np.load(t + "/pnpy/0.weight.npy"), np.load(t + "/pnpy/0.bias.npy")
w2, b2 = np.load(t + "/pnpy/2.weight.npy"), np.load(t + "/pnpy/2.bias.npy")
h = np.maximum(X @ w0.T + b0, 0)
o = h @ w2.T + b2
H, O = np.load(t + "/h.npy"), np.load(t + "/o.npy")
assert H.shape == (60, 8) and O.shape == (60, 3), (H.shape, O.shape)
assert H.dtype == np.float32 and O.dtype == np.float32
assert np.abs(H).max() > 0 and (H == 0).any()  # relu did something
eh, eo = np.abs(H - h).max(), np.abs(O - o).max()
assert eh < 1e-5 and eo < 1e-5, (eh, eo)
EOF

# --- Fashion-MNIST: train, save, eval both ways, resume, options, progress -------------------
if [ -d "${SOMA_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}" ]; then
    expect 0 "small train" "" -- "$SOMA" train --data fmnist --net "fc32,relu,fc10" --epochs 2 --n-train 3000 \
        --n-test 1000 --save-npy "$T/npy" --ckpt "$T/run.ckpt" --threads 2 --lr 0.0015 --momentum 0.5 \
        --out "$T/train"
    # progress in a log (stderr is a file here): one line per epoch, no carriage returns
    if [ "$(grep -c 'epoch [12]/2' "$T/err")" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 2 ] && ! grep -q $'\r' "$T/err"; then
        ok
    else
        bad "progress in a log: want 2 lines 'epoch 1/2', 'epoch 2/2', got: $(cat -A "$T/err" | head -c 600)"
    fi
    acc_train=$(grep '"test_accuracy"' "$T/out" | head -1 | tr -dc '0-9.')
    [ -f "$T/train/results.json" ] && [ -f "$T/npy/0.weight.npy" ] && [ -f "$T/npy/2.bias.npy" ] \
        && ok || bad "small train: outputs missing"
    # results.json: every option, the learning rate as given, version, date, machine
    if "$PY" - "$T/train/results.json" <<'EOF'; then ok; else bad "train results.json lacks options"; fi
import json, sys
d = json.load(open(sys.argv[1]))
o = d["options"]
assert o["lr"] == "0.0015", o["lr"]
assert o["momentum"] == "0.5" and o["sched"] == "constant" and o["weight-decay"] == "0", o
assert o["epochs"] == "2" and o["optim"] == "adam" and o["resume"] is False, o
for k in ("step-size", "gamma", "lr-min", "batch", "seed", "threads", "n-train", "data", "net"):
    assert k in o, k
assert d["soma_version"] and d["date"].endswith("Z") and d["machine"]["cores"] >= 1
EOF
    expect 0 "eval from NPY" "" -- "$SOMA" eval --data fmnist --net "fc32,relu,fc10" --init-npy "$T/npy" --quiet
    acc_npy=$(grep '"test_accuracy"' "$T/out" | tr -dc '0-9.')
    expect 2 "eval NPY into the wrong net" "0.weight" -- "$SOMA" eval --data fmnist --net "fc64,relu,fc10" --init-npy "$T/npy"
    expect 2 "checkpoint into the wrong net" "fc64" -- "$SOMA" eval --data fmnist --net "fc64,relu,fc10" --ckpt "$T/run.ckpt"
    expect 0 "eval from checkpoint" "" -- "$SOMA" eval --data fmnist --net "fc32,relu,fc10" --ckpt "$T/run.ckpt"
    acc_ckpt=$(grep '"test_accuracy"' "$T/out" | tr -dc '0-9.')
    if awk -v a="$acc_npy" -v b="$acc_ckpt" 'BEGIN { exit !(a == b && a > 0.5) }'; then
        ok
    else
        bad "eval: NPY accuracy '$acc_npy' vs checkpoint '$acc_ckpt' (train printed '$acc_train' on 1000)"
    fi
    # resuming the finished run trains nothing and prints its final figures, not null
    expect 0 "resume a finished run" "" -- "$SOMA" train --data fmnist --net "fc32,relu,fc10" --epochs 2 \
        --n-train 3000 --n-test 1000 --ckpt "$T/run.ckpt" --resume --threads 2 --quiet
    acc_resume=$(grep '"test_accuracy"' "$T/out" | head -1 | tr -dc '0-9.')
    if [ -n "$acc_resume" ] && awk -v a="$acc_resume" -v b="$acc_train" 'BEGIN { exit !(a == b) }' \
        && grep -q '"train_loss":[[:space:]]*[0-9]' "$T/out"; then
        ok
    else
        bad "resume of a finished run: test_accuracy '$acc_resume', want '$acc_train'; $(head -c 300 "$T/out")"
    fi
    ls "$T"/run.ckpt.tmp* >/dev/null 2>&1 && bad "temp checkpoint left behind"
    # on a terminal (forced): redraws in place, and each epoch's line stays (ends in a newline)
    SOMA_PROGRESS=1 "$SOMA" train --data fmnist --net "fc32,relu,fc10" --epochs 2 --n-train 3000 --n-test 500 \
        --threads 2 >/dev/null 2>"$T/tty"
    if [ "$(grep -c 'train: epoch [12]/2: train_loss' "$T/tty")" -eq 2 ] && grep -q $'\r' "$T/tty"; then
        ok
    else
        bad "progress on a terminal: $(cat -A "$T/tty" | head -c 600)"
    fi
    # predict through a conv layer: [N, C, H, W], checked against NumPy on the raw images
    expect 0 "train conv" "" -- "$SOMA" train --data fmnist --net "conv5x5x4,relu,fc10" --epochs 1 --n-train 500 \
        --n-test 100 --save-npy "$T/cnpy" --threads 2 --quiet
    expect 0 "predict conv layer" "" -- "$SOMA" predict --data fmnist --net "conv5x5x4,relu,fc10" --init-npy "$T/cnpy" \
        --layer 0 --n 7 -o "$T/c.npy" --quiet
    if "$PY" - "$T" "${SOMA_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}" <<'EOF'; then ok; else bad "predict conv: differs from NumPy"; fi
import gzip, sys, numpy as np
t, d = sys.argv[1], sys.argv[2]
raw = gzip.open(d + "/t10k-images-idx3-ubyte.gz").read()
x = np.frombuffer(raw, np.uint8, offset=16)[: 7 * 784].reshape(7, 28, 28).astype(np.float64) / 255
w, b = np.load(t + "/cnpy/0.weight.npy"), np.load(t + "/cnpy/0.bias.npy")
win = np.lib.stride_tricks.sliding_window_view(x, (5, 5), axis=(1, 2))  # [7, 24, 24, 5, 5]
ref = np.einsum("nijkl,ckl->ncij", win, w[:, 0]) + b[None, :, None, None]
got = np.load(t + "/c.npy")
assert got.shape == (7, 4, 24, 24), got.shape
err = np.abs(got - ref).max()
assert err < 1e-5, err
EOF
    # a reduced experiment run says so instead of failing
    expect 0 "reduced run" "" -- "$SOMA" run mlp-fmnist --n-train 1000 --n-test 500 --epochs 1 --threads 2 \
        --quiet --out "$T/runs"
    grep -q "reduced: not comparable with the landmark" "$T/out" && ! grep -q "NOT reproduced" "$T/out" \
        && ok || bad "reduced run: $(cat "$T/out")"
    expect 0 "report --quiet" "" -- "$SOMA" report --out "$T/runs" --quiet
    [ -s "$T/runs/report.html" ] && [ ! -s "$T/out" ] && ok || bad "report --quiet printed or wrote nothing"
    grep -q "reduced: not comparable with the landmark" "$T/runs/report.html" && ok \
        || bad "report lacks the reduced note"
elif [ "${SOMA_REQUIRE_FMNIST:-0}" = 1 ]; then
    bad "Fashion-MNIST not installed and SOMA_REQUIRE_FMNIST=1"
else
    echo "*** SKIPPED: Fashion-MNIST not installed; the train/eval round trip was not run ***" >&2
    skipped=1
fi

# --quiet on every subcommand
expect 0 "list --quiet" "" -- "$SOMA" list --quiet
grep -qx "perceptron" "$T/out" && ok || bad "list --quiet: $(head -3 "$T/out")"
expect 0 "version --quiet" "" -- "$SOMA" version --quiet
expect 0 "run --quiet" "" -- "$SOMA" run perceptron --n 50 --quiet --out "$T/q"
[ ! -s "$T/err" ] && ok || bad "run --quiet wrote to stderr: $(head -c 200 "$T/err")"
expect 0 "help" "" -- "$SOMA" train --help
grep -q "conv" "$T/out" && grep -q -- "--lr X" "$T/out" && ok || bad "train --help lacks the grammar or options"

sh_report test_cli
