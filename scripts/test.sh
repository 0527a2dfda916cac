#!/usr/bin/env bash
# The whole test suite, from a fresh clone: setup (idempotent), lints, the
# benchmarks compiled, then the Rust tests on real footage (last, so the
# run ends with the test summary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OBSCURA_HOME="${OBSCURA_HOME:-$HOME/.cache/obscura}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo bench --no-run"
cargo bench --workspace --locked --no-run
echo "== cargo test"
cargo test --workspace --locked
