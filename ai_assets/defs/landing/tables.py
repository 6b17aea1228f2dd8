"""The contracts of the landing feature's tables: the day's tickets and orders, and their quarantines."""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl

from ai_assets.quality.columns import (
    LANDING_NOTES,
    TICKET_KEY,
    TICKET_NOTES,
    date_column,
    day_quarantine,
    not_blank,
    one_of,
    text_column,
)
from ai_assets.quality.vocabulary import CHANNELS, ORDER_STATUSES
from ai_assets.warehouse.contract import Table


def ticket_candidates_schema(day: date) -> pa.DataFrameSchema:
    """Rules a parsed landing record must pass to become a `raw_tickets` row of `day`."""
    return pa.DataFrameSchema(
        {
            "ticket_id": text_column(checks=not_blank()),
            "customer_id": text_column(checks=not_blank()),
            "created_at": pa.Column(pl.Datetime("us")),
            "created_date": pa.Column(pl.Date, pa.Check.equal_to(day, error=f"created_at must fall on {day}")),
            "channel": one_of(CHANNELS),
            "subject": text_column(checks=not_blank()),
            "body": text_column(checks=not_blank()),
        },
        name="ticket_candidates",
    )


RAW_TICKETS = Table(
    "raw_tickets",
    "One row per valid support ticket of the day of its created_at, de-duplicated on ticket_id within the day.",
    {
        "ticket_id": text_column(),
        "customer_id": text_column(),
        "created_at": pa.Column(pl.Datetime("us")),
        "created_date": date_column(),
        "channel": one_of(CHANNELS),
        "subject": text_column(),
        "body": text_column(checks=not_blank()),
        "body_chars": pa.Column(pl.Int64, pa.Check.ge(1)),
        "source_file": text_column(),
        "source_line": pa.Column(pl.Int64),
    },
    key=TICKET_KEY,
    pii=True,
    partitioned=True,
    blocking=True,
    notes={
        **TICKET_NOTES,
        **LANDING_NOTES,
        "created_date": "the partition: the UTC day of created_at",
        "body_chars": "characters in body",
    },
)


RAW_TICKETS_QUARANTINE = day_quarantine(
    "raw_tickets_quarantine",
    "One row per landing record rejected from raw_tickets (unreadable, invalid or duplicate), with the reason, "
    "source file and raw record.",
    "ticket_id",
    {
        "created_date": "the partition: the day folder read, landing/tickets/YYYY-MM-DD",
        "source_line": "0: the file as a whole (not read: its extension, a broken link, a CSV header, ...)",
    },
)


ORDERS = Table(
    "orders",
    "One row per order in a day's export of the order system (landing/orders/YYYY-MM-DD/*.jsonl|csv): its state "
    "that day. The order_status tool reads the latest state on or before a ticket's day.",
    {
        "order_id": text_column(checks=not_blank()),
        "customer_id": text_column(checks=not_blank()),
        "created_date": date_column(),
        "status": one_of(ORDER_STATUSES),
        "ordered_at": pa.Column(pl.Datetime("us"), nullable=True),
        "expected_delivery": pa.Column(pl.Date, nullable=True),
        "delivered_at": pa.Column(pl.Datetime("us"), nullable=True),
        "carrier": text_column(nullable=True),
        "tracking_number": text_column(nullable=True),
        "source_file": text_column(),
        "source_line": pa.Column(pl.Int64),
    },
    key=("created_date", "order_id"),
    pii=True,
    partitioned=True,
    preview=("order_id", "customer_id", "status", "expected_delivery"),
    notes={
        **LANDING_NOTES,
        "order_id": "the order system's id of the order",
        "customer_id": "who placed the order: the CRM's customer id (customers)",
        "created_date": "the partition: the day of the export folder",
        "status": "the order's state that day",
        "ordered_at": "UTC; null: not given",
        "expected_delivery": "the day delivery is promised for; null: not given",
        "delivered_at": "UTC; null: not delivered, or not given",
        "carrier": "the shipping carrier; null: not given",
        "tracking_number": "the carrier's tracking number; null: not given",
    },
)


ORDERS_QUARANTINE = day_quarantine(
    "orders_quarantine",
    "One row per order record of a day's export rejected from orders (unreadable, invalid or duplicate), with the "
    "reason, source file and raw record.",
    "order_id",
    {"created_date": "the partition: the day of the export folder"},
)
