#!/usr/bin/env bash
# soma fit-scaling: the fixtures' JSON lines (tests/fixtures/scaling_{n,d,nd}.jsonl) give the
# numbers scipy gave (tests/fixtures/scaling_ref.json, tests/ref/gen_scaling.py) to 1e-3
# relative; the JSON holds only the parameters of the law, with [low, high] intervals around
# the fit; --out writes results.json (the same numbers) and a well-formed SVG; the same seed
# gives the same intervals; each class of bad input (missing file, missing key, non-positive
# value, malformed JSON, too few points, too few distinct sizes, unknown option or law, two
# files) exits 2 with one "soma: ..." line and writes nothing.
set -u
SOMA=${1:?usage: test_scaling_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
need_numpy
FIX="${SOMA_SOURCE_DIR:-$(dirname "$0")/..}/tests/fixtures"

# compare FILE.json LAW KEYS: every key of the printed fit within 1e-3 of scipy's
compare() {
    "$PY" - "$1" "$FIX/scaling_ref.json" "$2" "$3" <<'PYEOF'
import json, sys
got = json.load(open(sys.argv[1])); ref = json.load(open(sys.argv[2]))[sys.argv[3]]["fit"]
keys = sys.argv[4].split(",")
absent = {"n": ["B", "beta", "B_ci", "beta_ci", "compute_optimal"], "d": ["A", "alpha", "A_ci", "alpha_ci", "compute_optimal"], "nd": []}[sys.argv[3]]
bad = [k for k in keys if abs(got[k] - ref[k]) > 1e-3 * abs(ref[k])]
bad += [k + " present" for k in absent if k in got]
assert got["law"] == sys.argv[3] and got["converged"] is True, got
if bad:
    print("mismatch:", bad, {k: (got.get(k), ref.get(k)) for k in keys}); sys.exit(1)
PYEOF
}

for law in n d; do
    keys=$([ $law = n ] && echo E,A,alpha || echo E,B,beta)
    if "$SOMA" fit-scaling "$FIX/scaling_$law.jsonl" --law $law --bootstrap 0 >"$T/$law.json" 2>"$T/err" &&
        compare "$T/$law.json" $law $keys; then ok; else bad "law $law: $(head -c 300 "$T/err")"; fi
done
if "$SOMA" fit-scaling "$FIX/scaling_nd.jsonl" --bootstrap 0 >"$T/nd.json" 2>"$T/err" &&
    compare "$T/nd.json" nd E,A,alpha,B,beta; then ok; else bad "law nd: $(head -c 300 "$T/err")"; fi

# bootstrap, --out: intervals around the fit, results.json equal to what was printed, an SVG
if "$SOMA" fit-scaling "$FIX/scaling_n.jsonl" --law n --bootstrap 60 --seed 3 --out "$T/run" >"$T/b1.json" 2>"$T/err" &&
    "$SOMA" fit-scaling "$FIX/scaling_n.jsonl" --law n --bootstrap 60 --seed 3 --refit-top 20 >"$T/b2.json" 2>>"$T/err" &&
    "$PY" - "$T" <<'PYEOF'
import json, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
a = json.load(open(f"{d}/b1.json")); b = json.load(open(f"{d}/b2.json")); r = json.load(open(f"{d}/run/results.json"))
for k in ["E", "A", "alpha"]:
    lo, hi = a[k + "_ci"]
    assert lo < a[k] < hi, (k, lo, a[k], hi)
    assert a[k + "_ci"] == b[k + "_ci"], "same seed, other intervals"
    assert r[k] == a[k] and r[k + "_ci"] == a[k + "_ci"]
assert a["bootstrap"] == 60 and a["n_points"] == 12 and r["figure"] == "fit.svg"
root = ET.parse(f"{d}/run/fit.svg").getroot()
assert root.tag.endswith("svg") and len(list(root.iter())) > 20
PYEOF
then ok; else bad "bootstrap/--out: $(head -c 300 "$T/err")"; fi

# --- bad input ----------------------------------------------------------------------------
printf '{"n_params": 1e3, "loss": 3}\n{"n_params": 1e4}\n' >"$T/nokey.jsonl"
printf '{"n_params": 1e3, "loss": 3}\n{"n_params": 0, "loss": 2}\n' >"$T/zero.jsonl"
printf '{"n_params": 1e3, "loss": 3}\n{"n_params": 1e4, "loss": 2\n' >"$T/broken.jsonl"
printf '{"n_params": 1e3, "loss": 3}\n{"n_params": 1e4, "loss": 2}\n{"n_params": 1e5, "loss": 1.5}\n' >"$T/three.jsonl"
printf '{"n_params": 1e3, "loss": 3}\n{"n_params": 1e3, "loss": 2.9}\n{"n_params": 1e5, "loss": 1.5}\n{"n_params": 1e5, "loss": 1.6}\n' >"$T/two_sizes.jsonl"
: >"$T/empty.jsonl"
o="$T/o"
expect 2 "missing file" "none.jsonl" -- "$SOMA" fit-scaling "$T/none.jsonl" --out "$o"
expect 2 "missing key" "nokey.jsonl:2|loss" -- "$SOMA" fit-scaling "$T/nokey.jsonl" --law n --out "$o"
expect 2 "n_data needed by nd" "nokey.jsonl:1|n_data" -- "$SOMA" fit-scaling "$T/nokey.jsonl" --out "$o"
expect 2 "non-positive" "zero.jsonl:2|n_params" -- "$SOMA" fit-scaling "$T/zero.jsonl" --law n --out "$o"
expect 2 "malformed JSON" "broken.jsonl:2" -- "$SOMA" fit-scaling "$T/broken.jsonl" --law n --out "$o"
expect 2 "empty file" "no points" -- "$SOMA" fit-scaling "$T/empty.jsonl" --law n --out "$o"
expect 2 "too few points" "at least 4 points" -- "$SOMA" fit-scaling "$T/three.jsonl" --law n --out "$o"
expect 2 "two sizes" "distinct n_params" -- "$SOMA" fit-scaling "$T/two_sizes.jsonl" --law n --out "$o"
expect 2 "unknown option" "--bogus" -- "$SOMA" fit-scaling "$FIX/scaling_n.jsonl" --bogus 1 --out "$o"
expect 2 "unknown law" "law" -- "$SOMA" fit-scaling "$FIX/scaling_n.jsonl" --law x --out "$o"
expect 2 "bootstrap < 0" "bootstrap" -- "$SOMA" fit-scaling "$FIX/scaling_n.jsonl" --law n --bootstrap -3 --out "$o"
expect 2 "two files" "one results file" -- "$SOMA" fit-scaling "$FIX/scaling_n.jsonl" "$T/three.jsonl" --out "$o"
expect 2 "no file" "results file" -- "$SOMA" fit-scaling --law n --out "$o"
if [ -e "$o" ]; then bad "bad input wrote $o"; else ok; fi
expect 0 "--help" "" -- "$SOMA" fit-scaling --help
sh_report test_scaling_cli
