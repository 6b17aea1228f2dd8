"""Reads and writes of contracted tables (user queries: see `query.py`).

One write replaces the rows of some days (or the whole table) of every table it is given, in one
DuckLake transaction (see `lake.py`): a table and its failure or quarantine sibling change together,
a rerun never doubles rows, and a crash mid-write leaves the previous snapshot as it was. Every frame
is checked against its contract first, so nothing that breaks a table's rules is ever written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from ai_assets.warehouse import catalog
from ai_assets.warehouse.contract import PARTITION_COLUMN, Table
from ai_assets.warehouse.lake import Lake
from ai_assets.warehouse.metadata import markdown_preview


def _validated(frames: Mapping[Table, pl.DataFrame]) -> dict[Table, pl.DataFrame]:
    conformed = {table: table.conform(frame) for table, frame in frames.items()}
    for table, frame in conformed.items():
        table.validate(frame)
    return conformed


def _lake_rows(frame: pl.DataFrame):
    """The frame as Arrow, fixed-size arrays (an embedding) as lists: DuckLake has no ARRAY type."""
    arrays = [pl.col(n).cast(pl.List(d.inner)) for n, d in frame.schema.items() if isinstance(d, pl.Array)]
    return (frame.with_columns(arrays) if arrays else frame).to_arrow()


def _insert(conn: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame) -> None:
    if frame.is_empty():
        return
    conn.register("incoming_rows", _lake_rows(frame))
    try:
        conn.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM incoming_rows")
    finally:
        conn.unregister("incoming_rows")


def _recreate(conn: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame) -> None:
    """The table replaced whole, its columns' types the frame's (an embedding's element type)."""
    conn.register("incoming_rows", _lake_rows(frame))
    try:
        conn.execute(f"CREATE OR REPLACE TABLE {table.name} AS SELECT * FROM incoming_rows")
        catalog.comment(conn, table)  # in the same transaction: no reader sees it without them
    finally:
        conn.unregister("incoming_rows")


def write_tables(lake: Lake, frames: Mapping[Table, pl.DataFrame], days: Sequence[date] | None = None) -> None:
    """Validates every frame against its contract, then replaces `days` of the partitioned tables
    (all rows of the others) by the frames, all in one transaction. A day without rows is emptied,
    so a rerun that finds nothing left for a day clears it."""
    conformed = _validated(frames)
    for table, frame in conformed.items():
        if not table.partitioned:
            continue
        if days is None:
            raise ValueError(f"{table.name} is partitioned: say which days the write replaces")
        stray = sorted({str(day) for day in frame[PARTITION_COLUMN].unique().to_list()} - {str(day) for day in days})
        if stray:
            raise ValueError(
                f"{table.name}: rows of {', '.join(stray)} fall outside the days written ({days[0]}..{days[-1]})"
            )

    def replace(conn: duckdb.DuckDBPyConnection) -> None:
        for table, frame in conformed.items():
            if table.recreated_on_write:
                _recreate(conn, table, frame)
                continue
            if table.partitioned:
                conn.execute(f"DELETE FROM {table.name} WHERE {PARTITION_COLUMN} = ANY(?::DATE[])", [list(days)])
            else:
                conn.execute(f"DELETE FROM {table.name}")
            _insert(conn, table, frame)

    lake.commit(replace)


def upsert(lake: Lake, frames: Mapping[Table, pl.DataFrame]) -> None:
    """Validates every frame against its contract, then replaces the rows with the frames' keys by
    the frames' rows and keeps every other row (a table with a history, appended to), all tables in
    one transaction."""
    conformed = _validated(frames)
    for table in conformed:
        if table.recreated_on_write or table.partitioned or not table.key:
            raise ValueError(f"{table.name}: an upsert needs a keyed, single-file table")

    def merge(conn: duckdb.DuckDBPyConnection) -> None:
        for table, incoming in conformed.items():
            if incoming.is_empty():
                continue
            conn.register("incoming_keys", incoming.select(table.key).to_arrow())
            try:
                same_key = " AND ".join(f'{table.name}."{c}" IS NOT DISTINCT FROM k."{c}"' for c in table.key)
                conn.execute(f"DELETE FROM {table.name} WHERE EXISTS (SELECT 1 FROM incoming_keys k WHERE {same_key})")
            finally:
                conn.unregister("incoming_keys")
            _insert(conn, table, incoming)

    lake.commit(merge)


def materializations(
    frames: Mapping[Table, pl.DataFrame],
    metadata: Mapping[Table, Mapping[str, Any]] | None = None,
    data_versions: Mapping[Table, str] | None = None,
) -> list[dg.MaterializeResult]:
    """One materialisation per table: row count, a preview of its preview columns, `metadata`, and
    the table's data version where one is given (else Dagster's own, from code and inputs)."""
    results = []
    for table, frame in frames.items():
        meta: dict[str, Any] = {"dagster/row_count": frame.height}
        if table.preview:
            meta["preview"] = markdown_preview(frame.select(table.preview), limit=20)
        meta.update((metadata or {}).get(table, {}))
        version = (data_versions or {}).get(table)
        results.append(
            dg.MaterializeResult(
                asset_key=table.name, metadata=meta, data_version=dg.DataVersion(version) if version else None
            )
        )
    return results


def read(conn: duckdb.DuckDBPyConnection, table: Table, days: Sequence[date] | None = None) -> pl.DataFrame:
    """A table's rows (of `days`, for a partitioned one), in the contract's column order."""
    if days is None:
        frame = conn.execute(f"SELECT * FROM {table.name}").pl()
    else:
        frame = conn.execute(f"SELECT * FROM {table.name} WHERE {PARTITION_COLUMN} = ANY(?::DATE[])", [list(days)]).pl()
    return frame.select([c for c in table.column_names if c in frame.columns])


def row_count(conn: duckdb.DuckDBPyConnection, table: Table) -> int:
    return conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
