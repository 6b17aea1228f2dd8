"""Reading reviewers' decisions on article proposals (landing/kb_reviews/): which decision counts when
two share an instant, and values that are not one id."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ai_assets.extract.kb_reviews import read_kb_review_decisions


def _write(folder: Path, name: str, *records: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))


def _decide(folder: Path, first: str, second: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decisions in two files named `first` and `second`, read back."""
    _write(
        folder,
        first,
        {"proposal_id": "p-held", "decision": "approve", "reviewer": "lee", "decided_at": "2026-11-01T09:00:00Z"},
        {"proposal_id": "p-held", "decision": "reject", "reviewer": "kim", "decided_at": "2026-11-02T10:00:00Z"},
        {"proposal_id": "p-agreed", "decision": "approve", "reviewer": "kim", "decided_at": "2026-11-02T10:00:00Z"},
        {"proposal_id": "p-later", "decision": "approve", "reviewer": "lee", "decided_at": "2026-11-01T09:00:00Z"},
    )
    _write(
        folder,
        second,
        {"proposal_id": "p-held", "decision": "approve", "reviewer": "ann", "decided_at": "2026-11-02T10:00:00Z"},
        {"proposal_id": "p-agreed", "decision": "approve", "reviewer": "ann", "decided_at": "2026-11-02T10:00:00Z"},
        {"proposal_id": "p-later", "decision": "reject", "reviewer": "kim", "decided_at": "2026-11-01T09:00:00Z"},
        {"proposal_id": "p-later", "decision": "approve", "reviewer": "ann", "decided_at": "2026-11-03T08:00:00Z"},
    )
    return read_kb_review_decisions(folder)


def _deciding(decisions: pl.DataFrame) -> list[tuple]:
    return decisions.filter("is_latest").select("proposal_id", "decision", "reviewer").sort("proposal_id").rows()


def test_decisions_that_disagree_at_the_same_instant_are_quarantined_whatever_the_file_names(tmp_path):
    decisions, rejects = _decide(tmp_path / "a", "a.jsonl", "z.jsonl")
    # An approve and a reject at 10:00: which came last cannot be known. Both are quarantined, and
    # the proposal is undecided again: the earlier approve does not publish it behind the reject.
    conflicts = rejects.filter(pl.col("proposal_id") == "p-held").sort("source_file")
    assert conflicts.select("source_file", "source_line").rows() == [("a.jsonl", 2), ("z.jsonl", 1)]
    assert "z.jsonl line 1" in conflicts["reason"][0] and "a.jsonl line 2" in conflicts["reason"][1]
    assert all("same decided_at" in reason and "decided_at apart" in reason for reason in conflicts["reason"])
    # Two approvals at one instant agree: one of them decides, named by reviewer, not by file.
    # A conflict superseded by a later decision is quarantined too, and the later one decides.
    assert _deciding(decisions) == [("p-agreed", "approve", "kim"), ("p-later", "approve", "ann")]
    assert decisions.filter(pl.col("proposal_id") == "p-held")["source_line"].to_list() == [1]
    assert rejects.filter(pl.col("proposal_id") == "p-later").height == 2

    # The same decisions in files named the other way round: the same outcome.
    swapped, swapped_rejects = _decide(tmp_path / "b", "z.jsonl", "a.jsonl")
    assert _deciding(swapped) == _deciding(decisions)
    assert swapped_rejects.height == rejects.height


def test_a_proposal_id_or_reviewer_that_is_not_text_is_quarantined_with_the_reason(tmp_path):
    folder = tmp_path / "kb_reviews"
    _write(
        folder,
        "decisions.jsonl",
        {"proposal_id": ["p-1", "p-2"], "decision": "approve", "reviewer": "lee"},
        {"proposal_id": {"id": "p-1"}, "decision": "approve", "reviewer": "lee"},
        {"proposal_id": "p-1", "decision": "approve", "reviewer": ["lee"]},
        {"proposal_id": "p-1", "decision": ["approve"], "reviewer": "lee"},
        {"proposal_id": "p-1", "decision": "approve", "reviewer": "lee"},
    )
    decisions, rejects = read_kb_review_decisions(folder)
    assert decisions.select("proposal_id", "decision", "reviewer", "source_line").rows() == [
        ("p-1", "approve", "lee", 5)
    ]
    reasons = dict(rejects.select("source_line", "reason").rows())
    assert sorted(reasons) == [1, 2, 3, 4]
    assert reasons[1].startswith("proposal_id must be one id as text, got a JSON list")
    assert reasons[2].startswith("proposal_id must be one id as text, got a JSON object")
    assert reasons[3].startswith("reviewer must be one name as text, got a JSON list")
    assert reasons[4].startswith("decision must be approve or reject as text, got a JSON list")
    assert rejects["proposal_id"].to_list() == [None, None, "p-1", "p-1"]


def test_in_one_file_a_later_line_at_the_same_instant_supersedes_an_earlier_one(tmp_path):
    # Without decided_at every line of a file has the file's modification time: its lines say the order.
    folder = tmp_path / "kb_reviews"
    _write(
        folder,
        "decisions.jsonl",
        {"proposal_id": "p-1", "decision": "approve", "reviewer": "lee"},
        {"proposal_id": "p-1", "decision": "reject", "reviewer": "kim"},
    )
    decisions, rejects = read_kb_review_decisions(folder)
    assert rejects.is_empty()
    assert _deciding(decisions) == [("p-1", "reject", "kim")]
