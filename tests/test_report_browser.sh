#!/usr/bin/env bash
# Renders a sample report in headless Chromium: every <svg> must survive HTML parsing (the
# DOM holds as many as the file) and a screenshot is taken for a human to look at.
#   bash tests/test_report_browser.sh [SOMA_CLI]     (the CLI argument is not needed)
# Needs $SOMA_BINARY_DIR/test_plot (it writes the sample out dir + report). Without Chromium
# it exits 77, which ctest lists as "Skipped", unless SOMA_REQUIRE_BROWSER=1 (make test sets it,
# having installed Chromium), where a missing browser is a failure.
# The screenshot is kept at $SOMA_BINARY_DIR/report_browser/report.png.
set -u
BIN="${SOMA_BINARY_DIR:-build}"
CHROME="${SOMA_CHROMIUM:-}"
if [ -z "$CHROME" ]; then
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then CHROME=$(command -v "$c"); break; fi
  done
fi
if [ -z "$CHROME" ]; then
  if [ "${SOMA_REQUIRE_BROWSER:-0}" = "1" ]; then
    echo "FAIL: chromium not installed and SOMA_REQUIRE_BROWSER=1"; exit 1
  fi
  echo "*** SKIPPED: chromium not installed; the report was not rendered (SOMA_REQUIRE_BROWSER=1 makes this a failure) ***" >&2
  exit 77
fi
if [ ! -x "$BIN/test_plot" ]; then echo "FAIL: $BIN/test_plot not built"; exit 1; fi

WORK="$BIN/report_browser"
rm -rf "$WORK" && mkdir -p "$WORK"
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
n_svg=$("$BIN/test_plot" --write-report "$WORK") || { echo "FAIL: test_plot --write-report"; exit 1; }
HTML="$(cd "$WORK" && pwd)/report.html"
FLAGS=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$PROFILE")
fail=0
timeout 120 "$CHROME" "${FLAGS[@]}" --dump-dom "file://$HTML" >"$WORK/dom.html" 2>"$WORK/chromium.log"
n_file=$(grep -o '<svg ' "$HTML" | wc -l)
n_dom=$(grep -o '<svg ' "$WORK/dom.html" | wc -l)
n_dom_close=$(grep -o '</svg>' "$WORK/dom.html" | wc -l)
echo "svg: written $n_svg, in file $n_file, in DOM $n_dom (closed $n_dom_close)"
if [ "$n_svg" -lt 1 ] || [ "$n_file" != "$n_svg" ] || [ "$n_dom" != "$n_file" ] || [ "$n_dom_close" != "$n_file" ]; then
  echo "FAIL: SVG counts differ"; fail=1
fi
# the parsed page still holds the runs, the error note and the figures' text
for want in 'lenet-fmnist' 'schultz1997' 'not valid JSON' 'paper: 90.5%' 'class="colorbar"' '</html>'; do
  grep -qF -- "$want" "$WORK/dom.html" || { echo "FAIL: DOM lacks $want"; fail=1; }
done
# SVG content must stay in the SVG namespace: foreignObject-free, no parser error text
if grep -q 'parsererror' "$WORK/dom.html"; then echo "FAIL: parser error in DOM"; fail=1; fi
rm -rf "$PROFILE"/* 2>/dev/null
timeout 120 "$CHROME" "${FLAGS[@]}" --hide-scrollbars --window-size=1200,2000 \
  --screenshot="$WORK/report.png" "file://$HTML" >>"$WORK/chromium.log" 2>&1
if [ ! -s "$WORK/report.png" ] || [ "$(head -c 8 "$WORK/report.png" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]; then
  echo "FAIL: no screenshot (see $WORK/chromium.log)"; fail=1
else
  echo "screenshot: $WORK/report.png ($(wc -c <"$WORK/report.png") bytes)"
fi
[ "$fail" = 0 ] && echo "PASS" || { tail -n 20 "$WORK/chromium.log"; }
exit "$fail"
