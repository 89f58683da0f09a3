#!/usr/bin/env bash
# Which multiversioned clone (SOMA_HOT: x86-64-v4 / v3 / default) the loader picks on this CPU:
# for a few hot kernels, runs a short LeNet training under gdb with a breakpoint on each of the
# kernel's clones and prints the clone the first call lands in. A dev check, not a test.
#   dev/check_clones.sh [path/to/soma]
set -eu
SOMA=${1:-build/soma}
command -v gdb >/dev/null || { echo "check_clones: needs gdb" >&2; exit 2; }
echo "$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //'); flags:" \
  "$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512(f|bw|vl|dq))$' | tr '\n' ' ')"
for f in soma__conv_cv_forward adam_ maxpool2_fwd_plane; do
  hit=$(OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Zen} OMP_NUM_THREADS=1 timeout 120 gdb -q -batch -nx \
    -ex "break $f.arch_x86_64_v4" -ex "break $f.arch_x86_64_v3" -ex "break $f.default" \
    -ex run -ex "bt 1" -ex kill --args "$SOMA" train --data fmnist \
    --net conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc10 --optim adam \
    --epochs 1 --n-train 256 --n-test 64 --threads 1 --quiet 2>&1 | grep -m1 -o ' in [^ ]* ()' || true)
  echo "  $f ->${hit:- (not reached)}"
done
