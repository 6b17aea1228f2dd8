"""Load assets: the review queue, each ticket's outcome, and the outbox with its deliveries."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from ai_assets.load.outbox import build_actions, deliver
from ai_assets.load.resources import OutboxResource
from ai_assets.load.routing import route_tickets
from ai_assets.quality.tables import OUTBOX, OUTBOX_DELIVERIES, REVIEW_QUEUE, TICKET_OUTCOMES
from ai_assets.warehouse.metadata import counts_by, markdown_preview
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.tables import read, write

_ROUTING_DEPS = ["reply_drafts", "ticket_triage", "ticket_context", "review_decisions"]


def build_routing(min_confidence: float, daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="routing",
        specs=[REVIEW_QUEUE.spec(deps=_ROUTING_DEPS), TICKET_OUTCOMES.spec(deps=_ROUTING_DEPS)],
        code_version=f"min_confidence={min_confidence}",
        group_name="load",
        **daily.asset_args(),
    )
    def routing(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        """Routes each ticket and applies the latest reviewer decision (`landing/reviews/`)."""
        days = partition_days(context)
        with duckdb.get_connection() as conn:
            routed = route_tickets(conn, days, min_confidence)
            queue = routed.filter(pl.col("route") == "review").sort("priority", "ticket_id")
            statuses = counts_by(routed, "status")
            context.log.info(f"Routed {routed.height} tickets: {statuses}; {queue.height} in the review queue")
            meta = {
                REVIEW_QUEUE: {
                    "pending": int((queue["status"] == "pending_review").sum()),
                    "by_priority": counts_by(queue, "priority"),
                },
                TICKET_OUTCOMES: {"by_status": statuses},
            }
            yield from write(conn, {REVIEW_QUEUE: queue, TICKET_OUTCOMES: routed}, days, meta)

    return routing


def build_outbox(daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="outbox", specs=[OUTBOX.spec(deps=["ticket_outcomes"])], group_name="load", **daily.asset_args()
    )
    def outbox(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        """Builds the day's actions from the ticket outcomes (never from ticket or LLM text)."""
        days = partition_days(context)
        with duckdb.get_connection() as conn:
            actions = build_actions(read(conn, TICKET_OUTCOMES, days))
            context.log.info(f"{actions.height} actions: {counts_by(actions, 'action_type')}")
            meta = {OUTBOX: {"by_action_type": counts_by(actions, "action_type")}}
            yield from write(conn, {OUTBOX: actions}, days, meta)

    return outbox


def build_outbox_deliveries(daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="outbox_deliveries",
        specs=[OUTBOX_DELIVERIES.spec(deps=["outbox"])],
        group_name="load",
        **daily.asset_args(),
    )
    def outbox_deliveries(context: dg.AssetExecutionContext, duckdb: DuckDBResource, outbox_sink: OutboxResource):
        """Delivers the day's actions not delivered yet, and records every action's delivery state."""
        days = partition_days(context)
        with duckdb.get_connection() as conn:
            actions = read(conn, OUTBOX, days)
            previous = read(conn, OUTBOX_DELIVERIES, days)
        sink = outbox_sink.sink()
        # Sending happens outside any warehouse connection: a slow webhook never holds the write lock.
        deliveries = deliver(actions, previous, sink, outbox_sink.max_attempts, outbox_sink.backoff_s)
        failed = deliveries.filter(pl.col("status") == "failed")
        already = previous.filter(pl.col("status") == "delivered")["action_id"]
        newly = deliveries.filter((pl.col("status") == "delivered") & ~pl.col("action_id").is_in(already.implode()))
        for row in failed.iter_rows(named=True):
            context.log.warning(
                f"Delivery of {row['action_type']} for {row['ticket_id']} failed after {row['attempts']} "
                f"attempts: {row['last_error']}"
            )
        context.log.info(f"Delivered {newly.height} new actions to {sink.name}; {failed.height} failed")
        meta = {
            "sink": sink.name,
            "delivered_now": newly.height,
            "failed": failed.height,
            "by_status": counts_by(deliveries, "status"),
            "failures": markdown_preview(
                failed.select("action_id", "ticket_id", "attempts", "last_error"), empty="_none_"
            ),
        }
        with duckdb.get_connection() as conn:
            yield from write(conn, {OUTBOX_DELIVERIES: deliveries}, days, {OUTBOX_DELIVERIES: meta})

    return outbox_deliveries
