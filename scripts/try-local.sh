#!/usr/bin/env bash
# Tries the main job end to end without an Azure tenant: starts the local
# Entra stand-in, creates a profile in a throw-away config folder and runs
# `cargo run -- get-token` against it. Nothing outside that folder changes.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --example fake_entra
port=${PORT:-8400}
./target/debug/examples/fake_entra --port "$port" &
server_pid=$!
config_dir=$(mktemp -d "${TMPDIR:-/tmp}/entratool-try.XXXXXX")
trap 'kill "$server_pid" 2>/dev/null || true; rm -rf "$config_dir"' EXIT
sleep 0.3

export ENTRATOOL_CONFIG_DIR="$config_dir"
export ENTRATOOL_AUTHORITY="http://127.0.0.1:$port"
cargo run --quiet -- config create --name demo \
  --tenant-id 4a8b6c2d-1e3f-4a5b-8c7d-9e0f1a2b3c4d \
  --client-id 0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0 \
  --scopes https://graph.microsoft.com/.default --no-secret
ENTRATOOL_CLIENT_SECRET='s3cr+t/value=with%odd~chars' cargo run --quiet -- get-token -p demo "$@"
