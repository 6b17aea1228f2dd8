"""Reads and writes of contracted tables (user queries: see `query.py`).

One write replaces the rows of some days (or the whole table) of every table it is given, in one
commit of the storage (see `storage.py`): a table and its failure or quarantine sibling change
together, a rerun never doubles rows, and a crash mid-write leaves the previous rows in place until
the next run finishes the commit. Every frame is checked against its contract first, so nothing
that breaks a table's rules is ever written. Reads go through the catalog's views.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import duckdb
import polars as pl

from ai_assets import state
from ai_assets.warehouse.contract import PARTITION_COLUMN, Table
from ai_assets.warehouse.metadata import markdown_preview
from ai_assets.warehouse.storage import Storage, with_contract_columns

T = TypeVar("T")


def _validated(frames: Mapping[Table, pl.DataFrame]) -> dict[Table, pl.DataFrame]:
    conformed = {table: table.conform(frame) for table, frame in frames.items()}
    for table, frame in conformed.items():
        table.validate(frame)
    return conformed


def write_tables(storage: Storage, frames: Mapping[Table, pl.DataFrame], days: Sequence[date] | None = None) -> None:
    """Validates every frame against its contract, then replaces `days` of the partitioned tables
    (all rows of the others) by the frames, all in one commit. A day without rows gets an empty
    file, so a rerun that finds nothing left for a day clears it."""
    files: dict[str, pl.DataFrame] = {}
    for table, frame in _validated(frames).items():
        if not table.partitioned:
            files[storage.whole_file(table.name)] = frame
            continue
        if days is None:
            raise ValueError(f"{table.name} is partitioned: say which days the write replaces")
        by_day = frame.partition_by(PARTITION_COLUMN, as_dict=True, include_key=True)
        stray = sorted(str(day) for (day,) in by_day.keys() - {(day,) for day in days})
        if stray:
            raise ValueError(
                f"{table.name}: rows of {', '.join(stray)} fall outside the days written ({days[0]}..{days[-1]})"
            )
        for day in days:
            files[storage.day_file(table, day)] = by_day.get((day,), frame.clear())
    storage.commit(files)


def upsert(storage: Storage, frames: Mapping[Table, pl.DataFrame], lock_dir: Path) -> None:
    """Validates every frame against its contract, then replaces the rows with the frames' keys by
    the frames' rows and keeps every other row (a table with a history, appended to), all tables in
    one commit. Each table's read-merge-write holds its lock, so two runs never lose each other's rows."""
    conformed = _validated(frames)
    for table in conformed:
        if table.recreated_on_write or table.partitioned or not table.key:
            raise ValueError(f"{table.name}: an upsert needs a keyed, single-file table")
    with state.lock("upsert", lock_dir):
        files = {}
        for table, incoming in conformed.items():
            existing = storage.read_whole(table.name)
            if existing is None or existing.is_empty():
                files[storage.whole_file(table.name)] = incoming
                continue
            kept = with_contract_columns(table, existing).join(
                incoming, on=list(table.key), how="anti", nulls_equal=True
            )
            files[storage.whole_file(table.name)] = pl.concat([kept, incoming], how="vertical_relaxed")
        storage.commit(files)


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


# Errors a reader gets when its query overlaps the replacement of a file it reads: the rename is
# atomic, but DuckDB opens a file more than once per query. A retry reads the new file whole.
_TRANSIENT = (duckdb.IOException, duckdb.InvalidInputException, FileNotFoundError)


def retrying(run: Callable[[], T], attempts: int = 4) -> T:
    for attempt in range(attempts):
        try:
            return run()
        except _TRANSIENT:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def read(conn: duckdb.DuckDBPyConnection, table: Table, days: Sequence[date] | None = None) -> pl.DataFrame:
    """A table's rows (of `days`, for a partitioned one), in the contract's column order."""
    if days is None:
        frame = retrying(lambda: conn.execute(f"SELECT * FROM {table.name}").pl())
    else:
        query = f"SELECT * FROM {table.name} WHERE list_contains(?, {PARTITION_COLUMN})"
        frame = retrying(lambda: conn.execute(query, [list(days)]).pl())
    return frame.select([c for c in table.column_names if c in frame.columns])


def row_count(conn: duckdb.DuckDBPyConnection, table: Table) -> int:
    return retrying(lambda: conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0])
