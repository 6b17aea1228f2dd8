"""Parallel processes writing the same DuckDB file wait for each other instead of failing."""

from __future__ import annotations

import subprocess
import sys

import duckdb

_WRITER = """
import sys
from datetime import date
import pandera.polars as pa
import polars as pl
from ai_assets.warehouse.contract import Table
from ai_assets.warehouse.locking import LockedDuckDBResource
from ai_assets.warehouse.tables import write_tables
WRITES = Table(
    "writes", "One row per write.", {"created_date": pa.Column(pl.Date), "round": pa.Column(pl.Int64)},
    key=(), partitioned=True,
)
resource = LockedDuckDBResource(database=sys.argv[1])
day = date(2026, 11, int(sys.argv[2]))
for i in range(15):
    with resource.get_connection() as conn:
        write_tables(conn, {WRITES: pl.DataFrame({"created_date": [day] * 50, "round": [i] * 50})}, [day])
"""


def test_parallel_writer_processes_never_hit_a_lock_error(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(database), str(n + 1)], stderr=subprocess.PIPE, text=True)
        for n in range(4)
    ]
    errors = [w.communicate()[1] for w in writers]
    assert [w.returncode for w in writers] == [0] * 4, errors
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute("select day(created_date), count(*), max(round) from writes group by 1 order by 1")
        assert rows.fetchall() == [(n + 1, 50, 14) for n in range(4)]


def test_without_the_lock_a_second_writer_process_fails(tmp_path):
    # The reason the lock exists: DuckDB refuses a second writing process outright.
    database = tmp_path / "warehouse.duckdb"
    holder = duckdb.connect(str(database))
    probe = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(database)!r})"], capture_output=True, text=True
    )
    holder.close()
    assert probe.returncode != 0 and "lock" in probe.stderr.lower()
