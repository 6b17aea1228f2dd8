"""Sample rows for the outbox: ticket outcomes as routing writes them, and the actions of a day of
auto-approved tickets, for the delivery tests and the outbox benchmark alike."""

from datetime import date

import polars as pl

from ai_assets.defs.outbox.tables import TICKET_OUTCOMES
from ai_assets.load.outbox import build_actions

DAY = date(2026, 11, 1)


def outcomes(*rows: dict) -> pl.DataFrame:
    """`ticket_outcomes` rows of DAY with their summaries (ticket_summaries), as the outbox reads them: an
    auto-approved shipping reply, with each row's overrides."""
    defaults = {
        "created_date": DAY,
        "customer_id": "C-1",
        "category": "shipping",
        "urgency": "low",
        "summary": "Where is my parcel?",
        "reasons": [],
        "route": "auto",
        "status": "auto_approved",
        "final_reply": "Your parcel ships today.",
        "reviewer": None,
    }
    return pl.DataFrame(
        [{**defaults, **row} for row in rows], schema={**TICKET_OUTCOMES.polars_schema, "summary": pl.Utf8}
    )


def day_actions(n: int) -> pl.DataFrame:
    """The actions of a day of `n` auto-approved tickets, one reply each."""
    return build_actions(outcomes(*({"ticket_id": f"T-{i:03d}"} for i in range(n))))
