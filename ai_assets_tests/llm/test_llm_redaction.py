"""One card-number rule: what is redacted before a prompt leaves is what a reply may not contain."""

from __future__ import annotations

import polars as pl
import pytest

from ai_assets.defs.replies import tasks as reply
from ai_assets.llm.redaction import CARD_NUMBER, redact_expr

CARDS = [
    "4111111111111",  # 13 digits
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "5500 0000 0000 0004 123",  # 19 digits
]
NOT_CARDS = [
    "A-10234",  # an order id
    "555-123-4567",  # a 10-digit phone number
    "5551234567",
    "ORD-123456789012",  # 12 digits
]


def _redacted(texts: list[str]) -> list[str]:
    return pl.DataFrame({"text": texts}).select(redact_expr(pl.col("text")))["text"].to_list()


def _flagged(replies: list[str]) -> list[bool]:
    drafts = pl.DataFrame(
        {
            "reply": replies,
            "cited_chunk_ids": [["kb#1"]] * len(replies),
            "retrieved_chunk_ids": [["kb#1"]] * len(replies),
            "knowledge": ["[kb#1] Parcels ship within a day."] * len(replies),
        }
    )
    return ["contains a card number" in problems for problems in reply.rule_problems(drafts).to_list()]


@pytest.mark.parametrize("card", CARDS)
def test_a_card_number_is_redacted_and_flagged_alike(card):
    text = f"My card {card} was charged twice."
    assert _redacted([text]) == ["My card [CARD] was charged twice."]
    assert _flagged([text]) == [True]


@pytest.mark.parametrize("other", NOT_CARDS)
def test_an_order_id_or_a_phone_number_is_neither(other):
    text = f"About {other}, please call me back."
    assert "[CARD]" not in _redacted([text])[0]
    assert _flagged([text]) == [False]


def test_the_reply_rule_is_the_redaction_pattern():
    assert reply.CARD_NUMBER is CARD_NUMBER
