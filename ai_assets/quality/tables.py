"""Every warehouse table's contract: what a row is, its key, its partitioning and its column rules.

This is the one place a table's columns are written down. Assets write through these contracts,
asset checks re-validate against them, dbt's sources must agree with them (a test), and
docs/tables.md is generated from them (`python -m ai_assets.quality.tables_doc`).

Tickets are identified by (created_date, ticket_id): a ticket id is unique within its day, and the
same id on another day is another ticket.
"""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl

from ai_assets.quality.vocabulary import (
    ACTION_TYPES,
    ANSWERERS,
    CATEGORIES,
    CHANNELS,
    DECISIONS,
    DELIVERY_STATUSES,
    INVESTIGATION_MODES,
    KB_DECISIONS,
    LABEL_FIELDS,
    LABEL_SOURCES,
    LLM_ERROR_TYPES,
    ORDER_STATUSES,
    PROPOSAL_STATUSES,
    PROXIED_FIELDS,
    PUBLICATION_STATUSES,
    REPLY_OUTCOMES,
    REPLY_STEPS,
    ROUTE_STATUSES,
    ROUTES,
    SENTIMENTS,
    TIERS,
    TOOL_CALL_STATUSES,
    URGENCIES,
    VERDICTS,
)
from ai_assets.warehouse.contract import Table

TICKET_KEY = ("created_date", "ticket_id")


def _not_blank() -> pa.Check:
    return pa.Check(
        lambda data: data.lazyframe.select(pl.col(data.key).str.strip_chars().str.len_chars() > 0),
        name="not_blank",
        error="must not be empty or whitespace",
    )


def _text(**kwargs) -> pa.Column:
    return pa.Column(pl.Utf8, **kwargs)


def _one_of(values: tuple, **kwargs) -> pa.Column:
    return _text(checks=pa.Check.isin(values), **kwargs)


def _count() -> pa.Column:
    return pa.Column(pl.Int64, pa.Check.ge(0))


def _day() -> pa.Column:
    return pa.Column(pl.Date)


def _says_why(column: str, fine: tuple[str, ...], name: str, error: str) -> pa.Check:
    """Every row whose `column` is not one of `fine` has a `reason`."""
    return pa.Check(
        lambda data: data.lazyframe.select(pl.col(column).is_in(fine) | pl.col("reason").is_not_null()),
        name=name,
        error=error,
    )


def _rejected_row(id_column: str) -> dict[str, pa.Column]:
    """A landing row rejected with the reason: its file and line (0: the whole file) and its id if readable."""
    return {
        "source_file": _text(),
        "source_line": pa.Column(pl.Int64),
        id_column: _text(nullable=True),
        "reason": _text(checks=_not_blank()),
    }


LINEAGE_COLUMNS = {
    "model": _text(),
    "prompt_version": _text(),
    "input_hash": _text(),
    "prompt_tokens": _count(),
    "completion_tokens": _count(),
    "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
    "cache_hit": pa.Column(pl.Boolean),
}
LINEAGE_NOTES = {
    "model": "the model that answered",
    "prompt_version": "`<prompt>@<hash>` of the prompt, output schema and sampling parameters",
    "input_hash": "hash of the rendered input: same hash, same question",
    "prompt_tokens": "tokens of the prompt, as the provider counted them",
    "completion_tokens": "tokens of the answer, as the provider counted them",
    "cost_usd": "the call's cost at the model's prices (AI_ASSETS_PRICE_*)",
    "cache_hit": "answered from the response cache: no call, no cost in this run",
}

# The notes of columns several tables share, worded once.
TICKET_NOTES = {
    "ticket_id": "the ticket's id: unique within its created_date",
    "created_date": "the UTC day of the ticket's created_at: with ticket_id, the ticket",
    "customer_id": "who wrote the ticket: the CRM's customer id (customers)",
    "created_at": "UTC",
    "channel": "where the customer wrote from",
    "subject": "the ticket's subject line",
    "body": "the customer's message",
}
# Where a record of a landing file was read.
LANDING_NOTES = {
    "source_file": "the landing file it was read from, relative to landing/",
    "source_line": "its line in the file, from 1 (a CSV record on several lines: its last)",
}
REJECT_NOTES = {
    **LANDING_NOTES,
    "source_line": "the record's line in the file; 0: the file as a whole (not read)",
    "reason": "why it was not loaded",
}
DECISION_NOTES = {
    "reviewer": "who decided",
    "decided_at": "UTC: the record's, else its file's modification time",
}
_TRUNCATED_NOTE = "the ticket was cut to AI_ASSETS_MAX_INPUT_CHARS"
_NULL_WITHOUT_TRIAGE = "the triage's; null: triage failed"


def _rejected_notes(id_column: str) -> dict[str, str]:
    return {**REJECT_NOTES, id_column: f"the record's {id_column}, when it could be read"}


def ticket_candidates_schema(day: date) -> pa.DataFrameSchema:
    """Rules a parsed landing record must pass to become a `raw_tickets` row of `day`."""
    return pa.DataFrameSchema(
        {
            "ticket_id": _text(checks=_not_blank()),
            "customer_id": _text(checks=_not_blank()),
            "created_at": pa.Column(pl.Datetime("us")),
            "created_date": pa.Column(pl.Date, pa.Check.equal_to(day, error=f"created_at must fall on {day}")),
            "channel": _one_of(CHANNELS),
            "subject": _text(checks=_not_blank()),
            "body": _text(checks=_not_blank()),
        },
        name="ticket_candidates",
    )


# --- extract ---------------------------------------------------------------------------------

RAW_TICKETS = Table(
    "raw_tickets",
    "One row per valid support ticket of the day of its created_at, de-duplicated on ticket_id within the day.",
    {
        "ticket_id": _text(),
        "customer_id": _text(),
        "created_at": pa.Column(pl.Datetime("us")),
        "created_date": _day(),
        "channel": _one_of(CHANNELS),
        "subject": _text(),
        "body": _text(checks=_not_blank()),
        "body_chars": pa.Column(pl.Int64, pa.Check.ge(1)),
        "source_file": _text(),
        "source_line": pa.Column(pl.Int64),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    blocking=True,
    notes={
        **TICKET_NOTES,
        **LANDING_NOTES,
        "created_date": "the partition: the UTC day of created_at",
        "body_chars": "characters in body",
    },
)


def day_quarantine(name: str, description: str, id_column: str, notes: dict[str, str]) -> Table:
    """The rejects of a daily landing source: one row per record not loaded, with its reason."""
    return Table(
        name,
        description,
        {"created_date": _day(), **_rejected_row(id_column), "raw_record": _text()},
        key=("created_date", "source_file", "source_line"),
        pii=True,
        partitioned=True,
        preview=("source_file", "source_line", id_column, "reason"),
        notes={
            **_rejected_notes(id_column),
            "raw_record": "the record as read (a CSV row as a JSON object); empty for a whole file",
            **notes,
        },
    )


RAW_TICKETS_QUARANTINE = day_quarantine(
    "raw_tickets_quarantine",
    "One row per landing record rejected from raw_tickets (unreadable, invalid or duplicate), with the reason, "
    "source file and raw record.",
    "ticket_id",
    {
        "created_date": "the partition: the day folder read, landing/tickets/YYYY-MM-DD",
        "source_line": "0: the file as a whole (not read: its extension, a broken link, a CSV header, ...)",
    },
)

CUSTOMERS = Table(
    "customers",
    "One row per CRM customer (tier, region), from landing/crm/customers.csv.",
    {
        "customer_id": _text(checks=_not_blank()),
        "name": _text(),
        "email": _text(nullable=True),
        "tier": _one_of(TIERS),
        "region": _text(),
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

CUSTOMERS_QUARANTINE = Table(
    "customers_quarantine",
    "One row per rejected row of landing/crm/customers.csv, and per other file in landing/crm, with the reason.",
    _rejected_row("customer_id"),
    key=("source_file", "source_line"),
    # Replaced whole, schema included: a warehouse from before source_file gets it on the next write.
    recreated_on_write=True,
    notes=_rejected_notes("customer_id"),
)

ORDERS = Table(
    "orders",
    "One row per order in a day's export of the order system (landing/orders/YYYY-MM-DD/*.jsonl|csv): its state "
    "that day. The order_status tool reads the latest state on or before a ticket's day.",
    {
        "order_id": _text(checks=_not_blank()),
        "customer_id": _text(checks=_not_blank()),
        "created_date": _day(),
        "status": _one_of(ORDER_STATUSES),
        "ordered_at": pa.Column(pl.Datetime("us"), nullable=True),
        "expected_delivery": pa.Column(pl.Date, nullable=True),
        "delivered_at": pa.Column(pl.Datetime("us"), nullable=True),
        "carrier": _text(nullable=True),
        "tracking_number": _text(nullable=True),
        "source_file": _text(),
        "source_line": pa.Column(pl.Int64),
    },
    key=("created_date", "order_id"),
    pii=True,
    partitioned=True,
    preview=("order_id", "customer_id", "status", "expected_delivery"),
    notes={
        **LANDING_NOTES,
        "order_id": "the order system's id of the order",
        "customer_id": "who placed the order: the CRM's customer id (customers)",
        "created_date": "the partition: the day of the export folder",
        "status": "the order's state that day",
        "ordered_at": "UTC; null: not given",
        "expected_delivery": "the day delivery is promised for; null: not given",
        "delivered_at": "UTC; null: not delivered, or not given",
        "carrier": "the shipping carrier; null: not given",
        "tracking_number": "the carrier's tracking number; null: not given",
    },
)

ORDERS_QUARANTINE = day_quarantine(
    "orders_quarantine",
    "One row per order record of a day's export rejected from orders (unreadable, invalid or duplicate), with the "
    "reason, source file and raw record.",
    "order_id",
    {"created_date": "the partition: the day of the export folder"},
)

KB_ARTICLES = Table(
    "kb_articles",
    "One row per knowledge-base article (markdown with front matter), from landing/kb.",
    {
        "article_id": _text(checks=_not_blank()),
        "title": _text(checks=_not_blank()),
        "category": _one_of(CATEGORIES),
        "body": _text(checks=_not_blank()),
        "content_hash": _text(),
        "source_file": _text(),
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
    {"source_file": _text(), "article_id": _text(nullable=True), "reason": _text(checks=_not_blank())},
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
        "chunk_id": _text(),
        "article_id": _text(),
        "chunk_index": pa.Column(pl.Int32, pa.Check.ge(0)),
        "category": _one_of(CATEGORIES),
        "title": _text(),
        "heading": _text(),
        "text": _text(checks=_not_blank()),
        "content_hash": _text(),
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

REVIEW_DECISIONS = Table(
    "review_decisions",
    "One row per reviewer decision (approve, edit or reject a reply), from landing/reviews; is_latest marks "
    "the one that decides its ticket.",
    {
        "ticket_id": _text(checks=_not_blank()),
        "created_date": pa.Column(pl.Date, nullable=True),
        "decision": _one_of(DECISIONS),
        "edited_text": _text(nullable=True),
        # A reviewer may also correct the triage: each becomes a ticket_labels row (source review).
        "category": _one_of(CATEGORIES, nullable=True),
        "urgency": _one_of(URGENCIES, nullable=True),
        "sentiment": _one_of(SENTIMENTS, nullable=True),
        "reviewer": _text(checks=_not_blank()),
        "decided_at": pa.Column(pl.Datetime("us")),
        "source_file": _text(),
        "source_line": pa.Column(pl.Int64),
        "is_latest": pa.Column(pl.Boolean),
    },
    key=("source_file", "source_line"),
    pii=True,
    # Replaced whole, schema included: a warehouse from before the corrections gets them on the next write.
    recreated_on_write=True,
    checks=(
        pa.Check(
            lambda data: data.lazyframe.select(
                (pl.col("decision") != "edit")
                | (pl.col("edited_text").str.strip_chars().str.len_chars() > 0).fill_null(False)
            ),
            name="an edit carries its text",
            error="edited_text is required when decision is edit",
        ),
    ),
    notes={
        **LANDING_NOTES,
        **DECISION_NOTES,
        "ticket_id": "the ticket decided",
        "created_date": "the day of the ticket decided; null: that ticket id, when no other day has it",
        "decision": "what the reviewer did with the drafted reply",
        "edited_text": "the reply to send instead (decision edit); null otherwise",
        "is_latest": "the latest decision of its (ticket_id, created_date): the one that counts",
        **{
            field: "the reviewer's correction of the triage; null: not corrected"
            for field in ("category", "urgency", "sentiment")
        },
        "source_file": "the file of landing/reviews it was read from",
    },
)

REVIEW_DECISIONS_QUARANTINE = Table(
    "review_decisions_quarantine",
    "One row per rejected row of landing/reviews, with the reason.",
    _rejected_row("ticket_id"),
    key=("source_file", "source_line"),
    notes={**_rejected_notes("ticket_id"), "source_file": "the file of landing/reviews it was read from"},
)


KB_REVIEW_DECISIONS = Table(
    "kb_review_decisions",
    "One row per reviewer decision on a knowledge-base article proposal (approve or reject), from "
    "landing/kb_reviews; is_latest marks the one that decides its proposal.",
    {
        "proposal_id": _text(checks=_not_blank()),
        "decision": _one_of(KB_DECISIONS),
        "reviewer": _text(checks=_not_blank()),
        "decided_at": pa.Column(pl.Datetime("us")),
        "source_file": _text(),
        "source_line": pa.Column(pl.Int64),
        "is_latest": pa.Column(pl.Boolean),
    },
    key=("source_file", "source_line"),
    notes={
        **LANDING_NOTES,
        **DECISION_NOTES,
        "proposal_id": "the proposal decided (kb_article_proposals)",
        "decision": "approve publishes the article; reject withdraws it",
        "is_latest": "the latest decision of its proposal: the one that counts (none while the latest are "
        "in conflict, see kb_review_decisions_quarantine)",
        "source_file": "the file of landing/kb_reviews it was read from",
    },
)

KB_REVIEW_DECISIONS_QUARANTINE = Table(
    "kb_review_decisions_quarantine",
    "One row per rejected row of landing/kb_reviews, and per other file in it, with the reason.",
    _rejected_row("proposal_id"),
    key=("source_file", "source_line"),
    notes={**_rejected_notes("proposal_id"), "source_file": "the file of landing/kb_reviews it was read from"},
)


def _label(values: tuple, **kwargs) -> pa.Column:
    return _one_of(values, nullable=True, **kwargs)


TICKET_LABELS = Table(
    "ticket_labels",
    "One row per labelled ticket: the ticket and the triage a correct model gives it, from landing/labels "
    "(source file) or a reviewer's correction (source review, which wins over the file's label of that ticket).",
    {
        "ticket_id": _text(checks=_not_blank()),
        "created_date": _day(),
        "customer_id": _text(checks=_not_blank()),
        "created_at": pa.Column(pl.Datetime("us")),
        "channel": _one_of(CHANNELS),
        "subject": _text(checks=_not_blank()),
        "body": _text(checks=_not_blank()),
        "category": _label(CATEGORIES),
        "urgency": _label(URGENCIES),
        "sentiment": _label(SENTIMENTS),
        "language": _text(nullable=True, checks=pa.Check.str_matches(r"^[a-z]{2,3}$")),
        "kb_article_id": _text(nullable=True),
        "source": _one_of(LABEL_SOURCES),
        "source_file": _text(),
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

TICKET_LABELS_QUARANTINE = Table(
    "ticket_labels_quarantine",
    "One row per rejected labelled ticket (unreadable, a missing field, a label outside the vocabulary, a duplicate "
    "ticket) and per reviewer correction of a ticket not in raw_tickets, with the reason.",
    _rejected_row("ticket_id"),
    key=("source_file", "source_line"),
    preview=("source_file", "source_line", "ticket_id", "reason"),
    notes={**_rejected_notes("ticket_id"), "source_file": "`labels/<file>` or `reviews/<file>`"},
)

# --- transform -------------------------------------------------------------------------------

TICKET_TRIAGE = Table(
    "ticket_triage",
    "One row per ticket the LLM triaged: category, urgency, sentiment, language, summary, order id and product "
    "when mentioned, confidence, plus lineage (model, prompt_version, input_hash, tokens, cost_usd, cache_hit).",
    {
        "ticket_id": _text(),
        "created_date": _day(),
        "category": _one_of(CATEGORIES),
        "urgency": _one_of(URGENCIES),
        "sentiment": _one_of(SENTIMENTS),
        "language": _text(),
        "summary": _text(),
        "order_id": _text(nullable=True),
        "product": _text(nullable=True),
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
        "input_truncated": _TRUNCATED_NOTE,
        "proxy_fields": "the fields the cascade's proxy answered (empty: the LLM answered every field)",
        "confidence": "the LLM's confidence in its category",
    },
)

TICKET_TRIAGE_FAILURES = Table(
    "ticket_triage_failures",
    "One row per ticket whose triage failed after retries (provider_error, invalid_output or budget_exceeded), "
    "with the reason and the raw answer.",
    {
        "ticket_id": _text(),
        "created_date": _day(),
        "error_type": _one_of(LLM_ERROR_TYPES),
        "reason": _text(checks=_not_blank()),
        "raw_output": _text(nullable=True),
        "model": _text(),
        "prompt_version": _text(),
        "input_hash": _text(),
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
        "input_truncated": _TRUNCATED_NOTE,
    },
)

KB_EMBEDDINGS = Table(
    "kb_embeddings",
    "One row per knowledge-base chunk with its embedding (a fixed-size FLOAT array); a chunk whose text did not "
    "change is never embedded again.",
    {
        "chunk_id": _text(),
        "article_id": _text(),
        "category": _one_of(CATEGORIES),
        "content_hash": _text(),
        "embed_model": _text(),
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

# One earlier ticket of the customer, as carried in ticket_context.history.
HISTORY_FIELDS = {
    "ticket_id": pl.Utf8,
    "created_at": pl.Datetime("us"),
    "subject": pl.Utf8,
    "category": pl.Utf8,
    "urgency": pl.Utf8,
    "summary": pl.Utf8,
}

TICKET_CONTEXT = Table(
    "ticket_context",
    "One row per ticket: its top-k knowledge-base chunks by cosine similarity (ids, articles, scores, best first) "
    "and the customer's memory: CRM tier and region, and earlier tickets with their triage outcome.",
    {
        "ticket_id": _text(),
        "created_date": _day(),
        "customer_id": _text(),
        "customer_tier": _one_of(TIERS, nullable=True),
        "customer_region": _text(nullable=True),
        "chunk_ids": pa.Column(pl.List(pl.Utf8)),
        "article_ids": pa.Column(pl.List(pl.Utf8)),
        "scores": pa.Column(pl.List(pl.Float64)),
        "top_score": pa.Column(pl.Float64, nullable=True),
        "previous_ticket_count": _count(),
        "history": pa.Column(pl.List(pl.Struct(HISTORY_FIELDS))),
        "embed_model": _text(),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    llm=True,
    preview=("ticket_id", "customer_tier", "article_ids", "top_score", "previous_ticket_count"),
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
        "category, urgency, summary",
        "embed_model": "the embedding model of the ticket's and the chunks' vectors",
    },
)

TICKET_INVESTIGATIONS = Table(
    "ticket_investigations",
    "One row per ticket: the facts its investigation gathered from internal systems with tools (the order's real "
    "status, ...), rendered for the reply prompts, the systems that were unavailable, and the model's lineage.",
    {
        "ticket_id": _text(),
        "created_date": _day(),
        "mode": _one_of(INVESTIGATION_MODES),
        "tool_calls": _count(),
        "order_id": _text(nullable=True),
        "order_status": _one_of(ORDER_STATUSES, nullable=True),
        "facts": _text(),
        "unavailable": pa.Column(pl.List(pl.Utf8)),
        "note": _text(nullable=True),
        "model": _text(nullable=True),
        "prompt_version": _text(),
        "prompt_tokens": _count(),
        "completion_tokens": _count(),
        "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
        "cache_hit": pa.Column(pl.Boolean),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    llm=True,
    preview=("ticket_id", "mode", "tool_calls", "order_id", "order_status", "unavailable"),
    notes={
        **TICKET_NOTES,
        "mode": "native: the model chose the calls (chat tool calling); plan: the calls the triage implies",
        "tool_calls": "calls made or refused (its rows in tool_calls)",
        "order_status": "the order's status as the order system gave it; null: no order found",
        "prompt_version": "`ticket_investigation@<hash>` of the prompt, the tools offered, the call budget and "
        "the sampling parameters",
        "prompt_tokens": "tokens of the model's prompts over all its turns (0: plan mode)",
        "completion_tokens": "tokens of the model's answers over all its turns (0: plan mode)",
        "cost_usd": "the model's turns' cost at its prices (AI_ASSETS_PRICE_*)",
        "order_id": "the ticket's order, as the order system knows it (null: none found)",
        "facts": "what the reply prompts are given, from tool results only (never from the model's words)",
        "unavailable": "systems that failed to answer: the facts say so, the reply must not guess",
        "note": "the model's closing note (native mode)",
        "model": "null: no model call (plan mode)",
        "cache_hit": "every model turn and tool call came from the caches",
    },
)

TOOL_CALLS = Table(
    "tool_calls",
    "One row per tool call an investigation made or was refused: ticket, tool, arguments, result or error, "
    "latency, and the model and prompt version that asked for it.",
    {
        "ticket_id": _text(),
        "created_date": _day(),
        "call_no": pa.Column(pl.Int32, pa.Check.ge(1)),
        "step": _text(),
        "tool": _text(),
        "arguments": _text(),
        "status": _one_of(TOOL_CALL_STATUSES),
        "result": _text(nullable=True),
        "error": _text(nullable=True),
        "latency_ms": pa.Column(pl.Float64, pa.Check.ge(0)),
        "cache_hit": pa.Column(pl.Boolean),
        "model": _text(nullable=True),
        "prompt_version": _text(),
    },
    key=("created_date", "ticket_id", "call_no"),
    pii=True,
    partitioned=True,
    preview=("ticket_id", "call_no", "tool", "arguments", "status"),
    notes={
        **TICKET_NOTES,
        "call_no": "its place among the ticket's calls, from 1",
        "step": "the step that made it (investigation)",
        "tool": "as the model named it: a name outside the allow-list is refused",
        "arguments": "JSON, as the model gave them",
        "result": "JSON: what the tool returned (ok, not_found)",
        "status": "refused: outside the ticket's scope or the allow-list, never sent; over_budget: past "
        "AI_ASSETS_INVESTIGATION_MAX_TOOL_CALLS",
        "error": "why it failed, was refused or was not run; null: answered (ok, not_found)",
        "latency_ms": "0 for a cached or refused call",
        "cache_hit": "the result came from the tool cache",
        "model": "null: the call came from the plan (no model)",
        "prompt_version": "the investigation's (ticket_investigations.prompt_version)",
    },
)

_REPLY_LINEAGE = {
    "model": _text(nullable=True),  # null: no LLM call (the ticket went straight to a human)
    "draft_prompt_version": _text(nullable=True),
    "critique_prompt_version": _text(nullable=True),
    "prompt_tokens": _count(),
    "completion_tokens": _count(),
    "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
    "cache_hit": pa.Column(pl.Boolean),
}
_REPLY_LINEAGE_NOTES = {
    "model": "null: no LLM call (the ticket went straight to a human)",
    "draft_prompt_version": "`<prompt>@<hash>` of the prompt that wrote the draft; null: none written",
    "critique_prompt_version": "`<prompt>@<hash>` of the critique prompt; null: no critique made",
    "prompt_tokens": "tokens of the draft and critique prompts, as the provider counted them",
    "completion_tokens": "tokens of their answers, as the provider counted them",
    "cost_usd": "the draft and critique calls' cost at the model's prices (AI_ASSETS_PRICE_*)",
    "cache_hit": "every answer came from the response cache, or no call was made",
}

REPLY_DRAFTS = Table(
    "reply_drafts",
    "One row per ticket: the reply the loop settled on, its cited chunks, the rounds it took, and the outcome: "
    "approved (critic and rule checks passed) or needs_human with the reason.",
    {
        "ticket_id": _text(),
        "created_date": _day(),
        "reply": _text(nullable=True),
        "cited_chunk_ids": pa.Column(pl.List(pl.Utf8)),
        "rounds": pa.Column(pl.Int32, pa.Check.ge(0)),
        "outcome": _one_of(REPLY_OUTCOMES),
        "reason": _text(nullable=True),
        "prompt_version": _text(),
        **_REPLY_LINEAGE,
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    blocking=True,
    llm=True,
    checks=(_says_why("outcome", ("approved",), "needs_human_has_a_reason", "every needs_human row says why"),),
    preview=("ticket_id", "outcome", "rounds", "reason", "reply"),
    notes={
        **TICKET_NOTES,
        **_REPLY_LINEAGE_NOTES,
        "reply": "null when no draft was written",
        "cited_chunk_ids": "the knowledge-base chunks the reply cites",
        "rounds": "rounds of the loop it took; 0: none (the triage failed)",
        "outcome": "approved: it may be sent unread; needs_human: see reason",
        "reason": "why a human must look; null when approved",
        "prompt_version": "`reply_loop@<hash>` of the three prompts, the model and the bound",
        "draft_prompt_version": "`<prompt>@<hash>` of the draft prompt; null: no draft written",
        "prompt_tokens": "tokens of the prompts over all its rounds, as the provider counted them",
        "completion_tokens": "tokens of the answers over all its rounds, as the provider counted them",
        "cost_usd": "the cost of all its rounds' calls at the model's prices (AI_ASSETS_PRICE_*)",
    },
)

REPLY_ROUNDS = Table(
    "reply_rounds",
    "One row per ticket and round of the reply loop, for audit: the draft, the critique (grounded, policy, tone, "
    "problems), the verdict, tokens and cost.",
    {
        "ticket_id": _text(),
        "created_date": _day(),
        "round": pa.Column(pl.Int32, pa.Check.ge(1)),
        "step": _one_of(REPLY_STEPS),
        "reply": _text(nullable=True),
        "cited_chunk_ids": pa.Column(pl.List(pl.Utf8), nullable=True),
        "grounded": pa.Column(pl.Boolean, nullable=True),
        "policy_ok": pa.Column(pl.Boolean, nullable=True),
        "tone_ok": pa.Column(pl.Boolean, nullable=True),
        "problems": pa.Column(pl.List(pl.Utf8), nullable=True),
        "verdict": _one_of(VERDICTS),
        "error": _text(nullable=True),
        **_REPLY_LINEAGE,
    },
    key=(*TICKET_KEY, "round"),
    pii=True,
    partitioned=True,
    llm=True,
    notes={
        **TICKET_NOTES,
        **_REPLY_LINEAGE_NOTES,
        "round": "1: the first draft; then one per refinement",
        "step": "draft in round 1, refine after",
        "reply": "the round's draft; null: the step failed",
        "cited_chunk_ids": "the chunks the draft cites; null: the step failed",
        "grounded": "the critic's word: every claim is supported by the cited excerpts; null: no critique",
        "policy_ok": "the critic's word: it promises nothing the excerpts do not allow; null: no critique",
        "tone_ok": "the critic's word: polite, calm and on the customer's question; null: no critique",
        "problems": "what the critic, the reply rules (REPLY_RULES) and the grounding check found; null: no critique",
        "verdict": "pass: every check passed; fail: refined next round, or sent to a human; error: a step failed",
        "error": "why the step failed (verdict error)",
        "model": "the model asked",
    },
)

KB_ARTICLE_PROPOSALS = Table(
    "kb_article_proposals",
    "One row per knowledge-base article proposal: for a category kb_gaps flags, an article the LLM drafted from "
    "the replies reviewers approved or edited for its poorly covered tickets, citing them, with the rule checks' "
    "verdict, the latest reviewer decision and whether it is published in landing/kb; or, with no such reply, "
    "the category and why nothing was drafted.",
    {
        "proposal_id": _text(),
        "category": _text(),
        "article_id": _text(nullable=True),
        "title": _text(nullable=True),
        "body": _text(nullable=True),
        "cited_ticket_ids": pa.Column(pl.List(pl.Utf8)),
        "status": _one_of(PROPOSAL_STATUSES),
        "reason": _text(nullable=True),
        "problems": pa.Column(pl.List(pl.Utf8)),
        "draft_file": _text(nullable=True),
        "content_hash": _text(nullable=True),
        "reviewer": _text(nullable=True),
        "decided_at": pa.Column(pl.Datetime("us"), nullable=True),
        "model": _text(nullable=True),
        "prompt_version": _text(),
        "input_hash": _text(nullable=True),
        "prompt_tokens": _count(),
        "completion_tokens": _count(),
        "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
        "cache_hit": pa.Column(pl.Boolean),
    },
    key=("proposal_id",),
    pii=True,
    llm=True,
    checks=(
        _says_why(
            "status",
            ("proposed", "approved", "published"),
            "a_proposal_not_publishable_says_why",
            "every needs_material, failed, blocked, rejected or superseded row has a reason",
        ),
    ),
    preview=("category", "status", "title", "cited_ticket_ids", "reason"),
    notes={
        "proposal_id": "hash of category, cited tickets and prompt_version: the same material, the same id",
        "category": "a category kb_gaps flags (is_gap)",
        "article_id": "the id it is published as, `kb-<category>-<title words>`; null: nothing drafted",
        "title": "the drafted article's title; null: nothing drafted",
        "body": "the drafted article's markdown, personal data redacted; null: nothing drafted",
        "status": "where it stands: only an approved one is published",
        "cited_ticket_ids": "`<created_date>/<ticket_id>` of the tickets whose approved or edited reply it is "
        "written from (poorly covered: top_score below kb_gap_score_threshold)",
        "reason": "why it is not (or not yet) publishable; null when proposed, approved or published",
        "problems": "the reply rules (REPLY_RULES) the article breaks: any makes it blocked",
        "draft_file": "`kb_proposals/<proposal_id>.md` under the data directory: the article file to publish",
        "content_hash": "of the draft file: publishing copies exactly the checked text",
        "reviewer": "of the latest decision in landing/kb_reviews; null: undecided",
        "decided_at": "of the latest decision; null: undecided",
        "model": "null: no LLM call (nothing to draft from)",
        **LINEAGE_NOTES,
    },
)

KB_PUBLICATIONS = Table(
    "kb_publications",
    "One row per approved knowledge-base article proposal: the landing/kb file it was published as, or why it "
    "was refused (its article id is taken by another article, or its draft file changed after it was checked).",
    {
        "proposal_id": _text(),
        "article_id": _text(),
        "category": _text(),
        "status": _one_of(PUBLICATION_STATUSES),
        "reason": _text(nullable=True),
        "source_file": _text(),
        "published_now": pa.Column(pl.Boolean),
        "reviewer": _text(nullable=True),
        "decided_at": pa.Column(pl.Datetime("us"), nullable=True),
    },
    key=("proposal_id",),
    preview=("proposal_id", "article_id", "status", "published_now", "reason"),
    notes={
        "proposal_id": "the approved proposal (kb_article_proposals)",
        "article_id": "the id it is published as",
        "category": "the proposal's category",
        "status": "published (now or before), or refused (see reason)",
        "reviewer": "of the latest decision on the proposal",
        "decided_at": "of the latest decision on the proposal",
        "source_file": "`kb/<article_id>.md` under landing/: where it is, or would be, published",
        "published_now": "written by this materialisation (false: published before, nothing written)",
        "reason": "why it was refused; null when published",
    },
)

# --- quality ---------------------------------------------------------------------------------


def _scored(field: str) -> dict[str, pa.Column]:
    return {
        f"expected_{field}": _text(nullable=True),
        f"predicted_{field}": _text(nullable=True),
        f"{field}_correct": pa.Column(pl.Boolean, nullable=True),
    }


def _scored_notes(field: str) -> dict[str, str]:
    return {
        f"expected_{field}": f"the label's {field}; null: not labelled",
        f"predicted_{field}": f"the triage's {field}; null: the triage failed",
        f"{field}_correct": f"null: the label gives no {field}; false when the triage failed",
    }


EVAL_PREDICTIONS = Table(
    "eval_predictions",
    "One row per labelled ticket and evaluation: the expected and predicted triage per field and whether they "
    "agree, who answered, and lineage (model, prompt_version, tokens, cost_usd, latency_ms); a failed ticket is "
    "wrong on every field, with the error.",
    {
        "eval_id": _text(),
        "ticket_id": _text(),
        "created_date": _day(),
        "source": _one_of(LABEL_SOURCES),
        **{name: column for field in LABEL_FIELDS for name, column in _scored(field).items()},
        "answered_by": _one_of(ANSWERERS, nullable=True),
        "proxy_fields": pa.Column(pl.List(pl.Utf8)),
        "model": _text(),
        "prompt_version": _text(),
        "prompt_tokens": _count(),
        "completion_tokens": _count(),
        "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
        "latency_ms": pa.Column(pl.Float64),
        "cache_hit": pa.Column(pl.Boolean),
        "error": _text(nullable=True),
    },
    key=("eval_id", *TICKET_KEY),
    llm=True,
    preview=("ticket_id", "expected_category", "predicted_category", "category_correct", "error"),
    notes={
        **TICKET_NOTES,
        **LINEAGE_NOTES,
        "eval_id": "the evaluation (see eval_runs)",
        "source": "where the label comes from: a landing/labels file or a reviewer's correction",
        **{name: note for field in LABEL_FIELDS for name, note in _scored_notes(field).items()},
        "model": "the model that answered, or failed to",
        "error": "`<error_type>: <reason>` when the triage failed; null: answered",
        "answered_by": "llm, proxy (every proxied field) or both; null: the triage failed (error says why)",
        "proxy_fields": "the fields the cascade's proxy answered",
        "cost_usd": "of the answer, cached or not",
        "latency_ms": "0 when answered from the cache",
    },
)

EVAL_RUNS = Table(
    "eval_runs",
    "One row per evaluation (model, prompt version, cascade settings and label set): accuracy and macro-F1 per "
    "field, coverage, cost per 1,000 tickets and latency; appended, never replaced, so quality has a history.",
    {
        "eval_id": _text(),
        "task": _text(),
        "model": _text(),
        "prompt_version": _text(),
        "cascade": _text(),
        "labels_hash": _text(),
        "n": _count(),
        **{
            name: pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True)
            for field in LABEL_FIELDS
            for name in (f"accuracy_{field}", f"macro_f1_{field}")
        },
        **{
            f"{who}_accuracy_{field}": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True)
            for who in ("llm", "proxy")
            for field in PROXIED_FIELDS
        },
        # Imported labels (landing/labels) can be poisoned with the proxy that learns from them;
        # reviewer-confirmed ones are scored apart (issue 23).
        "n_reviewed": pa.Column(pl.Int64, pa.Check.ge(0), nullable=True),
        **{
            f"accuracy_{field}_{source}": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True)
            for source in ("reviewed", "imported")
            for field in LABEL_FIELDS
        },
        "coverage": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
        "proxy_share": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
        "cost_per_1k_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
        "latency_p50_ms": pa.Column(pl.Float64, nullable=True),
        "latency_p95_ms": pa.Column(pl.Float64, nullable=True),
        "evaluated_at": pa.Column(pl.Datetime("us")),
    },
    key=("eval_id",),
    preview=("evaluated_at", "model", "prompt_version", "n", "accuracy_category", "accuracy_urgency", "coverage"),
    notes={
        "eval_id": "hash of task, model, prompt_version, cascade and labels_hash: the same evaluation, the same id",
        "cascade": "the cascade settings (`none`: every ticket goes to the LLM)",
        "labels_hash": "hash of the labelled tickets evaluated",
        "task": "the task evaluated (ticket_triage)",
        "model": "the triage's model",
        "prompt_version": LINEAGE_NOTES["prompt_version"],
        "n": "labelled tickets evaluated",
        **{
            f"accuracy_{field}": f"share of tickets labelled with a {field} whose triage agrees (failed: wrong); "
            "null: none labelled"
            for field in LABEL_FIELDS
        },
        **{
            f"macro_f1_{field}": "unweighted mean of per-class F1 over the classes expected or predicted"
            for field in LABEL_FIELDS
        },
        **{
            f"accuracy_{field}_{source}": f"accuracy_{field} over the {labels} only; null: none"
            for source, labels in (
                ("reviewed", "reviewer-confirmed labels"),
                ("imported", "labels from landing/labels"),
            )
            for field in LABEL_FIELDS
        },
        "coverage": "share of tickets answered (not failed)",
        **{
            f"llm_accuracy_{field}": "the LLM's own answers' accuracy, before the cascade; null: no cascade field "
            "labelled"
            for field in PROXIED_FIELDS
        },
        **{
            f"proxy_accuracy_{field}": "the proxy's top answer's accuracy on every labelled ticket, each held out; "
            "null: cascade off"
            for field in PROXIED_FIELDS
        },
        "proxy_share": "share of the (ticket, category/urgency/sentiment) answers the cascade's proxy gave",
        "n_reviewed": "labels from a reviewer's correction (source review); null: recorded before this column",
        "cost_per_1k_usd": "cost of the answers (cached or not) per 1,000 tickets",
        **dict.fromkeys(
            ("latency_p50_ms", "latency_p95_ms"),
            "of the calls made in the run that recorded the evaluation; null: all from the cache",
        ),
        "evaluated_at": "UTC",
    },
)


def _share(**kwargs) -> pa.Column:
    return pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True, **kwargs)


REPLY_EVAL_RUNS = Table(
    "reply_eval_runs",
    "One row per evaluation of retrieval and replies: hit@k and MRR of the retrieval on the labelled tickets' "
    "expected knowledge-base article, the share of drafts citing only chunks retrieved for their ticket, and how "
    "often reviewers rejected or edited a reply the loop had approved; appended, never replaced.",
    {
        "eval_id": _text(),
        "embed_model": _text(),
        "top_k": _count(),
        "labels_hash": _text(),
        "retrieval_n": _count(),
        "hit_at_k": _share(),
        "mrr": _share(),
        "drafts": _count(),
        "only_retrieved_share": _share(),
        "approved_seen_by_human": _count(),
        "approved_overruled": _count(),
        "overruled_share": _share(),
        "evaluated_at": pa.Column(pl.Datetime("us")),
    },
    key=("eval_id",),
    preview=("evaluated_at", "embed_model", "hit_at_k", "mrr", "only_retrieved_share", "overruled_share"),
    notes={
        "eval_id": "hash of every other column but evaluated_at: the same state is recorded once",
        "embed_model": "the embedding model retrieval used (AI_ASSETS_EMBED_MODEL)",
        "top_k": "chunks retrieved per ticket (AI_ASSETS_RETRIEVAL_TOP_K)",
        "labels_hash": "hash of the labelled tickets (as in eval_runs)",
        "retrieval_n": "labelled tickets with an expected kb_article_id",
        "hit_at_k": "share of them with a chunk of that article among the top_k retrieved; null: none labelled",
        "mrr": "mean of 1 / the rank of the first chunk of that article (0 when not retrieved)",
        "drafts": "drafted replies, every day",
        "only_retrieved_share": "share of drafts citing at least one chunk and only chunks retrieved for their ticket",
        "approved_seen_by_human": "replies the loop approved that a reviewer also decided on",
        "approved_overruled": "of them, rejected or edited by the reviewer",
        "overruled_share": "approved_overruled / approved_seen_by_human; null: no reviewer saw an approved reply",
        "evaluated_at": "UTC",
    },
)

# --- load ------------------------------------------------------------------------------------

REVIEW_QUEUE = Table(
    "review_queue",
    "One row per ticket a human must review (critical urgency, an unhappy enterprise customer, low triage "
    "confidence, or a reply the loop could not approve): the reasons, a priority (1 highest), the draft, and the "
    "reviewer's decision once made.",
    {
        "ticket_id": _text(),
        "created_date": _day(),
        "priority": pa.Column(pl.Int32, pa.Check.isin((1, 2, 3))),
        "reasons": pa.Column(pl.List(pl.Utf8)),
        "category": _text(nullable=True),
        "urgency": _text(nullable=True),
        "customer_tier": _text(nullable=True),
        "subject": _text(nullable=True),
        "draft_reply": _text(nullable=True),
        "status": _one_of(ROUTE_STATUSES[1:]),
        "decision": _text(nullable=True),
        "edited_text": _text(nullable=True),
        "reviewer": _text(nullable=True),
        "decided_at": pa.Column(pl.Datetime("us"), nullable=True),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    preview=("priority", "ticket_id", "reasons", "status"),
    notes={
        **TICKET_NOTES,
        "priority": "1 critical, 2 unhappy enterprise customer, 3 other",
        "reasons": "why a human must look: critical urgency, an unhappy enterprise customer, triage confidence "
        "below AI_ASSETS_REVIEW_MIN_CONFIDENCE, or why the reply loop could not approve",
        "category": "null: triage failed",
        "urgency": _NULL_WITHOUT_TRIAGE,
        "customer_tier": "the customer's CRM tier; null: not in the CRM",
        "draft_reply": "the reply loop's last draft; null: none written",
        "status": "pending_review until a reviewer decides",
        "decision": "the reviewer's latest decision (landing/reviews); null: none yet",
        "edited_text": "the reply to send instead (decision edit)",
        "reviewer": "who decided; null: undecided",
        "decided_at": "UTC; null: undecided",
    },
)

TICKET_OUTCOMES = Table(
    "ticket_outcomes",
    "One row per ticket: route (auto or review), status (auto_approved, pending_review, human_approved, "
    "human_edited, rejected) and the reply to send, if any.",
    {
        "ticket_id": _text(),
        "created_date": _day(),
        "customer_id": _text(),
        "category": _text(nullable=True),
        "urgency": _text(nullable=True),
        "summary": _text(nullable=True),
        "reasons": pa.Column(pl.List(pl.Utf8)),
        "route": _one_of(ROUTES),
        "status": _one_of(ROUTE_STATUSES),
        "final_reply": _text(nullable=True),
        "reviewer": _text(nullable=True),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    blocking=True,
    notes={
        **TICKET_NOTES,
        "category": _NULL_WITHOUT_TRIAGE,
        "urgency": _NULL_WITHOUT_TRIAGE,
        "summary": _NULL_WITHOUT_TRIAGE,
        "reasons": "why it needs a human (see review_queue); empty: auto-approved",
        "route": "auto: the loop's reply goes out unread; review: a human decides",
        "status": "where it stands; auto_approved, human_approved and human_edited are sent",
        "final_reply": "the reply to send: the approved draft or the reviewer's edit; null: none (yet)",
        "reviewer": "who decided, in the latest review decision; null: none",
    },
)

OUTBOX = Table(
    "outbox",
    "One row per action to trigger (allow-list: send_reply for approved replies, escalate for critical tickets), "
    "with its idempotency key (action_id) and JSON payload.",
    {
        "action_id": _text(unique=True),
        "ticket_id": _text(),
        "created_date": _day(),
        "action_type": _one_of(ACTION_TYPES),
        "payload": _text(),
    },
    key=("action_id",),
    pii=True,
    partitioned=True,
    blocking=True,
    notes={
        **TICKET_NOTES,
        "action_id": "idempotency key: a hash of action type, ticket id and day",
        "action_type": "send_reply: an approved reply; escalate: a critical ticket",
        "payload": "JSON: customer_id and ticket_id, with the reply (send_reply) or the summary and reasons (escalate)",
    },
)

OUTBOX_DELIVERIES = Table(
    "outbox_deliveries",
    "One row per action with its delivery state: delivered (exactly once), or failed with the error and attempts "
    "so far (the next materialisation retries it).",
    {
        "action_id": _text(unique=True),
        "ticket_id": _text(),
        "created_date": _day(),
        "action_type": _one_of(ACTION_TYPES),
        "status": _one_of(DELIVERY_STATUSES),
        "attempts": _count(),
        "last_error": _text(nullable=True),
        "delivered_at": pa.Column(pl.Datetime("us"), nullable=True),
        "sink": _text(),
    },
    key=("action_id",),
    partitioned=True,
    notes={
        **TICKET_NOTES,
        "action_id": "the action (outbox.action_id)",
        "action_type": "as in outbox",
        "status": "delivered exactly once, or failed (the next materialisation retries it)",
        "attempts": "delivery attempts so far",
        "last_error": "why it is not delivered yet; null: delivered",
        "delivered_at": "UTC; null: not delivered",
        "sink": "where it is delivered: jsonl, webhook, smtp or ticketing",
    },
)

TABLES: tuple[Table, ...] = (
    RAW_TICKETS,
    RAW_TICKETS_QUARANTINE,
    CUSTOMERS,
    CUSTOMERS_QUARANTINE,
    ORDERS,
    ORDERS_QUARANTINE,
    KB_ARTICLES,
    KB_ARTICLES_QUARANTINE,
    KB_CHUNKS,
    REVIEW_DECISIONS,
    REVIEW_DECISIONS_QUARANTINE,
    KB_REVIEW_DECISIONS,
    KB_REVIEW_DECISIONS_QUARANTINE,
    TICKET_LABELS,
    TICKET_LABELS_QUARANTINE,
    TICKET_TRIAGE,
    TICKET_TRIAGE_FAILURES,
    EVAL_PREDICTIONS,
    EVAL_RUNS,
    REPLY_EVAL_RUNS,
    KB_EMBEDDINGS,
    TICKET_CONTEXT,
    TICKET_INVESTIGATIONS,
    TOOL_CALLS,
    REPLY_DRAFTS,
    REPLY_ROUNDS,
    KB_ARTICLE_PROPOSALS,
    KB_PUBLICATIONS,
    REVIEW_QUEUE,
    TICKET_OUTCOMES,
    OUTBOX,
    OUTBOX_DELIVERIES,
)
TABLES_BY_NAME = {table.name: table for table in TABLES}
