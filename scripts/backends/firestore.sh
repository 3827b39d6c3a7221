# Google's Firestore emulator for the tests of drivers/firestore, on
# 127.0.0.1:8085, in memory. Sourced by scripts/test after scripts/lib.sh.
#
# The emulator is the Java one of the Debian package
# google-cloud-cli-firestore-emulator (with OpenJDK 17), started offline
# with `gcloud emulators firestore start`; it is ready in about 9 s, when
# http://HOST/ answers "Ok". gcloud starts the emulator as a child (a shell
# script, then java), so it runs in a process group of its own, which is
# stopped as a whole when the run ends. gcloud's configuration and logs go
# to the run's directory, not to ~/.config/gcloud, and gcloud is told not
# to look for a GCE metadata server (it would look up
# metadata.google.internal at start).
#
# A port on which an emulator already answers is used as it is and never
# stopped (a developer may keep one running between runs). Exports
# FIRESTORE_EMULATOR_HOST, which the Go client follows by itself,
# SESSIONPLUS_FIRESTORE_PROJECT, the project id the tests use, and
# SESSIONPLUS_GCLOUD_BIN, the gcloud binary, with which the reliability
# tests start emulators of their own.

FIRESTORE_PORT="${SESSIONPLUS_FIRESTORE_PORT:-8085}"

# _firestore_install installs gcloud, the emulator, Java and curl where
# missing, and exports SESSIONPLUS_GCLOUD_BIN.
_firestore_install() {
  if ! apt_install google-cloud-cli google-cloud-cli-firestore-emulator openjdk-17-jre-headless curl; then
    echo "firestore: cannot install google-cloud-cli-firestore-emulator (with OpenJDK 17)" >&2
    return 1
  fi
  local gcloud
  gcloud=$(command -v gcloud) || { echo "firestore: gcloud is not on PATH" >&2; return 1; }
  export SESSIONPLUS_GCLOUD_BIN="$gcloud"
}

# _firestore_ok PORT reports whether a Firestore emulator answers on
# 127.0.0.1:PORT.
_firestore_ok() { [ "$(curl -s --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null)" = Ok ]; }

# _firestore_settled PID PORT succeeds once the emulator on PORT answers or
# PID (gcloud) has exited.
_firestore_settled() { _firestore_ok "$2" || ! kill -0 "$1" 2>/dev/null; }

# _firestore_stop PGID stops the emulator's process group: TERM, and KILL
# what is left after 5 s.
_firestore_stop() {
  kill -TERM -- "-$1" 2>/dev/null || return 0
  local n=0
  while kill -0 -- "-$1" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
  kill -KILL -- "-$1" 2>/dev/null || true
}

# _firestore_start starts an emulator on FIRESTORE_PORT and waits until it
# answers.
_firestore_start() {
  if port_open "$FIRESTORE_PORT"; then
    echo "firestore: something that is not a Firestore emulator listens on $FIRESTORE_EMULATOR_HOST" >&2
    return 1
  fi
  local dir="$SESSIONPLUS_RUN_DIR/firestore" pid t0
  mkdir -p "$dir/gcloud" || return 1
  local log="$dir/emulator.log"
  t0=$SECONDS
  # setsid: the emulator's process group is gcloud's own (its PID), so that
  # stopping the group stops the Java child too.
  CLOUDSDK_CONFIG="$dir/gcloud" CLOUDSDK_CORE_CHECK_GCE_METADATA=false \
    CLOUDSDK_CORE_DISABLE_PROMPTS=1 CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true \
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true \
    setsid "$SESSIONPLUS_GCLOUD_BIN" emulators firestore start --host-port="$FIRESTORE_EMULATOR_HOST" \
    >"$log" 2>&1 </dev/null &
  pid=$!
  on_stop "_firestore_stop $pid"
  track_pid "$pid" "firestore-emulator:$FIRESTORE_PORT"
  wait_until 60 "$log" _firestore_settled "$pid" "$FIRESTORE_PORT" || return 1
  if ! _firestore_ok "$FIRESTORE_PORT"; then
    echo "firestore: the emulator exited at start" >&2
    { echo "--- $log"; tail -50 "$log"; } >&2
    return 1
  fi
  echo "firestore: emulator on $FIRESTORE_EMULATOR_HOST (process group $pid), ready in $((SECONDS - t0)) s"
}

# start_backend_firestore installs the emulator if needed and starts it,
# unless one answers already. Under CI=true an emulator that cannot be
# started fails the run; otherwise the tests that need it skip.
start_backend_firestore() {
  export FIRESTORE_EMULATOR_HOST="127.0.0.1:$FIRESTORE_PORT"
  export SESSIONPLUS_FIRESTORE_PROJECT="${SESSIONPLUS_FIRESTORE_PROJECT:-sessionplus-test}"
  local installed=1 failed=0
  _firestore_install || installed=0
  if _firestore_ok "$FIRESTORE_PORT"; then
    echo "firestore: an emulator already answers on $FIRESTORE_EMULATOR_HOST; using it (it is not stopped)"
  elif [ "$installed" -eq 0 ] || ! _firestore_start; then
    failed=1
  fi
  if [ "$failed" -ne 0 ]; then
    unset FIRESTORE_EMULATOR_HOST
    if [ "${CI:-}" = true ]; then
      echo "firestore: the emulator could not be started; under CI=true that fails the run" >&2
      return 1
    fi
    echo "firestore: the emulator could not be started; the tests that need it will be skipped" >&2
  fi
}
