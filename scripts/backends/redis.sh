# Redis for the tests of drivers/redis: a standalone server on 127.0.0.1:6390,
# a Sentinel on 127.0.0.1:26390 that monitors it as master "sessionplus", and
# a three-master Redis Cluster on 127.0.0.1:7000-7002, all without
# persistence. Sourced by scripts/test after scripts/lib.sh.
#
# A port on which a Redis already answers is used as it is and never stopped
# (so a developer can keep servers running between runs); every server this
# run starts is stopped by PID when the run ends. Exports, for the servers
# that are up, SESSIONPLUS_REDIS_URL, SESSIONPLUS_REDIS_SENTINEL_ADDRS (with
# SESSIONPLUS_REDIS_SENTINEL_MASTER) and SESSIONPLUS_REDIS_CLUSTER_ADDRS, and
# SESSIONPLUS_REDIS_SERVER_BIN, the redis-server binary, with which the
# reliability tests start servers of their own.

REDIS_PORT=6390
REDIS_SENTINEL_PORT=26390
REDIS_SENTINEL_MASTER=sessionplus
REDIS_CLUSTER_PORTS=(7000 7001 7002)

# _redis_up PORT reports whether a Redis answers PING on 127.0.0.1:PORT.
_redis_up() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

# _redis_cluster_ok PORT... reports whether every node says cluster_state:ok.
_redis_cluster_ok() {
  local p
  for p in "$@"; do
    redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

# _redis_start PORT DIR [ARGS...] starts redis-server in the foreground under
# nohup, so that $! is the server itself, tracks its PID and waits until it
# answers. Its log is DIR/redis.log.
_redis_start() {
  local port=$1 dir=$2; shift 2
  mkdir -p "$dir" || return 1
  nohup redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$dir" --daemonize no "$@" >"$dir/redis.log" 2>&1 </dev/null &
  track_pid $! "redis-server:$port"
  wait_until 10 "$dir/redis.log" _redis_up "$port"
}

# _redis_free_or_redis PORT fails if something that is not Redis holds PORT.
_redis_free_or_redis() {
  if port_open "$1" && ! _redis_up "$1"; then
    echo "redis: port $1 is in use by something that is not Redis" >&2
    return 1
  fi
}

_redis_start_standalone() {
  _redis_free_or_redis "$REDIS_PORT" || return 1
  if _redis_up "$REDIS_PORT"; then
    echo "redis: a server already answers on port $REDIS_PORT; using it (it is not stopped)"
  else
    _redis_start "$REDIS_PORT" "$SESSIONPLUS_RUN_DIR/redis/$REDIS_PORT" || return 1
  fi
  export SESSIONPLUS_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
}

# _redis_sentinel_ok reports whether the Sentinel knows the master.
_redis_sentinel_ok() {
  redis-cli -h 127.0.0.1 -p "$REDIS_SENTINEL_PORT" sentinel get-master-addr-by-name "$REDIS_SENTINEL_MASTER" \
    2>/dev/null | grep -qx "$REDIS_PORT"
}

_redis_start_sentinel() {
  local dir=$SESSIONPLUS_RUN_DIR/redis/s$REDIS_SENTINEL_PORT
  _redis_free_or_redis "$REDIS_SENTINEL_PORT" || return 1
  if _redis_up "$REDIS_SENTINEL_PORT"; then
    echo "redis: a Sentinel already answers on port $REDIS_SENTINEL_PORT; using it (it is not stopped)"
  else
    # Sentinel rewrites its config file: give it one of its own.
    mkdir -p "$dir" || return 1
    printf 'sentinel monitor %s 127.0.0.1 %s 1\n' "$REDIS_SENTINEL_MASTER" "$REDIS_PORT" >"$dir/sentinel.conf"
    nohup redis-server "$dir/sentinel.conf" --sentinel --bind 127.0.0.1 --port "$REDIS_SENTINEL_PORT" \
      --dir "$dir" --daemonize no >"$dir/redis.log" 2>&1 </dev/null &
    track_pid $! "redis-sentinel:$REDIS_SENTINEL_PORT"
  fi
  wait_until 10 "$dir/redis.log" _redis_sentinel_ok || return 1
  export SESSIONPLUS_REDIS_SENTINEL_ADDRS="127.0.0.1:$REDIS_SENTINEL_PORT"
  export SESSIONPLUS_REDIS_SENTINEL_MASTER="$REDIS_SENTINEL_MASTER"
}

_redis_start_cluster() {
  local p up=0 dir=$SESSIONPLUS_RUN_DIR/redis
  for p in "${REDIS_CLUSTER_PORTS[@]}"; do
    _redis_free_or_redis "$p" || return 1
    if _redis_up "$p"; then up=$((up + 1)); fi
  done
  if [ "$up" -eq "${#REDIS_CLUSTER_PORTS[@]}" ]; then
    echo "redis: servers already answer on ports ${REDIS_CLUSTER_PORTS[*]}; using them as the cluster (they are not stopped)"
  elif [ "$up" -gt 0 ]; then
    echo "redis: only some of the ports ${REDIS_CLUSTER_PORTS[*]} have a Redis; stop it, or start all three" >&2
    return 1
  else
    local addrs=()
    for p in "${REDIS_CLUSTER_PORTS[@]}"; do
      # A stale nodes.conf makes "create" fail: start from empty node dirs.
      rm -rf "$dir/c$p"
      _redis_start "$p" "$dir/c$p" --cluster-enabled yes \
        --cluster-config-file "$dir/c$p/nodes.conf" --cluster-node-timeout 5000 || return 1
      addrs+=("127.0.0.1:$p")
    done
    if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
      >"$dir/cluster-create.log" 2>&1 </dev/null; then
      echo "redis: cluster create failed:" >&2
      cat "$dir/cluster-create.log" >&2
      return 1
    fi
  fi
  # The log printed past the deadline is the first node's.
  wait_until 30 "$dir/c${REDIS_CLUSTER_PORTS[0]}/redis.log" _redis_cluster_ok "${REDIS_CLUSTER_PORTS[@]}" || return 1
  local list=()
  for p in "${REDIS_CLUSTER_PORTS[@]}"; do list+=("127.0.0.1:$p"); done
  SESSIONPLUS_REDIS_CLUSTER_ADDRS=$(IFS=,; echo "${list[*]}")
  export SESSIONPLUS_REDIS_CLUSTER_ADDRS
}

# start_backend_redis installs redis-server and redis-tools if missing and
# starts the standalone server, the Sentinel and the cluster. Under CI=true a server that
# cannot be started fails the run; otherwise the tests that need it skip.
start_backend_redis() {
  local t0 failed=0
  t0=$(date +%s%N)
  if ! apt_install redis-server redis-tools; then
    echo "redis: could not install redis-server and redis-tools" >&2
    failed=1
  else
    SESSIONPLUS_REDIS_SERVER_BIN=$(command -v redis-server) && export SESSIONPLUS_REDIS_SERVER_BIN
    if _redis_start_standalone; then
      _redis_start_sentinel || failed=1
    else
      failed=1
    fi
    _redis_start_cluster || failed=1
  fi
  if [ "$failed" -ne 0 ]; then
    if [ "${CI:-}" = true ]; then
      echo "redis: a server could not be started; under CI=true that fails the run" >&2
      return 1
    fi
    echo "redis: a server could not be started; the tests that need it will be skipped" >&2
  fi
  echo "redis: started in $(( ($(date +%s%N) - t0) / 1000000 )) ms (SESSIONPLUS_REDIS_URL=${SESSIONPLUS_REDIS_URL:-unset}," \
    "SESSIONPLUS_REDIS_SENTINEL_ADDRS=${SESSIONPLUS_REDIS_SENTINEL_ADDRS:-unset}," \
    "SESSIONPLUS_REDIS_CLUSTER_ADDRS=${SESSIONPLUS_REDIS_CLUSTER_ADDRS:-unset})"
}
