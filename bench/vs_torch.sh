#!/usr/bin/env bash
# soma vs PyTorch: training throughput and peak memory, side by side, one invocation.
#
# Workloads: MLP 784-512-256-10 and a LeNet-style CNN on Fashion-MNIST, batch 64, and
# vit-fmnist's small ViT (3 pre-norm blocks, width 64, 4 heads, 4x4 patches), batch 128;
# Adam lr 1e-3, one epoch, cross-entropy; only the training loop is timed on both
# sides. For T in THREADS, for rep in 1..REPS, the four runs (soma/torch x mlp/lenet)
# are interleaved, and which side goes first alternates each rep. Peak RSS of every
# process is taken with /usr/bin/time. Medians, ratios and targets are printed as a
# table and written as JSON (default out/bench/vs_torch-<date>.json), with the CPU and
# the BLAS kernels of each side: soma as a user gets it (it picks its OpenBLAS core itself),
# torch at its best (OPENBLAS_CORETYPE = the core soma runs, unless set for both).
#
# CPU time (user + sys) of every process is recorded too; with CPU_BASE=1 (the default) each
# run is followed by a one-batch run of the same side, so that the training loop's CPU time per
# sample is (CPU - CPU of the one-batch run) / (samples - one batch): start-up, imports and
# data loading cancel, and a loaded machine's stolen wall-clock time does not count.
#
# Usage: bench/vs_torch.sh [--reps N] [--threads "1 2"] [--out FILE] [--allow-unfair]
# Env:   SOMA (default build/soma), REPS (3), THREADS ("1 2"), TORCH_PYTHON (/usr/bin/python3),
#        NETS ("mlp lenet vit"), N_TRAIN (train on the first N samples on both sides; 0: all),
#        SOMA_NO_EVAL (default "--no-eval"; set it empty for a CLI without that flag),
#        FMNIST_DIR (/usr/share/datasets/fashion-mnist), RUN_TIMEOUT (seconds a run, 1800),
#        CPU_BASE (1: the one-batch runs for CPU time per sample; 0: none).
# Exit:  0 when every run succeeded (targets met or not), 1 when a run failed,
#        2 on a bad set-up (no soma binary, no torch, an unfair torch BLAS, no data).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOMA=${SOMA:-$ROOT/build/soma}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
NETS=${NETS:-"mlp lenet vit"}
N_TRAIN=${N_TRAIN:-0}
PY=${TORCH_PYTHON:-/usr/bin/python3}
SOMA_NO_EVAL=${SOMA_NO_EVAL---no-eval}
FMNIST_DIR=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
RUN_TIMEOUT=${RUN_TIMEOUT:-1800}
CPU_BASE=${CPU_BASE:-1}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=""
ALLOW_UNFAIR=()

while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --allow-unfair) ALLOW_UNFAIR=(--allow-unfair); shift ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vs_torch: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$ROOT/out/bench/vs_torch-$STAMP.json}
RAW=${OUT%.json}.raw
export FMNIST_DIR

die() { echo "vs_torch: $*" >&2; exit 2; }

# ---- set-up checks -------------------------------------------------------------------
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, got '$REPS'"
[[ "$N_TRAIN" =~ ^[0-9]+$ ]] || die "N_TRAIN must be a non-negative integer, got '$N_TRAIN'"
[[ "$CPU_BASE" =~ ^[01]$ ]] || die "CPU_BASE must be 0 or 1, got '$CPU_BASE'"
for net in $NETS; do
  case "$net" in mlp|lenet|vit) ;; *) die "NETS: unknown net '$net' (mlp lenet vit)" ;; esac
done
[ -x /usr/bin/time ] || die "/usr/bin/time missing (Debian package 'time')"
[ -x "$SOMA" ] || die "no soma binary at $SOMA: run 'make build' or set SOMA=path"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte; do
  [ -e "$FMNIST_DIR/$f.gz" ] || [ -e "$FMNIST_DIR/$f" ] ||
    die "no $f(.gz) in $FMNIST_DIR: install dataset-fashion-mnist (scripts/deps.sh)"
done
"$PY" -c 'import torch, numpy' 2>/dev/null ||
  die "$PY cannot import torch and numpy: install python3-torch python3-numpy (SOMA_DEPS_EXTRA=1 scripts/deps.sh)"
mkdir -p "$RAW" || die "cannot create $RAW"

# The machine and the BLAS kernels: soma runs as a user gets it (it picks its OpenBLAS core
# itself: OpenBLAS 0.3.21 falls back to SSE3 kernels on CPUs it does not know); torch runs at
# its best, on the core soma runs, unless OPENBLAS_CORETYPE is set for both.
SOMA_VERSION_TEXT=$("$SOMA" version 2>&1) || die "'$SOMA version' failed: $SOMA_VERSION_TEXT"
SOMA_MACHINE=$(sed -n 's/^machine: //p' <<<"$SOMA_VERSION_TEXT")
SOMA_CORE=$(sed -n 's/.* core \([A-Za-z0-9_]*\) .*/\1/p' <<<"$SOMA_MACHINE")
echo "${SOMA_MACHINE:-unknown (this soma version prints no machine line)}" >"$RAW/machine.txt"
{ grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: //'
  grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(sse4_2|avx|avx2|fma|avx512(f|bw|vl|dq|_bf16|_vnni))$' | tr '\n' ' '
} >"$RAW/cpu.txt" 2>/dev/null
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  TORCH_CORE_ENV=(OPENBLAS_CORETYPE="$OPENBLAS_CORETYPE")
elif [ -n "$SOMA_CORE" ]; then
  TORCH_CORE_ENV=(OPENBLAS_CORETYPE="$SOMA_CORE")
else
  TORCH_CORE_ENV=()
fi

TORCH_BLAS_JSON=$(env "${TORCH_CORE_ENV[@]}" "$PY" "$ROOT/bench/torch_train.py" --blas-only "${ALLOW_UNFAIR[@]}" 2>"$RAW/torch-blas.err")
rc=$?
echo "$TORCH_BLAS_JSON" >"$RAW/torch-blas.json"
if [ $rc -ne 0 ]; then
  cat "$RAW/torch-blas.err" >&2
  die "torch is not on the OpenMP OpenBLAS: not a fair peer (--allow-unfair runs anyway)"
fi
SOMA_BLAS=$(ldd "$SOMA" 2>/dev/null | grep -Eo '/[^ ]*(openblas|blis|libblas|mkl)[^ ]*' | sort -u | tr '\n' ' ')
echo "${SOMA_BLAS:-unknown (static or not found by ldd)}" >"$RAW/soma-blas.txt"

echo "vs_torch: machine $(cat "$RAW/machine.txt")"
echo "vs_torch: soma  $SOMA"
echo "vs_torch:   BLAS ${SOMA_BLAS:-unknown (static or not found by ldd)}"
echo "vs_torch: torch $PY${TORCH_CORE_ENV:+ (${TORCH_CORE_ENV[*]})}"
echo "vs_torch:   $("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("torch", d["torch_version"], "BLAS", d["blas"], "core", d.get("blas_core"), " ".join(d["blas_paths"]), "mkldnn", d["mkldnn"])' "$TORCH_BLAS_JSON")"
echo "vs_torch: nets {$NETS}, n_train $N_TRAIN (0: all), threads {$THREADS}, $REPS reps, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "vs_torch: raw runs in $RAW"
cut -d' ' -f1-3 /proc/loadavg >"$RAW/load-before.txt"

declare -A SPEC=(
  [mlp]="fc512,relu,fc256,relu,fc10"
  [lenet]="conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10"
  [vit]="patch4x4d64,cls,pos,block4h64,block4h64,block4h64,clsout,layernorm,fc10"
)
declare -A BATCH=([mlp]=64 [lenet]=64 [vit]=128)

FAILED=0
SEQ=0

# run SIDE NET T REP ORDER [NTRAIN TAG]: one training process, its stdout/stderr/peak RSS and
# CPU time/status in $RAW; TAG "base" marks the one-batch run that follows a timed one.
run() {
  local side=$1 net=$2 t=$3 rep=$4 order=$5 ntrain=${6:-$N_TRAIN} tag=${7:-}
  SEQ=$((SEQ + 1))
  local base
  base=$(printf '%s/%03d-%s-%s-t%s-r%s%s' "$RAW" "$SEQ" "$side" "$net" "$t" "$rep" "${tag:+-$tag}")
  local cmd
  if [ "$side" = soma ]; then
    # shellcheck disable=SC2206
    cmd=("$SOMA" train --data fmnist --net "${SPEC[$net]}" --epochs 1 --batch "${BATCH[$net]}" --lr 0.001
         --optim adam --threads "$t" --seed 1 --n-train "$ntrain" $SOMA_NO_EVAL)
  else
    cmd=("$PY" "$ROOT/bench/torch_train.py" --net "$net" --threads "$t" --epochs 1 --batch "${BATCH[$net]}"
         --lr 0.001 --seed 1 --n-train "$ntrain" --no-eval "${ALLOW_UNFAIR[@]}")
  fi
  printf '%s\n' "${cmd[*]}" >"$base.cmd"
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  local core_env=()
  [ "$side" = torch ] && core_env=("${TORCH_CORE_ENV[@]}")
  env "${core_env[@]}" OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" timeout "$RUN_TIMEOUT" \
    /usr/bin/time -f $'%M\ncpu %U %S' -o "$base.rss" "${cmd[@]}" >"$base.out" 2>"$base.err"
  local rc=$?
  # A CLI that does not know --no-eval: drop the flag once, loudly, and run again.
  if [ $rc -ne 0 ] && [ "$side" = soma ] && [ -n "$SOMA_NO_EVAL" ] &&
     grep -q -- "$SOMA_NO_EVAL" "$base.err" && ! grep -q '^{' "$base.out"; then
    echo "vs_torch: soma rejected '$SOMA_NO_EVAL' ($(head -c 200 "$base.err" | tr '\n' ' '));" \
         "dropping it: soma's runs now include its evaluation after the timed loop" >&2
    SOMA_NO_EVAL=""
    SEQ=$((SEQ - 1))
    rm -f "$base".*
    run "$@"
    return
  fi
  echo "$rc" >"$base.rc"
  printf '{"side":"%s","net":"%s","threads":%s,"rep":%s,"order":%s,"load1_before":%s,"base":%s}\n' \
    "$side" "$net" "$t" "$rep" "$order" "$load" "$([ "$tag" = base ] && echo true || echo false)" >"$base.meta"
  local line
  line=$("$PY" "$ROOT/bench/vs_torch_report.py" one "$base")
  echo "  $line"
  [ $rc -eq 0 ] && ! grep -q FAILED <<<"$line" || FAILED=1
}

for t in $THREADS; do
  for rep in $(seq 1 "$REPS"); do
    if [ $((rep % 2)) -eq 1 ]; then first=soma; second=torch; else first=torch; second=soma; fi
    echo "vs_torch: T=$t rep $rep/$REPS ($first first)"
    for net in $NETS; do
      run "$first" "$net" "$t" "$rep" 1
      [ "$CPU_BASE" = 1 ] && run "$first" "$net" "$t" "$rep" 1 "${BATCH[$net]}" base
      run "$second" "$net" "$t" "$rep" 2
      [ "$CPU_BASE" = 1 ] && run "$second" "$net" "$t" "$rep" 2 "${BATCH[$net]}" base
    done
  done
done

cut -d' ' -f1-3 /proc/loadavg >"$RAW/load-after.txt"
"$PY" "$ROOT/bench/vs_torch_report.py" report "$RAW" "$OUT" || FAILED=1
echo "vs_torch: wrote $OUT"
if [ $FAILED -ne 0 ]; then
  echo "vs_torch: at least one run FAILED (see $RAW/*.err)" >&2
  exit 1
fi
exit 0
