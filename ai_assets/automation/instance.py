"""A persistent Dagster instance under the data directory, so CLI runs show up in `dagster dev`."""

from __future__ import annotations

import os
from pathlib import Path

DAGSTER_YAML = """\
# Written by ai_assets (see README, "Settings"). Storage lives beside this file.
telemetry:
  enabled: false
"""


def ensure_dagster_home(dagster_home: Path) -> Path:
    """Create DAGSTER_HOME with a dagster.yaml (telemetry off) unless one exists, and export it."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home
