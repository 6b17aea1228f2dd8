"""Accuracy, macro-F1 and the confusion matrix on a tiny set worked out by hand."""

import polars as pl
import pytest

from ai_assets.quality.metrics import FAILED, accuracy, confusion_markdown, confusion_matrix, macro_f1
from ai_assets.warehouse.metadata import markdown_preview

# Row 6 is not labelled (expected null): left out. Row 4 failed (predicted null): a miss.
EXPECTED = pl.Series(["a", "a", "b", "b", "c", None])
PREDICTED = pl.Series(["a", "b", "b", None, "a", "c"])


def test_accuracy_counts_a_failed_prediction_as_wrong_and_skips_unlabelled_rows():
    # Right: rows 1 and 3 of the 5 labelled.
    assert accuracy(EXPECTED, PREDICTED) == pytest.approx(2 / 5)


def test_macro_f1_by_hand():
    # a: tp 1 (row 1), fp 1 (row 5), fn 1 (row 2) -> 2/4; b: tp 1, fp 1 (row 2), fn 1 (row 4) -> 2/4;
    # c: tp 0, fn 1 (row 5) -> 0. Mean: 1/3.
    assert macro_f1(EXPECTED, PREDICTED) == pytest.approx(1 / 3)


def test_perfect_and_empty():
    assert accuracy(pl.Series(["x", "y"]), pl.Series(["x", "y"])) == 1.0
    assert macro_f1(pl.Series(["x", "y"]), pl.Series(["x", "y"])) == 1.0
    assert accuracy(pl.Series([None], dtype=pl.Utf8), pl.Series(["x"])) is None
    assert macro_f1(pl.Series([], dtype=pl.Utf8), pl.Series([], dtype=pl.Utf8)) is None


def test_confusion_matrix_rows_expected_columns_predicted():
    matrix = confusion_matrix(EXPECTED, PREDICTED)
    assert matrix.columns == ["expected", "a", "b", "c", FAILED]
    assert matrix.rows() == [("a", 1, 1, 0, 0), ("b", 0, 1, 0, 1), ("c", 1, 0, 0, 0)]
    assert confusion_markdown(EXPECTED, PREDICTED).splitlines() == [
        "| expected \\ predicted | a | b | c | (failed) |",
        "|---|---|---|---|---|",
        "| a | 1 | 1 | 0 | 0 |",
        "| b | 0 | 1 | 0 | 1 |",
        "| c | 1 | 0 | 0 | 0 |",
    ]


def test_a_wide_preview_stays_one_markdown_table():
    # Ten long columns: wider than any terminal, which Polars would wrap onto two lines.
    frame = pl.DataFrame({f"accuracy_of_a_long_field_{i}": ["2026-12-07 20:00:46.626573 " * 2] for i in range(10)})
    lines = markdown_preview(frame).value.splitlines()
    assert len(lines) == 3  # header, separator, the row
    assert all(line.startswith("|") and line.endswith("|") and line.count("|") == 11 for line in lines)
    assert "accuracy_of_a_long_field_9" in lines[0]
