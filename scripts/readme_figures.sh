#!/usr/bin/env bash
# The README's figures, from an actual run: runs every experiment (or those named), names the
# machine (CPU model and count from lscpu, the BLAS and the kernel it runs), and writes the
# landmark table (soma report --markdown) into OUT/readme-figures.md and into the README
# between <!-- readme-figures --> and <!-- /readme-figures -->.
#
#   scripts/readme_figures.sh [--reduced] [--out DIR] [--readme FILE|none] [--soma PATH]
#                             [--seed S] [--threads T] [--keep] [EXPERIMENT ...]
#
# --keep reruns only the experiments named and keeps the other run folders already in OUT, so
# the table still covers every experiment (a new module's runs added to an earlier full run).
# Defaults: full-size runs (many minutes), --out out/readme-figures, --readme README.md,
# --soma build/soma, --seed 1, --threads 2. --reduced runs each experiment at its test size
# (seconds; the table then says "reduced: not comparable with the landmark") and leaves the
# README alone unless --readme names a file. `make readme-figures` runs the full size.
set -euo pipefail

out=out/readme-figures
readme=README.md
readme_given=0
soma=build/soma
seed=1
threads=2
reduced=()
exps=()
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --reduced) reduced=(--reduced) ;;
    --keep) keep=1 ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    --readme) readme=${2:?--readme needs a file (or none)}; readme_given=1; shift ;;
    --soma) soma=${2:?--soma needs a path}; shift ;;
    --seed) seed=${2:?--seed needs a number}; shift ;;
    --threads) threads=${2:?--threads needs a number}; shift ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "readme_figures.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) exps+=("$1") ;;
    esac
    shift
done
[ ${#reduced[@]} -gt 0 ] && [ "$readme_given" = 0 ] && readme=none
[ -x "$soma" ] || { echo "readme_figures.sh: no soma at $soma; HINT: make build" >&2; exit 2; }
if [ ${#exps[@]} -eq 0 ]; then
    mapfile -t exps < <("$soma" list --quiet)
fi

[ "$keep" = 1 ] || rm -rf "$out"
mkdir -p "$out"
for e in "${exps[@]}"; do
    rm -rf "${out:?}/$e"
    echo "readme_figures: soma run $e --seed $seed --threads $threads ${reduced[*]}" >&2
    "$soma" run "$e" --out "$out" --seed "$seed" --threads "$threads" --quiet "${reduced[@]}" >"$out/$e.log"
done
"$soma" report --out "$out" --markdown "$out/table.md" --quiet

# The machine: lscpu's model name and CPU count, the BLAS build and the kernel it runs (as
# OpenBLAS reports it: the core name before MAX_THREADS).
field() { lscpu | sed -n "s/^$1:[[:space:]]*//p" | head -1; }
model=$(field 'Model name')
cpus=$(field 'CPU(s)')
cores=$(( $(field 'Core(s) per socket') * $(field 'Socket(s)') ))
blas=$("$soma" version | sed -n 's/.*(BLAS: \(.*\); OpenMP.*/\1/p')
kernel=$(printf '%s\n' "$blas" | sed -n 's/.* \([A-Za-z0-9_]*\) MAX_THREADS.*/\1/p')
[ -n "$kernel" ] || kernel="not reported"
version=$("$soma" version | head -1 | awk '{print $2}')
machine=$("$soma" version | sed -n 's/^machine: //p')
when=$(date -u +%Y-%m-%d)

{
    echo "Measured by \`make readme-figures\` (scripts/readme_figures.sh) on $when: **$model**, $cpus CPUs"
    echo "($cores cores), BLAS $blas (kernel: **$kernel**), soma $version, seed $seed, $threads threads."
    [ -z "$machine" ] || echo "As soma names it: $machine."
    [ ${#reduced[@]} -gt 0 ] && echo "These are REDUCED runs (test size): not comparable with the landmarks."
    echo
    cat "$out/table.md"
    echo
    echo "Reproducibility, exactly as tested: the same seed and thread count on the same machine with"
    echo "the same BLAS build give the same numbers bit for bit (tests/test_exp.c trains mlp-fmnist"
    echo "twice at reduced size and compares). A different CPU, BLAS version or BLAS kernel sums in"
    echo "another order, so the accuracies move by a few tenths of a point: the foundation's README"
    echo "said 90.33% and 91.27% (an AMD Zen 3 machine); the same seed and threads on an Intel Xeon"
    echo "(AVX-512) gave 90.08% and 91.19%."
} >"$out/readme-figures.md"

if [ "$readme" != none ]; then
    grep -q '^<!-- readme-figures -->$' "$readme" && grep -q '^<!-- /readme-figures -->$' "$readme" || {
        echo "readme_figures.sh: $readme lacks the <!-- readme-figures --> ... <!-- /readme-figures --> lines" >&2
        exit 2
    }
    awk -v block="$out/readme-figures.md" '
        /^<!-- readme-figures -->$/ { print; while ((getline l < block) > 0) print l; skip = 1; next }
        /^<!-- \/readme-figures -->$/ { skip = 0 }
        !skip' "$readme" >"$readme.tmp"
    mv "$readme.tmp" "$readme"
    echo "readme_figures: wrote the table into $readme" >&2
fi
echo "readme_figures: $out/readme-figures.md" >&2
