#!/usr/bin/env bash
# soma continual --method generative_replay on the user's own data (npy:X,Y,TASKS made here with
# NumPy: two tasks of Gaussian classes, so the gaussian likelihood): the run's JSON holds a 2x2
# accuracy matrix in [0, 1] and a positive memory; hard targets run too; bad --gen-* input (an
# unknown likelihood or target kind, a latent out of range, a bad hidden spec, the bernoulli
# likelihood on data outside [0, 1]) exits 2 with one "soma: ..." line.
set -u
SOMA=${1:?usage: test_cl_gen_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
need_numpy
gauss_tasks 4 200 2 3.0
S="npy:$T/X.npy,$T/Y.npy,$T/T.npy"
G="--gen-lik gaussian --gen-hidden fc16,relu --gen-latent 3"
for tg in soft hard; do
    if "$SOMA" continual --stream "$S" --method generative_replay $G --gen-targets $tg --net fc16,relu,fc4 \
        --epochs 2 --batch 16 --lr 0.01 --quiet >"$T/json" 2>"$T/err"; then
        "$PY" - "$T/json" <<'EOF2' && ok || bad "generative_replay $tg JSON: $(head -c 300 "$T/json")"
import sys, json
a = json.load(open(sys.argv[1]))
R = a["R"]
assert a["method"] == "generative_replay" and len(R) == 2 and all(len(r) == 2 for r in R)
assert all(0 <= v <= 1 for r in R for v in r) and a["memory_bytes"] > 0
EOF2
    else
        bad "generative_replay $tg failed: $(head -c 300 "$T/err")"
    fi
done
expect 2 "unknown likelihood" "gen-lik|laplace" -- "$SOMA" continual --stream "$S" --method generative_replay --gen-lik laplace
expect 2 "unknown targets" "gen-targets|fuzzy" -- "$SOMA" continual --stream "$S" --method generative_replay --gen-targets fuzzy
expect 2 "latent out of range" "gen-latent" -- "$SOMA" continual --stream "$S" --method generative_replay --gen-latent 0
expect 2 "bad hidden spec" "bogus" -- "$SOMA" continual --stream "$S" --method generative_replay --gen-lik gaussian --gen-hidden fc8,bogus --net fc16,relu,fc4
expect 2 "bernoulli on real data" "bernoulli|[0, 1]" -- "$SOMA" continual --stream "$S" --method generative_replay --net fc16,relu,fc4
sh_report test_cl_gen_cli
