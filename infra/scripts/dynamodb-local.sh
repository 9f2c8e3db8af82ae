#!/usr/bin/env bash
# DynamoDB Local (AWS's own, shipped in the npm package amplify-dynamodb-simulator), installed once
# into a cache outside the repository and started on demand.
#
#   dynamodb-local.sh install        installs if missing; prints the folder holding DynamoDBLocal.jar
#   dynamodb-local.sh start PORT     starts it in memory on PORT (foreground)
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
  *) echo "usage: dynamodb-local.sh install | start PORT" >&2; exit 2 ;;
esac
