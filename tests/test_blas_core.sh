#!/usr/bin/env bash
# The soma command runs on the BLAS kernels its CPU should run: when OpenBLAS picked a core below
# (or other than) soma's choice for this CPU, soma re-executes itself with OPENBLAS_CORETYPE set,
# and `soma version` names the core it runs. A user-set OPENBLAS_CORETYPE is kept as given.
set -u
SOMA=${1:?usage: test_blas_core.sh path/to/soma}
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

out=$(env -u OPENBLAS_CORETYPE -u SOMA_BLAS_CORE_WAS "$SOMA" version) || bad "soma version failed"
line=$(grep '^machine: ' <<<"$out") || bad "no machine line in: $out"
echo "$line"
grep -q 'BLAS .* core ' <<<"$line" || bad "machine line names no BLAS core: $line"
# Whatever OpenBLAS picked by itself, what runs now is what soma would pick.
grep -q 'soma would run' <<<"$line" && bad "running kernels below this CPU's: $line"
# The config string OpenBLAS reports names the same core as the machine line.
core=$(sed -n 's/.* core \([A-Za-z0-9_]*\) .*/\1/p' <<<"$line")
grep -q "BLAS: .*$core" <<<"$out" || bad "OpenBLAS's config does not name core '$core': $out"

# A user's choice is kept, even a slow one, and the line says what soma would run instead
# (on a CPU with AVX; Prescott is SSE3).
out=$(OPENBLAS_CORETYPE=Prescott "$SOMA" version) || bad "soma version (Prescott) failed"
line=$(grep '^machine: ' <<<"$out")
grep -q 'core Prescott (OPENBLAS_CORETYPE)' <<<"$line" || bad "user's OPENBLAS_CORETYPE not kept: $line"
if grep -qw avx /proc/cpuinfo 2>/dev/null; then
  grep -q 'soma would run [A-Za-z]' <<<"$line" || bad "no advice for Prescott on an AVX CPU: $line"
fi
[ $fail -eq 0 ] && echo "test_blas_core: ok"
exit $fail
