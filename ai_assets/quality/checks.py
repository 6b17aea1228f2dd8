"""Asset checks: every table re-validated against its pandera schema, and row conservation.

Blocking checks stop downstream assets in the same run from reading bad data.
"""

import dagster as dg
import pandera.polars as pa
from dagster_duckdb import DuckDBResource

from ai_assets.quality.schemas import TABLE_SCHEMAS

# Bad rows in these would flow into the LLM step or the marts.
_BLOCKING = {"raw_tickets", "ticket_triage", "reply_drafts", "ticket_outcomes", "outbox"}


def _schema_check(table: str, schema: pa.DataFrameSchema) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=table,
        name=f"{table}_matches_schema",
        blocking=table in _BLOCKING,
        description=f"Every row of {table} passes the pandera schema `{schema.name}` in ai_assets/quality/schemas.py.",
    )
    def check(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as conn:
            frame = conn.execute(f"SELECT * FROM {table}").pl()
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as errors:
            cases = errors.failure_cases
            return dg.AssetCheckResult(
                passed=False,
                metadata={
                    "rows": frame.height,
                    "failures": cases.height,
                    "failed_rules": sorted({f"{c['column']}: {c['check']}" for c in cases.iter_rows(named=True)})[:20],
                },
            )
        return dg.AssetCheckResult(passed=True, metadata={"rows": frame.height})

    return check


# A day counts once its step has run: raw tickets of days not yet processed are not "missing".
_CONSERVATION_SQL = """
WITH outcomes AS ({outcomes}),
done_days AS (SELECT DISTINCT created_date FROM outcomes),
raw AS (SELECT ticket_id, created_date FROM raw_tickets WHERE created_date IN (SELECT created_date FROM done_days))
SELECT
    (SELECT count(*) FROM raw) AS raw_rows,
    (SELECT count(*) FROM outcomes) AS outcome_rows,
    (SELECT count(*) FROM raw ANTI JOIN outcomes USING (ticket_id, created_date)) AS missing,
    (SELECT count(*) FROM outcomes ANTI JOIN raw USING (ticket_id, created_date)) AS orphans,
    (SELECT count(*) FROM (SELECT ticket_id FROM outcomes GROUP BY ticket_id, created_date HAVING count(*) > 1)) AS doubled
"""


def _conservation_check(name: str, asset: str, tables: tuple[str, ...]) -> dg.AssetChecksDefinition:
    """Every raw ticket is in exactly one of `tables`, once, and nothing else is."""
    outcomes = " UNION ALL ".join(f"SELECT ticket_id, created_date FROM {table}" for table in tables)

    @dg.asset_check(
        asset=asset,
        name=name,
        additional_deps=["raw_tickets", *(t for t in tables if t != asset)],
        blocking=True,
        description=f"Every raw ticket is in {' or '.join(tables)}, exactly once, and nothing else is.",
    )
    def check(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as conn:
            raw_rows, outcome_rows, missing, orphans, doubled = conn.execute(
                _CONSERVATION_SQL.format(outcomes=outcomes)
            ).fetchone()
        return dg.AssetCheckResult(
            passed=missing == 0 and orphans == 0 and doubled == 0,
            metadata={
                "raw_rows": raw_rows,
                "outcome_rows": outcome_rows,
                "missing": missing,
                "orphans": orphans,
                "doubled": doubled,
            },
        )

    return check


conservation_checks = [
    _conservation_check("every_ticket_triaged_once", "ticket_triage", ("ticket_triage", "ticket_triage_failures")),
    # The outbox acts on replies and outcomes: a ticket lost or doubled there would be a lost or doubled send.
    _conservation_check("every_ticket_has_one_reply", "reply_drafts", ("reply_drafts",)),
    _conservation_check("every_ticket_has_one_outcome", "ticket_outcomes", ("ticket_outcomes",)),
]


schema_checks = [_schema_check(table, schema) for table, schema in TABLE_SCHEMAS.items()]
asset_checks = [*schema_checks, *conservation_checks]
