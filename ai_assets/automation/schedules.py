"""Schedules: yesterday's partition, end to end, every morning."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition  # no public name


def build_daily_tickets_schedule(daily_tickets_job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    # A schedule built from a daily-partitioned job targets the partition of the day that just ended.
    return dg.build_schedule_from_partitioned_job(
        daily_tickets_job,
        hour_of_day=1,
        description="Every day at 01:00 UTC: extract and triage yesterday's tickets (the marts follow by automation).",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
