"""The contracts of the reference data: customers, the product catalog, the knowledge base (articles,
chunks, embeddings) and the labelled tickets."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import (
    REJECT_NOTES,
    TICKET_KEY,
    TICKET_NOTES,
    date_column,
    file_quarantine,
    not_blank,
    one_of,
    text_column,
)
from ai_assets.quality.vocabulary import CATEGORIES, CHANNELS, LABEL_SOURCES, SENTIMENTS, TIERS, URGENCIES
from ai_assets.warehouse.contract import Table

CUSTOMERS = Table(
    "customers",
    "One row per CRM customer (tier, region), from landing/crm/customers.csv.",
    {
        "customer_id": text_column(checks=not_blank()),
        "name": text_column(),
        "email": text_column(nullable=True),
        "tier": one_of(TIERS),
        "region": text_column(),
        "signup_date": pa.Column(pl.Date, nullable=True),
    },
    key=("customer_id",),
    pii=True,
    notes={
        "customer_id": "the CRM's customer id (a ticket's customer_id)",
        "name": "the customer's name",
        "email": "where replies are e-mailed (the smtp sink); null: none",
        "tier": "the customer's plan",
        "region": "the customer's region",
        "signup_date": "null: not given, or not a YYYY-MM-DD date",
    },
)


CUSTOMERS_QUARANTINE = file_quarantine(
    "customers_quarantine",
    "One row per rejected row of landing/crm/customers.csv, and per other file in landing/crm, with the reason.",
    "customer_id",
    # Replaced whole, schema included: a warehouse from before source_file gets it on the next write.
    recreated_on_write=True,
)


PRODUCTS = Table(
    "products",
    "One row per product of the catalog (its price, whether it pairs with the app), from landing/catalog/products.csv.",
    {
        "product_name": text_column(checks=not_blank()),
        # Money: exact to the cent, never a binary float.
        "price": pa.Column(pl.Decimal(10, 2), pa.Check.ge(0), nullable=True),
        "connected": pa.Column(pl.Boolean, nullable=True),
    },
    key=("product_name",),
    preview=("product_name", "price", "connected"),
    notes={
        "product_name": "the product's name as tickets mention it, trimmed; unique in any letter case",
        "price": "the list price; null: not given",
        "connected": "pairs with the app (so it can come up in technical tickets); null: not given",
    },
)


PRODUCTS_QUARANTINE = file_quarantine(
    "products_quarantine",
    "One row per rejected row of landing/catalog/products.csv, and per other file in landing/catalog, with the reason.",
    "product_name",
)


KB_ARTICLES = Table(
    "kb_articles",
    "One row per knowledge-base article (markdown with front matter), from landing/kb.",
    {
        "article_id": text_column(checks=not_blank()),
        "title": text_column(checks=not_blank()),
        "category": one_of(CATEGORIES),
        "body": text_column(checks=not_blank()),
        "content_hash": text_column(),
        "source_file": text_column(),
    },
    key=("article_id",),
    notes={
        "article_id": "from the front matter, else the file name without .md",
        "title": "from the front matter, else the first `# ` heading",
        "category": "from the front matter, else `other`",
        "body": "the markdown after the front matter",
        "content_hash": "hash of the file's text: a changed article gets a new one",
        "source_file": "`kb/<file>.md`, relative to landing/",
    },
)


KB_ARTICLES_QUARANTINE = Table(
    "kb_articles_quarantine",
    "One row per rejected file of landing/kb, with the reason.",
    {"source_file": text_column(), "article_id": text_column(nullable=True), "reason": text_column(checks=not_blank())},
    key=("source_file",),
    notes={
        **REJECT_NOTES,
        "source_file": "`kb/<file>`, relative to landing/",
        "article_id": "the article's id, when it could be read",
    },
)


# A chunk's columns, as kb_chunks and kb_embeddings both carry them.
CHUNK_NOTES = {
    "chunk_id": "`<article_id>#<n>`",
    "article_id": "the article it is cut from (kb_articles)",
    "category": "the article's category",
    "content_hash": "hash of the chunk's text: an unchanged chunk is never embedded again",
}


KB_CHUNKS = Table(
    "kb_chunks",
    "One row per knowledge-base chunk: an article section (split further when long), with the text to embed "
    "(title and heading included) and its content hash.",
    {
        "chunk_id": text_column(),
        "article_id": text_column(),
        "chunk_index": pa.Column(pl.Int32, pa.Check.ge(0)),
        "category": one_of(CATEGORIES),
        "title": text_column(),
        "heading": text_column(),
        "text": text_column(checks=not_blank()),
        "content_hash": text_column(),
    },
    key=("chunk_id",),
    notes={
        **CHUNK_NOTES,
        "chunk_index": "n of chunk_id: its place in the article, from 0",
        "title": "the article's title",
        "heading": "the `##` (or deeper) section heading; empty: the text before the first one",
        "text": "what is embedded",
    },
)


def _label(values: tuple, **kwargs) -> pa.Column:
    return one_of(values, nullable=True, **kwargs)


TICKET_LABELS = Table(
    "ticket_labels",
    "One row per labelled ticket: the ticket and the triage a correct model gives it, from landing/labels "
    "(source file) or a reviewer's correction (source review, which wins over the file's label of that ticket).",
    {
        "ticket_id": text_column(checks=not_blank()),
        "created_date": date_column(),
        "customer_id": text_column(checks=not_blank()),
        "created_at": pa.Column(pl.Datetime("us")),
        "channel": one_of(CHANNELS),
        "subject": text_column(checks=not_blank()),
        "body": text_column(checks=not_blank()),
        "category": _label(CATEGORIES),
        "urgency": _label(URGENCIES),
        "sentiment": _label(SENTIMENTS),
        "language": text_column(nullable=True, checks=pa.Check.str_matches(r"^[a-z]{2,3}$")),
        "kb_article_id": text_column(nullable=True),
        "source": one_of(LABEL_SOURCES),
        "source_file": text_column(),
        "source_line": pa.Column(pl.Int64),
        "labelled_at": pa.Column(pl.Datetime("us")),
    },
    key=TICKET_KEY,
    pii=True,
    preview=("ticket_id", "category", "urgency", "sentiment", "language", "source"),
    notes={
        **TICKET_NOTES,
        "created_date": "the UTC day of created_at: with ticket_id, the ticket",
        **{
            field: "expected; null (review labels only): not labelled, not scored"
            for field in ("category", "urgency", "sentiment")
        },
        "language": "expected ISO 639-1 code",
        "kb_article_id": "the knowledge-base article that answers it (retrieval is scored on it); null: none given",
        "source": "where the label comes from: a landing/labels file or a reviewer's correction",
        "source_file": "`labels/<file>` or `reviews/<file>`",
        "source_line": "the line of the label, or of the reviewer's decision, in source_file",
        "labelled_at": "the label file's modification time, or the reviewer's decided_at",
    },
)


TICKET_LABELS_QUARANTINE = file_quarantine(
    "ticket_labels_quarantine",
    "One row per rejected labelled ticket (unreadable, a missing field, a label outside the vocabulary, a duplicate "
    "ticket) and per reviewer correction of a ticket not in raw_tickets, with the reason.",
    "ticket_id",
    "`labels/<file>` or `reviews/<file>`",
    preview=("source_file", "source_line", "ticket_id", "reason"),
)


KB_EMBEDDINGS = Table(
    "kb_embeddings",
    "One row per knowledge-base chunk with its embedding (a FLOAT list of the model's width); a chunk whose text "
    "did not change is never embedded again.",
    {
        "chunk_id": text_column(),
        "article_id": text_column(),
        "category": one_of(CATEGORIES),
        "content_hash": text_column(),
        "embed_model": text_column(),
        # A fixed-size FLOAT array whose width is the model's dimension (384 for the embedded e5).
        "embedding": pa.Column(None),
    },
    key=("chunk_id",),
    recreated_on_write=True,
    llm=True,
    notes={
        **CHUNK_NOTES,
        "embed_model": "the embedding model (AI_ASSETS_EMBED_MODEL)",
        "embedding": "FLOAT[n], n the model's dimension (384 for the embedded e5)",
    },
)
