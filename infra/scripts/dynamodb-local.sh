#!/usr/bin/env bash
# DynamoDB Local (AWS's own, shipped in the npm package amplify-dynamodb-simulator), installed once
# into a cache outside the repository and started on demand.
#
#   dynamodb-local.sh install        installs if missing; prints the folder holding DynamoDBLocal.jar
#   dynamodb-local.sh start PORT     starts it in memory on PORT (foreground)
#   dynamodb-local.sh run CMD...     starts one on a free port, runs CMD with DYNAMODB_ENDPOINT and
#                                    DYNAMODB_LOCAL_DIR set, stops it; exits with CMD's status
set -euo pipefail

cache="${CONVEX_LAMBDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/convex-lambda}"
version="${DYNAMODB_SIMULATOR_VERSION:-}"
dir="$cache/dynamodb-local"

install() {
  if [ -f "$dir/DynamoDBLocal.jar" ]; then
    echo "$dir"
    return
  fi
  command -v java >/dev/null || { echo "dynamodb-local: java (17+) is needed" >&2; exit 1; }
  command -v npm >/dev/null || { echo "dynamodb-local: npm is needed to fetch the package" >&2; exit 1; }
  echo "dynamodb-local: installing into $dir (once)" >&2
  local work
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/tmp.XXXXXX")
  (cd "$work" && npm pack --silent "amplify-dynamodb-simulator${version:+@$version}" >/dev/null && tar -xzf ./*.tgz)
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  mv "$work/package/emulator" "$dir"
  rm -rf "$work"
  [ -f "$dir/DynamoDBLocal.jar" ] || { echo "dynamodb-local: DynamoDBLocal.jar not found in the package" >&2; exit 1; }
  echo "$dir"
}

case "${1:-}" in
  install) install ;;
  start)
    port="${2:?usage: dynamodb-local.sh start PORT}"
    dir=$(install)
    cd "$dir"
    exec java -Xmx512m -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port "$port"
    ;;
  run)
    shift
    [ "$#" -gt 0 ] || { echo "usage: dynamodb-local.sh run CMD..." >&2; exit 2; }
    dir=$(install)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    log=$(mktemp)
    "$0" start "$port" >"$log" 2>&1 &
    pid=$!
    trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
    for _ in $(seq 1 150); do
      (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      kill -0 "$pid" 2>/dev/null || { echo "dynamodb-local: did not start:" >&2; cat "$log" >&2; exit 1; }
      sleep 0.2
    done
    DYNAMODB_ENDPOINT="http://127.0.0.1:$port" DYNAMODB_LOCAL_DIR="$dir" "$@"
    ;;
  *) echo "usage: dynamodb-local.sh install | start PORT | run CMD..." >&2; exit 2 ;;
esac
