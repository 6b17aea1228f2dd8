"""Read a landing folder that holds one export file (the CRM's customers.csv, the product catalog's
products.csv): its rows as text, and the rows and files that are not read, with the reason.

The export is read row by row by the shared landing reader (`landing.py`), as ticket files are: a
byte-order mark is stripped, and a row that cannot be read (not UTF-8, more cells than the header,
a cell over the field limit) is rejected with its reason while the others load. A header without
the required columns stops the step saying what it got: the table is rebuilt whole, and loading
nothing would quietly empty it. Every other entry of the folder is one rejected row at line
`WHOLE_FILE`. Typing the values and resolving duplicates is each reader's job (crm.py, catalog.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from ai_assets.extract.landing import WHOLE_FILE, read_records, value_in_raw
from ai_assets.warehouse.contract import Table


def other_entries(path: Path, quarantine: Table, export: str) -> pl.DataFrame:
    """A rejected row for every entry of the export's folder but the export (`export` says what it is)."""
    reason = f"not {export} (landing/{path.parent.name}/{path.name}); nothing else in it is read"
    entries = sorted(path.parent.iterdir()) if path.parent.is_dir() else []
    rows = [
        {"source_file": f"{path.parent.name}/{entry.name}", "source_line": WHOLE_FILE, "reason": reason}
        for entry in entries
        if entry.name != path.name
    ]
    return pl.DataFrame(rows, schema=quarantine.polars_schema)


def read_export(
    path: Path, table: Table, quarantine: Table, required: Sequence[str], export: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns (the readable rows: `table`'s columns as text, null where the header lacks one, with
    source_file and source_line; the rejects in `quarantine`'s columns: unreadable rows and the
    folder's other entries). The header must name the `required` columns."""
    records = read_records(path, required)
    if records and records[0].line == WHOLE_FILE:
        raise ValueError(f"{path}: {records[0].problem}")
    source = f"{path.parent.name}/{path.name}"
    (id_column,) = table.key
    rows = pl.DataFrame(
        [
            {**{name: r.values.get(name) for name in table.column_names}, "source_line": r.line}
            for r in records
            if r.values is not None and r.problem is None
        ],
        schema={**{name: pl.Utf8 for name in table.column_names}, "source_line": pl.Int64},
    ).with_columns(source_file=pl.lit(source))
    unreadable = pl.DataFrame(
        [
            {"source_line": r.line, id_column: value_in_raw(r.raw, id_column), "reason": r.problem}
            for r in records
            if r.problem is not None
        ],
        schema=quarantine.polars_schema,
    ).with_columns(source_file=pl.lit(source))
    return rows, pl.concat([unreadable, other_entries(path, quarantine, export)])
