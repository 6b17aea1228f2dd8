"""Retrieval and memory in DuckDB SQL: top-k knowledge-base chunks per ticket by cosine similarity,
and the customer's CRM record and earlier tickets with their outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import polars as pl

HISTORY_LIMIT = 5  # earlier tickets per customer carried into the context

_TOP_K_SQL = """
WITH scored AS (
    SELECT q.row_key, e.chunk_id, e.article_id,
           array_cosine_similarity(q.embedding, e.embedding)::DOUBLE AS score
    FROM query_vectors q CROSS JOIN kb_embeddings e
    QUALIFY row_number() OVER (PARTITION BY q.row_key ORDER BY score DESC, e.chunk_id) <= $k
)
SELECT row_key,
       list(chunk_id ORDER BY score DESC, chunk_id) AS chunk_ids,
       list(article_id ORDER BY score DESC, chunk_id) AS article_ids,
       list(score ORDER BY score DESC, chunk_id) AS scores,
       max(score) AS top_score
FROM scored GROUP BY row_key
"""

_MEMORY_SQL = f"""
WITH days_tickets AS (
    SELECT ticket_id, created_date, customer_id, created_at FROM raw_tickets WHERE list_contains($days, created_date)
),
earlier AS (
    SELECT d.ticket_id, d.created_date, p.created_at AS previous_at,
           {{'ticket_id': p.ticket_id, 'created_at': p.created_at, 'subject': p.subject,
             'category': t.category, 'urgency': t.urgency, 'summary': t.summary}} AS previous
    FROM days_tickets d
    JOIN raw_tickets p ON p.customer_id = d.customer_id AND p.created_at < d.created_at
    LEFT JOIN ticket_triage t ON t.ticket_id = p.ticket_id AND t.created_date = p.created_date
),
history AS (
    SELECT ticket_id, created_date, count(*) AS previous_ticket_count,
           list(previous ORDER BY previous_at DESC)[1:{HISTORY_LIMIT}] AS history
    FROM earlier GROUP BY ticket_id, created_date
)
SELECT d.ticket_id, d.created_date, d.customer_id, c.tier AS customer_tier, c.region AS customer_region,
       coalesce(h.previous_ticket_count, 0) AS previous_ticket_count, coalesce(h.history, []) AS history
FROM days_tickets d
LEFT JOIN {{customers}} c USING (customer_id)
LEFT JOIN history h USING (ticket_id, created_date)
"""


def top_k_chunks(conn: duckdb.DuckDBPyConnection, row_keys: list[str], vectors: np.ndarray, k: int) -> pl.DataFrame:
    """One row per query (`row_key`): its `k` nearest chunks of `kb_embeddings`, best first."""
    queries = pl.DataFrame({"row_key": row_keys, "embedding": vectors}, schema_overrides={"row_key": pl.Utf8})
    conn.register("query_vectors", queries.to_arrow())
    try:
        return conn.execute(_TOP_K_SQL, {"k": k}).pl()
    finally:
        conn.unregister("query_vectors")


_NO_CUSTOMERS = "(SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS tier, NULL::VARCHAR AS region WHERE false)"


def customer_memory(conn: duckdb.DuckDBPyConnection, days: Sequence[date], *, has_crm: bool = True) -> pl.DataFrame:
    """One row per ticket of `days`: the customer's CRM tier and region (null when unknown, or when
    there is no CRM table: `has_crm=False`) and up to HISTORY_LIMIT earlier tickets, newest first,
    with their triage outcome."""
    sql = _MEMORY_SQL.replace("{customers}", "customers" if has_crm else _NO_CUSTOMERS)
    return conn.execute(sql, {"days": list(days)}).pl()
