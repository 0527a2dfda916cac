"""Shared fixtures: the sample footage the setup fetched, and the CLI built
from the same sources (to compare the bindings with the Rust side)."""

from __future__ import annotations

import os
import shutil
import subprocess
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
