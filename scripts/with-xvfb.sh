#!/usr/bin/env bash
# Runs a command with a private X server (Xvfb) for the clipboard tests, and
# stops the server afterwards. The display number is picked by Xvfb itself.
set -euo pipefail

if ! command -v Xvfb >/dev/null; then
  echo "with-xvfb: Xvfb is missing; install xvfb" >&2
  exit 1
fi

fifo_dir=$(mktemp -d "${TMPDIR:-/tmp}/entratool-x.XXXXXX")
mkfifo "$fifo_dir/display"
Xvfb -displayfd 3 -nolisten tcp -screen 0 640x480x24 3>"$fifo_dir/display" 2>/dev/null &
xvfb_pid=$!
cleanup() {
  kill "$xvfb_pid" 2>/dev/null || true
  wait "$xvfb_pid" 2>/dev/null || true
  rm -rf "$fifo_dir"
}
trap cleanup EXIT
read -r display_number <"$fifo_dir/display"

# The clipboard tests read this; DISPLAY stays unset so the keyring never
# tries to show an unlock prompt on the test display.
export ENTRATOOL_TEST_DISPLAY=":$display_number"
status=0
"$@" || status=$?
exit "$status"
