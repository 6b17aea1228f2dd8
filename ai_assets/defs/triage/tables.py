"""The contracts of the triage's tables: one row per triaged ticket, one per ticket that failed."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import (
    ANSWER_COLUMNS,
    FAILURE_COLUMNS,
    TICKET_KEY,
    TICKET_NOTES,
    answer_notes,
    date_column,
    failure_notes,
    one_of,
    text_column,
)
from ai_assets.quality.vocabulary import CATEGORIES, SENTIMENTS, URGENCIES
from ai_assets.warehouse.contract import Table

TICKET_TRIAGE = Table(
    "ticket_triage",
    "One row per triaged ticket: category, urgency, sentiment and language (by the cascade where it is sure, the "
    "LLM for the rest), the order id and product it mentions (by rules), confidence, plus lineage (model, "
    "prompt_version, input_hash, tokens, cost_usd, cache_hit).",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        "category": one_of(CATEGORIES),
        "urgency": one_of(URGENCIES),
        "sentiment": one_of(SENTIMENTS),
        "language": text_column(),
        "order_id": text_column(nullable=True),
        "product": text_column(nullable=True),
        "confidence": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
        "proxy_fields": pa.Column(pl.List(pl.Utf8)),
        **ANSWER_COLUMNS,
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    blocking=True,
    llm=True,
    preview=("ticket_id", "category", "urgency", "sentiment", "proxy_fields", "order_id"),
    retired=("summary",),  # now ticket_summaries', for the review queue only
    notes={
        **TICKET_NOTES,
        **answer_notes("ticket"),
        "category": "what the ticket is about; the proxy's answer when in proxy_fields",
        "urgency": "how soon it needs an answer; the proxy's answer when in proxy_fields",
        "sentiment": "the customer's mood; the proxy's answer when in proxy_fields",
        "language": "ISO 639-1 code of the ticket's language; the language identifier's when in proxy_fields",
        "order_id": "the first order number (ORD-<digits>) the ticket's text mentions; null: none",
        "product": "the longest product name of the catalog (products) the ticket's text contains; null: none",
        "proxy_fields": "the fields the cascade answered without the LLM: category, urgency, sentiment by its proxy, "
        "language by its language identifier (empty: the LLM answered every field; all four: no LLM call, "
        "model 'cascade')",
        "confidence": "the LLM's confidence in its category; without an LLM call, the held-out accuracy of the "
        "proxy's category votes at least as sure as this one's",
    },
)


TICKET_TRIAGE_FAILURES = Table(
    "ticket_triage_failures",
    "One row per ticket whose triage failed after retries (provider_error, invalid_output or budget_exceeded), "
    "with the reason and the raw answer.",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        **FAILURE_COLUMNS,
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    llm=True,
    preview=("ticket_id", "error_type", "reason"),
    notes={**TICKET_NOTES, **failure_notes("ticket")},
)
