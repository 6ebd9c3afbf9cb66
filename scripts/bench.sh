#!/usr/bin/env bash
# Benchmarks `entratool get-token` (release build) against the local Entra
# stand-in, beside curl sending the same POST, and reports the time ratio
# and the peak resident memory of one run. A measurement, not a test.
#
#   bash scripts/bench.sh            (needs hyperfine, curl and GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v curl >/dev/null || missing+=(curl)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bench.sh: install ${missing[*]} first" >&2
    exit 1
  fi
fi

cargo build --release --quiet
cargo build --release --quiet --example fake_entra
bin=$PWD/target/release/entratool

port=${PORT:-8401}
./target/release/examples/fake_entra --port "$port" 2>/dev/null &
server_pid=$!
work=$(mktemp -d "${TMPDIR:-/tmp}/entratool-bench.XXXXXX")
trap 'kill "$server_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 0.3

tenant=4a8b6c2d-1e3f-4a5b-8c7d-9e0f1a2b3c4d
client=0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0
secret='s3cr+t/value=with%odd~chars'
export ENTRATOOL_CONFIG_DIR="$work/config"
export ENTRATOOL_AUTHORITY="http://127.0.0.1:$port"
export ENTRATOOL_CLIENT_SECRET="$secret"
"$bin" config create --name bench --tenant-id "$tenant" --client-id "$client" --no-secret 2>/dev/null

# curl sends the same form body to the same endpoint.
token_url="$ENTRATOOL_AUTHORITY/$tenant/oauth2/v2.0/token"
curl_cmd="curl -sS -o /dev/null -X POST $token_url --data-urlencode client_id=$client --data-urlencode 'client_secret=$secret' --data-urlencode grant_type=client_credentials --data-urlencode scope=https://graph.microsoft.com/.default"

echo "== get-token (network every call) vs curl"
hyperfine --warmup 5 --runs "${RUNS:-100}" -N --export-json "$work/network.json" \
  -n curl "$curl_cmd" \
  -n entratool "$bin get-token -p bench --no-cache" 2>/dev/null | sed -n '/Summary/,$p' || true
python3 - "$work/network.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
curl, tool = results["curl"]["mean"], results["entratool"]["mean"]
print(f"mean: curl {curl*1000:.2f} ms, entratool {tool*1000:.2f} ms, ratio {tool/curl:.2f}")
PY

# The floor: the smallest Rust program that reads and prints a small file.
floor_dir="$work/floor"
mkdir -p "$floor_dir"
printf 'header.claims.signature\n' >"$floor_dir/token.txt"
cat >"$floor_dir/main.rs" <<'RS'
fn main() {
    let path = std::env::args().nth(1).expect("a path");
    print!("{}", std::fs::read_to_string(path).expect("readable file"));
}
RS
rustc -O -o "$floor_dir/print-file" "$floor_dir/main.rs"

"$bin" get-token -p bench >/dev/null   # fill the cache
cached_cmds=(-n floor "$floor_dir/print-file $floor_dir/token.txt" -n cached-env-secret "$bin get-token -p bench")
if [[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]] && printf '%s' "$secret" |
    "$bin" config create --name bench-kr --tenant-id "$tenant" --client-id "$client" \
      --client-secret-stdin 2>/dev/null; then
  env -u ENTRATOOL_CLIENT_SECRET "$bin" get-token -p bench-kr >/dev/null
  cached_cmds+=(-n cached-keyring "env -u ENTRATOOL_CLIENT_SECRET $bin get-token -p bench-kr")
fi
echo "== cached path vs the floor"
hyperfine --warmup 5 --runs "${RUNS:-100}" -N --export-json "$work/cached.json" "${cached_cmds[@]}" 2>/dev/null |
  sed -n '/Summary/,$p' || true
python3 - "$work/cached.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
floor = results["floor"]["mean"]
for name, r in results.items():
    print(f"mean: {name} {r['mean']*1000:.2f} ms (x{r['mean']/floor:.1f} the floor)")
PY

echo "== peak RSS of one run (KiB)"
/usr/bin/time -f "entratool get-token (cached): %M KiB" "$bin" get-token -p bench >/dev/null
/usr/bin/time -f "entratool get-token: %M KiB" "$bin" get-token -p bench --no-cache >/dev/null
eval "/usr/bin/time -f 'curl: %M KiB' $curl_cmd"
