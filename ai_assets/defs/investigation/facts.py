"""Ticket investigations as data: who is investigated with what plan, and what the calls found.

The facts the reply prompts get are rendered here from the tool results alone, never from the
model's words: a model can choose which calls to make, but not what the order system said.
"""

from __future__ import annotations

import json

import polars as pl

from ai_assets.defs.investigation.tables import TICKET_INVESTIGATIONS, TOOL_CALLS
from ai_assets.llm.redaction import redact_expr
from ai_assets.llm.task import PromptTemplate
from ai_assets.quality.vocabulary import ORDER_STATUS_PHRASES
from ai_assets.tools.agent import Investigation, Subject
from ai_assets.tools.registry import ERROR, NOT_FOUND, OK, TicketScope, ToolCall

# What the investigation prompt reads of a ticket (reply_inputs-like: raw ticket, triage, customer).
INPUT_COLUMNS = ("customer_id", "category", "urgency", "order_id", "subject", "body")
SYSTEMS = {
    "order_status": "order system",
    "search_knowledge_base": "knowledge base",
    "customer_history": "ticket history",
}
NO_FACTS = "(none: nothing to look up for this ticket)"


def subjects(tickets: pl.DataFrame, prompt: PromptTemplate, max_input_chars: int, redact: bool) -> list[Subject]:
    """One subject per ticket (`row_key`, `ticket_id`, `created_date` and INPUT_COLUMNS); the plan
    is the calls the triage implies: the order it names -> order_status."""
    text = [pl.col(c).fill_null("unknown" if c != "order_id" else "none") for c in INPUT_COLUMNS]
    rendered = tickets.with_columns(text).with_columns(
        pl.col("subject", "body").str.slice(0, max_input_chars),
    )
    if redact:
        rendered = rendered.with_columns(redact_expr(pl.col(c)) for c in ("subject", "body"))
    users = rendered.select(user=prompt.user_expr())["user"]
    return [
        Subject(
            row["row_key"],
            TicketScope(row["ticket_id"], row["customer_id"], row["created_date"]),
            user,
            (("order_status", json.dumps({"order_id": row["order_id"]})),) if row["order_id"] else (),
        )
        for row, user in zip(tickets.iter_rows(named=True), users)
    ]


def _order_fact(call: ToolCall) -> str:
    order = json.loads(call.result or "{}")
    if call.status == NOT_FOUND:
        return f"Order {order.get('order_id')}: not found on this customer's account."
    said = ORDER_STATUS_PHRASES.get(order["status"], order["status"])
    details = [
        f"ordered {order['ordered_at']}" if order.get("ordered_at") else None,
        f"expected delivery {order['expected_delivery']}" if order.get("expected_delivery") else None,
        f"delivered {order['delivered_at']}" if order.get("delivered_at") else None,
        f"carrier {order['carrier']}" if order.get("carrier") else None,
        f"tracking {order['tracking_number']}" if order.get("tracking_number") else None,
    ]
    shown = "; ".join(d for d in details if d)
    return f"Order {order['order_id']} is {said}" + (f" ({shown})." if shown else ".")


def _fact(call: ToolCall) -> str | None:
    if call.status == ERROR:
        return f"The {SYSTEMS.get(call.tool, call.tool)} was unavailable: do not guess what it would say."
    if call.status not in (OK, NOT_FOUND):
        return None  # refused or over budget: nothing was looked up
    if call.tool == "order_status":
        return _order_fact(call)
    result = json.loads(call.result or "{}")
    if call.tool == "customer_history":
        earlier = result.get("earlier_tickets") or []
        listed = "; ".join(f"{t.get('created_at', '')[:10]} {t.get('category') or 'untriaged'}" for t in earlier)
        return f"Earlier tickets of this customer: {len(earlier)}" + (f" ({listed})." if listed else ".")
    chunks = ", ".join(c["chunk_id"] for c in result.get("chunks", []))
    query = json.loads(call.arguments).get("query", "")
    # On one line: a model-chosen query must not be able to add a line that reads like another fact.
    return f'Help-centre search for "{" ".join(str(query).split())[:80]}": {chunks or "nothing relevant"}.'


def summarise(calls: list[ToolCall]) -> dict:
    """The investigation's columns from its calls: facts, the order found and systems unavailable."""
    facts = [f for f in dict.fromkeys(_fact(c) for c in calls) if f]
    orders = [json.loads(c.result) for c in calls if c.tool == "order_status" and c.status == OK]
    return {
        "facts": "\n".join(f"- {f}" for f in facts) or NO_FACTS,
        "order_id": orders[0]["order_id"] if orders else None,
        "order_status": orders[0]["status"] if orders and orders[0]["status"] in ORDER_STATUS_PHRASES else None,
        "unavailable": sorted({SYSTEMS.get(c.tool, c.tool) for c in calls if c.status == ERROR}),
    }


def investigation_tables(
    tickets: pl.DataFrame, results: dict[str, Investigation], prompt_version: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(ticket_investigations, tool_calls) rows: one per ticket of `tickets`, one per call."""
    rows, calls = [], []
    for ticket in tickets.select("row_key", "ticket_id", "created_date").iter_rows(named=True):
        found = results[ticket["row_key"]]
        keys = {"ticket_id": ticket["ticket_id"], "created_date": ticket["created_date"]}
        rows.append(
            {
                **keys,
                **summarise(found.calls),
                "mode": found.mode,
                "tool_calls": len(found.calls),
                "note": found.fallback or found.note,
                "model": found.model,
                "prompt_version": prompt_version,
                "prompt_tokens": found.prompt_tokens,
                "completion_tokens": found.completion_tokens,
                "cost_usd": found.cost_usd,
                "cache_hit": found.cache_hit
                and all(c.cache_hit or c.status not in (OK, NOT_FOUND) for c in found.calls),
            }
        )
        asked_by = found.model  # None: the plan alone, no model turn
        for number, call in enumerate(found.calls, 1):
            calls.append(
                {
                    **keys,
                    "call_no": number,
                    "step": "investigation",
                    "tool": call.tool,
                    "arguments": call.arguments,
                    "status": call.status,
                    "result": call.result,
                    "error": call.error,
                    "latency_ms": 0.0 if call.cache_hit else call.latency_ms,
                    "cache_hit": call.cache_hit,
                    "model": asked_by,
                    "prompt_version": prompt_version,
                }
            )
    investigations = pl.DataFrame(rows, schema=TICKET_INVESTIGATIONS.polars_schema)
    return investigations, pl.DataFrame(calls, schema=TOOL_CALLS.polars_schema)
