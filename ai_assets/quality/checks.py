"""Asset checks derived from the table contracts: every table re-validated against its contract,
and row conservation through the LLM steps. A check on a daily table looks at the days its run
wrote, so it costs the same on the hundredth day as on the first.

Blocking checks stop downstream assets in the same run from reading bad data.
"""

from collections.abc import Sequence
from datetime import date

import dagster as dg
import pandera.polars as pa

from ai_assets.defs.landing.tables import RAW_TICKETS
from ai_assets.defs.outbox.tables import TICKET_OUTCOMES
from ai_assets.defs.replies.tables import REPLY_DRAFTS
from ai_assets.defs.triage.tables import TICKET_TRIAGE, TICKET_TRIAGE_FAILURES
from ai_assets.quality.tables import TABLES
from ai_assets.warehouse.contract import PARTITION_COLUMN, Table, describe_failures
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.sql import sql_file
from ai_assets.warehouse.tables import read


def checked_days(context: dg.AssetCheckExecutionContext) -> list[date] | None:
    """The days the run materialised (None: the run is not partitioned, so check everything)."""
    if not context.has_partition_key and not context.has_partition_key_range:
        return None
    return [date.fromisoformat(key) for key in context.partition_keys]


def partitions_label(days: Sequence[date] | None) -> str:
    """Which partitions a check looked at, for its metadata: `2026-11-01`, `2026-11-01..2026-11-05`, or `all`."""
    if not days:
        return "all"
    first, last = min(days), max(days)
    return f"{first}" if first == last else f"{first}..{last}"


def schema_check(table: Table, daily: dg.PartitionsDefinition | None = None) -> dg.AssetChecksDefinition:
    """`daily`: the daily tables' partitions, so a day's check result is recorded for that day."""
    scope = "the days the run wrote" if table.partitioned else "every row"

    @dg.asset_check(
        asset=table.name,
        name=f"{table.name}_matches_contract",
        blocking=table.blocking,
        partitions_def=daily if table.partitioned else None,
        description=f"{scope.capitalize()} of {table.name} pass its contract.",
    )
    def check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        days = checked_days(context) if table.partitioned else None
        with warehouse.get_connection() as conn:
            frame = read(conn, table, days)
        metadata = {
            "rows": frame.height,
            "days": len(days) if days is not None else "all",
            "partitions": partitions_label(days),
        }
        try:
            table.schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as errors:
            failures = describe_failures(errors)
            return dg.AssetCheckResult(passed=False, description=failures, metadata={**metadata, "failures": failures})
        return dg.AssetCheckResult(passed=True, metadata=metadata)

    return check


def _row_keys(table: str, key: Sequence[str]) -> str:
    """(row_key, created_date) of a daily table: its key columns other than the day, as one text."""
    parts = ", ".join(f'CAST("{column}" AS VARCHAR)' for column in key if column != PARTITION_COLUMN)
    return f"SELECT concat_ws('/', {parts}) AS row_key, {PARTITION_COLUMN} FROM {table}"


def conservation_check(
    name: str,
    table: Table,
    outcomes: Sequence[Table],
    source: Table = RAW_TICKETS,
    daily: dg.PartitionsDefinition | None = None,
) -> dg.AssetChecksDefinition:
    """Every `source` row of the run's days (by `source`'s key) is in exactly one of `outcomes`,
    once, and nothing else is."""
    union = " UNION ALL ".join(_row_keys(t.name, source.key) for t in outcomes)
    rows = "raw ticket" if source is RAW_TICKETS else f"{source.name} row"

    @dg.asset_check(
        asset=table.name,
        name=name,
        additional_deps=[source.name, *(t.name for t in outcomes if t is not table)],
        blocking=True,
        partitions_def=daily,
        description=f"Every {rows} is in {' or '.join(t.name for t in outcomes)}, exactly once, and nothing else is.",
    )
    def check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        days = checked_days(context)
        with warehouse.get_connection() as conn:
            if days is None:
                days = [d for (d,) in conn.execute(f"SELECT DISTINCT created_date FROM {source.name}").fetchall()]
            conn.execute(f"CREATE OR REPLACE TEMP VIEW source_rows AS {_row_keys(source.name, source.key)}")
            conn.execute(f"CREATE OR REPLACE TEMP VIEW outcome_rows AS {union}")
            row = conn.execute(sql_file(__file__, "conservation"), {"days": days}).fetchone()
        counts = dict(zip(("raw_rows", "outcome_rows", "missing", "orphans", "doubled"), row))
        passed = counts["missing"] == 0 and counts["orphans"] == 0 and counts["doubled"] == 0
        scope = partitions_label(checked_days(context))
        return dg.AssetCheckResult(passed=passed, metadata={**counts, "partitions": scope})

    return check


def build_asset_checks(daily: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    triaged = (TICKET_TRIAGE, TICKET_TRIAGE_FAILURES)
    return [
        *(schema_check(table, daily) for table in TABLES),
        conservation_check("every_ticket_triaged_once", TICKET_TRIAGE, triaged, daily=daily),
        # The outbox acts on replies and outcomes: a ticket lost or doubled there would be a lost or doubled send.
        conservation_check("every_ticket_has_one_reply", REPLY_DRAFTS, (REPLY_DRAFTS,), daily=daily),
        conservation_check("every_ticket_has_one_outcome", TICKET_OUTCOMES, (TICKET_OUTCOMES,), daily=daily),
    ]
