# Memcached for the memcache driver's tests: two instances on loopback, so
# that the tests see keys spread over several servers. Sourced by
# scripts/test after scripts/lib.sh; start_backend_memcache exports
# SESSIONPLUS_MEMCACHE_ADDRS, and SESSIONPLUS_MEMCACHED_BIN, the memcached
# binary, with which the reliability tests start servers of their own.

# Ports of the two instances.
MEMCACHE_PORTS=(11311 11312)

# memcache_answers PORT reports whether a memcached on 127.0.0.1:PORT answers
# the version command.
memcache_answers() (
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf 'version\r\n' >&3
  IFS= read -r -t 2 reply <&3 || exit 1
  [[ $reply == VERSION* ]]
)

start_backend_memcache() {
  apt_install memcached
  SESSIONPLUS_MEMCACHED_BIN=$(command -v memcached) && export SESSIONPLUS_MEMCACHED_BIN
  # The package's own service, if any, listens on 11211 and is left alone.
  local dir="$SESSIONPLUS_RUN_DIR/memcache" addrs=() port log pid
  mkdir -p "$dir"
  for port in "${MEMCACHE_PORTS[@]}"; do
    addrs+=("127.0.0.1:$port")
    if memcache_answers "$port" 2>/dev/null; then
      echo "memcached on 127.0.0.1:$port is already running: using it"
      continue
    fi
    if port_open "$port"; then
      echo "127.0.0.1:$port is taken by something that does not answer as memcached" >&2
      return 1
    fi
    log="$dir/$port.log"
    # In the foreground under nohup, so that $! is memcached itself (with -d
    # the pid file is written after dropping to the memcache user). -U 0: no
    # UDP; -m 64: 64 MiB of memory; item size limit: the default 1 MiB.
    nohup memcached -u memcache -l 127.0.0.1 -p "$port" -U 0 -m 64 >"$log" 2>&1 </dev/null &
    pid=$!
    track_pid "$pid" "memcached:$port"
    if ! wait_until 10 "$log" memcache_answers "$port"; then
      kill -0 "$pid" 2>/dev/null || echo "memcached on port $port exited" >&2
      return 1
    fi
    echo "memcached on 127.0.0.1:$port (pid $pid)"
  done
  export SESSIONPLUS_MEMCACHE_ADDRS
  SESSIONPLUS_MEMCACHE_ADDRS=$(IFS=,; echo "${addrs[*]}")
}
