#!/usr/bin/env bash
# soma snn FILE.json: bad files and options exit 2 with one "soma: ..." line naming the problem;
# a good run writes results.json (parsed, its figures consistent with the spike CSVs), the CSV
# records, a well-formed raster SVG, and nothing half-written; --duration and --seed apply; the
# same seed gives the same spikes; soma report picks the run folder up; the CUBA example runs.
set -u
SOMA=${1:?usage: test_snn_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
SRC=${SOMA_SOURCE_DIR:-$(dirname "$0")/..}

cat >"$T/net.json" <<'EOF'
{"dt": 0.1, "seed": 3, "duration": 300,
 "groups": [
  {"name": "in", "n": 100, "model": "poisson", "params": {"rate": 20}},
  {"name": "exc", "n": 160, "model": "lif", "params": {"I_ext": 90, "V_init_lo": -60, "V_init_hi": -50}},
  {"name": "inh", "n": 40, "model": "lif", "params": {"I_ext": 90}}],
 "connections": [
  {"pre": "in", "post": "exc", "rule": "indegree", "k": 10, "weight": 40, "target": "exc"},
  {"pre": "exc", "post": "inh", "rule": "prob", "p": 0.1, "weight": 30, "delay": 1},
  {"pre": "inh", "post": "exc", "rule": "prob", "p": 0.1, "weight": -60, "target": "inh"}],
 "monitors": [
  {"kind": "spikes", "group": "exc"}, {"kind": "spikes", "group": "inh"},
  {"kind": "rate", "group": "exc"},
  {"kind": "state", "group": "exc", "var": "v", "neurons": [0, 5, 7], "every": 10}]}
EOF

# bad input
expect 2 "no file" "name the network description" -- "$SOMA" snn
expect 2 "option before the file" "name the network description" -- "$SOMA" snn --seed 1
expect 2 "missing file" "$T/none.json" -- "$SOMA" snn "$T/none.json" -o "$T/o"
printf '{"groups": [{"name": "a", "n": 10, "model": "lif"}' >"$T/trunc.json"
expect 2 "truncated file" "trunc.json|syntax error" -- "$SOMA" snn "$T/trunc.json" -o "$T/o"
printf '{"groups": [{"name": "a", "n": 10, "model": "hodgkin"}]}' >"$T/model.json"
expect 2 "unknown model" "model.json|groups[0]|unknown model \"hodgkin\"" -- "$SOMA" snn "$T/model.json" -o "$T/o"
printf '{"groups": [{"name": "a", "n": 10, "model": "lif", "params": {"tau_e": -5}}]}' >"$T/tau.json"
expect 2 "negative time constant" "groups[0].params|tau_e = -5" -- "$SOMA" snn "$T/tau.json" -o "$T/o"
printf '{"groups": [{"name": "a", "n": 1e12, "model": "lif"}]}' >"$T/huge.json"
expect 2 "absurd size" "groups[0]|n = 1000000000000" -- "$SOMA" snn "$T/huge.json" -o "$T/o"
printf '{"groups": [{"name": "a", "n": 10, "model": "lif"}], "connections": [{"pre": "a", "post": "b", "rule": "prob", "p": 0.1, "weight": 1}]}' >"$T/missing.json"
expect 2 "missing group" "connections[0]: unknown group \"b\"" -- "$SOMA" snn "$T/missing.json" -o "$T/o"
printf '{"groups": [{"name": "a", "n": 10, "model": "lif"}]}\0junk' >"$T/nul.json"
expect 2 "NUL byte" "NUL" -- "$SOMA" snn "$T/nul.json" -o "$T/o"
expect 2 "unknown option" "unknown option|--frob" -- "$SOMA" snn "$T/net.json" --frob 1 -o "$T/o"
expect 2 "bad duration" "--duration" -- "$SOMA" snn "$T/net.json" --duration abc -o "$T/o"
expect 2 "negative seed" "--seed|out of range" -- "$SOMA" snn "$T/net.json" --seed -4 -o "$T/o"
expect 2 "a directory as the file" "$T" -- "$SOMA" snn "$T" -o "$T/o"
[ -e "$T/o" ] && bad "a refused run created its folder" || ok
: >"$T/afile"
expect 2 "run folder is a file" "afile" -- "$SOMA" snn "$T/net.json" --threads 1 --quiet -o "$T/afile"

# a good run
expect 0 "run" "" -- "$SOMA" snn "$T/net.json" --threads 1 -o "$T/runs/a"
grep -q "^snn: 300 neurons" "$T/out" && grep -q "^results: $T/runs/a/results.json" "$T/out" && ok ||
    bad "run summary: $(cat "$T/out")"
for f in results.json spikes_exc.csv spikes_inh.csv rate_exc.csv state_exc_v.csv raster.svg; do
    [ -s "$T/runs/a/$f" ] && ok || bad "run wrote no $f"
done
[ -z "$(ls "$T/runs/a" | grep -F .tmp)" ] && ok || bad "temporary files left: $(ls "$T/runs/a")"
if "$PY" - "$T/runs/a" <<'EOF'; then ok; else bad "run outputs (see above)"; fi
import csv, json, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
r = json.load(open(d + "/results.json"))
o, g = r["ours"], r["groups"]
assert o["n_neurons"] == 300 and g["in"]["n"] == 100 and g["exc"]["n"] == 160, r
assert o["n_synapses"] > 1600 and r["duration_ms"] == 300 and r["seed"] == 3, r
for k in ("sim_seconds", "setup_seconds", "syn_events_per_second"):
    assert isinstance(o[k], (int, float)) and o[k] >= 0, k
assert "machine" in r and r["machine"]["cpu"], r.get("machine")
assert "mean_rate_hz" not in g["in"]  # no spike monitor on "in"
total = 0
for name, n in (("exc", 160), ("inh", 40)):
    rows = list(csv.reader(open(f"{d}/spikes_{name}.csv")))
    assert rows[0] == ["t_ms", "neuron"], rows[0]
    t = [float(x[0]) for x in rows[1:]]
    ids = [int(x[1]) for x in rows[1:]]
    assert len(t) == g[name]["spikes"] and len(t) > 0, (name, len(t))
    assert all(0 <= i < n for i in ids) and t == sorted(t) and 0 <= t[0] and t[-1] < 300
    rate = len(t) * 1000.0 / (n * 300)
    assert abs(g[name]["mean_rate_hz"] - rate) < 1e-9 * rate, (g[name], rate)
    assert g[name]["mean_cv"] is None or g[name]["mean_cv"] >= 0
    total += len(t)
assert abs(o["mean_rate_hz"] - total * 1000.0 / (200 * 300)) < 1e-9 * o["mean_rate_hz"]
rows = list(csv.reader(open(d + "/state_exc_v.csv")))
assert rows[0] == ["t_ms", "v_0", "v_5", "v_7"] and len(rows) == 1 + 300, (rows[0], len(rows))
assert all(-100 < float(v) < 0 for row in rows[1:] for v in row[1:])
rows = list(csv.reader(open(d + "/rate_exc.csv")))
assert rows[0] == ["t_ms", "rate_hz"] and len(rows) == 1 + 3000, len(rows)
svg = ET.parse(d + "/raster.svg").getroot()
assert svg.tag.endswith("svg")
EOF

# --duration and --seed apply; a seed fixes the spikes
expect 0 "run again, same seed" "" -- "$SOMA" snn "$T/net.json" --threads 1 --quiet -o "$T/runs/b"
cmp -s "$T/runs/a/spikes_exc.csv" "$T/runs/b/spikes_exc.csv" && ok || bad "the same seed gave other spikes"
expect 0 "run with --seed --duration" "" -- "$SOMA" snn "$T/net.json" --threads 1 --quiet --seed 4 --duration 120 -o "$T/runs/c"
[ -z "$(cat "$T/out")" ] && ok || bad "--quiet printed: $(cat "$T/out")"
if "$PY" - "$T/runs" <<'EOF'; then ok; else bad "--seed/--duration (see above)"; fi
import csv, json, sys
d = sys.argv[1]
r = json.load(open(d + "/c/results.json"))
assert r["seed"] == 4 and r["duration_ms"] == 120, (r["seed"], r["duration_ms"])
assert r["options"]["seed"] == "4" and r["options"]["duration"] == "120"
c = [row for row in csv.reader(open(d + "/c/spikes_exc.csv"))][1:]
a = [row for row in csv.reader(open(d + "/a/spikes_exc.csv"))][1:]
assert all(float(t) < 120 for t, _ in c)
a120 = [row for row in a if float(row[0]) < 120]
assert c != a120, "seed 4 gave seed 3's spikes"
EOF

# soma report picks the run folders up
expect 0 "report" "" -- "$SOMA" report --out "$T/runs" --quiet
grep -q "snn net.json" "$T/runs/report.html" && grep -q "mean_rate_hz" "$T/runs/report.html" && ok ||
    bad "report lacks the snn runs"

# the CUBA example (100 ms of it)
expect 0 "cuba example" "" -- "$SOMA" snn "$SRC/examples/snn/cuba.json" --duration 100 --threads 1 --quiet -o "$T/cuba"
if "$PY" - "$T/cuba" <<'EOF'; then ok; else bad "cuba example (see above)"; fi
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
o = r["ours"]
assert o["n_neurons"] == 4000 and abs(o["n_synapses"] - 0.02 * 4000 * 4000) < 5 * 566, o
assert 0.5 < o["mean_rate_hz"] < 50, o
EOF

sh_report test_snn_cli
