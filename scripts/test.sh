#!/usr/bin/env bash
# The test command: installs what the tests need (apt, when run as root and
# something is missing), checks formatting and lints, then runs every test
# inside a private Secret Service and a private X server.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dbus-run-session >/dev/null || missing+=(dbus-bin)
command -v dbus-daemon >/dev/null || missing+=(dbus-daemon)
command -v dbus-send >/dev/null || missing+=(dbus-bin)
command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
command -v secret-tool >/dev/null || missing+=(libsecret-tools)
command -v Xvfb >/dev/null || missing+=(xvfb)
command -v xclip >/dev/null || missing+=(xclip)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
command -v script >/dev/null || missing+=(bsdutils)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "test.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test.sh: missing packages: ${missing[*]}; install them (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo build --quiet
scripts/with-secret-service.sh scripts/with-xvfb.sh cargo test --no-fail-fast

# The recipe test that runs the real kubectl is ignored by default, since
# Debian 12's kubernetes-client (1.20) predates client.authentication.k8s.io/v1;
# it runs here whenever a kubectl is installed.
if command -v kubectl >/dev/null; then
  scripts/with-secret-service.sh scripts/with-xvfb.sh \
    cargo test --test cli -- --ignored kubectl_runs_the_exec_plugin
else
  echo "test.sh: kubectl not installed, so recipes::kubectl_runs_the_exec_plugin did not run" >&2
fi
