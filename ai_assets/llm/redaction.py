"""Redact personal data (emails, card numbers, phone numbers) from text before it leaves for a
model endpoint that is not on this machine. Vectorised: one regex pass per kind over a column."""

from __future__ import annotations

import polars as pl

# 13 to 19 digits, single spaces or dashes allowed between them (payment card numbers, ISO/IEC
# 7812). The reply rules flag the same pattern, so what is redacted and what is refused agree.
CARD_NUMBER = r"\b(?:\d[ -]?){12,18}\d\b"

# Order matters: a card number would otherwise half-match as a phone number.
PII_PATTERNS = (
    ("[EMAIL]", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ("[CARD]", CARD_NUMBER),
    ("[CVV]", r"(?i)\b(?:cvv|cvc|security code)\b\W{0,3}\d{3,4}\b"),
    ("[PHONE]", r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}[\s.-]\d{3,4}[\s.-]\d{3,4}\b"),
)


def redact_expr(expr: pl.Expr) -> pl.Expr:
    for placeholder, pattern in PII_PATTERNS:
        expr = expr.str.replace_all(pattern, placeholder)
    return expr
