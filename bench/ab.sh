#!/usr/bin/env bash
# Two soma builds side by side: "is the new one slower anywhere?" (before/after a change).
#
# For T in THREADS, for rep in 1..REPS, both builds train the bench's MLP and LeNet for one
# epoch (the vs_torch.sh workloads: Fashion-MNIST, batch 64, Adam lr 1e-3, seed 1, no
# evaluation), interleaved, which build goes first alternating each rep. Prints each build's
# median samples/s and the median of the per-pair ratios B/A, and writes them as JSON.
#
# Usage: bench/ab.sh SOMA_A SOMA_B [--reps N] [--threads "1 2"] [--out FILE]
# Exit:  0 when every run succeeded, 1 when one failed, 2 on a bad set-up.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
[ $# -ge 2 ] || { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
A=$1 B=$2
shift 2
REPS=${REPS:-5}
THREADS=${THREADS:-"1 2"}
OUT=$ROOT/out/bench/ab-$(date +%Y%m%d-%H%M%S).json
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "ab: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
for s in "$A" "$B"; do [ -x "$s" ] || { echo "ab: no soma binary at $s" >&2; exit 2; }; done
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "ab: REPS must be a positive integer" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")" || exit 2
declare -A SPEC=(
  [mlp]="fc512,relu,fc256,relu,fc10"
  [lenet]="conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10"
)
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT
FAILED=0
one() { # one BUILD_LABEL BINARY NET T REP
  local sps
  sps=$(OMP_NUM_THREADS=$4 "$2" train --data fmnist --net "${SPEC[$3]}" --epochs 1 --batch 64 --lr 0.001 \
        --optim adam --threads "$4" --seed 1 --no-eval --quiet 2>/dev/null |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])') || { FAILED=1; return; }
  echo "$1 $3 $4 $5 $sps" | tee -a "$RAW"
}
echo "ab: A=$A"
echo "ab: B=$B"
echo "ab: $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $THREADS; do
  for rep in $(seq 1 "$REPS"); do
    for net in mlp lenet; do
      if [ $((rep % 2)) = 1 ]; then one A "$A" $net "$t" "$rep"; one B "$B" $net "$t" "$rep"
      else one B "$B" $net "$t" "$rep"; one A "$A" $net "$t" "$rep"; fi
    done
  done
done
"$PY" - "$RAW" "$OUT" "$A" "$B" <<'PYEOF'
import json, statistics, sys
raw, out, a, b = sys.argv[1:5]
runs = {}
for line in open(raw):
    side, net, t, rep, sps = line.split()
    runs.setdefault((net, int(t)), {}).setdefault(int(rep), {})[side] = float(sps)
rows = []
print(f"{'net':6} {'threads':>7} {'A samples/s':>12} {'B samples/s':>12} {'B/A (median of pairs)':>22}")
for (net, t), reps in sorted(runs.items()):
    pairs = [r for r in reps.values() if "A" in r and "B" in r]
    ma = statistics.median(r["A"] for r in pairs)
    mb = statistics.median(r["B"] for r in pairs)
    ratio = statistics.median(r["B"] / r["A"] for r in pairs)
    rows.append({"net": net, "threads": t, "a_median": ma, "b_median": mb, "ratio_median": ratio,
                 "pairs": len(pairs)})
    print(f"{net:6} {t:>7} {ma:>12,.0f} {mb:>12,.0f} {ratio:>21.3f}x")
json.dump({"a": a, "b": b, "rows": rows}, open(out, "w"), indent=1)
print("ab: wrote", out)
PYEOF
exit $FAILED
