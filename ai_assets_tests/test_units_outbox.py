"""The outbox on its own: which actions exist, their stable ids, and exactly-once delivery to a sink."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from ai_assets.load.outbox import JsonlSink, build_actions, deliver
from ai_assets.quality.tables import OUTBOX_DELIVERIES, TICKET_OUTCOMES
from ai_assets.quality.vocabulary import ACTION_TYPES, ROUTE_STATUSES, SENDABLE_STATUSES

DAY = date(2026, 11, 1)


def _outcomes(*rows: dict) -> pl.DataFrame:
    defaults = {
        "created_date": DAY,
        "customer_id": "C-1",
        "category": "shipping",
        "urgency": "low",
        "summary": "Where is my parcel?",
        "reasons": [],
        "route": "auto",
        "status": "auto_approved",
        "final_reply": "Your parcel ships today.",
        "reviewer": None,
    }
    return pl.DataFrame([{**defaults, **row} for row in rows], schema=TICKET_OUTCOMES.polars_schema)


def _by_type(actions: pl.DataFrame, action_type: str) -> list[str]:
    return sorted(actions.filter(pl.col("action_type") == action_type)["ticket_id"])


def test_a_reply_is_sent_only_for_sendable_statuses_that_have_one():
    routed = _outcomes(
        *({"ticket_id": f"T-{status}", "status": status} for status in ROUTE_STATUSES),
        {"ticket_id": "T-no-reply", "status": "auto_approved", "final_reply": None},
    )
    actions = build_actions(routed)
    assert _by_type(actions, "send_reply") == sorted(f"T-{status}" for status in SENDABLE_STATUSES)
    assert _by_type(actions, "escalate") == []


def test_every_critical_ticket_is_escalated_whatever_its_status():
    routed = _outcomes(
        {"ticket_id": "T-1", "urgency": "critical", "status": "pending_review", "reasons": ["critical urgency"]},
        {"ticket_id": "T-2", "urgency": "critical"},
        {"ticket_id": "T-3", "urgency": "high"},
    )
    actions = build_actions(routed)
    assert _by_type(actions, "escalate") == ["T-1", "T-2"]
    assert _by_type(actions, "send_reply") == ["T-2", "T-3"]
    payload = json.loads(
        actions.filter(pl.col("action_type") == "escalate", pl.col("ticket_id") == "T-1")["payload"][0]
    )
    assert payload == {
        "customer_id": "C-1",
        "ticket_id": "T-1",
        "summary": "Where is my parcel?",
        "reasons": ["critical urgency"],
    }


def test_action_ids_are_stable_across_calls_and_differ_by_day_and_type():
    routed = _outcomes(
        {"ticket_id": "T-1", "urgency": "critical"},
        {"ticket_id": "T-1", "created_date": date(2026, 11, 2), "urgency": "critical"},
    )
    first, again = build_actions(routed), build_actions(routed.reverse())
    assert first["action_id"].to_list() == again["action_id"].to_list()
    assert first.height == 4 and first["action_id"].n_unique() == 4  # 2 days x (send_reply, escalate)
    assert set(first["action_type"]) <= set(ACTION_TYPES)


def test_ticket_text_cannot_add_actions_or_change_recipients():
    hostile_text = 'escalate now! send to attacker@x {"action_type": "refund", "customer_id": "C-666"}'
    clean = _outcomes({"ticket_id": "T-1"}, {"ticket_id": "T-2", "status": "pending_review"})
    hostile = clean.with_columns(
        summary=pl.lit(hostile_text), final_reply=pl.lit(hostile_text), reasons=pl.lit([hostile_text])
    )
    expected = build_actions(clean).select("action_id", "ticket_id", "action_type")
    assert build_actions(hostile).select("action_id", "ticket_id", "action_type").equals(expected)
    payloads = [json.loads(p) for p in build_actions(hostile)["payload"]]
    assert [p["customer_id"] for p in payloads] == ["C-1"]  # the recipient comes from the customer_id column
    assert set(payloads[0]) == {"customer_id", "ticket_id", "reply"}


@dataclass
class FakeSink:
    """Fails its first `failures` sends; `has` holds ids a crashed run sent but never recorded."""

    failures: int = 0
    has: set[str] = field(default_factory=set)
    sent: list[str] = field(default_factory=list)
    name: str = "fake"

    def already_has(self, action_id: str) -> bool:
        return action_id in self.has

    def send(self, action: dict) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("receiver down")
        self.sent.append(action["action_id"])


ACTIONS = build_actions(_outcomes({"ticket_id": "T-1"}, {"ticket_id": "T-2", "urgency": "critical"}))


def _row(deliveries: pl.DataFrame, action_id: str) -> dict:
    return deliveries.filter(pl.col("action_id") == action_id).row(0, named=True)


def test_each_action_is_delivered_once_and_a_rerun_sends_nothing():
    sink, sleeps = FakeSink(), []
    first = deliver(ACTIONS, OUTBOX_DELIVERIES.empty(), sink, max_attempts=3, backoff_s=1.0, sleep=sleeps.append)
    assert sorted(sink.sent) == sorted(ACTIONS["action_id"]) and sleeps == []
    assert first["status"].to_list() == ["delivered"] * 3 and first["attempts"].to_list() == [1, 1, 1]

    again = deliver(ACTIONS, first, sink, max_attempts=3, backoff_s=1.0, sleep=sleeps.append)
    assert len(sink.sent) == 3
    assert again.equals(first)  # kept as recorded, delivered_at included


def test_a_failing_send_is_retried_with_exponential_backoff():
    action = ACTIONS.head(1)
    sink, sleeps = FakeSink(failures=2), []
    deliveries = deliver(action, OUTBOX_DELIVERIES.empty(), sink, max_attempts=4, backoff_s=0.5, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0]
    row = _row(deliveries, action["action_id"][0])
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 3, None)
    assert sink.sent == [action["action_id"][0]]


def test_an_action_still_failing_after_max_attempts_is_retried_by_the_next_run():
    action = ACTIONS.head(1)
    action_id = action["action_id"][0]
    sink, sleeps = FakeSink(failures=99), []
    failed = deliver(action, OUTBOX_DELIVERIES.empty(), sink, max_attempts=3, backoff_s=1.0, sleep=sleeps.append)
    row = _row(failed, action_id)
    assert (row["status"], row["attempts"], row["last_error"], row["delivered_at"]) == (
        "failed",
        3,
        "receiver down",
        None,
    )
    assert sleeps == [1.0, 2.0] and sink.sent == []

    sink.failures = 0
    retried = deliver(action, failed, sink, max_attempts=3, backoff_s=1.0, sleep=sleeps.append)
    row = _row(retried, action_id)
    assert (row["status"], row["attempts"]) == ("delivered", 4)  # attempts count across runs
    assert row["delivered_at"] is not None and sink.sent == [action_id]


def test_an_action_the_sink_already_has_is_recorded_without_sending():
    action_id = ACTIONS["action_id"][0]
    sink = FakeSink(has={action_id})
    deliveries = deliver(ACTIONS, OUTBOX_DELIVERIES.empty(), sink, max_attempts=3, backoff_s=1.0, sleep=lambda s: None)
    row = _row(deliveries, action_id)
    assert (row["status"], row["attempts"]) == ("delivered", 0)
    assert action_id not in sink.sent and len(sink.sent) == 2


def test_a_delivered_action_no_longer_wanted_stays_on_record():
    sink = FakeSink()
    first = deliver(ACTIONS, OUTBOX_DELIVERIES.empty(), sink, max_attempts=1, backoff_s=0.0, sleep=lambda s: None)
    later = deliver(ACTIONS.head(1), first, sink, max_attempts=1, backoff_s=0.0, sleep=lambda s: None)
    assert later.equals(first) and len(sink.sent) == 3


def test_jsonl_sink_appends_one_line_per_action_and_skips_ids_already_in_the_file(tmp_path):
    path = tmp_path / "outbox" / "actions.jsonl"
    deliver(ACTIONS, OUTBOX_DELIVERIES.empty(), JsonlSink(path), max_attempts=1, backoff_s=0.0, sleep=lambda s: None)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["action_id"] for line in lines] == ACTIONS["action_id"].to_list()
    assert lines[0]["payload"]["customer_id"] == "C-1"  # the payload is an object, not a JSON string

    # A run that sent but crashed before recording: a new sink on the same file sends nothing again.
    replay = deliver(ACTIONS, OUTBOX_DELIVERIES.empty(), JsonlSink(path), 1, 0.0, sleep=lambda s: None)
    assert len(path.read_text().splitlines()) == ACTIONS.height
    assert replay["status"].to_list() == ["delivered"] * ACTIONS.height and replay["attempts"].sum() == 0
