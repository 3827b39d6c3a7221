# Firestore API emulator for the firestore driver's tests. Sourced by
# scripts/test after scripts/lib.sh.
#
# The official emulator (a Java jar fetched at run time) cannot be downloaded
# here, so the tests run against @firestore-emulator/server, an in-memory
# implementation of the Firestore gRPC API in Node, through the launcher in
# tools/firestore-emulator/ (which binds loopback and fixes how the emulator
# applies update masks: see server.js). Its npm packages are installed from
# the lockfile into $SESSIONPLUS_CACHE_DIR/firestore-emulator (kept between
# runs, never committed), and reinstalled only when the lockfile changes.
#
# Sets FIRESTORE_EMULATOR_HOST, which the Go client follows by itself, and
# SESSIONPLUS_FIRESTORE_PROJECT, the project id the tests use; and, once the
# packages are installed, SESSIONPLUS_FIRESTORE_LAUNCHER and
# SESSIONPLUS_FIRESTORE_NODE_PATH, with which the reliability tests start
# emulators of their own.

FIRESTORE_PORT="${SESSIONPLUS_FIRESTORE_PORT:-8085}"

# _firestore_install installs the emulator's npm packages, unless they were
# installed from the same lockfile already.
_firestore_install() {
  local src="$ROOT/tools/firestore-emulator" dir="$SESSIONPLUS_CACHE_DIR/firestore-emulator"
  # The marker is written last, so an interrupted install is redone.
  if cmp -s "$src/package-lock.json" "$dir/installed.package-lock.json"; then
    return 0
  fi
  command -v npm >/dev/null || { echo "firestore: npm is not installed (Node 20 or later is needed)" >&2; return 1; }
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  echo "installing the Firestore emulator's npm packages into $dir"
  # --ignore-scripts: the only install script, protobufjs's postinstall,
  # merely warns about version ranges.
  if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error); then
    rm -rf "$dir"
    return 1
  fi
  cp "$src/package-lock.json" "$dir/installed.package-lock.json"
}

# _firestore_export_launcher exports the launcher and its packages, if
# installed.
_firestore_export_launcher() {
  local nm="$SESSIONPLUS_CACHE_DIR/firestore-emulator/node_modules"
  [ -d "$nm" ] || return 0
  export SESSIONPLUS_FIRESTORE_LAUNCHER="$ROOT/tools/firestore-emulator/server.js"
  export SESSIONPLUS_FIRESTORE_NODE_PATH="$nm"
}

# _firestore_settled PID PORT succeeds once PORT answers or PID has exited.
_firestore_settled() { port_open "$2" || ! kill -0 "$1" 2>/dev/null; }

start_backend_firestore() {
  export FIRESTORE_EMULATOR_HOST="127.0.0.1:$FIRESTORE_PORT"
  export SESSIONPLUS_FIRESTORE_PROJECT="${SESSIONPLUS_FIRESTORE_PROJECT:-sessionplus-test}"
  if port_open "$FIRESTORE_PORT"; then
    echo "something already listens on $FIRESTORE_EMULATOR_HOST: using it as the Firestore emulator"
    _firestore_export_launcher
    return 0
  fi
  if ! _firestore_install; then
    echo "firestore: cannot install the emulator" >&2
    return 1
  fi
  _firestore_export_launcher
  local dir="$SESSIONPLUS_RUN_DIR/firestore"
  mkdir -p "$dir" || return 1
  local log="$dir/emulator.log"
  NODE_PATH="$SESSIONPLUS_CACHE_DIR/firestore-emulator/node_modules" \
    nohup node "$ROOT/tools/firestore-emulator/server.js" "$FIRESTORE_EMULATOR_HOST" >"$log" 2>&1 </dev/null &
  local pid=$!
  track_pid "$pid" firestore
  # Ready when the port accepts connections (the launcher also logs
  # "listening on" once bound); stop waiting early if node has exited.
  wait_until 30 "$log" _firestore_settled "$pid" "$FIRESTORE_PORT" || return 1
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "firestore: the emulator exited at start" >&2
    { echo "--- $log"; tail -50 "$log"; } >&2
    return 1
  fi
  echo "Firestore emulator (pid $pid) on $FIRESTORE_EMULATOR_HOST"
}
