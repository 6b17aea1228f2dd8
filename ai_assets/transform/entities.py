"""What a ticket's text says outright, read by rules instead of asked of the LLM: the order id by
its pattern, the product by the catalog's names.

Lookarounds rather than word boundaries: in "ご注文番号はORD-12345です" the id has word characters
on both sides. The first id mentioned is the ticket's; ids are upper-cased (customers write
"ord-12345"). A product is the longest catalog name the text contains, ignoring case and spacing;
a misspelt or shortened name is not guessed at (null: the rule found none).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

ORDER_ID = re.compile(r"(?<![A-Za-z0-9])ORD-\d{4,10}(?!\d)", re.IGNORECASE)


def order_id(text: str | None) -> str | None:
    found = ORDER_ID.search(text or "")
    return found.group(0).upper() if found else None


def _squeezed(text: str) -> str:
    return " ".join(text.lower().split())


def product(text: str | None, catalog: Sequence[str]) -> str | None:
    """The longest catalog name in `text` (case and runs of whitespace ignored), as the catalog spells it."""
    squeezed = _squeezed(text or "")
    named = [name for name in catalog if _squeezed(name) and _squeezed(name) in squeezed]
    return max(named, key=len) if named else None


def mentions(tickets: pl.DataFrame, catalog: Sequence[str]) -> pl.DataFrame:
    """Per ticket (`row_key`, `subject`, `body`): the order id and the product its text mentions."""
    texts = [f"{subject or ''}\n{body or ''}" for subject, body in tickets.select("subject", "body").iter_rows()]
    return pl.DataFrame(
        {
            "row_key": tickets["row_key"],
            "order_id": [order_id(text) for text in texts],
            "product": [product(text, catalog) for text in texts],
        },
        schema={"row_key": pl.Utf8, "order_id": pl.Utf8, "product": pl.Utf8},
    )
