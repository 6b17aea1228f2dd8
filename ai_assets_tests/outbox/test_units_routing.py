"""Routing as plain SQL and polars, on a DuckDB file written through the contracts: no Dagster run."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from ai_assets.defs.landing.tables import RAW_TICKETS
from ai_assets.defs.outbox.tables import REVIEW_DECISIONS
from ai_assets.defs.replies.tables import REPLY_DRAFTS
from ai_assets.defs.retrieval.tables import TICKET_CONTEXT
from ai_assets.defs.triage.tables import TICKET_TRIAGE
from ai_assets.load.routing import route_tickets
from ai_assets.warehouse.contract import Table, allowed_values
from ai_assets_tests.conftest import local_warehouse

DAY_1, DAY_2 = date(2026, 11, 1), date(2026, 11, 2)
_FILLERS = {pl.Utf8: "x", pl.Int64: 1, pl.Int32: 1, pl.Float64: 0.9, pl.Boolean: False}


def rows(table: Table, *records: dict) -> pl.DataFrame:
    """Rows of `table` with every column the record leaves out filled with a valid value."""

    def filled(record: dict) -> dict:
        values = {}
        for name, dtype in table.polars_schema.items():
            if name in record:
                values[name] = record[name]
            elif isinstance(dtype, pl.List):
                values[name] = []
            elif dtype == pl.Datetime("us"):
                values[name] = datetime(2026, 11, 1, 9)
            elif allowed := allowed_values(table.columns[name]):
                values[name] = allowed[0]
            else:
                values[name] = _FILLERS.get(dtype.base_type())
        return values

    return pl.DataFrame([filled(r) for r in records], schema=table.polars_schema)


def _ticket(
    ticket_id: str, day: date, urgency="low", tier="free", sentiment="neutral", confidence=0.9, outcome="approved"
):
    key = {"ticket_id": ticket_id, "created_date": day}
    return {
        RAW_TICKETS: {**key, "channel": "web", "body": "b"},
        TICKET_TRIAGE: {
            **key,
            "category": "billing",
            "urgency": urgency,
            "sentiment": sentiment,
            "confidence": confidence,
        },
        TICKET_CONTEXT: {**key, "customer_tier": tier, "history": []},
        REPLY_DRAFTS: {
            **key,
            "reply": f"reply to {ticket_id}",
            "outcome": outcome,
            "rounds": 1,
            "reason": None if outcome == "approved" else "critique failed",
        },
    }


@pytest.fixture
def warehouse(tmp_path):
    return local_warehouse(tmp_path)


def _load(warehouse, tickets: list[dict], decisions: list[dict] = ()) -> None:
    for table in (RAW_TICKETS, TICKET_TRIAGE, TICKET_CONTEXT, REPLY_DRAFTS):
        frame = rows(table, *(t[table] for t in tickets))
        warehouse.write({table: frame}, [DAY_1, DAY_2])
    warehouse.write({REVIEW_DECISIONS: rows(REVIEW_DECISIONS, *decisions)})


def _routed(warehouse) -> dict[tuple, dict]:
    with warehouse.get_connection() as conn:
        routed = route_tickets(conn, [DAY_1, DAY_2], min_confidence=0.6)
    return {(r["ticket_id"], r["created_date"]): r for r in routed.iter_rows(named=True)}


def test_reasons_route_and_priority(warehouse):
    _load(
        warehouse,
        [
            _ticket("OK", DAY_1),
            _ticket("CRIT", DAY_1, urgency="critical"),
            _ticket("VIP", DAY_1, tier="enterprise", sentiment="negative"),
            _ticket("UNSURE", DAY_1, confidence=0.3),
            _ticket("DRAFT", DAY_1, outcome="needs_human"),
        ],
    )
    routed = _routed(warehouse)
    assert routed[("OK", DAY_1)]["route"] == "auto" and routed[("OK", DAY_1)]["status"] == "auto_approved"
    assert routed[("OK", DAY_1)]["final_reply"] == "reply to OK"
    assert routed[("CRIT", DAY_1)]["priority"] == 1 and routed[("CRIT", DAY_1)]["reasons"] == ["critical urgency"]
    assert routed[("VIP", DAY_1)]["priority"] == 2
    assert routed[("UNSURE", DAY_1)]["reasons"] == ["low triage confidence (0.3)"]
    assert routed[("DRAFT", DAY_1)]["reasons"] == ["critique failed"]
    for key in [("CRIT", DAY_1), ("VIP", DAY_1), ("UNSURE", DAY_1), ("DRAFT", DAY_1)]:
        assert routed[key]["status"] == "pending_review" and routed[key]["final_reply"] is None


def test_a_decision_applies_to_its_day_or_to_its_id_when_no_other_day_has_it(warehouse):
    decided = datetime(2026, 11, 3, 12)
    base = {"reviewer": "ana", "source_file": "r.jsonl", "is_latest": True}
    decisions = [
        # SAME exists on both days; this decision names day 2 only.
        {
            **base,
            "ticket_id": "SAME",
            "created_date": DAY_2,
            "decision": "reject",
            "decided_at": decided,
            "source_line": 1,
        },
        # BOTH has no day and is on two days (two tickets, maybe two customers'): it decides neither.
        {
            **base,
            "ticket_id": "BOTH",
            "created_date": None,
            "decision": "approve",
            "decided_at": decided,
            "source_line": 2,
        },
        {
            **base,
            "ticket_id": "BOTH",
            "created_date": None,
            "decision": "edit",
            "edited_text": "edited",
            "decided_at": datetime(2026, 11, 3, 13),
            "source_line": 3,
        },
        # ONCE has no day and is on day 1 only: it decides that ticket.
        {
            **base,
            "ticket_id": "ONCE",
            "created_date": None,
            "decision": "edit",
            "edited_text": "edited once",
            "decided_at": decided,
            "source_line": 4,
        },
    ]
    tickets = [_ticket(t, d, urgency="critical") for t in ("SAME", "BOTH") for d in (DAY_1, DAY_2)]
    tickets.append(_ticket("ONCE", DAY_1, urgency="critical"))
    _load(warehouse, tickets, decisions)
    routed = _routed(warehouse)
    assert len(routed) == 5
    assert routed[("SAME", DAY_1)]["status"] == "pending_review"
    assert routed[("SAME", DAY_2)]["status"] == "rejected" and routed[("SAME", DAY_2)]["final_reply"] is None
    for day in (DAY_1, DAY_2):
        assert routed[("BOTH", day)]["status"] == "pending_review" and routed[("BOTH", day)]["final_reply"] is None
    assert (
        routed[("ONCE", DAY_1)]["status"] == "human_edited" and routed[("ONCE", DAY_1)]["final_reply"] == "edited once"
    )


def test_routing_on_a_first_run_with_no_decisions_table(warehouse):
    for table in (RAW_TICKETS, TICKET_TRIAGE, TICKET_CONTEXT, REPLY_DRAFTS):
        warehouse.write({table: rows(table, _ticket("T", DAY_1)[table])}, [DAY_1, DAY_2])
    assert _routed(warehouse)[("T", DAY_1)]["status"] == "auto_approved"  # review_decisions empty
