"""Turn one day's export of the order system (`landing/orders/YYYY-MM-DD/*.jsonl|*.csv`) into
`orders` rows and `orders_quarantine` rows.

An order record: `order_id`, `customer_id`, `status` (one of `vocabulary.ORDER_STATUSES`, any
letter case), and optionally `ordered_at` and `delivered_at` (ISO 8601), `expected_delivery`
(YYYY-MM-DD), `carrier`, `tracking_number`. Unknown fields are ignored. The folder's day is the day
of the export: the state of each order that day, so a ticket is investigated against the state on
or before its own day, and a backfill of an old day sees what was known then.

Every record read ends up in exactly one of the two frames, as with tickets (`tickets.py`): a
record that cannot be read or typed, breaks a rule, or repeats an order id of the day (the first
copy by file name and line wins) is quarantined with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl

from ai_assets.defs.landing.tables import ORDERS, ORDERS_QUARANTINE
from ai_assets.extract.landing import WHOLE_FILE, parse_timestamp, read_records, scan_folder, value_in_raw
from ai_assets.quality.validate import split_valid

ORDER_FIELDS = (
    "order_id",
    "customer_id",
    "status",
    "ordered_at",
    "expected_delivery",
    "delivered_at",
    "carrier",
    "tracking_number",
)
REQUIRED_COLUMNS = ("order_id", "customer_id", "status")  # what a CSV header must name
_TIMESTAMPS = ("ordered_at", "delivered_at")
_CANDIDATE_SCHEMA = {
    **{name: ORDERS.polars_schema[name] for name in ORDERS.column_names},
    "raw_record": pl.Utf8,
}


@dataclass(frozen=True)
class DayOfOrders:
    orders: pl.DataFrame
    quarantine: pl.DataFrame
    files: int
    records: int
    duplicates: int


def _typed(values: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The order fields of a record, typed, or why they cannot be."""
    fields = {name: values.get(name) for name in ORDER_FIELDS}
    wrong = [f"{n} must be a string" for n, v in fields.items() if v is not None and not isinstance(v, str)]
    if wrong:
        return None, "; ".join(wrong)
    fields = {n: (v.strip() or None) if isinstance(v, str) else v for n, v in fields.items()}
    if fields["status"]:
        fields["status"] = fields["status"].lower()
    try:
        for name in _TIMESTAMPS:
            if fields[name]:
                fields[name] = parse_timestamp(fields[name])
    except ValueError:
        return None, f"{name} {fields[name][:40]!r} is not an ISO 8601 timestamp"
    if fields["expected_delivery"]:
        try:
            fields["expected_delivery"] = date.fromisoformat(fields["expected_delivery"])
        except ValueError:
            return None, f"expected_delivery {fields['expected_delivery'][:40]!r} is not a YYYY-MM-DD date"
    return fields, None


def build_orders(landing_dir: Path, day: date) -> DayOfOrders:
    folder = scan_folder(landing_dir / "orders" / day.isoformat())
    candidates, rejected = [], []
    for path in folder.files:
        source = path.relative_to(landing_dir).as_posix()
        for record in read_records(path, REQUIRED_COLUMNS):
            fields, problem = (None, record.problem) if record.problem else _typed(record.values or {})
            where = {"source_file": source, "source_line": record.line, "raw_record": record.raw}
            if problem:
                order_id = value_in_raw(record.raw, "order_id") or (record.values or {}).get("order_id")
                rejected.append({**where, "order_id": order_id, "reason": problem})
            else:
                candidates.append({**fields, **where, "created_date": day})
    for skipped in folder.skipped:
        source = skipped.path.relative_to(landing_dir).as_posix()
        rejected.append(
            {
                "source_file": source,
                "source_line": WHOLE_FILE,
                "raw_record": "",
                "order_id": None,
                "reason": skipped.reason,
            }
        )
    frame = pl.DataFrame(candidates, schema=_CANDIDATE_SCHEMA)
    valid, invalid = split_valid(frame, ORDERS.row_schema(raw_record=pa.Column(pl.Utf8)))
    ranked = valid.sort("order_id", "source_file", "source_line").with_columns(
        kept_at=pl.format("{}:{}", "source_file", "source_line").first().over("order_id"),
        is_kept=pl.col("order_id").is_first_distinct(),
    )
    duplicates = ranked.filter(~pl.col("is_kept")).with_columns(
        reason=pl.format("duplicate order_id in the day's export: kept the copy at {}", "kept_at")
    )
    quarantine = pl.concat(
        [
            pl.DataFrame(rejected, schema={**ORDERS_QUARANTINE.polars_schema}).with_columns(created_date=pl.lit(day)),
            *(
                f.with_columns(created_date=pl.lit(day)).select(ORDERS_QUARANTINE.column_names)
                for f in (invalid, duplicates)
            ),
        ],
        how="diagonal_relaxed",
    ).select(ORDERS_QUARANTINE.column_names)
    return DayOfOrders(
        orders=ranked.filter(pl.col("is_kept")).select(ORDERS.column_names).sort("order_id"),
        quarantine=quarantine.sort("source_file", "source_line"),
        files=len(folder.files),
        records=len(candidates) + len(rejected),
        duplicates=duplicates.height,
    )
