#!/usr/bin/env bash
# Fuzzes every route of the local dev server (embedded store) with schemathesis, from openapi.yaml:
# generated valid and invalid bodies (examples, coverage and fuzzing phases, positive and negative
# data), wrong methods, and missing or wrong auth. Fails on any 5xx, any answer the document does
# not describe (status, content type, headers, body schema), any invalid body that is accepted or
# valid body that is refused, any request that passes without the admin key, and the admin key in
# the server's log. Prints how many requests it sent, by method and status.
#
#   infra/scripts/fuzz.sh            the bounded run (FUZZ_MAX_EXAMPLES per operation, default 100)
#
# Settings: FUZZ_MAX_EXAMPLES, FUZZ_SEED (default 1: reproducible), FUZZ_WORKERS (default 2),
# FUZZ_INCLUDE_PATH_REGEX (only the matching routes, e.g. '^/transit/').
set -euo pipefail

cd "$(dirname "$0")/../.."
bin="$(infra/scripts/tools.sh)"
max_examples="${FUZZ_MAX_EXAMPLES:-100}"
seed="${FUZZ_SEED:-1}"
workers="${FUZZ_WORKERS:-2}"

cargo build --quiet -p devserver
server_bin="${CARGO_TARGET_DIR:-target}/debug/devserver"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
key="fuzz-admin-key-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

env -u CONVEX_DEPLOYMENT_KEY -u DYNAMODB_ENDPOINT -u CONVEX_AUTH_SCHEME -u LEGACY_ADMIN_HEADER \
  CONVEX_ADMIN_KEY="$key" DATA_DIR="$work/data" HOST=127.0.0.1 PORT="$port" \
  "$server_bin" >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "fuzz: the dev server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.1
done

echo "fuzz: schemathesis on http://127.0.0.1:$port, $max_examples examples per operation, seed $seed" >&2
status=0
# From the temporary folder, so schemathesis's cache (.schemathesis/) stays out of the repository
# and every run starts afresh.
repo="$PWD"
(cd "$work" && "$bin/schemathesis" run "$repo/openapi.yaml" \
  --url "http://127.0.0.1:$port" \
  --header "Authorization: Bearer $key" \
  --checks all ${FUZZ_INCLUDE_PATH_REGEX:+--include-path-regex "$FUZZ_INCLUDE_PATH_REGEX"} \
  --phases examples,coverage,fuzzing \
  --mode all \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --workers "$workers" \
  --generation-database none \
  --request-timeout 10 \
  --no-color \
  --report har --report-har-path "$work/requests.har") \
  || status=$?

python3 - "$work/requests.har" >&2 <<'PY' || true
import collections, json, sys
entries = json.load(open(sys.argv[1]))["log"]["entries"]
methods = collections.Counter(e["request"]["method"] for e in entries)
statuses = collections.Counter(e["response"]["status"] for e in entries)
print(f"fuzz: schemathesis sent {len(entries)} requests")
print("fuzz:   by method: " + ", ".join(f"{m} {n}" for m, n in sorted(methods.items())))
print("fuzz:   by status: " + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items())))
print(f"fuzz:   answered 401 (missing or wrong auth): {statuses.get(401, 0)}")
PY
server_errors="$(grep -c '"event":"convex_http_failure"' "$work/server.log" || true)"
echo "fuzz: the server logged $server_errors convex_http_failure lines" >&2
if grep -qF "$key" "$work/server.log"; then
  echo "fuzz: the admin key appears in the server's log" >&2
  status=1
fi
if [ "$server_errors" != "0" ]; then
  grep '"event":"convex_http_failure"' "$work/server.log" | head -20 >&2
  status=1
fi
if [ "$status" != "0" ]; then
  echo "fuzz: FAILED (exit $status)" >&2
fi
exit "$status"
