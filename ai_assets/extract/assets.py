"""Extract assets: landing files -> validated DuckDB tables, rejects -> quarantine tables."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from ai_assets.automation.partitions import PARTITION_COLUMN, daily_backfill_policy, daily_partitions, partition_days
from ai_assets.extract.chunking import chunk_articles
from ai_assets.extract.crm import read_customers
from ai_assets.extract.knowledge_base import read_kb_articles
from ai_assets.extract.reviews import read_review_decisions
from ai_assets.extract.tickets import build_raw_tickets
from ai_assets.metadata import counts_by, markdown_preview
from ai_assets.quality.schemas import KB_CHUNKS
from ai_assets.resources import DataDirResource
from ai_assets.warehouse.tables import read_table, replace_rows

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
    backfill_policy=daily_backfill_policy,
    group_name="extract",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
)
def raw_tickets(context: dg.AssetExecutionContext, landing: DataDirResource, duckdb: DuckDBResource):
    """Reads `landing/tickets/<day>/*.jsonl|*.csv` and replaces those days' rows in both tables."""
    days = partition_days(context)
    results = [build_raw_tickets(landing.landing_dir, day) for day in days]
    for day, result in zip(days, results):
        if result.files == 0:
            context.log.warning(
                f"No landing files in {landing.landing_dir / 'tickets' / day.isoformat()}; the day is empty"
            )
        context.log.info(
            f"{day}: read {result.records} records from {result.files} files; "
            f"{result.tickets.height} tickets, {result.quarantine.height} quarantined ({result.duplicates} duplicates)"
        )
    tickets = pl.concat([r.tickets for r in results])
    quarantine = pl.concat([r.quarantine for r in results])
    with duckdb.get_connection() as conn:
        replace_rows(conn, "raw_tickets", tickets, partition_column=PARTITION_COLUMN, partitions=days)
        replace_rows(conn, "raw_tickets_quarantine", quarantine, partition_column=PARTITION_COLUMN, partitions=days)
    yield dg.MaterializeResult(
        asset_key="raw_tickets",
        metadata={
            "dagster/row_count": tickets.height,
            "days": len(days),
            "files": sum(r.files for r in results),
            "records_read": sum(r.records for r in results),
            "quarantined": quarantine.height,
            "duplicates_dropped": sum(r.duplicates for r in results),
            "by_channel": counts_by(tickets, "channel"),
        },
    )
    yield dg.MaterializeResult(
        asset_key="raw_tickets_quarantine",
        metadata={
            "dagster/row_count": quarantine.height,
            "preview": markdown_preview(
                quarantine.select("source_file", "source_line", "ticket_id", "reason"), limit=20
            ),
        },
    )


def _reference_table(
    table: str,
    description: str,
    read: Callable[[Path], tuple[pl.DataFrame, pl.DataFrame]],
    source: str,
    count_column: str,
) -> dg.AssetsDefinition:
    """An unpartitioned table rebuilt whole from one landing source, plus its quarantine table."""

    @dg.multi_asset(
        name=table,
        specs=[
            dg.AssetSpec(table, description=f"{description}, from landing/{source}.", kinds=_KINDS),
            dg.AssetSpec(
                f"{table}_quarantine",
                description=f"One row per rejected row of landing/{source}, with the reason.",
                kinds=_KINDS,
            ),
        ],
        group_name="extract",
    )
    def reference_table(context: dg.AssetExecutionContext, landing: DataDirResource, duckdb: DuckDBResource):
        rows, rejects = read(landing.landing_dir / source)
        with duckdb.get_connection() as conn:
            replace_rows(conn, table, rows)
            replace_rows(conn, f"{table}_quarantine", rejects)
        context.log.info(f"Loaded {rows.height} rows into {table}, rejected {rejects.height}")
        yield dg.MaterializeResult(
            asset_key=table,
            metadata={"dagster/row_count": rows.height, f"by_{count_column}": counts_by(rows, count_column)},
        )
        yield dg.MaterializeResult(
            asset_key=f"{table}_quarantine",
            metadata={
                "dagster/row_count": rejects.height,
                "preview": markdown_preview(rejects, empty="_nothing rejected_"),
            },
        )

    return reference_table


customers = _reference_table(
    "customers", "One row per CRM customer (tier, region)", read_customers, "crm/customers.csv", "tier"
)
kb_articles = _reference_table(
    "kb_articles", "One row per knowledge-base article (markdown with front matter)", read_kb_articles, "kb", "category"
)
review_decisions = _reference_table(
    "review_decisions",
    "One row per reviewer decision (approve, edit or reject a reply); is_latest marks the one that decides its ticket",
    read_review_decisions,
    "reviews",
    "decision",
)

# Sections longer than this are split at paragraph, then word, boundaries: small enough for a
# focused embedding and a short grounding citation, big enough to keep a policy rule whole.
KB_CHUNK_MAX_CHARS = 800


@dg.asset(deps=["kb_articles"], group_name="extract", kinds=_KINDS)
def kb_chunks(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """One row per knowledge-base chunk: an article section (split further when long), with the
    text to embed (title and heading included) and its content hash."""
    with duckdb.get_connection() as conn:
        chunks = chunk_articles(read_table(conn, "kb_articles"), KB_CHUNK_MAX_CHARS)
        KB_CHUNKS.validate(chunks)
        replace_rows(conn, "kb_chunks", chunks)
    context.log.info(f"Split {chunks['article_id'].n_unique()} articles into {chunks.height} chunks")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": chunks.height,
            "articles": chunks["article_id"].n_unique(),
            "longest_chunk_chars": int(chunks["text"].str.len_chars().max() or 0),
            "by_category": counts_by(chunks, "category"),
        }
    )
