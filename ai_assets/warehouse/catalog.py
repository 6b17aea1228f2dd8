"""`warehouse.duckdb`: a DuckDB file of views over the storage root, and nothing else.

No process ever opens it for writing once it is published, so any number of clients (the DuckDB
CLI, DBeaver, a notebook, the pipeline's own steps) hold it read-only at the same time, and a
view reads the files current at each query: an open session sees a new day on its next query.

The views change only when a contract or the set of marts does. The new file is then built beside
the old one and renamed over it: a session that has the old one open keeps its views, a new session
gets the new ones, and nobody needs a write lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ai_assets.warehouse.contract import PARTITION_COLUMN, Table
from ai_assets.warehouse.locking import file_lock
from ai_assets.warehouse.migration import migrate_legacy
from ai_assets.warehouse.storage import Storage

CATALOG_ALIAS = "warehouse"


def view_sql(storage: Storage, name: str, partitioned: bool) -> str:
    """The view over a table's files. Daily tables union their files by column name, so days
    written before a contract gained a column read it as null."""
    pattern = storage.scan_pattern(name, partitioned).replace("'", "''")
    if not partitioned:
        return f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{pattern}')"
    options = f"hive_partitioning=true, union_by_name=true, hive_types={{'{PARTITION_COLUMN}': DATE}}"
    return f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{pattern}', {options})"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comments_sql(table: Table) -> list[str]:
    """The table's description and its columns' notes as comments on its view, so any SQL client
    shows them (`duckdb_views()`, `duckdb_columns()`), not only the Dagster UI."""
    statements = [f"COMMENT ON VIEW {table.name} IS {_literal(table.description)}"]
    statements += [
        f'COMMENT ON COLUMN {table.name}."{name}" IS {_literal(table.column_note(name))}' for name in table.columns
    ]
    return statements


def catalog_views(storage: Storage, tables: Sequence[Table], marts: Sequence[str] = ()) -> list[str]:
    """Every table's view with its comments, and a view for each mart whose file exists (a mart
    appears once built; dbt documents the marts)."""
    statements = []
    for table in tables:
        statements += [view_sql(storage, table.name, table.partitioned), *comments_sql(table)]
    statements += [view_sql(storage, m, False) for m in sorted(marts) if storage.exists(storage.whole_file(m))]
    return statements


def _stamp_path(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + ".views.json")


def fingerprint(views: Sequence[str], tables: Sequence[Table]) -> str:
    """Changes when a view, a comment (so a reworded note is published) or a contract's columns do."""
    contracts = [f"{t.name}: {t.polars_schema}" for t in tables]
    return hashlib.sha256("\n".join([*views, *contracts]).encode()).hexdigest()


def is_current(catalog: Path, stamp: str) -> bool:
    path = _stamp_path(catalog)
    return catalog.exists() and path.exists() and json.loads(path.read_text()).get("fingerprint") == stamp


def publish(catalog: Path, storage: Storage, views: Sequence[str], stamp: str) -> None:
    """Builds the catalog with `views` beside the current one and renames it into place."""
    catalog.parent.mkdir(parents=True, exist_ok=True)
    building = catalog.with_name(f".{catalog.name}.{uuid.uuid4().hex}.building")
    try:
        with duckdb.connect(str(building)) as conn:
            if not storage.is_local:
                conn.register_filesystem(storage.fs)
            # One transaction: hundreds of comments committed one by one take a second, a write each.
            conn.begin()
            for view in views:
                conn.execute(view)
            conn.commit()
        os.replace(building, catalog)
    finally:
        building.unlink(missing_ok=True)
    _stamp_path(catalog).write_text(json.dumps({"fingerprint": stamp, "root": storage.root}))


def is_legacy(catalog: Path) -> bool:
    """A warehouse.duckdb an earlier version wrote: tables inside, no views stamp beside it."""
    return catalog.exists() and not _stamp_path(catalog).exists()


def prepare(catalog: Path, storage: Storage, tables: Sequence[Table], marts: Sequence[str] = ()) -> None:
    """Everything a step needs before it reads or writes: unfinished commits finished, a legacy
    warehouse converted, every table's schema file, and the catalog's views current. Cheap when
    nothing changed: a listing, a few file checks and the stamp."""
    with file_lock(catalog.with_name(catalog.name + ".prepare.lock")):
        storage.recover()
        if is_legacy(catalog):
            migrate_legacy(catalog, storage, tables)
        views = catalog_views(storage, tables, marts)
        stamp = fingerprint(views, tables)
        if is_current(catalog, stamp):
            return
        storage.ensure_schema_files(tables)
        publish(catalog, storage, views, stamp)


@contextmanager
def open_catalog(catalog: Path, storage: Storage) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB session with the catalog attached read-only and in use: every table and
    mart by its bare name, temporary views and tables of its own, and no lock anybody waits for."""
    conn = duckdb.connect()
    try:
        if not storage.is_local:
            conn.register_filesystem(storage.fs)
        conn.execute(f"ATTACH '{catalog}' AS {CATALOG_ALIAS} (READ_ONLY)")
        conn.execute(f"USE {CATALOG_ALIAS}")
        yield conn
    finally:
        conn.close()
