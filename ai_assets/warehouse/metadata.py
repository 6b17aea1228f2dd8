"""Materialisation metadata helpers shared by the assets."""

from __future__ import annotations

import dagster as dg
import polars as pl


def markdown_preview(frame: pl.DataFrame, limit: int = 10, empty: str = "_no rows_") -> dg.MetadataValue:
    """The first rows of a frame as a markdown table for the asset's page in the UI."""
    if frame.is_empty():
        return dg.MetadataValue.md(empty)
    with pl.Config(
        tbl_formatting="ASCII_MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=limit,
        fmt_str_lengths=80,
        # Polars wraps a table wider than the terminal onto two lines, which breaks the markdown table.
        tbl_width_chars=65_535,  # the most Polars takes (u16)
        tbl_cols=-1,
    ):
        return dg.MetadataValue.md(str(frame.head(limit)))


def counts_by(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """Row counts per value of a column, e.g. tickets per channel."""
    grouped = frame.group_by(column).len().sort(column)
    return {str(value): count for value, count in grouped.iter_rows()}
