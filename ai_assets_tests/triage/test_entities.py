"""The rules that read an order id and a product from a ticket's text (transform/entities.py)."""

from __future__ import annotations

import polars as pl
import pytest

from ai_assets.transform import entities

CATALOG = ["Nimbus 2 headphones", "Nimbus Buds", "Kettle Pro 1.7L", "AeroPress Go"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Where is my order ORD-76989?", "ORD-76989"),
        ("ご注文番号はORD-12345です", "ORD-12345"),  # word characters on both sides
        ("order ord-55120 and ORD-11111", "ORD-55120"),  # the first one, upper-cased
        ("see https://shop.example/orders/ORD-20001?x=1", "ORD-20001"),
        ("XORD-12345 is not an id, nor ORD-123 nor ORD-12345678901", None),
        ("", None),
        (None, None),
    ],
)
def test_the_order_id_by_its_pattern(text, expected):
    assert entities.order_id(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("my nimbus   2 HEADPHONES crackle", "Nimbus 2 headphones"),
        ("the Nimbus Buds case", "Nimbus Buds"),
        ("Kettle Pro 1.7L leaks", "Kettle Pro 1.7L"),
        ("my nimbus earbuds", None),  # not guessed at
        ("the aeropress", None),
        (None, None),
    ],
)
def test_the_product_by_the_catalog(text, expected):
    assert entities.product(text, CATALOG) == expected


def test_the_longest_name_wins():
    assert entities.product("Nimbus Buds Pro", ["Nimbus", "Nimbus Buds"]) == "Nimbus Buds"


def test_mentions_reads_subject_and_body_of_each_ticket():
    tickets = pl.DataFrame(
        {
            "row_key": ["a", "b", "c"],
            "subject": ["Order ORD-48213 late", None, "hello"],
            "body": ["my nimbus  buds are missing", "The Kettle Pro 1.7L leaks, order ord-5512", None],
        }
    )
    found = entities.mentions(tickets, CATALOG)
    assert found.rows() == [("a", "ORD-48213", "Nimbus Buds"), ("b", "ORD-5512", "Kettle Pro 1.7L"), ("c", None, None)]
    assert entities.mentions(tickets, [])["product"].null_count() == 3  # an empty catalog names nothing


def test_a_product_is_a_whole_name_not_part_of_a_word():
    catalog = ["Go", "AeroPress Go"]
    assert entities.product("Good morning, all good", catalog) is None
    assert entities.product("my aeropress go leaks", catalog) == "AeroPress Go"
    assert entities.product("Goが壊れました", catalog) == "Go"  # beside Japanese text: still a whole name
    assert entities.order_id("ORD-１２３４５") is None  # full-width digits are not an order id's
