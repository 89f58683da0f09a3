#!/usr/bin/env bash
# sgemm-1024 GFLOP/s under each OpenBLAS core type, interleaved, median and best of REPS: which
# kernel set is fastest on this machine (soma_blas_core_pick's table should name it). On a
# shared machine the best (least disturbed) run is the steadier figure.
#   dev/core_sgemm.sh [threads=2] [reps=5] [cores="auto Haswell Zen SkylakeX Cooperlake"]
set -eu
T=${1:-2}; R=${2:-5}; CORES=${3:-"auto Haswell Zen SkylakeX Cooperlake"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TMPDIR:-/tmp}/soma_gemm_shapes
cc -O2 -std=c11 -fopenmp -I"$ROOT/include" "$ROOT/dev/gemm_shapes.c" "$ROOT/build/libsoma.a" \
   -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lpng -lz -lcjson -lm -o "$BIN"
declare -A all
for r in $(seq "$R"); do
  for c in $CORES; do
    if [ "$c" = auto ]; then v=$(env -u OPENBLAS_CORETYPE "$BIN" "$T" 3 | awk '/sgemm-1024/{print $(NF-1)}')
    else v=$(OPENBLAS_CORETYPE=$c "$BIN" "$T" 3 | awk '/sgemm-1024/{print $(NF-1)}'); fi
    all[$c]="${all[$c]:-} $v"
  done
done
echo "$(env -u OPENBLAS_CORETYPE "$BIN" "$T" 1 | head -1 | sed 's/, [0-9]* threads$//')"
for c in $CORES; do
  read -r med best < <(tr ' ' '\n' <<<"${all[$c]}" | grep . | sort -n |
    awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[NR]}')
  printf '  %-11s sgemm-1024 median %6.1f best %6.1f GFLOP/s (%d reps:%s)\n' "$c" "$med" "$best" "$R" "${all[$c]}"
done
