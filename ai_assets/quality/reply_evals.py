"""The evaluation of retrieval and replies: how often the retrieval finds a labelled ticket's expected
article, how often drafts cite only what was retrieved, and how often reviewers overrule the loop's
approvals. One `reply_eval_runs` row per distinct state, identified by its own content."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import duckdb
import polars as pl

from ai_assets.defs.evals.tables import REPLY_EVAL_RUNS
from ai_assets.warehouse.sql import sql_file


def retrieval_scores(expected: pl.DataFrame, nearest: pl.DataFrame) -> dict[str, float | int | None]:
    """hit@k and MRR: `expected` has row_key and kb_article_id, `nearest` row_key and article_ids
    (best first, one per retrieved chunk). A ticket whose article is not retrieved scores 0."""
    joined = expected.join(nearest.select("row_key", "article_ids"), on="row_key", how="left")
    ranks = [
        (articles or []).index(article) + 1 if article in (articles or []) else None
        for article, articles in zip(joined["kb_article_id"].to_list(), joined["article_ids"].to_list())
    ]
    n = len(ranks)
    if n == 0:
        return {"retrieval_n": 0, "hit_at_k": None, "mrr": None}
    return {
        "retrieval_n": n,
        "hit_at_k": sum(rank is not None for rank in ranks) / n,
        "mrr": sum(1 / rank for rank in ranks if rank is not None) / n,
    }


def draft_scores(conn: duckdb.DuckDBPyConnection) -> dict[str, float | int | None]:
    """The drafts' share citing only retrieved chunks, and the reviewers' verdicts on approved replies."""
    drafts, only_retrieved, seen, overruled = conn.execute(sql_file(__file__, "reply_eval_drafts")).fetchone()
    return {
        "drafts": drafts,
        "only_retrieved_share": only_retrieved,
        "approved_seen_by_human": seen,
        "approved_overruled": overruled,
        "overruled_share": overruled / seen if seen else None,
    }


def reply_eval_run(embed_model: str, top_k: int, labels_digest: str, retrieval: dict, drafts: dict) -> pl.DataFrame:
    """The `reply_eval_runs` row of these scores, its id a hash of them (the same state, the same id)."""
    row = {"embed_model": embed_model, "top_k": top_k, "labels_hash": labels_digest, **retrieval, **drafts}
    eval_id = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:16]
    row = {"eval_id": eval_id, **row, "evaluated_at": datetime.now(UTC).replace(tzinfo=None)}
    return pl.DataFrame([row], schema=REPLY_EVAL_RUNS.polars_schema)
