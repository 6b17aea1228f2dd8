"""Route each ticket: auto-approve its reply, or send it to the review queue with the reasons; then
apply reviewers' decisions. Plain SQL and polars, no Dagster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import polars as pl

_NO_DECISIONS = "(SELECT NULL::VARCHAR AS ticket_id, NULL::VARCHAR AS decision, NULL::VARCHAR AS edited_text, NULL::VARCHAR AS reviewer, NULL::TIMESTAMP AS decided_at, NULL::BOOLEAN AS is_latest WHERE false)"

_ROUTING_SQL = """
SELECT r.ticket_id, r.created_date, r.customer_id, r.subject,
       t.category, t.urgency, t.sentiment, t.confidence, t.summary, c.customer_tier,
       d.reply AS draft_reply,
       list_filter([
           CASE WHEN t.urgency = 'critical' THEN 'critical urgency' END,
           CASE WHEN c.customer_tier = 'enterprise' AND t.sentiment = 'negative' THEN 'enterprise customer, negative sentiment' END,
           CASE WHEN t.confidence < $min_confidence THEN 'low triage confidence (' || round(t.confidence, 2) || ')' END,
           CASE WHEN d.outcome = 'needs_human' THEN d.reason END
       ], x -> x IS NOT NULL) AS reasons,
       rd.decision, rd.edited_text, rd.reviewer, rd.decided_at
FROM raw_tickets r
JOIN reply_drafts d USING (ticket_id, created_date)
LEFT JOIN ticket_triage t USING (ticket_id, created_date)
LEFT JOIN ticket_context c USING (ticket_id, created_date)
LEFT JOIN {decisions} rd ON rd.ticket_id = r.ticket_id AND rd.is_latest
WHERE list_contains($days, r.created_date)
"""


def route_tickets(
    conn: duckdb.DuckDBPyConnection, days: Sequence[date], min_confidence: float, *, has_decisions: bool
) -> pl.DataFrame:
    """One row per ticket of `days` with its review reasons (empty: auto-approved), its draft,
    and its reviewer's latest decision if any; `status` and `final_reply` say where it stands."""
    sql = _ROUTING_SQL.replace("{decisions}", "review_decisions" if has_decisions else _NO_DECISIONS)
    routed = conn.execute(sql, {"days": list(days), "min_confidence": min_confidence}).pl()
    needs_review = pl.col("reasons").list.len() > 0
    return routed.with_columns(
        route=pl.when(needs_review).then(pl.lit("review")).otherwise(pl.lit("auto")),
        status=pl.when(~needs_review)
        .then(pl.lit("auto_approved"))
        .when(pl.col("decision") == "approve")
        .then(pl.lit("human_approved"))
        .when(pl.col("decision") == "edit")
        .then(pl.lit("human_edited"))
        .when(pl.col("decision") == "reject")
        .then(pl.lit("rejected"))
        .otherwise(pl.lit("pending_review")),
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
