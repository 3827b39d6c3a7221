# PostgreSQL for the tests of drivers/postgres: a throwaway cluster on
# 127.0.0.1:5439 (TCP only on loopback, its socket in its own directory),
# trust authentication, no durability (fsync off), data in a fresh directory
# of the run. Sourced by scripts/test after scripts/lib.sh.
#
# Debian's postgresql package is installed if missing; its binaries are
# found with pg_config --bindir, or under /usr/lib/postgresql/*/bin. PostgreSQL
# refuses to run as root, so under root initdb and pg_ctl run as the
# package's postgres user (runuser), on a data directory that user owns;
# the run directory is made traversable (a+x, not readable) for it.
#
# A port on which a PostgreSQL already answers (pg_isready) is used as it is
# and never stopped (a developer may keep a server running between runs);
# the server this run starts is stopped with pg_ctl stop -m fast when the
# run ends, and by PID if that fails. Exports SESSIONPLUS_POSTGRES_URL, and
# SESSIONPLUS_POSTGRES_BINDIR, the directory of initdb, pg_ctl and postgres,
# with which other tests may start servers of their own.

POSTGRES_PORT=5439

# _pg_bindir prints the directory of the server's binaries: pg_config's, if
# it holds initdb, else the newest /usr/lib/postgresql/*/bin that does.
_pg_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null)
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

# _pg_as CMD... runs CMD as the postgres user when this script runs as root
# (the server refuses root), from DIR=$_PG_DIR so that the user can read its
# working directory; as anyone else, runs it as is.
_pg_as() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$_PG_DIR" && runuser -u postgres -- "$@")
  else
    (cd "$_PG_DIR" && "$@")
  fi
}

# _pg_up reports whether a PostgreSQL accepts connections on the port.
_pg_up() { "$_PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT"; }

# _pg_up_or_gone PID reports whether the server answers or its postmaster
# PID (when known) has exited, so that wait_until stops early on a crash.
_pg_up_or_gone() {
  _pg_up && return 0
  [ -n "${1:-}" ] && ! kill -0 "$1" 2>/dev/null
}

_pg_start() {
  _PG_BINDIR=$(_pg_bindir) || {
    echo "postgres: no initdb/pg_ctl found (pg_config --bindir, /usr/lib/postgresql/*/bin)" >&2
    return 1
  }
  export SESSIONPLUS_POSTGRES_BINDIR="$_PG_BINDIR"
  local url="postgres://postgres@127.0.0.1:$POSTGRES_PORT/postgres?sslmode=disable"
  _PG_DIR=$SESSIONPLUS_RUN_DIR/postgres
  if _pg_up; then
    echo "postgres: a server already answers on 127.0.0.1:$POSTGRES_PORT; using it (it is not stopped)"
    export SESSIONPLUS_POSTGRES_URL="$url"
    return 0
  fi
  if port_open "$POSTGRES_PORT"; then
    echo "postgres: port $POSTGRES_PORT is in use by something that is not PostgreSQL" >&2
    return 1
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "postgres: running as root, and there is no postgres user to run the server as" >&2
    return 1
  fi

  local data=$_PG_DIR/data log=$_PG_DIR/postgres.log pid="" t0
  rm -rf "$_PG_DIR"
  mkdir -p "$_PG_DIR" || return 1
  if [ "$(id -u)" -eq 0 ]; then
    # The run directory is root's, mode 0700: let the postgres user through.
    chmod a+x "$SESSIONPLUS_RUN_DIR" || return 1
    chown postgres: "$_PG_DIR" || return 1
  fi
  t0=$(date +%s%N)
  if ! _pg_as "$_PG_BINDIR/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"$_PG_DIR/initdb.log" 2>&1 </dev/null; then
    echo "postgres: initdb failed:" >&2
    tail -50 "$_PG_DIR/initdb.log" >&2
    return 1
  fi
  # -W: do not wait here; the loop below waits, with a deadline, and
  # prints the log if the server never answers.
  if ! _pg_as "$_PG_BINDIR/pg_ctl" -D "$data" -l "$log" -W \
    -o "-c listen_addresses=127.0.0.1 -p $POSTGRES_PORT -c unix_socket_directories='$_PG_DIR' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >"$_PG_DIR/pg_ctl.log" 2>&1 </dev/null; then
    echo "postgres: pg_ctl start failed:" >&2
    cat "$_PG_DIR/pg_ctl.log" >&2
    [ -f "$log" ] && tail -50 "$log" >&2
    return 1
  fi
  on_stop "_pg_as '$_PG_BINDIR/pg_ctl' -D '$data' stop -m fast -w -t 20"
  # The postmaster writes its PID on the first line of postmaster.pid.
  local n=0
  while [ ! -s "$data/postmaster.pid" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
  pid=$(head -1 "$data/postmaster.pid" 2>/dev/null || true)
  [ -n "$pid" ] && track_pid "$pid" "postgres:$POSTGRES_PORT"
  wait_until 30 "$log" _pg_up_or_gone "$pid" || return 1
  if ! _pg_up; then
    echo "postgres: the server exited at start:" >&2
    tail -50 "$log" >&2
    return 1
  fi
  echo "postgres: PostgreSQL $("$_PG_BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$POSTGRES_PORT" \
    "(pid ${pid:-unknown}), ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  export SESSIONPLUS_POSTGRES_URL="$url"
}

# start_backend_postgres installs postgresql if missing and starts the
# server. Under CI=true a server that cannot be started fails the run;
# otherwise the tests that need it skip.
start_backend_postgres() {
  local failed=0
  if ! apt_install postgresql; then
    echo "postgres: could not install postgresql" >&2
    failed=1
  else
    _pg_start || failed=1
  fi
  if [ "$failed" -ne 0 ]; then
    if [ "${CI:-}" = true ]; then
      echo "postgres: the server could not be started; under CI=true that fails the run" >&2
      return 1
    fi
    echo "postgres: the server could not be started; the tests that need it will be skipped" >&2
  fi
}
