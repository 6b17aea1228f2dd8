"""The outbox: reviewers' decisions (landing/reviews), routing, the actions to take, and their
delivery, at most once."""

import dagster as dg
import polars as pl

from ai_assets.defs.outbox.tables import (
    OUTBOX,
    OUTBOX_DELIVERIES,
    REVIEW_DECISIONS,
    REVIEW_DECISIONS_QUARANTINE,
    REVIEW_QUEUE,
    TICKET_OUTCOMES,
)
from ai_assets.extract.folder_assets import folder_table_asset
from ai_assets.extract.reviews import read_review_decisions
from ai_assets.load.contacts import with_contacts
from ai_assets.load.outbox import DeliveryReport, build_actions, deliver, delivery_table
from ai_assets.load.resources import OutboxResource
from ai_assets.load.routing import route_tickets
from ai_assets.quality.columns import TICKET_KEY
from ai_assets.secrets import scrub_secrets
from ai_assets.warehouse import registry
from ai_assets.warehouse.metadata import counts_by, markdown_preview
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.resource import WarehouseResource
from ai_assets.warehouse.tables import read

review_decisions = folder_table_asset(
    REVIEW_DECISIONS, REVIEW_DECISIONS_QUARANTINE, read_review_decisions, "reviews", "landing_reviews", "outbox"
)


SUMMARIES = "ticket_summaries"  # declared in defs/summaries: written for the review queue, escalations included
_ROUTING_DEPS = ["reply_drafts", "ticket_triage", "ticket_context", "review_decisions"]


def build_routing(min_confidence: float, daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="routing",
        specs=[REVIEW_QUEUE.spec(deps=_ROUTING_DEPS), TICKET_OUTCOMES.spec(deps=_ROUTING_DEPS)],
        code_version=f"min_confidence={min_confidence}",
        group_name="outbox",
        **daily.asset_args(),
    )
    def routing(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """Routes each ticket and applies the latest reviewer decision (`landing/reviews/`)."""
        days = partition_days(context)
        with warehouse.get_connection() as conn:
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
            yield from warehouse.write({REVIEW_QUEUE: queue, TICKET_OUTCOMES: routed}, days, meta)

    return routing


def build_outbox(daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="outbox",
        specs=[OUTBOX.spec(deps=["ticket_outcomes", SUMMARIES])],
        group_name="outbox",
        **daily.asset_args(),
    )
    def outbox(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """Builds the day's actions from the ticket outcomes (their types never from ticket or LLM text),
        an escalation carrying the ticket's summary (ticket_summaries) for whoever picks it up."""
        days = partition_days(context)
        with warehouse.get_connection() as conn:
            routed = read(conn, TICKET_OUTCOMES, days)
            summaries = registry.find(SUMMARIES)
            if summaries:
                written = read(conn, summaries, days).select(*TICKET_KEY, "summary")
                routed = routed.join(written, on=list(TICKET_KEY), how="left")
            else:  # its defs folder removed: escalations carry none
                routed = routed.with_columns(summary=pl.lit(None, pl.Utf8))
            actions = build_actions(routed)
            context.log.info(f"{actions.height} actions: {counts_by(actions, 'action_type')}")
            meta = {OUTBOX: {"by_action_type": counts_by(actions, "action_type")}}
            yield from warehouse.write({OUTBOX: actions}, days, meta)

    return outbox


def build_outbox_deliveries(daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="outbox_deliveries",
        # customers, raw_tickets and ticket_outcomes: the address, subject and urgency of each channel's message.
        specs=[OUTBOX_DELIVERIES.spec(deps=["outbox", "customers", "raw_tickets", "ticket_outcomes"])],
        group_name="outbox",
        **daily.asset_args(),
    )
    def outbox_deliveries(context: dg.AssetExecutionContext, warehouse: WarehouseResource, outbox_sink: OutboxResource):
        """Delivers the day's actions not delivered yet, each to its action type's sink, and records
        every action's delivery state."""
        days = partition_days(context)
        with warehouse.get_connection() as conn:
            actions = with_contacts(conn, read(conn, OUTBOX, days), days)
            previous = read(conn, OUTBOX_DELIVERIES, days)
        routes = outbox_sink.routes()
        with outbox_sink.ledger(context.run_id) as ledger:
            report = deliver(actions, previous, routes, ledger, outbox_sink.policy(), days)
            # The ledger is read back under the table's lock: of two overlapping runs (a retry and a
            # rerun of the day), the last to write also read last, so the table ends with the latest
            # state of every action.
            with warehouse.locked(OUTBOX_DELIVERIES.name):
                deliveries = delivery_table(actions, previous, ledger, routes)
                undelivered = deliveries.filter(pl.col("status") == "failed")
                meta = {
                    "sink": ", ".join(sorted(set(deliveries["sink"]))) or routes.default.name,
                    "by_sink": report.by_sink(),
                    "delivered_now": len(report.sent),
                    "found_in_sink": len(report.found),
                    "failed": undelivered.height,
                    "failed_now": len(report.failed),
                    "not_attempted": len(report.not_attempted),
                    "in_other_runs": len(report.elsewhere),
                    "stopped": report.stopped or "",
                    "by_status": counts_by(deliveries, "status"),
                    "failures": markdown_preview(
                        undelivered.select("action_id", "ticket_id", "attempts", "last_error"), empty="_none_"
                    ),
                }
                yield from warehouse.write({OUTBOX_DELIVERIES: deliveries}, days, {OUTBOX_DELIVERIES: meta})
        for name, counts in report.by_sink().items():
            context.log.info(
                f"Delivered {counts['sent']} new actions to {name} ({counts['found']} found already there); "
                f"{counts['failed']} failed, {counts['not_attempted']} not attempted, "
                f"{counts['elsewhere']} being delivered by another run"
            )
        if report.undelivered:
            context.log.warning(_undelivered_message(report, days))
        if report.mostly_failed:
            # Recorded above first: the failed actions are in the table, and the next run retries them.
            raise dg.Failure(description=_undelivered_message(report, days), metadata=meta)

    return outbox_deliveries


# What to check when a sink did not deliver.
_CHECKS = {
    "webhook": "that the webhook answers (AI_ASSETS_OUTBOX_WEBHOOK_URL, AI_ASSETS_OUTBOX_TIMEOUT_S)",
    "jsonl": "that the outbox file (outbox/actions.jsonl under the data directory) is writable and well-formed",
    "smtp": "that the SMTP server answers and accepts the login (AI_ASSETS_SMTP_*), and that every customer "
    "has an address in landing/crm/customers.csv",
    "ticketing": "that the ticketing system answers and accepts the token (AI_ASSETS_TICKETING_*)",
}


def _undelivered_message(report: DeliveryReport, days: list) -> str:
    """What failed, the first errors, and what to check."""
    examples = "; ".join(sorted(set(report.errors.values()))[:3])
    sinks = [name for name, counts in report.by_sink().items() if counts["failed"] or counts["not_attempted"]]
    checks = "; ".join(_CHECKS.get(name, f"the {name} sink") for name in sinks)
    return scrub_secrets(
        f"{report.undelivered} of {report.due} actions due were not delivered to the {' and '.join(sinks)} sink"
        f"{'s' if len(sinks) > 1 else ''}{f' ({report.stopped})' if report.stopped else ''}: {examples}. They "
        f"are recorded as failed in outbox_deliveries and retried by the next run that materialises it for "
        f"{days[0]}..{days[-1]} (outbox_retry_job, run hourly by outbox_retry_schedule). Check {checks}."
    )
