"""Freshness checks: yesterday's tickets are in by 03:00 UTC, and the marts are at most a day old.

Checks rather than Dagster 1.12's FreshnessPolicy: the policies judge an asset's last update,
not its partitions, so a backfill of an old day would make a late `raw_tickets` look fresh.
"""

from datetime import timedelta

import dagster as dg

from ai_assets.extract.assets import raw_tickets

# The schedule runs at 01:00 UTC; two hours of slack before the partition counts as late.
raw_tickets_freshness = dg.build_time_partition_freshness_checks(
    assets=[raw_tickets], deadline_cron="0 3 * * *", timezone="UTC"
)
marts_freshness = dg.build_last_update_freshness_checks(
    assets=[dg.AssetKey("ticket_kpis_daily")], lower_bound_delta=timedelta(hours=26)
)
freshness_checks = [*raw_tickets_freshness, *marts_freshness]
freshness_sensor = dg.build_sensor_for_freshness_checks(freshness_checks=freshness_checks)
