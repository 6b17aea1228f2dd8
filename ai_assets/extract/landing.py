"""Parse landing files into records, keeping every record that cannot be read, with the reason.

Three layers. The folder layer says which files of a landing folder are read (`RECORD_FILES`:
`.jsonl` or `.csv`, optionally gzip-compressed, in any letter case) and why every other entry is
not (an unsupported extension, a broken symbolic link, a subfolder, a pipe). The file layer reads
a JSONL or CSV file into `LandingRecord`s, one per physical record: its values, or why they cannot
be read (not UTF-8, malformed or too deeply nested JSON, not an object, more CSV fields than the
header, a CSV cell over the field limit, any other error while reading that record); a file that
cannot be read at all (a broken gzip, a CSV header without the required columns) is one record at
line `WHOLE_FILE` with the reason. Tickets, reviewer decisions and the CRM export share it. The
ticket layer types the ticket contract's fields into `ParsedRecord`s (a field of the wrong type, an
unreadable timestamp). Value rules (allowed channels, non-blank text, the partition day) are the
pandera schema's job, downstream.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import sys
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TICKET_FIELDS = ("ticket_id", "customer_id", "created_at", "channel", "subject", "body")
# The source_line of a quarantine row that stands for a whole file (not read, or unreadable).
WHOLE_FILE = 0
# csv's default field limit: a longer cell quarantines its record. The module's own limit is lifted
# while reading, so that such a cell ends where its record ends instead of splitting it in two.
CSV_FIELD_LIMIT = 131_072

_BOM = b"\xef\xbb\xbf"
# What a byte that is not UTF-8 becomes when decoded with errors="surrogateescape".
_UNDECODABLE = re.compile("[\udc80-\udcff]")
# csv.field_size_limit is process-wide: one reader at a time lifts and restores it.
_CSV_LIMIT = threading.Lock()


@dataclass(frozen=True)
class FileRule:
    """Which files of a landing folder a reader reads: by extension, in any letter case."""

    suffixes: tuple[str, ...]
    gzip: bool  # also `<name><suffix>.gz`, decompressed on reading
    expected: str  # the rule in words, for the reason a file is not read

    def suffix(self, path: Path) -> str | None:
        """The file's format suffix (`.jsonl`, ...) if the rule reads it, else None."""
        suffixes = [s.lower() for s in path.suffixes]
        if self.gzip and suffixes[-1:] == [".gz"]:
            suffixes.pop()
        return suffixes[-1] if suffixes and suffixes[-1] in self.suffixes else None

    def problem(self, entry: Path) -> str | None:
        """Why `entry` of a landing folder is not read, or None if it is."""
        if entry.is_symlink() and not entry.exists():
            return f"a broken symbolic link (to {os.readlink(entry)}); nothing to read"
        if entry.is_dir():
            return "a folder; only the files directly in the landing folder are read"
        if not entry.is_file():
            return "not a regular file (a pipe, socket or device); nothing to read"
        if self.suffix(entry) is None:
            compressed = len(entry.suffixes) > 1 and entry.suffix.lower() == ".gz"
            extension = "".join(entry.suffixes[-2:]) if compressed else entry.suffix
            return f"{f'unsupported extension {extension}' if extension else 'no extension'}; {self.expected}"
        return None


# The landing files of tickets and reviewer decisions.
RECORD_FILES = FileRule(
    (".jsonl", ".csv"),
    gzip=True,
    expected="landing files are .jsonl or .csv, optionally gzip-compressed (.jsonl.gz, .csv.gz), in any letter case",
)


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str


@dataclass(frozen=True)
class LandingFolder:
    """The entries of a landing folder: the files to read, in name order (it decides which copy of
    a duplicate is kept), and every other entry with the reason it is not read."""

    files: list[Path]
    skipped: list[SkippedFile]


def scan_folder(directory: Path, rule: FileRule = RECORD_FILES) -> LandingFolder:
    if not directory.is_dir():
        return LandingFolder([], [])
    files, skipped = [], []
    for entry in sorted(directory.iterdir()):
        problem = rule.problem(entry)
        if problem is None:
            files.append(entry)
        else:
            skipped.append(SkippedFile(entry, problem))
    return LandingFolder(files, skipped)


def landing_files(directory: Path) -> list[Path]:
    """The files of a landing folder that are read, in name order."""
    return scan_folder(directory).files


@dataclass(frozen=True)
class LandingRecord:
    """One physical record of a landing file: where it is, its text, and its values or the problem."""

    line: int  # WHOLE_FILE for a file that cannot be read at all
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
    except Exception:  # an unreadable record has no id, whatever the reason
        return None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 to a naive UTC timestamp (the warehouse stores UTC; no offset means UTC)."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


def unreadable(error: Exception) -> str:
    """The reason for a record that raised `error` while it was read."""
    if isinstance(error, RecursionError):
        return "nested too deeply to read (RecursionError)"
    return f"unreadable ({type(error).__name__}: {str(error)[:200]})"


# --- generic: a file into records -------------------------------------------------------------


def not_utf8(error: UnicodeDecodeError) -> str:
    return (
        f"not valid UTF-8 (byte 0x{error.object[error.start]:02x} at offset {error.start}); re-export the file as UTF-8"
    )


def _utf8_problem(text: str) -> str:
    """Why `text` (decoded with surrogateescape) is not UTF-8: the first bad byte and its offset."""
    try:
        text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeDecodeError as error:
        return not_utf8(error)
    raise ValueError("the text is valid UTF-8")


def _printable(text: str) -> str:
    """Undecodable bytes (held as surrogates) as `\\xNN`, so the text can be stored and shown."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _jsonl_record(number: int, line: bytes) -> LandingRecord:
    try:
        text = line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as error:
        return LandingRecord(number, line.decode("utf-8", "backslashreplace"), None, not_utf8(error))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return LandingRecord(number, text, None, f"malformed JSON: {error.msg} at column {error.colno}")
    except Exception as error:  # e.g. RecursionError: whatever breaks one record costs that record only
        return LandingRecord(number, text, None, f"JSON {unreadable(error)}")
    if not isinstance(value, dict):
        return LandingRecord(number, text, None, f"expected a JSON object, got {type(value).__name__}")
    return LandingRecord(number, text, value)


def read_jsonl(data: bytes) -> list[LandingRecord]:
    """One record per non-blank line of a JSONL file, decoded line by line, so one badly encoded
    line costs only that line."""
    # A byte-order mark starts the file, or a line where another file was appended to it.
    lines = (line.removeprefix(_BOM) for line in data.split(b"\n"))
    return [_jsonl_record(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


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
        except csv.Error as error:  # that record only, the reader goes on
            fields, problem = [], f"unreadable CSV record: {error}"
        raw = "".join(consumed)
        consumed.clear()
        if fields or problem:
            yield reader.line_num, fields, raw, problem


def _never_closed(raw: str) -> bool:
    """Whether the record ends the file inside a quoted field (csv then reads the rest of the file as
    that field, swallowing the records after it)."""
    try:
        list(csv.reader(io.StringIO(raw, newline=""), strict=True))
    except csv.Error as error:
        return "unexpected end of data" in str(error)
    return False


def _all_csv_rows(text: str) -> list[tuple[int, list[str], str, str | None]]:
    with _CSV_LIMIT:
        previous = csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        try:
            rows = list(_csv_rows(text))
        finally:
            csv.field_size_limit(previous)
    if rows and "\n" in rows[-1][2].rstrip("\r\n") and _never_closed(rows[-1][2]):
        line, _, raw, _ = rows[-1]
        rows[-1] = (line, [], raw, "unreadable CSV record: a quoted field is never closed, so it runs to the end")
    return rows


def _header_problem(header: list[str], columns: Sequence[str], rows: int) -> str | None:
    missing = [c for c in columns if c not in header]
    twice = sorted({c for c in columns if header.count(c) > 1})
    if not missing and not twice:
        return None
    detail = f" (missing {', '.join(missing)})" if len(missing) < len(columns) else ""
    detail += f" (named twice: {', '.join(twice)})" if twice else ""
    got = ", ".join(header) or "nothing"
    return (
        f"header missing or unrecognised: expected columns {', '.join(columns)}, got {got[:300]}{detail}; "
        f"the file is not read ({rows} row{'s' * (rows != 1)} after the header)"
    )


def _csv_record(line: int, header: list[str], fields: list[str], raw: str, problem: str | None) -> LandingRecord:
    if problem:
        return LandingRecord(line, _printable(raw), None, problem)
    bad_bytes = _UNDECODABLE.search(raw) is not None
    if bad_bytes:
        fields = [_printable(f) for f in fields]
    values: dict[Any, Any] = {name: None for name in header} | dict(zip(header, fields))
    if len(fields) > len(header):
        values[None] = fields[len(header) :]
    # The record as read, as JSON: its ticket_id can still be found in quarantine.
    shown = json.dumps(values, ensure_ascii=False)
    longest = max(range(len(fields)), key=lambda i: len(fields[i]), default=None)
    if bad_bytes:
        problem = _utf8_problem(raw)
    elif longest is not None and len(fields[longest]) > CSV_FIELD_LIMIT:
        name = header[longest] if longest < len(header) else f"field {longest + 1}"
        problem = (
            f"unreadable CSV record: field larger than field limit ({CSV_FIELD_LIMIT}): "
            f"{name} has {len(fields[longest])} characters"
        )
    elif len(fields) > len(header):
        problem = f"CSV row has {len(fields) - len(header)} more fields than the header"
    else:
        # csv gives "" for an empty cell: the same as a missing value in JSON.
        return LandingRecord(line, shown, {k: (v if v != "" else None) for k, v in values.items()})
    return LandingRecord(line, shown, None, problem)


def read_csv(data: bytes, columns: Sequence[str] = ()) -> list[LandingRecord]:
    """One record per data row of a CSV file whose header names `columns` (and maybe others, which
    are ignored); a header without them makes the file one unreadable record."""
    # surrogateescape keeps a bad byte as a marker in the text, so it is found in its own row only.
    rows = _all_csv_rows(data.removeprefix(_BOM).decode("utf-8", "surrogateescape"))
    if not rows:
        return []
    (_, header_fields, header_raw, header_error), *rows = rows
    header = [_printable(name) for name in header_fields]
    problem = header_error or _header_problem(header, columns, len(rows))
    if problem:
        return [LandingRecord(WHOLE_FILE, _printable(header_raw).rstrip("\r\n"), None, problem)]
    records = []
    for line, fields, raw, unreadable_row in rows:
        try:
            records.append(_csv_record(line, header, fields, raw, unreadable_row))
        except Exception as error:  # whatever breaks one record costs that record only
            records.append(LandingRecord(line, _printable(raw), None, f"CSV record {unreadable(error)}"))
    return records


def read_records(path: Path, columns: Sequence[str] = ()) -> list[LandingRecord]:
    """The records of a landing file (see `RECORD_FILES`); `columns` are the ones a CSV header must name.
    A file that cannot be read at all is one record at line WHOLE_FILE with the reason."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return [LandingRecord(WHOLE_FILE, "", None, f"cannot be read: {error.strerror or error}")]
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            return [LandingRecord(WHOLE_FILE, "", None, f"cannot be read as gzip: {error}")]
    try:
        return read_jsonl(data) if RECORD_FILES.suffix(path) == ".jsonl" else read_csv(data, columns)
    except Exception as error:  # a bug or a resource limit: the file is quarantined, the day goes on
        return [LandingRecord(WHOLE_FILE, "", None, f"file {unreadable(error)}")]


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


def parse_ticket_record(source: str, record: LandingRecord) -> ParsedRecord:
    """The ticket contract's fields of a record, typed, or the reason they cannot be."""
    if record.problem is not None:
        return ParsedRecord(source, record.line, record.raw, None, record.problem)
    try:
        fields, problem = _typed_fields(record.values or {})
    except Exception as error:  # e.g. a field nested too deeply to show: that record only
        fields, problem = None, f"record {unreadable(error)}"
    return ParsedRecord(source, record.line, record.raw, fields, problem)


def parse_ticket_file(path: Path, source: str) -> list[ParsedRecord]:
    return [parse_ticket_record(source, r) for r in read_records(path, TICKET_FIELDS)]


def parse_jsonl(path: Path, source: str) -> list[ParsedRecord]:
    return [parse_ticket_record(source, r) for r in read_jsonl(path.read_bytes())]


def parse_csv(path: Path, source: str) -> list[ParsedRecord]:
    return [parse_ticket_record(source, r) for r in read_csv(path.read_bytes(), TICKET_FIELDS)]


def ticket_files(day_dir: Path) -> list[Path]:
    """The day's landing files, in a stable order (it decides which duplicate is kept)."""
    return landing_files(day_dir)
