#!/usr/bin/env bash
# Every test. Installs what the tests need once, cached outside the repository (DynamoDB Local;
# cargo-lambda, zig, SAM CLI with the Lambda Runtime Interface Emulator, cfn-lint), then:
#   1. checks template.yaml (cfn-lint, sam validate --lint);
#   2. builds every function's release bootstrap as deployed (cargo lambda, x86_64), checks that
#      `sam build` builds every function of the template, and that every bootstrap is ≤ 5 MiB;
#   3. starts DynamoDB Local on a free port and runs every test of the workspace with the DynamoDB
#      suites and the emulator runs enabled; stops it;
#   4. fuzzes every route of the dev server with schemathesis against openapi.yaml.
set -euo pipefail
cd "$(dirname "$0")/../.."
step() { echo "test: $* ($(date +%H:%M:%S))"; }
# DESIGN.md §5: every release bootstrap ≤ 5 MiB (`make bench` reports it too; here it fails the run).
check_sizes() {
  local over
  over=$(find "$1" -name bootstrap -size +5242880c)
  [ -z "$over" ] || { ls -l $over >&2; echo "test: bootstrap over 5 MiB (5,242,880 B, DESIGN.md §5)" >&2; exit 1; }
}

step "installing tools (once)"
bin=$(infra/scripts/tools.sh)
rie=$(infra/scripts/tools.sh rie)
infra/scripts/convex-client.sh install >/dev/null
export SAM_CLI_TELEMETRY=0

step "checking template.yaml"
"$bin/cfn-lint" template.yaml
"$bin/sam" validate --lint --region us-east-1 --template template.yaml

step "building release bootstraps"
lambda_dir=$(infra/scripts/lambda-build.sh)
ls -l "$lambda_dir"/*/bootstrap
check_sizes "$lambda_dir"

step "sam build (every function, as a deploy builds it)"
sam_dir=$(mktemp -d)
PATH="$bin:$PATH" "$bin/sam" build --parameter-overrides Architecture=x86_64 --build-dir "$sam_dir" >/dev/null
functions=$(ls -d functions/*/ | wc -l)
built=$(ls "$sam_dir"/*Function/bootstrap | wc -l)
[ "$built" -eq "$functions" ] || { echo "test: sam build made $built bootstraps for $functions functions" >&2; exit 1; }
ls -l "$sam_dir"/*Function/bootstrap
check_sizes "$sam_dir"
rm -rf "$sam_dir"

step "starting DynamoDB Local"

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
export LAMBDA_DIR="$lambda_dir"
export AWS_LAMBDA_RIE="$rie"
step "running cargo test"
cargo test --workspace --features service-tests/lambda-emulator "$@"

step "fuzzing every route with schemathesis (openapi.yaml)"
infra/scripts/fuzz.sh
