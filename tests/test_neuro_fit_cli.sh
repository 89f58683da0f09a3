#!/usr/bin/env bash
# soma neuro fit: a synthetic Lorenz population and an NPY of counts (with true latents) fit by
# co-smoothing (the baselines and a tiny LFADS); the outputs' shapes, and metrics.json's co-bps recomputed by NumPy from
# rates.npy and the held-out units' counts of the test trials it names; bad options and arrays
# exit 2 with one "soma: ..." line.
set -u
SOMA=${1:?usage: test_neuro_fit_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report

expect 0 "fit synth" "" -- "$SOMA" neuro fit --model fa --synth lorenz --trials 30 --bins 40 --units 24 -o "$T/s"
$PY - "$T/s" <<'EOF' && ok || bad "fit synth outputs"
import json, sys
import numpy as np
d = sys.argv[1]
j = json.load(open(d + "/metrics.json"))
z, r = np.load(d + "/latents.npy"), np.load(d + "/rates.npy")
assert z.shape == (len(j["test_trials"]), 40, 3) and r.shape == (len(j["test_trials"]), 40, 24), (z.shape, r.shape)
assert j["co_bps"] > 0.2 and j["latent_r2"] is not None and len(j["heldout_units"]) == 6, j
for f in ("latents.svg", "rates.svg"):
    assert "<svg" in open(d + "/" + f).read()[:400], f
EOF

# counts from a smooth 2-D latent, written as NPY with the true latents
$PY - "$T" <<'EOF' || bad "making the NPY inputs"
import sys
import numpy as np
rng = np.random.default_rng(4)
K, B, U = 24, 30, 20
t = np.arange(B) / B
ph = rng.uniform(0, 2 * np.pi, size=(K, 1))
z = np.stack([np.sin(2 * np.pi * t + ph), np.cos(4 * np.pi * t + ph)], -1)
W = rng.normal(size=(2, U))
counts = rng.poisson(np.exp(0.2 + z @ W)).astype(np.float32)
np.save(sys.argv[1] + "/x.npy", counts)
np.save(sys.argv[1] + "/z.npy", z.astype(np.float32))
np.save(sys.argv[1] + "/z_bad.npy", z[:5].astype(np.float32))
np.save(sys.argv[1] + "/flat.npy", counts.reshape(K * B, U))
EOF
for m in smooth pca gpfa; do
    expect 0 "fit $m" "" -- "$SOMA" neuro fit --model $m --data "$T/x.npy" --true-latents "$T/z.npy" --latents 2 \
        --heldout 0.25 --iters 10 --quiet -o "$T/$m"
    $PY - "$T/$m" "$T/x.npy" <<'EOF' && ok || bad "fit $m: co-bps recomputed"
import json, sys
import numpy as np
j = json.load(open(sys.argv[1] + "/metrics.json"))
x = np.load(sys.argv[2]).astype(np.float64)
r = np.load(sys.argv[1] + "/rates.npy").astype(np.float64)
ho, te = j["heldout_units"], j["test_trials"]
k, lam = x[te][:, :, ho], r[:, :, ho]
null = np.broadcast_to(k.mean((0, 1), keepdims=True), k.shape)
nll = lambda l: np.sum(l - k * np.log(l))
bps = (nll(null) - nll(lam)) / k.sum() / np.log(2)
assert abs(bps - j["co_bps"]) < 1e-4 * (1 + abs(bps)), (bps, j["co_bps"])
print(sys.argv[1].rsplit("/", 1)[-1], j["co_bps"], j["latent_r2"])
assert j["co_bps"] > 0.1 and j["latent_r2"] > 0.4, j
EOF
done

# a tiny LFADS (~0.7 s of CPU): factors and rates of the test trials, finite, and held-out
# predictions far better than each unit's mean rate (co-bps 0), the Lorenz latents recovered
expect 0 "fit lfads synth" "" -- "$SOMA" neuro fit --model lfads --synth lorenz --trials 80 --bins 40 --units 24 \
    --epochs 100 --enc 16 --gen 16 --factors 4 --batch 16 --lr 0.01 --quiet -o "$T/lf"
$PY - "$T/lf" <<'EOF' && ok || bad "fit lfads synth outputs"
import json, sys
import numpy as np
d = sys.argv[1]
j = json.load(open(d + "/metrics.json"))
z, r = np.load(d + "/latents.npy"), np.load(d + "/rates.npy")
n = len(j["test_trials"])
assert j["model"] == "lfads" and j["latents"] == 4 and n == 16 and len(j["heldout_units"]) == 6, j
assert z.shape == (n, 40, 4) and r.shape == (n, 40, 24), (z.shape, r.shape)
assert np.isfinite(z).all() and np.isfinite(r).all() and (r > 0).all() and z.std() > 1e-3
print("lfads synth", j["co_bps"], j["latent_r2"])
assert j["co_bps"] > 0.3 and j["latent_r2"] > 0.5, j
for f in ("latents.svg", "rates.svg"):
    assert "<svg" in open(d + "/" + f).read()[:400], f
EOF
expect 0 "fit lfads npy" "" -- "$SOMA" neuro fit --model lfads --data "$T/x.npy" --true-latents "$T/z.npy" \
    --epochs 60 --enc 16 --gen 16 --factors 2 --batch 8 --lr 0.01 --seed 2 --quiet -o "$T/lfx"
$PY - "$T/lfx" "$T/x.npy" <<'EOF' && ok || bad "fit lfads npy: co-bps recomputed"
import json, sys
import numpy as np
j = json.load(open(sys.argv[1] + "/metrics.json"))
x = np.load(sys.argv[2]).astype(np.float64)
r = np.load(sys.argv[1] + "/rates.npy").astype(np.float64)
ho, te = j["heldout_units"], j["test_trials"]
assert r.shape == (len(te), 30, 20) and np.load(sys.argv[1] + "/latents.npy").shape == (len(te), 30, 2)
k, lam = x[te][:, :, ho], r[:, :, ho]
null = np.broadcast_to(k.mean((0, 1), keepdims=True), k.shape)
nll = lambda l: np.sum(l - k * np.log(l))
bps = (nll(null) - nll(lam)) / k.sum() / np.log(2)
assert abs(bps - j["co_bps"]) < 1e-4 * (1 + abs(bps)), (bps, j["co_bps"])
print("lfads npy", j["co_bps"], j["latent_r2"])
assert j["co_bps"] > 0.05, j
EOF
expect 2 "lfads epochs 0" "epochs" -- "$SOMA" neuro fit --model lfads --data "$T/x.npy" --epochs 0 -o "$T/b"
expect 2 "lfads cd 1" "cd" -- "$SOMA" neuro fit --model lfads --data "$T/x.npy" --cd 1 -o "$T/b"
expect 2 "lfads option, other model" "LFADS option" -- "$SOMA" neuro fit --model fa --data "$T/x.npy" --gen 8 -o "$T/b"
expect 2 "lfads with --latents" "factors" -- "$SOMA" neuro fit --model lfads --data "$T/x.npy" --latents 3 -o "$T/b"
expect 2 "lfads factors" "factors" -- "$SOMA" neuro fit --model lfads --data "$T/x.npy" --factors 0 -o "$T/b"

expect 2 "no -o" "-o DIR" -- "$SOMA" neuro fit --model fa --synth lorenz
expect 2 "data and synth" "one of --data" -- "$SOMA" neuro fit --synth lorenz --data "$T/x.npy" -o "$T/b"
expect 2 "unknown model" "model" -- "$SOMA" neuro fit --model lfadz --synth lorenz -o "$T/b"
expect 2 "2-D data" "dimensions" -- "$SOMA" neuro fit --data "$T/flat.npy" -o "$T/b"
expect 2 "missing file" "nope.npy" -- "$SOMA" neuro fit --data "$T/nope.npy" -o "$T/b"
expect 2 "held-out fraction" "heldout" -- "$SOMA" neuro fit --data "$T/x.npy" --heldout 1.5 -o "$T/b"
expect 2 "too many latents" "latents" -- "$SOMA" neuro fit --data "$T/x.npy" --latents 40 -o "$T/b"
expect 2 "true latents shape" "true-latents" -- "$SOMA" neuro fit --data "$T/x.npy" --true-latents "$T/z_bad.npy" \
    -o "$T/b"
expect 0 "help" "" -- "$SOMA" neuro fit --help
sh_report neuro_fit_cli
