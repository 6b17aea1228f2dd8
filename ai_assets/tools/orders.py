"""The order system behind the `order_status` tool: an HTTP order service, or the `orders` table.

Both answer one question, "the orders of this customer as of this day", never "the order with
this id": the tool then picks the order the model asked about among them. So a ticket that names
another customer's order id gets "not found" and the order system is never asked about that order.

The HTTP backend is a real client: `GET <AI_ASSETS_ORDERS_API_URL>/orders?customer_id=..&as_of=..`
answered with `{"orders": [{order_id, status, ...}]}`; a timeout per request, retries with backoff
on timeouts, connection errors, 429 and 5xx, and `Authorization: Bearer $AI_ASSETS_ORDERS_API_TOKEN`
when that variable is set (read from the environment at each request, never stored or logged).
It has the LLM client's circuit breaker (`llm/breaker.py`): a 401/403/404, no answer at all to the
step's first lookup, or `breaker_failures` lookups in a row failed after their retries, and the
step's further lookups fail at once without asking the service (a hung service costs one lookup's
timeouts, not every lookup's).

Its answers are live: the service says no version of its data (and learning one would take the
same request), so they are never cached across runs (`data_version` is None): a status changed
later in the day is seen by the next run. Within a step each (customer, day) is asked once.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError

from ai_assets.llm.breaker import CircuitBreaker
from ai_assets.secrets import bearer_header, scrub_secrets
from ai_assets.warehouse.sql import sql_file

TOKEN_ENV = "AI_ASSETS_ORDERS_API_TOKEN"
_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


class ToolUnavailable(Exception):
    """The system behind a tool did not answer usefully; the message says why, without any secret."""


class Order(BaseModel):
    """An order as the order system knows it: what the tool returns and the facts quote."""

    model_config = ConfigDict(extra="ignore")

    order_id: str
    status: str
    ordered_at: str | None = None
    expected_delivery: str | None = None
    delivered_at: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None


def what_to_check(status: int | None, url: str) -> str:
    """The next thing an operator should look at when the order service fails with `status`."""
    if status in (401, 403):
        return f"check AI_ASSETS_ORDERS_API_TOKEN: {url} rejected it"
    if status == 404:
        return f"check AI_ASSETS_ORDERS_API_URL: {url} has no /orders route"
    if status is None:
        return (
            f"check that {url} is reachable (AI_ASSETS_ORDERS_API_URL) and running; "
            "if it is only slow, raise AI_ASSETS_TOOL_TIMEOUT_S"
        )
    return f"the order service {url} is failing (HTTP {status}); check its logs"


@dataclass
class HttpOrderService:
    base_url: str
    timeout_s: float = 5.0
    retries: int = 2
    backoff_s: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    breaker_failures: int = 5  # lookups in a row failed after their retries that stop the step asking
    name: str = "order service"
    # The answers of this step by (customer, day): a ticket asking about two of its orders, or two
    # tickets of one customer, make one request. Failures are not kept: the next call asks again.
    _answers: dict[tuple[str, date], list[Order]] = field(default_factory=dict, compare=False, repr=False)
    breaker: CircuitBreaker = field(init=False, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)  # lookups run in threads

    def __post_init__(self) -> None:
        self.breaker = CircuitBreaker(self.base_url, self.breaker_failures, advice=what_to_check)

    @property
    def version(self) -> str:
        return f"http:{self.base_url}"

    def data_version(self, customer_id: str, as_of: date) -> None:
        """None: live answers, never cached across runs (see the module docstring)."""
        return None

    def orders_of(self, customer_id: str, as_of: date) -> list[Order]:
        if (customer_id, as_of) not in self._answers:
            self._answers[customer_id, as_of] = self._fetch(customer_id, as_of)
        return self._answers[customer_id, as_of]

    def _fetch(self, customer_id: str, as_of: date) -> list[Order]:
        if self.breaker.open:
            raise ToolUnavailable(f"not asked: {self.breaker.reason}")
        query = urllib.parse.urlencode({"customer_id": customer_id, "as_of": as_of.isoformat()})
        request = urllib.request.Request(f"{self.base_url.rstrip('/')}/orders?{query}", headers=self._headers())
        error, status = "", None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    body = response.read()
            except urllib.error.HTTPError as failed:
                error, status = f"HTTP {failed.code}", failed.code
                if failed.code not in _RETRYABLE_STATUS:
                    break
            except (urllib.error.URLError, OSError, http.client.HTTPException) as failed:
                reason = getattr(failed, "reason", failed)
                status = None  # nothing answered
                error = (
                    f"no answer within {self.timeout_s:g} s (AI_ASSETS_TOOL_TIMEOUT_S)"
                    if isinstance(reason, TimeoutError)
                    else f"unreachable ({reason})"
                )
            else:
                try:
                    orders = _orders_from(body)
                except ToolUnavailable as malformed:
                    self._record_failure(200, str(malformed))  # a proxy's error page: like a 5xx
                    raise
                with self._lock:
                    self.breaker.record_success()
                return orders
        description = scrub_secrets(f"order service {error} after {attempt + 1} attempts")
        self._record_failure(status, description)
        raise ToolUnavailable(description)

    def _record_failure(self, status: int | None, description: str) -> None:
        with self._lock:
            self.breaker.record_failure(status, description)

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", **bearer_header(TOKEN_ENV)}


def _orders_from(body: bytes) -> list[Order]:
    try:
        return [Order.model_validate(item) for item in json.loads(body)["orders"]]
    except (ValueError, KeyError, TypeError, ValidationError):
        raise ToolUnavailable(f"order service answered something that is not an order list: {body[:80]!r}") from None


@dataclass(frozen=True)
class WarehouseOrders:
    """The `orders` table: each order's latest state on or before the day, read once per step for
    the customers of the step's tickets (`load`), then answered from memory."""

    by_customer: dict[tuple[str, date], list[Order]]
    name: str = "order system"

    @classmethod
    def load(cls, conn: duckdb.DuckDBPyConnection, tickets: pl.DataFrame) -> WarehouseOrders:
        """`tickets`: customer_id, created_date."""
        conn.register("order_lookups", tickets.select("customer_id", "created_date").unique().to_arrow())
        try:
            rows = conn.execute(sql_file(__file__, "orders_as_of")).pl()
        finally:
            conn.unregister("order_lookups")
        grouped: dict[tuple[str, date], list[Order]] = {}
        for row in rows.iter_rows(named=True):
            key = (row.pop("customer_id"), row.pop("as_of"))
            grouped.setdefault(key, []).append(Order.model_validate({k: _text(v) for k, v in row.items()}))
        return cls(grouped)

    @property
    def version(self) -> str:
        return "warehouse:orders"

    def data_version(self, customer_id: str, as_of: date) -> str:
        """A hash of what the table says of the customer that day: a new export changes the cache key."""
        orders = [o.model_dump() for o in self.by_customer.get((customer_id, as_of), [])]
        return hashlib.sha256(json.dumps(orders, sort_keys=True).encode()).hexdigest()[:16]

    def orders_of(self, customer_id: str, as_of: date) -> list[Order]:
        return self.by_customer.get((customer_id, as_of), [])


def _text(value: object) -> str | None:
    return None if value is None else str(value)
