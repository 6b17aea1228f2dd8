"""Ticket assets are partitioned by the calendar day (UTC) of `created_at`."""

import dagster as dg

from ai_assets.config import load_settings

# The partition column every daily table carries; the day's rows are replaced as one unit.
PARTITION_COLUMN = "created_date"

daily_partitions = dg.DailyPartitionsDefinition(start_date=load_settings().partitions_start)
