#!/usr/bin/env bash
# `cmake --install` into a temporary prefix; then the README's C API example is extracted and
# built against the installed tree twice: through `pkg-config soma` (the shared library,
# run WITHOUT LD_LIBRARY_PATH or ldconfig: the RPATH must find it) and through
# `pkg-config soma-static` (must not need libsoma.so at all). Each run must print an accuracy
# number, on separable synthetic data, of at least 0.9 after 5 epochs.
set -eu
SOMA=${1:?usage: test_install.sh PATH_TO_SOMA}
BUILD=${SOMA_BINARY_DIR:-$(dirname "$SOMA")}
SRC=${SOMA_SOURCE_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cmake --install "$BUILD" --prefix "$T/prefix" >"$T/install.log" 2>&1 || { cat "$T/install.log"; exit 1; }
test -f "$T/prefix/include/soma/soma.h" || fail "no soma.h installed"
test -x "$T/prefix/bin/soma" || fail "no soma command installed"
PC=$(find "$T/prefix" -name soma.pc | head -1)
test -n "$PC" || fail "no soma.pc installed"
test -f "$(dirname "$PC")/soma-static.pc" || fail "no soma-static.pc installed"
# the example between the api-example markers of the README
awk '/<!-- api-example -->/{on=1; next} /<!-- \/api-example -->/{on=0} on && !/^```/' "$SRC/README.md" >"$T/example.c"
test -s "$T/example.c" || fail "no API example found in README.md"
export PKG_CONFIG_PATH="$(dirname "$PC")"
unset LD_LIBRARY_PATH
SAN=()
[ "${SOMA_SANITIZED:-0}" = 1 ] && SAN=(-fsanitize=address,undefined) # the library was built so

# "test accuracy 0.973 after 5 epochs (...)": the number, checked
check_output() { # check_output WHAT FILE
    local acc epochs
    acc=$(sed -n 's/^test accuracy \([0-9.]*\) after \([0-9]*\) epochs.*/\1/p' "$2")
    epochs=$(sed -n 's/^test accuracy \([0-9.]*\) after \([0-9]*\) epochs.*/\2/p' "$2")
    [ -n "$acc" ] || fail "$1: no 'test accuracy N after E epochs' line in: $(cat "$2")"
    [ "$epochs" = 5 ] || fail "$1: trained $epochs epochs, the example asks for 5"
    awk -v a="$acc" 'BEGIN { exit !(a >= 0.9 && a <= 1.0) }' || fail "$1: test accuracy $acc, want >= 0.9"
    echo "$1: test accuracy $acc after $epochs epochs"
}

n=0
for pkg in soma soma-static; do
    cc -std=c11 -Wall -Wextra -Werror "${SAN[@]}" "$T/example.c" -o "$T/example-$pkg" \
        $(pkg-config --cflags soma) $(pkg-config --libs "$pkg")
    "$T/example-$pkg" >"$T/out-$pkg.txt" || fail "$pkg: the example failed: $(cat "$T/out-$pkg.txt")"
    check_output "$pkg" "$T/out-$pkg.txt"
    n=$((n + 1))
done
# the static build needs no libsoma.so; the shared one (when built) loads the installed one
readelf -d "$T/example-soma-static" | grep -q 'NEEDED.*libsoma' && fail "soma-static links libsoma.so"
if [ -e "$(pkg-config --variable=libdir soma)/libsoma.so" ]; then
    ldd "$T/example-soma" | grep -q "libsoma.so.* => $T/prefix" \
        || fail "the shared example does not load the installed libsoma.so: $(ldd "$T/example-soma" | grep soma)"
    n=$((n + 1))
fi
echo "test_install: $n passed, 0 failed"
