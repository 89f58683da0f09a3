#!/usr/bin/env bash
# soma sweep under mpirun -np 2: the same cells as a serial run with the same figures, bit for
# bit (seeds fixed, one thread a cell), each cell run once, cells on both ranks, the records
# gathered on rank 0. A bad file exits 2 with its message once. Then one rank killed midway (SIGKILL to rank 1): the job ends, no cell
# process outlives it, and a second mpirun completes the sweep without running a finished
# cell again. Needs mpirun (openmpi-bin): fails without it.
set -u
SOMA=${1:?usage: test_sweep_mpi.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
need_numpy
MPI=${SOMA_MPIRUN:-$(command -v mpirun)}
if [ -z "$MPI" ] || [ ! -x "$MPI" ]; then
    echo "FAIL: mpirun is missing (openmpi-bin; scripts/deps.sh installs it)"
    exit 1
fi
# Under ASan: Open MPI's plugins stay loaded and leaks are unwound in full, so that
# tests/lsan.supp can tell Open MPI's allocations from soma's; timeout makes a hang a failure.
MPIRUN=(env "ASAN_OPTIONS=${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0" OMPI_MCA_mca_base_component_disable_dlclose=1
    PMIX_MCA_mca_base_component_disable_dlclose=1 timeout 120 "$MPI" --allow-run-as-root --oversubscribe -np 2)

# the kill test's cells take ~0.5 s: 20,000 samples, 4,000 in the sanitized build
N=20000
[ "${SOMA_SANITIZED:-0}" = 1 ] && N=4000
"$PY" - "$T" "$N" <<'EOF2' || { echo "FAIL: could not write the inputs"; exit 1; }
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(5)
for name, n in (("", 300), ("t", 150), ("L", int(sys.argv[2]))):
    D = 32 if name == "L" else 6
    y = rng.integers(0, 3, n)
    X = (2.0 * np.eye(D)[y] + rng.standard_normal((n, D))).astype(np.float32)
    np.save(f"{d}/X{name}.npy", X); np.save(f"{d}/Y{name}.npy", y.astype(np.int64))
EOF2
DATA="npy:$T/X.npy,$T/Y.npy;$T/Xt.npy,$T/Yt.npy"
printf '%s\n' "{\"name\": \"tiny\", \"fixed\": {\"data\": \"$DATA\", \"epochs\": 1, \"batch\": 16, \"lr\": 0.01}," \
    " \"grid\": {\"net\": [\"fc8,relu,fc3\", \"fc16,relu,fc3\", \"fc3\"], \"seed\": [1, 2]}}" >"$T/s.json"

# --- serial and two ranks: the same records ------------------------------------------------
"$SOMA" sweep "$T/s.json" --out "$T/a" --quiet >/dev/null 2>"$T/err" && ok || bad "serial: $(cat "$T/err")"
"${MPIRUN[@]}" "$SOMA" sweep "$T/s.json" --out "$T/b" --quiet >"$T/sum.json" 2>"$T/err" && ok ||
    bad "mpirun: $(cat "$T/err")"
"$PY" - "$T" <<'EOF2' && ok || bad "two ranks against one"
import sys, json
T = sys.argv[1]
def load(p):
    return {r["cell"]: r for r in map(json.loads, open(p))}
a, b = load(f"{T}/a/results.jsonl"), load(f"{T}/b/results.jsonl")
assert len(a) == 6 and sorted(a) == sorted(b), (sorted(a), sorted(b))
for c in a:
    for k in a[c]:
        if k not in ("seconds", "rank", "train_seconds"):
            assert a[c][k] == b[c][k], (c, k, a[c][k], b[c][k])
    starts = open(f"{T}/b/cells/{c}/runs.log").read().splitlines()
    assert len(starts) == 1, (c, starts)
    assert starts[0].split()[2] == str(b[c]["rank"]), (starts, b[c]["rank"])
assert {r["rank"] for r in b.values()} == {0, 1}, [r["rank"] for r in b.values()]
s = json.load(open(f"{T}/sum.json"))
assert s["ranks"] == 2 and s["ran"] == 6 and s["done"] == 6, s
EOF2

# --- a bad file under mpirun: exit 2, the message once, before any folder is made ----------
printf '%s\n' "{\"out\": \"$T/bo\", \"fixed\": {\"data\": \"$DATA\"}, \"grid\": {\"net\": [\"fc3\"], \"widht\": [1]}}" \
    >"$T/bad.json"
"${MPIRUN[@]}" "$SOMA" sweep "$T/bad.json" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(grep -c "^soma: .*unknown key 'widht'" "$T/err")" -eq 1 ] && [ ! -e "$T/bo" ] && ok ||
    bad "bad file under mpirun: exit $rc; $(head -c 300 "$T/err")"

# --- rank 1 killed midway, then run again ---------------------------------------------------
printf '%s\n' "{\"name\": \"kill\", \"out\": \"$T/k\"," \
    " \"fixed\": {\"data\": \"npy:$T/XL.npy,$T/YL.npy\", \"net\": \"fc128,relu,fc3\", \"epochs\": 8, \"batch\": 32}," \
    " \"grid\": {\"seed\": [1, 2, 3, 4, 5, 6, 7, 8]}}" >"$T/k.json"
ndone() { ls "$T"/k/cells/*/results.json 2>/dev/null | wc -l; }
"${MPIRUN[@]}" "$SOMA" sweep "$T/k.json" --quiet >/dev/null 2>"$T/err" &
job=$!
rank1=""
for _ in $(seq 1 600); do # up to 60 s for two cells done and a cell on rank 1
    rank1=$(cat "$T"/k/cells/*/runs.log 2>/dev/null | awk '$3 == 1 {print $7; exit}')
    [ "$(ndone)" -ge 2 ] && [ -n "$rank1" ] && break
    kill -0 "$job" 2>/dev/null || break
    sleep 0.1
done
if [ -n "$rank1" ]; then kill -KILL "$rank1" 2>/dev/null; fi
for _ in $(seq 1 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$job" 2>/dev/null; then
    bad "mpirun still runs 30 s after rank 1 was killed"
    kill -KILL "$job" 2>/dev/null
fi
wait "$job" 2>/dev/null
before=$(ndone)
[ -n "$rank1" ] && [ "$before" -ge 2 ] && [ "$before" -lt 8 ] && ok ||
    bad "rank 1 (pid '$rank1') killed after $before of 8 cells (want 2..7)"
sleep 0.3
pgrep -f "$T/k/cells" >/dev/null && bad "a cell's process outlived the killed job" || ok
stat -c '%n %i %Y' "$T"/k/cells/*/results.json >"$T/stat1"
"${MPIRUN[@]}" "$SOMA" sweep "$T/k.json" --quiet >"$T/sum2.json" 2>"$T/err" && ok || bad "second run: $(cat "$T/err")"
"$PY" - "$T" "$before" <<'EOF2' && ok || bad "the sweep after the kill"
import sys, json, os
T, before = sys.argv[1], int(sys.argv[2])
s = json.load(open(f"{T}/sum2.json"))
assert s["done"] == 8 and s["already_done"] == before and s["ran"] == 8 - before and s["failed"] == 0, s
recs = [json.loads(l) for l in open(f"{T}/k/results.jsonl")]
assert len(recs) == 8 and len({r["cell"] for r in recs}) == 8
old = {l.split()[0]: l.split()[1:] for l in open(f"{T}/stat1")}
for r in recs:
    d = f"{T}/k/cells/{r['cell']}"
    p = f"{d}/results.json"
    if p in old:  # finished before the kill: untouched, started once
        st = os.stat(p)
        assert old[p] == [str(st.st_ino), str(int(st.st_mtime))], d
        assert len(open(f"{d}/runs.log").read().splitlines()) == 1, d
EOF2
sh_report test_sweep_mpi
