#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then the README's C API example is extracted,
# compiled against the installed headers with pkg-config, linked, and run.
set -eu
SOMA=${1:?usage: test_install.sh PATH_TO_SOMA}
BUILD=${SOMA_BINARY_DIR:-$(dirname "$SOMA")}
SRC=${SOMA_SOURCE_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/prefix" >"$T/install.log" 2>&1 || { cat "$T/install.log"; exit 1; }
test -f "$T/prefix/include/soma/soma.h"
PC=$(find "$T/prefix" -name soma.pc | head -1)
test -n "$PC" || { echo "FAIL: no soma.pc installed"; exit 1; }
# the example between the api-example markers of the README
awk '/<!-- api-example -->/{on=1; next} /<!-- \/api-example -->/{on=0} on && !/^```/' "$SRC/README.md" >"$T/example.c"
test -s "$T/example.c" || { echo "FAIL: no API example found in README.md"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$PC")"
SAN=()
[ "${SOMA_SANITIZED:-0}" = 1 ] && SAN=(-fsanitize=address,undefined)  # the library was built so
cc -std=c11 -Wall -Wextra -Werror "${SAN[@]}" "$T/example.c" -o "$T/example" $(pkg-config --cflags soma) \
   $(pkg-config --libs --static soma)
LD_LIBRARY_PATH="$(pkg-config --variable=libdir soma)" "$T/example" >"$T/out.txt"
cat "$T/out.txt"
grep -q "accuracy" "$T/out.txt"
echo "test_install: 1 passed, 0 failed"
