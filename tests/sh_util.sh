# Shared by the shell tests that drive the soma command; source it after setting SOMA:
#   . "$(dirname "$0")/sh_util.sh"
# Gives PY (Debian's python3, with numpy), a scratch folder $T removed on exit, the counters
# pass/fail with ok and bad, expect (exit code and message words) and sh_report (the summary
# line and the exit status). Not a test itself (ctest runs tests/test_*.sh).
PY=/usr/bin/python3 # Debian's, with numpy
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# expect CODE DESCRIPTION WORDS -- command...: the exit code, and for exit 2 one "soma: ..."
# line on stderr containing every '|'-separated word of WORDS (case-sensitive).
expect() {
    local want=$1 what=$2 words=$3
    shift 4
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    local lines
    lines=$(wc -l <"$T/err")
    if [ "$got" -ne "$want" ]; then
        bad "$what: exit $got, want $want; stderr: $(head -c 400 "$T/err")"
        return
    fi
    if [ "$want" -eq 2 ]; then
        if [ "$lines" -ne 1 ] || ! grep -q '^soma: ' "$T/err"; then
            bad "$what: want one 'soma: ...' line on stderr, got $lines lines: $(head -c 400 "$T/err")"
            return
        fi
        local IFS='|' w
        for w in $words; do
            if ! grep -qF -- "$w" "$T/err"; then
                bad "$what: message lacks '$w': $(cat "$T/err")"
                return
            fi
        done
    fi
    ok
}

# sh_report NAME: prints "NAME: P passed, F failed"; the status is 0 when nothing failed, 77
# (ctest: Skipped) when nothing failed but skipped=1 was set, else 1. Make it the last command.
sh_report() {
    echo "$1: $pass passed, $fail failed"
    [ "$fail" -eq 0 ] || return 1
    [ "${skipped:-0}" = 1 ] && return 77
    return 0
}

# need_numpy: fail (exit 1) unless $PY has NumPy.
need_numpy() {
    if ! "$PY" -c 'import numpy' 2>/dev/null; then
        echo "FAIL: $PY lacks NumPy (python3-numpy; scripts/deps.sh --test installs it)"
        exit 1
    fi
}

# gauss_tasks SEED N TASKS SCALE: writes $T/X.npy [N, 6] float32, $T/Y.npy and $T/T.npy, a
# continual-learning stream of TASKS tasks of two Gaussian classes each (task t: classes 2t and
# 2t+1, centred at SCALE times a unit vector; unit noise), N/TASKS samples a task.
gauss_tasks() {
    "$PY" - "$T" "$@" <<'EOF2' || { echo "FAIL: could not write the inputs"; exit 1; }
import sys, numpy as np
d, seed, n, tasks, scale = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
rng = np.random.default_rng(seed)
D = 6
t = np.repeat(np.arange(tasks), n // tasks)
y = (rng.integers(0, 2, n) + 2 * t).astype(np.int64)
X = (scale * np.eye(D)[y % D] + rng.standard_normal((n, D))).astype(np.float32)
np.save(f"{d}/X.npy", X); np.save(f"{d}/Y.npy", y); np.save(f"{d}/T.npy", t.astype(np.int32))
EOF2
}
