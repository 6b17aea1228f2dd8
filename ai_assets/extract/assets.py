"""Extract assets: landing files -> validated DuckDB tables, rejects -> quarantine tables."""

from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from ai_assets.defs.kb_updates.tables import KB_REVIEW_DECISIONS, KB_REVIEW_DECISIONS_QUARANTINE
from ai_assets.defs.landing.tables import ORDERS, ORDERS_QUARANTINE, RAW_TICKETS, RAW_TICKETS_QUARANTINE
from ai_assets.defs.outbox.tables import REVIEW_DECISIONS, REVIEW_DECISIONS_QUARANTINE
from ai_assets.defs.reference.tables import (
    CUSTOMERS,
    CUSTOMERS_QUARANTINE,
    KB_ARTICLES,
    KB_ARTICLES_QUARANTINE,
    KB_CHUNKS,
    TICKET_LABELS,
    TICKET_LABELS_QUARANTINE,
)
from ai_assets.extract.chunking import chunk_articles
from ai_assets.extract.crm import read_customers
from ai_assets.extract.kb_reviews import read_kb_review_decisions
from ai_assets.extract.knowledge_base import read_kb_articles
from ai_assets.extract.labels import CORRECTIONS, build_ticket_labels
from ai_assets.extract.landing import WHOLE_FILE
from ai_assets.extract.orders import build_orders
from ai_assets.extract.reviews import read_review_decisions
from ai_assets.extract.tickets import build_raw_tickets
from ai_assets.quality.freshness import RAW_TICKETS_FRESHNESS
from ai_assets.resources import DataDirResource
from ai_assets.warehouse.contract import PARTITION_COLUMN, Table
from ai_assets.warehouse.metadata import counts_by
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import read

# Sections longer than this are split at paragraph, then word, boundaries: small enough for a
# focused embedding and a short grounding citation, big enough to keep a policy rule whole.
KB_CHUNK_MAX_CHARS = 800
# The run tag that empties a day on purpose (docs/operations.md): without it a day with no landing
# files is never written over rows.
ALLOW_EMPTY_DAY_TAG = "ai_assets/allow_empty_day"


def _lost_day(source_dir: Path, day: date, rows: int, folder_required: bool) -> str | None:
    """Why extracting `day` from `source_dir` (landing/tickets, landing/orders) would lose data, or None.
    A missing day folder means its files are gone (archived, or this data directory is not the one
    that landed them), not that the day had none; an emptied folder over a day with rows is the same.
    Where a day may have no folder (orders: not every day has an export), only rows can be lost."""
    folder = source_dir / day.isoformat()
    if folder.is_dir():
        return (
            f"{folder} has no files but the warehouse holds {rows} rows of {day}"
            if rows and not any(folder.iterdir())
            else None
        )
    if rows or (folder_required and source_dir.is_dir()):
        return f"no landing folder {folder}" + (f" (the warehouse holds {rows} rows of {day})" if rows else "")
    return None  # the source is not used at all (orders from the order service): nothing to lose


def refuse_lost_days(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    table: Table,
    source_dir: Path,
    days: list[date],
    folder_required: bool = True,
) -> None:
    """Fails the step before it writes when a day of `days` has no landing files to replace its rows
    with (see `_lost_day`), unless the run carries ALLOW_EMPTY_DAY_TAG."""
    if context.run.tags.get(ALLOW_EMPTY_DAY_TAG) == "true":
        context.log.warning(f"{ALLOW_EMPTY_DAY_TAG}: days without landing files are written empty")
        return
    with warehouse.get_connection() as conn:
        column = PARTITION_COLUMN
        query = f"SELECT {column}, count(*) FROM {table.name} WHERE list_contains(?, {column}) GROUP BY 1"
        rows = dict(conn.execute(query, [days]).fetchall())
    lost = [problem for day in days if (problem := _lost_day(source_dir, day, rows.get(day, 0), folder_required))]
    if lost:
        raise dg.Failure(
            f"{table.name} not extracted, so that no day is replaced with nothing: {'; '.join(lost)}. Restore the "
            "files (a retention job may have archived them) or point AI_ASSETS_DATA_DIR at the data directory that "
            "landed them. To extract a day as empty on purpose, create its folder with no files (a day without rows) "
            f"or rerun with the run tag {ALLOW_EMPTY_DAY_TAG}=true.",
            allow_retries=False,  # the files do not come back by themselves
        )


def build_raw_tickets_asset(daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="raw_tickets",
        specs=[
            RAW_TICKETS.spec(deps=["landing_tickets"], freshness_policy=RAW_TICKETS_FRESHNESS),
            RAW_TICKETS_QUARANTINE.spec(deps=["landing_tickets"]),
        ],
        group_name="landing",
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
        **daily.asset_args(),
    )
    def raw_tickets(context: dg.AssetExecutionContext, landing: DataDirResource, warehouse: WarehouseResource):
        """Reads `landing/tickets/<day>/*.jsonl|*.csv` and replaces those days' rows in both tables."""
        days = partition_days(context)
        refuse_lost_days(context, warehouse, RAW_TICKETS, landing.landing_dir / "tickets", days)
        results = [build_raw_tickets(landing.landing_dir, day) for day in days]
        for day, result in zip(days, results):
            if result.files == 0 and not result.files_not_read:
                context.log.warning(
                    f"No landing files in {landing.landing_dir / 'tickets' / str(day)}; the day is empty"
                )
            for source, reason in result.files_not_read:
                context.log.warning(f"{day}: landing/{source} not read: {reason} (one quarantine row)")
            context.log.info(
                f"{day}: read {result.records} records from {result.files} files; {result.tickets.height} tickets, "
                f"{result.quarantine.height} quarantined ({result.duplicates} duplicates)"
            )
        tickets = pl.concat([r.tickets for r in results])
        stats = {
            "days": len(days),
            "files": sum(r.files for r in results),
            "files_not_read": sum(len(r.files_not_read) for r in results),
            "records_read": sum(r.records for r in results),
            "duplicates_dropped": sum(r.duplicates for r in results),
            "by_channel": counts_by(tickets, "channel"),
        }
        frames = {RAW_TICKETS: tickets, RAW_TICKETS_QUARANTINE: pl.concat([r.quarantine for r in results])}
        yield from warehouse.write(frames, days, metadata={RAW_TICKETS: stats})

    return raw_tickets


def build_orders_asset(daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="orders",
        specs=[ORDERS.spec(deps=["landing_orders"]), ORDERS_QUARANTINE.spec(deps=["landing_orders"])],
        group_name="landing",
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
        **daily.asset_args(),
    )
    def orders(context: dg.AssetExecutionContext, landing: DataDirResource, warehouse: WarehouseResource):
        """Reads the order system's export of each day, `landing/orders/<day>/*.jsonl|*.csv`, and replaces those
        days' rows in both tables (what the order_status tool reads when AI_ASSETS_ORDERS_API_URL is unset)."""
        days = partition_days(context)
        # Not every day has an order export: a missing day folder is an empty day unless it had rows.
        refuse_lost_days(context, warehouse, ORDERS, landing.landing_dir / "orders", days, folder_required=False)
        results = [build_orders(landing.landing_dir, day) for day in days]
        for day, result in zip(days, results):
            if result.files == 0:
                context.log.warning(
                    f"No order export in {landing.landing_dir / 'orders' / str(day)}: the order_status tool finds "
                    "no order of that day (set AI_ASSETS_ORDERS_API_URL to ask the order service instead)"
                )
            context.log.info(
                f"{day}: read {result.records} order records from {result.files} files; {result.orders.height} orders, "
                f"{result.quarantine.height} quarantined ({result.duplicates} duplicates)"
            )
        rows = pl.concat([r.orders for r in results])
        stats = {"by_status": counts_by(rows, "status"), "files": sum(r.files for r in results)}
        frames = {ORDERS: rows, ORDERS_QUARANTINE: pl.concat([r.quarantine for r in results])}
        yield from warehouse.write(frames, days, metadata={ORDERS: stats})

    return orders


def _reference_table(
    table: Table,
    quarantine: Table,
    read_source: Callable[[Path], tuple[pl.DataFrame, pl.DataFrame]],
    source: str,
    landing_asset: str,
    group: str,
) -> dg.AssetsDefinition:
    """An unpartitioned table rebuilt whole from one landing source, plus its quarantine table."""

    specs = [table.spec(deps=[landing_asset]), quarantine.spec(deps=[landing_asset])]

    @dg.multi_asset(name=table.name, specs=specs, group_name=group)
    def reference_table(context: dg.AssetExecutionContext, landing: DataDirResource, warehouse: WarehouseResource):
        rows, rejects = read_source(landing.landing_dir / source)
        context.log.info(
            f"Loaded {rows.height} rows into {table.name} from landing/{source}, rejected {rejects.height}"
        )
        # A row per file (the knowledge base), or at WHOLE_FILE: a file none of whose records were read.
        whole_files = rejects.filter(pl.col("source_line") == WHOLE_FILE) if "source_line" in rejects else rejects
        for file, reason in whole_files.select("source_file", "reason").iter_rows():
            context.log.warning(f"landing/{source}: {file} not loaded: {reason}")
        yield from warehouse.write({table: rows, quarantine: rejects})

    return reference_table


customers = _reference_table(
    CUSTOMERS, CUSTOMERS_QUARANTINE, read_customers, "crm/customers.csv", "landing_crm", "reference"
)
kb_articles = _reference_table(KB_ARTICLES, KB_ARTICLES_QUARANTINE, read_kb_articles, "kb", "landing_kb", "reference")
review_decisions = _reference_table(
    REVIEW_DECISIONS, REVIEW_DECISIONS_QUARANTINE, read_review_decisions, "reviews", "landing_reviews", "outbox"
)
kb_review_decisions = _reference_table(
    KB_REVIEW_DECISIONS,
    KB_REVIEW_DECISIONS_QUARANTINE,
    read_kb_review_decisions,
    "kb_reviews",
    "landing_kb_reviews",
    "kb_updates",
)


@dg.multi_asset(specs=[KB_CHUNKS.spec(deps=["kb_articles"])], group_name="reference")
def kb_chunks(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Splits every knowledge-base article into chunks to embed."""
    with warehouse.get_connection() as conn:
        chunks = chunk_articles(read(conn, KB_ARTICLES), KB_CHUNK_MAX_CHARS)
        context.log.info(f"Split {chunks['article_id'].n_unique()} articles into {chunks.height} chunks")
        stats = {
            "articles": chunks["article_id"].n_unique(),
            "longest_chunk_chars": int(chunks["text"].str.len_chars().max() or 0),
            "by_category": counts_by(chunks, "category"),
        }
        yield from warehouse.write({KB_CHUNKS: chunks}, metadata={KB_CHUNKS: stats})


@dg.multi_asset(
    specs=[
        TICKET_LABELS.spec(deps=["landing_labels", REVIEW_DECISIONS.name, RAW_TICKETS.name]),
        TICKET_LABELS_QUARANTINE.spec(deps=["landing_labels", REVIEW_DECISIONS.name, RAW_TICKETS.name]),
    ],
    group_name="reference",
)
def ticket_labels(context: dg.AssetExecutionContext, landing: DataDirResource, warehouse: WarehouseResource):
    """Reads the labelled tickets of `landing/labels/*.jsonl|*.csv` and the reviewers' triage corrections
    (review_decisions, with the ticket from raw_tickets), and replaces both tables."""
    with warehouse.get_connection() as conn:
        decisions = read(conn, REVIEW_DECISIONS)
        corrected = decisions.filter(pl.any_horizontal(pl.col(CORRECTIONS).is_not_null()))["ticket_id"]
        tickets = read(conn, RAW_TICKETS).filter(pl.col("ticket_id").is_in(corrected.implode()))
        labels, rejects = build_ticket_labels(landing.landing_dir / "labels", decisions, tickets)
        context.log.info(
            f"Loaded {labels.height} labelled tickets ({counts_by(labels, 'source')}), rejected {rejects.height}"
        )
        for file, reason in (
            rejects.filter(pl.col("source_line") == WHOLE_FILE).select("source_file", "reason").iter_rows()
        ):
            context.log.warning(f"landing/{file} not loaded: {reason}")
        stats = {"by_source": counts_by(labels, "source"), "by_category": counts_by(labels, "category")}
        yield from warehouse.write(
            {TICKET_LABELS: labels, TICKET_LABELS_QUARANTINE: rejects}, metadata={TICKET_LABELS: stats}
        )
