"""Extract assets: landing files -> validated DuckDB tables, rejects -> quarantine tables."""

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from ai_assets.automation.partitions import PARTITION_COLUMN, daily_partitions
from ai_assets.extract.crm import read_customers
from ai_assets.extract.knowledge_base import read_kb_articles
from ai_assets.extract.tickets import build_raw_tickets
from ai_assets.metadata import counts_by, markdown_preview
from ai_assets.resources import DataDirResource
from ai_assets.warehouse.tables import replace_rows

_KINDS = {"duckdb", "polars"}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "raw_tickets",
            description="One row per valid support ticket, de-duplicated on ticket_id, for the day of its created_at.",
            kinds=_KINDS,
            metadata={"partition_expr": PARTITION_COLUMN},
        ),
        dg.AssetSpec(
            "raw_tickets_quarantine",
            description="One row per landing record rejected from raw_tickets (unreadable, invalid or duplicate), with the reason, source file and raw record.",
            kinds=_KINDS,
            metadata={"partition_expr": PARTITION_COLUMN},
        ),
    ],
    partitions_def=daily_partitions,
    group_name="extract",
)
def raw_tickets(context: dg.AssetExecutionContext, landing: DataDirResource, duckdb: DuckDBResource):
    """Reads `landing/tickets/<day>/*.jsonl|*.csv` and replaces that day's rows in both tables."""
    day = date.fromisoformat(context.partition_key)
    result = build_raw_tickets(landing.landing_dir, day)
    if result.files == 0:
        context.log.warning(f"No landing files in {landing.landing_dir / 'tickets' / day.isoformat()}; the day is empty")
    with duckdb.get_connection() as conn:
        replace_rows(conn, "raw_tickets", result.tickets, partition_column=PARTITION_COLUMN, partition_value=day)
        replace_rows(conn, "raw_tickets_quarantine", result.quarantine, partition_column=PARTITION_COLUMN, partition_value=day)
    context.log.info(
        f"{day}: read {result.records} records from {result.files} files; "
        f"{result.tickets.height} tickets, {result.quarantine.height} quarantined ({result.duplicates} duplicates)"
    )
    yield dg.MaterializeResult(
        asset_key="raw_tickets",
        metadata={
            "dagster/row_count": result.tickets.height,
            "files": result.files,
            "records_read": result.records,
            "quarantined": result.quarantine.height,
            "duplicates_dropped": result.duplicates,
            "by_channel": counts_by(result.tickets, "channel"),
        },
    )
    yield dg.MaterializeResult(
        asset_key="raw_tickets_quarantine",
        metadata={
            "dagster/row_count": result.quarantine.height,
            "preview": markdown_preview(
                result.quarantine.select("source_file", "source_line", "ticket_id", "reason"), limit=20
            ),
        },
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec("customers", description="One row per CRM customer (tier, region), from landing/crm/customers.csv.", kinds=_KINDS),
        dg.AssetSpec("customers_quarantine", description="One row per rejected CRM row, with the reason.", kinds=_KINDS),
    ],
    group_name="extract",
)
def customers(context: dg.AssetExecutionContext, landing: DataDirResource, duckdb: DuckDBResource):
    """Replaces the customers table with the current CRM export."""
    rows, rejects = read_customers(landing.landing_dir / "crm" / "customers.csv")
    with duckdb.get_connection() as conn:
        replace_rows(conn, "customers", rows)
        replace_rows(conn, "customers_quarantine", rejects)
    context.log.info(f"Loaded {rows.height} customers, rejected {rejects.height}")
    yield dg.MaterializeResult(asset_key="customers", metadata={"dagster/row_count": rows.height, "by_tier": counts_by(rows, "tier")})
    yield dg.MaterializeResult(asset_key="customers_quarantine", metadata={"dagster/row_count": rejects.height})


@dg.multi_asset(
    specs=[
        dg.AssetSpec("kb_articles", description="One row per knowledge-base article (markdown with front matter) from landing/kb/.", kinds=_KINDS),
        dg.AssetSpec("kb_articles_quarantine", description="One row per rejected knowledge-base file, with the reason.", kinds=_KINDS),
    ],
    group_name="extract",
)
def kb_articles(context: dg.AssetExecutionContext, landing: DataDirResource, duckdb: DuckDBResource):
    """Replaces the knowledge-base table with the articles currently in landing/kb/."""
    rows, rejects = read_kb_articles(landing.landing_dir / "kb")
    with duckdb.get_connection() as conn:
        replace_rows(conn, "kb_articles", rows)
        replace_rows(conn, "kb_articles_quarantine", rejects)
    context.log.info(f"Loaded {rows.height} knowledge-base articles, rejected {rejects.height}")
    yield dg.MaterializeResult(asset_key="kb_articles", metadata={"dagster/row_count": rows.height, "by_category": counts_by(rows, "category")})
    yield dg.MaterializeResult(asset_key="kb_articles_quarantine", metadata={"dagster/row_count": rejects.height})
