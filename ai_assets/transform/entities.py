"""What a ticket's text says outright, read by rules instead of asked of the LLM: the order id by
its pattern, the product by the catalog's names.

Lookarounds rather than word boundaries: in "ご注文番号はORD-12345です" the id has word characters
on both sides. The first id mentioned is the ticket's; ids are upper-cased (customers write
"ord-12345"). A product is the longest catalog name the text contains, ignoring case and spacing;
a misspelt or shortened name is not guessed at, nor a name inside a longer word (null: none found).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import polars as pl

ORDER_ID = re.compile(r"(?<![A-Za-z0-9])ORD-[0-9]{4,10}(?![0-9])", re.IGNORECASE)  # ASCII digits only
# Bump when the rules change how they read a text: part of the triage's code version, so its days go stale.
RULES_VERSION = "entities@" + hashlib.sha256(f"{ORDER_ID.pattern};longest-whole-name-v2".encode()).hexdigest()[:8]


def order_id(text: str | None) -> str | None:
    found = ORDER_ID.search(text or "")
    return found.group(0).upper() if found else None


def _squeezed(text: str) -> str:
    return " ".join(text.lower().split())


@lru_cache(maxsize=8)
def _name_patterns(catalog: tuple[str, ...]) -> list[tuple[str, re.Pattern]]:
    """Each catalog name, longest first, with the pattern that finds it as a whole name (not "Go" in
    "Good"; ASCII boundaries, so a name right beside Japanese text is still found)."""
    names = sorted((name for name in catalog if _squeezed(name)), key=len, reverse=True)
    return [(name, re.compile(rf"(?<![a-z0-9]){re.escape(_squeezed(name))}(?![a-z0-9])")) for name in names]


def product(text: str | None, catalog: Sequence[str]) -> str | None:
    """The longest catalog name in `text` (case and runs of whitespace ignored), as the catalog spells it."""
    squeezed = _squeezed(text or "")
    return next((name for name, pattern in _name_patterns(tuple(catalog)) if pattern.search(squeezed)), None)


def ticket_texts(tickets: pl.DataFrame) -> list[str]:
    """Each ticket's subject and body as one text, what the rules (and the language identifier) read."""
    return [f"{subject or ''}\n{body or ''}" for subject, body in tickets.select("subject", "body").iter_rows()]


def mentions(tickets: pl.DataFrame, catalog: Sequence[str]) -> pl.DataFrame:
    """Per ticket (`row_key`, `subject`, `body`): the order id and the product its text mentions."""
    texts = ticket_texts(tickets)
    return pl.DataFrame(
        {
            "row_key": tickets["row_key"],
            "order_id": [order_id(text) for text in texts],
            "product": [product(text, catalog) for text in texts],
        },
        schema={"row_key": pl.Utf8, "order_id": pl.Utf8, "product": pl.Utf8},
    )
