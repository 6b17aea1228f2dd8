"""The lake's tables as the contracts say: created, given the columns a contract gained, partitioned
by day, and commented, so any SQL client shows what a table and a column mean.

Cheap when nothing changed: one read of the catalog's columns and comments, compared with the
contracts, and no transaction at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from ai_assets.warehouse.contract import PARTITION_COLUMN, Table
from ai_assets.warehouse.lake import ALIAS, Lake, sql_literal


def _current(
    conn: duckdb.DuckDBPyConnection,
) -> tuple[dict[str, str | None], dict[tuple[str, str], str | None], dict[tuple[str, str], str]]:
    """The lake's tables and their comments, each column's comment, and each column's type."""
    tables = dict(
        conn.execute("SELECT table_name, comment FROM duckdb_tables() WHERE database_name = ?", [ALIAS]).fetchall()
    )
    columns = conn.execute(
        "SELECT table_name, column_name, comment, data_type FROM duckdb_columns() WHERE database_name = ?", [ALIAS]
    ).fetchall()
    comments = {(table, column): comment for table, column, comment, _ in columns}
    return tables, comments, {(table, column): kind for table, column, _, kind in columns}


def _changes(table: Table, tables: dict, columns: dict) -> list[str]:
    """The statements that bring the table to its contract (besides creating it)."""
    statements = []
    if tables.get(table.name) != table.description:
        statements.append(f"COMMENT ON TABLE {table.name} IS {sql_literal(table.description)}")
    for name in table.columns:
        if columns.get((table.name, name), "") != table.column_note(name):
            statements.append(f'COMMENT ON COLUMN {table.name}."{name}" IS {sql_literal(table.column_note(name))}')
    return statements


def comment(conn: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Gives a table its contract's comments again (a table replaced whole loses them)."""
    for statement in _changes(table, {}, {}):
        conn.execute(statement)


def _is_current(table: Table, tables: dict, columns: dict, types: dict) -> bool:
    return (
        table.name in tables
        and all((table.name, c) in columns for c in table.columns)
        and not table.retired_in({c: kind for (t, c), kind in types.items() if t == table.name})
        and not _changes(table, tables, columns)
    )


def prepare(lake: Lake, tables: Sequence[Table]) -> None:
    """Every contracted table in the lake with the contract's columns, partitioning and comments."""
    with lake.session() as conn:
        current = _current(conn)
    if all(_is_current(table, *current) for table in tables):
        return

    def bring_up_to_date(conn: duckdb.DuckDBPyConnection) -> None:
        existing, columns, types = _current(conn)  # again, under the lock: another process may have done it
        for table in tables:
            if _is_current(table, existing, columns, types):
                continue
            table.create(conn)
            if table.name not in existing and table.partitioned:
                conn.execute(f"ALTER TABLE {table.name} SET PARTITIONED BY ({PARTITION_COLUMN})")
            for statement in _changes(table, existing, columns):
                conn.execute(statement)

    lake.commit(bring_up_to_date)
