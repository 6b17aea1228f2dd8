"""Where the state that every machine running the pipeline must share lives: the delivery ledger,
the LLM, embedding and tool caches, and the locks of read-then-write steps. On one machine, SQLite
files and file locks under the data directory; on many, PostgreSQL (AI_ASSETS_STATE_URL, read from
the environment at each use: it may hold a password).

Statements are written once, with `?` marks and the SQL both databases take (`INSERT ... ON
CONFLICT`), and run on either through `Statements`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ai_assets.secrets import STATE_URL_VARIABLE, from_environment
from ai_assets.warehouse.locking import file_lock


def is_postgres_url(location: str | Path) -> bool:
    return str(location).startswith(("postgresql://", "postgres://"))


def shared_or(local: Path) -> Path | str:
    """AI_ASSETS_STATE_URL when it is set, else the SQLite file `local`."""
    return from_environment(STATE_URL_VARIABLE) or local


def connect(location: Path | str):
    """An autocommit connection (every change is an explicit transaction) to the SQLite file or the
    PostgreSQL database at `location`."""
    if is_postgres_url(location):
        try:
            import psycopg2
        except ImportError as missing:
            raise RuntimeError(
                f"{STATE_URL_VARIABLE} is a PostgreSQL URL: install the postgres extra (pip install -e '.[postgres]')"
            ) from missing
        conn = psycopg2.connect(str(location))
        conn.autocommit = True
        return conn
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    # timeout: parallel runs share the file; wait for a writer instead of failing.
    return sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)


def create_tables(conn, ddl: Sequence[str]) -> None:
    """Runs `ddl` (CREATE ... IF NOT EXISTS) once: two first runs at once take turns (PostgreSQL's
    advisory lock; SQLite's write lock)."""
    statements = Statements(conn)
    statements.execute("BEGIN" if statements.postgres else "BEGIN IMMEDIATE")
    try:
        if statements.postgres:
            statements.execute("SELECT pg_advisory_xact_lock(hashtext('ai_assets.state'))")
        for sql in ddl:
            statements.execute(sql)
        statements.execute("COMMIT")
    except BaseException:
        statements.execute("ROLLBACK")
        raise


class Statements:
    """Statements written once with `?` marks, run on SQLite or PostgreSQL (psycopg2's `%s`)."""

    def __init__(self, conn) -> None:
        self.postgres = not isinstance(conn, sqlite3.Connection)
        self._cursor = conn.cursor()

    def _sql(self, sql: str) -> str:
        if not self.postgres:
            return sql
        return sql.replace("?", "%s").replace(" BLOB", " BYTEA").replace(" REAL", " DOUBLE PRECISION")

    def execute(self, sql: str, parameters: Sequence = ()) -> Statements:
        self._cursor.execute(self._sql(sql), tuple(parameters))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        self._cursor.executemany(self._sql(sql), rows)

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchall(self) -> list:
        return self._cursor.fetchall()


def marks(values: Sequence) -> str:
    """`?, ?, ?` for an `IN (...)` of `values`."""
    return ", ".join("?" * len(values))


@contextmanager
def lock(name: str, local_dir: Path) -> Iterator[None]:
    """An exclusive lock named `name`, held until the block ends: across machines (a PostgreSQL
    advisory lock, on a connection of its own) with AI_ASSETS_STATE_URL, else across this machine's
    processes (a file in `local_dir`)."""
    url = from_environment(STATE_URL_VARIABLE)
    if not url:
        with file_lock(local_dir / f"{name}.lock"):
            yield
        return
    conn = connect(url)
    try:
        key = f"ai_assets.{name}"
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
    finally:
        conn.close()  # also releases the lock of a block that raised before unlocking
