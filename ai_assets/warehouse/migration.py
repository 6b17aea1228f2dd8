"""From the single DuckDB file of earlier versions to Parquet files and a catalog of views.

An earlier version kept every table inside `warehouse.duckdb`. The first step that starts on such a
warehouse copies every contracted table's rows, day by day, into the storage root in one commit,
keeps the old file beside the new catalog as `warehouse.duckdb.before-parquet`, and logs what it
moved. The marts are not copied: the next dbt build writes them from the tables.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from ai_assets.warehouse.contract import PARTITION_COLUMN, Table
from ai_assets.warehouse.storage import Storage, with_contract_columns

log = logging.getLogger(__name__)


def backup_path(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + ".before-parquet")


def migrate_legacy(catalog: Path, storage: Storage, tables: Sequence[Table]) -> dict[str, int]:
    """Copies the tables of a legacy warehouse file into the storage; returns rows per table."""
    files: dict[str, pl.DataFrame] = {}
    moved: dict[str, int] = {}
    with duckdb.connect(str(catalog), read_only=True) as conn:
        base_tables = {
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            ).fetchall()
        }
        for table in tables:
            if table.name not in base_tables:
                continue
            frame = conn.execute(f"SELECT * FROM {table.name}").pl()
            # Rows are kept as they are (an old row may break a newer rule): a migration loses nothing.
            frame = with_contract_columns(table, frame)
            moved[table.name] = frame.height
            if not table.partitioned:
                files[storage.whole_file(table.name)] = frame
                continue
            for (day,), rows in frame.partition_by(PARTITION_COLUMN, as_dict=True).items():
                files[storage.day_file(table, day)] = rows
    storage.commit(files)
    os.replace(catalog, backup_path(catalog))
    log.warning(
        "Converted the warehouse of an earlier version to Parquet under %s (%s); the old file is kept as %s",
        storage.root,
        ", ".join(f"{name}: {rows} rows" for name, rows in moved.items()) or "no tables",
        backup_path(catalog),
    )
    return moved
