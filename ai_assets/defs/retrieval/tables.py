"""The contract of ticket_context: each ticket's knowledge-base excerpts and history."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import TICKET_KEY, TICKET_NOTES, count_column, date_column, one_of, text_column
from ai_assets.quality.vocabulary import TIERS
from ai_assets.warehouse.contract import Table

# One earlier ticket of the customer, as carried in ticket_context.history.
HISTORY_FIELDS = {
    "ticket_id": pl.Utf8,
    "created_at": pl.Datetime("us"),
    "subject": pl.Utf8,
    "category": pl.Utf8,
    "urgency": pl.Utf8,
}


TICKET_CONTEXT = Table(
    "ticket_context",
    "One row per ticket: its top-k knowledge-base chunks by cosine similarity (ids, articles, scores, best first) "
    "and the customer's memory: CRM tier and region, and earlier tickets with their triage outcome.",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        "customer_id": text_column(),
        "customer_tier": one_of(TIERS, nullable=True),
        "customer_region": text_column(nullable=True),
        "chunk_ids": pa.Column(pl.List(pl.Utf8)),
        "article_ids": pa.Column(pl.List(pl.Utf8)),
        "scores": pa.Column(pl.List(pl.Float64)),
        "top_score": pa.Column(pl.Float64, nullable=True),
        "previous_ticket_count": count_column(),
        "history": pa.Column(pl.List(pl.Struct(HISTORY_FIELDS))),
        "embed_model": text_column(),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    llm=True,
    preview=("ticket_id", "customer_tier", "article_ids", "top_score", "previous_ticket_count"),
    retired=("history.element.summary",),  # the triage writes no summary any more
    notes={
        **TICKET_NOTES,
        "customer_tier": "null: not in the CRM",
        "customer_region": "the customer's CRM region; null: not in the CRM",
        "chunk_ids": "the AI_ASSETS_RETRIEVAL_TOP_K knowledge-base chunks nearest the ticket, best first",
        "article_ids": "each chunk's article, in the same order",
        "scores": "each chunk's cosine similarity to the ticket, in the same order",
        "top_score": "the best score; null: no chunk retrieved",
        "previous_ticket_count": "the customer's tickets created before this one",
        "history": "up to 5 earlier tickets of the customer, newest first: ticket_id, created_at, subject, "
        "category, urgency",
        "embed_model": "the embedding model of the ticket's and the chunks' vectors",
    },
)
