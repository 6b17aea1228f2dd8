"""Route each ticket: auto-approve its reply, or send it to the review queue with the reasons; then
apply reviewers' decisions. Plain SQL and polars, no Dagster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import polars as pl

from ai_assets.quality.vocabulary import DECISION_STATUSES
from ai_assets.warehouse.sql import sql_file


def route_tickets(conn: duckdb.DuckDBPyConnection, days: Sequence[date], min_confidence: float) -> pl.DataFrame:
    """One row per ticket of `days` with its review reasons (empty: auto-approved), its draft,
    and its reviewer's latest decision if any; `status` and `final_reply` say where it stands."""
    params = {"days": list(days), "min_confidence": min_confidence}
    return decide(conn.execute(sql_file(__file__, "routing"), params).pl())


def decide(routed: pl.DataFrame) -> pl.DataFrame:
    """Adds route, status, priority and final_reply to routed tickets (reasons, draft, decision)."""
    needs_review = pl.col("reasons").list.len() > 0
    return routed.with_columns(
        route=pl.when(needs_review).then(pl.lit("review")).otherwise(pl.lit("auto")),
        status=pl.when(~needs_review)
        .then(pl.lit("auto_approved"))
        .otherwise(
            pl.col("decision").replace_strict(DECISION_STATUSES, default="pending_review", return_dtype=pl.Utf8)
        ),
        # 1: critical, 2: an enterprise customer is unhappy, 3: everything else a human must see.
        priority=pl.when(pl.col("urgency") == "critical")
        .then(1)
        .when((pl.col("customer_tier") == "enterprise") & (pl.col("sentiment") == "negative"))
        .then(2)
        .otherwise(3)
        .cast(pl.Int32),
    ).with_columns(
        final_reply=pl.when(pl.col("status").is_in(["auto_approved", "human_approved"]))
        .then(pl.col("draft_reply"))
        .when(pl.col("status") == "human_edited")
        .then(pl.col("edited_text")),
    )
