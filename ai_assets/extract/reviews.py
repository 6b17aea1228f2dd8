"""Read reviewer decisions (`landing/reviews/*.jsonl|*.csv`) into `review_decisions` rows and rejects.

A decision row: `ticket_id`, `decision` (approve | edit | reject), `edited_text` (required for
edit), `reviewer`, and optionally `decided_at` (ISO 8601; else the file's modification time).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ai_assets.extract.landing import parse_timestamp
from ai_assets.quality.tables import REVIEW_DECISIONS, REVIEW_DECISIONS_QUARANTINE
from ai_assets.quality.validate import split_valid

REVIEW_FIELDS = ("ticket_id", "decision", "edited_text", "reviewer", "decided_at")


def review_files(reviews_dir: Path) -> list[Path]:
    if not reviews_dir.is_dir():
        return []
    return sorted(p for p in reviews_dir.iterdir() if p.suffix in (".jsonl", ".csv") and p.is_file())


def _rows(path: Path) -> list[dict]:
    """Every record of a file as text fields plus its line; an unreadable record keeps a `problem`."""
    if path.suffix == ".csv":
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy").with_row_index("source_line", offset=2)
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            rows.append(
                {
                    "source_line": number,
                    **(
                        {k: record.get(k) for k in REVIEW_FIELDS}
                        if isinstance(record, dict)
                        else {"problem": "expected a JSON object"}
                    ),
                }
            )
        except json.JSONDecodeError as error:
            rows.append({"source_line": number, "problem": f"malformed JSON: {error.msg}"})
    return rows


def _decided_at(value: object, fallback: datetime) -> datetime | None:
    if value in (None, ""):
        return fallback
    try:
        return parse_timestamp(str(value))
    except ValueError:
        return None  # rejected by the schema: decided_at must be a timestamp


def read_review_decisions(reviews_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(decisions, rejected rows with a reason). `is_latest` marks each ticket's deciding row:
    the latest `decided_at`, then the later file and line."""
    records = []
    for path in review_files(reviews_dir):
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
        for row in _rows(path):
            fields = {k: (str(row[k]) if row.get(k) is not None else None) for k in REVIEW_FIELDS}
            fields["decision"] = (fields["decision"] or "").strip().lower() or None
            fields["decided_at"] = _decided_at(row.get("decided_at"), modified)
            records.append(
                {
                    **fields,
                    "source_file": path.name,
                    "source_line": int(row["source_line"]),
                    "problem": row.get("problem"),
                }
            )
    frame = pl.DataFrame(
        records,
        schema={
            **{k: pl.Utf8 for k in REVIEW_FIELDS},
            "decided_at": pl.Datetime("us"),
            "source_file": pl.Utf8,
            "source_line": pl.Int64,
            "problem": pl.Utf8,
        },
    )
    unreadable = frame.filter(pl.col("problem").is_not_null()).rename({"problem": "reason"})
    valid, invalid = split_valid(
        frame.filter(pl.col("problem").is_null()).drop("problem"), REVIEW_DECISIONS.schema.remove_columns(["is_latest"])
    )
    # Sorted oldest first, so each ticket's last row is its deciding one.
    latest = pl.int_range(pl.len()).over("ticket_id") == pl.len().over("ticket_id") - 1
    decisions = valid.sort("decided_at", "source_file", "source_line").with_columns(is_latest=latest)
    rejects = pl.concat([unreadable, invalid], how="diagonal_relaxed").select(REVIEW_DECISIONS_QUARANTINE.column_names)
    return decisions.select(REVIEW_DECISIONS.column_names), rejects
