"""The three tools of a ticket investigation, over their backends.

- `order_status(order_id)`: the order's state, from the customer's own orders only (`orders.py`);
- `search_knowledge_base(query)`: the existing retrieval (embedding + cosine top-k over kb_embeddings);
- `customer_history(customer_id)`: the existing memory (earlier tickets and their triage), for the
  ticket's own customer only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ai_assets.tools.orders import Order
from ai_assets.tools.registry import NOT_FOUND, OK, OutOfScope, TicketScope, Tool


class OrderBackend(Protocol):
    name: str
    version: str

    def orders_of(self, customer_id: str, as_of: Any) -> list[Order]: ...


class OrderStatusArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # An order id and nothing else: no URL, path or query can reach a backend through it.
    order_id: str = Field(
        pattern=r"^[A-Za-z]{2,6}-?[0-9]{1,14}$", description="The order id as the customer wrote it, e.g. ORD-12345"
    )


class CustomerHistoryArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(max_length=40, description="The id of the ticket's customer")


class SearchArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=2, max_length=300, description="What to look up in the help-centre articles")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def order_status_tool(backend: OrderBackend) -> Tool:
    def run(scope: TicketScope, arguments: OrderStatusArguments) -> tuple[str, Any]:
        wanted = arguments.order_id.upper()
        for order in backend.orders_of(scope.customer_id, scope.day):
            if order.order_id.upper() == wanted:
                return OK, order.model_dump(exclude_none=True)
        return NOT_FOUND, {"order_id": arguments.order_id, "found": False}

    data_version = getattr(backend, "data_version", None)
    return Tool(
        "order_status",
        "The current status of one of this customer's orders (status, expected delivery, carrier, tracking).",
        OrderStatusArguments,
        run,
        version=backend.version,
        data_version=(lambda scope: data_version(scope.customer_id, scope.day)) if data_version else lambda scope: "",
    )


def customer_history_tool(histories: Mapping[tuple[date, str], list[dict]]) -> Tool:
    """`histories`: (created_date, ticket_id) -> the customer's earlier tickets (ticket_context.history).
    Keyed by the day too: the same id on another day is another customer's ticket."""

    def run(scope: TicketScope, arguments: CustomerHistoryArguments) -> tuple[str, Any]:
        if arguments.customer_id != scope.customer_id:
            raise OutOfScope("customer_history answers for the ticket's own customer only")
        return OK, {"earlier_tickets": histories.get((scope.day, scope.ticket_id), [])}

    return Tool(
        "customer_history",
        "This customer's earlier support tickets, newest first, with how they were triaged.",
        CustomerHistoryArguments,
        run,
        version="ticket_context.history",
        data_version=lambda scope: _digest(histories.get((scope.day, scope.ticket_id), [])),
    )


def search_knowledge_base_tool(search: Callable[[str], list[dict]], kb_version: str) -> Tool:
    """`search`: query -> the nearest knowledge-base chunks (chunk_id, article_id, score, text)."""

    def run(scope: TicketScope, arguments: SearchArguments) -> tuple[str, Any]:
        hits = search(arguments.query)
        return (OK if hits else NOT_FOUND), {"chunks": hits}

    return Tool(
        "search_knowledge_base",
        "Search the help-centre articles; returns the closest excerpts with their ids.",
        SearchArguments,
        run,
        version="kb_embeddings",
        data_version=lambda scope: kb_version,
    )
