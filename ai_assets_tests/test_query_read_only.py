"""`ai-assets query`: read-only and sandboxed, and it never takes the writers' exclusive lock."""

from __future__ import annotations

import threading

import duckdb
import pytest

from ai_assets.cli import main
from ai_assets.warehouse.locking import warehouse_lock
from ai_assets.warehouse.tables import query_read_only


@pytest.fixture
def warehouse(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as conn:
        conn.execute("create table tickets as select range as n from range(3)")
    return database


def test_queries_run_side_by_side_with_another_reader(warehouse):
    answered = []
    with warehouse_lock(warehouse, shared=True):  # another query, still running
        reader = threading.Thread(
            target=lambda: answered.append(query_read_only(warehouse, "select sum(n) from tickets"))
        )
        reader.start()
        reader.join(timeout=30)
    assert answered and answered[0].item() == 3


@pytest.mark.parametrize(
    "sql",
    [
        "create table more as select 1",
        "copy tickets to '{tmp}/out.csv'",
        "attach '{tmp}/other.duckdb' as other",
        "select * from read_csv('{tmp}/../../etc/passwd')",
        "set enable_external_access = true",
    ],
)
def test_a_query_can_change_no_file(warehouse, tmp_path, sql):
    with pytest.raises(duckdb.Error):
        query_read_only(warehouse, sql.format(tmp=tmp_path))
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()


def test_the_cli_prints_a_failed_query_without_a_traceback(warehouse, monkeypatch, capsys):
    monkeypatch.setenv("AI_ASSETS_DATA_DIR", str(warehouse.parent))
    assert main(["query", "copy tickets to 'x.csv'"]) == 2
    assert capsys.readouterr().err.startswith("Query failed: ")
