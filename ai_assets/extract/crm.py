"""Read the CRM export (`landing/crm/customers.csv`) into `customers` rows and rejects.

The export is read row by row by the shared landing reader (`landing.py`), as ticket files are: a
byte-order mark is stripped, and a row that cannot be read (not UTF-8, more cells than the header,
a cell over the field limit) is rejected with its reason while the others load. A missing export or
a header without the contract's columns stops the step saying what to do: the table is rebuilt
whole, and an empty one would quietly strip every ticket of its customer. Every other entry of
landing/crm is one rejected row at line `WHOLE_FILE`.
"""

from __future__ import annotations

from pathlib import Path

import pandera.polars as pa
import polars as pl

from ai_assets.defs.reference.tables import CUSTOMERS, CUSTOMERS_QUARANTINE
from ai_assets.extract.landing import WHOLE_FILE, read_records, value_in_raw
from ai_assets.quality.validate import split_valid

_ROW_SCHEMA = {**{name: pl.Utf8 for name in CUSTOMERS.column_names}, "source_line": pl.Int64}


def _other_entries(path: Path) -> list[dict]:
    """A rejected row for every entry of the export's folder but the export."""
    where = f"landing/{path.parent.name}"
    reason = f"not the CRM export ({where}/{path.name}); nothing else in it is read"
    return [
        {"source_file": f"{path.parent.name}/{entry.name}", "source_line": WHOLE_FILE, "reason": reason}
        for entry in sorted(path.parent.iterdir())
        if entry.name != path.name
    ]


def read_customers(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns (customers, rejected rows with a `reason`); duplicates keep the first row."""
    if not path.is_file():
        raise FileNotFoundError(f"No CRM export at {path}: put customers.csv there, or run `ai-assets sample-data`")
    records = read_records(path, CUSTOMERS.column_names)
    if records and records[0].line == WHOLE_FILE:
        raise ValueError(f"{path}: {records[0].problem}")
    source = f"{path.parent.name}/{path.name}"
    rows = pl.DataFrame(
        [
            {**{name: r.values.get(name) for name in CUSTOMERS.column_names}, "source_line": r.line}
            for r in records
            if r.values is not None and r.problem is None
        ],
        schema=_ROW_SCHEMA,
    )
    unreadable = [
        {"source_line": r.line, "customer_id": value_in_raw(r.raw, "customer_id"), "reason": r.problem}
        for r in records
        if r.problem is not None
    ]
    typed = rows.with_columns(signup_date=pl.col("signup_date").str.to_date(strict=False))
    # Duplicates are resolved below (first row wins), not rejected wholesale by the key.
    valid, rejected = split_valid(typed, CUSTOMERS.row_schema(source_line=pa.Column(pl.Int64)))
    first = valid.filter(pl.col("customer_id").is_first_distinct())
    duplicates = valid.filter(~pl.col("customer_id").is_first_distinct()).with_columns(
        reason=pl.lit("duplicate customer_id: kept the first row")
    )
    in_export = pl.concat(
        [rejected, duplicates, pl.DataFrame(unreadable, schema=CUSTOMERS_QUARANTINE.polars_schema)],
        how="diagonal_relaxed",
    ).with_columns(source_file=pl.lit(source))
    others = pl.DataFrame(_other_entries(path), schema=CUSTOMERS_QUARANTINE.polars_schema)
    rejects = pl.concat([in_export.select(CUSTOMERS_QUARANTINE.column_names), others])
    return first.drop("source_line"), rejects.sort("source_file", "source_line")
