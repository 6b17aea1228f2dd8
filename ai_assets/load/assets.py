"""Load assets: the review queue, each ticket's outcome, and the outbox with its deliveries."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from ai_assets.automation.partitions import PARTITION_COLUMN, daily_backfill_policy, daily_partitions, partition_days
from ai_assets.load.outbox import DELIVERY_SCHEMA, build_actions, deliver
from ai_assets.load.routing import route_tickets
from ai_assets.metadata import counts_by, markdown_preview
from ai_assets.quality.schemas import OUTBOX, OUTBOX_DELIVERIES, REVIEW_QUEUE, TICKET_OUTCOMES
from ai_assets.resources import OutboxResource
from ai_assets.warehouse.tables import read_table, replace_rows, table_exists

_KINDS = {"duckdb", "polars"}
_DAILY = {"partitions_def": daily_partitions, "backfill_policy": daily_backfill_policy, "group_name": "load"}
_PARTITIONED = {"partition_expr": PARTITION_COLUMN}


def build_routing(min_confidence: float) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                "review_queue",
                deps=["reply_drafts", "ticket_triage", "ticket_context", "review_decisions"],
                description=(
                    "One row per ticket a human must review (critical urgency, an unhappy enterprise customer, "
                    "low triage confidence, or a reply the loop could not approve): the reasons, a priority "
                    "(1 highest), the draft, and the reviewer's decision once made."
                ),
                kinds=_KINDS,
                metadata=_PARTITIONED,
            ),
            dg.AssetSpec(
                "ticket_outcomes",
                deps=["reply_drafts", "ticket_triage", "ticket_context", "review_decisions"],
                description="One row per ticket: route (auto or review), status (auto_approved, pending_review, human_approved, human_edited, rejected) and the reply to send, if any.",
                kinds=_KINDS,
                metadata=_PARTITIONED,
            ),
        ],
        code_version=f"min_confidence={min_confidence}",
        **_DAILY,
    )
    def routing(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        """Routes each ticket and applies the latest reviewer decision (`landing/reviews/`)."""
        days = partition_days(context)
        with duckdb.get_connection() as conn:
            routed = route_tickets(conn, days, min_confidence, has_decisions=table_exists(conn, "review_decisions"))
            queue = (
                routed.filter(pl.col("route") == "review")
                .select(list(REVIEW_QUEUE.columns))
                .sort("priority", "ticket_id")
            )
            outcomes = routed.select(list(TICKET_OUTCOMES.columns))
            REVIEW_QUEUE.validate(queue)
            TICKET_OUTCOMES.validate(outcomes)
            replace_rows(conn, "review_queue", queue, partition_column=PARTITION_COLUMN, partitions=days)
            replace_rows(conn, "ticket_outcomes", outcomes, partition_column=PARTITION_COLUMN, partitions=days)
        statuses = counts_by(outcomes, "status")
        context.log.info(f"Routed {outcomes.height} tickets: {statuses}; {queue.height} in the review queue")
        yield dg.MaterializeResult(
            asset_key="review_queue",
            metadata={
                "dagster/row_count": queue.height,
                "pending": int((queue["status"] == "pending_review").sum()),
                "by_priority": counts_by(queue, "priority"),
                "preview": markdown_preview(
                    queue.select("priority", "ticket_id", "reasons", "status"), empty="_nothing to review_"
                ),
            },
        )
        yield dg.MaterializeResult(
            asset_key="ticket_outcomes", metadata={"dagster/row_count": outcomes.height, "by_status": statuses}
        )

    return routing


@dg.asset(deps=["ticket_outcomes"], kinds=_KINDS, metadata=_PARTITIONED, **_DAILY)
def outbox(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """One row per action to trigger (allow-list: send_reply for approved replies, escalate for
    critical tickets), with its idempotency key (`action_id`) and JSON payload."""
    days = partition_days(context)
    with duckdb.get_connection() as conn:
        routed = read_table(conn, "ticket_outcomes", partition_column=PARTITION_COLUMN, partitions=days)
        actions = build_actions(routed)
        OUTBOX.validate(actions)
        replace_rows(conn, "outbox", actions, partition_column=PARTITION_COLUMN, partitions=days)
    context.log.info(f"{actions.height} actions: {counts_by(actions, 'action_type')}")
    return dg.MaterializeResult(
        metadata={"dagster/row_count": actions.height, "by_action_type": counts_by(actions, "action_type")}
    )


@dg.asset(deps=["outbox"], kinds=_KINDS, metadata=_PARTITIONED, **_DAILY)
def outbox_deliveries(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, outbox_sink: OutboxResource
) -> dg.MaterializeResult:
    """One row per action with its delivery state: delivered (exactly once), or failed with the
    error and attempts so far (the next materialisation retries it)."""
    days = partition_days(context)
    with duckdb.get_connection() as conn:
        actions = read_table(conn, "outbox", partition_column=PARTITION_COLUMN, partitions=days)
        previous = (
            read_table(conn, "outbox_deliveries", partition_column=PARTITION_COLUMN, partitions=days)
            if table_exists(conn, "outbox_deliveries")
            else pl.DataFrame(schema=DELIVERY_SCHEMA)
        )
    sink = outbox_sink.sink()
    # Sending happens outside any warehouse connection: a slow webhook never holds the write lock.
    deliveries = deliver(actions, previous, sink, outbox_sink.max_attempts, outbox_sink.backoff_s)
    OUTBOX_DELIVERIES.validate(deliveries)
    with duckdb.get_connection() as conn:
        replace_rows(conn, "outbox_deliveries", deliveries, partition_column=PARTITION_COLUMN, partitions=days)
    failed = deliveries.filter(pl.col("status") == "failed")
    already = previous.filter(pl.col("status") == "delivered")["action_id"]
    newly = deliveries.filter((pl.col("status") == "delivered") & ~pl.col("action_id").is_in(already.implode()))
    for row in failed.iter_rows(named=True):
        context.log.warning(
            f"Delivery of {row['action_type']} for {row['ticket_id']} failed after {row['attempts']} attempts: {row['last_error']}"
        )
    context.log.info(f"Delivered {newly.height} new actions to {sink.name}; {failed.height} failed")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": deliveries.height,
            "sink": sink.name,
            "delivered_now": newly.height,
            "failed": failed.height,
            "by_status": counts_by(deliveries, "status"),
            "failures": markdown_preview(
                failed.select("action_id", "ticket_id", "attempts", "last_error"), empty="_none_"
            ),
        }
    )
