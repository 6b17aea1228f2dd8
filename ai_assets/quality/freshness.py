"""Freshness: yesterday's tickets are in by 03:00 UTC, and the marts are at most a day old.

Dagster's `FreshnessPolicy` on the assets themselves, evaluated by the daemon (`freshness: enabled`
in the shipped dagster.yaml) and shown on each asset's page. A policy judges an asset's last
update, not its partitions: a backfill of an old day between midnight and 03:00 also counts, which
is the price of Dagster's own mechanism over checks of our making.
"""

from datetime import timedelta

import dagster as dg

# The schedule runs at 01:00 UTC; two hours of slack before the day counts as late. On raw_tickets
# only, not on its quarantine sibling: one rule, on the asset it is about.
RAW_TICKETS_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 3 * * *", lower_bound_delta=timedelta(hours=3), timezone="UTC"
)
# The marts rebuild after every day's run (load/dbt.py: MARTS_FOLLOW_PARENTS).
MARTS_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=24))
FRESHNESS_BY_ASSET = {"raw_tickets": RAW_TICKETS_FRESHNESS, "ticket_kpis_daily": MARTS_FRESHNESS}
