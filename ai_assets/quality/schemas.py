"""Pandera (polars) schemas: the one definition of every warehouse table's columns and rules.

Assets validate what they write with these, and asset checks re-validate what landed.
"""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl

from ai_assets.quality.vocabulary import ACTION_TYPES, CATEGORIES, CHANNELS, DECISIONS, SENTIMENTS, TIERS, URGENCIES


def _not_blank() -> pa.Check:
    return pa.Check(
        lambda data: data.lazyframe.select(pl.col(data.key).str.strip_chars().str.len_chars() > 0),
        name="not_blank",
        error="must not be empty or whitespace",
    )


def _text(**kwargs) -> pa.Column:
    return pa.Column(pl.Utf8, **kwargs)


LINEAGE_COLUMNS = {
    "model": _text(),
    "prompt_version": _text(),
    "input_hash": _text(),
    "prompt_tokens": pa.Column(pl.Int64, pa.Check.ge(0)),
    "completion_tokens": pa.Column(pl.Int64, pa.Check.ge(0)),
    "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
    "cache_hit": pa.Column(pl.Boolean),
}


def ticket_candidates_schema(day: date) -> pa.DataFrameSchema:
    """Rules a parsed landing record must pass to become a `raw_tickets` row of `day`."""
    return pa.DataFrameSchema(
        {
            "ticket_id": _text(checks=_not_blank()),
            "customer_id": _text(checks=_not_blank()),
            "created_at": pa.Column(pl.Datetime("us")),
            "created_date": pa.Column(pl.Date, pa.Check.equal_to(day, error=f"created_at must fall on {day}")),
            "channel": _text(checks=pa.Check.isin(CHANNELS)),
            "subject": _text(checks=_not_blank()),
            "body": _text(checks=_not_blank()),
        },
        name="ticket_candidates",
    )


RAW_TICKETS = pa.DataFrameSchema(
    {
        "ticket_id": _text(unique=True),
        "customer_id": _text(),
        "created_at": pa.Column(pl.Datetime("us")),
        "created_date": pa.Column(pl.Date),
        "channel": _text(checks=pa.Check.isin(CHANNELS)),
        "subject": _text(),
        "body": _text(checks=_not_blank()),
        "body_chars": pa.Column(pl.Int64, pa.Check.ge(1)),
        "source_file": _text(),
        "source_line": pa.Column(pl.Int64),
    },
    name="raw_tickets",
    strict=True,
)

RAW_TICKETS_QUARANTINE = pa.DataFrameSchema(
    {
        "created_date": pa.Column(pl.Date),
        "source_file": _text(),
        "source_line": pa.Column(pl.Int64),
        "ticket_id": _text(nullable=True),
        "reason": _text(checks=_not_blank()),
        "raw_record": _text(),
    },
    name="raw_tickets_quarantine",
    strict=True,
)

CUSTOMERS = pa.DataFrameSchema(
    {
        "customer_id": _text(unique=True, checks=_not_blank()),
        "name": _text(),
        "email": _text(nullable=True),
        "tier": _text(checks=pa.Check.isin(TIERS)),
        "region": _text(),
        "signup_date": pa.Column(pl.Date, nullable=True),
    },
    name="customers",
    strict=True,
)

CUSTOMERS_QUARANTINE = pa.DataFrameSchema(
    {
        "source_line": pa.Column(pl.Int64),
        "customer_id": _text(nullable=True),
        "reason": _text(checks=_not_blank()),
    },
    name="customers_quarantine",
    strict=True,
)

KB_ARTICLES = pa.DataFrameSchema(
    {
        "article_id": _text(unique=True, checks=_not_blank()),
        "title": _text(checks=_not_blank()),
        "category": _text(checks=pa.Check.isin(CATEGORIES)),
        "body": _text(checks=_not_blank()),
        "content_hash": _text(),
        "source_file": _text(),
    },
    name="kb_articles",
    strict=True,
)

KB_ARTICLES_QUARANTINE = pa.DataFrameSchema(
    {
        "source_file": _text(),
        "article_id": _text(nullable=True),
        "reason": _text(checks=_not_blank()),
    },
    name="kb_articles_quarantine",
    strict=True,
)

TICKET_TRIAGE = pa.DataFrameSchema(
    {
        "ticket_id": _text(unique=True),
        "created_date": pa.Column(pl.Date),
        "category": _text(checks=pa.Check.isin(CATEGORIES)),
        "urgency": _text(checks=pa.Check.isin(URGENCIES)),
        "sentiment": _text(checks=pa.Check.isin(SENTIMENTS)),
        "language": _text(),
        "summary": _text(),
        "order_id": _text(nullable=True),
        "product": _text(nullable=True),
        "confidence": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
        **LINEAGE_COLUMNS,
        "latency_ms": pa.Column(pl.Float64),
        "input_truncated": pa.Column(pl.Boolean),
    },
    name="ticket_triage",
    strict=True,
)

TICKET_TRIAGE_FAILURES = pa.DataFrameSchema(
    {
        "ticket_id": _text(unique=True),
        "created_date": pa.Column(pl.Date),
        "error_type": _text(checks=pa.Check.isin(("provider_error", "invalid_output", "budget_exceeded"))),
        "reason": _text(checks=_not_blank()),
        "raw_output": _text(nullable=True),
        "model": _text(),
        "prompt_version": _text(),
        "input_hash": _text(),
        "input_truncated": pa.Column(pl.Boolean),
    },
    name="ticket_triage_failures",
    strict=True,
)

KB_CHUNKS = pa.DataFrameSchema(
    {
        "chunk_id": _text(unique=True),
        "article_id": _text(),
        "chunk_index": pa.Column(pl.Int32, pa.Check.ge(0)),
        "category": _text(checks=pa.Check.isin(CATEGORIES)),
        "title": _text(),
        "heading": _text(),
        "text": _text(checks=_not_blank()),
        "content_hash": _text(),
    },
    name="kb_chunks",
    strict=True,
)

KB_EMBEDDINGS = pa.DataFrameSchema(
    {
        "chunk_id": _text(unique=True),
        "article_id": _text(),
        "category": _text(checks=pa.Check.isin(CATEGORIES)),
        "content_hash": _text(),
        "embed_model": _text(),
        # A fixed-size FLOAT array whose width is the model's dimension (384 for the embedded e5).
        "embedding": pa.Column(None),
    },
    name="kb_embeddings",
    strict=True,
)

TICKET_CONTEXT = pa.DataFrameSchema(
    {
        "ticket_id": _text(),
        "created_date": pa.Column(pl.Date),
        "customer_id": _text(),
        "customer_tier": _text(nullable=True, checks=pa.Check.isin(TIERS)),  # null: not in the CRM
        "customer_region": _text(nullable=True),
        "chunk_ids": pa.Column(pl.List(pl.Utf8)),
        "article_ids": pa.Column(pl.List(pl.Utf8)),
        "scores": pa.Column(pl.List(pl.Float64)),
        "top_score": pa.Column(pl.Float64, nullable=True),
        "previous_ticket_count": pa.Column(pl.Int64, pa.Check.ge(0)),
        # Up to 5 earlier tickets of the customer, newest first, with their triage outcome.
        "history": pa.Column(None),
        "embed_model": _text(),
    },
    name="ticket_context",
    strict=True,
    unique=["ticket_id", "created_date"],
)

_REPLY_LINEAGE = {
    "model": _text(nullable=True),  # null: no LLM call (the ticket went straight to a human)
    "draft_prompt_version": _text(nullable=True),
    "critique_prompt_version": _text(nullable=True),
    "prompt_tokens": pa.Column(pl.Int64, pa.Check.ge(0)),
    "completion_tokens": pa.Column(pl.Int64, pa.Check.ge(0)),
    "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
    "cache_hit": pa.Column(pl.Boolean),
}

REPLY_DRAFTS = pa.DataFrameSchema(
    {
        "ticket_id": _text(),
        "created_date": pa.Column(pl.Date),
        "reply": _text(nullable=True),  # null when no draft was written
        "cited_chunk_ids": pa.Column(pl.List(pl.Utf8)),
        "rounds": pa.Column(pl.Int32, pa.Check.ge(0)),
        "outcome": _text(checks=pa.Check.isin(("approved", "needs_human"))),
        "reason": _text(nullable=True),  # why a human must look; null when approved
        "prompt_version": _text(),  # the loop's version: its three prompts, the model and the bound
        **_REPLY_LINEAGE,
    },
    name="reply_drafts",
    strict=True,
    unique=["ticket_id", "created_date"],
    checks=[
        pa.Check(
            lambda data: data.lazyframe.select((pl.col("outcome") == "approved") | pl.col("reason").is_not_null()),
            name="needs_human_has_a_reason",
            error="every needs_human row says why",
        )
    ],
)

REPLY_ROUNDS = pa.DataFrameSchema(
    {
        "ticket_id": _text(),
        "created_date": pa.Column(pl.Date),
        "round": pa.Column(pl.Int32, pa.Check.ge(1)),
        "step": _text(checks=pa.Check.isin(("draft", "refine"))),
        "reply": _text(nullable=True),
        "cited_chunk_ids": pa.Column(pl.List(pl.Utf8), nullable=True),
        "grounded": pa.Column(pl.Boolean, nullable=True),
        "policy_ok": pa.Column(pl.Boolean, nullable=True),
        "tone_ok": pa.Column(pl.Boolean, nullable=True),
        "problems": pa.Column(pl.List(pl.Utf8), nullable=True),
        "verdict": _text(checks=pa.Check.isin(("pass", "fail", "error"))),
        "error": _text(nullable=True),
        **_REPLY_LINEAGE,
    },
    name="reply_rounds",
    strict=True,
)

REVIEW_DECISIONS = pa.DataFrameSchema(
    {
        "ticket_id": _text(checks=_not_blank()),
        "decision": _text(checks=pa.Check.isin(DECISIONS)),
        "edited_text": _text(nullable=True),
        "reviewer": _text(checks=_not_blank()),
        "decided_at": pa.Column(pl.Datetime("us")),
        "source_file": _text(),
        "source_line": pa.Column(pl.Int64),
        "is_latest": pa.Column(pl.Boolean),  # the row that decides the ticket
    },
    name="review_decisions",
    strict=True,
    checks=[
        pa.Check(
            lambda data: data.lazyframe.select(
                (pl.col("decision") != "edit")
                | (pl.col("edited_text").str.strip_chars().str.len_chars() > 0).fill_null(False)
            ),
            name="an edit carries its text",
            error="edited_text is required when decision is edit",
        )
    ],
)

REVIEW_DECISIONS_QUARANTINE = pa.DataFrameSchema(
    {
        "source_file": _text(),
        "source_line": pa.Column(pl.Int64),
        "ticket_id": _text(nullable=True),
        "reason": _text(checks=_not_blank()),
    },
    name="review_decisions_quarantine",
    strict=True,
)

_ROUTE_STATUSES = ("auto_approved", "pending_review", "human_approved", "human_edited", "rejected")

REVIEW_QUEUE = pa.DataFrameSchema(
    {
        "ticket_id": _text(),
        "created_date": pa.Column(pl.Date),
        "priority": pa.Column(pl.Int32, pa.Check.isin((1, 2, 3))),
        "reasons": pa.Column(pl.List(pl.Utf8)),
        "category": _text(nullable=True),  # null: triage failed
        "urgency": _text(nullable=True),
        "customer_tier": _text(nullable=True),
        "subject": _text(nullable=True),
        "draft_reply": _text(nullable=True),
        "status": _text(checks=pa.Check.isin(_ROUTE_STATUSES[1:])),
        "decision": _text(nullable=True),
        "edited_text": _text(nullable=True),
        "reviewer": _text(nullable=True),
        "decided_at": pa.Column(pl.Datetime("us"), nullable=True),
    },
    name="review_queue",
    strict=True,
    unique=["ticket_id", "created_date"],
)

TICKET_OUTCOMES = pa.DataFrameSchema(
    {
        "ticket_id": _text(),
        "created_date": pa.Column(pl.Date),
        "customer_id": _text(),
        "category": _text(nullable=True),
        "urgency": _text(nullable=True),
        "summary": _text(nullable=True),
        "reasons": pa.Column(pl.List(pl.Utf8)),
        "route": _text(checks=pa.Check.isin(("auto", "review"))),
        "status": _text(checks=pa.Check.isin(_ROUTE_STATUSES)),
        "final_reply": _text(nullable=True),
        "reviewer": _text(nullable=True),
    },
    name="ticket_outcomes",
    strict=True,
    unique=["ticket_id", "created_date"],
)

OUTBOX = pa.DataFrameSchema(
    {
        "action_id": _text(unique=True),
        "ticket_id": _text(),
        "created_date": pa.Column(pl.Date),
        "action_type": _text(checks=pa.Check.isin(ACTION_TYPES)),
        "payload": _text(),
    },
    name="outbox",
    strict=True,
)

OUTBOX_DELIVERIES = pa.DataFrameSchema(
    {
        "action_id": _text(unique=True),
        "ticket_id": _text(),
        "created_date": pa.Column(pl.Date),
        "action_type": _text(checks=pa.Check.isin(ACTION_TYPES)),
        "status": _text(checks=pa.Check.isin(("delivered", "failed"))),
        "attempts": pa.Column(pl.Int64, pa.Check.ge(0)),
        "last_error": _text(nullable=True),
        "delivered_at": pa.Column(pl.Datetime("us"), nullable=True),
        "sink": _text(),
    },
    name="outbox_deliveries",
    strict=True,
)

TABLE_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    schema.name: schema
    for schema in (
        RAW_TICKETS,
        RAW_TICKETS_QUARANTINE,
        CUSTOMERS,
        CUSTOMERS_QUARANTINE,
        KB_ARTICLES,
        KB_ARTICLES_QUARANTINE,
        TICKET_TRIAGE,
        TICKET_TRIAGE_FAILURES,
        KB_CHUNKS,
        KB_EMBEDDINGS,
        TICKET_CONTEXT,
        REPLY_DRAFTS,
        REPLY_ROUNDS,
        REVIEW_DECISIONS,
        REVIEW_DECISIONS_QUARANTINE,
        REVIEW_QUEUE,
        TICKET_OUTCOMES,
        OUTBOX,
        OUTBOX_DELIVERIES,
    )
}
