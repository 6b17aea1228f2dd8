"""The tool registry's rules and the order service client, without Dagster."""

from __future__ import annotations

import json
from datetime import date

from ai_assets.tools.orders import HttpOrderService, Order
from ai_assets.tools.registry import TicketScope, ToolBox, ToolCache
from ai_assets.tools.ticket_tools import customer_history_tool, order_status_tool
from ai_assets_tests.order_service import OrderService

SCOPE = TicketScope("T-1", "C-1", date(2026, 11, 2))
EXPORTS = {
    "2026-11-01": [
        {"order_id": "ORD-1", "customer_id": "C-1", "status": "processing"},
        {"order_id": "ORD-2", "customer_id": "C-2", "status": "delivered"},
    ],
    "2026-11-02": [{"order_id": "ORD-1", "customer_id": "C-1", "status": "shipped", "carrier": "DHL"}],
}


class _Orders:
    name, version = "orders", "test"

    def __init__(self, fail: bool = False):
        self.asked: list[tuple[str, date]] = []
        self.fail = fail

    def orders_of(self, customer_id: str, as_of: date) -> list[Order]:
        from ai_assets.tools.orders import ToolUnavailable

        self.asked.append((customer_id, as_of))
        if self.fail:
            raise ToolUnavailable("order system down")
        return [Order(order_id="ORD-1", status="delayed")] if customer_id == "C-1" else []


def _box(tmp_path, backend, max_calls: int = 3) -> ToolBox:
    tools = [order_status_tool(backend), customer_history_tool({"T-1": [{"ticket_id": "T-0"}]})]
    return ToolBox(tools, ToolCache(tmp_path / "tools.sqlite"), max_calls)


def test_calls_are_checked_scoped_budgeted_and_cached(tmp_path):
    backend = _Orders()
    box = _box(tmp_path, backend)
    first = box.call(SCOPE, "order_status", '{"order_id": "ord-1"}', 0)
    assert (first.status, json.loads(first.result)["status"], first.cache_hit) == ("ok", "delayed", False)
    again = box.call(SCOPE, "order_status", '{"order_id": "ord-1"}', 1)
    assert again.cache_hit and again.result == first.result and len(backend.asked) == 1
    assert box.call(SCOPE, "order_status", '{"order_id": "ORD-9"}', 0).status == "not_found"
    assert box.call(SCOPE, "order_status", '{"order_id": "../../admin"}', 0).status == "refused"
    assert box.call(SCOPE, "order_status", "not json", 0).status == "refused"
    assert box.call(SCOPE, "shell", "{}", 0).status == "refused"
    refused = box.call(SCOPE, "customer_history", '{"customer_id": "C-2"}', 0)
    assert refused.status == "refused" and "own customer" in refused.error
    assert box.call(SCOPE, "customer_history", '{"customer_id": "C-1"}', 0).status == "ok"
    assert box.call(SCOPE, "order_status", '{"order_id": "ORD-1"}', 3).status == "over_budget"
    # Only the backend calls above reached the backend: ORD-1 once, ORD-9 once.
    assert len(backend.asked) == 2


def test_a_backend_failure_is_an_error_row_and_is_not_cached(tmp_path):
    backend = _Orders(fail=True)
    box = _box(tmp_path, backend)
    failed = box.call(SCOPE, "order_status", '{"order_id": "ORD-1"}', 0)
    assert failed.status == "error" and "down" in failed.error
    box.call(SCOPE, "order_status", '{"order_id": "ORD-1"}', 1)
    assert len(backend.asked) == 2  # asked again: errors are not cached


def test_the_order_service_client_retries_authenticates_and_times_out(monkeypatch):
    monkeypatch.setenv("AI_ASSETS_ORDERS_API_TOKEN", "tok-1")
    with OrderService(EXPORTS, mode="flaky", failures=2) as service:
        client = HttpOrderService(service.url, timeout_s=2, retries=2, sleep=lambda s: None)
        orders = client.orders_of("C-1", date(2026, 11, 2))
        assert [(o.order_id, o.status, o.carrier) for o in orders] == [("ORD-1", "shipped", "DHL")]
        assert client.orders_of("C-1", date(2026, 11, 1))[0].status == "processing"
        assert len(service.requests) == 4 and {r["authorization"] for r in service.requests} == {"Bearer tok-1"}
    monkeypatch.delenv("AI_ASSETS_ORDERS_API_TOKEN")
    with OrderService(EXPORTS, mode="slow", delay=1.0) as service:
        client = HttpOrderService(service.url, timeout_s=0.2, retries=1, sleep=lambda s: None)
        try:
            client.orders_of("C-1", date(2026, 11, 2))
            raise AssertionError("a slow service must fail the call")
        except Exception as error:
            assert "no answer within 0.2 s" in str(error) and "2 attempts" in str(error)
        assert service.requests[0]["authorization"] is None
