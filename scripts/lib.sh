# Helpers for scripts/test and scripts/backends/*.sh. Sourced, not run.

# step prints a heading for the next part of the run.
step() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

# apt_install installs the Debian packages that are missing, updating the
# package lists once per run.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "${_APT_UPDATED:-}" ]; then
    apt-get update -qq
    _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# track_pid PID NAME records a process that stop_all must stop.
_PIDS=()
_PID_NAMES=()
track_pid() { _PIDS+=("$1"); _PID_NAMES+=("$2"); }

# _STOPS holds extra commands stop_all runs (e.g. redis-cli shutdown).
_STOPS=()
on_stop() { _STOPS+=("$1"); }

# stop_all stops everything this run started, by PID.
stop_all() {
  local rc=$?
  for cmd in "${_STOPS[@]+"${_STOPS[@]}"}"; do eval "$cmd" >/dev/null 2>&1 || true; done
  for i in "${!_PIDS[@]}"; do
    kill "${_PIDS[$i]}" 2>/dev/null || true
  done
  for i in "${!_PIDS[@]}"; do
    local n=0
    while kill -0 "${_PIDS[$i]}" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    kill -9 "${_PIDS[$i]}" 2>/dev/null || true
  done
  [ -n "${SESSIONPLUS_KEEP_RUN_DIR:-}" ] || rm -rf "$SESSIONPLUS_RUN_DIR"
  exit $rc
}

# wait_until SECONDS LOGFILE CMD... polls CMD until it succeeds; past the
# deadline it prints LOGFILE and fails.
wait_until() {
  local secs=$1 log=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "not ready after ${secs}s: $*" >&2
      [ -f "$log" ] && { echo "--- $log"; tail -50 "$log"; } >&2
      return 1
    fi
    sleep 0.1
  done
}

# port_open PORT reports whether something accepts TCP connections on
# 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
