#!/usr/bin/env bash
# soma vs NumPy/SciPy on RSA: RDMs and a permutation test, side by side, one invocation.
#
# Workloads: (a) the RDM of 1000 x 10000 standard-normal data, correlation and euclidean;
# the peers are scipy.spatial.distance.pdist and a NumPy Gram-matrix version (X X' through
# NumPy's BLAS), both reported; (b) a Spearman RSA permutation test, 100 conditions, 10,000
# permutations, against a NumPy loop doing the same (ranks once, then per permutation the
# relabelled rank matrix and one correlation). soma's side is bench/rsa_bench.c, built here
# with cc against build/libsoma.a and build/soma-static.pc's link flags. Only the computation
# is timed on both sides. For rep in 1..REPS the tasks run interleaved, and which side goes
# first alternates each rep. Prints per-task medians and the median of the per-rep ratios
# (peer seconds / soma seconds; target >= 5 against pdist and the loop), writes JSON
# (default out/bench/vs_numpy-<date>.json), and names the CPU and thread count.
#
# Usage: bench/vs_numpy.sh [--reps N] [--threads T] [--out FILE] [--small]
#        --small: 300 x 3000 data and 2000 permutations (a quick smoke run)
# Env:   REPS (3), THREADS (2; OMP_NUM_THREADS and OPENBLAS_NUM_THREADS of both sides),
#        PYTHON (/usr/bin/python3), CC (cc), BUILD (build).
# Exit:  0 when every run succeeded (targets met or not), 1 when a run failed,
#        2 on a bad set-up (no build, no numpy/scipy, no compiler).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-3}
THREADS=${THREADS:-2}
PY=${PYTHON:-/usr/bin/python3}
CC=${CC:-cc}
BUILD=${BUILD:-$ROOT/build}
N=1000 P=10000 NC=100 NPERM=10000
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --small) N=300 P=3000 NPERM=2000; shift ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vs_numpy: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$ROOT/out/bench/vs_numpy-$(date +%Y%m%d-%H%M%S).json}
die() { echo "vs_numpy: $*" >&2; exit 2; }

[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, got '$REPS'"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$THREADS'"
[ -f "$BUILD/libsoma.a" ] && [ -f "$BUILD/soma-static.pc" ] ||
  die "no $BUILD/libsoma.a or soma-static.pc: run 'make build'"
"$PY" -c 'import numpy, scipy' 2>/dev/null ||
  die "$PY cannot import numpy and scipy: install python3-numpy python3-scipy (scripts/deps.sh)"
command -v "$CC" >/dev/null || die "no C compiler '$CC'"
mkdir -p "$(dirname "$OUT")" || die "cannot create $(dirname "$OUT")"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LIBS=$(sed -n 's/^Libs: \${libdir}\/libsoma\.a //p' "$BUILD/soma-static.pc")
REQ=$(sed -n 's/^Requires: //p' "$BUILD/soma-static.pc")
# shellcheck disable=SC2086
"$CC" -O2 -std=c11 -I"$ROOT/include" "$ROOT/bench/rsa_bench.c" "$BUILD/libsoma.a" $LIBS \
  $(pkg-config --libs $REQ) -o "$TMP/rsa_bench" 2>"$TMP/cc.err" ||
  { cat "$TMP/cc.err" >&2; die "cannot build bench/rsa_bench.c against $BUILD/libsoma.a"; }

CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "vs_numpy: CPU: ${CPU:-unknown}, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "vs_numpy: threads $THREADS (both sides), $REPS reps, RDM $N x $P, permutations $NPERM of $NC conditions"
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

FAILED=0
RAW=$TMP/raw.jsonl
run() { # run SIDE REP ARGS...
  local side=$1 rep=$2 line
  shift 2
  if [ "$side" = soma ]; then line=$("$TMP/rsa_bench" "$@") || { FAILED=1; return; }
  else line=$("$PY" "$ROOT/bench/numpy_rsa.py" "$@") || { FAILED=1; return; }; fi
  echo "{\"side\": \"$side\", \"rep\": $rep, \"result\": $line}" | tee -a "$RAW"
}
for rep in $(seq 1 "$REPS"); do
  if [ $((rep % 2)) -eq 1 ]; then order="soma numpy"; else order="numpy soma"; fi
  for task in "rdm correlation $N $P $rep" "rdm euclidean $N $P $rep" "perm $NC $NPERM $rep"; do
    for side in $order; do
      # shellcheck disable=SC2086
      run "$side" "$rep" $task
    done
  done
done

"$PY" - "$RAW" "$OUT" "$CPU" "$THREADS" <<'PYEOF'
import json, statistics, sys
raw, out, cpu, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = [json.loads(l) for l in open(raw)]
tasks = sorted({r["result"]["task"] for r in rows})
report = {"cpu": cpu, "threads": threads, "tasks": {}}
print(f"{'task':<18}{'soma s':>10}{'peer s':>10}{'ratio':>8}{'numpy-gram s':>14}{'ratio':>8}  target >= 5")
for t in tasks:
    by = {}
    for r in rows:
        if r["result"]["task"] == t:
            by.setdefault(r["rep"], {})[r["side"]] = r["result"]
    pairs = [v for v in by.values() if "soma" in v and "numpy" in v]
    if not pairs:
        continue
    s = [p["soma"]["seconds"] for p in pairs]
    q = [p["numpy"]["seconds"] for p in pairs]
    ratio = statistics.median(b / a for a, b in zip(s, q))
    entry = {"soma_median_s": statistics.median(s), "peer_median_s": statistics.median(q),
             "median_ratio": ratio, "reps": len(pairs), "target_met": ratio >= 5}
    g = ""
    if "gram_seconds" in pairs[0]["numpy"]:
        gs = [p["numpy"]["gram_seconds"] for p in pairs]
        entry["numpy_gram_median_s"] = statistics.median(gs)
        entry["gram_median_ratio"] = statistics.median(b / a for a, b in zip(s, gs))
        g = f"{entry['numpy_gram_median_s']:>14.3f}{entry['gram_median_ratio']:>8.2f}"
    else:
        g = f"{'-':>14}{'-':>8}"
    report["tasks"][t] = entry
    print(f"{t:<18}{entry['soma_median_s']:>10.3f}{entry['peer_median_s']:>10.3f}{ratio:>8.2f}{g}  "
          f"{'met' if ratio >= 5 else 'MISSED'}")
json.dump(report, open(out, "w"), indent=1)
print(f"vs_numpy: wrote {out}")
PYEOF
[ $? -eq 0 ] || FAILED=1
exit $FAILED
