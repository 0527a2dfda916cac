#!/usr/bin/env bash
# The whole test suite, from a fresh clone: setup (idempotent), a throwaway
# PostgreSQL cluster, lints, the benchmarks compiled, the Rust tests on real
# footage (the store's on SQLite and PostgreSQL), then the Python
# package: its wheel built, installed into a fresh virtualenv, and its
# pytest suite (last, so the run ends with a test summary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OBSCURA_HOME="${OBSCURA_HOME:-$HOME/.cache/obscura}"

# The store tests run on SQLite and on PostgreSQL: a throwaway cluster in a
# temporary folder, on a free local port, stopped and removed however the
# run ends.
PG_DIR=$(mktemp -d)
FRESH=""
cleanup() {
  bash scripts/pg_cluster.sh stop "$PG_DIR/cluster" || true
  rm -rf "$PG_DIR" ${FRESH:+"$FRESH"}
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$PG_DIR"
echo "== PostgreSQL: a throwaway cluster"
OBSCURA_TEST_PG=$(bash scripts/pg_cluster.sh start "$PG_DIR/cluster") || {
  echo "test: error: the PostgreSQL cluster did not start (see above); the store tests need it" >&2
  exit 1
}
export OBSCURA_TEST_PG
echo "$OBSCURA_TEST_PG"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo bench --no-run"
cargo bench --workspace --locked --no-run
echo "== cargo test"
cargo test --workspace --locked

echo "== python: wheel"
VENV=$(bash scripts/python_env.sh)
WHEELHOUSE="$OBSCURA_HOME/wheelhouse"
rm -f target/wheels/obscura-*.whl
"$VENV/bin/maturin" build --release --locked --manifest-path python/Cargo.toml -o target/wheels 2>&1 | tail -n 1
WHEEL=$(ls target/wheels/obscura-*.whl)

echo "== python: install into a fresh virtualenv"
FRESH=$(mktemp -d)
python3 -m venv "$FRESH/venv"
"$FRESH/venv/bin/pip" install --quiet --disable-pip-version-check --no-index \
  --find-links "$WHEELHOUSE" "$WHEEL"
(cd "$FRESH" && "$FRESH/venv/bin/python" -c "
import obscura, sys
info = obscura.probe(sys.argv[1])
n = sum(1 for _ in obscura.open(sys.argv[1], gray=True))
assert n == info.frames, (n, info.frames)
print(f'fresh virtualenv: obscura {obscura.__version__} decoded {n} frames')
" "$OBSCURA_HOME/samples/bikes.mp4")

echo "== pytest"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-index --no-deps --force-reinstall "$WHEEL"
OBSCURA_BIN="$PWD/target/debug/obscura" "$VENV/bin/python" -m pytest python/tests -q
