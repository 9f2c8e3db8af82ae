#!/usr/bin/env bash
# Every test: installs DynamoDB Local once (cached outside the repository), starts it on a free port,
# runs the whole workspace's tests with the DynamoDB suites enabled, and stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=$(infra/scripts/dynamodb-local.sh install)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
infra/scripts/dynamodb-local.sh start "$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 150); do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "test: DynamoDB Local did not start:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.2
done
(echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "test: DynamoDB Local is not listening on $port" >&2; exit 1; }
echo "test: DynamoDB Local on port $port"

export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
export DYNAMODB_LOCAL_DIR="$dir"
cargo test --workspace --features service-tests/dynamodb-local "$@"
