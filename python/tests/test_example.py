"""The analyst example runs as-is and draws its chart."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_analyst_example_runs_and_writes_the_chart(tmp_path):
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "analyst_incidents.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    chart = tmp_path / "incidents_per_camera_per_day.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "total:" in out.stdout and "error" not in out.stdout.lower()
