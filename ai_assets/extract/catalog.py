"""Read the product catalog (`landing/catalog/products.csv`) into `products` rows and rejects.

Rows, unreadable rows and other files of landing/catalog are read as every one-file export is
(exports.py); only `product_name` must be in the header. Unlike the CRM export, a missing catalog
is an empty one, not an error: the catalog is optional (a deployment without one still runs
reference_data_job), and an empty catalog only means no ticket is matched to a product by name.
"""

from __future__ import annotations

from pathlib import Path

import pandera.polars as pa
import polars as pl

from ai_assets.defs.reference.tables import PRODUCTS, PRODUCTS_QUARANTINE
from ai_assets.extract.exports import other_entries, read_export
from ai_assets.quality.validate import split_valid

# An amount as a catalog writes it: no sign, no thousands separator, no currency, at most cents.
_AMOUNT = r"^\d+(\.\d{1,2})?$"
_CONNECTED = {"true": True, "false": False}


def _given(column: str) -> pl.Expr:
    """The column's text trimmed; a blank cell is null (not given), as an empty one is."""
    text = pl.col(column).str.strip_chars()
    return pl.when(text != "").then(text)


def _typed(rows: pl.DataFrame) -> pl.DataFrame:
    """`price` and `connected` typed, and in `problem` why a given value cannot be (it is not nulled:
    a wrong price must be seen and fixed, not loaded as unknown)."""
    price, connected = _given("price"), _given("connected")
    typed_price = pl.when(price.str.contains(_AMOUNT)).then(price).cast(PRODUCTS.polars_schema["price"], strict=False)
    typed_connected = connected.str.to_lowercase().replace_strict(_CONNECTED, default=None, return_dtype=pl.Boolean)
    problems = [
        pl.when(price.is_not_null() & typed_price.is_null()).then(
            pl.format("price '{}' is not an amount like 12.50 (0 or more, at most 2 decimals)", price)
        ),
        pl.when(connected.is_not_null() & typed_connected.is_null()).then(
            pl.format("connected '{}' is not true or false", connected)
        ),
    ]
    problem = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    return rows.with_columns(
        product_name=pl.col("product_name").str.strip_chars(),
        price=typed_price,
        connected=typed_connected,
        problem=pl.when(problem != "").then(problem),
    )


def read_products(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns (products, rejected rows with a `reason`); of names equal in any letter case, the first row is kept."""
    if not path.is_file():
        return PRODUCTS.empty(), other_entries(path, PRODUCTS_QUARANTINE, "the product catalog")
    rows, unread = read_export(path, PRODUCTS, PRODUCTS_QUARANTINE, ("product_name",), "the product catalog")
    extra = {"source_line": pa.Column(pl.Int64), "problem": pa.Column(pl.Utf8, nullable=True)}
    valid, rejected = split_valid(_typed(rows), PRODUCTS.row_schema(**extra))
    rejected = rejected.with_columns(reason=pl.concat_str(["problem", "reason"], separator="; ", ignore_nulls=True))
    unparsed = valid.filter(pl.col("problem").is_not_null()).with_columns(reason=pl.col("problem"))
    ranked = valid.filter(pl.col("problem").is_null()).with_columns(
        kept=pl.format("'{}' at {}:{}", "product_name", "source_file", "source_line")
        .first()
        .over(pl.col("product_name").str.to_lowercase()),
        is_kept=pl.col("product_name").str.to_lowercase().is_first_distinct(),
    )
    duplicates = ranked.filter(~pl.col("is_kept")).with_columns(
        reason=pl.format("duplicate product_name, in any letter case: kept {}", "kept")
    )
    in_export = pl.concat([rejected, unparsed, duplicates], how="diagonal_relaxed")
    rejects = pl.concat([in_export.select(PRODUCTS_QUARANTINE.column_names), unread])
    products = ranked.filter(pl.col("is_kept")).select(PRODUCTS.column_names)
    return products, rejects.sort("source_file", "source_line")
