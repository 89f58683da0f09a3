#!/usr/bin/env bash
# soma neuro info|bin on the NWB files and spike tables of tests/ref/gen_nwb.py: info (text and
# JSON) lists units, spikes, trials, columns and behaviour shapes; bin writes the counts (and a
# behaviour series on the bins) as NPY, equal to the NumPy values in expected.bin; bad files,
# options and mismatched arrays exit 2 with one "soma: ..." line naming the problem.
set -u
SOMA=${1:?usage: test_neuro_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report
SRC=${SOMA_SOURCE_DIR:-$(dirname "$0")/..}
F=$SRC/tests/fixtures/neuro

# --- info
if "$SOMA" neuro info "$F/session.nwb" --json >"$T/info.json" 2>"$T/err"; then
    if $PY - "$T/info.json" <<'EOF'; then ok; else bad "info --json content"; fi
import json, sys
j = json.load(open(sys.argv[1]))
assert j["units"] == 5 and j["unit_ids"] == [10, 11, 12, 20, 21], j
assert j["electrodes"] == [3, 1, -1, 7, 5], j
assert j["spikes"] == 291 and j["trials"] == 8, j
assert sorted(j["trial_columns"]) == ["condition", "go_cue_time", "start_time", "stop_time"], j
shapes = {b["name"]: b["shape"] for b in j["behavior"]}
assert shapes == {"acquisition/lick": [30, 1], "processing/behavior/Position/xy": [400, 2],
                  "processing/behavior/speed": [250, 1]}, shapes
EOF
else bad "info --json: exit $?: $(cat "$T/err")"; fi
"$SOMA" neuro info "$F/session.nwb" >"$T/info.txt" 2>&1 && grep -q "5 units, 291 spikes" "$T/info.txt" &&
    grep -q "Position/xy \[400, 2\]" "$T/info.txt" && ok || bad "info text: $(cat "$T/info.txt")"

# --- bin: aligned on the go cue, behaviour on the bins; smoothed on trial starts; continuous
expect 0 "bin aligned" "" -- "$SOMA" neuro bin "$F/session.nwb" --bin-ms 50 --align go_cue_time --window -200,800 \
    -o "$T/go.npy" --behavior xy -o2 "$T/xy.npy" --quiet
expect 0 "bin smoothed" "" -- "$SOMA" neuro bin "$F/session.nwb" --bin-ms 20 --align start_time --window=-100,500 \
    --smooth-ms 40 --causal -o "$T/st.npy" --quiet
expect 0 "bin continuous" "" -- "$SOMA" neuro bin "$F/session.nwb" --bin-ms 20 -o "$T/cont.npy" --quiet
expect 0 "bin psth + held-out" "" -- "$SOMA" neuro bin "$F/session.nwb" --bin-ms 50 --align go_cue_time \
    --window -200,800 --psth condition --held-out ids:11,20 --out-held-out "$T/ho.npy" -o "$T/hi.npy" --quiet
expect 0 "bin csv table" "" -- "$SOMA" neuro bin "$F/table.csv" --bin-ms 20 -o "$T/csv.npy" --quiet
if $PY - "$F/expected.bin" "$T" <<'EOF'; then ok; else bad "bin outputs differ from expected.bin"; fi
import struct, sys
import numpy as np
def load(path):
    d = open(path, "rb").read()
    off = 8 + 4 + 128 + 20
    (n,) = struct.unpack_from("<i", d, off); off += 4
    out = {}
    for _ in range(n):
        name = d[off:off + 32].rstrip(b"\0").decode(); off += 32
        nd, *dims = struct.unpack_from("<5i", d, off); off += 20
        shape = dims[:nd]; cnt = int(np.prod(shape))
        out[name] = np.frombuffer(d, "<f4", cnt, off).reshape(shape); off += 4 * cnt
    return out
E, T = load(sys.argv[1]), sys.argv[2]
go, xy, st, cont, csv, hi, ho = (np.load(f"{T}/{n}.npy") for n in ("go", "xy", "st", "cont", "csv", "hi", "ho"))
# PSTHs by condition (1, 2, 3), units 11 and 20 (columns 1 and 3) held out
assert hi.shape == (3, 20, 3) and np.allclose(hi, E["psth"][:, :, [0, 2, 4]], atol=1e-6), hi.shape
assert ho.shape == (3, 20, 2) and np.allclose(ho, E["psth"][:, :, [1, 3]], atol=1e-6), ho.shape
assert go.shape == (8, 20, 5) and np.array_equal(go, E["go50"]), go.shape
assert xy.shape == (8, 20, 2) and np.allclose(xy, E["go50_xy"], atol=1e-5), xy.shape
assert st.shape == (8, 30, 5) and np.allclose(st, E["st20_causal"], atol=1e-5), st.shape
assert cont.shape == E["cont20"].shape and np.array_equal(cont, E["cont20"])
# the table has no silent unit 21 and no trials (so it ends at its last spike)
assert csv.shape[2] == 4 and np.array_equal(csv, E["cont20"][:, :csv.shape[1], :4]), csv.shape
EOF

# seeded held-out draw: reproducible, 2 + 3 units that together are the whole recording
for k in 1 2; do
    "$SOMA" neuro bin "$F/session.nwb" --held-out 2 --seed 3 --out-held-out "$T/y$k.npy" -o "$T/x$k.npy" --quiet
done
"$SOMA" neuro bin "$F/session.nwb" -o "$T/all.npy" --quiet
if $PY - "$T" <<'EOF'; then ok; else bad "seeded --held-out"; fi
import sys
import numpy as np
T = sys.argv[1]
x1, y1, x2, y2, a = (np.load(f"{T}/{n}.npy") for n in ("x1", "y1", "x2", "y2", "all"))
assert x1.shape[2] == 3 and y1.shape[2] == 2 and np.array_equal(x1, x2) and np.array_equal(y1, y2)
got = sorted(tuple(c) for c in np.concatenate([x1, y1], 2)[0].T)
assert got == sorted(tuple(c) for c in a[0].T)
EOF

# --- bad input: files, options, arrays
expect 2 "no subcommand" "neuro" -- "$SOMA" neuro nope
expect 2 "no file" "no input file" -- "$SOMA" neuro info
expect 2 "missing file" "$T/none.nwb" -- "$SOMA" neuro info "$T/none.nwb"
expect 2 "not hdf5" "not an HDF5 file" -- "$SOMA" neuro info "$F/bad_not_hdf5.nwb"
expect 2 "truncated" "bad_truncated.nwb" -- "$SOMA" neuro info "$F/bad_truncated.nwb"
expect 2 "index past" "spike_times_index|runs past" -- "$SOMA" neuro bin "$F/bad_index_past.nwb" -o "$T/x.npy"
expect 2 "index decreasing" "spike_times_index|decreases" -- "$SOMA" neuro info "$F/bad_index_decreasing.nwb"
expect 2 "times strings" "/units/spike_times|strings" -- "$SOMA" neuro info "$F/bad_times_strings.nwb"
expect 2 "huge" "/units/spike_times|the file stores" -- "$SOMA" neuro info "$F/bad_huge.nwb"
expect 2 "timestamps" "Position/xy/timestamps|decreases" -- "$SOMA" neuro info "$F/bad_ts_nonmono.nwb"
expect 2 "unknown option" "--bogus" -- "$SOMA" neuro bin "$F/session.nwb" --bogus 1 -o "$T/x.npy"
expect 2 "unknown short option" "-x" -- "$SOMA" neuro bin "$F/session.nwb" -x -o "$T/x.npy"
expect 2 "no -o" "-o X.npy" -- "$SOMA" neuro bin "$F/session.nwb"
expect 2 "bad bin" "bin-ms" -- "$SOMA" neuro bin "$F/session.nwb" --bin-ms 0 -o "$T/x.npy"
expect 2 "bad window" "--window" -- "$SOMA" neuro bin "$F/session.nwb" --align start_time --window 800,-200 -o "$T/x.npy"
expect 2 "window without align" "--align" -- "$SOMA" neuro bin "$F/session.nwb" --window -200,800 -o "$T/x.npy"
expect 2 "unknown column" "nope" -- "$SOMA" neuro bin "$F/session.nwb" --align nope --window -200,800 -o "$T/x.npy"
expect 2 "unknown behaviour" "walk" -- "$SOMA" neuro bin "$F/session.nwb" --behavior walk -o2 "$T/b.npy" -o "$T/x.npy"
expect 2 "behaviour without -o2" "-o2" -- "$SOMA" neuro bin "$F/session.nwb" --behavior xy -o "$T/x.npy"
expect 2 "mismatched arrays" "table_ids_short.npy" -- "$SOMA" neuro bin "$F/table_times.npy" \
    --ids "$F/table_ids_short.npy" -o "$T/x.npy"
expect 2 "fractional ids" "not an integer" -- "$SOMA" neuro info "$F/table_times.npy" --ids "$F/table_ids_frac.npy"
expect 2 "psth without align" "--psth" -- "$SOMA" neuro bin "$F/session.nwb" --psth condition -o "$T/x.npy"
expect 2 "psth unknown column" "nope" -- "$SOMA" neuro bin "$F/session.nwb" --align start_time --window 0,100 \
    --psth nope -o "$T/x.npy"
expect 2 "held-out all" "--held-out" -- "$SOMA" neuro bin "$F/session.nwb" --held-out 5 --out-held-out "$T/y.npy" -o "$T/x.npy"
expect 2 "held-out unknown id" "99" -- "$SOMA" neuro bin "$F/session.nwb" --held-out ids:11,99 --out-held-out "$T/y.npy" \
    -o "$T/x.npy"
expect 2 "held-out without its file" "--out-held-out" -- "$SOMA" neuro bin "$F/session.nwb" --held-out 2 -o "$T/x.npy"
expect 2 "two files" "one input file" -- "$SOMA" neuro info "$F/session.nwb" "$F/table.csv"
[ ! -e "$T/x.npy" ] && ok || bad "a failed bin left $T/x.npy"

sh_report neuro_cli
