#!/usr/bin/env bash
# soma fm: pre-training on a folder of NPY sessions (different unit counts, shared latent
# rotation), a run killed (SIGKILL) after its first checkpoint and resumed ends with the same
# validation history, bit for bit, as an uninterrupted run; finetune for each task, with the
# metrics in results.json recomputed by NumPy from the NPY outputs (co-bps, fp-bps, AUROC) and
# decoding well above chance; NWB input (binned on an event, behaviour series for decoding); bad options and files exit 2 with one "soma: ..." line.
set -u
SOMA=${1:?usage: test_fm_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
need_numpy

mkdir -p "$T/sess"
$PY - "$T" <<'EOF' || bad "making the NPY sessions"
import sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
B = 20
t = np.arange(B)
def session(K, U, seed):
    r = np.random.default_rng(seed)
    ph = r.uniform(0, 2 * np.pi, size=(K, 1))
    z = np.stack([np.sin(0.3 * t + ph), np.cos(0.3 * t + ph)], -1)
    W = r.normal(size=(2, U))
    return r.poisson(np.exp(np.log(0.4) + z @ W)).astype(np.float32), z.astype(np.float32)
for i, U in enumerate((12, 18, 15)):
    x, _ = session(40, U, i)
    np.save(f"{d}/sess/s{i}.npy", x)
x, z = session(60, 14, 10)
np.save(f"{d}/new.npy", x)
np.save(f"{d}/beh.npy", z)
lab = np.zeros(60, dtype=np.float32)
lab[1::2] = 1
xa = x.copy()
for k in range(1, 60, 2):
    xa[k] = xa[k][:, rng.permutation(14)]
np.save(f"{d}/anom.npy", xa)
np.save(f"{d}/lab.npy", lab)
np.save(f"{d}/flat.npy", x.reshape(60 * B, 14))
np.save(f"{d}/neg.npy", -x)
np.save(f"{d}/bins30.npy", np.zeros((5, 30, 14), dtype=np.float32))
np.save(f"{d}/beh_bad.npy", z[:10])
EOF

PRE=(--d-model 16 --layers 1 --heads 2 --batch 8 --lr 5e-3 --warmup 20 --eval-every 50 --quiet)
expect 0 "pretrain folder" "" -- "$SOMA" fm pretrain --data "$T/sess" --out "$T/pre.ckpt" --results "$T/pre" \
    --steps 200 --ckpt-every 100 "${PRE[@]}"
$PY - "$T/pre" <<'EOF' && ok || bad "pretrain outputs"
import json, sys
d = sys.argv[1]
j = json.load(open(d + "/results.json"))
h = j["history"]
assert j["sessions"] == 3 and j["bins"] == 20 and j["steps"] == 200 and len(h) == 4, j
assert [e["step"] for e in h] == [50, 100, 150, 200]
assert h[-1]["valid_bps"] > 0 and h[-1]["valid_nll"] < h[0]["valid_nll"], h
assert "<svg" in open(d + "/loss.svg").read()[:400]
EOF
"$SOMA" fm info "$T/pre.ckpt" >"$T/info" 2>&1 && grep -q "units: 12 18 15" "$T/info" && grep -q "step 200 of 200" "$T/info" &&
    ok || bad "fm info: $(cat "$T/info")"

# kill -9 after the first checkpoint, resume: the same history as an uninterrupted run
RUN=(--data "$T/sess/s0.npy,$T/sess/s1.npy" --steps 600 "${PRE[@]}")
expect 0 "uninterrupted run" "" -- "$SOMA" fm pretrain "${RUN[@]}" --ckpt-every 0 --out "$T/a.ckpt" --results "$T/a"
"$SOMA" fm pretrain "${RUN[@]}" --ckpt-every 100 --out "$T/b.ckpt" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 2000); do
    [ -f "$T/b.ckpt" ] && break
    sleep 0.005
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
"$SOMA" fm info "$T/b.ckpt" >"$T/binfo" 2>&1
if grep -q "step 600 of 600" "$T/binfo"; then
    bad "the run finished before it could be killed: $(cat "$T/binfo")"
else
    echo "  killed at: $(grep run: "$T/binfo")"
    grep -q "of 600" "$T/binfo" && ok || bad "killed run's checkpoint: $(cat "$T/binfo")"
fi
expect 0 "resume" "" -- "$SOMA" fm pretrain "${RUN[@]}" --ckpt-every 100 --out "$T/b.ckpt" --results "$T/b" --resume
$PY - "$T/a/results.json" "$T/b/results.json" <<'EOF' && ok || bad "resumed history differs"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["steps"] == b["steps"] == 600
assert a["history"] == b["history"], [(x, y) for x, y in zip(a["history"], b["history"]) if x != y][:3]
EOF

# finetune, each task
FT=(--ckpt "$T/pre.ckpt" --train-trials 30 --steps 120 --lr 5e-3 --warmup 20 --eval-every 100 --quiet)
expect 0 "finetune decode" "" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --task decode --behavior "$T/beh.npy" -o "$T/dec"
expect 0 "finetune cosmooth" "" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --task cosmooth -o "$T/co"
expect 0 "finetune forecast" "" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --task forecast --forecast-bins 4 \
    -o "$T/fp" --save "$T/adapted.ckpt"
"$SOMA" fm info "$T/adapted.ckpt" >"$T/ainfo" 2>&1 && grep -q "units: 12 18 15 14" "$T/ainfo" && ok ||
    bad "adapted checkpoint: $(cat "$T/ainfo")"
expect 0 "finetune anomaly" "" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/anom.npy" --task anomaly \
    --labels "$T/lab.npy" -o "$T/an"
expect 0 "finetune from scratch" "" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --task cosmooth --scratch -o "$T/co_s"
$PY - "$T" <<'EOF' && ok || bad "finetune outputs"
import json, sys
import numpy as np
d = sys.argv[1]
x = np.load(d + "/new.npy")
ev = x[30:]
def bps(rates, spikes):
    rates = np.maximum(rates, 1e-9)
    null = np.tile(spikes.mean(0), (spikes.shape[0], 1))
    nll = lambda r: (r - spikes * np.log(r)).sum()
    return (nll(null) - nll(rates)) / (spikes.sum() * np.log(2))
j = json.load(open(d + "/dec/results.json"))
assert j["vel_r2"] > 0.5 and j["mode"] == "frozen" and j["train_trials"] == 30, j
assert np.load(d + "/dec/latents.npy").shape == (60, 20, 16)
j = json.load(open(d + "/co/results.json"))
h = j["heldout_units"]
r = np.load(d + "/co/rates.npy")
assert r.shape == (30, 20, 14) and len(h) == 4, (r.shape, h)
got = bps(r[:, :, h].reshape(-1, len(h)), ev[:, :, h].reshape(-1, len(h)))
assert abs(got - j["co_bps"]) < 1e-4 and j["co_bps"] > 0, (got, j["co_bps"])
j = json.load(open(d + "/fp/results.json"))
f = np.load(d + "/fp/forecast.npy")
assert f.shape == (30, 4, 14) and j["forecast_bins"] == 4
got = bps(f.reshape(-1, 14), ev[:, -4:, :].reshape(-1, 14))
assert abs(got - j["fp_bps"]) < 1e-4 and j["fp_bps"] > 0, (got, j["fp_bps"])
j = json.load(open(d + "/an/results.json"))
s = np.load(d + "/an/scores.npy")
lab = np.load(d + "/lab.npy")[30:]
pos, neg = s[lab == 1], s[lab == 0]
auc = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
assert s.shape == (30,) and abs(auc - j["anomaly_auroc"]) < 1e-9 and auc > 0.6, (auc, j["anomaly_auroc"])
assert "<svg" in open(d + "/an/scores.svg").read()[:400] and "<svg" in open(d + "/an/loss.svg").read()[:400]
assert json.load(open(d + "/co_s/results.json"))["mode"] == "scratch"
EOF

# NWB sessions (tests/ref/gen_nwb.py's fixture, 8 trials of 5 units), binned on the go cue;
# decoding its hand position from the latents
SRC=${SOMA_SOURCE_DIR:-$(dirname "$0")/..}
NWB=$SRC/tests/fixtures/neuro/session.nwb
BIN=(--bin-ms 50 --align go_cue_time --pre-ms -200 --post-ms 800)
expect 0 "pretrain nwb" "" -- "$SOMA" fm pretrain --data "$NWB,$NWB" "${BIN[@]}" --steps 20 --batch 4 --d-model 8 \
    --layers 1 --heads 2 --valid 0.25 --eval-every 10 --out "$T/nwb.ckpt" --quiet
"$SOMA" fm info "$T/nwb.ckpt" >"$T/ninfo" 2>&1 && grep -q "20 bins a trial" "$T/ninfo" && grep -q "units: 5 5" "$T/ninfo" &&
    ok || bad "fm info nwb: $(cat "$T/ninfo")"
expect 0 "finetune nwb decode" "" -- "$SOMA" fm finetune --ckpt "$T/nwb.ckpt" --data "$NWB" "${BIN[@]}" --task decode \
    --behavior xy --train-trials 5 --steps 10 --warmup 2 --eval-every 5 -o "$T/nwbdec" --quiet
$PY - "$T/nwbdec" <<'EOF' && ok || bad "nwb decode outputs"
import json, sys
import numpy as np
d = sys.argv[1]
j = json.load(open(d + "/results.json"))
assert j["train_trials"] == 5 and j["eval_trials"] == 3 and isinstance(j["vel_r2"], float), j
assert np.load(d + "/latents.npy").shape == (8, 20, 8)
EOF
expect 2 "nwb series" "nope" -- "$SOMA" fm finetune --ckpt "$T/nwb.ckpt" --data "$NWB" "${BIN[@]}" --task decode \
    --behavior nope -o "$T/z"

# fm synth: session I of soma_session_make's family (40-80 units), the same each time, with the
# hand velocity (which the counts must predict linearly on held-out trials) and anomaly labels;
# fm pretrain --synthetic N trains on sessions 0..N-1 of that family (fm info lists their units)
expect 0 "synth" "" -- "$SOMA" fm synth --index 2 --trials 40 --bins 30 -o "$T/syn_a.npy" \
    --behavior-out "$T/syn_v.npy" --anomaly-frac 0.5 --labels-out "$T/syn_l.npy"
expect 0 "synth again" "" -- "$SOMA" fm synth --index 2 --trials 40 --bins 30 -o "$T/syn_b.npy" --anomaly-frac 0.5
expect 0 "synth 0" "" -- "$SOMA" fm synth --index 0 --trials 8 --bins 10 -o "$T/syn_0.npy"
expect 0 "synth 1" "" -- "$SOMA" fm synth --index 1 --trials 8 --bins 10 -o "$T/syn_1.npy"
expect 0 "pretrain synthetic" "" -- "$SOMA" fm pretrain --synthetic 2 --synth-trials 8 --synth-bins 10 --steps 4 \
    "${PRE[@]}" --out "$T/syn.ckpt"
"$SOMA" fm info "$T/syn.ckpt" >"$T/syn_info.txt" 2>&1 || bad "fm info on the synthetic checkpoint"
$PY - "$T" <<'EOF' && ok || bad "fm synth output"
import re, sys
import numpy as np
d = sys.argv[1]
a, b = (np.load(d + f"/syn_{k}.npy") for k in "ab")
v, lab = np.load(d + "/syn_v.npy"), np.load(d + "/syn_l.npy")
K, B, U = a.shape
assert (K, B) == (40, 30) and 40 <= U <= 80 and a.dtype == np.float32 and (a == b).all() and a.sum() > 0, a.shape
assert (a == np.round(a)).all() and (a >= 0).all()
assert v.shape == (40, 30, 2) and np.isfinite(v).all() and v.std() > 0, v.shape
assert lab.shape == (40,) and set(np.unique(lab)) <= {0, 1, 2, 3} and 8 <= (lab > 0).sum() <= 32, lab
# velocity from smoothed counts by least squares: fit on the first 20 trials, R^2 on the rest
k = np.exp(-0.5 * (np.arange(-4, 5) / 2.0) ** 2); k /= k.sum()
sm = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, a)
X = np.concatenate([sm.reshape(-1, U), np.ones((K * B, 1))], 1)
Y = v.reshape(-1, 2)
n = 20 * B
W = np.linalg.solve(X[:n].T @ X[:n] + 1.0 * np.eye(U + 1), X[:n].T @ Y[:n])
r2 = 1 - ((X[n:] @ W - Y[n:]) ** 2).sum(0) / ((Y[n:] - Y[n:].mean(0)) ** 2).sum(0)
assert r2.mean() > 0.3, r2
units = [int(u) for u in re.search(r"units:([ 0-9]+)\)", open(d + "/syn_info.txt").read()).group(1).split()]
assert units == [np.load(d + f"/syn_{i}.npy").shape[2] for i in (0, 1)], units
EOF
expect 2 "synth without -o" "-o" -- "$SOMA" fm synth --index 2
expect 2 "synth anomaly share" "anomaly-frac" -- "$SOMA" fm synth --index 2 --anomaly-frac 1.5 -o "$T/z.npy"

# bad input: exit 2, one line
expect 2 "no --out" "--out" -- "$SOMA" fm pretrain --data "$T/sess"
expect 2 "data and synthetic" "--synthetic" -- "$SOMA" fm pretrain --data "$T/sess" --synthetic 2 --out "$T/x.ckpt"
expect 2 "missing file" "nope.npy" -- "$SOMA" fm pretrain --data "$T/nope.npy" --out "$T/x.ckpt"
expect 2 "2-D counts" "flat.npy" -- "$SOMA" fm pretrain --data "$T/flat.npy" --out "$T/x.ckpt"
expect 2 "negative counts" "neg.npy" -- "$SOMA" fm pretrain --data "$T/neg.npy" --out "$T/x.ckpt"
expect 2 "bins differ" "same" -- "$SOMA" fm pretrain --data "$T/new.npy,$T/bins30.npy" --out "$T/x.ckpt"
expect 2 "heads" "heads" -- "$SOMA" fm pretrain --data "$T/new.npy" --d-model 10 --heads 4 --out "$T/x.ckpt"
expect 2 "unknown option" "--bogus" -- "$SOMA" fm pretrain --bogus 1
expect 2 "resume other data" "sessions" -- "$SOMA" fm pretrain --data "$T/new.npy" --out "$T/pre.ckpt" --resume
expect 2 "unknown subcommand" "nope" -- "$SOMA" fm nope
expect 2 "finetune needs task" "--task" -- "$SOMA" fm finetune --ckpt "$T/pre.ckpt" --data "$T/new.npy" -o "$T/z"
expect 2 "bad task" "task" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --task dance -o "$T/z"
expect 2 "decode without behavior" "--behavior" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --task decode -o "$T/z"
expect 2 "behavior shape" "beh_bad.npy" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --task decode --behavior "$T/beh_bad.npy" -o "$T/z"
expect 2 "train trials" "--train-trials" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --train-trials 60 --task cosmooth -o "$T/z"
expect 2 "bins of new session" "bins" -- "$SOMA" fm finetune --ckpt "$T/pre.ckpt" --data "$T/bins30.npy" --task cosmooth -o "$T/z"
expect 2 "not a checkpoint" "beh.npy" -- "$SOMA" fm finetune --ckpt "$T/beh.npy" --data "$T/new.npy" --task cosmooth -o "$T/z"
expect 2 "labels shape" "labels" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --task anomaly --labels "$T/beh.npy" -o "$T/z"
expect 2 "forecast bins" "forecast" -- "$SOMA" fm finetune "${FT[@]}" --data "$T/new.npy" --task forecast --forecast-bins 20 -o "$T/z"

sh_report test_fm_cli
