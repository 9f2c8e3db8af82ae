#!/usr/bin/env bash
# `make bench`: builds every function and the two baselines as deployed (release, cargo lambda,
# x86_64), starts DynamoDB Local with the template's tables behind the bench's TLS endpoint (a
# throwaway CA made for this run), and prints the cold-request table over HTTPS and the tables of
# DESIGN.md §5 (infra/bench/bench.py says what each column is). Extra arguments go to bench.py
# (e.g. --cold 20, --compare DIR). LAMBDA_DIR=DIR measures the functions already built there
# (e.g. a copy of target/lambda) instead of building them.
#
# --compare-devserver LABEL=PATH (with --compare LABEL=DIR of the same build): PATH is that build's
# devserver binary; it creates the tables of its own template, each named LABEL- + this build's
# name (every *_TABLE variable of infra/env.json prefixed), and bench.py runs that build's functions
# on them through the warm route loop beside this build's (bench.py --compare-tables LABEL), so
# each route's calls, capacity units and latency are compared in one run.
#
# Nothing is installed beyond what tools.sh and dynamodb-local.sh
# cache in ~/.cache/convex-lambda: the TLS endpoint is Python's `ssl`, the certificates come from
# the bench's own `bench-certs` (infra/bench/tools), the Mozilla roots from Node's `tls` module.
set -euo pipefail
cd "$(dirname "$0")/../.."
step() { echo "bench: $* ($(date +%H:%M:%S))" >&2; }

args=()
compare_devservers=()
while [ $# -gt 0 ]; do
  case "$1" in
    --compare-devserver) compare_devservers+=("${2:?usage: --compare-devserver LABEL=PATH}"); shift 2 ;;
    --compare-devserver=*) compare_devservers+=("${1#*=}"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
for spec in ${compare_devservers[@]+"${compare_devservers[@]}"}; do
  [[ "$spec" =~ ^[A-Za-z0-9_.-]+=.+$ ]] || { echo "bench: --compare-devserver $spec: LABEL=PATH, LABEL of A-Z a-z 0-9 _ . -" >&2; exit 2; }
  [ -x "${spec#*=}" ] || { echo "bench: --compare-devserver $spec: no executable at ${spec#*=}" >&2; exit 2; }
done

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

tables=$(python3 -c 'import json; p = json.load(open("infra/env.json"))["Parameters"]; print(json.dumps([[k, v] for k, v in p.items() if k.endswith("_TABLE")]))')
# The tables in DynamoDB Local, one a line (it does not check the request's signature).
list_tables() {
  python3 - "$port" <<'PY'
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
conn.request("POST", "/", body=json.dumps({"Limit": 100}), headers={
    "x-amz-target": "DynamoDB_20120810.ListTables", "content-type": "application/x-amz-json-1.0",
    "authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
                     "SignedHeaders=host, Signature=0"})
print("\n".join(json.loads(conn.getresponse().read())["TableNames"]))
PY
}
# create_tables DEVSERVER PREFIX: the devserver creates the tables of its own template, every
# *_TABLE variable set to PREFIX + this build's name; it is stopped once it listens.
create_tables() {
  local devserver=$1 prefix=$2 dev_port log dev data
  local vars=()
  while IFS= read -r var; do vars+=("$var"); done < <(python3 -c 'import json, sys; print("\n".join(f"{k}={sys.argv[1]}{v}" for k, v in json.loads(sys.argv[2])))' "$prefix" "$tables")
  dev_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log=$(mktemp)
  data=$(mktemp -d)
  env "${vars[@]}" DYNAMODB_ENDPOINT="http://127.0.0.1:$port" CONVEX_ADMIN_KEY=bench PORT="$dev_port" \
    DATA_DIR="$data" "$devserver" >/dev/null 2>"$log" &
  dev=$!
  for _ in $(seq 1 300); do grep -q "listening" "$log" && break; sleep 0.2; done
  kill "$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true
  grep -q "listening" "$log" || { cat "$log" >&2; exit 1; }
  rm -rf "$log" "$data"
}

compare_tables=()
for spec in ${compare_devservers[@]+"${compare_devservers[@]}"}; do
  label=${spec%%=*}
  step "creating $label's tables, named $label-*, with its devserver ${spec#*=}"
  before=$(list_tables)
  create_tables "${spec#*=}" "$label-"
  stray=$(comm -13 <(echo "$before" | sort) <(list_tables | sort) | grep -v "^$label-" || true)
  [ -z "$stray" ] || { echo "bench: $label's devserver made tables not named $label-* (a *_TABLE variable this build lacks?): $stray" >&2; exit 1; }
  compare_tables+=(--compare-tables "$label")
done

step "creating the tables (the dev server creates them from template.yaml)"
cargo build -q -p devserver
create_tables "${CARGO_TARGET_DIR:-target}/debug/devserver" ""

step "measuring (machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
python3 infra/bench/bench.py --lambda-dir "$lambda_dir" --rie "$rie" \
  --bench-exec "$tools/bench-exec" --tls-dir "$tls" --dynamodb-endpoint "http://127.0.0.1:$port" --tables "$tables" \
  ${compare_tables[@]+"${compare_tables[@]}"} ${args[@]+"${args[@]}"}
