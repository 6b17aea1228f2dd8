"""A persistent Dagster instance under the data directory, so CLI runs show up in `dagster dev`."""

from __future__ import annotations

import os
from pathlib import Path

DAGSTER_YAML = """\
# Written by ai_assets (see README, "Orchestration"). Run, event and schedule storage are SQLite
# files beside this one, under the data directory.
telemetry:
  enabled: false
concurrency:
  runs:
    # Two cores here: more runs at once only queue for CPU (and each starts its own embedded model).
    max_concurrent_runs: 2
  pools:
    # Pools: llm_provider (LLM steps) and dbt_build (dbt builds). Two LLM steps of different runs
    # overlap; set a pool's own limit with `dagster instance concurrency set <pool> <limit>`.
    default_limit: 2
run_retries:
  # A run that failed (after its steps' own RetryPolicy) is retried once, from the failed steps.
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: true
"""


def ensure_dagster_home(dagster_home: Path) -> Path:
    """Create DAGSTER_HOME with a dagster.yaml (telemetry off) unless one exists, and export it."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home
