#!/usr/bin/env bash
# Builds every function's release `bootstrap` as it is deployed (cargo lambda, x86_64, glibc 2.17
# through zig) into target/lambda/<function>/bootstrap. Incremental: a second run rebuilds only what
# changed. Usage: lambda-build.sh [--arm64]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(infra/scripts/tools.sh)
export PATH="$bin:$PATH"
arch=--x86-64
[ "${1:-}" = "--arm64" ] && arch=--arm64
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
packages=()
for dir in functions/*/; do packages+=(-p "$(basename "$dir")"); done
echo "lambda-build: ${packages[*]//-p /} ($arch)" >&2
cargo lambda build --release "$arch" "${packages[@]}" --lambda-dir "$target/lambda" >&2
echo "$target/lambda"
