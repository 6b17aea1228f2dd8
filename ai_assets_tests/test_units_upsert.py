"""`upsert`: rows replaced by key, every other row kept, all tables in one transaction."""

import duckdb
import pandera.polars as pa
import polars as pl
import pytest

from ai_assets.warehouse.contract import Table
from ai_assets.warehouse.tables import read, upsert

HISTORY = Table(
    "history",
    "One row per run.",
    {"run_id": pa.Column(pl.Utf8), "score": pa.Column(pl.Float64, pa.Check.in_range(0, 1))},
    key=("run_id",),
)
DETAIL = Table(
    "detail",
    "One row per run and item.",
    {"run_id": pa.Column(pl.Utf8), "item": pa.Column(pl.Int64), "ok": pa.Column(pl.Boolean)},
    key=("run_id", "item"),
)


def _history(*rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=HISTORY.polars_schema, orient="row")


def test_upsert_appends_new_keys_and_replaces_known_ones(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        upsert(conn, {HISTORY: _history(("a", 0.5), ("b", 0.6))})
        upsert(conn, {HISTORY: _history(("b", 0.7), ("c", 0.8))})
        assert read(conn, HISTORY).sort("run_id").rows() == [("a", 0.5), ("b", 0.7), ("c", 0.8)]


def test_upsert_is_one_transaction_and_validates_first(tmp_path):
    detail = pl.DataFrame({"run_id": ["a"], "item": [1], "ok": [True]})
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        upsert(conn, {HISTORY: _history(("a", 0.5)), DETAIL: detail})
        with pytest.raises(ValueError, match="history"):
            upsert(conn, {DETAIL: detail.with_columns(ok=pl.lit(False)), HISTORY: _history(("a", 2.0))})
        # A duplicated key within the frame breaks the contract: nothing of either table changes.
        with pytest.raises(ValueError, match="not unique"):
            upsert(conn, {DETAIL: pl.concat([detail, detail]), HISTORY: _history(("z", 0.1))})
        assert read(conn, HISTORY).rows() == [("a", 0.5)]
        assert read(conn, DETAIL).rows() == [("a", 1, True)]
