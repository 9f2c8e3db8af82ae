#!/usr/bin/env bash
# The Python-packaged tools the build and tests use, installed once into a virtualenv in the cache
# (outside the repository): cargo-lambda and ziglang (Lambda builds), aws-sam-cli (sam validate /
# build / generate-event, and the Lambda Runtime Interface Emulator it ships), cfn-lint, schemathesis
# (fuzz.sh).
#
#   tools.sh            installs if missing; prints the virtualenv's bin folder
#   tools.sh rie        prints the path of the Runtime Interface Emulator binary
set -euo pipefail

cache="${CONVEX_LAMBDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/convex-lambda}"
venv="$cache/venv"
# Versions pinned so that every machine builds and checks with the same tools.
packages=(cargo-lambda==1.9.2 ziglang==0.15.1 aws-sam-cli==1.170.0 cfn-lint==1.58.0 schemathesis==4.32.5)
stamp="$venv/.installed-$(printf '%s ' "${packages[@]}" | sha256sum | cut -c1-16)"

if [ ! -f "$stamp" ]; then
  echo "tools: installing ${packages[*]} into $venv (once)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" >&2
  touch "$stamp"
fi

case "${1:-}" in
  rie)
    rie=$(ls "$venv"/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64 2>/dev/null | head -1)
    [ -n "$rie" ] || { echo "tools: aws-lambda-rie not found in aws-sam-cli" >&2; exit 1; }
    chmod +x "$rie"
    echo "$rie"
    ;;
  "") echo "$venv/bin" ;;
  *) echo "usage: tools.sh [rie]" >&2; exit 2 ;;
esac
