"""Read reviewer decisions (`landing/reviews/*.jsonl|*.csv`) into `review_decisions` rows and rejects.

A decision row: `ticket_id`, optionally `created_date` (YYYY-MM-DD, the day of the ticket decided:
a ticket id is unique within its day only; without it the decision is for that id when no other
day has it, and decides nothing while the id is on several days),
`decision` (approve | edit | reject), `edited_text` (required for edit), `reviewer`, and optionally
`decided_at` (ISO 8601; else the file's modification time). A decision may also correct the
ticket's triage with any of `category`, `urgency` and `sentiment` (values of the vocabulary, any
letter case): `ticket_labels` turns the latest correction of a ticket into its label.

Files are read record by record by `landing.py`, as ticket files are: a badly encoded or malformed
line is rejected with its reason and the rest of the file still loads. A file that cannot be read
at all (a CSV header without `ticket_id`, `decision` and `reviewer`), and every entry of the folder
that is not a landing file, is one rejected row at line `WHOLE_FILE`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from ai_assets.defs.outbox.tables import REVIEW_DECISIONS, REVIEW_DECISIONS_QUARANTINE
from ai_assets.extract.landing import (
    WHOLE_FILE,
    LandingRecord,
    landing_files,
    parse_timestamp,
    read_records,
    scan_folder,
    unreadable,
    value_in_raw,
)
from ai_assets.quality.validate import split_valid
from ai_assets.warehouse.contract import Table

TEXT_FIELDS = ("ticket_id", "decision", "edited_text", "reviewer")
# Corrections of the triage: optional, compared in lower case, blank meaning not corrected.
CORRECTION_FIELDS = ("category", "urgency", "sentiment")
# The columns a CSV header must name (edited_text, created_date and decided_at may be left out).
REQUIRED_COLUMNS = ("ticket_id", "decision", "reviewer")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A decision as read: the contract's columns but is_latest, and why the record could not be read.
_ROW_SCHEMA = {
    **{name: dtype for name, dtype in REVIEW_DECISIONS.polars_schema.items() if name != "is_latest"},
    "problem": pl.Utf8,
}


def review_files(reviews_dir: Path) -> list[Path]:
    return landing_files(reviews_dir)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _created_date(value: Any) -> date:
    """YYYY-MM-DD, or ValueError (fromisoformat alone would also take 20261101 or 2026-W44-7)."""
    if not _ISO_DAY.fullmatch(str(value).strip()):
        raise ValueError(value)
    return date.fromisoformat(str(value).strip())


def _decision_row(record: LandingRecord, modified: datetime) -> dict[str, Any]:
    """The decision's typed fields, or a `problem` saying why the record cannot be one."""
    if record.values is None:
        return {"ticket_id": value_in_raw(record.raw, "ticket_id"), "problem": record.problem}
    try:
        return _typed_decision(record.values, modified)
    except Exception as error:  # e.g. a value nested too deeply to show: that record only
        return {"ticket_id": None, "problem": f"record {unreadable(error)}"}


def _typed_decision(values: dict[str, Any], modified: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {name: _text(values.get(name)) for name in TEXT_FIELDS}
    for name in ("decision", *CORRECTION_FIELDS):
        row[name] = (_text(values.get(name)) or "").strip().lower() or None
    problems = []
    if values.get("created_date") not in (None, ""):
        try:
            row["created_date"] = _created_date(values["created_date"])
        except ValueError:
            problems.append(f"created_date {str(values['created_date'])[:40]!r} is not a date; give YYYY-MM-DD")
    row["decided_at"] = decision_time(values, modified, problems)
    return {**row, "problem": "; ".join(problems) or None}


def decision_time(values: dict[str, Any], modified: datetime, problems: list[str]) -> datetime | None:
    """`decided_at` (ISO 8601), or the file's modification time without one; a problem if unreadable."""
    if values.get("decided_at") in (None, ""):
        return modified
    try:
        return parse_timestamp(str(values["decided_at"]))
    except ValueError:
        problems.append(f"decided_at {str(values['decided_at'])[:40]!r} is not an ISO 8601 timestamp")
        return None


def read_review_decisions(reviews_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(decisions, rejected rows with a reason). `is_latest` marks the deciding row of each
    (ticket_id, created_date): the latest `decided_at`, then the later file and line."""
    rows = decision_rows(reviews_dir, REQUIRED_COLUMNS, _decision_row)
    frame = pl.DataFrame(rows, schema=_ROW_SCHEMA)
    return split_decisions(frame, REVIEW_DECISIONS, REVIEW_DECISIONS_QUARANTINE, ["ticket_id", "created_date"])


def decision_rows(
    folder_path: Path, required: tuple[str, ...], typed: Callable[[LandingRecord, datetime], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every record of a decisions folder typed by `typed` (with a `problem` when it cannot be read), and
    a row per entry of the folder that is not a landing file."""
    folder = scan_folder(folder_path)
    rows = [{"source_file": s.path.name, "source_line": WHOLE_FILE, "problem": s.reason} for s in folder.skipped]
    for path in folder.files:
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
        rows.extend(
            {**typed(record, modified), "source_file": path.name, "source_line": record.line}
            for record in read_records(path, required)
        )
    return rows


def split_decisions(
    frame: pl.DataFrame, table: Table, quarantine: Table, group: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the valid decisions of `frame`, with `is_latest` marking the deciding row of each `group`: the
    latest `decided_at`, then the later file and line; the rejected rows with their reason)."""
    unreadable = frame.filter(pl.col("problem").is_not_null()).rename({"problem": "reason"})
    valid, invalid = split_valid(
        frame.filter(pl.col("problem").is_null()).drop("problem"), table.schema.remove_columns(["is_latest"])
    )
    # Sorted oldest first, so each group's last row is its deciding one (a null day is a group of its own).
    latest = pl.int_range(pl.len()).over(group) == pl.len().over(group) - 1
    decisions = valid.sort("decided_at", "source_file", "source_line").with_columns(is_latest=latest)
    rejects = pl.concat([unreadable, invalid], how="diagonal_relaxed").select(quarantine.column_names)
    return decisions.select(table.column_names), rejects.sort("source_file", "source_line")
