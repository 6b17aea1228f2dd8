"""Reviewer decision files: read record by record, bad rows rejected with a reason, the deciding row marked."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from ai_assets.extract.reviews import read_review_decisions


def _jsonl(*records: dict) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _read(reviews: Path) -> tuple[pl.DataFrame, dict[tuple[str, int], str]]:
    decisions, rejects = read_review_decisions(reviews)
    return decisions, {(r["source_file"], r["source_line"]): r["reason"] for r in rejects.iter_rows(named=True)}


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_badly_encoded_line_is_rejected_with_the_reason_and_the_others_load(tmp_path: Path, kind: str):
    if kind == "jsonl":
        good = _jsonl({"ticket_id": "T-1", "decision": "approve", "reviewer": "ana"})
        bad = _jsonl({"ticket_id": "T-2", "decision": "edit", "edited_text": "caf", "reviewer": "ana"})
        last = _jsonl({"ticket_id": "T-3", "decision": "reject", "reviewer": "bo"})
        data, bad_line = good + bad.replace(b'"caf"', b'"caf\xe9"') + last, 2
    else:
        data = b"ticket_id,decision,edited_text,reviewer\nT-1,approve,,ana\nT-2,edit,caf\xe9,ana\nT-3,reject,,bo\n"
        bad_line = 3
    (tmp_path / f"batch.{kind}").write_bytes(data)

    decisions, reasons = _read(tmp_path)

    assert decisions["ticket_id"].to_list() == ["T-1", "T-3"]
    assert list(reasons) == [(f"batch.{kind}", bad_line)]
    reason = reasons[(f"batch.{kind}", bad_line)]
    assert reason.startswith("not valid UTF-8 (byte 0xe9 at offset ") and reason.endswith("re-export the file as UTF-8")
    assert not decisions["edited_text"].drop_nulls().str.contains("\ufffd").any()  # nothing mangled silently


def test_created_date_is_parsed_and_an_unreadable_one_rejects_its_row(tmp_path: Path):
    rows = [
        {"ticket_id": "T-1", "created_date": "2026-11-02", "decision": "approve", "reviewer": "ana"},
        {"ticket_id": "T-2", "decision": "approve", "reviewer": "ana"},
        {"ticket_id": "T-3", "created_date": "2026-11-31", "decision": "approve", "reviewer": "ana"},
        {"ticket_id": "T-4", "created_date": "01/11/2026", "decision": "approve", "reviewer": "ana"},
        {"ticket_id": "T-5", "created_date": "20261101", "decision": "approve", "reviewer": "ana"},
        {"ticket_id": "T-6", "decided_at": "soon", "decision": "approve", "reviewer": "ana"},
    ]
    (tmp_path / "a.jsonl").write_bytes(_jsonl(*rows))
    (tmp_path / "b.csv").write_text(
        "ticket_id,created_date,decision,reviewer\nT-7,2026-11-03,approve,bo\nT-8,,reject,bo\n"
    )

    decisions, reasons = _read(tmp_path)

    assert dict(decisions.select("ticket_id", "created_date").iter_rows()) == {
        "T-1": date(2026, 11, 2),
        "T-2": None,  # no day: that ticket id on any day
        "T-7": date(2026, 11, 3),
        "T-8": None,
    }
    assert reasons == {
        ("a.jsonl", 3): "created_date '2026-11-31' is not a date; give YYYY-MM-DD",
        ("a.jsonl", 4): "created_date '01/11/2026' is not a date; give YYYY-MM-DD",
        ("a.jsonl", 5): "created_date '20261101' is not a date; give YYYY-MM-DD",
        ("a.jsonl", 6): "decided_at 'soon' is not an ISO 8601 timestamp",
    }


def test_is_latest_marks_the_last_decision_of_each_ticket_and_day(tmp_path: Path):
    def decision(ticket: str, day: str | None, at: str, what: str) -> dict:
        return {"ticket_id": ticket, "created_date": day, "decided_at": at, "decision": what, "reviewer": "ana"}

    (tmp_path / "a.jsonl").write_bytes(
        _jsonl(
            decision("T-1", "2026-11-01", "2026-11-05T10:00:00Z", "approve"),
            decision("T-1", "2026-11-01", "2026-11-05T09:00:00Z", "reject"),  # earlier: not the latest
            decision("T-1", "2026-11-02", "2026-11-05T08:00:00Z", "reject"),  # the same id on another day
            decision("T-1", None, "2026-11-05T07:00:00Z", "approve"),  # no day: a group of its own
            decision("T-2", "2026-11-01", "2026-11-05T08:00:00Z", "reject"),
        )
    )
    # The same time as T-2's decision in a.jsonl: the later file decides.
    (tmp_path / "b.jsonl").write_bytes(_jsonl(decision("T-2", "2026-11-01", "2026-11-05T08:00:00Z", "approve")))

    decisions, reasons = _read(tmp_path)

    assert reasons == {}
    latest = decisions.filter("is_latest").select("ticket_id", "created_date", "decision", "source_file").rows()
    assert sorted(latest, key=str) == sorted(
        [
            ("T-1", date(2026, 11, 1), "approve", "a.jsonl"),
            ("T-1", date(2026, 11, 2), "reject", "a.jsonl"),
            ("T-1", None, "approve", "a.jsonl"),
            ("T-2", date(2026, 11, 1), "approve", "b.jsonl"),
        ],
        key=str,
    )
    assert decisions.height == 6 and decisions["decided_at"].min() == datetime(2026, 11, 5, 7, 0)
