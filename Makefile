# The commands of the README. Everything a target needs is installed by the scripts it calls.
.PHONY: dev test lint bench soak

## Runs every route group on http://127.0.0.1:3000 (embedded store in .data/).
dev:
	cargo run -p devserver

## Runs every test, with DynamoDB Local (installed once into ~/.cache/convex-lambda).
test:
	infra/scripts/test.sh

## Formatting and lints, as CI checks them.
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --all-features -- -D warnings

## Sizes, cold starts, warm latency, DynamoDB calls and memory of every function (DESIGN.md §5).
bench:
	infra/scripts/bench.sh

## The exactly-once soak alone, against a DynamoDB Local of its own: prints the acknowledged and
## stored totals (README, "Exactly once and read-your-writes").
soak:
	infra/scripts/dynamodb-local.sh run cargo test -p service-tests --features service-tests/dynamodb-local --test it -- exactly_once::soak --nocapture
