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
