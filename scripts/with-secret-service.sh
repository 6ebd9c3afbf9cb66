#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked
# gnome-keyring providing org.freedesktop.secrets, then stops both.
#
#   scripts/with-secret-service.sh cargo test
#
# HOME is left alone (rustup's cargo needs it); the keyring files go to a
# temporary XDG_DATA_HOME instead, so the user's own keyring is never touched.
set -euo pipefail

if [[ "${ENTRATOOL_IN_SECRET_SERVICE:-}" == 1 ]]; then
  exec "$@"
fi

for tool in dbus-run-session gnome-keyring-daemon dbus-send; do
  if ! command -v "$tool" >/dev/null; then
    echo "with-secret-service: $tool is missing; install dbus-daemon dbus-bin gnome-keyring" >&2
    exit 1
  fi
done

workdir=$(mktemp -d "${TMPDIR:-/tmp}/entratool-ss.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
mkdir -p "$workdir/data" "$workdir/runtime"
chmod 700 "$workdir/runtime"

export XDG_DATA_HOME="$workdir/data"
export XDG_RUNTIME_DIR="$workdir/runtime"
# Without a display gnome-keyring cannot show an unlock prompt, and with one
# it would block on it; the private keyring is unlocked from stdin instead.
unset DISPLAY WAYLAND_DISPLAY

export ENTRATOOL_SS_WORKDIR="$workdir"
exec dbus-run-session -- bash -c '
  set -euo pipefail
  eval "$(printf "%s" "entratool-test-keyring" | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL
  # --unlock returns before the daemon owns the bus name; wait for it.
  for _ in $(seq 1 200); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
         org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
         | grep -q "boolean true"; then
      break
    fi
    sleep 0.05
  done
  daemon_pid=$(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets \
      | awk "/uint32/ {print \$2}")
  if [[ -z "$daemon_pid" ]]; then
    echo "with-secret-service: gnome-keyring did not take org.freedesktop.secrets" >&2
    exit 1
  fi
  status=0
  ENTRATOOL_IN_SECRET_SERVICE=1 "$@" || status=$?
  kill "$daemon_pid" 2>/dev/null || true
  exit "$status"
' with-secret-service "$@"
