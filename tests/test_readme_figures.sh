#!/usr/bin/env bash
# scripts/readme_figures.sh at reduced size into a copy of the README: the block between the
# markers is replaced (the rest of the README is untouched), the machine line names lscpu's
# CPU model, and every number in the table is the one in the runs' results.json.
set -u
SOMA=${1:?usage: test_readme_figures.sh PATH_TO_SOMA}
SRC=${SOMA_SOURCE_DIR:?}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
cp "$SRC/README.md" "$T/README.md"
exps=(perceptron)
[ -d "${SOMA_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}" ] && exps+=(mlp-fmnist)
bash "$SRC/scripts/readme_figures.sh" --reduced --soma "$SOMA" --out "$T/out" --readme "$T/README.md" \
    --threads 2 "${exps[@]}" 2>"$T/err" || { bad "the script failed: $(cat "$T/err")"; }
model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
grep -qF "**$model**" "$T/README.md" || bad "the README block does not name the CPU '$model'"
grep -q "REDUCED runs" "$T/README.md" || bad "the README block does not say the runs were reduced"
# outside the block the README is unchanged
strip() { awk '/^<!-- readme-figures -->$/{skip=1} !skip; /^<!-- \/readme-figures -->$/{skip=0}' "$1"; }
diff <(strip "$SRC/README.md") <(strip "$T/README.md") >/dev/null || bad "the README changed outside the block"
"$PY" - "$T/README.md" "$T/out" "${exps[@]}" <<'PYEOF' || bad "the table's numbers differ from results.json"
import json, re, sys
readme, out, exps = sys.argv[1], sys.argv[2], sys.argv[3:]
block = readme and open(readme).read().split("<!-- readme-figures -->\n")[1].split("<!-- /readme-figures -->")[0]
rows = [r for r in block.splitlines() if r.startswith("| ") and "---" not in r and "experiment |" not in r]
name, got = None, {}
for r in rows:
    cells = [c.strip() for c in r.strip("|").split(" | ")]
    if cells[0]: name = cells[0].strip("`")
    got.setdefault(name, []).append(float(cells[4].strip("*")))
for e in exps:
    d = json.load(open(f"{out}/{e}/results.json"))
    want = [l["ours"] for l in d["landmarks"]]
    assert len(got[e]) == len(want), (e, got[e], want)
    for g, w in zip(got[e], want):
        assert abs(g - w) <= 5e-4 * max(1.0, abs(w)), (e, g, w)
    assert d["status"] == "reduced", d["status"]
    assert all(l["verdict"].startswith("reduced") for l in d["landmarks"])
print("checked", {e: len(got[e]) for e in exps})
PYEOF
echo "test_readme_figures: $([ $fail -eq 0 ] && echo '1 passed, 0 failed' || echo "0 passed, $fail failed")"
[ "$fail" -eq 0 ]
