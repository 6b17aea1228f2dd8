"""Schedules: yesterday's partition, end to end, every morning; failed deliveries, every hour."""

from collections.abc import Callable

import dagster as dg

# The job parameters are asset jobs (`dg.define_asset_job`), whose class has no public name.


def build_daily_tickets_schedule(daily_tickets_job) -> dg.ScheduleDefinition:
    # A schedule built from a daily-partitioned job targets the partition of the day that just ended.
    return dg.build_schedule_from_partitioned_job(
        daily_tickets_job,
        hour_of_day=1,
        description="Every day at 01:00 UTC: extract and triage yesterday's tickets (the marts follow by automation).",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


def build_outbox_retry_schedule(
    outbox_retry_job,
    days_to_retry: Callable[[], list[str]],
    partitions_def: dg.PartitionsDefinition,
) -> dg.ScheduleDefinition:
    """`days_to_retry`: the days with failed deliveries (the delivery ledger's, read at each tick), of
    which those of `partitions_def` are retried."""

    # Running by default, unlike the daily schedule: it sends nothing new, only what a run already
    # meant to deliver and could not, and a tick with nothing to retry launches nothing.
    @dg.schedule(
        job=outbox_retry_job,
        cron_schedule="15 * * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every hour: retry the failed deliveries of each day that has some (outbox_retry_job).",
    )
    def outbox_retry_schedule(context: dg.ScheduleEvaluationContext):
        valid = set(partitions_def.get_partition_keys())
        days = [day for day in days_to_retry() if day in valid]
        if not days:
            return dg.SkipReason("No failed deliveries to retry")
        context.log.info(f"Retrying failed deliveries of {len(days)} days: {', '.join(days)}")
        return [dg.RunRequest(run_key=day, partition_key=day) for day in days]

    return outbox_retry_schedule
