"""Turn one day of landing files into `raw_tickets` rows and `raw_tickets_quarantine` rows.

Every record read ends up in exactly one of the two frames: valid and first of its ticket_id in
`tickets`, anything else in `quarantine` with the reason. Every entry of the day folder that is not
read (see `landing.RECORD_FILES`), and every file that cannot be read at all, is one quarantine row
of that day at line `WHOLE_FILE`. Duplicates are resolved deterministically: the copy in the first
file (by name) and the first line wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from ai_assets.defs.landing.tables import RAW_TICKETS, RAW_TICKETS_QUARANTINE, ticket_candidates_schema
from ai_assets.extract.landing import TICKET_FIELDS, WHOLE_FILE, ParsedRecord, parse_ticket_file, scan_folder
from ai_assets.quality.validate import split_valid

# A parsed record: the ticket contract's fields, where it was read, and the record as read.
_CANDIDATE_SCHEMA = {
    **{name: RAW_TICKETS.polars_schema[name] for name in (*TICKET_FIELDS, "source_file", "source_line")},
    "raw_record": pl.Utf8,
}


@dataclass(frozen=True)
class RawTickets:
    tickets: pl.DataFrame
    quarantine: pl.DataFrame
    files: int  # files read
    records: int  # rows of tickets and quarantine together
    duplicates: int
    files_not_read: list[tuple[str, str]]  # (source_file, reason): a whole file in quarantine


def _quarantine_frame(records: list[ParsedRecord], day: date) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "created_date": day,
                "source_file": r.source_file,
                "source_line": r.source_line,
                "ticket_id": None if r.ticket_id is None else str(r.ticket_id),
                "reason": r.reason,
                "raw_record": r.raw_record,
            }
            for r in records
        ],
        schema=RAW_TICKETS_QUARANTINE.polars_schema,
    )


def _as_quarantine(rejected: pl.DataFrame, day: date) -> pl.DataFrame:
    return rejected.with_columns(created_date=pl.lit(day)).select(RAW_TICKETS_QUARANTINE.column_names)


def build_raw_tickets(landing_dir: Path, day: date) -> RawTickets:
    folder = scan_folder(landing_dir / "tickets" / day.isoformat())

    def source(path: Path) -> str:
        return path.relative_to(landing_dir).as_posix()

    parsed = [record for path in folder.files for record in parse_ticket_file(path, source(path))]
    parsed += [ParsedRecord(source(s.path), WHOLE_FILE, "", None, s.reason) for s in folder.skipped]
    unreadable = [r for r in parsed if r.reason is not None]
    candidates = pl.DataFrame(
        [
            {**r.fields, "source_file": r.source_file, "source_line": r.source_line, "raw_record": r.raw_record}
            for r in parsed
            if r.reason is None
        ],
        schema=_CANDIDATE_SCHEMA,
    ).with_columns(created_date=pl.col("created_at").dt.date())

    valid, invalid = split_valid(candidates, ticket_candidates_schema(day))
    ranked = valid.sort("ticket_id", "source_file", "source_line").with_columns(
        kept_at=pl.format("{}:{}", "source_file", "source_line").first().over("ticket_id"),
        is_kept=pl.col("ticket_id").is_first_distinct(),
    )
    duplicates = ranked.filter(~pl.col("is_kept")).with_columns(
        reason=pl.format("duplicate ticket_id: kept the copy at {}", "kept_at")
    )
    tickets = (
        ranked.filter(pl.col("is_kept"))
        .with_columns(body_chars=pl.col("body").str.len_chars().cast(pl.Int64))
        .select(RAW_TICKETS.column_names)
        .sort("created_at", "ticket_id")
    )
    quarantine = pl.concat(
        [_quarantine_frame(unreadable, day), _as_quarantine(invalid, day), _as_quarantine(duplicates, day)]
    ).sort("source_file", "source_line")
    return RawTickets(
        tickets,
        quarantine,
        files=len(folder.files),
        records=len(parsed),
        duplicates=duplicates.height,
        files_not_read=[(r.source_file, r.reason) for r in unreadable if r.source_line == WHOLE_FILE],
    )
