"""Atomic writes of polars frames into DuckDB tables.

Each write replaces exactly one partition (or the whole table) inside one transaction, so a rerun
never doubles rows and a crash mid-write leaves the previous rows in place. Tables are created
from the frame's schema even when the frame is empty, so every table a step owns exists after
its first run (an empty failure table is still a table users can query).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from ai_assets.warehouse.locking import warehouse_lock


@contextmanager
def _transaction_over(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> Iterator[None]:
    """A transaction in which `frame` is readable as the view `incoming_frame`."""
    conn.register("incoming_frame", frame.to_arrow())
    try:
        conn.begin()
        yield
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.unregister("incoming_frame")


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    *,
    partition_column: str | None = None,
    partitions: Sequence[date | str] = (),
) -> int:
    """Replace the rows of `table` whose `partition_column` is in `partitions` (or all rows) by `frame`."""
    with _transaction_over(conn, frame):
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM incoming_frame LIMIT 0")
        if partition_column is None:
            conn.execute(f"DELETE FROM {table}")
        else:
            conn.execute(f"DELETE FROM {table} WHERE list_contains(?, {partition_column})", [list(partitions)])
        # BY NAME keeps writes correct when a column was added to the table's schema later.
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_frame")
    return frame.height


def rewrite_table(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Replace `table` whole, schema included (e.g. an embedding width that changed with the model)."""
    with _transaction_over(conn, frame):
        conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM incoming_frame")
    return frame.height


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    return (
        conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0] > 0
    )


def read_table(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    *,
    partition_column: str | None = None,
    partitions: Sequence[date | str] = (),
) -> pl.DataFrame:
    """Read a table (or some of its partitions) into polars."""
    if partition_column is None:
        return conn.execute(f"SELECT * FROM {table}").pl()
    return conn.execute(f"SELECT * FROM {table} WHERE list_contains(?, {partition_column})", [list(partitions)]).pl()


def query_read_only(database: Path, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run a user query on a read-only connection, so it can never change the warehouse. It waits
    for a writing step to close its connection instead of failing on DuckDB's file lock."""
    with warehouse_lock(database), duckdb.connect(str(database), read_only=True) as conn:
        return conn.execute(sql, params or []).pl()
