#!/usr/bin/env bash
# `make bench`: builds every function and the two baselines as deployed (release, cargo lambda,
# x86_64), starts DynamoDB Local with the template's tables behind the bench's TLS endpoint (a
# throwaway CA made for this run), and prints the cold-request table over HTTPS and the tables of
# DESIGN.md §5 (infra/bench/bench.py says what each column is). Extra arguments go to bench.py
# (e.g. --cold 20, --compare DIR). LAMBDA_DIR=DIR measures the functions already built there
# (e.g. a copy of target/lambda) instead of building them. Nothing is installed beyond what tools.sh and dynamodb-local.sh
# cache in ~/.cache/convex-lambda: the TLS endpoint is Python's `ssl`, the certificates come from
# the bench's own `bench-certs` (infra/bench/tools), the Mozilla roots from Node's `tls` module.
set -euo pipefail
cd "$(dirname "$0")/../.."
step() { echo "bench: $* ($(date +%H:%M:%S))" >&2; }

step "installing tools (once)"
bin=$(infra/scripts/tools.sh)
rie=$(infra/scripts/tools.sh rie)
export PATH="$bin:$PATH"

if [ -n "${LAMBDA_DIR:-}" ]; then
  step "using the functions already built in $LAMBDA_DIR"
  lambda_dir=$(realpath "$LAMBDA_DIR")
else
  step "building the functions"
  lambda_dir=$(infra/scripts/lambda-build.sh)
fi
step "building the baselines (a cargo invocation of their own: the SDK baseline's default features stay out of the functions)"
cargo lambda build --release --x86-64 -p bench-hello -p bench-sdk-baseline --lambda-dir "$lambda_dir" >&2
step "building the bench's tools (certificates, exec wrapper)"
cargo build -q -p bench-tools
tools="$(realpath -m "${CARGO_TARGET_DIR:-target}")/debug"

step "making a throwaway CA and the TLS endpoint's certificate"
tls=$(mktemp -d)
"$tools/bench-certs" "$tls" localhost
# provided.al2023's platform store is one bundle of the Mozilla roots; Node carries the same list.
{ node -e 'process.stdout.write(require("tls").rootCertificates.join("\n") + "\n")'; cat "$tls/ca.pem"; } >"$tls/platform.pem"

step "starting DynamoDB Local"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
infra/scripts/dynamodb-local.sh start "$port" >/dev/null 2>&1 &
ddb=$!
trap 'kill "$ddb" 2>/dev/null || true; wait "$ddb" 2>/dev/null || true; rm -rf "$tls"' EXIT
for _ in $(seq 1 150); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done

step "creating the tables (the dev server creates them from template.yaml)"
tables=$(python3 -c 'import json; p = json.load(open("infra/env.json"))["Parameters"]; print(json.dumps([[k, v] for k, v in p.items() if k.endswith("_TABLE")]))')
cargo build -q -p devserver
dev_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
DYNAMODB_ENDPOINT="http://127.0.0.1:$port" CONVEX_ADMIN_KEY=bench PORT="$dev_port" DATA_DIR="$(mktemp -d)" \
  "${CARGO_TARGET_DIR:-target}/debug/devserver" >/dev/null 2>"$log" &
dev=$!
for _ in $(seq 1 150); do grep -q "listening" "$log" && break; sleep 0.2; done
kill "$dev"; wait "$dev" 2>/dev/null || true
grep -q "listening" "$log" || { cat "$log" >&2; exit 1; }

step "measuring (machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
python3 infra/bench/bench.py --lambda-dir "$lambda_dir" --rie "$rie" \
  --bench-exec "$tools/bench-exec" --tls-dir "$tls" --dynamodb-endpoint "http://127.0.0.1:$port" --tables "$tables" "$@"
