"""The column rules and notes several tables' contracts share, written once (the contracts are in each
feature's folder: ai_assets/defs/<feature>/tables.py)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ai_assets.quality.vocabulary import LLM_ERROR_TYPES
from ai_assets.warehouse.contract import Table

TICKET_KEY = ("created_date", "ticket_id")


def not_blank() -> pa.Check:
    return pa.Check(
        lambda data: data.lazyframe.select(pl.col(data.key).str.strip_chars().str.len_chars() > 0),
        name="not_blank",
        error="must not be empty or whitespace",
    )


def text_column(**kwargs) -> pa.Column:
    return pa.Column(pl.Utf8, **kwargs)


def one_of(values: tuple, **kwargs) -> pa.Column:
    return text_column(checks=pa.Check.isin(values), **kwargs)


def count_column() -> pa.Column:
    return pa.Column(pl.Int64, pa.Check.ge(0))


def date_column() -> pa.Column:
    return pa.Column(pl.Date)


def says_why(column: str, fine: tuple[str, ...], name: str, error: str) -> pa.Check:
    """Every row whose `column` is not one of `fine` has a `reason`."""
    return pa.Check(
        lambda data: data.lazyframe.select(pl.col(column).is_in(fine) | pl.col("reason").is_not_null()),
        name=name,
        error=error,
    )


def rejected_row(id_column: str) -> dict[str, pa.Column]:
    """A landing row rejected with the reason: its file and line (0: the whole file) and its id if readable."""
    return {
        "source_file": text_column(),
        "source_line": pa.Column(pl.Int64),
        id_column: text_column(nullable=True),
        "reason": text_column(checks=not_blank()),
    }


LINEAGE_COLUMNS = {
    "model": text_column(),
    "prompt_version": text_column(),
    "input_hash": text_column(),
    "prompt_tokens": count_column(),
    "completion_tokens": count_column(),
    "cost_usd": pa.Column(pl.Float64, pa.Check.ge(0)),
    "cache_hit": pa.Column(pl.Boolean),
}


LINEAGE_NOTES = {
    "model": "the model that answered",
    "prompt_version": "`<prompt>@<hash>` of the prompt, output schema and sampling parameters",
    "input_hash": "hash of the rendered input: same hash, same question",
    "prompt_tokens": "tokens of the prompt, as the provider counted them",
    "completion_tokens": "tokens of the answer, as the provider counted them",
    "cost_usd": "the call's cost at the model's prices (AI_ASSETS_PRICE_*)",
    "cache_hit": "answered from the response cache: no call, no cost in this run",
}


# What a table with one LLM answer per row adds to its key and answer: lineage, latency, truncation.
ANSWER_COLUMNS = {
    **LINEAGE_COLUMNS,
    "latency_ms": pa.Column(pl.Float64),
    "input_truncated": pa.Column(pl.Boolean),
}


def answer_notes(row: str) -> dict[str, str]:
    """The notes of ANSWER_COLUMNS, for a table whose input is a `row` (e.g. "ticket")."""
    return {
        **LINEAGE_NOTES,
        "latency_ms": "the call's latency (0 when answered from the cache)",
        "input_truncated": f"the {row} was cut to AI_ASSETS_MAX_INPUT_CHARS",
    }


# What an LLM step's failures table adds to its key: why the answer failed, and what was asked.
FAILURE_COLUMNS = {
    "error_type": one_of(LLM_ERROR_TYPES),
    "reason": text_column(checks=not_blank()),
    "raw_output": text_column(nullable=True),
    "model": text_column(),
    "prompt_version": text_column(),
    "input_hash": text_column(),
    "input_truncated": pa.Column(pl.Boolean),
}


def failure_notes(row: str) -> dict[str, str]:
    return {
        **LINEAGE_NOTES,
        "error_type": "what failed, after the engine's retries and re-asks",
        "reason": "why it failed",
        "raw_output": "the model's last answer, when there was one",
        "model": "the model that failed to answer",
        "input_truncated": answer_notes(row)["input_truncated"],
    }


# The notes of columns several tables share, worded once.
TICKET_NOTES = {
    "ticket_id": "the ticket's id: unique within its created_date",
    "created_date": "the UTC day of the ticket's created_at: with ticket_id, the ticket",
    "customer_id": "who wrote the ticket: the CRM's customer id (customers)",
    "created_at": "UTC",
    "channel": "where the customer wrote from",
    "subject": "the ticket's subject line",
    "body": "the customer's message",
}


# Where a record of a landing file was read.
LANDING_NOTES = {
    "source_file": "the landing file it was read from, relative to landing/",
    "source_line": "its line in the file, from 1 (a CSV record on several lines: its last)",
}


REJECT_NOTES = {
    **LANDING_NOTES,
    "source_line": "the record's line in the file; 0: the file as a whole (not read)",
    "reason": "why it was not loaded",
}


# What a reviewer's decision record ends with: who, when, where it was read, and whether it still holds.
DECISION_COLUMNS = {
    "reviewer": text_column(checks=not_blank()),
    "decided_at": pa.Column(pl.Datetime("us")),
    "source_file": text_column(),
    "source_line": pa.Column(pl.Int64),
    "is_latest": pa.Column(pl.Boolean),
}


DECISION_NOTES = {
    "reviewer": "who decided",
    "decided_at": "UTC: the record's, else its file's modification time",
}


NULL_WITHOUT_TRIAGE = "the triage's; null: triage failed"


def rejected_notes(id_column: str) -> dict[str, str]:
    return {**REJECT_NOTES, id_column: f"the record's {id_column}, when it could be read"}


def file_quarantine(name: str, description: str, id_column: str, source_file: str | None = None, **options) -> Table:
    """The rejects of a landing folder read whole (not by day): one row per record or file not loaded,
    with its reason; `source_file` says which files the folder holds."""
    notes = rejected_notes(id_column) | ({"source_file": source_file} if source_file else {})
    return Table(name, description, rejected_row(id_column), key=("source_file", "source_line"), notes=notes, **options)


def day_quarantine(name: str, description: str, id_column: str, notes: dict[str, str]) -> Table:
    """The rejects of a daily landing source: one row per record not loaded, with its reason."""
    return Table(
        name,
        description,
        {"created_date": date_column(), **rejected_row(id_column), "raw_record": text_column()},
        key=("created_date", "source_file", "source_line"),
        pii=True,
        partitioned=True,
        preview=("source_file", "source_line", id_column, "reason"),
        notes={
            **rejected_notes(id_column),
            "raw_record": "the record as read (a CSV row as a JSON object); empty for a whole file",
            **notes,
        },
    )
