#!/usr/bin/env bash
# The Python side's virtualenv, made once and kept in $OBSCURA_HOME/venv:
# the pinned, sha256-checked wheels of python/requirements-dev.txt are
# downloaded into $OBSCURA_HOME/wheelhouse and installed from there. Safe to
# run again: it does nothing when the pins have not changed. Prints the
# virtualenv's path.
set -euo pipefail
cd "$(dirname "$0")/.."
OBSCURA_HOME="${OBSCURA_HOME:-$HOME/.cache/obscura}"
VENV="$OBSCURA_HOME/venv"
WHEELS="$OBSCURA_HOME/wheelhouse"
REQ=python/requirements-dev.txt

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" >&2 || {
    echo "python_env: error: cannot create a virtualenv (on Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
want=$(sha256sum "$REQ" | cut -d' ' -f1)
stamp="$VENV/.requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "python_env: installing pinned Python tools into $VENV" >&2
  "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check \
    --require-hashes -r "$REQ" -d "$WHEELS" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-index --find-links "$WHEELS" --require-hashes -r "$REQ" >&2
  echo "$want" > "$stamp"
fi
echo "$VENV"
