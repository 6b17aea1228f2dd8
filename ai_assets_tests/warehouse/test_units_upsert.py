"""`upsert`: rows replaced by key, every other row kept, all tables in one commit."""

import subprocess
import sys

import pandera.polars as pa
import polars as pl
import pytest

from ai_assets.warehouse.contract import Table
from ai_assets_tests.conftest import local_warehouse, read_table

HISTORY = Table(
    "history",
    "One row per run.",
    {"run_id": pa.Column(pl.Utf8), "score": pa.Column(pl.Float64, pa.Check.in_range(0, 1))},
    key=("run_id",),
    notes={"run_id": "the run", "score": "its score"},
)
DETAIL = Table(
    "detail",
    "One row per run and item.",
    {"run_id": pa.Column(pl.Utf8), "item": pa.Column(pl.Int64), "ok": pa.Column(pl.Boolean)},
    key=("run_id", "item"),
    notes={"run_id": "the run", "item": "the item", "ok": "whether it passed"},
)


def _history(*rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=HISTORY.polars_schema, orient="row")


def test_upsert_appends_new_keys_and_replaces_known_ones(tmp_path):
    warehouse = local_warehouse(tmp_path, [HISTORY, DETAIL])
    warehouse.upsert({HISTORY: _history(("a", 0.5), ("b", 0.6))})
    warehouse.upsert({HISTORY: _history(("b", 0.7), ("c", 0.8))})
    assert read_table(warehouse, HISTORY).sort("run_id").rows() == [("a", 0.5), ("b", 0.7), ("c", 0.8)]


def test_upsert_is_one_commit_and_validates_first(tmp_path):
    detail = pl.DataFrame({"run_id": ["a"], "item": [1], "ok": [True]})
    warehouse = local_warehouse(tmp_path, [HISTORY, DETAIL])
    warehouse.upsert({HISTORY: _history(("a", 0.5)), DETAIL: detail})
    with pytest.raises(ValueError, match="history"):
        warehouse.upsert({DETAIL: detail.with_columns(ok=pl.lit(False)), HISTORY: _history(("a", 2.0))})
    # A duplicated key within the frame breaks the contract: nothing of either table changes.
    with pytest.raises(ValueError, match="not unique"):
        warehouse.upsert({DETAIL: pl.concat([detail, detail]), HISTORY: _history(("z", 0.1))})
    assert read_table(warehouse, HISTORY).rows() == [("a", 0.5)]
    assert read_table(warehouse, DETAIL).rows() == [("a", 1, True)]


_UPSERTER = """
import sys
import polars as pl
from ai_assets_tests.conftest import local_warehouse
from ai_assets_tests.warehouse.test_units_upsert import HISTORY, HISTORY_ONLY
from pathlib import Path
warehouse = local_warehouse(Path(sys.argv[1]), HISTORY_ONLY)
for i in range(20):
    run_id = f"{sys.argv[2]}-{i}"
    warehouse.upsert({HISTORY: pl.DataFrame({"run_id": [run_id], "score": [0.5]})})
"""
HISTORY_ONLY = [HISTORY]


def test_upserts_from_parallel_processes_lose_no_row(tmp_path):
    local_warehouse(tmp_path, HISTORY_ONLY)
    writers = [
        subprocess.Popen([sys.executable, "-c", _UPSERTER, str(tmp_path), name], stderr=subprocess.PIPE, text=True)
        for name in ("a", "b", "c")
    ]
    errors = [w.communicate()[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0], errors
    assert read_table(local_warehouse(tmp_path, HISTORY_ONLY), HISTORY).height == 60
