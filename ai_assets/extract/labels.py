"""Read labelled tickets (`landing/labels/*.jsonl|*.csv`) and reviewers' corrections into `ticket_labels`.

A labelled ticket is a ticket record (the ticket contract's fields) plus the triage a correct model
gives it. In JSONL the expected answer is a nested object, as in the sample golden set:

    {"ticket_id": "G-1", ..., "body": "...", "labels": {"category": "billing", "urgency": "high",
     "sentiment": "negative", "language": "en", "kb_article_id": "KB-001"}}

In CSV it is flat columns `label_category`, `label_urgency`, `label_sentiment`, `label_language` and
optionally `label_kb_article_id`. Category, urgency, sentiment and language are required, in the
vocabulary (any letter case; a language like `en-US` counts as `en`). Files are read by
`landing.py` (the same rules as ticket files); every record ends up in `ticket_labels` or in
`ticket_labels_quarantine` with the reason, and a ticket labelled twice (same created_at day and
ticket_id) keeps the copy in the first file (by name) and line.

A reviewer's correction (`category`, `urgency`, `sentiment` in a `landing/reviews` decision) is a
label too, `source = review`: the latest correction of a ticket overrides the fields it names of
that ticket's file label (newer, human evidence about a production ticket), and the ticket's text
comes from `raw_tickets`. A correction of a ticket not in `raw_tickets` is quarantined.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl

from ai_assets.defs.reference.tables import TICKET_LABELS, TICKET_LABELS_QUARANTINE
from ai_assets.extract.landing import (
    TICKET_FIELDS,
    WHOLE_FILE,
    LandingRecord,
    parse_ticket_record,
    read_records,
    scan_folder,
)
from ai_assets.quality.validate import split_valid
from ai_assets.quality.vocabulary import LABEL_FIELDS

CSV_PREFIX = "label_"
OPTIONAL_LABELS = ("kb_article_id",)
# A CSV header must name the ticket's fields and every required label column.
REQUIRED_COLUMNS = (*TICKET_FIELDS, *(CSV_PREFIX + name for name in LABEL_FIELDS))
CORRECTIONS = ("category", "urgency", "sentiment")  # what a reviewer may correct
_KEY = ["created_date", "ticket_id"]
_ROW_SCHEMA = {
    **{name: TICKET_LABELS.polars_schema[name] for name in TICKET_LABELS.column_names},
    "problem": pl.Utf8,
}


def _file_label_schema() -> pa.DataFrameSchema:
    """A file label's rules: the contract's, with every label field required."""
    return TICKET_LABELS.row_schema().update_columns({name: {"nullable": False} for name in LABEL_FIELDS})


def _label_values(values: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The expected answer of a record (JSONL `labels` object or CSV `label_*` columns), normalised."""
    if any(key.startswith(CSV_PREFIX) for key in values if isinstance(key, str)):
        labels = {name: values.get(CSV_PREFIX + name) for name in (*LABEL_FIELDS, *OPTIONAL_LABELS)}
    else:
        labels = values.get("labels")
        if not isinstance(labels, dict):
            got = "nothing" if labels is None else type(labels).__name__
            return {}, f"labels must be an object with {', '.join(LABEL_FIELDS)} (got {got})"
    row = {}
    for name in (*LABEL_FIELDS, *OPTIONAL_LABELS):
        value = labels.get(name)
        row[name] = None if value is None else (str(value).strip() if name in OPTIONAL_LABELS else _word(value))
    if row["language"]:
        row["language"] = row["language"].replace("_", "-").split("-")[0]
    return row, None


def _word(value: Any) -> str | None:
    return str(value).strip().lower() or None


def _label_row(source: str, record: LandingRecord, labelled_at: datetime) -> dict[str, Any]:
    ticket = parse_ticket_record(source, record)
    row: dict[str, Any] = {"source_file": source, "source_line": record.line, "ticket_id": ticket.ticket_id}
    if ticket.reason is not None:
        return {**row, "problem": ticket.reason}
    labels, problem = _label_values(record.values or {})
    return {**row, **ticket.fields, **labels, "source": "file", "labelled_at": labelled_at, "problem": problem}


def read_label_files(labels_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(file labels, rejected rows with a reason) of `landing/labels`."""
    folder = scan_folder(labels_dir)
    rows = [
        {"source_file": f"labels/{s.path.name}", "source_line": WHOLE_FILE, "problem": s.reason} for s in folder.skipped
    ]
    for path in folder.files:
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
        rows.extend(_label_row(f"labels/{path.name}", r, modified) for r in read_records(path, REQUIRED_COLUMNS))
    frame = pl.DataFrame(rows, schema=_ROW_SCHEMA).with_columns(created_date=pl.col("created_at").dt.date())
    unreadable = frame.filter(pl.col("problem").is_not_null()).rename({"problem": "reason"})
    valid, invalid = split_valid(frame.filter(pl.col("problem").is_null()).drop("problem"), _file_label_schema())
    ranked = valid.sort("source_file", "source_line").with_columns(
        kept_at=pl.format("{}:{}", "source_file", "source_line").first().over(_KEY),
        is_kept=pl.struct(_KEY).is_first_distinct(),
    )
    duplicates = ranked.filter(~pl.col("is_kept")).with_columns(
        reason=pl.format("duplicate ticket_id on {}: kept the copy at {}", "created_date", "kept_at")
    )
    labels = ranked.filter(pl.col("is_kept")).select(TICKET_LABELS.column_names)
    return labels, _rejects(unreadable, invalid, duplicates)


def _rejects(*frames: pl.DataFrame) -> pl.DataFrame:
    columns = TICKET_LABELS_QUARANTINE.column_names
    return pl.concat([f.select(columns) for f in frames]).sort("source_file", "source_line")


def review_labels(
    decisions: pl.DataFrame, tickets: pl.DataFrame, file_labels: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(labels from reviewers' corrections, corrections of unknown tickets with a reason).

    The latest decision that corrects something, per (ticket_id, created_date), counts. A decision
    without a day applies only to an id that is on one day (as in routing.sql): another day's ticket
    with that id may be another customer's. Fields it does not correct keep the file label's value,
    or stay null (not scored)."""
    corrected = decisions.filter(pl.any_horizontal(pl.col(CORRECTIONS).is_not_null()))
    group = ["ticket_id", "created_date"]
    latest = corrected.sort("decided_at", "source_file", "source_line").group_by(group, maintain_order=True).last()
    latest = latest.with_columns(
        source_file=pl.format("reviews/{}", "source_file"), decision_day=pl.col("created_date")
    ).drop("created_date")
    ticket_columns = [*TICKET_FIELDS, "created_date"]
    days_of_id = tickets.group_by("ticket_id").agg(days_of_id=pl.len())
    matched = (
        latest.join(tickets.select(ticket_columns), on="ticket_id", how="inner")
        .join(days_of_id, on="ticket_id", how="left")
        .filter(
            (pl.col("decision_day") == pl.col("created_date"))
            | (pl.col("decision_day").is_null() & (pl.col("days_of_id") == 1))
        )
        .drop("days_of_id")
    )
    unknown = latest.join(matched.select("source_file", "source_line"), on=["source_file", "source_line"], how="anti")
    # A dated correction beats an undated one of the same ticket.
    matched = matched.sort(pl.col("decision_day").is_not_null(), "decided_at").unique(_KEY, keep="last")
    unknown = unknown.with_columns(
        reason=pl.when(pl.col("decision_day").is_null() & pl.col("ticket_id").is_in(days_of_id["ticket_id"]))
        .then(
            pl.format(
                "undated reviewer correction of ticket {}, an id on several days: add its created_date", "ticket_id"
            )
        )
        .otherwise(
            pl.format(
                "reviewer correction of ticket {} ({}) but no such ticket in raw_tickets",
                "ticket_id",
                pl.col("decision_day").cast(pl.Utf8).fill_null("any day"),
            )
        )
    )
    older = file_labels.select(*_KEY, *LABEL_FIELDS, *OPTIONAL_LABELS)
    labels = (
        matched.join(older, on=_KEY, how="left", suffix="_file")
        .with_columns(
            *(pl.coalesce(name, f"{name}_file").alias(name) for name in CORRECTIONS),
            source=pl.lit("review"),
            labelled_at=pl.col("decided_at"),
        )
        .select(TICKET_LABELS.column_names)
    )
    return labels, unknown.select(TICKET_LABELS_QUARANTINE.column_names)


def build_ticket_labels(
    labels_dir: Path, decisions: pl.DataFrame, tickets: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(ticket_labels, ticket_labels_quarantine): file labels, overridden per ticket by reviewers' corrections."""
    from_files, rejected = read_label_files(labels_dir)
    from_reviews, unknown = review_labels(decisions, tickets, from_files)
    labels = pl.concat([from_files.join(from_reviews.select(_KEY), on=_KEY, how="anti"), from_reviews])
    return labels.sort(_KEY), _rejects(rejected, unknown)
