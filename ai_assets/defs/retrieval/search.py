"""Retrieval and memory in DuckDB SQL: top-k knowledge-base chunks per ticket by cosine similarity,
and the customer's CRM record and earlier tickets with their outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import polars as pl

from ai_assets.warehouse.sql import sql_file

HISTORY_LIMIT = 5  # earlier tickets per customer carried into the context
NEAREST_SCHEMA = {
    "row_key": pl.Utf8,
    "chunk_ids": pl.List(pl.Utf8),
    "article_ids": pl.List(pl.Utf8),
    "scores": pl.List(pl.Float64),
    "top_score": pl.Float64,
}


def top_k_chunks(conn: duckdb.DuckDBPyConnection, row_keys: list[str], vectors: np.ndarray, k: int) -> pl.DataFrame:
    """One row per query (`row_key`): its `k` nearest chunks of `kb_embeddings`, best first."""
    queries = pl.DataFrame({"row_key": row_keys, "embedding": vectors}, schema_overrides={"row_key": pl.Utf8})
    conn.register("query_vectors", queries.to_arrow())
    try:
        return conn.execute(sql_file(__file__, "top_k_chunks"), {"k": k}).pl()
    finally:
        conn.unregister("query_vectors")


def customer_memory(conn: duckdb.DuckDBPyConnection, days: Sequence[date]) -> pl.DataFrame:
    """One row per ticket of `days`: the customer's CRM tier and region (null when unknown) and up
    to HISTORY_LIMIT earlier tickets, newest first, with their triage outcome."""
    return conn.execute(
        sql_file(__file__, "customer_memory"), {"days": list(days), "history_limit": HISTORY_LIMIT}
    ).pl()
