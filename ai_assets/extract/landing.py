"""Parse landing files into records, keeping every record that cannot be read, with the reason.

Two layers. The generic one reads a JSONL or CSV file into `LandingRecord`s, one per physical
record: its values, or why they cannot be read (not UTF-8, malformed JSON, not an object, more
CSV fields than the header); tickets and reviewer decisions share it. The ticket layer types the
ticket contract's fields into `ParsedRecord`s (a field of the wrong type, an unreadable
timestamp). Value rules (allowed channels, non-blank text, the partition day) are the pandera
schema's job, downstream.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TICKET_FIELDS = ("ticket_id", "customer_id", "created_at", "channel", "subject", "body")
LANDING_FILE_SUFFIXES = (".jsonl", ".csv")

# What a byte that is not UTF-8 becomes when decoded with errors="surrogateescape".
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class LandingRecord:
    """One physical record of a landing file: where it is, its text, and its values or the problem."""

    line: int
    raw: str
    values: dict[str, Any] | None  # a JSON object, or a CSV row by header ("" cells as None)
    problem: str | None = None


@dataclass(frozen=True)
class ParsedRecord:
    source_file: str
    source_line: int
    raw_record: str
    fields: dict[str, Any] | None
    reason: str | None = None

    @property
    def ticket_id(self) -> str | None:
        """Best effort, so a quarantined record can still be found by its id."""
        if self.fields and isinstance(self.fields.get("ticket_id"), str):
            return self.fields["ticket_id"]
        return value_in_raw(self.raw_record, "ticket_id")


def value_in_raw(raw: str, name: str) -> str | None:
    """A text or integer field of a record as read, even an unreadable one: best effort, so a
    quarantined record can still be found by its id."""
    try:
        value = json.loads(raw).get(name)
    except (ValueError, AttributeError):
        return None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 to a naive UTC timestamp (the warehouse stores UTC; no offset means UTC)."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


# --- generic: a file into records -------------------------------------------------------------


def _not_utf8(error: UnicodeDecodeError) -> str:
    return (
        f"not valid UTF-8 (byte 0x{error.object[error.start]:02x} at offset {error.start}); re-export the file as UTF-8"
    )


def _utf8_problem(text: str) -> str:
    """Why `text` (decoded with surrogateescape) is not UTF-8: the first bad byte and its offset."""
    try:
        text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeDecodeError as error:
        return _not_utf8(error)
    raise ValueError("the text is valid UTF-8")


def _printable(text: str) -> str:
    """Undecodable bytes (held as surrogates) as `\\xNN`, so the text can be stored and shown."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _object(line: int, raw: str, value: Any) -> LandingRecord:
    if not isinstance(value, dict):
        return LandingRecord(line, raw, None, f"expected a JSON object, got {type(value).__name__}")
    return LandingRecord(line, raw, value)


def read_jsonl_records(path: Path) -> list[LandingRecord]:
    """One record per non-blank line of a JSONL file."""
    records = []
    # Decoded line by line, so one badly encoded line costs only that line.
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as error:
            records.append(LandingRecord(number, line.decode("utf-8", "backslashreplace"), None, _not_utf8(error)))
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            records.append(LandingRecord(number, text, None, f"malformed JSON: {error.msg} at column {error.colno}"))
            continue
        records.append(_object(number, text, value))
    return records


def _csv_rows(text: str) -> Iterator[tuple[int, list[str], str, str | None]]:
    """(last line number, fields, raw text, problem) per non-blank CSV record; a record may span lines."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    reader = csv.reader(lines())
    while True:
        try:
            fields, problem = next(reader), None
        except StopIteration:
            return
        except csv.Error as error:  # e.g. a field over csv's size limit: that record only, the reader goes on
            fields, problem = [], f"unreadable CSV record: {error}"
        raw = "".join(consumed)
        consumed.clear()
        if fields or problem:
            yield reader.line_num, fields, raw, problem


def read_csv_records(path: Path) -> list[LandingRecord]:
    """One record per data row of a CSV file with a header; a badly encoded row costs only itself."""
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    # surrogateescape keeps a bad byte as a marker in the text, so it is found in its own row only.
    rows = _csv_rows(data.decode("utf-8", "surrogateescape"))
    _, header, header_raw, header_problem = next(rows, (0, [], "", None))
    if header_problem:
        header_problem = f"the header is an {header_problem}"
    elif _UNDECODABLE.search(header_raw):
        header_problem = f"the header is {_utf8_problem(header_raw)}"
        header = [_printable(name) for name in header]
    records = []
    for number, fields, raw, unreadable in rows:
        bad_bytes = _UNDECODABLE.search(raw) is not None
        if bad_bytes:
            fields = [_printable(f) for f in fields]
        values: dict[Any, Any] = {name: None for name in header} | dict(zip(header, fields))
        if len(fields) > len(header):
            values[None] = fields[len(header) :]
        # The record as read, as JSON (its ticket_id can still be found in quarantine), or as text if unreadable.
        shown = _printable(raw) if unreadable else json.dumps(values, ensure_ascii=False)
        if unreadable:
            problem = unreadable
        elif bad_bytes:
            problem = _utf8_problem(raw)
        elif header_problem:
            problem = header_problem
        elif len(fields) > len(header):
            problem = f"CSV row has {len(fields) - len(header)} more fields than the header"
        else:
            # csv gives "" for an empty cell: the same as a missing value in JSON.
            records.append(LandingRecord(number, shown, {k: (v if v != "" else None) for k, v in values.items()}))
            continue
        records.append(LandingRecord(number, shown, None, problem))
    return records


def read_records(path: Path) -> list[LandingRecord]:
    """The records of a `.jsonl` or `.csv` landing file."""
    return read_jsonl_records(path) if path.suffix == ".jsonl" else read_csv_records(path)


def landing_files(directory: Path) -> list[Path]:
    """The JSONL and CSV files of a landing folder, in a stable order (it decides which duplicate is kept)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in LANDING_FILE_SUFFIXES and p.is_file())


# --- tickets: records into typed ticket fields ------------------------------------------------


def _typed_fields(record: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Keep the contract's fields (unknown ones are ignored) and check their types."""
    problems = [
        f"{name} must be a string, got {type(record[name]).__name__} {json.dumps(record[name])[:40]}"
        for name in TICKET_FIELDS
        if record.get(name) is not None and not isinstance(record[name], str)
    ]
    if problems:
        return None, "; ".join(problems)
    fields = {name: record.get(name) for name in TICKET_FIELDS}
    if fields["created_at"] is not None:
        try:
            fields["created_at"] = parse_timestamp(fields["created_at"])
        except ValueError:
            return None, f"created_at {fields['created_at'][:40]!r} is not an ISO 8601 timestamp"
    return fields, None


def _ticket(source: str, record: LandingRecord) -> ParsedRecord:
    if record.problem is not None:
        return ParsedRecord(source, record.line, record.raw, None, record.problem)
    fields, problem = _typed_fields(record.values or {})
    return ParsedRecord(source, record.line, record.raw, fields, problem)


def parse_jsonl(path: Path, source: str) -> list[ParsedRecord]:
    return [_ticket(source, r) for r in read_jsonl_records(path)]


def parse_csv(path: Path, source: str) -> list[ParsedRecord]:
    return [_ticket(source, r) for r in read_csv_records(path)]


def parse_ticket_file(path: Path, source: str) -> list[ParsedRecord]:
    return [_ticket(source, r) for r in read_records(path)]


def ticket_files(day_dir: Path) -> list[Path]:
    """The day's landing files, in a stable order (it decides which duplicate is kept)."""
    return landing_files(day_dir)
