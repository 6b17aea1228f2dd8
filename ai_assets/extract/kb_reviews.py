"""Read reviewers' decisions on knowledge-base article proposals (`landing/kb_reviews/*.jsonl|*.csv`).

A decision row: `proposal_id` (from `kb_article_proposals`, or the draft file's front matter),
`decision` (approve | reject, any letter case), `reviewer`, and optionally `decided_at` (ISO 8601;
else the file's modification time). The latest decision of a proposal counts: a reject after an
approve withdraws it before it is published (after, delete the article file by hand too).

At the same `decided_at` (files without it share their modification time), a later line of one
file supersedes an earlier one: a file is written top to bottom. Files have no order, so decisions
of different files that disagree at one instant are all quarantined, and when they are the
proposal's latest it is undecided until someone resolves them: an earlier approval does not publish
it past a reject of that instant. Decisions that agree at one instant are one decision; the row
marked as deciding is the reviewer last in alphabetical order, so no outcome depends on file names.

Files are read record by record, as reply decisions are (`reviews.py`): a malformed line, an unknown
decision or a missing reviewer is a quarantine row with the reason, and the rest of the file loads.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from ai_assets.defs.kb_updates.tables import KB_REVIEW_DECISIONS, KB_REVIEW_DECISIONS_QUARANTINE
from ai_assets.extract.landing import LandingRecord, unreadable, value_in_raw
from ai_assets.extract.reviews import decision_rows, decision_time, split_decisions

REQUIRED_COLUMNS = ("proposal_id", "decision", "reviewer")
# What each required field must be, as the quarantine says it (a JSON list is not one proposal id).
_AS_TEXT = {"proposal_id": "one id as text", "decision": "approve or reject as text", "reviewer": "one name as text"}
_JSON_KINDS = {list: "list", dict: "object", bool: "true or false", int: "number", float: "number"}
_ROW_SCHEMA = {
    **{name: dtype for name, dtype in KB_REVIEW_DECISIONS.polars_schema.items() if name != "is_latest"},
    "problem": pl.Utf8,
}


def _decision_row(record: LandingRecord, modified: datetime) -> dict[str, Any]:
    """The decision's typed fields, or a `problem` saying why the record cannot be one."""
    if record.values is None:
        return {"proposal_id": value_in_raw(record.raw, "proposal_id"), "problem": record.problem}
    try:
        values, problems, row = record.values, [], {}
        for name, expected in _AS_TEXT.items():
            value = values.get(name)
            if value is not None and not isinstance(value, str):
                kind = _JSON_KINDS.get(type(value), type(value).__name__)
                problems.append(f'{name} must be {expected}, got a JSON {kind}: write it as a string ("...")')
                value = None
            row[name] = None if value is None else value.strip()
        row["decision"] = (row["decision"] or "").lower() or None
        row["decided_at"] = decision_time(values, modified, problems)
        return {**row, "problem": "; ".join(problems) or None}
    except Exception as error:  # e.g. a value nested too deeply to show: that record only
        return {"proposal_id": None, "problem": f"record {unreadable(error)}"}


def read_kb_review_decisions(kb_reviews_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(decisions, rejected rows with a reason); `is_latest` marks the deciding row of each proposal."""
    rows = decision_rows(kb_reviews_dir, REQUIRED_COLUMNS, _decision_row)
    frame = pl.DataFrame(rows, schema=_ROW_SCHEMA)
    decisions, rejects = split_decisions(frame, KB_REVIEW_DECISIONS, KB_REVIEW_DECISIONS_QUARANTINE, ["proposal_id"])
    return _without_conflicts(decisions, rejects)


def _without_conflicts(decisions: pl.DataFrame, rejects: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Quarantines decisions of different files that disagree at the same instant and marks the
    deciding row of each proposal again, as the module says: never by file name."""
    instant = ["proposal_id", "decided_at"]
    # A file is written top to bottom: at one instant, its last line on a proposal is its word.
    word = pl.col("source_line") == pl.col("source_line").max().over([*instant, "source_file"])
    marked = decisions.with_columns(word=word)
    conflict = pl.col("word") & (pl.col("decision").filter("word").n_unique().over(instant) > 1)
    newest = pl.col("decided_at") == pl.col("decided_at").max().over("proposal_id")
    held = marked.filter(conflict & newest)["proposal_id"].implode()
    conflicting = (
        marked.filter(conflict)
        .sort("source_file", "source_line")
        .with_columns(one=pl.format("{} by {} ({} line {})", "decision", "reviewer", "source_file", "source_line"))
        .with_columns(
            reason=pl.format(
                "decisions on {} disagree at the same decided_at {}: {}; which came last cannot be known, so none "
                "of them counts: remove the wrong one, or set their decided_at apart",
                "proposal_id",
                pl.col("decided_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.f"),
                pl.col("one").over(instant, mapping_strategy="join").list.join(" and "),
            )
        )
    )
    # What is left agrees at each instant; the deciding row is the last, its reviewer breaking ties.
    kept = marked.filter(~conflict).sort("decided_at", "word", "reviewer", "source_file", "source_line")
    last = pl.int_range(pl.len()).over("proposal_id") == pl.len().over("proposal_id") - 1
    kept = kept.with_columns(is_latest=last & ~pl.col("proposal_id").is_in(held))
    rejects = pl.concat([rejects, conflicting.select(rejects.columns)]).sort("source_file", "source_line")
    return kept.sort("decided_at", "source_file", "source_line").select(decisions.columns), rejects
