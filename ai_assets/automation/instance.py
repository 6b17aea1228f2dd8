"""A persistent Dagster instance under the data directory, so CLI runs show up in `dagster dev`."""

from __future__ import annotations

import os
from pathlib import Path

# The first line marks the file as ours: ensure_dagster_home rewrites such a file when the shipped
# config changes, and leaves any other dagster.yaml alone.
HEADER = "# Written by ai_assets"
DBT_POOL = "dbt_build"  # the pool of dbt builds (LLM steps: transform/llm_step.LLM_POOL)

DAGSTER_YAML = f"""\
{HEADER} (see docs/operations.md, "The instance"): rewritten when ai_assets ships a new one, unless you
# delete this first line. Run, event and schedule storage are SQLite files beside this one.
telemetry:
  enabled: false
concurrency:
  runs:
    # Two cores here: more runs at once only queue for CPU (and each starts its own embedded model).
    max_concurrent_runs: 2
    tag_concurrency_limits:
      # One run at a time per day: a rerun, a scheduled run, a reviews run or a delivery retry of the
      # same day wait for each other in the queue. Backfill runs of day ranges carry no such tag:
      # the delivery ledger keeps their deliveries exactly-once anyway.
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
  pools:
    # Pools: llm_provider (LLM steps) and dbt_build (dbt builds). Two LLM steps of different runs
    # overlap; set a pool's own limit with `dagster instance concurrency set <pool> <limit>`.
    default_limit: 2
code_servers:
  # A command that started a code server (`ai-assets demo`, the webserver and daemon of
  # `ai-assets dev`) waits for it to exit after asking it to stop, so no code server outlives the
  # command that started it (it stops once its runs have finished).
  wait_for_local_processes_on_shutdown: true
freshness:
  # The daemon evaluates the assets' FreshnessPolicy (quality/freshness.py): each asset's page
  # shows whether it is fresh, late or failing.
  enabled: true
run_retries:
  # A run that failed (after its steps' own RetryPolicy) is retried once, from the failed steps.
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: true
run_monitoring:
  # The daemon (`ai-assets dev`) marks dead runs failed, so they neither stay STARTED forever nor
  # hold their day's slot in the queue or their pools' slots.
  enabled: true
  poll_interval_seconds: 30
  # Launched but never started, or asked to stop but never stopped.
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  # A run launched by the daemon or the UI whose process dies is failed by its code server. Nobody
  # watches the process of a run started from the command line (`ai-assets demo`, `dagster job
  # execute`), or one whose code server died too, and the default run launcher cannot check or
  # resume a run's process (Dagster refuses to load this file with max_resume_run_attempts > 0):
  # a run still in progress after this long is ended and marked failed. The longest healthy run
  # here is a 5-day backfill group on the embedded model (about 2 h); the `dagster/max_runtime`
  # tag on a job or a run overrides it.
  max_runtime_seconds: 21600
  max_resume_run_attempts: 0
  # Pool slots held by a run that died are given back this long after it is marked failed.
  free_slots_after_run_end_seconds: 60
"""


def ensure_dagster_home(dagster_home: Path) -> Path:
    """Create DAGSTER_HOME with the shipped dagster.yaml, and export it. An existing dagster.yaml
    written by ai_assets is brought up to date; one without our first line is the user's, kept as is."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    current = config.read_text() if config.exists() else None
    if current is None or (current.startswith(HEADER) and current != DAGSTER_YAML):
        temporary = config.with_suffix(".yaml.tmp")
        temporary.write_text(DAGSTER_YAML)
        temporary.replace(config)  # a daemon reading it meanwhile sees the old file or the new one
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home
