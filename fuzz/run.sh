#!/usr/bin/env bash
# Runs every fuzz_* binary in BUILD_DIR for SECONDS each on a copy of its seed corpus
# (fuzz/corpus/<target>/), and fails if any of them finds a crash, leak or timeout.
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSOMA_FUZZ=ON -DSOMA_OPENMP=OFF -DSOMA_SHARED=OFF
#   cmake --build build-fuzz -j2 && fuzz/run.sh build-fuzz 60
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/soma-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
found=0
failed=0
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] && [ -f "$bin" ] || continue
    name=$(basename "$bin")
    found=$((found + 1))
    corpus="$work/$name"
    mkdir -p "$corpus" "$work/$name-artifacts"
    if [ -d "$here/corpus/$name" ]; then cp -r "$here/corpus/$name/." "$corpus/"; fi
    log="$work/$name.log"
    "$bin" "$corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$name-artifacts/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
        failed=$((failed + 1))
        echo "$name: FAILED (exit $rc) after ${runs:-?} runs, $cov"
        grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
        mkdir -p "$build/fuzz-artifacts"
        cp "$work/$name-artifacts/"* "$build/fuzz-artifacts/" 2>/dev/null
        tail -40 "$log" >"$build/fuzz-artifacts/$name.log"
    else
        echo "$name: ok, ${secs}s, ${runs:-?} runs, $cov, corpus $(ls "$corpus" | wc -l) files"
    fi
done
if [ $found -eq 0 ]; then
    echo "$0: no fuzz_* binaries in $build (configure with -DSOMA_FUZZ=ON)" >&2
    exit 2
fi
[ $failed -eq 0 ]
