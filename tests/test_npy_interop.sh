#!/usr/bin/env bash
# NPY files written by soma load in NumPy with the right dtype, shape and values
# (tests/ref/check_npy_interop.py runs test_io with SOMA_NPY_EXPORT_DIR and compares).
# Under make test (SOMA_REQUIRE_NUMPY=1, scripts/deps.sh --test installs python3-numpy) a
# missing NumPy is a failure; in a bare ctest it is reported as skipped (exit 77).
set -u
PY=/usr/bin/python3
bin=${SOMA_BINARY_DIR:-.}/test_io
src=${SOMA_SOURCE_DIR:-$(dirname "$0")/..}
if ! "$PY" -c 'import numpy' 2>/dev/null; then
    if [ "${SOMA_REQUIRE_NUMPY:-0}" = 1 ]; then
        echo "FAIL: NumPy (python3-numpy) is missing and SOMA_REQUIRE_NUMPY=1"
        exit 1
    fi
    echo "*** SKIPPED: NumPy (python3-numpy) is missing; NPY interop not checked ***" >&2
    exit 77
fi
[ -x "$bin" ] || { echo "FAIL: no test_io binary at $bin"; exit 1; }
"$PY" "$src/tests/ref/check_npy_interop.py" "$bin"
