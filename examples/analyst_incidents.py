"""Incidents per camera per day, from indexing to a chart.

An analyst's notebook as a script: run it as-is
(``python examples/analyst_incidents.py --out DIR``), or open it in an
editor that understands ``# %%`` cells (VS Code, Jupytext, Spyder) and run
it cell by cell. It needs the obscura package, pandas and matplotlib (the
virtualenv from ``scripts/python_env.sh`` has all three) and the sample
footage from ``scripts/setup.sh``.

The samples stand in for a week of recordings from two cameras: each is cut
into pieces named as its camera's recorder would name them, and the camera
profile's ``filename_pattern`` turns that name into the recording's
wall-clock start.
"""

# %% Setup
import argparse
import os
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNGs; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import obscura  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("OBSCURA_HOME") or Path.home() / ".cache" / "obscura")

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--out", type=Path, default=Path("analyst-out"), help="folder for the index and the chart")
args = parser.parse_args()
out = args.out
recordings = out / "recordings"
recordings.mkdir(parents=True, exist_ok=True)

# %% Camera profiles: camera 7 ships with the examples; camera 12 is written here.
cam7 = ROOT / "examples" / "cameras" / "vtest.toml"
cam12 = out / "cam12.toml"
cam12.write_text(
    'camera = 12\nname = "Market Street, looking east"\ntown = "Exampleton"\ndesk = "A"\n'
    'filename_pattern = "cam12_%Y%m%d_%H%M%S.mp4"\ncoordinates = "normalised"\n'
)

# %% Recordings: the samples cut into pieces (stream copy, with the ffmpeg CLI)
# and named as each camera's recorder names its files.
week = {
    cam7: ("vtest.avi", 20, [f"cam07_202611{d:02d}_{h:02d}0000.avi" for d, h in [(2, 8), (2, 9), (3, 8), (5, 7)]]),
    cam12: ("bikes.mp4", 3, [f"cam12_202611{d:02d}_120000.mp4" for d in (2, 4, 5)]),
}
files = {}
for profile, (sample, seconds, names) in week.items():
    files[profile] = []
    for i, name in enumerate(names):
        piece = recordings / name
        if not piece.exists():
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-ss", str(i * seconds), "-t", str(seconds),
                 "-i", str(HOME / "samples" / sample), "-c", "copy", "-an", str(piece)],
                check=True,
            )
        files[profile].append(piece)

# %% Index: motion incidents with wall-clock times into one SQLite file.
db = out / "index.db"
for profile, paths in files.items():
    for row in obscura.index(paths, camera=profile, db=db):
        status = row["error"]["message"] if "error" in row else f"{row['incidents']} incident(s)"
        print(f"{Path(row['path']).name}: {status}")

# %% Incidents into pandas.
incidents = obscura.incidents(db).to_pandas()
print(incidents[["camera", "camera_name", "start_utc", "end_utc", "peak_score"]].head())

per_day = (
    incidents.assign(day=incidents["start_utc"].dt.strftime("%a %d %b"))
    .groupby(["day", "camera"])
    .size()
    .unstack("camera", fill_value=0)
)
print(per_day)

# %% Chart: incidents per camera per day.
ax = per_day.plot(kind="bar", figsize=(8, 4), rot=0)
ax.set_xlabel("day (UTC)")
ax.set_ylabel("incidents")
ax.set_title("Motion incidents per camera per day")
ax.legend(title="camera")
plt.tight_layout()
chart = out / "incidents_per_camera_per_day.png"
plt.savefig(chart, dpi=100)
print(f"chart: {chart}")

# %% The monthly report, by camera, against the month before.
report = obscura.report(db, "2026-11", by="camera")
print(pd.DataFrame(report)[["group", "incidents", "active_minutes", "previous_incidents"]])
print(f"total: {report.meta['total_incidents']} incident(s) in {report.meta['month']}")
