"""Read the CRM export (`landing/crm/customers.csv`) into `customers` rows and rejects."""

from __future__ import annotations

from pathlib import Path

import pandera.polars as pa
import polars as pl

from ai_assets.quality.tables import CUSTOMERS, CUSTOMERS_QUARANTINE
from ai_assets.quality.validate import split_valid


def read_customers(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns (customers, rejected rows with a `reason`); duplicates keep the first row."""
    if not path.exists():
        raise FileNotFoundError(f"No CRM export at {path}: put customers.csv there, or run `ai-assets sample-data`")
    # Every column as text first: a bad cell becomes a rejected row, not a failed read.
    frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy").with_row_index("source_line", offset=2)
    missing = set(CUSTOMERS.column_names) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: the header lacks {sorted(missing)}; expected {CUSTOMERS.column_names}")
    typed = frame.with_columns(
        signup_date=pl.col("signup_date").str.to_date(strict=False),
        source_line=pl.col("source_line").cast(pl.Int64),
    )
    columns = [*CUSTOMERS.column_names, "source_line"]
    # Duplicates are resolved below (first row wins), not rejected wholesale by the key.
    valid, rejected = split_valid(typed.select(columns), CUSTOMERS.row_schema(source_line=pa.Column(pl.Int64)))
    first = valid.filter(pl.col("customer_id").is_first_distinct())
    duplicates = valid.filter(~pl.col("customer_id").is_first_distinct()).with_columns(
        reason=pl.lit("duplicate customer_id: kept the first row")
    )
    rejects = pl.concat([rejected, duplicates]).select(CUSTOMERS_QUARANTINE.column_names)
    return first.drop("source_line"), rejects
