"""Parse landing files into ticket candidates, keeping every record that cannot be parsed.

Each physical record of a landing file becomes exactly one `ParsedRecord`: either with its
typed fields, or with the reason it could not be read (wrong encoding, malformed JSON, a field
of the wrong type, an unreadable timestamp). Value rules (allowed channels, non-blank text, the
partition day) are the pandera schema's job, downstream.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TICKET_FIELDS = ("ticket_id", "customer_id", "created_at", "channel", "subject", "body")
TICKET_FILE_SUFFIXES = (".jsonl", ".csv")


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
        try:
            value = json.loads(self.raw_record).get("ticket_id")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 to a naive UTC timestamp (the warehouse stores UTC; no offset means UTC)."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


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


def _record(source: str, line: int, raw: str, record: Any) -> ParsedRecord:
    if not isinstance(record, dict):
        return ParsedRecord(source, line, raw, None, f"expected a JSON object, got {type(record).__name__}")
    fields, problem = _typed_fields(record)
    return ParsedRecord(source, line, raw, fields, problem)


def _not_utf8(error: UnicodeDecodeError) -> str:
    return (
        f"not valid UTF-8 (byte 0x{error.object[error.start]:02x} at offset {error.start}); re-export the file as UTF-8"
    )


def parse_jsonl(path: Path, source: str) -> list[ParsedRecord]:
    records = []
    # Decoded line by line, so one badly encoded line costs only that line.
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as error:
            records.append(
                ParsedRecord(source, number, line.decode("utf-8", "backslashreplace"), None, _not_utf8(error))
            )
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            records.append(
                ParsedRecord(source, number, text, None, f"malformed JSON: {error.msg} at column {error.colno}")
            )
            continue
        records.append(_record(source, number, text, record))
    return records


def parse_csv(path: Path, source: str) -> list[ParsedRecord]:
    data = path.read_bytes()
    try:
        text, encoding_problem = data.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        text, encoding_problem = data.decode("utf-8", "backslashreplace"), _not_utf8(error)
    records = []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for row in reader:
        raw = json.dumps(row, ensure_ascii=False)
        extra = row.pop(None, None)
        if encoding_problem or extra:
            reason = encoding_problem or f"CSV row has {len(extra)} more fields than the header"
            records.append(ParsedRecord(source, reader.line_num, raw, None, reason))
            continue
        # csv gives "" for an empty cell: the same as a missing value in JSON.
        records.append(_record(source, reader.line_num, raw, {k: (v if v != "" else None) for k, v in row.items()}))
    return records


def parse_ticket_file(path: Path, source: str) -> list[ParsedRecord]:
    return parse_jsonl(path, source) if path.suffix == ".jsonl" else parse_csv(path, source)


def ticket_files(day_dir: Path) -> list[Path]:
    """The day's landing files, in a stable order (it decides which duplicate is kept)."""
    if not day_dir.is_dir():
        return []
    return sorted(p for p in day_dir.iterdir() if p.suffix in TICKET_FILE_SUFFIXES and p.is_file())
