"""Shared fixtures: the sample footage the setup fetched, and the CLI built
from the same sources (to compare the bindings with the Rust side)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def home() -> Path:
    h = os.environ.get("OBSCURA_HOME")
    return Path(h) if h else Path.home() / ".cache" / "obscura"


@pytest.fixture(scope="session")
def sample():
    def get(name: str) -> Path:
        p = home() / "samples" / name
        if not p.is_file():
            pytest.fail(f"{p} is missing: run `bash scripts/setup.sh`")
        return p

    return get


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `obscura` binary: $OBSCURA_BIN, else the workspace's build."""
    env = os.environ.get("OBSCURA_BIN")
    candidates = [Path(env)] if env else []
    candidates += [REPO / "target" / "debug" / "obscura", REPO / "target" / "release" / "obscura"]
    for c in candidates:
        if c.is_file():
            return c
    found = shutil.which("obscura")
    if found:
        return Path(found)
    pytest.fail("no obscura binary: run `cargo build -p obscura-cli` or set OBSCURA_BIN")


@pytest.fixture(scope="session")
def camera_profile() -> Path:
    return REPO / "examples" / "cameras" / "vtest.toml"


def run_cli(cli: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=600)


# -- The index's two backends ----------------------------------------------
#
# Tests that take the `db` fixture run on an SQLite file and on a fresh
# database of the throwaway PostgreSQL cluster whose URL `scripts/test.sh`
# exports as OBSCURA_TEST_PG, under the Rust tests' rules: without
# OBSCURA_TEST_PG the PostgreSQL case fails and says how to get a cluster;
# OBSCURA_TEST_PG=off runs SQLite only, and the run's header says so.


def _pg_base() -> str:
    return os.environ.get("OBSCURA_TEST_PG", "")


BACKENDS = ["sqlite"] if _pg_base() == "off" else ["sqlite", "postgres"]


def pytest_report_header(config):
    if _pg_base() == "off":
        return "note: OBSCURA_TEST_PG=off: the PostgreSQL backend is not tested"
    return None


_databases = 0


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path) -> str:
    """A new, empty index: a file in tmp_path, or a fresh database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "index.db")
    base = _pg_base()
    if not base:
        pytest.fail(
            "OBSCURA_TEST_PG is not set: the store tests run on PostgreSQL too. "
            "Run `bash scripts/test.sh` (it starts a throwaway cluster), or "
            "`bash scripts/pg_cluster.sh start DIR` and export the URL it prints "
            "as OBSCURA_TEST_PG (OBSCURA_TEST_PG=off tests SQLite only)"
        )
    psql = shutil.which("psql")
    if psql is None:
        pytest.fail("psql is missing (Debian: apt-get install postgresql-client; scripts/setup.sh does it)")
    global _databases
    _databases += 1
    name = f"py{os.getpid()}_{_databases}_{time.time_ns() % 10**9}"
    made = subprocess.run(
        [psql, base, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
        capture_output=True, text=True, timeout=60,
    )
    if made.returncode != 0:
        pytest.fail(f"cannot create a test database on {base}: {made.stderr.strip()}")
    return f"{base.rsplit('/', 1)[0]}/{name}"


def sql(db: str, query: str) -> list:
    """Rows of ``query`` on the index ``db``, read directly (not through
    obscura), every value as text (None for NULL)."""
    if db.startswith(("postgres://", "postgresql://")):
        out = subprocess.run(
            ["psql", db, "-v", "ON_ERROR_STOP=1", "-AtX", "-F", "\t", "-P", "null=\\N", "-c", query],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return [
            tuple(None if v == "\\N" else v for v in line.split("\t"))
            for line in out.stdout.splitlines()
        ]
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [tuple(None if v is None else str(v) for v in r) for r in conn.execute(query)]
