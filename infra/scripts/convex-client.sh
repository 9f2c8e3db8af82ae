#!/usr/bin/env bash
# The npm package `convex` (the client library the Next.js app uses), installed once at a pinned
# version into a cache outside the repository, for infra/convex-client/check.mjs.
#
#   convex-client.sh install            installs if missing; prints the folder whose node_modules
#                                       holds `convex` (pass it to check.mjs as CONVEX_CLIENT_DIR)
#   convex-client.sh check BASE KEY     runs infra/convex-client/check.mjs against BASE with KEY
set -euo pipefail

cache="${CONVEX_LAMBDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/convex-lambda}"
# Pinned so that every machine checks the wire against the same client.
version="1.48.0"
dir="$cache/convex-client-$version"

install() {
  if [ -f "$dir/node_modules/convex/package.json" ]; then
    echo "$dir"
    return
  fi
  # Several tests may ask at once on a fresh machine: one installs, the others wait for it (and must
  # never see the folder replaced under a running client).
  mkdir -p "$cache"
  exec 9>"$cache/convex-client.lock"
  flock 9
  if [ -f "$dir/node_modules/convex/package.json" ]; then
    echo "$dir"
    return
  fi
  command -v npm >/dev/null || { echo "convex-client: npm (with Node.js 20+) is needed" >&2; exit 1; }
  echo "convex-client: installing convex@$version into $dir (once)" >&2
  local work
  work=$(mktemp -d "$cache/tmp.XXXXXX")
  echo '{"private": true}' >"$work/package.json"
  npm install --prefix "$work" --no-audit --no-fund --no-save --loglevel=error "convex@$version" >&2
  rm -rf "$dir"
  mv "$work" "$dir"
  [ -f "$dir/node_modules/convex/package.json" ] || { echo "convex-client: the package did not install" >&2; exit 1; }
  echo "$dir"
}

case "${1:-}" in
  install) install ;;
  check)
    base="${2:?usage: convex-client.sh check BASE_URL ADMIN_KEY}"
    key="${3:?usage: convex-client.sh check BASE_URL ADMIN_KEY}"
    CONVEX_CLIENT_DIR=$(install) exec node "$(dirname "$0")/../convex-client/check.mjs" "$base" "$key"
    ;;
  *) echo "usage: convex-client.sh install | check BASE_URL ADMIN_KEY" >&2; exit 2 ;;
esac
