"""The contracts of the triage's tables: one row per triaged ticket, one per ticket that failed."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import (
    LINEAGE_COLUMNS,
    LINEAGE_NOTES,
    TICKET_KEY,
    TICKET_NOTES,
    TRUNCATED_NOTE,
    date_column,
    not_blank,
    one_of,
    text_column,
)
from ai_assets.quality.vocabulary import CATEGORIES, LLM_ERROR_TYPES, SENTIMENTS, URGENCIES
from ai_assets.warehouse.contract import Table

TICKET_TRIAGE = Table(
    "ticket_triage",
    "One row per ticket the LLM triaged: category, urgency, sentiment, language, summary, order id and product "
    "when mentioned, confidence, plus lineage (model, prompt_version, input_hash, tokens, cost_usd, cache_hit).",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        "category": one_of(CATEGORIES),
        "urgency": one_of(URGENCIES),
        "sentiment": one_of(SENTIMENTS),
        "language": text_column(),
        "summary": text_column(),
        "order_id": text_column(nullable=True),
        "product": text_column(nullable=True),
        "confidence": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
        "proxy_fields": pa.Column(pl.List(pl.Utf8)),
        **LINEAGE_COLUMNS,
        "latency_ms": pa.Column(pl.Float64),
        "input_truncated": pa.Column(pl.Boolean),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    blocking=True,
    llm=True,
    preview=("ticket_id", "category", "urgency", "sentiment", "proxy_fields", "summary"),
    notes={
        **TICKET_NOTES,
        **LINEAGE_NOTES,
        "category": "what the ticket is about; the proxy's answer when in proxy_fields",
        "urgency": "how soon it needs an answer; the proxy's answer when in proxy_fields",
        "sentiment": "the customer's mood; the proxy's answer when in proxy_fields",
        "language": "ISO 639-1 code of the ticket's language",
        "summary": "one short English sentence: what the customer needs",
        "order_id": "the order number the ticket mentions; null: none",
        "product": "the product the ticket mentions; null: none",
        "latency_ms": "the call's latency (0 when answered from the cache)",
        "input_truncated": TRUNCATED_NOTE,
        "proxy_fields": "the fields the cascade's proxy answered (empty: the LLM answered every field)",
        "confidence": "the LLM's confidence in its category",
    },
)


TICKET_TRIAGE_FAILURES = Table(
    "ticket_triage_failures",
    "One row per ticket whose triage failed after retries (provider_error, invalid_output or budget_exceeded), "
    "with the reason and the raw answer.",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        "error_type": one_of(LLM_ERROR_TYPES),
        "reason": text_column(checks=not_blank()),
        "raw_output": text_column(nullable=True),
        "model": text_column(),
        "prompt_version": text_column(),
        "input_hash": text_column(),
        "input_truncated": pa.Column(pl.Boolean),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    llm=True,
    preview=("ticket_id", "error_type", "reason"),
    notes={
        **TICKET_NOTES,
        **LINEAGE_NOTES,
        "error_type": "what failed, after the engine's retries and re-asks",
        "reason": "why it failed",
        "raw_output": "the model's last answer, when there was one",
        "model": "the model that failed to answer",
        "input_truncated": TRUNCATED_NOTE,
    },
)
