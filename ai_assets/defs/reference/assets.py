"""The reference data rebuilt whole from their landing folders: customers (the CRM export), the
product catalog, the knowledge base and its chunks, and the labelled tickets."""

import dagster as dg
import polars as pl

from ai_assets.defs.landing.tables import RAW_TICKETS
from ai_assets.defs.outbox.tables import REVIEW_DECISIONS
from ai_assets.defs.reference.tables import (
    CUSTOMERS,
    CUSTOMERS_QUARANTINE,
    KB_ARTICLES,
    KB_ARTICLES_QUARANTINE,
    KB_CHUNKS,
    PRODUCTS,
    PRODUCTS_QUARANTINE,
    TICKET_LABELS,
    TICKET_LABELS_QUARANTINE,
)
from ai_assets.extract.catalog import read_products
from ai_assets.extract.chunking import chunk_articles
from ai_assets.extract.crm import read_customers
from ai_assets.extract.folder_assets import folder_table_asset
from ai_assets.extract.knowledge_base import read_kb_articles
from ai_assets.extract.labels import CORRECTIONS, build_ticket_labels
from ai_assets.extract.landing import WHOLE_FILE
from ai_assets.resources import DataDirResource
from ai_assets.warehouse.metadata import counts_by
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import read

# Sections longer than this are split at paragraph, then word, boundaries: small enough for a
# focused embedding and a short grounding citation, big enough to keep a policy rule whole.
KB_CHUNK_MAX_CHARS = 800


customers = folder_table_asset(
    CUSTOMERS, CUSTOMERS_QUARANTINE, read_customers, "crm/customers.csv", "landing_crm", "reference"
)


products = folder_table_asset(
    PRODUCTS, PRODUCTS_QUARANTINE, read_products, "catalog/products.csv", "landing_catalog", "reference"
)


kb_articles = folder_table_asset(KB_ARTICLES, KB_ARTICLES_QUARANTINE, read_kb_articles, "kb", "landing_kb", "reference")


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
