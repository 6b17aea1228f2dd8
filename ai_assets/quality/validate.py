"""Split a frame into the rows a pandera schema accepts and the rows it rejects, with reasons."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

_ROW = "__row"


def _describe(column: str | None, check: str, failure_case: str | None) -> str:
    if check == "not_nullable":
        return f"{column} is missing or null"
    if check in ("field_uniqueness", "multiple_fields_uniqueness"):
        return f"{column} is not unique"
    got = "" if failure_case is None else f" (got {failure_case[:80]!r})"
    # Checks with a custom error message read as a sentence; built-in ones by their name.
    verb = ": " if " " in check else " failed "
    return f"{column or 'row'}{verb}{check}{got}"


def split_valid(frame: pl.DataFrame, schema: pa.DataFrameSchema) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Returns (valid rows, rejected rows plus a `reason` column naming every failed rule).

    Row-level failures (a bad value in a row) reject that row only; a failure not tied to a row
    (a missing column, a wrong dtype) means the code and the schema disagree, so it raises.
    """
    indexed = frame.with_row_index(_ROW)
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        if cases["index"].null_count():
            unplaced = cases.filter(pl.col("index").is_null())
            raise ValueError(f"{schema.name}: schema-level failures, not row-level:\n{unplaced}") from None
        reasons = (
            cases.with_columns(
                reason=pl.struct("column", "check", "failure_case").map_elements(
                    lambda c: _describe(c["column"], c["check"], c["failure_case"]), return_dtype=pl.Utf8
                ),
                index=pl.col("index").cast(pl.UInt32),
            )
            .group_by("index")
            .agg(pl.col("reason").unique(maintain_order=True).str.join("; "))
            .rename({"index": _ROW})
        )
        rejected = indexed.join(reasons, on=_ROW, how="inner").sort(_ROW).drop(_ROW)
        valid = indexed.join(reasons, on=_ROW, how="anti").drop(_ROW)
        return valid, rejected
    return frame, frame.clear().with_columns(reason=pl.lit(None, pl.Utf8))
