"""One day of a declared landing source (components/landing_table.py) into its table and quarantine.

`landing/<folder>/<YYYY-MM-DD>/*.jsonl|*.csv` (gzip too): each record is typed by the declared
fields (a pydantic model: unknown fields are ignored, an empty value is null), checked against the
table's contract, and de-duplicated by the key (the first copy by file name and line wins). Every
record read ends up in exactly one of the two frames, as with tickets and orders: anything that is
not a valid first copy is a quarantine row with the reason, and so is every file not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl
from pydantic import BaseModel, ValidationError

from ai_assets.extract.landing import WHOLE_FILE, read_records, scan_folder, value_in_raw
from ai_assets.quality.validate import split_valid
from ai_assets.warehouse.contract import PARTITION_COLUMN, Table


@dataclass(frozen=True)
class DeclaredDay:
    rows: pl.DataFrame
    quarantine: pl.DataFrame
    files: int
    records: int
    duplicates: int


def _typed(model: type[BaseModel], values: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The record's declared fields, typed, or every reason they cannot be."""
    cleaned = {name: value.strip() or None if isinstance(value, str) else value for name, value in values.items()}
    try:
        return model.model_validate(cleaned).model_dump(), None
    except ValidationError as error:
        return None, "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in error.errors())


def read_declared_day(
    landing_dir: Path, folder: str, day: date, model: type[BaseModel], table: Table, quarantine: Table
) -> DeclaredDay:
    key = [c for c in table.key if c != PARTITION_COLUMN]
    required = [name for name, field in model.model_fields.items() if field.is_required()]
    scanned = scan_folder(landing_dir / folder / day.isoformat())
    candidates, rejected = [], []
    for path in scanned.files:
        source = path.relative_to(landing_dir).as_posix()
        for record in read_records(path, required):
            fields, problem = (None, record.problem) if record.problem else _typed(model, record.values or {})
            where = {"source_file": source, "source_line": record.line, "raw_record": record.raw}
            if problem:
                identity = value_in_raw(record.raw, key[0]) or (record.values or {}).get(key[0])
                rejected.append({**where, key[0]: None if identity is None else str(identity), "reason": problem})
            else:
                candidates.append({**fields, **where, PARTITION_COLUMN: day})
    for skipped in scanned.skipped:
        rejected.append(
            {
                "source_file": skipped.path.relative_to(landing_dir).as_posix(),
                "source_line": WHOLE_FILE,
                "raw_record": "",
                key[0]: None,
                "reason": skipped.reason,
            }
        )
    frame = pl.DataFrame(candidates, schema={**table.polars_schema, "raw_record": pl.Utf8})
    valid, invalid = split_valid(frame, table.row_schema(raw_record=pa.Column(pl.Utf8)))
    ranked = valid.sort(*key, "source_file", "source_line").with_columns(
        kept_at=pl.format("{}:{}", "source_file", "source_line").first().over(key),
        is_kept=pl.struct(key).is_first_distinct(),
    )
    duplicates = ranked.filter(~pl.col("is_kept")).with_columns(
        reason=pl.format(f"duplicate {'/'.join(key)} in the day's files: kept the copy at {{}}", "kept_at")
    )
    rejects = [
        pl.DataFrame(rejected, schema=quarantine.polars_schema).with_columns(pl.lit(day).alias(PARTITION_COLUMN)),
        *(f.with_columns(pl.col(key[0]).cast(pl.Utf8)) for f in (invalid, duplicates)),
    ]
    return DeclaredDay(
        rows=ranked.filter(pl.col("is_kept")).select(table.column_names).sort(key),
        quarantine=pl.concat([f.select(quarantine.column_names) for f in rejects]).sort("source_file", "source_line"),
        files=len(scanned.files),
        records=len(candidates) + len(rejected),
        duplicates=duplicates.height,
    )
