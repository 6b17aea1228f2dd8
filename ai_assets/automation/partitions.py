"""Ticket assets are partitioned by the calendar day (UTC) of `created_at`."""

from datetime import date

import dagster as dg

from ai_assets.config import load_settings

# The partition column every daily table carries; the day's rows are replaced as one unit.
PARTITION_COLUMN = "created_date"

daily_partitions = dg.DailyPartitionsDefinition(start_date=load_settings().partitions_start)

# A backfill of many days runs them in groups: one run (one process start-up, one LLM step whose
# concurrency stays full across the group's days) per group, and several groups in parallel.
daily_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=load_settings().backfill_days_per_run)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days a run materialises: one for a single partition, several for a backfill group."""
    return [date.fromisoformat(key) for key in context.partition_keys]
