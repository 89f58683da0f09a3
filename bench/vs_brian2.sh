#!/usr/bin/env bash
# soma vs Brian2 (cpp_standalone) on the CUBA network (Vogels & Abbott 2005; Brette et al. 2007
# benchmark 2), side by side: N 4000 and 16000 (p = 80/N: 64 excitatory inputs a neuron),
# 1 s of biological time, dt 0.1 ms, 1 and 2 threads. See bench/README.md.
#
#   bench/vs_brian2.sh [--reps R] [--sizes "4000 16000"] [--threads "1 2"] [--duration S]
#
# For each (N, threads): Brian2's project is generated and compiled once (bench/brian2_cuba.py,
# which also runs it once and reports its firing rate), then R repetitions interleave one
# `soma run cuba` and one run of Brian2's compiled program, alternating which goes first.
# Simulation time: soma's sim_seconds (wall time inside soma_snn_run) and Brian2's own clock
# around its main loop (results/last_run_info.txt, omp_get_wtime). With set-up: soma's
# setup_seconds + sim_seconds (building the connectivity and running), Brian2's whole compiled
# program (creating the synapses, running, writing its results); code generation and compiling
# are outside. Ratios are soma / Brian2, medians over the repetitions. Output: a table, and
# out/bench/vs_brian2.json. Needs Debian's python3-brian (scripts/deps.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=3
SIZES="4000 16000"
THREADS="1 2"
DUR=1
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --sizes) SIZES="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --duration) DUR="$2"; shift 2 ;;
    *) echo "vs_brian2.sh: unknown option '$1' (--reps, --sizes, --threads, --duration)" >&2; exit 2 ;;
  esac
done
PY=/usr/bin/python3
SOMA=${SOMA:-build/soma}
if ! "$PY" -c "import brian2" 2>/dev/null; then
  echo "vs_brian2.sh: Brian2 is missing; HINT: scripts/deps.sh --bench (Debian's python3-brian)" >&2
  exit 2
fi
[ -x "$SOMA" ] || { echo "vs_brian2.sh: $SOMA not built; HINT: make build" >&2; exit 2; }
OUT=out/bench
WORK=$OUT/vs_brian2_work
mkdir -p "$OUT" "$WORK"
LOG=$WORK/runs.jsonl
: > "$LOG"

now() { date +%s.%N; }

for N in $SIZES; do
  for T in $THREADS; do
    B2DIR=$(pwd)/$WORK/brian2_cuba_${N}_t${T}
    echo "== N $N, $T thread(s): generating and compiling Brian2's project" >&2
    "$PY" bench/brian2_cuba.py --model cuba --n "$N" --duration "$DUR" --seed 1 --threads "$T" \
      --build-dir "$B2DIR" 2>/dev/null | tail -1 > "$WORK/b2_first_${N}_${T}.json"
    for r in $(seq 1 "$REPS"); do
      order="soma brian2"
      [ $((r % 2)) -eq 0 ] && order="brian2 soma"
      for who in $order; do
        if [ "$who" = soma ]; then
          t0=$(now)
          "$SOMA" run cuba --neurons "$N" --duration "$DUR" --threads "$T" --seed "$r" --quiet \
            --out "$WORK/soma_${N}_${T}" > /dev/null
          t1=$(now)
          "$PY" - "$WORK/soma_${N}_${T}/cuba/results.json" "$N" "$T" "$r" "$t0" "$t1" >> "$LOG" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))["ours"]
print(json.dumps({"who": "soma", "n": int(sys.argv[2]), "threads": int(sys.argv[3]), "rep": int(sys.argv[4]),
                  "sim_seconds": o["sim_seconds"], "setup_seconds": o["setup_seconds"],
                  "with_setup_seconds": o["setup_seconds"] + o["sim_seconds"],
                  "process_seconds": float(sys.argv[6]) - float(sys.argv[5]),
                  "rate_hz": o["mean_rate_hz"], "n_synapses": o["n_synapses"]}))
EOF
        else
          t0=$(now)
          (cd "$B2DIR" && ./main > /dev/null)
          t1=$(now)
          read -r sim _ < "$B2DIR/results/last_run_info.txt"
          echo "{\"who\": \"brian2\", \"n\": $N, \"threads\": $T, \"rep\": $r, \"sim_seconds\": $sim," \
               "\"with_setup_seconds\": $("$PY" -c "print($t1 - $t0)")}" >> "$LOG"
        fi
      done
    done
  done
done

"$PY" - "$LOG" "$WORK" "$OUT/vs_brian2.json" "$REPS" "$DUR" <<'EOF'
import json, statistics, sys, platform, subprocess
log, work, out, reps, dur = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
runs = [json.loads(l) for l in open(log)]
cpu = ""
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"):
        cpu = l.split(":", 1)[1].strip(); break
import brian2
res = {"what": "CUBA (Vogels & Abbott 2005), soma vs Brian2 cpp_standalone", "duration_s": dur,
       "reps": reps, "cpu": cpu, "cores": __import__("os").cpu_count(),
       "load_avg_at_end": open("/proc/loadavg").read().split()[:3],
       "brian2": brian2.__version__, "configs": []}
print(f"{'N':>6} {'thr':>3} {'soma sim s':>10} {'brian2 sim s':>12} {'ratio':>6} "
      f"{'soma +setup':>11} {'brian2 prog':>11} {'ratio':>6} {'soma Hz':>8} {'brian2 Hz':>9}")
keys = sorted({(r["n"], r["threads"]) for r in runs})
for n, t in keys:
    s = [r for r in runs if r["who"] == "soma" and r["n"] == n and r["threads"] == t]
    b = [r for r in runs if r["who"] == "brian2" and r["n"] == n and r["threads"] == t]
    first = json.load(open(f"{work}/b2_first_{n}_{t}.json"))
    ratio_sim = statistics.median(x["sim_seconds"] / y["sim_seconds"] for x, y in zip(s, b))
    ratio_all = statistics.median(x["with_setup_seconds"] / y["with_setup_seconds"] for x, y in zip(s, b))
    c = {"n": n, "threads": t,
         "soma_sim_seconds": [x["sim_seconds"] for x in s],
         "brian2_sim_seconds": [y["sim_seconds"] for y in b],
         "soma_with_setup_seconds": [x["with_setup_seconds"] for x in s],
         "soma_process_seconds": [x["process_seconds"] for x in s],
         "brian2_program_seconds": [y["with_setup_seconds"] for y in b],
         "median_ratio_sim": ratio_sim, "median_ratio_with_setup": ratio_all,
         "soma_rate_hz": [x["rate_hz"] for x in s], "brian2_rate_hz": first.get("mean_rate_hz"),
         "soma_n_synapses": s[0]["n_synapses"] if s else None, "brian2_n_synapses": first.get("n_synapses"),
         "brian2_compile_seconds": first.get("compile_seconds")}
    res["configs"].append(c)
    print(f"{n:>6} {t:>3} {statistics.median(c['soma_sim_seconds']):>10.3f} "
          f"{statistics.median(c['brian2_sim_seconds']):>12.3f} {ratio_sim:>6.2f} "
          f"{statistics.median(c['soma_with_setup_seconds']):>11.3f} "
          f"{statistics.median(c['brian2_program_seconds']):>11.3f} {ratio_all:>6.2f} "
          f"{statistics.median(c['soma_rate_hz']):>8.2f} {c['brian2_rate_hz']:>9.2f}")
json.dump(res, open(out, "w"), indent=1)
print(f"cpu: {cpu}; load average at the end: {' '.join(res['load_avg_at_end'])}; json: {out}")
EOF
