"""The tool registry's rules and the order service client, without Dagster."""

from __future__ import annotations

import json
from datetime import date

from ai_assets.tools.orders import HttpOrderService, Order, WarehouseOrders
from ai_assets.tools.registry import TicketScope, ToolBox, ToolCache
from ai_assets.tools.ticket_tools import customer_history_tool, order_status_tool
from ai_assets_tests.fakes.loopback import free_port
from ai_assets_tests.fakes.order_service import OrderService

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
    tools = [order_status_tool(backend), customer_history_tool({(SCOPE.day, "T-1"): [{"ticket_id": "T-0"}]})]
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
        client = HttpOrderService(service.url, timeout_s=10, retries=2, sleep=lambda s: None)
        orders = client.orders_of("C-1", date(2026, 11, 2))
        assert [(o.order_id, o.status, o.carrier) for o in orders] == [("ORD-1", "shipped", "DHL")]
        assert client.orders_of("C-1", date(2026, 11, 1))[0].status == "processing"
        assert len(service.requests) == 4 and {r["authorization"] for r in service.requests} == {"Bearer tok-1"}
    monkeypatch.delenv("AI_ASSETS_ORDERS_API_TOKEN")
    # Far past the timeout (the service's stop ends the wait), so no answer can beat it on any machine.
    with OrderService(EXPORTS, mode="slow", delay=600) as service:
        client = HttpOrderService(service.url, timeout_s=0.2, retries=1, sleep=lambda s: None)
        try:
            client.orders_of("C-1", date(2026, 11, 2))
            raise AssertionError("a slow service must fail the call")
        except Exception as error:
            assert "no answer within 0.2 s" in str(error) and "2 attempts" in str(error)
        assert service.requests[0]["authorization"] is None


def _order_status(box: ToolBox, customer_id: str) -> tuple[str, str | None, str | None, bool]:
    """(status, order status, error, cache hit) of order_status(ORD-1) for `customer_id` on 2026-11-02."""
    call = box.call(TicketScope("T-1", customer_id, date(2026, 11, 2)), "order_status", '{"order_id": "ORD-1"}', 0)
    return call.status, json.loads(call.result)["status"] if call.status == "ok" else None, call.error, call.cache_hit


def test_a_failing_order_service_opens_the_breaker_and_later_lookups_fail_fast(tmp_path):
    waits = []
    with OrderService(EXPORTS, mode="down") as service:
        orders = HttpOrderService(service.url, retries=1, sleep=waits.append, breaker_failures=3)
        box = _box(tmp_path, orders)
        calls = [_order_status(box, f"C-{n}") for n in range(6)]
        # Three lookups failed after their retry; the next three never reached the service.
        assert len(service.requests) == 6 and waits == [0.5] * 3
    assert [status for status, *_ in calls] == ["error"] * 6
    assert all("HTTP 503 after 2 attempts" in error for _, _, error, _ in calls[:3])
    assert all(error.startswith("not asked: 3 requests in a row failed") for _, _, error, _ in calls[3:])
    assert "order service" in calls[3][2] and "check its logs" in calls[3][2]


def test_an_unreachable_or_refusing_order_service_is_asked_once_and_says_what_to_check(tmp_path):
    # Nothing answers on a closed port: no answer to the first lookup stops the step asking at once.
    orders = HttpOrderService(f"http://127.0.0.1:{free_port()}", retries=2, sleep=lambda s: None)
    box = _box(tmp_path, orders)
    first, second = _order_status(box, "C-1"), _order_status(box, "C-2")
    assert first[0] == second[0] == "error" and "unreachable" in first[2]
    assert second[2].startswith("not asked: no answer") and "reachable (AI_ASSETS_ORDERS_API_URL)" in second[2]
    # A rejected token: one request, no retry, and the token is what to check.
    with OrderService(EXPORTS, mode="unauthorized") as service:
        box = _box(tmp_path, HttpOrderService(service.url, sleep=lambda s: None))
        calls = [_order_status(box, f"C-{n}") for n in range(3)]
        assert len(service.requests) == 1
    assert "check AI_ASSETS_ORDERS_API_TOKEN" in calls[2][2]


def test_a_status_changed_later_in_the_day_is_seen_on_a_rerun(tmp_path):
    with OrderService({day: list(orders) for day, orders in EXPORTS.items()}) as service:
        # One run, then the order ships later that day, then a rerun of the day over the same cache.
        assert _order_status(_box(tmp_path, HttpOrderService(service.url)), "C-1")[:2] == ("ok", "shipped")
        service.exports["2026-11-02"] = [{"order_id": "ORD-1", "customer_id": "C-1", "status": "delivered"}]
        rerun = _order_status(_box(tmp_path, HttpOrderService(service.url)), "C-1")
    # The service's answers are live (it gives no data version): asked again, never served from the cache.
    assert rerun[:2] == ("ok", "delivered") and not rerun[3] and len(service.requests) == 2
    # The orders table: its data for the customer that day is the version, so a new export is a new key.
    table = WarehouseOrders({("C-1", date(2026, 11, 2)): [Order(order_id="ORD-1", status="shipped")]})
    assert _order_status(_box(tmp_path, table), "C-1")[:2] == ("ok", "shipped")
    table = WarehouseOrders({("C-1", date(2026, 11, 2)): [Order(order_id="ORD-1", status="delivered")]})
    assert _order_status(_box(tmp_path, table), "C-1") == ("ok", "delivered", None, False)
    assert _order_status(_box(tmp_path, table), "C-1") == ("ok", "delivered", None, True)  # unchanged: cached
