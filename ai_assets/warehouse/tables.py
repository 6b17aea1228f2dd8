"""Reads and writes of contracted tables, and read-only user queries.

One write replaces the rows of some days (or the whole table) of every table it is given, in one
transaction: a table and its failure or quarantine sibling change together, a rerun never doubles
rows, and a crash mid-write leaves the previous rows in place. Every frame is checked against its
contract first, so nothing that breaks a table's rules is ever written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from ai_assets.warehouse.contract import PARTITION_COLUMN, Table, create_missing
from ai_assets.warehouse.locking import warehouse_lock
from ai_assets.warehouse.metadata import markdown_preview


def _replace(conn: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame, days: Sequence[date] | None) -> None:
    conn.register("incoming_frame", frame.to_arrow())
    try:
        if table.recreated_on_write:
            conn.execute(f"CREATE OR REPLACE TABLE {table.name} AS SELECT * FROM incoming_frame")
            return
        table.create(conn)
        if table.partitioned:
            conn.execute(f"DELETE FROM {table.name} WHERE list_contains(?, {PARTITION_COLUMN})", [list(days or [])])
        else:
            conn.execute(f"DELETE FROM {table.name}")
        # BY NAME keeps writes correct when a column was added to the table's contract later.
        conn.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM incoming_frame")
    finally:
        conn.unregister("incoming_frame")


def write_tables(
    conn: duckdb.DuckDBPyConnection, frames: Mapping[Table, pl.DataFrame], days: Sequence[date] | None = None
) -> None:
    """Validates every frame against its contract, then replaces `days` of the partitioned tables
    (all rows of the others) by the frames, all in one transaction."""
    conformed = {table: table.conform(frame) for table, frame in frames.items()}
    for table, frame in conformed.items():
        table.validate(frame)
        if table.partitioned and days is None:
            raise ValueError(f"{table.name} is partitioned: say which days the write replaces")
        if table.partitioned and frame.height:
            stray = frame.filter(~pl.col(PARTITION_COLUMN).is_in(list(days))).height
            if stray:
                raise ValueError(f"{table.name}: {stray} rows fall outside the days written ({days[0]}..{days[-1]})")
    conn.begin()
    try:
        for table, frame in conformed.items():
            _replace(conn, table, frame, days)
        conn.commit()
    except Exception:
        conn.rollback()
        raise


def upsert(conn: duckdb.DuckDBPyConnection, frames: Mapping[Table, pl.DataFrame]) -> None:
    """Validates every frame against its contract, then replaces the rows with the frames' keys by
    the frames' rows and keeps every other row (a table with a history, appended to), all tables in
    one transaction."""
    conformed = {table: table.conform(frame) for table, frame in frames.items()}
    for table, frame in conformed.items():
        table.validate(frame)
        if table.recreated_on_write or not table.key:
            raise ValueError(f"{table.name}: an upsert needs a keyed table that is not recreated on write")
    conn.begin()
    try:
        for table, frame in conformed.items():
            table.create(conn)
            conn.register("incoming_frame", frame.to_arrow())
            try:
                match = " AND ".join(f"{table.name}.{c} IS NOT DISTINCT FROM incoming_frame.{c}" for c in table.key)
                conn.execute(f"DELETE FROM {table.name} USING incoming_frame WHERE {match}")
                conn.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM incoming_frame")
            finally:
                conn.unregister("incoming_frame")
        conn.commit()
    except Exception:
        conn.rollback()
        raise


def materializations(
    frames: Mapping[Table, pl.DataFrame], metadata: Mapping[Table, Mapping[str, Any]] | None = None
) -> list[dg.MaterializeResult]:
    """One materialisation per table: row count, a preview of its preview columns, and `metadata`."""
    results = []
    for table, frame in frames.items():
        meta: dict[str, Any] = {"dagster/row_count": frame.height}
        if table.preview:
            meta["preview"] = markdown_preview(frame.select(table.preview), limit=20)
        meta.update((metadata or {}).get(table, {}))
        results.append(dg.MaterializeResult(asset_key=table.name, metadata=meta))
    return results


def write(
    conn: duckdb.DuckDBPyConnection,
    frames: Mapping[Table, pl.DataFrame],
    days: Sequence[date] | None = None,
    metadata: Mapping[Table, Mapping[str, Any]] | None = None,
) -> list[dg.MaterializeResult]:
    """`write_tables`, then the materialisations to yield (see `materializations`)."""
    write_tables(conn, frames, days)
    return materializations(frames, metadata)


def read(conn: duckdb.DuckDBPyConnection, table: Table, days: Sequence[date] | None = None) -> pl.DataFrame:
    """A table's rows (of `days`, for a partitioned one); empty, with its columns, before its first write."""
    create_missing(conn, [table])
    if days is None:
        return conn.execute(f"SELECT * FROM {table.name}").pl()
    return conn.execute(f"SELECT * FROM {table.name} WHERE list_contains(?, {PARTITION_COLUMN})", [list(days)]).pl()


def row_count(conn: duckdb.DuckDBPyConnection, table: Table) -> int:
    create_missing(conn, [table])
    return conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]


# A user query reads the warehouse and nothing else: no COPY ... TO, ATTACH, reading or writing
# other files, or installing extensions, and the query cannot switch that back on.
_QUERY_CONFIG = {"enable_external_access": False, "lock_configuration": True}


def query_read_only(database: Path, sql: str, params: list | dict | None = None) -> pl.DataFrame:
    """Run a user query on a read-only, sandboxed connection, so it can change neither the warehouse
    nor any other file. Queries share the lock: they run side by side, wait for a writing step to
    close its connection instead of failing on DuckDB's file lock, and hold off writers only while
    they run."""
    with (
        warehouse_lock(database, shared=True),
        duckdb.connect(str(database), read_only=True, config=_QUERY_CONFIG) as conn,
    ):
        return conn.execute(sql, params or []).pl()
