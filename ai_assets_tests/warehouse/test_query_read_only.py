"""`ai-assets query`: read-only, sandboxed and limited, and it neither waits for nor blocks anybody."""

from __future__ import annotations

import csv
import io
import json
import time

import duckdb
import pandera.polars as pa
import polars as pl
import pytest

from ai_assets.cli import main
from ai_assets.warehouse.contract import Table
from ai_assets_tests.conftest import local_warehouse

NUMBERS = Table("numbers", "One row per number.", {"n": pa.Column(pl.Int64)}, key=("n",), notes={"n": "the number"})


@pytest.fixture
def warehouse(tmp_path):
    warehouse = local_warehouse(tmp_path, [NUMBERS])
    warehouse.write({NUMBERS: pl.DataFrame({"n": [0, 1, 2]})})
    return warehouse


def test_queries_run_while_another_client_holds_the_warehouse_open(warehouse):
    with warehouse.lake.connect(read_only=True) as analyst:  # a notebook left open
        assert warehouse.query("select sum(n) from numbers").item() == 3
        warehouse.write({NUMBERS: pl.DataFrame({"n": [5]})})  # a writer does not wait for either
        assert analyst.execute("select sum(n) from numbers").fetchone()[0] == 5  # its next query sees it


@pytest.mark.parametrize(
    "sql",
    [
        "create table more as select 1",
        "copy numbers to '{tmp}/out.csv'",
        "copy numbers to '{root}/main/numbers/data.parquet'",
        "attach '{tmp}/other.duckdb' as other",
        "select * from read_csv('/etc/passwd')",
        "select * from read_csv('{root}/../../etc/passwd')",
        "set enable_external_access = true",
        "select 1; delete from numbers",
        # EXPLAIN ANALYZE runs what it explains: this replaced a day of ticket_triage with one row.
        "explain analyze copy (select 42 as n) to '{root}/main/numbers/data.parquet' (format parquet)",
        "explain (analyze) copy (select 42 as n) to '{root}/main/numbers/data.parquet' (format parquet)",
        "explain copy numbers to '{tmp}/out.csv'",
        # Paths that climb out of the root (DuckDB lets a session read the catalog it attached, which
        # holds what the session may query anyway: the lake's metadata and its small inlined writes).
        "select * from read_text('{root}/' || '/..' || '/locks/lake.lock')",
        "select * from read_blob('{root}/../lake.sqlite-wal/../locks/lake.lock')",
        "call ducklake_expire_snapshots('lake', older_than => now())",
        # Beneath the lake: its catalog's own database (on PostgreSQL, the shared state's) and scans of it.
        "select * from __ducklake_metadata_lake.ducklake_snapshot",
        'select * from "__ducklake_metadata_lake".main.ducklake_table',
        "select * from sqlite_scan('{catalog}', 'ducklake_snapshot')",
        "select * from postgres_query('x', 'select 1')",
        "detach lake",
        "select * from glob('{tmp}/*')",
    ],
)
def test_a_query_can_change_no_file_and_read_nothing_outside_the_warehouse(warehouse, tmp_path, sql):
    files = sorted((tmp_path / "lake").rglob("*"))
    snapshots = warehouse.query("select count(*) from ducklake_snapshots('lake')").item()
    with pytest.raises(duckdb.Error):
        warehouse.query(sql.format(tmp=tmp_path, root=warehouse.storage_root, catalog=warehouse.catalog_path))
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()
    assert sorted((tmp_path / "lake").rglob("*")) == files
    assert warehouse.query("select count(*) from ducklake_snapshots('lake')").item() == snapshots
    assert warehouse.query("select sum(n) from numbers").item() == 3


@pytest.mark.parametrize(
    "sql",
    [
        "with t as (select n from numbers) select sum(n) from t",
        "from numbers",
        "describe numbers",
        "show tables",
        "summarize numbers",
        "explain select * from numbers",
        "explain analyze select * from numbers",
        "select * from ducklake_snapshots('lake')",
    ],
)
def test_every_read_only_statement_runs(warehouse, sql):
    assert not warehouse.query(sql.format(root=warehouse.storage_root)).is_empty()


def test_a_query_past_the_time_limit_is_stopped_naming_the_setting(warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_ASSETS_QUERY_TIMEOUT_S", "0.5")
    # 10^11 rows: minutes of work, or (before the limit) until somebody kills it.
    assert main(["query", "select count(*) from range(1000000) a, range(100000) b"]) == 2
    assert "AI_ASSETS_QUERY_TIMEOUT_S" in capsys.readouterr().err
    assert main(["query", "select count(*) from numbers"]) == 0  # a quick one is not stopped


def test_a_result_past_the_row_limit_fails_naming_the_setting(warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_ASSETS_QUERY_MAX_ROWS", "2")
    assert main(["query", "select * from numbers"]) == 2
    assert "more than 2 rows (AI_ASSETS_QUERY_MAX_ROWS)" in capsys.readouterr().err
    assert main(["query", "--format", "json", "select * from numbers order by n limit 2"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 0}, {"n": 1}]


def test_the_cli_prints_every_column_and_writes_csv_and_json(warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")  # the terminal's width, whatever runs the test
    columns = ", ".join(f"n + {i} as c{i}" for i in range(12))
    sql = f"select {columns}, [n, n] as pair, {{'n': n}} as box from numbers order by n"
    assert main(["query", sql]) == 0
    table = capsys.readouterr().out
    assert all(f" c{i} " in table for i in range(12)) and " pair " in table and " box " in table
    assert main(["query", "--format", "csv", sql]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["c11"] for row in rows] == ["11", "12", "13"]
    assert json.loads(rows[2]["pair"]) == [2, 2] and json.loads(rows[2]["box"]) == {"n": 2}
    assert main(["query", "--format", "json", sql]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[1] == {**{f"c{i}": 1 + i for i in range(12)}, "pair": [1, 1], "box": {"n": 1}}


def test_the_cli_prints_a_failed_query_without_a_traceback(warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path))
    assert main(["query", "copy numbers to 'x.csv'"]) == 2
    assert capsys.readouterr().err.startswith("Query failed: ")
    assert main(["query", "select count(*) as n from numbers"]) == 0
    assert "3" in capsys.readouterr().out


def test_a_query_before_the_first_run_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path))
    assert main(["query", "select 1"]) == 2
    assert "no lake at" in capsys.readouterr().err


def test_a_query_at_a_snapshot_or_a_time_reads_the_lake_as_it_was(warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path))
    first = warehouse.query("select max(snapshot_id) from ducklake_snapshots('lake')").item()
    time.sleep(0.01)
    written = warehouse.query("select now()::varchar").item()
    warehouse.write({NUMBERS: pl.DataFrame({"n": [10, 20]})})
    assert warehouse.query("select sum(n) from numbers").item() == 30
    assert warehouse.query("select sum(n) from numbers", at=first).item() == 3
    assert warehouse.query("select sum(n) from numbers", at=written).item() == 3
    assert warehouse.query("select max(snapshot_id) from ducklake_snapshots('lake')").item() == first + 1
    assert main(["query", "--at", str(first), "select sum(n) as total from numbers"]) == 0
    assert " 3 " in capsys.readouterr().out
