"""Read the CRM export (`landing/crm/customers.csv`) into `customers` rows and rejects.

Rows, unreadable rows and other files of landing/crm are read as every one-file export is
(exports.py). A missing export stops the step saying what to do: the table is rebuilt whole, and
an empty one would quietly strip every ticket of its customer.
"""

from __future__ import annotations

from pathlib import Path

import pandera.polars as pa
import polars as pl

from ai_assets.defs.reference.tables import CUSTOMERS, CUSTOMERS_QUARANTINE
from ai_assets.extract.exports import read_export
from ai_assets.quality.validate import split_valid


def read_customers(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns (customers, rejected rows with a `reason`); duplicates keep the first row."""
    if not path.is_file():
        raise FileNotFoundError(f"No CRM export at {path}: put customers.csv there, or run `ai-assets sample-data`")
    rows, unread = read_export(path, CUSTOMERS, CUSTOMERS_QUARANTINE, CUSTOMERS.column_names, "the CRM export")
    typed = rows.with_columns(signup_date=pl.col("signup_date").str.to_date(strict=False))
    # Duplicates are resolved below (first row wins), not rejected wholesale by the key.
    valid, rejected = split_valid(typed, CUSTOMERS.row_schema(source_line=pa.Column(pl.Int64)))
    first = valid.filter(pl.col("customer_id").is_first_distinct())
    duplicates = valid.filter(~pl.col("customer_id").is_first_distinct()).with_columns(
        reason=pl.lit("duplicate customer_id: kept the first row")
    )
    in_export = pl.concat([rejected, duplicates], how="diagonal_relaxed").select(CUSTOMERS_QUARANTINE.column_names)
    rejects = pl.concat([in_export, unread])
    return first.select(CUSTOMERS.column_names), rejects.sort("source_file", "source_line")
