"""The table contract: every warehouse table declared once, everything else derived from it.

A `Table` names the table, says what one row is, which columns identify a row, whether it is
partitioned by day, its column rules (pandera), and whether a failed check must stop the run.
From it come the typed empty frame, the DuckDB table (created on first use), the Dagster asset
spec with its column schema, the validation in every write, the asset checks, the docs and the
warehouse views' comments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl

# Who answers for the tables, shown on every asset (Dagster owners are e-mails or `team:` names).
OWNER = "team:ai-assets"
# The column every daily table carries: the UTC day of the ticket's created_at.
PARTITION_COLUMN = "created_date"
# Columns pandera cannot type in advance (an array whose width is the embedding model's, a list of
# structs built in SQL) are held as this until the first write gives them their real type.
_UNTYPED = pl.List(pl.Float32)


@dataclass(frozen=True, eq=False)
class Table:
    name: str
    description: str  # "One row per ...": the asset's description in the UI and the docs
    columns: dict[str, pa.Column]
    key: tuple[str, ...]  # the grain: the columns that identify a row, unique together
    partitioned: bool = False  # by PARTITION_COLUMN, one day replaced at a time
    blocking: bool = False  # a failed schema check stops what reads the table in the same run
    checks: tuple[pa.Check, ...] = ()
    preview: tuple[str, ...] = ()  # columns of the preview on the asset's page
    # The table is replaced whole, schema included (e.g. an embedding width that follows the model).
    recreated_on_write: bool = False
    llm: bool = False  # written by an LLM step: shown with the openai kind and tagged llm
    pii: bool = False  # holds customers' words or contact details: tagged pii (mind where it is copied)
    # column -> what it means, required for every column: the UI, the docs and DuckDB's comments show it.
    notes: dict[str, str] = field(default_factory=dict)
    # Columns an older contract had, dropped from a table it wrote ("summary", or a struct field within
    # a list: "history.element.summary"): no dead column, and no text kept that nothing accounts for.
    retired: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [c for c in (*self.key, *self.preview) if c not in self.columns]
        if self.partitioned and PARTITION_COLUMN not in self.columns:
            missing.append(PARTITION_COLUMN)
        if missing:
            raise ValueError(f"table {self.name}: key, preview or partition columns {missing} are not columns")
        if not self.description.strip():
            raise ValueError(f"table {self.name} has no description: say what one row is")
        unexplained = [c for c in self.columns if not self.notes.get(c, "").strip()]
        if unexplained:
            raise ValueError(f"table {self.name}: columns {unexplained} have no note: say in `notes` what each means")

    @cached_property
    def schema(self) -> pa.DataFrameSchema:
        return pa.DataFrameSchema(
            self.columns, name=self.name, strict=True, unique=list(self.key) or None, checks=list(self.checks)
        )

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    @cached_property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {name: _UNTYPED if col.dtype is None else col.dtype.type for name, col in self.columns.items()}

    def row_schema(self, **extra: pa.Column) -> pa.DataFrameSchema:
        """The per-row rules only (no key uniqueness), plus `extra` columns: for splitting candidate
        rows into valid and rejected before duplicates are resolved."""
        return pa.DataFrameSchema({**self.columns, **extra}, name=self.name, checks=list(self.checks))

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The contract's columns, in its order; a column the frame lacks is a bug, so it raises."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{self.name}: the frame lacks {missing}")
        return frame.select(self.column_names)

    def validate(self, frame: pl.DataFrame) -> None:
        """Raises with every broken rule (a few examples each) when `frame` breaks the contract."""
        try:
            self.schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as errors:
            raise ValueError(f"{self.name}: {describe_failures(errors)}") from None

    def create(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Creates the table (empty, with the contract's columns) if it does not exist yet, adds the
        columns a newer contract has to a table an older version wrote (null in its old rows), and
        drops the `retired` ones it still has."""
        conn.register("contract_empty_frame", self.empty().to_arrow())
        try:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self.name} AS SELECT * FROM contract_empty_frame")
            existing = dict(row[:2] for row in conn.execute(f"DESCRIBE {self.name}").fetchall())
            for name, sql_type, *_ in conn.execute("DESCRIBE SELECT * FROM contract_empty_frame").fetchall():
                if name not in existing:
                    conn.execute(f'ALTER TABLE {self.name} ADD COLUMN "{name}" {sql_type}')
            for path in self.retired_in(existing):
                conn.execute(f"ALTER TABLE {self.name} DROP COLUMN IF EXISTS {path}")
        finally:
            conn.unregister("contract_empty_frame")

    def retired_in(self, types: Mapping[str, str]) -> list[str]:
        """The `retired` columns a table with these column `types` (DuckDB's names) still has: asked
        first, since an ALTER that changes nothing would still add a snapshot to the lake."""
        still = []
        for path in self.retired:
            parts = path.split(".")
            column, leaf = parts[0], parts[-1]
            if column in types and (leaf == column or re.search(rf"\b{leaf}\b", types[column])):
                still.append(path)
        return still

    def spec(self, deps: Iterable[str] = (), tags: Mapping[str, str] | None = None, **kwargs) -> dg.AssetSpec:
        """The asset spec of the table: description, kinds, partition column and column schema, and
        `tags` beside the table's own (pii, llm)."""
        metadata = {"dagster/column_schema": self.column_schema(), "dagster/table_name": f"main.{self.name}"}
        metadata["grain"] = ", ".join(self.key)
        if self.partitioned:
            metadata["partition_expr"] = PARTITION_COLUMN
        tags = {**{name: "" for name, on in (("pii", self.pii), ("llm", self.llm)) if on}, **(tags or {})}
        return dg.AssetSpec(
            self.name,
            description=self.description,
            deps=list(deps),
            kinds={"parquet", "duckdb", "openai" if self.llm else "polars"},
            metadata=metadata,
            tags=tags,
            owners=[OWNER],
            **kwargs,
        )

    def column_note(self, name: str) -> str:
        """What the column means (from `notes`) and the values it may take."""
        values = allowed_values(self.columns[name])
        parts = [self.notes[name], values and "one of " + ", ".join(f"`{v}`" for v in values)]
        return "; ".join(p for p in parts if p)

    def column_schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name,
                    type=column_type(self.polars_schema[name], column.dtype is None),
                    description=self.column_note(name),
                    constraints=dg.TableColumnConstraints(nullable=column.nullable, unique=column.unique),
                )
                for name, column in self.columns.items()
            ]
        )


_SQL_TYPES = {
    pl.Utf8: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Float64: "DOUBLE",
    pl.Float32: "FLOAT",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
}


def column_type(dtype: pl.DataType, untyped: bool = False) -> str:
    """The column's DuckDB type, as users see it in SQL."""
    if untyped:
        return "set on write"
    if isinstance(dtype, pl.List):
        return f"{column_type(dtype.inner)}[]"
    if isinstance(dtype, pl.Struct):
        return "STRUCT(" + ", ".join(f"{f.name} {column_type(f.dtype)}" for f in dtype.fields) + ")"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP"
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    return _SQL_TYPES.get(dtype.base_type(), str(dtype))


def allowed_values(column: pa.Column) -> list | None:
    """The values an `isin` check allows, for docs and the UI."""
    for check in column.checks:
        values = (check.statistics or {}).get("allowed_values")
        if values is not None:
            return list(values)
    return None


def describe_failures(errors: pa.errors.SchemaErrors, limit: int = 10) -> str:
    """Failed rules as `column: check (n rows, e.g. ...)` lines, for errors and check metadata."""
    cases = errors.failure_cases
    lines = []
    for (column, check), group in cases.group_by("column", "check", maintain_order=True):
        if check == "multiple_fields_uniqueness":
            lines.append(f"key ({', '.join(errors.schema.unique or [])}) is not unique ({group.height} rows)")
            continue
        examples = ", ".join(repr(str(v))[:40] for v in group["failure_case"].head(3).to_list())
        lines.append(f"{column or 'table'}: {check} ({group.height} rows, e.g. {examples})")
    return "; ".join(lines[:limit])


def create_missing(conn: duckdb.DuckDBPyConnection, tables: Sequence[Table]) -> None:
    """Creates, empty, the tables among `tables` that do not exist yet (a first run reads them)."""
    existing = {name for (name,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for table in tables:
        if table.name not in existing:
            table.create(conn)
