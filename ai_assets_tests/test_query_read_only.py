"""`ai-assets query`: read-only and sandboxed, and it neither waits for nor blocks anybody."""

from __future__ import annotations

import duckdb
import pandera.polars as pa
import polars as pl
import pytest

from ai_assets.cli import main
from ai_assets.warehouse.contract import Table
from ai_assets_tests.conftest import local_warehouse

NUMBERS = Table("numbers", "One row per number.", {"n": pa.Column(pl.Int64)}, key=("n",))


@pytest.fixture
def warehouse(tmp_path):
    warehouse = local_warehouse(tmp_path, [NUMBERS])
    warehouse.write({NUMBERS: pl.DataFrame({"n": [0, 1, 2]})})
    return warehouse


def test_queries_run_while_another_client_holds_the_warehouse_open(warehouse):
    with duckdb.connect(warehouse.catalog_path, read_only=True) as analyst:  # a notebook left open
        assert warehouse.query("select sum(n) from numbers").item() == 3
        warehouse.write({NUMBERS: pl.DataFrame({"n": [5]})})  # a writer does not wait for either
        assert analyst.execute("select sum(n) from numbers").fetchone()[0] == 5  # its next query sees it


@pytest.mark.parametrize(
    "sql",
    [
        "create table more as select 1",
        "copy numbers to '{tmp}/out.csv'",
        "copy numbers to '{root}/numbers/data.parquet'",
        "attach '{tmp}/other.duckdb' as other",
        "select * from read_csv('/etc/passwd')",
        "select * from read_csv('{root}/../../etc/passwd')",
        "set enable_external_access = true",
        "select 1; delete from numbers",
    ],
)
def test_a_query_can_change_no_file_and_read_nothing_outside_the_warehouse(warehouse, tmp_path, sql):
    before = (tmp_path / "tables" / "numbers" / "data.parquet").read_bytes()
    with pytest.raises(duckdb.Error):
        warehouse.query(sql.format(tmp=tmp_path, root=warehouse.storage_root))
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()
    assert (tmp_path / "tables" / "numbers" / "data.parquet").read_bytes() == before


def test_the_cli_prints_a_failed_query_without_a_traceback(warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path))
    assert main(["query", "copy numbers to 'x.csv'"]) == 2
    assert capsys.readouterr().err.startswith("Query failed: ")
    assert main(["query", "select count(*) as n from numbers"]) == 0
    assert "3" in capsys.readouterr().out


def test_a_query_before_the_first_run_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(tmp_path))
    assert main(["query", "select 1"]) == 2
    assert "no warehouse at" in capsys.readouterr().err
