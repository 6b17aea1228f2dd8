"""One writer at a time on the DuckDB file, across processes, without serialising whole steps.

DuckDB allows one process to open a database file for writing; a second one fails with a lock
error. Steps and runs in parallel processes therefore take an advisory file lock (flock) around
each connection. Connections are short (read a partition, write a partition), and LLM steps
hold no connection while they call the model, so their calls still overlap across partitions.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource


@contextmanager
def warehouse_lock(database: Path | str, *, shared: bool = False) -> Iterator[None]:
    """Exclusive for a writer; `shared` for read-only queries, which then run side by side and
    only wait for (and hold off) a writer, never each other."""
    lock_path = Path(f"{database}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)  # blocks until the writer closes
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LockedDuckDBResource(DuckDBResource):
    """Dagster's DuckDB resource, with the cross-process write lock held while a connection is open."""

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse_lock(self.database), super().get_connection() as conn:
            yield conn
