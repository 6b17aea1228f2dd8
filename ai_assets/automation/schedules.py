"""Schedules: yesterday's partition, end to end, every morning."""

import dagster as dg

from ai_assets.automation.jobs import daily_tickets_job

# A schedule built from a daily-partitioned job targets the partition of the day that just ended.
daily_tickets_schedule = dg.build_schedule_from_partitioned_job(
    daily_tickets_job,
    hour_of_day=1,
    description="Every day at 01:00 UTC: extract and triage yesterday's tickets (the marts follow by automation).",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
