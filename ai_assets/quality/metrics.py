"""Classification metrics of an evaluation: accuracy, macro-F1 and the confusion matrix of one field.

Each takes the expected and the predicted values of a field as two aligned series. A row whose
expected value is null is not labelled for that field and is left out; a null prediction (the
model failed on that ticket) counts as wrong: a miss of its expected class, never a hit.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import polars as pl

FAILED = "(failed)"  # the confusion matrix's column for tickets with no prediction


def _pairs(expected: pl.Series, predicted: pl.Series) -> pl.DataFrame:
    frame = pl.DataFrame({"expected": expected.cast(pl.Utf8), "predicted": predicted.cast(pl.Utf8)})
    return frame.filter(pl.col("expected").is_not_null())


def accuracy(expected: pl.Series, predicted: pl.Series) -> float | None:
    """Share of labelled rows predicted right; None when no row is labelled."""
    pairs = _pairs(expected, predicted)
    if pairs.is_empty():
        return None
    return pairs.select((pl.col("expected") == pl.col("predicted")).fill_null(False).mean()).item()


def accuracy_lower_bound(right, n, confidence: float = 0.95):
    """The one-sided lower confidence bound of an accuracy of `right` out of `n` (the Wilson score
    interval's): the true accuracy is at least this with probability `confidence`. Element-wise on
    arrays; 0 where n is 0."""
    z = NormalDist().inv_cdf(confidence)
    right, n = np.asarray(right, np.float64), np.asarray(n, np.float64)
    safe = np.maximum(n, 1.0)
    p = right / safe
    centre = p + z * z / (2 * safe)
    spread = z * np.sqrt(p * (1 - p) / safe + z * z / (4 * safe * safe))
    # Clipped: with no answer right the formula gives -1e-17, not 0, for some n.
    return np.clip(np.where(n > 0, (centre - spread) / (1 + z * z / safe), 0.0), 0.0, 1.0)


def macro_f1(expected: pl.Series, predicted: pl.Series) -> float | None:
    """Unweighted mean over the classes expected or predicted of F1 = 2tp / (2tp + fp + fn);
    None when no row is labelled."""
    pairs = _pairs(expected, predicted)
    if pairs.is_empty():
        return None
    hit = (pl.col("expected") == pl.col("predicted")).fill_null(False)
    tp = pairs.filter(hit).group_by(pl.col("expected").alias("cls")).len("tp")
    fn = pairs.filter(~hit).group_by(pl.col("expected").alias("cls")).len("fn")
    fp = pairs.filter(~hit & pl.col("predicted").is_not_null()).group_by(pl.col("predicted").alias("cls")).len("fp")
    classes = pl.concat([tp.select("cls"), fn.select("cls"), fp.select("cls")]).unique()
    counts = (
        classes.join(tp, on="cls", how="left")
        .join(fn, on="cls", how="left")
        .join(fp, on="cls", how="left")
        .fill_null(0)
    )
    f1 = 2 * pl.col("tp") / (2 * pl.col("tp") + pl.col("fp") + pl.col("fn"))
    return counts.select(f1.mean()).item()


def confusion_matrix(expected: pl.Series, predicted: pl.Series) -> pl.DataFrame:
    """One row per expected class, one column per predicted class (and FAILED if any prediction is
    missing), counts in the cells; classes in sorted order."""
    pairs = _pairs(expected, predicted).with_columns(pl.col("predicted").fill_null(FAILED))
    classes = sorted(set(pairs["expected"]) | set(pairs["predicted"]) - {FAILED})
    columns = classes + ([FAILED] if FAILED in set(pairs["predicted"]) else [])
    counts = pairs.group_by("expected", "predicted").len("n")
    rows = [
        {"expected": cls, **{col: 0 for col in columns}}
        | {p: n for _, p, n in counts.filter(pl.col("expected") == cls).iter_rows()}
        for cls in classes
        if cls in set(pairs["expected"])
    ]
    return pl.DataFrame(rows, schema={"expected": pl.Utf8, **{col: pl.Int64 for col in columns}})


def confusion_markdown(expected: pl.Series, predicted: pl.Series) -> str:
    """The confusion matrix as a markdown table: rows expected, columns predicted."""
    matrix = confusion_matrix(expected, predicted)
    header = ["expected \\ predicted", *matrix.columns[1:]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in matrix.iter_rows()]
    return "\n".join(lines)
