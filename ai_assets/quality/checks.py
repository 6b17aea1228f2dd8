"""Asset checks: every table re-validated against its pandera schema, and row conservation.

Blocking checks stop downstream assets in the same run from reading bad data.
"""

import dagster as dg
import pandera.polars as pa
from dagster_duckdb import DuckDBResource

from ai_assets.quality.schemas import TABLE_SCHEMAS

# Bad rows in these would flow into the LLM step or the marts.
_BLOCKING = {"raw_tickets", "ticket_triage"}


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


# A day counts once its triage has run: raw tickets of days not yet triaged are not "missing".
_CONSERVATION_SQL = """
WITH outcomes AS (
    SELECT ticket_id, created_date FROM ticket_triage
    UNION ALL
    SELECT ticket_id, created_date FROM ticket_triage_failures
),
triaged_days AS (SELECT DISTINCT created_date FROM outcomes),
raw AS (SELECT ticket_id, created_date FROM raw_tickets WHERE created_date IN (SELECT created_date FROM triaged_days))
SELECT
    (SELECT count(*) FROM raw) AS raw_rows,
    (SELECT count(*) FROM outcomes) AS outcome_rows,
    (SELECT count(*) FROM raw ANTI JOIN outcomes USING (ticket_id, created_date)) AS missing,
    (SELECT count(*) FROM outcomes ANTI JOIN raw USING (ticket_id, created_date)) AS orphans,
    (SELECT count(*) FROM (SELECT ticket_id FROM outcomes GROUP BY ticket_id, created_date HAVING count(*) > 1)) AS doubled
"""


@dg.asset_check(
    asset="ticket_triage",
    additional_deps=["raw_tickets", "ticket_triage_failures"],
    blocking=True,
    description="Every raw ticket is in ticket_triage or ticket_triage_failures, exactly once, and nothing else is.",
)
def every_ticket_triaged_once(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        raw_rows, outcome_rows, missing, orphans, doubled = conn.execute(_CONSERVATION_SQL).fetchone()
    return dg.AssetCheckResult(
        passed=missing == 0 and orphans == 0 and doubled == 0,
        metadata={"raw_rows": raw_rows, "outcome_rows": outcome_rows, "missing": missing, "orphans": orphans, "doubled": doubled},
    )


schema_checks = [_schema_check(table, schema) for table, schema in TABLE_SCHEMAS.items()]
asset_checks = [*schema_checks, every_ticket_triaged_once]
