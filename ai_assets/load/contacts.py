"""What a channel needs to deliver an action beyond its payload: the customer's address and name
from the CRM, the ticket's subject and urgency.

Only structured columns choose a recipient: the action's `customer_id` joined to `customers`
(landing/crm/customers.csv). Ticket text (the subject) is only ever echoed back, on one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from email import policy

import duckdb
import polars as pl

from ai_assets.warehouse.sql import sql_file

# One address, no display name, no spaces or angle brackets: what a CRM cell or a setting may hold.
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
SUBJECT_CHARS = 200  # of a ticket's subject, in an e-mail's or an escalation's subject


def is_email_address(value: str | None) -> bool:
    return bool(value) and _ADDRESS.fullmatch(value) is not None


def one_line(text: str) -> str:
    """Header text from a field: control characters (a header injection) become spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def header_text(text: str, limit: int | None = None) -> str:
    """Text for an e-mail header, on one line in every encoding, at most `limit` characters.

    Stripping raw control characters is not enough: the e-mail library decodes RFC 2047 encoded
    words (`=?utf-8?q?help=0D=0AReply-To:...?=`) when it sets and writes a header, and a decoded
    CR/LF starts a new header or the body. So encoded words are decoded first, the way the library
    decodes them, and then control characters become spaces; repeated until nothing changes, since a
    decoded word can hold another encoded word. What is left decodes to itself."""
    for _ in range(10):  # each round only shortens an encoded word; 10 is nesting no one sends by accident
        flat = one_line(str(policy.SMTP.header_factory("subject", text)))[:limit]
        if flat == text:
            break
        text = flat
    return text


def with_contacts(conn: duckdb.DuckDBPyConnection, actions: pl.DataFrame, days: Sequence[date]) -> pl.DataFrame:
    """`actions` (outbox rows of `days`) with `customer_email`, `customer_name`, `ticket_subject`
    and `urgency`, null where the warehouse has none."""
    found = conn.execute(sql_file(__file__, "action_contacts"), {"days": list(days)}).pl()
    return actions.join(found, on="action_id", how="left")
