# Chromium for the browser test of the example app (example/browser_test.go),
# which drives Debian's headless chromium through the DevTools protocol. There
# is no server to start: the test launches the browser itself, with a fresh
# profile, and stops it. Sourced by scripts/test after scripts/lib.sh.
#
# Exports SESSIONPLUS_CHROMIUM, the browser's path, when it is installed.

CHROMIUM_PATH=/usr/bin/chromium

# start_backend_chromium installs Debian's chromium package if the browser is
# missing and prints its version. Under CI=true a browser that cannot be
# installed fails the run; otherwise the browser test skips.
start_backend_chromium() {
  local t0 version
  t0=$(date +%s%N)
  if [ ! -x "$CHROMIUM_PATH" ] && ! apt_install chromium; then
    echo "chromium: could not install the chromium package" >&2
  fi
  if [ ! -x "$CHROMIUM_PATH" ] || ! version=$("$CHROMIUM_PATH" --version 2>/dev/null); then
    if [ "${CI:-}" = true ]; then
      echo "chromium: $CHROMIUM_PATH is missing or does not run; under CI=true that fails the run" >&2
      return 1
    fi
    echo "chromium: $CHROMIUM_PATH is missing or does not run; the browser test will be skipped" >&2
    return 0
  fi
  export SESSIONPLUS_CHROMIUM=$CHROMIUM_PATH
  echo "chromium: $version, ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms (SESSIONPLUS_CHROMIUM=$SESSIONPLUS_CHROMIUM)"
}
