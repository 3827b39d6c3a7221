# A MongoDB wire-protocol server for the tests of drivers/mongo: FerretDB
# v1.24.2 with its SQLite backend on 127.0.0.1:27018, data in a fresh
# directory of the run. Sourced by scripts/test after scripts/lib.sh.
#
# No mongod can be installed on these machines; FerretDB builds from the Go
# module proxy. tools/ferretdb is a tiny launcher around FerretDB's
# embeddable package, in a module of its own so that FerretDB never enters
# the library's go.mod. Its binary is built once per machine into
# $SESSIONPLUS_CACHE_DIR (a cold build takes about a minute on 2 cores).
#
# A port on which something already answers is used as it is and never
# stopped (a developer may run a real mongod there); the server this run
# starts is stopped by PID when the run ends. Exports SESSIONPLUS_MONGODB_URL,
# and SESSIONPLUS_FERRETDB_BIN, the launcher's binary (when built), with which
# the reliability tests start servers of their own.
# To run the driver's tests against a real MongoDB instead, set
# SESSIONPLUS_MONGODB_URL yourself and run go test ./drivers/mongo/.

FERRETDB_VERSION=v1.24.2
MONGODB_PORT=27018

# _ferretdb_build builds the launcher into the cache unless it is there.
_ferretdb_build() {
  local bin=$SESSIONPLUS_CACHE_DIR/ferretdb-$FERRETDB_VERSION t0
  if [ -x "$bin" ]; then
    echo "mongodb: using the cached $bin"
    return 0
  fi
  t0=$SECONDS
  echo "mongodb: building FerretDB $FERRETDB_VERSION into $bin (about a minute the first time)"
  # Build to a temporary name and move it, so an interrupted build never
  # leaves a broken binary in the cache.
  if ! (cd tools/ferretdb && go build -mod=readonly -buildvcs=false -o "$bin.tmp.$$" .); then
    rm -f "$bin.tmp.$$"
    echo "mongodb: building FerretDB failed" >&2
    return 1
  fi
  mv -f "$bin.tmp.$$" "$bin"
  echo "mongodb: built in $((SECONDS - t0)) s"
}

# _ferretdb_up_or_gone PID reports whether the port accepts connections or
# the server PID has exited (so that wait_until stops early on a crash).
_ferretdb_up_or_gone() { port_open "$MONGODB_PORT" || ! kill -0 "$1" 2>/dev/null; }

_mongodb_start() {
  if port_open "$MONGODB_PORT"; then
    echo "mongodb: a server already answers on 127.0.0.1:$MONGODB_PORT; using it (it is not stopped)"
    export SESSIONPLUS_MONGODB_URL="mongodb://127.0.0.1:$MONGODB_PORT/"
    return 0
  fi
  _ferretdb_build || return 1
  local dir=$SESSIONPLUS_RUN_DIR/ferretdb pid t0
  rm -rf "$dir"
  mkdir -p "$dir/data" || return 1
  t0=$(date +%s%N)
  nohup "$SESSIONPLUS_CACHE_DIR/ferretdb-$FERRETDB_VERSION" -listen "127.0.0.1:$MONGODB_PORT" -data "$dir/data" \
    >"$dir/ferretdb.log" 2>&1 </dev/null &
  pid=$!
  track_pid "$pid" "ferretdb:$MONGODB_PORT"
  wait_until 30 "$dir/ferretdb.log" _ferretdb_up_or_gone "$pid" || return 1
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "mongodb: FerretDB exited at start:" >&2
    tail -50 "$dir/ferretdb.log" >&2
    return 1
  fi
  echo "mongodb: FerretDB on 127.0.0.1:$MONGODB_PORT (pid $pid), ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  export SESSIONPLUS_MONGODB_URL="mongodb://127.0.0.1:$MONGODB_PORT/"
}

# start_backend_mongodb builds FerretDB if needed and starts it. Under
# CI=true a server that cannot be started fails the run; otherwise the tests
# that need it skip.
start_backend_mongodb() {
  local failed=0
  _mongodb_start || failed=1
  if [ -x "$SESSIONPLUS_CACHE_DIR/ferretdb-$FERRETDB_VERSION" ]; then
    export SESSIONPLUS_FERRETDB_BIN="$SESSIONPLUS_CACHE_DIR/ferretdb-$FERRETDB_VERSION"
  fi
  if [ "$failed" -ne 0 ]; then
    if [ "${CI:-}" = true ]; then
      echo "mongodb: the server could not be started; under CI=true that fails the run" >&2
      return 1
    fi
    echo "mongodb: the server could not be started; the tests that need it will be skipped" >&2
  fi
}
