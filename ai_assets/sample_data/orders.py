"""The order system's daily export for the sample data: a record per order the day's tickets name.

Like a real export it does not know every order a customer quotes (about one in seven is
missing: a typo, another shop, an order not synced yet), and the states follow what the tickets
are about: a shipping complaint's order is mostly delayed or in transit, a billing question's is
mostly delivered. The first record of every export is broken in a way the extract must quarantine
(an unknown status), so the quarantine path runs on sample data too.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from random import Random
from typing import NamedTuple

MISSING_SHARE = 0.15
CARRIERS = ("DHL", "UPS", "DPD", "PostNL")
# Status weights by the ticket's category (the order's state is what the customer writes about).
_STATUS_WEIGHTS = {
    "shipping": {"delayed": 40, "in_transit": 35, "delivered": 15, "processing": 10},
    "returns": {"returned": 50, "delivered": 50},
    "billing": {"delivered": 60, "shipped": 20, "cancelled": 20},
}
_DEFAULT_WEIGHTS = {"delivered": 50, "shipped": 25, "processing": 25}


class OrderMention(NamedTuple):
    order_id: str
    customer_id: str
    ticket_created_at: datetime
    category: str


def order_export(seed: int, day: str, mentions: list[OrderMention]) -> list[dict]:
    """The export of `day`: one record per distinct order named that day, but the missing ones."""
    rng = Random(f"{seed}:orders:{day}")
    records = [{"order_id": "ORD-00000", "customer_id": "C-00000", "status": "teleported"}]
    seen: set[str] = set()
    for mention in mentions:
        if mention.order_id in seen or rng.random() < MISSING_SHARE:
            continue
        seen.add(mention.order_id)
        records.append(_record(rng, mention))
    return records


def _record(rng: Random, mention: OrderMention) -> dict:
    weights = _STATUS_WEIGHTS.get(mention.category, _DEFAULT_WEIGHTS)
    status = rng.choices(list(weights), weights=list(weights.values()))[0]
    ordered = mention.ticket_created_at - timedelta(days=rng.randint(2, 12), hours=rng.randint(0, 23))
    expected: date = (ordered + timedelta(days=rng.randint(3, 7))).date()
    if status == "delayed":
        expected = mention.ticket_created_at.date() + timedelta(days=rng.randint(2, 6))
    record = {
        "order_id": mention.order_id,
        "customer_id": mention.customer_id,
        "status": status,
        "ordered_at": ordered.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expected_delivery": expected.isoformat(),
    }
    if status not in ("processing", "cancelled"):
        record["carrier"] = rng.choice(CARRIERS)
        record["tracking_number"] = f"{rng.randint(10**11, 10**12 - 1)}"
    if status in ("delivered", "returned"):
        delivered = min(ordered + timedelta(days=rng.randint(2, 5)), mention.ticket_created_at - timedelta(hours=1))
        record["delivered_at"] = delivered.strftime("%Y-%m-%dT%H:%M:%SZ")
    return record
