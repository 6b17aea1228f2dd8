"""Freshness checks: yesterday's tickets are in by 03:00 UTC, and the marts are at most a day old.

Checks rather than FreshnessPolicy: the policies judge an asset's last update, not its
partitions, so a backfill of an old day would make a late `raw_tickets` look fresh.
"""

from datetime import timedelta

import dagster as dg


def build_freshness() -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    """(the checks, the sensor that evaluates them)."""
    checks = [
        # The schedule runs at 01:00 UTC; two hours of slack before the partition counts as late. On
        # raw_tickets only, not on its quarantine sibling: one rule, on the asset it is about.
        *dg.build_time_partition_freshness_checks(
            assets=[dg.AssetKey("raw_tickets")], deadline_cron="0 3 * * *", timezone="UTC"
        ),
        *dg.build_last_update_freshness_checks(
            assets=[dg.AssetKey("ticket_kpis_daily")], lower_bound_delta=timedelta(hours=26)
        ),
    ]
    return checks, dg.build_sensor_for_freshness_checks(freshness_checks=checks)
