"""The contracts of the investigation's tables: one row per ticket investigated, one per tool call."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import TICKET_KEY, TICKET_NOTES, count_column, date_column, one_of, text_column
from ai_assets.quality.vocabulary import INVESTIGATION_MODES, ORDER_STATUSES, TOOL_CALL_STATUSES
from ai_assets.warehouse.contract import Table

TICKET_INVESTIGATIONS = Table(
    "ticket_investigations",
    "One row per ticket: the facts its investigation gathered from internal systems with tools (the order's real "
    "status, ...), rendered for the reply prompts, the systems that were unavailable, and the model's lineage.",
    {
        "ticket_id": text_column(),
        "created_date": date_column(),
        "mode": one_of(INVESTIGATION_MODES),
        "tool_calls": count_column(),
        "order_id": text_column(nullable=True),
        "order_status": one_of(ORDER_STATUSES, nullable=True),
        "facts": text_column(),
        "unavailable": pa.Column(pl.List(pl.Utf8)),
        "note": text_column(nullable=True),
        "model": text_column(nullable=True),
        "prompt_version": text_column(),
        "prompt_tokens": count_column(),
        "completion_tokens": count_column(),
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
        "ticket_id": text_column(),
        "created_date": date_column(),
        "call_no": pa.Column(pl.Int32, pa.Check.ge(1)),
        "step": text_column(),
        "tool": text_column(),
        "arguments": text_column(),
        "status": one_of(TOOL_CALL_STATUSES),
        "result": text_column(nullable=True),
        "error": text_column(nullable=True),
        "latency_ms": pa.Column(pl.Float64, pa.Check.ge(0)),
        "cache_hit": pa.Column(pl.Boolean),
        "model": text_column(nullable=True),
        "prompt_version": text_column(),
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
