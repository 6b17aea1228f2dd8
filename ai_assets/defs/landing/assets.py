"""The daily extracts: the day's ticket and order files into raw_tickets and orders, rejects into
their quarantines."""

import dagster as dg
import polars as pl

from ai_assets.defs.landing.tables import ORDERS, ORDERS_QUARANTINE, RAW_TICKETS, RAW_TICKETS_QUARANTINE
from ai_assets.extract.folder_assets import refuse_lost_days
from ai_assets.extract.orders import build_orders
from ai_assets.extract.tickets import build_raw_tickets
from ai_assets.quality.freshness import RAW_TICKETS_FRESHNESS
from ai_assets.resources import DataDirResource
from ai_assets.warehouse.metadata import counts_by
from ai_assets.warehouse.partitions import Daily, partition_days
from ai_assets.warehouse.resource import WarehouseResource


def build_raw_tickets_asset(daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="raw_tickets",
        specs=[
            RAW_TICKETS.spec(deps=["landing_tickets"], freshness_policy=RAW_TICKETS_FRESHNESS),
            RAW_TICKETS_QUARANTINE.spec(deps=["landing_tickets"]),
        ],
        group_name="landing",
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
        **daily.asset_args(),
    )
    def raw_tickets(context: dg.AssetExecutionContext, landing: DataDirResource, warehouse: WarehouseResource):
        """Reads `landing/tickets/<day>/*.jsonl|*.csv` and replaces those days' rows in both tables."""
        days = partition_days(context)
        refuse_lost_days(context, warehouse, RAW_TICKETS, landing.landing_dir / "tickets", days)
        results = [build_raw_tickets(landing.landing_dir, day) for day in days]
        for day, result in zip(days, results):
            if result.files == 0 and not result.files_not_read:
                context.log.warning(
                    f"No landing files in {landing.landing_dir / 'tickets' / str(day)}; the day is empty"
                )
            for source, reason in result.files_not_read:
                context.log.warning(f"{day}: landing/{source} not read: {reason} (one quarantine row)")
            context.log.info(
                f"{day}: read {result.records} records from {result.files} files; {result.tickets.height} tickets, "
                f"{result.quarantine.height} quarantined ({result.duplicates} duplicates)"
            )
        tickets = pl.concat([r.tickets for r in results])
        stats = {
            "days": len(days),
            "files": sum(r.files for r in results),
            "files_not_read": sum(len(r.files_not_read) for r in results),
            "records_read": sum(r.records for r in results),
            "duplicates_dropped": sum(r.duplicates for r in results),
            "by_channel": counts_by(tickets, "channel"),
        }
        frames = {RAW_TICKETS: tickets, RAW_TICKETS_QUARANTINE: pl.concat([r.quarantine for r in results])}
        yield from warehouse.write(frames, days, metadata={RAW_TICKETS: stats})

    return raw_tickets


def build_orders_asset(daily: Daily) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="orders",
        specs=[ORDERS.spec(deps=["landing_orders"]), ORDERS_QUARANTINE.spec(deps=["landing_orders"])],
        group_name="landing",
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
        **daily.asset_args(),
    )
    def orders(context: dg.AssetExecutionContext, landing: DataDirResource, warehouse: WarehouseResource):
        """Reads the order system's export of each day, `landing/orders/<day>/*.jsonl|*.csv`, and replaces those
        days' rows in both tables (what the order_status tool reads when AI_ASSETS_ORDERS_API_URL is unset)."""
        days = partition_days(context)
        # Not every day has an order export: a missing day folder is an empty day unless it had rows.
        refuse_lost_days(context, warehouse, ORDERS, landing.landing_dir / "orders", days, folder_required=False)
        results = [build_orders(landing.landing_dir, day) for day in days]
        for day, result in zip(days, results):
            if result.files == 0:
                context.log.warning(
                    f"No order export in {landing.landing_dir / 'orders' / str(day)}: the order_status tool finds "
                    "no order of that day (set AI_ASSETS_ORDERS_API_URL to ask the order service instead)"
                )
            context.log.info(
                f"{day}: read {result.records} order records from {result.files} files; {result.orders.height} orders, "
                f"{result.quarantine.height} quarantined ({result.duplicates} duplicates)"
            )
        rows = pl.concat([r.orders for r in results])
        stats = {"by_status": counts_by(rows, "status"), "files": sum(r.files for r in results)}
        frames = {ORDERS: rows, ORDERS_QUARANTINE: pl.concat([r.quarantine for r in results])}
        yield from warehouse.write(frames, days, metadata={ORDERS: stats})

    return orders
