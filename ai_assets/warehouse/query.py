"""A user's SQL on the warehouse (`ai-assets query`, `WarehouseResource.query`), in a sandbox.

Each query reads the tables and nothing else, and ends:
- One read-only statement, as DuckDB's own parser sees it: a SELECT (WITH, VALUES, FROM-first,
  DESCRIBE, SHOW and SUMMARIZE parse as one) or an EXPLAIN of a SELECT. EXPLAIN ANALYZE runs what
  it explains, so `EXPLAIN ANALYZE COPY ... TO` is a COPY and is refused like one.
- The lake attached read-only, and files only under the storage root and the catalog (the spills
  go to a private temporary folder). External access is off and the configuration locked before
  the query runs.
- A time limit and a row limit, each naming its setting when hit.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from typing import TypeVar

import duckdb
import polars as pl
import pyarrow as pa

from ai_assets.warehouse.lake import Lake

T = TypeVar("T")


class QueryLimitError(duckdb.Error):
    """A query ran past its time limit or returned more rows than allowed."""


def _explained(query: str) -> str:
    """The statement an EXPLAIN explains: what follows EXPLAIN, its ANALYZE and its (options)."""
    depth = 0
    for position, _ in duckdb.tokenize(query)[1:]:  # [0] is EXPLAIN itself
        char = query[position]
        if depth == 0 and char != "(" and query[position : position + 7].lower() not in ("analyze", "analyse"):
            return query[position:]
        depth += (char == "(") - (char == ")")
    return ""


# The catalog's own database (on PostgreSQL, the state's: the delivery ledger, the caches) and the
# functions that scan a database directly: a query reads the lake's tables, not what is beneath them.
_BENEATH_THE_LAKE = ("__ducklake_metadata", "sqlite_", "postgres_")


def check_read_only(sql: str) -> None:
    """Raises unless `sql` is a single SELECT, or an EXPLAIN [ANALYZE] of one, of the lake's tables."""
    names = {sql[position:].split(None, 1)[0].strip('"(').lower() for position, _ in duckdb.tokenize(sql)}
    beneath = sorted(name for name in names if name.startswith(_BENEATH_THE_LAKE))
    if beneath:
        raise duckdb.PermissionException(
            f"queries read the lake's tables, not its catalog's database: {', '.join(beneath)} is not allowed"
        )
    statements = duckdb.extract_statements(sql)
    if len(statements) != 1:
        raise duckdb.PermissionException(f"one statement per query, not {len(statements)}: run them one at a time")
    statement = statements[0]
    if statement.type == duckdb.StatementType.EXPLAIN:
        explained = duckdb.extract_statements(_explained(statement.query))
        if [s.type for s in explained] != [duckdb.StatementType.SELECT]:
            raise duckdb.PermissionException("queries are read-only: EXPLAIN (or EXPLAIN ANALYZE) of a SELECT only")
    elif statement.type != duckdb.StatementType.SELECT:
        raise duckdb.PermissionException(
            f"queries are read-only: SELECT, WITH, DESCRIBE, SHOW or EXPLAIN only, not {statement.type.name}"
        )


def _fetch(conn: duckdb.DuckDBPyConnection, sql: str, params: list | dict, max_rows: int) -> pl.DataFrame:
    # Streamed, so a huge result stops at the first batch past the limit instead of filling memory.
    reader = conn.execute(sql, params).to_arrow_reader(max_rows + 1)
    batches: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        batches.append(batch)
        rows += batch.num_rows
        if rows > max_rows:
            raise QueryLimitError(
                f"the result has more than {max_rows:,} rows (AI_ASSETS_QUERY_MAX_ROWS): aggregate or filter it, "
                "add a LIMIT, or raise the setting"
            )
    return pl.from_arrow(pa.Table.from_batches(batches, reader.schema))


def query_read_only(
    lake: Lake,
    sql: str,
    params: list | dict | None = None,
    *,
    at: int | str | None = None,
    timeout_s: float,
    max_rows: int,
) -> pl.DataFrame:
    """Run a user query on the lake (as it was at snapshot or time `at`, if given) in a sandboxed
    session: it can change neither the lake nor any other file, read no file outside the lake, run
    no longer than `timeout_s` nor return more than `max_rows` rows, and it never waits for, or
    holds off, a writer."""
    check_read_only(sql)
    if not lake.exists():
        raise duckdb.IOException(
            f"no lake at {lake.catalog} yet: materialise something first (ai-assets demo, or the UI)"
        )
    with tempfile.TemporaryDirectory(prefix="ai-assets-query-") as private, lake.connect(read_only=True, at=at) as conn:
        conn.execute("SET temp_directory = ?", [private])  # else `.tmp/` of the working directory is readable
        conn.execute("SET allowed_directories = ?", [[lake.data_folder()]])
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        return _within(timeout_s, conn, lambda: _fetch(conn, sql, params or [], max_rows))


def _within(timeout_s: float, conn: duckdb.DuckDBPyConnection, run: Callable[[], T]) -> T:
    """`run()`, interrupted once it has taken `timeout_s`: again and again until it returns, so a
    retry of a transient error that started after the first interrupt is stopped too."""
    stopped, finished = threading.Event(), threading.Event()

    def stop() -> None:
        stopped.set()
        while not finished.is_set():
            conn.interrupt()
            finished.wait(0.1)

    timer = threading.Timer(timeout_s, stop)
    timer.start()
    try:
        return run()
    except Exception as error:  # interrupted mid-stream, Arrow raises its own error, not DuckDB's
        if stopped.is_set() and not isinstance(error, QueryLimitError):
            raise QueryLimitError(
                f"the query ran longer than {timeout_s:g} s (AI_ASSETS_QUERY_TIMEOUT_S) and was stopped: "
                "narrow it (a WHERE on created_date, fewer joins), or raise the setting"
            ) from None
        raise
    finally:
        finished.set()
        timer.cancel()
