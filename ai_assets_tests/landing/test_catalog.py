"""The product catalog (landing/catalog/products.csv): every row in `products` or in
`products_quarantine` with a reason, names unique in any letter case, and an absent catalog empty."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from ai_assets.defs.reference.assets import products
from ai_assets.defs.reference.tables import PRODUCTS, PRODUCTS_QUARANTINE
from ai_assets.extract.catalog import read_products
from ai_assets.resources import DataDirResource
from ai_assets.sample_data import generate_sample_data
from ai_assets.sample_data.catalog import PRODUCTS as SAMPLE_PRODUCTS
from ai_assets_tests.conftest import configure_env, read_table

HEADER = "product_name,price,connected\n"


def _catalog(tmp_path: Path, data: bytes | str) -> Path:
    path = tmp_path / "catalog" / "products.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def _reasons(rejects) -> dict[int, str]:
    return dict(rejects.select("source_line", "reason").rows())


def test_a_good_catalog_is_loaded_trimmed_and_typed(tmp_path):
    path = _catalog(tmp_path, HEADER + "  Nimbus Buds ,89.00,true\nLumen desk lamp,59,FALSE\nGift card,,\n")

    rows, rejects = read_products(path)

    assert rows.rows() == [
        ("Nimbus Buds", Decimal("89.00"), True),
        ("Lumen desk lamp", Decimal("59.00"), False),
        ("Gift card", None, None),  # blank: not given
    ]
    assert rejects.height == 0
    PRODUCTS.validate(rows)


def test_a_name_twice_in_any_letter_case_keeps_the_first_row(tmp_path):
    path = _catalog(tmp_path, HEADER + "Nimbus Buds,89.00,true\nnimbus BUDS,79.00,true\n")

    rows, rejects = read_products(path)

    assert rows["product_name"].to_list() == ["Nimbus Buds"] and rows["price"].to_list() == [Decimal("89.00")]
    assert rejects.select("source_file", "source_line", "product_name").rows() == [
        ("catalog/products.csv", 3, "nimbus BUDS")
    ]
    assert _reasons(rejects)[3] == (
        "duplicate product_name, in any letter case: kept 'Nimbus Buds' at catalog/products.csv:2"
    )


def test_a_blank_name_or_a_bad_value_costs_only_its_row(tmp_path):
    rows = "Good,1.50,true\n   ,5.00,true\nLamp,abc,true\nFan,-3,false\nBand,1.999,true\nBuds,9,maybe\n"
    rows, rejects = read_products(_catalog(tmp_path, HEADER + rows))

    assert rows["product_name"].to_list() == ["Good"]
    reasons = _reasons(rejects)
    assert reasons[3] == "product_name: must not be empty or whitespace (got '')"
    assert reasons[4].startswith("price 'abc' is not an amount like 12.50")
    assert reasons[5].startswith("price '-3' is not an amount") and reasons[6].startswith("price '1.999'")
    assert reasons[7] == "connected 'maybe' is not true or false"
    PRODUCTS_QUARANTINE.validate(rejects)


def test_a_catalog_without_product_name_in_its_header_stops_the_step_saying_what_it_got(tmp_path):
    path = _catalog(tmp_path, "name,price\nNimbus Buds,89.00\n")
    with pytest.raises(ValueError, match="header missing or unrecognised: expected columns product_name.* got name"):
        read_products(path)


def test_the_optional_columns_may_be_left_out_of_the_header(tmp_path):
    rows, rejects = read_products(_catalog(tmp_path, "product_name\nNimbus Buds\n"))
    assert rows.rows() == [("Nimbus Buds", None, None)] and rejects.height == 0


def test_an_empty_or_missing_catalog_is_an_empty_table_and_other_files_are_reported(tmp_path):
    assert read_products(_catalog(tmp_path / "header", HEADER))[0].height == 0
    assert read_products(_catalog(tmp_path / "empty", b""))[0].height == 0
    rows, rejects = read_products(tmp_path / "nowhere" / "catalog" / "products.csv")
    assert rows.height == 0 and rejects.height == 0

    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "products.xlsx").write_text("not read")
    rows, rejects = read_products(tmp_path / "catalog" / "products.csv")
    assert rows.height == 0
    assert rejects.select("source_file", "source_line", "reason").rows() == [
        (
            "catalog/products.xlsx",
            0,
            "not the product catalog (landing/catalog/products.csv); nothing else in it is read",
        )
    ]


def test_a_cp1252_byte_in_the_catalog_costs_only_its_row(tmp_path):
    data = b"\xef\xbb\xbf" + (HEADER + "Nimbus Buds,89.00,true\nCaf\xe9 grinder,39.00,false\nLamp,59.00,\n").encode(
        "cp1252"
    )

    rows, rejects = read_products(_catalog(tmp_path, data))

    assert rows["product_name"].to_list() == ["Nimbus Buds", "Lamp"]  # nothing loaded mangled
    assert rejects["source_line"].to_list() == [3]
    assert rejects["reason"].item().startswith("not valid UTF-8 (byte 0xe9 at offset")


def test_the_products_asset_loads_the_sample_catalog_and_a_rerun_changes_nothing(tmp_path, monkeypatch):
    settings = configure_env(monkeypatch, tmp_path / "data", None)
    generate_sample_data(settings.data_dir, days=1, tickets_per_day=10, golden_size=0, handwritten=False)
    (settings.landing_dir / "catalog" / "prices.xlsx").write_text("not read")
    resources = {"landing": DataDirResource(data_dir=str(settings.data_dir)), "warehouse": settings.warehouse}

    with dg.instance_for_test() as instance:
        for _ in range(2):  # rebuilt whole: a second run replaces, never doubles
            assert dg.materialize([products], instance=instance, resources=resources).success

    rows = read_table(settings.warehouse, PRODUCTS).sort("product_name")
    expected = sorted((p.name, Decimal(f"{p.price:.2f}"), p.connected) for p in SAMPLE_PRODUCTS)
    assert rows.rows() == expected
    quarantine = read_table(settings.warehouse, PRODUCTS_QUARANTINE)
    assert quarantine.select("source_file", "source_line").rows() == [("catalog/prices.xlsx", 0)]
