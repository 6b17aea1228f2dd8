"""Range backfills submitted from the command line, run by the daemon like a UI backfill.

`dagster job backfill` launches one run per day and ignores backfill policies; this submits the
same kind of asset backfill the UI's "Materialize" on a range does, so the daemon groups the days
per `daily_backfill_policy` and then rebuilds the marts downstream once.
"""

import time

import dagster as dg
from dagster._core.execution.backfill import PartitionBackfill  # no public API submits asset backfills
from dagster._core.utils import make_new_backfill_id

from ai_assets.automation.jobs import DAILY_TICKETS_ASSETS, EVAL_ASSETS


def daily_backfill_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The assets of `daily_tickets_job` and every asset downstream of them (the dbt marts), but not
    the evaluation: it reads the tickets' labels, not the days, and runs in `eval_job`."""
    return sorted((DAILY_TICKETS_ASSETS.downstream() - EVAL_ASSETS).resolve(defs.resolve_asset_graph()))


def submit_daily_backfill(instance: dg.DagsterInstance, defs: dg.Definitions, first_day: str, last_day: str) -> str:
    """Adds a backfill of the days `first_day`..`last_day` (inclusive) to the instance; returns its id."""
    daily_partitions = defs.resolve_job_def("daily_tickets_job").partitions_def
    days = daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first_day, last_day))
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(),
        asset_graph=defs.resolve_asset_graph(),
        partition_names=days,
        asset_selection=daily_backfill_keys(defs),
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=f"tickets {first_day}..{last_day}",
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id
