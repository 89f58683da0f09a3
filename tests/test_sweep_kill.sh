#!/usr/bin/env bash
# soma sweep killed midway (SIGKILL, serially) and run again: the killed sweep's cell process
# dies with it, the cells finished before the kill are not run again (their results.json keep
# inode and mtime, runs.log one start each), and the second run completes the sweep (8 cells,
# 8 records; only the cell cut off by the kill was started twice).
set -u
SOMA=${1:?usage: test_sweep_kill.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
need_numpy

# cells of ~0.5 s: 20,000 samples, 4,000 in the sanitized build (several times slower)
N=20000
[ "${SOMA_SANITIZED:-0}" = 1 ] && N=4000
"$PY" - "$T" "$N" <<'EOF2' || { echo "FAIL: could not write the inputs"; exit 1; }
import sys, numpy as np
rng = np.random.default_rng(1)
n = int(sys.argv[2])
y = rng.integers(0, 3, n)
X = (np.eye(32)[y] + rng.standard_normal((n, 32))).astype(np.float32)
np.save(f"{sys.argv[1]}/X.npy", X); np.save(f"{sys.argv[1]}/Y.npy", y.astype(np.int64))
EOF2
printf '%s\n' "{\"name\": \"kill\", \"out\": \"$T/k\"," \
    " \"fixed\": {\"data\": \"npy:$T/X.npy,$T/Y.npy\", \"net\": \"fc128,relu,fc3\", \"epochs\": 8, \"batch\": 32}," \
    " \"grid\": {\"seed\": [1, 2, 3, 4, 5, 6, 7, 8]}}" >"$T/k.json"
ndone() { ls "$T"/k/cells/*/results.json 2>/dev/null | wc -l; }

"$SOMA" sweep "$T/k.json" --quiet >/dev/null 2>"$T/err" &
pid=$!
for _ in $(seq 1 600); do # up to 60 s for two cells
    [ "$(ndone)" -ge 2 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
before=$(ndone)
[ "$before" -ge 2 ] && [ "$before" -lt 8 ] && ok || bad "killed after $before of 8 cells (want 2..7)"
sleep 0.3
pgrep -f "$T/k/cells" >/dev/null && bad "a cell's process outlived the killed sweep" || ok
stat -c '%n %i %Y' "$T"/k/cells/*/results.json >"$T/stat1"

"$SOMA" sweep "$T/k.json" --quiet >"$T/sum.json" 2>"$T/err" && ok || bad "second run: $(cat "$T/err")"
"$PY" - "$T" "$before" <<'EOF2' && ok || bad "resumed sweep"
import sys, json, os
T, before = sys.argv[1], int(sys.argv[2])
s = json.load(open(f"{T}/sum.json"))
assert s["done"] == 8 and s["already_done"] == before and s["ran"] == 8 - before and s["failed"] == 0, s
recs = [json.loads(l) for l in open(f"{T}/k/results.jsonl")]
assert len(recs) == 8 and len({r["cell"] for r in recs}) == 8
old = {l.split()[0]: l.split()[1:] for l in open(f"{T}/stat1")}
twice = 0
for r in recs:
    d = f"{T}/k/cells/{r['cell']}"
    starts = len(open(f"{d}/runs.log").read().splitlines())
    st = os.stat(f"{d}/results.json")
    if f"{d}/results.json" in old:  # finished before the kill: untouched, started once
        assert old[f"{d}/results.json"] == [str(st.st_ino), str(int(st.st_mtime))], d
        assert starts == 1, (d, starts)
    else:
        assert starts in (1, 2), (d, starts)
        twice += starts == 2
assert twice <= 1, twice  # only the cell running at the kill was started again
EOF2
sh_report test_sweep_kill
