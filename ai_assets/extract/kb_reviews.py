"""Read reviewers' decisions on knowledge-base article proposals (`landing/kb_reviews/*.jsonl|*.csv`).

A decision row: `proposal_id` (from `kb_article_proposals`, or the draft file's front matter),
`decision` (approve | reject, any letter case), `reviewer`, and optionally `decided_at` (ISO 8601;
else the file's modification time). The latest decision of a proposal counts: a reject after an
approve withdraws it before it is published (after, delete the article file by hand too).

Files are read record by record, as reply decisions are (`reviews.py`): a malformed line, an unknown
decision or a missing reviewer is a quarantine row with the reason, and the rest of the file loads.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from ai_assets.extract.landing import LandingRecord, unreadable, value_in_raw
from ai_assets.extract.reviews import decision_rows, decision_time, split_decisions
from ai_assets.quality.tables import KB_REVIEW_DECISIONS, KB_REVIEW_DECISIONS_QUARANTINE

REQUIRED_COLUMNS = ("proposal_id", "decision", "reviewer")
_ROW_SCHEMA = {
    **{name: dtype for name, dtype in KB_REVIEW_DECISIONS.polars_schema.items() if name != "is_latest"},
    "problem": pl.Utf8,
}


def _decision_row(record: LandingRecord, modified: datetime) -> dict[str, Any]:
    """The decision's typed fields, or a `problem` saying why the record cannot be one."""
    if record.values is None:
        return {"proposal_id": value_in_raw(record.raw, "proposal_id"), "problem": record.problem}
    try:
        values, problems = record.values, []
        row = {name: None if values.get(name) is None else str(values[name]).strip() for name in REQUIRED_COLUMNS}
        row["decision"] = (row["decision"] or "").lower() or None
        row["decided_at"] = decision_time(values, modified, problems)
        return {**row, "problem": "; ".join(problems) or None}
    except Exception as error:  # e.g. a value nested too deeply to show: that record only
        return {"proposal_id": None, "problem": f"record {unreadable(error)}"}


def read_kb_review_decisions(kb_reviews_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(decisions, rejected rows with a reason); `is_latest` marks the deciding row of each proposal."""
    rows = decision_rows(kb_reviews_dir, REQUIRED_COLUMNS, _decision_row)
    frame = pl.DataFrame(rows, schema=_ROW_SCHEMA)
    return split_decisions(frame, KB_REVIEW_DECISIONS, KB_REVIEW_DECISIONS_QUARANTINE, ["proposal_id"])
