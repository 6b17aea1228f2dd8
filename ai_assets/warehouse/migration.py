"""From the warehouse of earlier versions to the lake.

Earlier versions kept `warehouse.duckdb` beside the data: first a DuckDB file holding every table,
later a file of views over Parquet files under the storage root. The first step that starts on
either copies every contracted table's rows into the lake in one transaction, keeps the old file as
`warehouse.duckdb.before-ducklake`, and logs what it moved. Rows are kept as they are (an old row
may break a newer rule): a migration loses nothing. The marts are not copied: the next dbt build
writes them from the tables. The old Parquet files stay where they were, unread, for the user to
delete.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from ai_assets.warehouse.contract import Table
from ai_assets.warehouse.lake import Lake, sql_literal

log = logging.getLogger(__name__)


def backup_path(legacy: Path) -> Path:
    return legacy.with_name(legacy.name + ".before-ducklake")


def _with_contract_columns(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """Rows an older version wrote, with the columns the contract gained since (null), in its order."""
    missing = [pl.lit(None, dtype).alias(n) for n, dtype in table.polars_schema.items() if n not in frame.columns]
    return frame.with_columns(missing).select(table.column_names)


def _legacy_rows(legacy: Path, lake: Lake, tables: Sequence[Table]) -> dict[Table, pl.DataFrame]:
    with lake.connect(read_only=True) as conn:  # its views may read s3://: the lake's session can
        conn.execute(f"ATTACH {sql_literal(str(legacy))} AS legacy (READ_ONLY)")
        present = {
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'legacy'"
            ).fetchall()
        }
        return {
            table: _with_contract_columns(table, conn.execute(f"SELECT * FROM legacy.main.{table.name}").pl())
            for table in tables
            if table.name in present
        }


def migrate_legacy(legacy: Path, lake: Lake, tables: Sequence[Table]) -> dict[str, int]:
    """Copies the tables of an earlier version's warehouse into the lake; returns rows per table."""
    frames = _legacy_rows(legacy, lake, tables)
    skipped: list[str] = []

    def copy(conn: duckdb.DuckDBPyConnection) -> None:
        for table, frame in frames.items():
            # A lake that already holds rows (another machine sharing it converted its own old
            # warehouse, then wrote new days) is never replaced by this machine's older copy.
            if conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]:
                skipped.append(table.name)
                continue
            if frame.height:
                conn.register("legacy_rows", frame.to_arrow())
                conn.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM legacy_rows")
                conn.unregister("legacy_rows")

    lake.commit(copy)
    os.replace(legacy, backup_path(legacy))
    legacy.with_name(legacy.name + ".views.json").unlink(missing_ok=True)
    moved = {table.name: frame.height for table, frame in frames.items() if table.name not in skipped}
    if skipped:
        log.warning("Not copied, the lake already holds their rows: %s", ", ".join(skipped))
    log.warning(
        "Converted the warehouse of an earlier version into the lake (%s): %s. The old file is kept as %s; "
        "Parquet files it read, if any, are no longer used",
        lake.describe(),
        ", ".join(f"{name}: {rows} rows" for name, rows in moved.items()) or "no tables",
        backup_path(legacy),
    )
    return moved
